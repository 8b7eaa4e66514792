/**
 * Where `generate` and `import` put events: an event file or a Kafka topic. Each sink
 * says how its events are encoded (`encode`: single-object for a file; for a topic, the
 * wire format asked for, see wire-format.ts) and takes already-encoded values, so the
 * caller encodes once; the topic sink keys messages by userId and stamps them with the
 * event time, as the service expects.
 *
 * Topics the tools create keep their messages until deleted (retention.ms=-1): message
 * timestamps are event times, often months or years old, and a broker deleting by time
 * (log.retention.hours, 7 days by default, 24 h on the local broker) would remove such
 * history at its next retention check, minutes after it was written.
 */
import kafkajs, { CompressionTypes, type Admin, type Kafka, type Message, type Producer } from 'kafkajs';
import { createKafkaClient } from './kafka/client.js';
import { kafkaFailure, type KafkaTarget } from './kafka/connect.js';
import { ensureTopics } from './kafka/topics.js';
import type { KafkaSecurityFields } from './kafka/security.js';
import { createEventCodec } from '../codec/index.js';
import { RebalancerError } from '../errors.js';
import { EventFileWriter } from './event-file.js';
import { DEFAULT_WIRE_FORMAT, TopicEncoders, type EventEncode, type WireFormatChoice } from './wire-format.js';

export interface EventSink {
  /** Encodes an event the way this sink stores it. */
  readonly encode: EventEncode;
  /** Queues one event; resolves when the sink has room for more. */
  add(key: string, value: Buffer, timestamp: number): Promise<void>;
  /** Writes everything queued and releases the sink. */
  close(): Promise<void>;
  readonly describe: string;
}

export function fileSink(path: string, source: string): EventSink {
  const codec = createEventCodec();
  const writer = new EventFileWriter(path, { codec: 'avro-single-object', fingerprint: codec.currentFingerprint, source });
  return {
    encode: (e) => codec.encode(e),
    describe: `file ${path}`,
    add(_key, value) {
      writer.write(value);
      return Promise.resolve();
    },
    close() {
      writer.close();
      return Promise.resolve();
    },
  };
}

/** The tools' kafkajs client; `security` from the verb's Kafka security flags (src/cli/kafka-flags.ts). */
export function kafkaClient(brokers: string[], clientId: string, security: KafkaSecurityFields = {}): Kafka {
  return createKafkaClient({ clientId, brokers, logLevel: 'error', retry: { retries: 5 }, ...security });
}

/** The topic configuration the tools create topics with: no deletion by time. */
export const KEEP_HISTORY_CONFIG: Readonly<Record<string, string>> = { 'retention.ms': '-1' };

export interface TopicInfo {
  /** True when this call created the topic (with KEEP_HISTORY_CONFIG). */
  created: boolean;
  /** How long the topic keeps messages by time (ms); undefined when it never deletes by time. */
  retentionMs: number | undefined;
  /** One line saying what was done, for the tool's log (undefined when the topic existed). */
  note: string | undefined;
}

/**
 * Creates the topic when it does not exist (with `partitions` partitions and retention.ms=-1,
 * through src/adapters/kafka/topics.ts); for an existing topic, reads its time retention
 * (describeConfigs).
 */
