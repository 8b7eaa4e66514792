/**
 * A dead letter the DLQ topic refuses, on the real broker. Before, the sink retried it
 * forever: flush() never resolved, so checkpoints and commits stopped for good. Now a
 * topic with max.message.bytes 10000 gets the normal dead letters whole and the 50 KB
 * one as a truncated copy with its original size and hash in headers; a topic that
 * refuses even the copy (1000 bytes) gets the normal ones and the big one is dropped,
 * logged and counted. flush() resolves within seconds either way.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { Registry } from 'prom-client';
import { createServiceMetrics } from '../../src/metrics/index.js';
import { DLQ_EXCERPT_BYTES, DLQ_HEADERS, DLQ_REFUSAL_LABELS, DeadLetterSink, type DeadLetter } from '../../src/ingest/dlq.js';
import { testBrokers, testKafka, uniqueTopic } from '../helpers/kafka.js';
import { readTopic } from './helpers.js';

const FLUSH_BOUND_MS = 15_000;

async function createTopicWithMaxBytes(brokers: string[], topic: string, maxMessageBytes: number): Promise<void> {
  const admin = testKafka(brokers, 'test-admin').admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: String(maxMessageBytes) }] }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

function letter(offset: number, value: Buffer): DeadLetter {
  return { value, key: Buffer.from('user-1'), topic: 'interactions', partition: 0, offset: String(offset), timestamp: '1767225600000', reason: 'undecodable', code: 'REB_DECODE_INVALID', message: `record ${offset} does not decode` };
}

/** Resolves with flush()'s duration, or rejects when it has not resolved within the bound. */
async function timedFlush(sink: DeadLetterSink): Promise<number> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      sink.flush(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`flush() did not resolve within ${FLUSH_BOUND_MS} ms (pending ${sink.pending})`)), FLUSH_BOUND_MS); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
  return performance.now() - started;
}

describe('dead-letter topic refusing a record (real broker)', () => {
  let brokers: string[];
  let producer: Producer;
  const big = Buffer.alloc(50_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 131 + 7) & 0xff;
  const bigSha = createHash('sha256').update(big).digest('hex');
  const small = [Buffer.from('small dead letter before'), Buffer.from('small dead letter after')];

  before(async () => {
    brokers = await testBrokers();
    // Quiet: kafkajs logs every refusal at ERROR, which is the point of this test.
    producer = new Kafka({ clientId: 'dlq-refusal', brokers, logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
  });
  after(async () => {
    await producer?.disconnect();
  });

  function sinkOn(topic: string): { sink: DeadLetterSink; registry: Registry; logs: string[] } {
    const registry = new Registry();
    const metrics = createServiceMetrics({ registry, collectDefault: false, dlqRefusals: DLQ_REFUSAL_LABELS });
    const logs: string[] = [];
    return { sink: new DeadLetterSink({ producer, topic, metrics, log: (m) => logs.push(m) }), registry, logs };
  }

  /** A fresh topic refusing records over `maxMessageBytes`, and a sink that added the small, big, small dead letters (offsets 1, 2, 3) and flushed them onto it. */
  async function flushedOnto(name: string, maxMessageBytes: number): Promise<{ topic: string; sink: DeadLetterSink; registry: Registry; logs: string[]; ms: number }> {
    const topic = uniqueTopic(name);
    await createTopicWithMaxBytes(brokers, topic, maxMessageBytes);
    const { sink, registry, logs } = sinkOn(topic);
    sink.add(letter(1, small[0]!));
    sink.add(letter(2, big));
    sink.add(letter(3, small[1]!));
    const ms = await timedFlush(sink);
    return { topic, sink, registry, logs, ms };
  }

  it('stores a record over max.message.bytes truncated with its size and hash, and the others whole; flush resolves', async () => {
    const { topic, sink, registry, logs, ms } = await flushedOnto('dlq-10k', 10_000);
    assert.equal(sink.pending, 0);
    assert.equal(sink.oldestPendingAgeMs(Date.now()), 0);

    const records = await readTopic(brokers, topic, 3);
    assert.equal(records.length, 3, 'each dead letter stored once');
    const byOffset = new Map(records.map((r) => [r.headers[DLQ_HEADERS.offset], r]));
    assert.deepEqual(byOffset.get('1')!.value, small[0]);
    assert.deepEqual(byOffset.get('3')!.value, small[1]);
    assert.equal(byOffset.get('1')!.headers[DLQ_HEADERS.truncated], undefined);
    assert.equal(byOffset.get('1')!.headers[DLQ_HEADERS.reason], 'undecodable');
    const cut = byOffset.get('2')!;
    assert.deepEqual(cut.value, big.subarray(0, DLQ_EXCERPT_BYTES));
    assert.equal(cut.headers[DLQ_HEADERS.truncated], 'true');
    assert.equal(cut.headers[DLQ_HEADERS.originalBytes], '50000');
    assert.equal(cut.headers[DLQ_HEADERS.sha256], bigSha);
    assert.equal(cut.headers[DLQ_HEADERS.refusal], 'MESSAGE_TOO_LARGE');
    assert.equal(cut.headers[DLQ_HEADERS.reason], 'undecodable');
    assert.equal(cut.headers[DLQ_HEADERS.topic], 'interactions');

    assert.equal(sink.truncated, 1);
    assert.equal(sink.dropped, 0);
    const text = await registry.metrics();
    assert.match(text, /rebalancer_dlq_truncated_total\{refusal="message_too_large"\} 1\n/);
    assert.match(text, /rebalancer_dlq_dropped_total\{refusal="message_too_large"\} 0\n/);
    assert.ok(logs.some((l) => /refused whole by .* \(MESSAGE_TOO_LARGE\): stored truncated to 1024 bytes/.test(l)), logs.join('\n'));
    console.log(`# flush with one refused record: ${ms.toFixed(0)} ms`);
  });

  it('drops (logs and counts) a record refused even truncated, and still stores the others; flush resolves', async () => {
    const { topic, sink, registry, logs, ms } = await flushedOnto('dlq-1k', 1_000);
    assert.equal(sink.pending, 0);

    const records = await readTopic(brokers, topic, 2);
    assert.deepEqual(records.map((r) => [r.headers[DLQ_HEADERS.offset], r.value?.toString()]), [['1', small[0]!.toString()], ['3', small[1]!.toString()]]);
    assert.equal(sink.dropped, 1);
    assert.equal(sink.sent, 2);
    const text = await registry.metrics();
    assert.match(text, /rebalancer_dlq_dropped_total\{refusal="message_too_large"\} 1\n/);
    assert.ok(logs.some((l) => l.includes(`dead letter interactions/0@2 (reason undecodable, 50000 bytes, sha256 ${bigSha}) DROPPED`)), logs.join('\n'));
    console.log(`# flush with one dropped record: ${ms.toFixed(0)} ms`);
  });
});
