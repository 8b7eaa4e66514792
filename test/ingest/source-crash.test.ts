/**
 * KafkaSource's crash paths, without a broker: a fake kafkajs consumer (injected through
 * `kafka.consumer()`) that the test drives with the instrumentation events kafkajs emits
 * (CRASH, STOP, GROUP_JOIN, REBALANCING, START_BATCH_PROCESS) and with eachBatch payloads.
 * Promised by src/ingest/source.ts: a non-retriable crash, a restart loop or a stop no
 * crash follows is a dead consumer (REB_KAFKA_CONSUMER_DEAD, once; kafkajs is told not to
 * restart it; it commits nothing); a retriable crash is down-then-up again; a crash while
 * shutting down is no failure; a batch left early (rebalance, failed heartbeat) hands on
 * nothing further and resolves only what it handed on, so the rest is fetched again; a
 * failing partition preparation hands on nothing; the gap check never throws into
 * kafkajs's fetch loop. The real-broker paths are in crash.test.ts and retention-gap.test.ts.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import type { ConsumerConfig, ConsumerRunConfig, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { RebalancerError } from '../../src/errors.js';
import { KafkaSource, type OffsetGap, type RecordChunk, type SourceOptions } from '../../src/ingest/source.js';

const TOPIC = 'events';
/** kafkajs's consumer instrumentation event names (src/consumer/instrumentationEvents.js). */
const EVENTS = {
  HEARTBEAT: 'consumer.heartbeat',
  GROUP_JOIN: 'consumer.group_join',
  FETCH: 'consumer.fetch',
  START_BATCH_PROCESS: 'consumer.start_batch_process',
  STOP: 'consumer.stop',
  CRASH: 'consumer.crash',
  REBALANCING: 'consumer.rebalancing',
} as const;

type Listener = (event: { id: number; type: string; timestamp: number; payload: unknown }) => void;

/** The part of a kafkajs Consumer KafkaSource uses, recording what it is asked to do. */
class FakeConsumer {
  readonly events = EVENTS;
  readonly commits: Array<Array<{ topic: string; partition: number; offset: string }>> = [];
  readonly pauses: string[] = [];
  runConfig: ConsumerRunConfig | undefined;
  private readonly listeners = new Map<string, Listener[]>();
  private id = 0;

  constructor(readonly config: ConsumerConfig) {}

  on(name: string, listener: Listener): () => void {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), listener]);
    return () => {};
  }

  /** What kafkajs's instrumentation emitter does: every listener, synchronously. */
  emit(name: string, payload: unknown): void {
    for (const l of this.listeners.get(name) ?? []) l({ id: ++this.id, type: name, timestamp: 0, payload });
  }

  connect = async (): Promise<void> => {};
  subscribe = async (): Promise<void> => {};
  run = async (config: ConsumerRunConfig): Promise<void> => {
    this.runConfig = config;
  };
  seek = (): void => {};
  pause = (): void => {
    this.pauses.push('pause');
  };
  resume = (): void => {
    this.pauses.push('resume');
  };
  commitOffsets = async (offsets: Array<{ topic: string; partition: number; offset: string }>): Promise<void> => {
    this.commits.push(offsets);
  };
  disconnect = async (): Promise<void> => {};

  /** kafkajs's retrier asks this before restarting a crashed consumer. */
  restartAllowed(): Promise<boolean> {
    const ask = this.config.retry?.restartOnFailure;
    assert.ok(ask !== undefined, 'the source decides on restarts');
    return ask(new Error('crash'));
  }

  eachBatch(payload: EachBatchPayload): Promise<void> {
    const handler = this.runConfig?.eachBatch;
    assert.ok(handler !== undefined, 'run() with eachBatch');
    return handler(payload);
  }
}

interface Harness {
  source: KafkaSource;
  consumer: FakeConsumer;
  dead: RebalancerError[];
  crashes: Array<{ message: string; willRestart: boolean }>;
  logs: string[];
  chunks: RecordChunk[];
  completed: { value: boolean };
  clock: { now: number };
  rebalancing: { count: number };
}

