/**
 * The dead-letter sink when its producer fails, without a broker (a scripted fake producer):
 * every failure about the path (not the record) is retried with the documented back-off
 * until it succeeds, never dropped or truncated, and never thrown into the pipeline; while
 * it fails, flush() stays pending, so a checkpoint (which awaits it) writes and commits
 * nothing; dead letters added meanwhile queue behind in order; a failure in the middle of
 * halving a refused batch, or of sending a truncated copy, is retried, not taken for a
 * refusal. dlq.test.ts covers refusalOf, truncation, dropping and a plain outage's pending
 * age; dlq-refusal.test.ts the refusals on a real broker.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it, mock } from 'node:test';
import kafkajs, { type Message, type ProducerRecord, type RecordMetadata } from 'kafkajs';
import { Registry } from 'prom-client';
import { DLQ_HEADERS, DLQ_REFUSAL_LABELS, DeadLetterSink, type DeadLetter } from '../../src/ingest/dlq.js';
import { createServiceMetrics } from '../../src/metrics/index.js';
import { CheckpointStore } from '../../src/state/checkpoint-store.js';
import { Checkpointer, checkpointMetaSchema } from '../../src/state/checkpointer.js';
import { settle, until } from '../helpers/turns.js';

// kafkajs is CommonJS and spreads its error classes into its exports: ESM sees them on the default export only.
const { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSRequestTimeoutError } = kafkajs;

function protocolError(type: string, code: number, retriable: boolean): Error {
  return new KafkaJSProtocolError(Object.assign(new Error(`broker says ${type}`), { type, code, retriable }));
}

const connectionRefused = (): Error => new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), { retryCount: 5, retryTime: 100 });

const producers: ScriptedProducer[] = [];
afterEach(() => {
  for (const p of producers.splice(0)) p.heal();
});

/** What one send does: undefined accepts, anything else is thrown (an Error, or any value). */
type Outcome = { throw: unknown; sync?: boolean } | undefined;

/** Plays `script` one outcome per send, then accepts; records every attempt and what was accepted. */
class ScriptedProducer {
  readonly attempts: ProducerRecord[] = [];
  readonly delivered: Message[] = [];
  /** When set, every send fails this way (an outage of unknown length). */
  down: (() => unknown) | undefined;
  constructor(private readonly script: Outcome[] = []) {
    producers.push(this);
  }

  /** Ends any outage, so a sink a failed test left retrying lets the process exit. */
  heal(): void {
    this.down = undefined;
    this.script.length = 0;
  }

  send = (record: ProducerRecord): Promise<RecordMetadata[]> => {
    this.attempts.push(record);
    const outcome = this.down ? { throw: this.down() } : this.script.shift();
    if (outcome?.sync === true) throw outcome.throw;
    if (outcome !== undefined) return Promise.reject(outcome.throw);
    this.delivered.push(...record.messages);
    return Promise.resolve([]);
  };
}

function letter(offset: number, value = `payload-${offset}`): DeadLetter {
  return { value: Buffer.from(value), key: Buffer.from(`k${offset}`), topic: 'events', partition: 1, offset: String(offset), timestamp: '1767225600000', reason: 'bad_framing', code: 'REB_DECODE_BAD_FRAMING', message: `record ${offset} has no marker` };
}

function offsets(messages: readonly Message[]): string[] {
  return messages.map((m) => String(m.headers?.[DLQ_HEADERS.offset]));
}

function sinkWith(producer: ScriptedProducer, extra: { retryDelayMs?: (attempt: number) => number; now?: () => number; timeoutMs?: number } = {}): { sink: DeadLetterSink; registry: Registry; logs: string[] } {
  const registry = new Registry();
  const metrics = createServiceMetrics({ registry, collectDefault: false, dlqRefusals: DLQ_REFUSAL_LABELS });
  const logs: string[] = [];
  const sink = new DeadLetterSink({ producer, topic: 'events.dlq', lingerMs: 1, metrics, retryDelayMs: () => 1, log: (m) => logs.push(m), ...extra });
  return { sink, registry, logs };
}

/** Sum of every series of a counter in the exposition text. */
async function counterTotal(registry: Registry, name: string): Promise<number> {
  return (await registry.metrics()).split('\n').filter((l) => l.startsWith(`${name}{`)).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
before(() => process.on('unhandledRejection', onUnhandled));
after(() => {
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, [], 'a failing dead-letter producer never surfaces as an unhandled rejection');
});

