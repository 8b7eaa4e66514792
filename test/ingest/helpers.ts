import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompressionTypes, type IHeaders } from 'kafkajs';
import { createEventCodec, makeEvent } from '../../src/codec/index.js';
import { loadConfig, type ServiceConfig } from '../../src/config/index.js';
import { EMBEDDED_STREAM, createGenerator } from '../../src/offline/generate.js';
import { createTopic, testKafka, uniqueTopic } from '../helpers/kafka.js';

export interface StreamTopics {
  topic: string;
  dlqTopic: string;
  recommendationsTopic: string;
  groupId: string;
}

export async function freshTopics(brokers: string[], prefix: string, partitions = 3): Promise<StreamTopics> {
  const topic = uniqueTopic(`${prefix}-events`);
  await createTopic(brokers, topic, partitions);
  return { topic, dlqTopic: `${topic}.dlq`, recommendationsTopic: `${topic}.recs`, groupId: `${topic}-group` };
}

/** A small, fast service configuration for tests (free HTTP port, temp checkpoint dir). */
export function testConfig(brokers: string[], topics: StreamTopics, overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return loadConfig({
    overrides: {
      brokers,
      ...topics,
      httpPort: 0,
      checkpointDir: mkdtempSync(join(tmpdir(), 'rebalancer-ckpt-')),
      checkpointIntervalMs: 1_000,
      modelUserRows: 4_096,
      modelItemRows: 4_096,
      batchSize: 128,
      batchMaxWaitMs: 100,
      recMinIntervalMs: 0,
      ...overrides,
    },
  });
}

export interface ProducedStream {
  valid: number;
  byCategory: Map<string, number>;
  corrupt: Array<{ reason: string }>;
}

/**
 * Produces `count` valid synthetic events (keyed by user) and, when asked, the corrupt
 * payloads every DLQ test needs: random bytes, a truncated record, an unknown schema
 * fingerprint and a semantically invalid event, plus one exact duplicate.
 */
export async function produceSkewed(brokers: string[], topic: string, count: number, opts: { seed?: number; corrupt?: boolean; batch?: number } = {}): Promise<ProducedStream> {
  const codec = createEventCodec();
  const stream = createGenerator({ ...EMBEDDED_STREAM, seed: opts.seed ?? 7 });
  const producer = testKafka(brokers, 'test-producer').producer();
  await producer.connect();
  const byCategory = new Map<string, number>();
  const corrupt: Array<{ reason: string }> = [];
  try {
    const batch = opts.batch ?? 1_000;
    let first: { key: string; value: Buffer } | undefined;
    for (let sent = 0; sent < count; ) {
      const n = Math.min(batch, count - sent);
      const messages: Array<{ key: string; value: Buffer; headers?: IHeaders }> = [];
      for (let i = 0; i < n; i++) {
        const e = stream.next();
        byCategory.set(e.categoryId, (byCategory.get(e.categoryId) ?? 0) + 1);
        const value = codec.encode(e);
        first ??= { key: e.userId, value };
        messages.push({ key: e.userId, value });
      }
      await producer.send({ topic, messages, compression: CompressionTypes.None });
      sent += n;
    }
    if (opts.corrupt) {
      const valid = first!.value;
      const unknown = Buffer.from(valid);
      unknown.writeUInt32LE(0xdeadbeef, 2);
      const invalid = codec.encode(makeEvent({ eventId: 'evt-bad-time', userId: 'user-1', itemId: 'item-1', categoryId: 'cat-000', type: 'click', eventTime: -5 }));
      const letters = [
        { value: Buffer.from([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c]), reason: 'bad_framing' },
        { value: valid.subarray(0, valid.length - 6), reason: 'truncated' },
        { value: unknown, reason: 'unknown_schema' },
        { value: invalid, reason: 'bad_timestamp' },
      ];
      // The duplicate keyed like the original (by user), as a producer that writes an event twice
      // does: duplicates are suppressed per partition (ingest/partition-state.ts).
      await producer.send({ topic, messages: [...letters.map((l) => ({ key: 'corrupt', value: l.value })), first!] });
      corrupt.push(...letters.map((l) => ({ reason: l.reason })));
    }
  } finally {
    await producer.disconnect();
  }
  return { valid: count, byCategory, corrupt };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

export async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
}

/** Reads every message currently in a topic (from the beginning) with a throwaway group. */
export interface TopicRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

export async function readTopic(brokers: string[], topic: string, expectAtLeast: number, timeoutMs = 30_000): Promise<TopicRecord[]> {
  const consumer = testKafka(brokers, 'test-reader').consumer({ groupId: uniqueTopic('reader') });
  const out: TopicRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
        out.push({ key: message.key, value: message.value, headers });
      },
    });
    await waitFor(`${expectAtLeast} messages on ${topic}`, async () => (out.length >= expectAtLeast ? true : undefined), timeoutMs);
    // A moment more, so extra (unexpected) messages would show up too.
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await consumer.disconnect();
  }
  return out;
}
