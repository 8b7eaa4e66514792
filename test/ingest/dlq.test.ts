/**
 * The dead-letter sink without a broker (a fake producer that refuses like Kafka does):
 * which send errors are refusals of the record and which are retried, a refused record
 * is stored truncated (or dropped) without holding back its batch, an outage loses
 * nothing and shows as pending age, and an over-long key is cut.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import kafkajs, { type Message, type ProducerRecord, type RecordMetadata } from 'kafkajs';
import { Registry } from 'prom-client';
import { createServiceMetrics } from '../../src/metrics/index.js';
import { DLQ_EXCERPT_BYTES, DLQ_HEADERS, DLQ_MAX_KEY_BYTES, DLQ_REFUSAL_LABELS, DeadLetterSink, refusalOf, type DeadLetter } from '../../src/ingest/dlq.js';

// kafkajs is CommonJS and spreads its error classes into its exports: ESM sees them on the default export only.
const { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } = kafkajs;

/** A kafkajs protocol error as kafkajs builds it from a broker error code (src/protocol/error.js). */
function protocolError(type: string, code: number, retriable: boolean): Error {
  return new KafkaJSProtocolError(Object.assign(new Error(`broker says ${type}`), { type, code, retriable }));
}

const tooLarge = (): Error => protocolError('MESSAGE_TOO_LARGE', 10, false);

function letter(offset: number, value: Buffer | null, key: Buffer | null = Buffer.from(`k${offset}`)): DeadLetter {
  return { value, key, topic: 'events', partition: 2, offset: String(offset), timestamp: '1767225600000', reason: 'bad_framing', code: 'REB_DECODE_BAD_FRAMING', message: `payload ${offset} has no marker` };
}

function headerText(m: Message, name: string): string | undefined {
  const v = m.headers?.[name];
  return v === undefined ? undefined : String(v);
}

/**
 * Refuses a send (MESSAGE_TOO_LARGE) when its records together exceed `maxBytes`, the way
 * a broker refuses a record batch over max.message.bytes; fails the first `outages` sends
 * the way kafkajs reports a broker it could not reach.
 */
class FakeProducer {
  readonly delivered: Message[] = [];
  sends = 0;
  constructor(private readonly maxBytes: number, private outages = 0) {}

  send = async (record: ProducerRecord): Promise<RecordMetadata[]> => {
    this.sends++;
    if (this.outages > 0) {
      this.outages--;
      throw new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), { retryCount: 5, retryTime: 100 });
    }
    const bytes = record.messages.reduce((n, m) => n + size(m), 0);
    if (bytes > this.maxBytes) throw tooLarge();
    this.delivered.push(...record.messages);
    return [];
  };
}

function size(m: Message): number {
  const value = m.value === null || m.value === undefined ? 0 : Buffer.byteLength(m.value);
  return value + Object.entries(m.headers ?? {}).reduce((n, [k, v]) => n + k.length + String(v).length, 0);
}

function sinkWith(producer: FakeProducer, extra: { now?: () => number } = {}): { sink: DeadLetterSink; registry: Registry; logs: string[] } {
  const registry = new Registry();
  const metrics = createServiceMetrics({ registry, collectDefault: false, dlqRefusals: DLQ_REFUSAL_LABELS });
  const logs: string[] = [];
  const sink = new DeadLetterSink({ producer, topic: 'events.dlq', lingerMs: 1, metrics, retryDelayMs: () => 1, log: (m) => logs.push(m), ...extra });
  return { sink, registry, logs };
}

describe('dead-letter send errors: refusalOf', () => {
  it('names a refusal of the record, bare or wrapped by kafkajs', () => {
    assert.equal(refusalOf(tooLarge()), 'MESSAGE_TOO_LARGE');
    assert.equal(refusalOf(protocolError('RECORD_LIST_TOO_LARGE', 18, false)), 'RECORD_LIST_TOO_LARGE');
    assert.equal(refusalOf(protocolError('INVALID_RECORD', 87, false)), 'INVALID_RECORD');
    assert.equal(refusalOf(protocolError('INVALID_TIMESTAMP', 32, false)), 'INVALID_TIMESTAMP');
    // kafkajs retries CORRUPT_MESSAGE itself, then wraps it.
    assert.equal(refusalOf(new KafkaJSNumberOfRetriesExceeded(protocolError('CORRUPT_MESSAGE', 2, true), { retryCount: 5, retryTime: 1 })), 'CORRUPT_MESSAGE');
    // kafkajs's retrier wraps a non-retriable error it did not bail on, with the original as cause.
    assert.equal(refusalOf(Object.assign(new KafkaJSNonRetriableError('Request failed'), { cause: tooLarge() })), 'MESSAGE_TOO_LARGE');
  });

  it('treats the path failing (broker down, no leader, authorization, unknown topic) and anything else as retriable', () => {
    assert.equal(refusalOf(new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('ECONNREFUSED'), { retryCount: 5, retryTime: 1 })), undefined);
    assert.equal(refusalOf(protocolError('NOT_LEADER_FOR_PARTITION', 6, true)), undefined);
    assert.equal(refusalOf(protocolError('TOPIC_AUTHORIZATION_FAILED', 29, false)), undefined);
    assert.equal(refusalOf(protocolError('UNKNOWN_TOPIC_OR_PARTITION', 3, true)), undefined);
    assert.equal(refusalOf(new Error('MESSAGE_TOO_LARGE')), undefined, 'never matched on message text');
    assert.equal(refusalOf('MESSAGE_TOO_LARGE'), undefined);
    assert.equal(refusalOf(null), undefined);
  });
});

