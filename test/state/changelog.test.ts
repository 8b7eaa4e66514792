/**
 * The partition changelog against a real broker: chunked round trip, double buffering
 * under an interrupted write, tombstoned leftovers, corruption reported, an empty topic
 * read without a consumer, the time bound, and the topic's configuration checks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import kafkajs, { type Admin, type Kafka, type KafkaMessage, type Producer, type ProducerRecord } from 'kafkajs';
import { Rng } from '../../src/balance/rng.js';
import { isRebalancerError } from '../../src/errors.js';
import { CHUNK_BYTES, PartitionChangelog, chunkKey, headKey, type ChangelogOptions } from '../../src/state/changelog.js';
import { TopicReader, readOffsets } from '../../src/state/topic-reader.js';
import { createTopic, testBrokers, testKafka, uniqueTopic } from '../helpers/kafka.js';

const MB15 = 1_500_000;

function blobOf(bytes: number, seed: number): Buffer {
  const rng = new Rng(seed);
  const out = Buffer.alloc(bytes);
  for (let i = 0; i + 4 <= bytes; i += 4) out.writeUInt32LE(rng.nextUint32(), i);
  return out;
}

/** The latest record per key of the whole topic, read with a fresh group. */
async function latestRecords(kafka: Kafka, admin: Admin, topic: string): Promise<Map<string, KafkaMessage>> {
  const latest = new Map<string, KafkaMessage>();
  const reader = await TopicReader.start({
    kafka, topic, groupId: uniqueTopic('raw-read'), timeoutMs: 20_000, ends: await readOffsets(admin, topic),
    onMessage: (m) => latest.set(m.key?.toString() ?? '', m), onCrash: () => {}, deleteGroupOnStop: true,
  });
  await reader.stop();
  return latest;
}

