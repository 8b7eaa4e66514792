/**
 * The global counts topic against a real broker: what two owners publish reaches a third
 * instance in order by the time its start() resolves, then live; evictions arrive as
 * tombstones; invalid records are counted and skipped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { GlobalCountsTopic, READER_STALL_MS, readerStalled, type CountsRecord, type GlobalCountsOptions } from '../../src/state/global-counts-topic.js';
import { testBrokers, testKafka, uniqueTopic } from '../helpers/kafka.js';

interface Delivered { record: CountsRecord; from: string }

function bucket(partition: number, b: number, counts: Record<string, number>, position: number): CountsRecord {
  return { kind: 'bucket', partition, bucket: b, position, counts };
}

function totals(partition: number, position: number, applied: number): CountsRecord {
  return { kind: 'totals', partition, position, byCategory: { phones: applied }, byType: { view: applied }, applied, duplicates: 1, late: 0, lost: 0, invalid: 2 };
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('GlobalCountsTopic (real broker)', () => {
  let kafka: Kafka;
  let producer: Producer;
  let admin: Admin;
  const started: GlobalCountsTopic[] = [];

  before(async () => {
    kafka = testKafka(await testBrokers(), 'counts-test');
    producer = kafka.producer();
    await producer.connect();
    admin = kafka.admin();
    await admin.connect();
  });
  after(async () => {
    for (const t of started) await t.stop();
    await producer.disconnect();
    await admin.disconnect();
  });

  function instance(topic: string, instanceId: string, extra: Partial<GlobalCountsOptions> = {}): { counts: GlobalCountsTopic; delivered: Delivered[]; logs: string[] } {
    const delivered: Delivered[] = [];
    const logs: string[] = [];
    const counts = new GlobalCountsTopic({
      kafka, producer, topic, groupIdPrefix: `${topic}-readers`, instanceId, timeoutMs: 20_000,
      log: (m) => logs.push(m),
      onRecord: (record, from) => delivered.push({ record, from }),
      ...extra,
    });
    started.push(counts);
    return { counts, delivered, logs };
  }

  it('delivers what two publishers wrote, in order, before a third instance\'s start() resolves, then live', async () => {
    const topic = uniqueTopic('counts');
    const a = instance(topic, 'A');
    const b = instance(topic, 'B');
    await a.counts.ensureTopic(admin);
    await b.counts.ensureTopic(admin); // the second finds it compacted
    const expected: Delivered[] = [];
    // Many small publishes, so the history spans several fetches.
    for (let round = 0; round < 40; round++) {
      const fromA = [bucket(0, 1000 + round, { phones: round + 1, books: 1 }, 10 * round), bucket(1, 1000 + round, { toys: 2 }, 5 * round), totals(0, 10 * round, round)];
      const fromB = [bucket(2, 1000 + round, { phones: 3 }, round), totals(2, round, 3 * round)];
      await a.counts.publish(fromA);
      await b.counts.publish(fromB);
      expected.push(...fromA.map((record) => ({ record, from: 'A' })), ...fromB.map((record) => ({ record, from: 'B' })));
    }
    assert.equal(a.counts.stats().published, 120);

    const c = instance(topic, 'C');
    await c.counts.start();
    assert.equal(c.delivered.length, expected.length, 'every record delivered by the time start() resolved');
    assert.deepEqual(c.delivered, expected);
    assert.deepEqual({ ...c.counts.stats(), lastReadAt: 0 }, { lag: 0, read: 200, published: 0, invalid: 0, failed: 0, lastReadAt: 0, restarts: 0 });

    // And what is published afterwards arrives while it runs.
    const later = [totals(1, 999, 42)];
    await a.counts.publish(later);
    await until('the live record', () => c.delivered.length === expected.length + 1);
    assert.deepEqual(c.delivered.at(-1), { record: later[0], from: 'A' });
    assert.ok(c.counts.stats().lastReadAt > 0);
  });

  it('resolves start() at once on an empty topic and delivers later records', async () => {
    const topic = uniqueTopic('counts-empty');
    const c = instance(topic, 'C');
    await c.counts.ensureTopic(admin);
    await c.counts.start();
    assert.equal(c.delivered.length, 0);
    await c.counts.publish([bucket(3, 7, { phones: 1 }, 1)]);
    await until('the record', () => c.delivered.length === 1);
    assert.equal(c.delivered[0]?.from, 'C');
  });

  it('delivers an evicted bucket as a tombstone, read back as { kind: evict }', async () => {
    const topic = uniqueTopic('counts-evict');
    const a = instance(topic, 'A');
    await a.counts.ensureTopic(admin);
    await a.counts.publish([bucket(4, 17, { phones: 5 }, 9), { kind: 'evict', partition: 4, bucket: 16 }]);
    const c = instance(topic, 'C');
    await c.counts.start();
    assert.deepEqual(c.delivered, [
      { record: bucket(4, 17, { phones: 5 }, 9), from: 'A' },
      { record: { kind: 'evict', partition: 4, bucket: 16 }, from: 'A' },
    ]);
    // On the wire it is a null value under the bucket's key.
    await a.counts.publish([{ kind: 'evict', partition: 4, bucket: 17 }]);
    await until('the live eviction', () => c.delivered.length === 3);
    assert.deepEqual(c.delivered[2], { record: { kind: 'evict', partition: 4, bucket: 17 }, from: 'A' });
  });

  it('counts and skips invalid records without stopping', async () => {
    const topic = uniqueTopic('counts-invalid');
    const a = instance(topic, 'A');
    await a.counts.ensureTopic(admin);
    const from = { from: 'X' };
    await producer.send({
      topic, acks: -1, messages: [
        { key: 'b/0/1', value: '{not json', headers: from },
        { key: 'b/0/1', value: JSON.stringify({ kind: 'bucket', partition: 0, bucket: 1, position: 3, counts: { phones: -1 } }), headers: from },
        { key: 'b/0/2', value: JSON.stringify(bucket(0, 1, { phones: 1 }, 3)), headers: from }, // key names bucket 2
        { key: 'b/0/1', value: JSON.stringify(bucket(0, 1, { phones: 1 }, 3)) }, // no writer header
        { key: 't/0', value: null, headers: from }, // a tombstone that is no bucket
        { key: 'b/0/1', value: JSON.stringify({ kind: 'window', partition: 0 }), headers: from },
      ],
    });
    await a.counts.publish([bucket(0, 1, { phones: 1 }, 3)]);
    const c = instance(topic, 'C');
    await c.counts.start();
    assert.deepEqual(c.delivered, [{ record: bucket(0, 1, { phones: 1 }, 3), from: 'A' }]);
    assert.deepEqual({ invalid: c.counts.stats().invalid, read: c.counts.stats().read }, { invalid: 6, read: 1 });
    assert.equal(c.logs.filter((l) => l.includes('skipped invalid record')).length, 6, c.logs.join('\n'));
    // Still reading.
    await a.counts.publish([totals(0, 4, 1)]);
    await until('a record after the invalid ones', () => c.delivered.length === 2);
  });

  it('keeps reading when onRecord throws, counting the failure', async () => {
    const topic = uniqueTopic('counts-throw');
    const a = instance(topic, 'A');
    await a.counts.ensureTopic(admin);
    await a.counts.publish([bucket(0, 1, { phones: 1 }, 1), bucket(0, 2, { phones: 1 }, 2)]);
    const seen: number[] = [];
    const c = instance(topic, 'C', {
      onRecord: (r) => {
        if (r.kind === 'bucket' && r.bucket === 1) throw new Error('merge bug');
        if (r.kind === 'bucket') seen.push(r.bucket);
      },
    });
    await c.counts.start();
    assert.deepEqual(seen, [2]);
    assert.equal(c.counts.stats().failed, 1);
  });
});

describe('the global counts reader\'s stall rule (a consumer hung without an error)', () => {
  const published = { offset: 41, at: 1_000 };
  it('a reader past the instance\'s own published record is not stalled, however long ago it was published', () => {
    assert.equal(readerStalled(published, 42, 1_000 + 10 * READER_STALL_MS), false);
  });
  it('a reader still before it is stalled once READER_STALL_MS have passed since the acknowledgement, not before', () => {
    assert.equal(readerStalled(published, 41, 1_000 + READER_STALL_MS - 1), false);
    assert.equal(readerStalled(published, 41, 1_000 + READER_STALL_MS), true);
    assert.equal(readerStalled(published, 0, 1_000 + READER_STALL_MS), true);
  });
});
