/**
 * Replays of historical events against a broker that deletes by time. The events are
 * dated 2019 and keep their event time as message timestamp, so any topic with time
 * retention loses them at the broker's next retention check. This file runs its own
 * broker with a 500 ms retention check (the default is 5 minutes, after a 30 s initial
 * delay) so that check demonstrably runs within the test.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { createEventCodec, makeEvent } from '../../src/codec/index.js';
import { isRebalancerError } from '../../src/errors.js';
import { startLocalKafka, type LocalKafka } from '../../dev/local-broker.js';
import { topicSource, type SourceItem } from '../../src/adapters/sources.js';
import { testKafka, uniqueTopic } from '../helpers/kafka.js';
import { cli, consumeAll, spawnCli, tempDir } from './helpers.js';

const N = 300;
const FIRST_EVENT = Date.UTC(2019, 2, 1);
const codec = createEventCodec();
let broker: LocalKafka;
let brokers: string;
let dir: string;
let file: string;

before(async () => {
  broker = await startLocalKafka({ extraProperties: { 'log.retention.check.interval.ms': '500', 'log.initial.task.delay.ms': '0' } });
  brokers = broker.brokers.join(',');
  dir = tempDir('replay-retention');
  file = join(dir, 'events-2019.bin');
  await cli('generate', '--out', file, '--events', String(N), '--seed', '3', '--users', '40', '--start', new Date(FIRST_EVENT).toISOString());
});

after(async () => {
  await broker?.stop();
});

async function withAdmin<T>(f: (admin: kafkajs.Admin) => Promise<T>): Promise<T> {
  const admin = testKafka(broker.brokers, 'retention-test-admin').admin();
  await admin.connect();
  try {
    return await f(admin);
  } finally {
    await admin.disconnect();
  }
}

async function retentionMs(topic: string): Promise<string | undefined> {
  return withAdmin(async (admin) => {
    const { resources } = await admin.describeConfigs({ resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms'] }], includeSynonyms: false });
    return resources[0]?.configEntries.find((e) => e.configName === 'retention.ms')?.configValue;
  });
}

async function offsets(topic: string): Promise<{ partition: number; low: number; high: number }[]> {
  return withAdmin(async (admin) => (await admin.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) })));
}

async function createTopic(topic: string, partitions: number, config: Record<string, string> = {}): Promise<void> {
  await withAdmin(async (admin) => {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions, configEntries: Object.entries(config).map(([name, value]) => ({ name, value })) }], waitForLeaders: true });
  });
}

async function topicExists(topic: string): Promise<boolean> {
  return withAdmin(async (admin) => (await admin.listTopics()).includes(topic));
}

async function replayFile(topic: string, ...extra: string[]): Promise<{ code: number; stderr: string }> {
  return spawnCli(['replay', '--file', file, '--brokers', brokers, '--topic', topic, '--progress-file', join(dir, `${topic}.progress.json`), '--quiet', ...extra]);
}

/** Waits until the broker's retention check has emptied every partition (log start = high watermark > 0). */
async function waitEmptied(topic: string, timeoutMs = 20_000): Promise<{ partition: number; low: number; high: number }[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const o = await offsets(topic);
    if (o.every((p) => p.high > 0 && p.low === p.high)) return o;
    if (Date.now() > deadline) throw new Error(`retention did not empty ${topic} within ${timeoutMs} ms: ${JSON.stringify(o)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A topic with retention.ms=1000 that held the 2019 events, emptied by the broker's retention check. */
let emptied: Promise<{ topic: string; warning: string; offsets: { partition: number; low: number; high: number }[] }> | undefined;
function emptiedTopic(): NonNullable<typeof emptied> {
  emptied ??= (async () => {
    const topic = uniqueTopic('short-retention');
    await createTopic(topic, 2, { 'retention.ms': '1000' });
    const r = await replayFile(topic);
    assert.equal(r.code, 0, r.stderr);
    return { topic, warning: r.stderr, offsets: await waitEmptied(topic) };
  })();
  return emptied;
}

describe('replays of historical events and retention', () => {
  it('a topic replay creates keeps years-old events past the retention check that empties a time-retention topic', async () => {
    const keep = uniqueTopic('replay-keep');
    const r = await replayFile(keep);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`created topic ${keep} .*retention\\.ms=-1`), 'the log says the topic keeps history');
    assert.equal(await retentionMs(keep), '-1', 'describeConfigs: retention.ms of the created topic');

    // The same events in a topic with time retention are deleted by the broker's check...
    const short = await emptiedTopic();
    assert.equal(short.offsets.reduce((s, p) => s + p.high, 0), N, 'the short-retention topic had received every event');
    // ...and replay warned about it, naming the topic and its retention.ms.
    const warning = short.warning.split('\n').filter((l) => l.includes('warning'));
    assert.equal(warning.length, 1, `one warning line: ${short.warning}`);
    assert.match(warning[0]!, new RegExp(`topic ${short.topic} deletes messages by time \\(retention\\.ms=1000`));
    assert.match(warning[0]!, /2019-03-01/);

    // One more check interval later, the created topic still holds all of them, readable.
    await new Promise((r) => setTimeout(r, 1_000));
    const kept = await offsets(keep);
    assert.deepEqual(kept.map((p) => p.low), kept.map(() => 0), 'nothing deleted from the created topic');
    const got = await consumeAll(broker.brokers, keep, N);
    assert.equal(got.length, N);
    const times = got.map((m) => codec.decode(m.message.value!).eventTime);
    assert.equal(Math.min(...times), FIRST_EVENT, 'original event times kept');
    for (const m of got) assert.equal(Number(m.message.timestamp), codec.decode(m.message.value!).eventTime);
  });

  it('backtest and replay from a topic emptied by retention fail with REB_SOURCE_RETENTION, naming partitions and log start', async () => {
    const { topic, offsets: o } = await emptiedTopic();
    const bt = await spawnCli(['backtest', '--source-topic', topic, '--brokers', brokers, '--quiet']);
    const target = uniqueTopic('replay-from-emptied');
    const rp = await spawnCli(['replay', '--source-topic', topic, '--brokers', brokers, '--topic', target, '--progress-file', join(dir, 'emptied.json'), '--quiet']);
    for (const [name, r] of [['backtest', bt], ['replay', rp]] as const) {
      assert.equal(r.code, 2, `${name} exit code; stderr: ${r.stderr}`);
      const line = r.stderr.trim().split('\n').find((l) => l.startsWith('rebalancer: ')) ?? '';
      assert.match(line, /\[REB_SOURCE_RETENTION\]$/, `${name}: ${r.stderr}`);
      assert.match(line, new RegExp(`source topic ${topic} .*retention`));
      for (const p of o) assert.ok(line.includes(`partition ${p.partition}: log start ${p.low} > requested 0`), `${name} names partition ${p.partition}: ${line}`);
      assert.match(line, /retention\.ms=1000/);
      assert.doesNotMatch(r.stderr, /range flags/);
    }
    assert.equal(await topicExists(target), false, 'replay created no target for nothing');
  });

  it('an explicit --from-offset below a partition\'s log start fails; without it the rest is read', async () => {
    const topic = uniqueTopic('replay-partly-deleted');
    assert.equal((await replayFile(topic, '--partitions', '2')).code, 0);
    // What the broker does when retention deletes the oldest segment: the log start moves.
    await withAdmin(async (admin) => {
      await admin.fetchTopicMetadata({ topics: [topic] });
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '10' }] });
    });
    const before = await offsets(topic);
    const total = before.reduce((s, p) => s + p.high - p.low, 0);
    assert.equal(total, N - 10);

    const strict = await spawnCli(['replay', '--source-topic', topic, '--from-offset', '0', '--brokers', brokers, '--topic', uniqueTopic('x'), '--progress-file', join(dir, 'strict.json'), '--quiet']);
    assert.equal(strict.code, 2, strict.stderr);
    assert.match(strict.stderr, /partition 0: log start 10 > requested 0.*\[REB_SOURCE_RETENTION\]/);
    assert.doesNotMatch(strict.stderr, /partition 1:/, 'partition 1 lost nothing');

    const rest = uniqueTopic('replay-rest');
    const r = await spawnCli(['replay', '--source-topic', topic, '--brokers', brokers, '--topic', rest, '--progress-file', join(dir, 'rest.json'), '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`replayed ${N - 10} events`));
  });

  it('a replay that sends no event exits 2 with one clear line, and creates no topic', async () => {
    const target = uniqueTopic('replay-none');
    const late = await replayFile(target, '--from-time', '2030-01-01T00:00:00Z');
    assert.equal(late.code, 2, late.stderr);
    assert.match(late.stderr, /^rebalancer: replay sent no events: file .*events-2019\.bin in the range --from-time 2030-01-01T00:00:00Z holds no event to replay; nothing was written to \S+ \[REB_INPUT_INVALID\]$/m);

    const empty = uniqueTopic('never-written');
    await createTopic(empty, 2);
    const fromEmpty = await spawnCli(['replay', '--source-topic', empty, '--brokers', brokers, '--topic', target, '--progress-file', join(dir, 'none.json'), '--quiet']);
    assert.equal(fromEmpty.code, 2, fromEmpty.stderr);
    assert.match(fromEmpty.stderr, new RegExp(`replay sent no events: topic ${empty} holds no event`));
    assert.doesNotMatch(fromEmpty.stderr, /REB_SOURCE_RETENTION/, 'a never-written topic lost nothing to retention');
    assert.equal(await topicExists(target), false);
  });

  it('--timestamps now re-stamps event time with the send time and does not warn about retention', async () => {
    const topic = uniqueTopic('replay-now');
    await createTopic(topic, 1, { 'retention.ms': '3600000' });
    const t0 = Date.now();
    const r = await replayFile(topic, '--timestamps', 'now');
    const t1 = Date.now();
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /warning/);
    const original = await replayFile(uniqueTopic('replay-orig'));
    assert.equal(original.code, 0);
    const got = await consumeAll(broker.brokers, topic, N);
    const ids = new Set<string>();
    for (const m of got) {
      const e = codec.decode(m.message.value!);
      ids.add(e.eventId);
      assert.ok(e.eventTime >= t0 && e.eventTime <= t1, `eventTime ${e.eventTime} within the replay [${t0}, ${t1}]`);
      assert.equal(Number(m.message.timestamp), e.eventTime);
    }
    assert.equal(ids.size, N, 'event ids kept');
    // An existing topic with 1 h retention and the original (2019) times is warned about.
    const warned = await replayFile(topic);
    assert.match(warned.stderr, new RegExp(`warning: topic ${topic} deletes messages by time \\(retention\\.ms=3600000, 1\\.0 h\\)`));
  });

  it('records deleted while a slice is being read fail the read instead of being skipped or awaited forever', async () => {
    // 30k events in one partition: the source reads a first fetch (~1 MB), pauses past 5,000
    // queued, and fetches the rest only as the reader drains; the deletions come in between.
    const M = 30_000;
    const now = Date.now();
    const makeTopic = async (): Promise<string> => {
      const topic = uniqueTopic('deleted-while-read');
      await createTopic(topic, 1, { 'retention.ms': '-1' });
      const producer = testKafka(broker.brokers, 'retention-test-producer').producer();
      await producer.connect();
      try {
        for (let i = 0; i < M; i += 5_000) {
          await producer.send({ topic, messages: Array.from({ length: 5_000 }, (_, j) => {
            const e = makeEvent({ eventId: `e${i + j}`, userId: `u${(i + j) % 97}`, itemId: `i${(i + j) % 501}`, categoryId: 'cat-0', type: 'click', eventTime: now + i + j });
            return { key: e.userId, value: codec.encode(e), timestamp: String(e.eventTime) };
          }) });
        }
      } finally {
        await producer.disconnect();
      }
      return topic;
    };
    const readAfterDeleting = async (topic: string, deleteBefore: number): Promise<{ read: SourceItem[]; error: unknown }> => {
      const source = await topicSource(testKafka(broker.brokers, 'retention-test-source'), topic, {}, undefined, () => {});
      assert.equal(source.total, M);
      const read: SourceItem[] = [];
      const it = source.items()[Symbol.asyncIterator]();
      try {
        const first = await it.next();
        assert.ok(first.done !== true);
        read.push(first.value);
        await withAdmin(async (admin) => {
          await admin.fetchTopicMetadata({ topics: [topic] });
          await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: String(deleteBefore) }] });
        });
        const drain = (async () => {
          for (let r = await it.next(); r.done !== true; r = await it.next()) read.push(r.value);
        })();
        let timer: NodeJS.Timeout | undefined;
        const hung = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`still reading after 20 s (${read.length} items)`)), 20_000); });
        try {
          await Promise.race([drain, hung]);
        } finally {
          clearTimeout(timer);
        }
        return { read, error: undefined };
      } catch (error) {
        return { read, error };
      } finally {
        await source.close();
      }
    };

    // Part of the unread rest deleted: the consumer would jump from ~10,000 to 20,000.
    const gap = await readAfterDeleting(await makeTopic(), 20_000);
    if (!isRebalancerError(gap.error, 'REB_SOURCE_RETENTION')) assert.fail(`expected REB_SOURCE_RETENTION, got ${String(gap.error)} after ${gap.read.length} items`);
    assert.match(gap.error.message, /while they were being read: partition 0: log start 20000 > next to read \d+/);
    assert.ok(gap.read.length < 20_000, `${gap.read.length} items read`);
    gap.read.forEach((item, i) => assert.equal(item.position, i, 'no record was skipped before the error'));

    // Everything deleted: the consumer would wait for records that never come.
    const all = await readAfterDeleting(await makeTopic(), M);
    if (!isRebalancerError(all.error, 'REB_SOURCE_RETENTION')) assert.fail(`expected REB_SOURCE_RETENTION, got ${String(all.error)} after ${all.read.length} items`);
    assert.match(all.error.message, /partition 0: log start 30000 > next to read \d+ \(now empty\)/);
  });
});