describe('dead-letter producer failing: retried, never dropped', { timeout: 20_000 }, () => {
  it('retries every failure about the path until it succeeds, then stores each dead letter once, whole, in order', async () => {
    const failures: Array<{ error: unknown; sync?: boolean; logged: string }> = [
      { error: connectionRefused(), logged: 'Connection error: connect ECONNREFUSED 127.0.0.1:9092' },
      { error: protocolError('NOT_LEADER_FOR_PARTITION', 6, true), logged: 'broker says NOT_LEADER_FOR_PARTITION' },
      { error: protocolError('TOPIC_AUTHORIZATION_FAILED', 29, false), logged: 'broker says TOPIC_AUTHORIZATION_FAILED' },
      { error: protocolError('UNKNOWN_TOPIC_OR_PARTITION', 3, true), logged: 'broker says UNKNOWN_TOPIC_OR_PARTITION' },
      { error: new KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out'), logged: 'Request Produce(key: 0, version: 7) timed out' },
      { error: new Error('MESSAGE_TOO_LARGE in the text only'), logged: 'MESSAGE_TOO_LARGE in the text only' },
      { error: 'a string, not an Error', logged: 'a string, not an Error' },
      { error: new TypeError('producer is disconnected'), sync: true, logged: 'producer is disconnected' },
    ];
    const producer = new ScriptedProducer(failures.map((f) => ({ throw: f.error, ...(f.sync === true ? { sync: true } : {}) })));
    const delays: number[] = [];
    const { sink, registry, logs } = sinkWith(producer, { retryDelayMs: (attempt) => {
      delays.push(attempt);
      return 1;
    } });
    for (let i = 0; i < 3; i++) assert.doesNotThrow(() => sink.add(letter(i)));
    await sink.flush();

    assert.deepEqual(offsets(producer.delivered), ['0', '1', '2'], 'each once, in order');
    assert.deepEqual(producer.delivered.map((m) => String(m.value)), ['payload-0', 'payload-1', 'payload-2'], 'whole, not truncated');
    assert.equal(producer.attempts.length, failures.length + 1, 'one batch, retried: not split up');
    assert.deepEqual(delays, failures.map((_, i) => i), 'the back-off is asked with the attempt number');
    assert.deepEqual([sink.sent, sink.truncated, sink.dropped, sink.pending, sink.sendFailures], [3, 0, 0, 0, failures.length]);
    assert.equal(await counterTotal(registry, 'rebalancer_dlq_dropped_total'), 0);
    assert.equal(await counterTotal(registry, 'rebalancer_dlq_truncated_total'), 0);
    assert.deepEqual(logs, failures.map((f, i) => `dead-letter send of 3 records failed (attempt ${i + 1}, retrying in 1 ms): ${f.logged}`));
  });

  it('asks for every attempt, retries included, acks from all in-sync replicas (-1) and the configured timeout', async () => {
    const producer = new ScriptedProducer([{ throw: connectionRefused() }, { throw: connectionRefused() }]);
    const { sink } = sinkWith(producer, { timeoutMs: 4_321 });
    sink.add(letter(0));
    await sink.flush();
    assert.equal(producer.attempts.length, 3);
    for (const a of producer.attempts) {
      assert.equal(a.topic, 'events.dlq');
      assert.equal(a.acks, -1);
      assert.equal(a.timeout, 4_321);
    }
  });

  describe('the default back-off', () => {
    afterEach(() => mock.timers.reset());

    it('waits 100 ms, doubling each attempt, capped at 10 s', async () => {
      mock.timers.enable({ apis: ['setTimeout'] });
      const producer = new ScriptedProducer(Array.from({ length: 10 }, () => ({ throw: connectionRefused() })));
      const logs: string[] = [];
      const sink = new DeadLetterSink({ producer, topic: 'events.dlq', log: (m) => logs.push(m) });
      sink.add(letter(0));
      const flushed = sink.flush();
      await settle();
      assert.equal(producer.attempts.length, 1);
      const expected = [100, 200, 400, 800, 1_600, 3_200, 6_400, 10_000, 10_000, 10_000];
      for (const [i, delay] of expected.entries()) {
        mock.timers.tick(delay - 1);
        await settle();
        assert.equal(producer.attempts.length, i + 1, `attempt ${i + 2} not before ${delay} ms`);
        mock.timers.tick(1);
        await settle();
        assert.equal(producer.attempts.length, i + 2, `attempt ${i + 2} after ${delay} ms`);
      }
      await flushed;
      assert.deepEqual(logs.map((l) => Number(/retrying in (\d+) ms/.exec(l)?.[1])), expected);
      assert.equal(sink.sent, 1);
    });
  });
});

describe('dead-letter producer failing: offsets wait', { timeout: 20_000 }, () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('keeps flush() pending while the producer fails, so a checkpoint writes and commits nothing; once it recovers, both happen', async () => {
    const producer = new ScriptedProducer();
    producer.down = connectionRefused;
    let clock = 10_000;
    const { sink } = sinkWith(producer, { now: () => clock });
    const dir = mkdtempSync(join(tmpdir(), 'rebalancer-dlq-failure-'));
    dirs.push(dir);
    const store = new CheckpointStore({ dir, keep: 3, meta: checkpointMetaSchema, now: () => clock, log: () => {} });
    const commits: Array<Record<string, number>> = [];
    const checkpointer = new Checkpointer({
      store,
      capture: () => ({ meta: { topic: 'events', positions: { '1': 3 }, modelVersion: null }, files: new Map([['state.bin', Buffer.from('s')]]) }),
      flushDeadLetters: () => sink.flush(),
      commit: async (positions) => {
        commits.push(Object.fromEntries([...positions].map(([p, o]) => [String(p), o])));
      },
      metrics: createServiceMetrics({ registry: new Registry(), collectDefault: false }),
      now: () => clock,
      log: () => {},
    });
    // The pipeline dead-letters offsets 0..2 of partition 1, then a checkpoint covers them.
    for (let i = 0; i < 3; i++) sink.add(letter(i));
    let done = false;
    const checkpoint = checkpointer.checkpoint().then(() => (done = true));
    await until('several failed attempts', () => sink.sendFailures >= 5);
    clock += 45_000;
    assert.equal(done, false, 'the checkpoint waits for the dead letters');
    assert.deepEqual(commits, [], 'no offset committed past unacknowledged dead letters');
    assert.equal(await store.loadLatest(), undefined, 'no checkpoint written');
    assert.equal(sink.pending, 3);
    assert.equal(sink.oldestPendingAgeMs(clock), 45_000, 'the stall shows (readiness reads it)');
    assert.equal(producer.delivered.length, 0);

    producer.down = undefined;
    await checkpoint;
    assert.deepEqual(commits, [{ '1': 3 }]);
    assert.deepEqual((await store.loadLatest())?.manifest.meta.positions, { '1': 3 });
    assert.deepEqual(offsets(producer.delivered), ['0', '1', '2']);
    assert.deepEqual([sink.pending, sink.dropped, sink.truncated], [0, 0, 0]);
  });

  it('dead letters added during the outage queue behind the stuck ones, in order; a later flush waits for them too', async () => {
    const producer = new ScriptedProducer();
    producer.down = connectionRefused;
    const { sink } = sinkWith(producer);
    sink.add(letter(0));
    let firstDone = false;
    const first = sink.flush().then(() => (firstDone = true));
    await until('a failed attempt', () => sink.sendFailures >= 2);
    sink.add(letter(1));
    sink.add(letter(2));
    let secondDone = false;
    const second = sink.flush().then(() => (secondDone = true));
    await until('more failed attempts', () => sink.sendFailures >= 6);
    assert.deepEqual([firstDone, secondDone, sink.pending], [false, false, 3]);
    assert.ok(producer.attempts.every((a) => offsets(a.messages).join() === '0'), 'the later ones never jump the queue');
    producer.down = undefined;
    await Promise.all([first, second]);
    assert.deepEqual(offsets(producer.delivered), ['0', '1', '2']);
    assert.equal(sink.pending, 0);
  });
});

