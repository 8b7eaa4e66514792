/**
 * Records deleted from the log before the consumer read them (retention; here
 * admin.deleteRecords, which moves the log start the same way, deterministically) are
 * counted as lost, exactly, on a real broker: at the first fetch after a restart from an
 * older position, and in the middle of the stream when a paused consumer is overtaken.
 * Gaps that are not losses (transaction markers, aborted transactions) count 0.
 *
 * The source is wired to the ledger and the metric the way src/service/service.ts wires it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { Registry } from 'prom-client';
import { createServiceMetrics } from '../../src/metrics/service-metrics.js';
import { IngestLedger } from '../../src/ingest/ledger.js';
import { KafkaSource, type OffsetGap, type RecordChunk } from '../../src/ingest/source.js';
import { createTopic, testBrokers, uniqueTopic } from '../helpers/kafka.js';

function kafka(brokers: string[]): Kafka {
  return new Kafka({ clientId: 'retention-gap-test', brokers, logLevel: logLevel.NOTHING });
}

/** `count` records on partition 0, `perSend` to a produce request (so to a record batch). */
async function produce(brokers: string[], topic: string, count: number, valueBytes = 16, perSend = count): Promise<void> {
  const producer = kafka(brokers).producer();
  await producer.connect();
  try {
    for (let from = 0; from < count; from += perSend) {
      const n = Math.min(perSend, count - from);
      await producer.send({ topic, messages: Array.from({ length: n }, (_, i) => ({ partition: 0, key: `k${from + i}`, value: Buffer.alloc(valueBytes, from + i) })) });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Moves partition 0's log start to `offset`, as retention does when it deletes segments. */
async function deleteBefore(brokers: string[], topic: string, offset: number): Promise<void> {
  const admin = kafka(brokers).admin();
  await admin.connect();
  try {
    // deleteTopicRecords looks the partition leader up in metadata it does not fetch itself.
    await admin.fetchTopicMetadata({ topics: [topic] });
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: String(offset) }] });
    const [p] = await admin.fetchTopicOffsets(topic);
    assert.equal(p!.low, String(offset), 'the log start moved');
  } finally {
    await admin.disconnect();
  }
}

interface Run {
  source: KafkaSource;
  ledger: IngestLedger;
  registry: Registry;
  gaps: OffsetGap[];
  logs: string[];
  /** Offsets handed downstream, in order. */
  delivered: number[];
  /** Holds the next chunk's release until this resolves (a slow pipeline). */
  holdRelease?: Promise<void>;
}

async function startSource(brokers: string[], topic: string, startOffsets: Array<[number, number]>, opts: { maxInFlight?: number; fetchMaxBytes?: number } = {}): Promise<Run> {
  const ledger = new IngestLedger();
  for (const [p, o] of startOffsets) ledger.advance(p, o);
  const registry = new Registry();
  const metrics = createServiceMetrics({ registry, collectDefault: false });
  const run: Partial<Run> & Pick<Run, 'ledger' | 'registry' | 'gaps' | 'logs' | 'delivered'> = { ledger, registry, gaps: [], logs: [], delivered: [] };
  const source = new KafkaSource({
    kafka: kafka(brokers),
    topic,
    groupId: `${topic}-group`,
    fromBeginning: true,
    sessionTimeoutMs: 10_000,
    maxInFlight: opts.maxInFlight ?? 10_000,
    maxInFlightBytes: 64 * 1024 * 1024,
    fetchMaxBytes: opts.fetchMaxBytes ?? 1024 * 1024,
    startOffsets: ledger.positions,
    onDead: (err) => run.logs.push(`dead: ${err.message}`),
    // As service.ts wires it.
    onLost: (gap) => {
      run.gaps.push(gap);
      ledger.lose(gap.partition, gap.expected, gap.actual);
      metrics.eventsLost.retention.inc(gap.lost);
    },
    log: (m) => run.logs.push(m),
    now: Date.now,
  });
  run.source = source;
  // The pipeline's part: apply (advance the ledger) synchronously, release when done.
  source.records$.subscribe((chunk: RecordChunk) => {
    for (const m of chunk.messages) run.delivered.push(Number(m.offset));
    const last = chunk.messages[chunk.messages.length - 1];
    if (last !== undefined) ledger.advance(chunk.partition, Number(last.offset) + 1);
    const release = (): void => source.release(chunk.messages.length, chunk.bytes);
    if (run.holdRelease) void run.holdRelease.then(release);
    else release();
  });
  await source.start();
  return run as Run;
}