describe('DeadLetterSink with a refusing producer', () => {
  it('stores the one refused record truncated with its headers, and the others whole, in order', async () => {
    const producer = new FakeProducer(10_000);
    const { sink, registry, logs } = sinkWith(producer);
    const big = Buffer.alloc(50_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    for (let i = 0; i < 16; i++) sink.add(letter(i, i === 5 ? big : Buffer.from(`small-${i}`)));
    await sink.flush();

    assert.equal(sink.pending, 0);
    assert.equal(sink.sent, 16);
    assert.equal(sink.truncated, 1);
    assert.equal(sink.dropped, 0);
    assert.deepEqual(producer.delivered.map((m) => headerText(m, DLQ_HEADERS.offset)), Array.from({ length: 16 }, (_, i) => String(i)));
    const cut = producer.delivered[5]!;
    assert.deepEqual(cut.value, big.subarray(0, DLQ_EXCERPT_BYTES));
    assert.equal(headerText(cut, DLQ_HEADERS.truncated), 'true');
    assert.equal(headerText(cut, DLQ_HEADERS.originalBytes), '50000');
    assert.equal(headerText(cut, DLQ_HEADERS.sha256), createHash('sha256').update(big).digest('hex'));
    assert.equal(headerText(cut, DLQ_HEADERS.refusal), 'MESSAGE_TOO_LARGE');
    assert.equal(headerText(cut, DLQ_HEADERS.reason), 'bad_framing');
    assert.equal(headerText(cut, DLQ_HEADERS.partition), '2');
    for (const [i, m] of producer.delivered.entries()) {
      if (i === 5) continue;
      assert.equal(String(m.value), `small-${i}`);
      assert.equal(headerText(m, DLQ_HEADERS.truncated), undefined);
    }
    // Halving: one refused record among 16 costs O(log n) sends, not one per record.
    assert.ok(producer.sends <= 2 * Math.ceil(Math.log2(16)) + 3, `${producer.sends} sends`);
    assert.match(logs.join('\n'), /dead letter events\/2@5 \(reason bad_framing, 50000 bytes\) refused whole by events\.dlq \(MESSAGE_TOO_LARGE\): stored truncated to 1024 bytes/);
    const text = await registry.metrics();
    assert.match(text, /rebalancer_dlq_truncated_total\{refusal="message_too_large"\} 1\n/);
    assert.match(text, /rebalancer_dlq_dropped_total\{refusal="message_too_large"\} 0\n/);
  });

  it('drops a record refused truncated too, with a log line and a count, and settles the rest', async () => {
    const producer = new FakeProducer(600); // below the truncated copy (1 KiB + headers), above a small one
    const { sink, registry, logs } = sinkWith(producer);
    sink.add(letter(0, Buffer.from('first')));
    sink.add(letter(1, Buffer.alloc(5_000, 7)));
    sink.add(letter(2, Buffer.from('last')));
    await sink.flush();

    assert.deepEqual(producer.delivered.map((m) => String(m.value)), ['first', 'last']);
    assert.equal(sink.sent, 2);
    assert.equal(sink.dropped, 1);
    assert.equal(sink.pending, 0);
    assert.equal(sink.oldestPendingAgeMs(Number.MAX_SAFE_INTEGER), 0);
    const sha = createHash('sha256').update(Buffer.alloc(5_000, 7)).digest('hex');
    assert.ok(logs.some((l) => l.includes(`dead letter events/2@1 (reason bad_framing, 5000 bytes, sha256 ${sha}) DROPPED: events.dlq refused it whole (MESSAGE_TOO_LARGE) and truncated (MESSAGE_TOO_LARGE)`)), logs.join('\n'));
    const text = await registry.metrics();
    assert.match(text, /rebalancer_dlq_dropped_total\{refusal="message_too_large"\} 1\n/);
    assert.match(text, /rebalancer_dlq_truncated_total\{refusal="message_too_large"\} 0\n/);
  });

  it('retries through an outage, losing nothing, and reports the oldest pending age meanwhile', async () => {
    const producer = new FakeProducer(10_000, 3);
    let clock = 1_000;
    const { sink } = sinkWith(producer, { now: () => clock });
    assert.equal(sink.oldestPendingAgeMs(clock), 0);
    sink.add(letter(0, Buffer.from('a')));
    clock = 1_500;
    sink.add(letter(1, Buffer.from('b')));
    assert.equal(sink.pending, 2);
    assert.equal(sink.oldestPendingAgeMs(4_000), 3_000, 'age of the first one, added at 1000');
    await sink.flush();
    assert.equal(producer.sends, 4);
    assert.equal(sink.sendFailures, 3);
    assert.deepEqual(producer.delivered.map((m) => String(m.value)), ['a', 'b']);
    assert.equal(sink.truncated + sink.dropped, 0);
    assert.equal(sink.pending, 0);
    assert.equal(sink.oldestPendingAgeMs(10_000), 0);
  });

  it('cuts a source key over DLQ_MAX_KEY_BYTES and records its length', async () => {
    const producer = new FakeProducer(1_000_000);
    const { sink } = sinkWith(producer);
    const key = Buffer.alloc(900_000, 0x61);
    sink.add(letter(0, Buffer.from('v'), key));
    sink.add(letter(1, Buffer.from('v'), Buffer.alloc(DLQ_MAX_KEY_BYTES, 0x62)));
    await sink.flush();
    const [cut, kept] = producer.delivered;
    assert.equal((cut!.key as Buffer).length, DLQ_MAX_KEY_BYTES);
    assert.equal(headerText(cut!, DLQ_HEADERS.keyBytes), '900000');
    assert.equal((kept!.key as Buffer).length, DLQ_MAX_KEY_BYTES);
    assert.equal(headerText(kept!, DLQ_HEADERS.keyBytes), undefined);
  });
});