async function readGroups(admin: Admin, prefix: string): Promise<string[]> {
  return (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
}

describe('PartitionChangelog (real broker)', () => {
  let kafka: Kafka;
  let producer: Producer;
  let admin: Admin;

  before(async () => {
    kafka = testKafka(await testBrokers(), 'changelog-test');
    producer = kafka.producer();
    await producer.connect();
    admin = kafka.admin();
    await admin.connect();
  });
  after(async () => {
    await producer.disconnect();
    await admin.disconnect();
  });

  function changelog(topic: string, extra: Partial<ChangelogOptions> = {}): { cl: PartitionChangelog; logs: string[] } {
    const logs: string[] = [];
    const cl = new PartitionChangelog({ producer, kafka, topic, log: (m) => logs.push(m), timeoutMs: 20_000, instanceId: 'inst-1', ...extra });
    return { cl, logs };
  }

  it('round-trips 1.5 MB blobs of 3 partitions, split into chunks of at most 64 KB', async () => {
    const topic = uniqueTopic('changelog');
    const { cl } = changelog(topic, { now: () => 1_700_000_000_000 });
    await cl.ensureTopic(admin);
    const blobs = [0, 1, 2].map((p) => blobOf(MB15, 100 + p));
    await Promise.all(blobs.map((b, p) => cl.write(p, b)));

    const chunks = Math.ceil(MB15 / CHUNK_BYTES);
    assert.equal(chunks, 23);
    // Each partition's first write read its head first (this instance had not read them).
    assert.deepEqual({ ...cl.stats(), bytesWritten: 0, lastReadMs: 0 }, { writes: 3, recordsWritten: 3 * (chunks + 1), bytesWritten: 0, reads: 3, lastReadMs: 0, corrupt: 0 });
    assert.ok(cl.stats().bytesWritten > 3 * MB15 && cl.stats().bytesWritten < 3 * MB15 + 3 * 1000, 'the blob bytes and three small heads');
    const raw = await latestRecords(kafka, admin, topic);
    assert.equal(raw.size, 3 * (chunks + 1));
    for (const m of raw.values()) assert.ok((m.value?.length ?? 0) <= CHUNK_BYTES, `record ${m.key?.toString()} is ${m.value?.length} bytes`);

    // A different instance (no knowledge of the heads) restores them.
    const { cl: other } = changelog(topic, { instanceId: 'inst-2' });
    const restored = await other.readLatest([0, 1, 2, 3]);
    assert.deepEqual([...restored.keys()].sort(), [0, 1, 2], 'partition 3 was never written: absent');
    for (const p of [0, 1, 2]) {
      const e = restored.get(p)!;
      assert.ok(e.blob.equals(blobs[p]!), `partition ${p} blob`);
      assert.deepEqual({ seq: e.seq, writtenBy: e.writtenBy, writtenAt: e.writtenAt }, { seq: 1, writtenBy: 'inst-1', writtenAt: 1_700_000_000_000 });
    }
    assert.equal(other.stats().reads, 1);
    assert.ok(other.stats().lastReadMs > 0);
  });

  it('leaves the previous blob readable when a write stops after some chunks, and writes the other slot next', async () => {
    const topic = uniqueTopic('changelog-crash');
    const { cl } = changelog(topic);
    await cl.ensureTopic(admin);
    const first = blobOf(MB15, 1);
    const second = blobOf(MB15, 2);
    await cl.write(0, first); // slot a
    await cl.write(0, second); // slot b

    // A producer that dies after one send: the third write (slot a again) lands its first
    // chunks over the first blob's, never its head.
    let sendsLeft = 1;
    const dying: Producer = {
      ...producer,
      send: async (record: ProducerRecord) => {
        if (sendsLeft-- <= 0) throw new Error('simulated crash');
        return producer.send(record);
      },
    };
    const { cl: crashing } = changelog(topic, { producer: dying, instanceId: 'inst-crash' });
    const third = blobOf(MB15, 3);
    await assert.rejects(crashing.write(0, third), (err) => isRebalancerError(err, 'REB_KAFKA_UNAVAILABLE'));

    const raw = await latestRecords(kafka, admin, topic);
    assert.equal(raw.get(chunkKey(0, 'a', 0))?.headers?.seq?.toString(), '3', 'the interrupted write did overwrite chunks of slot a');
    assert.ok(raw.get(chunkKey(0, 'a', 0))!.value!.equals(third.subarray(0, CHUNK_BYTES)));
    assert.match(raw.get(headKey(0))!.value!.toString(), /"slot":"b"/);

    const { cl: reader, logs } = changelog(topic, { instanceId: 'inst-3' });
    const restored = await reader.readLatest([0]);
    assert.ok(restored.get(0)?.blob.equals(second), 'the last complete blob, not a mix');
    assert.equal(restored.get(0)?.seq, 2);
    assert.equal(reader.stats().corrupt, 0, logs.join('\n'));

    // The instance that failed re-reads the head before writing again, so it writes slot a (seq 3).
    sendsLeft = Infinity;
    await crashing.write(0, third);
    const after3 = await reader.readLatest([0]);
    assert.ok(after3.get(0)?.blob.equals(third));
    assert.deepEqual({ seq: after3.get(0)?.seq, writtenBy: after3.get(0)?.writtenBy }, { seq: 3, writtenBy: 'inst-crash' });
    assert.match((await latestRecords(kafka, admin, topic)).get(headKey(0))!.value!.toString(), /"slot":"a"/);
  });

  it('tombstones the chunks a shorter blob leaves over in its slot', async () => {
    const topic = uniqueTopic('changelog-shrink');
    const { cl } = changelog(topic);
    await cl.ensureTopic(admin);
    await cl.write(5, blobOf(10 * CHUNK_BYTES, 1)); // slot a: 10 chunks
    await cl.write(5, blobOf(CHUNK_BYTES, 2)); // slot b: 1 chunk
    // A fresh instance learns the slot's extent from the topic.
    const { cl: fresh } = changelog(topic, { instanceId: 'inst-2' });
    const small = blobOf(2 * CHUNK_BYTES + 7, 3);
    await fresh.write(5, small); // slot a: 3 chunks, 3..9 tombstoned
    const raw = await latestRecords(kafka, admin, topic);
    for (let i = 0; i < 10; i++) assert.equal(raw.get(chunkKey(5, 'a', i))?.value === null, i >= 3, `chunk a/${i}`);
    assert.ok((await fresh.readLatest([5])).get(5)?.blob.equals(small));
  });

  it('reports a blob that fails its hash or a head that is not valid, and returns the partition as absent', async () => {
    const topic = uniqueTopic('changelog-corrupt');
    const { cl } = changelog(topic);
    await cl.ensureTopic(admin);
    await cl.write(0, blobOf(3 * CHUNK_BYTES, 1));
    await cl.write(1, blobOf(1000, 2));
    await cl.write(2, blobOf(1000, 3));
    // Same key, same write number, other bytes: only the hash can tell.
    const forged = blobOf(CHUNK_BYTES, 9);
    await producer.send({ topic, acks: -1, messages: [{ key: chunkKey(0, 'a', 1), value: forged, partition: 0, headers: { seq: '1' } }] });
    await producer.send({ topic, acks: -1, messages: [{ key: headKey(1), value: '{"v":1,"slot":"c"}', partition: 0 }] });
    const { cl: reader, logs } = changelog(topic, { instanceId: 'inst-2' });
    const restored = await reader.readLatest([0, 1, 2]);
    assert.deepEqual([...restored.keys()], [2]);
    assert.equal(reader.stats().corrupt, 2);
    assert.ok(logs.some((l) => /partition 0 .*SHA-256 does not match/.test(l)), logs.join('\n'));
    assert.ok(logs.some((l) => /head of partition 1 is not valid.*slot/.test(l)), logs.join('\n'));
  });

  it('restores the previous write from the other slot when the current one is unreadable (two writers mixed one slot)', async () => {
    const topic = uniqueTopic('changelog-fallback');
    const { cl } = changelog(topic);
    await cl.ensureTopic(admin);
    const first = blobOf(2 * CHUNK_BYTES, 4);
    await cl.write(0, first); // slot a, write 1
    await cl.write(0, blobOf(2 * CHUNK_BYTES, 5)); // slot b, write 2 (prev: slot a, write 1)
    // A second writer's chunk lands in slot b with the same write number: the hash tells.
    await producer.send({ topic, acks: -1, messages: [{ key: chunkKey(0, 'b', 1), value: blobOf(CHUNK_BYTES, 6), partition: 0, headers: { seq: '2' } }] });
    const { cl: reader, logs } = changelog(topic, { instanceId: 'inst-2' });
    const restored = (await reader.readLatest([0])).get(0);
    assert.ok(restored?.blob.equals(first), 'the previous, intact write was restored');
    assert.equal(restored?.seq, 1);
    assert.equal(reader.stats().corrupt, 1);
    assert.ok(logs.some((l) => /restored from its previous write 1/.test(l)), logs.join('\n'));
  });

  it('returns an empty map at once for a new topic, without a consumer group', async () => {
    const topic = uniqueTopic('changelog-empty');
    const { cl } = changelog(topic, { instanceId: 'inst-empty' });
    await cl.ensureTopic(admin);
    const t0 = performance.now();
    const restored = await cl.readLatest([0, 1, 2]);
    const ms = performance.now() - t0;
    assert.equal(restored.size, 0);
    assert.ok(ms < 2_000, `took ${ms} ms`);
    assert.deepEqual(await readGroups(admin, 'rebalancer-changelog-read.inst-empty'), []);
  });

  it('reads with a group of its own that is deleted afterwards', async () => {
    const topic = uniqueTopic('changelog-groups');
    const { cl } = changelog(topic, { instanceId: 'inst-groups' });
    await cl.ensureTopic(admin);
    await cl.write(0, Buffer.from('state'));
    assert.equal((await cl.readLatest([0])).get(0)?.blob.toString(), 'state');
    assert.deepEqual(await readGroups(admin, 'rebalancer-changelog-read.inst-groups'), []);
  });

  it('fails with REB_KAFKA_UNAVAILABLE when the topic cannot be read within timeoutMs', async () => {
    const topic = uniqueTopic('changelog-timeout');
    const { cl } = changelog(topic);
    await cl.ensureTopic(admin);
    await cl.write(0, blobOf(1000, 1));
    const { cl: hasty } = changelog(topic, { timeoutMs: 1, instanceId: 'inst-hasty' });
    await assert.rejects(hasty.readLatest([0]), (err) => isRebalancerError(err, 'REB_KAFKA_UNAVAILABLE') && /within 1 ms/.test(err.message));
    assert.deepEqual(await readGroups(admin, 'rebalancer-changelog-read.inst-hasty'), [], 'the timed-out reader left and deleted its group');
  });

  it('creates a compacted topic and refuses an existing one that does not compact', async () => {
    const topic = uniqueTopic('changelog-config');
    const { cl } = changelog(topic);
    await cl.ensureTopic(admin);
    await cl.ensureTopic(admin); // existing and compacted: fine
    const { resources } = await admin.describeConfigs({ resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy'] }], includeSynonyms: false });
    assert.equal(resources[0]?.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue, 'compact');

    const plain = uniqueTopic('changelog-plain');
    await createTopic(await testBrokers(), plain);
    await assert.rejects(changelog(plain).cl.ensureTopic(admin), (err) => isRebalancerError(err, 'REB_CONFIG_INVALID') && err.message.includes(plain) && /cleanup\.policy=delete/.test(err.message));
  });
});