describe('dead-letter producer failing while a refusal is handled', { timeout: 20_000 }, () => {
  it('an outage while halving a refused batch is retried: every record is stored once, whole, in order', async () => {
    const tooLarge = (): Error => protocolError('MESSAGE_TOO_LARGE', 10, false);
    // The batch of 4 is refused; its first half meets an outage twice, then both halves go through.
    const producer = new ScriptedProducer([{ throw: tooLarge() }, { throw: connectionRefused() }, { throw: protocolError('LEADER_NOT_AVAILABLE', 5, true) }]);
    const { sink, registry } = sinkWith(producer);
    for (let i = 0; i < 4; i++) sink.add(letter(i));
    await sink.flush();
    assert.deepEqual(producer.attempts.map((a) => offsets(a.messages).join()), ['0,1,2,3', '0,1', '0,1', '0,1', '2,3']);
    assert.deepEqual(offsets(producer.delivered), ['0', '1', '2', '3']);
    assert.deepEqual([sink.sent, sink.truncated, sink.dropped, sink.sendFailures], [4, 0, 0, 3]);
    assert.equal(await counterTotal(registry, 'rebalancer_dlq_dropped_total'), 0);
  });

  it('an outage while sending the truncated copy is retried, not taken for a second refusal (which would drop it)', async () => {
    const tooLarge = (): Error => protocolError('MESSAGE_TOO_LARGE', 10, false);
    const producer = new ScriptedProducer([{ throw: tooLarge() }, { throw: connectionRefused() }, { throw: connectionRefused() }]);
    const { sink, registry, logs } = sinkWith(producer);
    sink.add(letter(7, 'x'.repeat(5_000)));
    await sink.flush();
    assert.equal(producer.attempts.length, 4);
    assert.equal(producer.delivered.length, 1);
    assert.equal(String(producer.delivered[0]!.headers?.[DLQ_HEADERS.truncated]), 'true');
    assert.deepEqual([sink.sent, sink.truncated, sink.dropped], [1, 1, 0]);
    assert.equal(await counterTotal(registry, 'rebalancer_dlq_dropped_total'), 0);
    assert.equal(await counterTotal(registry, 'rebalancer_dlq_truncated_total'), 1);
    assert.ok(!logs.some((l) => l.includes('DROPPED')), logs.join('\n'));
  });
});