export async function ensureTopic(kafka: Kafka, topic: string, partitions: number, target?: KafkaTarget): Promise<TopicInfo> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    // Not created: it existed, or another client created it in the meantime (its settings are then whatever it chose).
    const created = await ensureTopics(admin, [{ topic, partitions, configs: KEEP_HISTORY_CONFIG }], target === undefined ? {} : { target });
    if (created.length > 0) {
      return { created: true, retentionMs: undefined, note: `created topic ${topic} (${partitions} partitions) with retention.ms=-1: messages are kept until deleted, since their timestamps are event times that may be long past any time retention` };
    }
    return { created: false, retentionMs: await timeRetention(admin, topic), note: undefined };
  } catch (err) {
    if (err instanceof RebalancerError) throw err;
    if (target !== undefined) throw kafkaFailure(err, `preparing topic ${topic}`, target);
    throw new RebalancerError('REB_KAFKA_UNAVAILABLE', `cannot reach Kafka to prepare topic ${topic}: ${(err as Error).message}`, { topic }, { cause: err });
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** The topic's time retention in ms, or undefined when it does not delete by time (retention.ms=-1 or a compact-only cleanup.policy). */
export async function timeRetention(admin: Admin, topic: string): Promise<number | undefined> {
  const { resources } = await admin.describeConfigs({
    resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms', 'cleanup.policy'] }],
    includeSynonyms: false,
  });
  const entries = resources.find((r) => r.resourceName === topic)?.configEntries ?? [];
  const value = (name: string): string | undefined => entries.find((e) => e.configName === name)?.configValue;
  const policy = value('cleanup.policy');
  if (policy !== undefined && !policy.split(',').map((p) => p.trim()).includes('delete')) return undefined;
  const ms = Number(value('retention.ms'));
  return Number.isSafeInteger(ms) && ms >= 0 ? ms : undefined;
}

/**
 * The warning when events as old as `eventTime` go to a topic that deletes by time after
 * `retentionMs`: the broker would delete them at its next retention check.
 */
export function retentionWarning(topic: string, retentionMs: number | undefined, eventTime: number, now: number): string | undefined {
  if (retentionMs === undefined || now - eventTime <= retentionMs) return undefined;
  return `warning: topic ${topic} deletes messages by time (retention.ms=${retentionMs}, ${duration(retentionMs)}) and these events are from ${new Date(eventTime).toISOString()} (${duration(now - eventTime)} old): the broker will delete them at its next retention check; write to a new topic (the tools create it with retention.ms=-1), raise the topic's retention.ms, or use replay --timestamps now`;
}

function duration(ms: number): string {
  const h = ms / 3_600_000;
  if (h >= 48) return `${(h / 24).toFixed(1)} days`;
  if (h >= 1) return `${h.toFixed(1)} h`;
  return `${(ms / 1000).toFixed(1)} s`;
}

export async function connectProducer(kafka: Kafka, target?: KafkaTarget): Promise<Producer> {
  // One in-flight request keeps per-partition order even when a send is retried.
  const producer = kafka.producer({ maxInFlightRequests: 1, idempotent: false });
  try {
    await producer.connect();
  } catch (err) {
    if (target !== undefined) throw kafkaFailure(err, 'connecting a Kafka producer', target);
    throw new RebalancerError('REB_KAFKA_UNAVAILABLE', `cannot connect a Kafka producer: ${(err as Error).message}`, {}, { cause: err });
  }
  return producer;
}

export interface TopicSinkOptions {
  batchSize?: number;
  /** Lines for the tool's log: the topic's creation, a retention warning, the wire format. */
  log?: (line: string) => void;
  /** The wire format to write (default: single-object, no registry). */
  wireFormat?: WireFormatChoice;
  /** SASL and TLS for the client (default: plaintext, no SASL). */
  security?: KafkaSecurityFields;
}

export async function topicSink(brokers: string[], topic: string, partitions: number, options: TopicSinkOptions = {}): Promise<EventSink> {
  const batchSize = options.batchSize ?? 1_000;
  const log = options.log ?? (() => {});
  // Confluent: the schemas are registered under <topic>-value first (a registry that is down
  // or refuses them stops the tool before anything is written).
  const format = options.wireFormat?.format ?? DEFAULT_WIRE_FORMAT;
  const encoders = new TopicEncoders(topic, options.wireFormat?.registry);
  const encode = await encoders.encoder(format);
  const target: KafkaTarget = { brokers, security: options.security ?? {} };
  const kafka = kafkaClient(brokers, 'rebalancer-tools', target.security);
  const info = await ensureTopic(kafka, topic, partitions, target);
  if (info.note !== undefined) log(info.note);
  if (format !== DEFAULT_WIRE_FORMAT) log(`writing ${encoders.describe(format)}`);
  let warned = info.retentionMs === undefined;
  const producer = await connectProducer(kafka, target);
  let batch: Message[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const messages = batch;
    batch = [];
    await producer.send({ topic, messages, compression: CompressionTypes.None });
  };
  return {
    encode,
    describe: `topic ${topic}`,
    async add(key, value, timestamp) {
      if (!warned) {
        const warning = retentionWarning(topic, info.retentionMs, timestamp, Date.now());
        if (warning !== undefined) {
          warned = true;
          log(warning);
        }
      }
      batch.push({ key, value, timestamp: String(timestamp) });
      if (batch.length >= batchSize) await flush();
    },
    async close() {
      try {
        await flush();
      } finally {
        await producer.disconnect();
      }
    },
  };
}