async function harness(extra: Partial<SourceOptions> = {}): Promise<Harness> {
  let consumer: FakeConsumer | undefined;
  // A test double of the kafkajs client: only consumer() is used by KafkaSource.
  const kafka = { consumer: (config: ConsumerConfig) => (consumer = new FakeConsumer(config)) } as unknown as Kafka;
  const dead: RebalancerError[] = [];
  const crashes: Array<{ message: string; willRestart: boolean }> = [];
  const logs: string[] = [];
  const clock = { now: 1_000_000 };
  const rebalancing = { count: 0 };
  const source = new KafkaSource({
    kafka,
    topic: TOPIC,
    groupId: 'g',
    fromBeginning: true,
    sessionTimeoutMs: 6_000,
    maxInFlight: 100_000,
    maxInFlightBytes: 1e9,
    fetchMaxBytes: 1_048_576,
    startOffsets: new Map(),
    onDead: (err) => dead.push(err),
    onCrash: (err, willRestart) => crashes.push({ message: err.message, willRestart }),
    onRebalancing: () => rebalancing.count++,
    log: (m) => logs.push(m),
    now: () => clock.now,
    ...extra,
  });
  assert.ok(consumer !== undefined);
  const chunks: RecordChunk[] = [];
  const completed = { value: false };
  source.records$.subscribe({ next: (c) => chunks.push(c), complete: () => (completed.value = true) });
  await source.start();
  return { source, consumer, dead, crashes, logs, chunks, completed, clock, rebalancing };
}

function joined(h: Harness, partitions: number[]): void {
  h.consumer.emit(EVENTS.GROUP_JOIN, { duration: 1, groupId: 'g', isLeader: true, leaderId: 'm', groupProtocol: 'RoundRobin', memberId: 'm', memberAssignment: { [TOPIC]: partitions } });
}

function crash(h: Harness, message: string, restart: boolean): Error {
  const error = new Error(message);
  h.consumer.emit(EVENTS.CRASH, { error, groupId: 'g', restart });
  return error;
}

function messages(from: number, count: number): KafkaMessage[] {
  return Array.from({ length: count }, (_, i) => ({ key: null, value: Buffer.from(`event-${from + i}`), timestamp: '1767225600000', attributes: 0, offset: String(from + i), headers: {} }));
}

/** An eachBatch payload over `msgs` of partition `partition`, recording resolveOffset calls. */
function payload(partition: number, msgs: KafkaMessage[], o: { isStale?: () => boolean; heartbeat?: () => Promise<void> } = {}): { payload: EachBatchPayload; resolved: string[] } {
  const resolved: string[] = [];
  const last = msgs[msgs.length - 1]!.offset;
  const p: EachBatchPayload = {
    batch: {
      topic: TOPIC,
      partition,
      highWatermark: String(Number(last) + 1),
      messages: msgs,
      isEmpty: () => msgs.length === 0,
      firstOffset: () => msgs[0]?.offset ?? null,
      lastOffset: () => last,
      offsetLag: () => '0',
      offsetLagLow: () => '0',
    },
    resolveOffset: (offset) => resolved.push(offset),
    heartbeat: o.heartbeat ?? (async () => {}),
    pause: () => () => {},
    commitOffsetsIfNecessary: async () => {},
    uncommittedOffsets: () => ({ topics: [] }),
    isRunning: () => true,
    isStale: o.isStale ?? (() => false),
  };
  return { payload: p, resolved };
}

function handedOn(h: Harness): string[] {
  return h.chunks.flatMap((c) => c.messages.map((m) => m.offset));
}

function range(from: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => String(from + i));
}