async function waitFor(what: string, done: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function lostMetric(registry: Registry): Promise<number> {
  const text = await registry.getSingleMetricAsString('rebalancer_events_lost_total');
  const match = /^rebalancer_events_lost_total\{reason="retention"\} (\d+)$/m.exec(text);
  assert.ok(match, `the metric has a retention series:\n${text}`);
  return Number(match[1]);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

describe('records deleted before they were read', () => {
  it('a restart from a position below the log start counts the deleted records, and logs them', async () => {
    const brokers = await testBrokers();
    const topic = uniqueTopic('gap-restart');
    await createTopic(brokers, topic, 1);
    await produce(brokers, topic, 100);
    await deleteBefore(brokers, topic, 40);
    // The checkpoint says 0..9 were applied: 10..39 are gone.
    const run = await startSource(brokers, topic, [[0, 10]]);
    try {
      await waitFor('the end of the partition', () => run.ledger.positions.get(0) === 100);
      assert.deepEqual(run.gaps, [{ topic, partition: 0, expected: 10, actual: 40, lost: 30 }]);
      assert.equal(run.ledger.lost, 30);
      assert.equal(run.ledger.snapshot().lost, 30, '/state and checkpoints carry it');
      assert.equal(await lostMetric(run.registry), 30);
      assert.deepEqual(run.delivered, range(40, 100));
      const line = run.logs.find((l) => l.includes('were gone when fetched'));
      assert.ok(line, `a log line reports the loss: ${JSON.stringify(run.logs)}`);
      assert.match(line, new RegExp(`^30 records of ${topic} partition 0 .*expected offset 10, the broker delivered 40`));
    } finally {
      await run.source.disconnect();
    }
  });

  it('counts 0 when the position is at or past the log start', async () => {
    const brokers = await testBrokers();
    const topic = uniqueTopic('gap-none');
    await createTopic(brokers, topic, 1);
    await produce(brokers, topic, 100);
    await deleteBefore(brokers, topic, 40);
    const run = await startSource(brokers, topic, [[0, 50]]);
    try {
      await waitFor('the end of the partition', () => run.ledger.positions.get(0) === 100);
      assert.deepEqual(run.gaps, []);
      assert.equal(run.ledger.lost, 0);
      assert.equal(await lostMetric(run.registry), 0);
      assert.deepEqual(run.delivered, range(50, 100));
      assert.ok(!run.logs.some((l) => l.includes('were gone')), JSON.stringify(run.logs));
    } finally {
      await run.source.disconnect();
    }
  });

  it('counts the records a paused consumer was overtaken on in the middle of the stream', async () => {
    const brokers = await testBrokers();
    const topic = uniqueTopic('gap-midrun');
    await createTopic(brokers, topic, 1);
    // 200 records of 2 KiB in record batches of 4: a 64 KiB fetch takes ~32 of them.
    await produce(brokers, topic, 200, 2_048, 4);
    let releaseFirst = (): void => {};
    const run = await startSource(brokers, topic, [], { maxInFlight: 1, fetchMaxBytes: 65_536 });
    run.holdRelease = new Promise<void>((r) => { releaseFirst = r; });
    try {
      // The first chunk fills the in-flight bound: the consumer pauses, holding its position.
      await waitFor('the consumer to pause', () => run.source.paused && run.delivered.length > 0);
      const read = run.delivered.length;
      assert.ok(read < 150, `the first fetch stopped short of offset 150 (read ${read})`);
      await deleteBefore(brokers, topic, 150);
      run.holdRelease = undefined;
      releaseFirst();
      await waitFor('the end of the partition', () => run.ledger.positions.get(0) === 200);
      assert.deepEqual(run.gaps, [{ topic, partition: 0, expected: read, actual: 150, lost: 150 - read }]);
      assert.deepEqual(run.delivered, [...range(0, read), ...range(150, 200)]);
      assert.equal(run.delivered.length + run.ledger.lost, 200, 'every offset was delivered or counted lost, once');
      assert.equal(await lostMetric(run.registry), 150 - read);
    } finally {
      await run.source.disconnect();
    }
  });

  it('counts 0 for the offset gaps of transaction markers and aborted transactions', async () => {
    const brokers = await testBrokers();
    const topic = uniqueTopic('gap-txn');
    await createTopic(brokers, topic, 1);
    const producer = kafka(brokers).producer({ transactionalId: `${topic}-tx`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      // Offsets: data 0..9, commit marker 10, aborted data 11..20, abort marker 21, data 22..31, commit marker 32.
      // Each record batch of 10 × 8 KiB is larger than a 64 KiB fetch: every fetch returns one
      // batch, so markers and the aborted batch arrive in fetches of their own.
      for (const outcome of ['commit', 'abort', 'commit'] as const) {
        const tx = await producer.transaction();
        await tx.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ partition: 0, value: Buffer.alloc(8_192, i) })) });
        await (outcome === 'commit' ? tx.commit() : tx.abort());
      }
    } finally {
      await producer.disconnect();
    }
    // A fresh read across every marker, and a restart whose checkpoint ends right at a marker.
    const cases: Array<{ start: Array<[number, number]>; expected: number[] }> = [
      { start: [], expected: [...range(0, 10), ...range(22, 32)] },
      { start: [[0, 10]], expected: range(22, 32) },
    ];
    for (const { start, expected } of cases) {
      const run = await startSource(brokers, topic, start, { fetchMaxBytes: 65_536 });
      try {
        await waitFor('the last committed record', () => run.ledger.positions.get(0) === 32);
        // The trailing commit marker at 32 must not count either when the next record arrives.
        await new Promise((r) => setTimeout(r, 500));
        assert.deepEqual(run.delivered, expected);
        assert.deepEqual(run.gaps, []);
        assert.equal(await lostMetric(run.registry), 0);
      } finally {
        await run.source.disconnect();
      }
    }
  });
});
