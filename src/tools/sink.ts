/**
 * Where `generate` and `import` put events: an event file or a Kafka topic. Both take
 * already-encoded values so the caller encodes once; the topic sink keys messages by
 * userId and stamps them with the event time, as the service expects.
 */
import { CompressionTypes, type Kafka, type Message, type Producer } from 'kafkajs';
import { createKafkaClient } from '../kafka/client.js';
import { createEventCodec } from '../codec/index.js';
import { RebalancerError } from '../errors.js';
import { EventFileWriter } from './event-file.js';

export interface EventSink {
  /** Queues one event; resolves when the sink has room for more. */
  add(key: string, value: Buffer, timestamp: number): Promise<void>;
  /** Writes everything queued and releases the sink. */
  close(): Promise<void>;
  readonly describe: string;
}

export function fileSink(path: string, source: string): EventSink {
  const writer = new EventFileWriter(path, { codec: 'avro-single-object', fingerprint: createEventCodec().currentFingerprint, source });
  return {
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

export function kafkaClient(brokers: string[], clientId: string): Kafka {
  return createKafkaClient({ clientId, brokers, logLevel: 'error', retry: { retries: 5 } });
}

/** Creates the topic when it does not exist (with `partitions` partitions). */
export async function ensureTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const existing = await admin.listTopics();
    if (!existing.includes(topic)) {
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
    }
  } catch (err) {
    if (err instanceof RebalancerError) throw err;
    throw new RebalancerError('REB_KAFKA_UNAVAILABLE', `cannot reach Kafka to prepare topic ${topic}: ${(err as Error).message}`, { topic }, { cause: err });
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

export async function connectProducer(kafka: Kafka): Promise<Producer> {
  // One in-flight request keeps per-partition order even when a send is retried.
  const producer = kafka.producer({ maxInFlightRequests: 1, idempotent: false });
  try {
    await producer.connect();
  } catch (err) {
    throw new RebalancerError('REB_KAFKA_UNAVAILABLE', `cannot connect a Kafka producer: ${(err as Error).message}`, {}, { cause: err });
  }
  return producer;
}

export async function topicSink(brokers: string[], topic: string, partitions: number, batchSize = 1_000): Promise<EventSink> {
  const kafka = kafkaClient(brokers, 'rebalancer-tools');
  await ensureTopic(kafka, topic, partitions);
  const producer = await connectProducer(kafka);
  let batch: Message[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const messages = batch;
    batch = [];
    await producer.send({ topic, messages, compression: CompressionTypes.None });
  };
  return {
    describe: `topic ${topic}`,
    async add(key, value, timestamp) {
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