describe('source: consumer crashes', { timeout: 20_000 }, () => {
  afterEach(() => mock.timers.reset());

  it('a non-retriable crash: dead once (REB_KAFKA_CONSUMER_DEAD, the cause kept), not restarted, and it commits nothing', async () => {
    const h = await harness();
    joined(h, [0, 1]);
    assert.equal(h.source.isUp, true);
    assert.equal(await h.consumer.restartAllowed(), true);
    const error = crash(h, 'Topic authorization failed', false);
    assert.deepEqual(h.crashes, [{ message: 'Topic authorization failed', willRestart: false }]);
    assert.equal(h.dead.length, 1);
    const err = h.dead[0]!;
    assert.equal(err.code, 'REB_KAFKA_CONSUMER_DEAD');
    assert.equal(err.message, 'Kafka consumer crashed with a non-retriable error: Topic authorization failed');
    assert.equal(err.cause, error);
    assert.equal(h.source.deadReason, err);
    assert.equal(h.source.isUp, false);
    assert.ok(h.logs.includes(err.message), 'logged');
    assert.equal(await h.consumer.restartAllowed(), false, 'kafkajs is told not to restart a dead consumer');
    await h.source.commit(new Map([[0, 42]]));
    assert.deepEqual(h.consumer.commits, [], 'a dead consumer commits nothing');
    crash(h, 'again', false);
    assert.equal(h.dead.length, 1, 'reported once');
    assert.equal(h.source.crashCount, 2);
  });

  it('a retriable crash: down until the group is joined again, not dead, restarts allowed, commits go through after', async () => {
    const h = await harness();
    joined(h, [0]);
    crash(h, 'The coordinator is not aware of this member', true);
    assert.deepEqual(h.crashes, [{ message: 'The coordinator is not aware of this member', willRestart: true }]);
    assert.equal(h.source.isUp, false, 'down while kafkajs restarts it');
    assert.equal(h.dead.length, 0);
    assert.equal(await h.consumer.restartAllowed(), true);
    joined(h, [0, 2]);
    assert.equal(h.source.isUp, true);
    assert.deepEqual(h.source.assignedPartitions, [0, 2]);
    await h.source.commit(new Map([[0, 42], [2, 7]]));
    assert.deepEqual(h.consumer.commits, [[{ topic: TOPIC, partition: 0, offset: '42' }, { topic: TOPIC, partition: 2, offset: '7' }]]);
  });

  it('restartLoopLimit crashes within restartLoopWindowMs are a restart loop: dead, naming the count, window and last error', async () => {
    const h = await harness({ restartLoopLimit: 3, restartLoopWindowMs: 60_000 });
    crash(h, 'boom 1', true);
    h.clock.now += 30_000;
    crash(h, 'boom 2', true);
    assert.equal(h.dead.length, 0);
    h.clock.now += 29_000;
    crash(h, 'boom 3', true);
    assert.equal(h.dead.length, 1);
    assert.equal(h.dead[0]!.code, 'REB_KAFKA_CONSUMER_DEAD');
    assert.equal(h.dead[0]!.message, 'Kafka consumer is in a restart loop: 3 crashes within 60000 ms (last: boom 3)');
    assert.equal(await h.consumer.restartAllowed(), false);
  });

  it('crashes spread wider than the window are no loop, however many', async () => {
    const h = await harness({ restartLoopLimit: 3, restartLoopWindowMs: 60_000 });
    for (let i = 0; i < 20; i++) {
      crash(h, `boom ${i}`, true);
      joined(h, [0]);
      h.clock.now += 31_000; // at most two within any 60 s
    }
    assert.equal(h.dead.length, 0);
    assert.equal(h.source.crashCount, 20);
    assert.equal(h.source.isUp, true);
  });

  it('a STOP that no CRASH follows within 10 s is a dead consumer; one a CRASH follows is not', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const h = await harness();
    joined(h, [0]);
    h.consumer.emit(EVENTS.STOP, {});
    mock.timers.tick(9_999);
    assert.equal(h.dead.length, 0);
    mock.timers.tick(1);
    assert.equal(h.dead.length, 1);
    assert.equal(h.dead[0]!.code, 'REB_KAFKA_CONSUMER_DEAD');
    assert.equal(h.dead[0]!.message, 'Kafka consumer stopped unexpectedly');

    const k = await harness();
    joined(k, [0]);
    k.consumer.emit(EVENTS.STOP, {});
    mock.timers.tick(3_000);
    crash(k, 'Connection timeout', true); // kafkajs stops on its way to a crash it restarts from
    mock.timers.tick(20_000);
    assert.equal(k.dead.length, 0);
  });

  it('while shutting down, a crash or stop is no failure, and no restart is asked for', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const h = await harness();
    joined(h, [0]);
    h.source.stopFetching();
    assert.equal(h.completed.value, true, 'the stream completes');
    h.consumer.emit(EVENTS.STOP, {});
    crash(h, 'The group is rebalancing', false);
    mock.timers.tick(20_000);
    assert.deepEqual(h.crashes, [], 'not reported as a crash');
    assert.equal(h.dead.length, 0);
    assert.equal(await h.consumer.restartAllowed(), false);
  });
});

