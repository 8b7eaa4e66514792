/**
 * The Kafka transport of model sync (model-sync-loop.ts): updates go to the topic
 * `<events-topic>.rebalancer-model` as chunks of at most 64 KiB (model-sync-codec.ts; kafkajs
 * is superlinearly slow on large messages), keyed by the sender's instance id so one
 * sender's chunks stay in order on one partition. Every instance reads every update: each
 * reads in a consumer group of its own (`<group-id>.model-sync.<instance-id>`) from the
 * latest offset (updates are deltas to blend now, not history: an instance that was away
 * takes the rows as they are next sent), reassembles, skips its own by instance id, and
 * hands the others' on.
 *
 * The topic is created when missing: one partition (every instance reads all of it), deleted
 * by time after `retentionMs` (default 10 minutes).
 */
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import { RebalancerError, isRebalancerError } from '../errors.js';
import { ChunkAssembler, MAX_CHUNK_BYTES, chunkSender, decodeChanges, updateChunks, type ModelUpdate } from './model-sync-codec.js';
import type { SyncTransport } from './model-sync-loop.js';
import { ensureTopics } from '../adapters/kafka/topics.js';

/** The sync topic of an events topic. */
export function modelSyncTopicName(eventsTopic: string): string {
  return `${eventsTopic}.rebalancer-model`;
}

/** Bytes of chunks per produce request (a record batch must stay under the broker's 1 MB message.max.bytes). */
const SEND_BYTES = 768 * 1024;
const DEFAULT_RETENTION_MS = 10 * 60_000;

export interface ModelSyncTopicOptions {
  kafka: Kafka;
  eventsTopic: string;
  instanceId: string;
  /** The service's consumer group id (each instance reads in `<groupId>.model-sync.<instanceId>`). */
  groupId: string;
  /** The topic (default: modelSyncTopicName(eventsTopic)). */
  topic?: string;
  /** Largest chunk, header included (default 64 KiB). */
  maxChunkBytes?: number;
  /** retention.ms of the topic when this creates it (default 10 minutes). */
  retentionMs?: number;
  log: (message: string) => void;
}

export class ModelSyncTopic implements SyncTransport {
  readonly topic: string;
  /** Chunks that could not be read (malformed, or contradicting their update), and partial updates given up. */
  invalidChunks = 0;
  private producer: Producer | null = null;
  private consumer: Consumer | null = null;
  private readonly assembler = new ChunkAssembler();

  constructor(private readonly o: ModelSyncTopicOptions) {
    this.topic = o.topic ?? modelSyncTopicName(o.eventsTopic);
  }

  /** Updates abandoned half-received for a newer one of the same sender. */
  get abandonedUpdates(): number {
    return this.assembler.abandoned;
  }

  /** Creates the topic if needed, connects, and resolves once the consumer has joined its group. */
  async start(onUpdate: (update: ModelUpdate, bytes: number) => void): Promise<void> {
    const o = this.o;
    try {
      const admin = o.kafka.admin();
      await admin.connect();
      try {
        await this.ensureTopic(admin);
      } finally {
        await admin.disconnect();
      }
      this.producer = o.kafka.producer({ allowAutoTopicCreation: false });
      await this.producer.connect();
      // No kafkajs restart of a crashed consumer once stop() has begun (it would race the disconnect and keep retrying).
      const consumer = o.kafka.consumer({ groupId: `${o.groupId}.model-sync.${o.instanceId}`, allowAutoTopicCreation: false, retry: { restartOnFailure: () => Promise.resolve(this.consumer === consumer) } });
      this.consumer = consumer;
      await consumer.connect();
      await consumer.subscribe({ topic: this.topic, fromBeginning: false });
      const joined = new Promise<void>((resolve) => {
        const off = consumer.on(consumer.events.GROUP_JOIN, () => {
          off();
          resolve();
        });
      });
      await consumer.run({
        eachMessage: async ({ message }) => {
          if (message.value !== null) this.onChunk(new Uint8Array(message.value.buffer, message.value.byteOffset, message.value.byteLength), onUpdate);
        },
      });
      await joined;
    } catch (err) {
      await this.stop();
      if (isRebalancerError(err)) throw err;
      throw new RebalancerError('REB_KAFKA_UNAVAILABLE', `model sync: cannot use topic ${this.topic}: ${err instanceof Error ? err.message : String(err)}`, { topic: this.topic }, { cause: err });
    }
  }

  async publish(update: ModelUpdate): Promise<{ bytes: number; chunks: number }> {
    const producer = this.producer;
    if (producer === null) throw new RebalancerError('REB_KAFKA_UNAVAILABLE', 'model sync: the topic transport is not started');
    const chunks = updateChunks(update, this.o.maxChunkBytes ?? MAX_CHUNK_BYTES);
    let bytes = 0;
    for (let i = 0; i < chunks.length; ) {
      const messages: { key: string; value: Buffer }[] = [];
      let size = 0;
      while (i < chunks.length && (messages.length === 0 || size + chunks[i]!.byteLength <= SEND_BYTES)) {
        const c = chunks[i++]!;
        messages.push({ key: update.instanceId, value: Buffer.from(c.buffer, c.byteOffset, c.byteLength) });
        size += c.byteLength;
      }
      await producer.send({ topic: this.topic, messages });
      bytes += size;
    }
    return { bytes, chunks: chunks.length };
  }

  async stop(): Promise<void> {
    const consumer = this.consumer;
    const producer = this.producer;
    this.consumer = null;
    this.producer = null;
    await Promise.allSettled([consumer?.disconnect(), producer?.disconnect()]);
  }

  private onChunk(chunk: Uint8Array, onUpdate: (update: ModelUpdate, bytes: number) => void): void {
    try {
      if (chunkSender(chunk) === this.o.instanceId) return;
      const got = this.assembler.add(chunk);
      if (got.kind !== 'complete') return;
      const changes = decodeChanges(got.body);
      onUpdate({ instanceId: got.instanceId, seq: got.seq, createdAt: got.createdAt, changes }, got.body.byteLength);
    } catch (err) {
      if (!isRebalancerError(err, 'REB_DECODE_INVALID')) throw err;
      if (this.invalidChunks++ < 10) this.o.log(`model sync: skipped a chunk on ${this.topic}: ${err.message}`);
    }
  }

  private async ensureTopic(admin: Admin): Promise<void> {
    await ensureTopics(admin, [{ topic: this.topic, partitions: 1, configs: { 'retention.ms': String(this.o.retentionMs ?? DEFAULT_RETENTION_MS) } }]);
  }
}