describe('source: a batch left early', { timeout: 20_000 }, () => {
  it('a rebalance mid-batch (stale after the first chunk): nothing more handed on, only what was handed on resolved; the re-fetch continues without a gap or repeat', async () => {
    const h = await harness();
    joined(h, [0]);
    let stale = false;
    h.source.records$.subscribe(() => {
      stale = true; // the group rebalances while the pipeline takes the first chunk
      h.consumer.emit(EVENTS.REBALANCING, { groupId: 'g', memberId: 'm' });
    });
    const first = payload(0, messages(100, 2_500), { isStale: () => stale });
    await h.consumer.eachBatch(first.payload);
    assert.equal(h.rebalancing.count, 1);
    assert.deepEqual(handedOn(h), range(100, 1_000), 'the first chunk only');
    assert.deepEqual(first.resolved, ['1099'], 'resolved up to the last record handed on, not the batch end (2599)');
    assert.equal(h.source.inFlightEvents, 1_000);

    // kafkajs fetches again from the first record not resolved.
    stale = false;
    joined(h, [0]);
    const again = payload(0, messages(1_100, 1_500), { isStale: () => false });
    h.chunks.length = 0;
    await h.consumer.eachBatch(again.payload);
    assert.deepEqual(handedOn(h), range(1_100, 1_500));
    assert.equal(again.resolved.at(-1), '2599');
  });

  it('a heartbeat failing mid-batch (REBALANCE_IN_PROGRESS) rejects eachBatch after the chunk it followed; the rest is not handed on', async () => {
    const h = await harness();
    joined(h, [0]);
    const rebalance = new Error('The group is rebalancing, so a rejoin is needed');
    const p = payload(0, messages(0, 2_200), { heartbeat: async () => Promise.reject(rebalance) });
    await assert.rejects(h.consumer.eachBatch(p.payload), (err) => err === rebalance);
    assert.deepEqual(handedOn(h), range(0, 1_000));
    assert.deepEqual(p.resolved, ['999']);
  });

  it('a partition that fails to prepare (its state unreadable) hands on nothing and resolves nothing: eachBatch rejects for kafkajs', async () => {
    const failure = new Error('changelog read failed');
    const h = await harness({ preparePartition: async () => Promise.reject(failure) });
    joined(h, [0]);
    const p = payload(0, messages(0, 50));
    await assert.rejects(h.consumer.eachBatch(p.payload), (err) => err === failure);
    assert.deepEqual(h.chunks, []);
    assert.deepEqual(p.resolved, []);
    assert.equal(h.source.inFlightEvents, 0);
  });

  it('after a restart, records below the restored offsets are resolved but not handed on again', async () => {
    const h = await harness({ startOffsets: new Map([[0, 150]]) });
    joined(h, [0]);
    const p = payload(0, messages(100, 100));
    await h.consumer.eachBatch(p.payload);
    assert.deepEqual(handedOn(h), range(150, 50));
    assert.deepEqual(p.resolved, ['149', '199', '199']);
  });

  it('a rebalance while the batch waits for capacity (paused): once resumed, nothing more is handed on', async () => {
    const h = await harness({ maxInFlight: 1_000 });
    joined(h, [0]);
    let stale = false;
    const p = payload(0, messages(0, 3_000), { isStale: () => stale });
    const run = h.consumer.eachBatch(p.payload);
    for (let i = 0; i < 20 && !h.source.paused; i++) await new Promise<void>((r) => setImmediate(r));
    assert.equal(h.source.paused, true, 'paused at the bound');
    // Past the chunk's heartbeat and yield: the batch now waits for capacity.
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
    stale = true;
    h.source.release(1_000, h.chunks[0]!.bytes); // the pipeline drains: resumes, wakes the batch
    await run;
    assert.deepEqual(h.consumer.pauses, ['pause', 'resume']);
    assert.deepEqual(handedOn(h), range(0, 1_000));
    assert.deepEqual(p.resolved, ['999']);
  });

  it('stopping while a batch waits for capacity (paused) ends it at once: nothing more handed on', async () => {
    const h = await harness({ maxInFlight: 1_000 });
    joined(h, [0]);
    const p = payload(0, messages(0, 3_000));
    const run = h.consumer.eachBatch(p.payload);
    for (let i = 0; i < 20 && !h.source.paused; i++) await new Promise<void>((r) => setImmediate(r));
    assert.equal(h.source.paused, true, 'paused at the bound');
    assert.deepEqual(h.consumer.pauses, ['pause']);
    h.source.stopFetching();
    await run;
    assert.deepEqual(handedOn(h), range(0, 1_000));
    assert.equal(p.resolved.at(-1), '999');
    assert.equal(h.completed.value, true);
  });
});

describe('source: the gap check never throws into kafkajs', { timeout: 20_000 }, () => {
  it('an onLost that throws is logged; a malformed START_BATCH_PROCESS payload is ignored', async () => {
    const lost: OffsetGap[] = [];
    const h = await harness({
      positions: new Map([[0, 10]]),
      onLost: (gap) => {
        lost.push(gap);
        throw new Error('ledger refused the gap');
      },
    });
    joined(h, [0]);
    assert.doesNotThrow(() => h.consumer.emit(EVENTS.START_BATCH_PROCESS, { topic: TOPIC, partition: 0, highWatermark: '100', offsetLag: '0', offsetLagLow: '0', batchSize: 5, firstOffset: '40', lastOffset: '44' }));
    assert.deepEqual(lost, [{ topic: TOPIC, partition: 0, expected: 10, actual: 40, lost: 30 }]);
    assert.ok(h.logs.some((l) => l.startsWith('30 records of events partition 0 were gone when fetched')), h.logs.join('\n'));
    assert.ok(h.logs.includes('offset gap check failed: ledger refused the gap'), h.logs.join('\n'));
    assert.doesNotThrow(() => h.consumer.emit(EVENTS.START_BATCH_PROCESS, { topic: TOPIC, partition: 'zero', firstOffset: 40 }));
    assert.equal(lost.length, 1);
  });
});
