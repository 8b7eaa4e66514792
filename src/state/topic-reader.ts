import type { Admin, Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { RebalancerError } from '../errors.js';
import { BatchSignal } from '../adapters/kafka/batch-signal.js';

/**
 * Reads a whole topic from its beginning with a consumer of its own group (never the
 * service's group, never committing), and says when it has reached the end offsets the
 * topic had when reading started. Used for the compacted state topics: the partition
 * changelog reads once and stops, the global counts topic keeps reading.
 *
 * kafkajs 2.2.4 has no public fetch API without a group, hence a consumer group per reader:
 * its cost is one group join (a FindCoordinator, JoinGroup and SyncGroup round trip, plus the
 * broker's group.initial.rebalance.delay.ms, 3 s by default, 0 on the test broker) and one
 * entry in the coordinator, deleted on stop when `deleteGroupOnStop` is set.
 */
export interface TopicReaderOptions {
  kafka: Kafka;
  topic: string;
  groupId: string;
  /** Bound on reaching the end offsets (connect, join and fetch included). */
  timeoutMs: number;
  /** End offsets to reach (from readOffsets, taken before the reader starts). */
  ends: ReadonlyMap<number, Offsets>;
  /** Called synchronously, in offset order per partition. */
  onMessage(message: KafkaMessage, partition: number): void;
  /** The consumer stopped for good after having caught up (kafkajs gave up restarting it). */
  onCrash(err: Error): void;
  /** Delete the (offset-less) group when stopped: for one-shot readers with a unique group id. */
  deleteGroupOnStop: boolean;
  /** Longest a fetch waits at the end of the topic (ms). */
  maxWaitTimeInMs?: number;
}

export interface Offsets {
  low: number;
  high: number;
}

/** Log start and end offsets of each partition of `topic` (REB_CONFIG_INVALID when it does not exist). */
export async function readOffsets(admin: Admin, topic: string): Promise<Map<number, Offsets>> {
  let topics: string[];
  let offsets: Array<{ partition: number; low: string; high: string }>;
  try {
    topics = await admin.listTopics();
    // listTopics first: a metadata request for a missing topic may auto-create it.
    offsets = topics.includes(topic) ? await admin.fetchTopicOffsets(topic) : [];
  } catch (err) {
    throw new RebalancerError('REB_KAFKA_UNAVAILABLE', `cannot read the offsets of topic ${topic}: ${err instanceof Error ? err.message : String(err)}`, { topic }, { cause: err });
  }
  if (!topics.includes(topic)) throw new RebalancerError('REB_CONFIG_INVALID', `topic ${topic} does not exist (ensureTopic creates it)`, { topic });
  return new Map(offsets.map((o) => [o.partition, { low: Number(o.low), high: Number(o.high) }]));
}

/**
 * `readOffsets` with an admin client of its own, connected for the call and disconnected
 * after it. A failure outside the error catalogue (connecting) is REB_KAFKA_UNAVAILABLE
 * "cannot read <what> <topic>", e.g. what = 'the partition changelog'.
 */
export async function readTopicOffsets(kafka: Kafka, topic: string, what: string): Promise<Map<number, Offsets>> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await readOffsets(admin, topic);
  } catch (err) {
    if (err instanceof RebalancerError) throw err;
    throw new RebalancerError('REB_KAFKA_UNAVAILABLE', `cannot read ${what} ${topic}: ${err instanceof Error ? err.message : String(err)}`, { topic }, { cause: err });
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** True when no partition holds a record to read. */
export function isEmpty(ends: ReadonlyMap<number, Offsets>): boolean {
  for (const o of ends.values()) if (o.high > o.low) return false;
  return true;
}

export class TopicReader {
  private readonly next = new Map<number, number>();
  private readonly highWatermarks = new Map<number, number>();
  private caughtUp = false;
  /** Read by the consumer's restartOnFailure (see start). */
  stopped = false;
  private readonly signal = new BatchSignal();
  private startup: Promise<void> | undefined;

  private constructor(private readonly opts: TopicReaderOptions, private readonly consumer: Consumer) {
    for (const [p, o] of opts.ends) {
      this.next.set(p, o.low);
      this.highWatermarks.set(p, o.high);
    }
  }

  /**
   * Starts reading; resolves once every partition's position has reached its end offset in
   * `opts.ends`. After `timeoutMs` without getting there the reader is stopped and the
   * promise rejects with REB_KAFKA_UNAVAILABLE.
   */
  static async start(opts: TopicReaderOptions): Promise<TopicReader> {
    // kafkajs restarts a crashed consumer on its own, also one being stopped (a restart racing
    // disconnect() leaves it retrying in the background): never once this reader is stopped.
    const self: { reader?: TopicReader } = {};
    const consumer = opts.kafka.consumer({ groupId: opts.groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: opts.maxWaitTimeInMs ?? 250, retry: { restartOnFailure: () => Promise.resolve(self.reader?.stopped !== true) } });
    const reader = new TopicReader(opts, consumer);
    self.reader = reader;
    let timer: NodeJS.Timeout | undefined;
    const running = reader.run();
    running.catch(() => {}); // when the timeout wins, its later rejection is expected
    try {
      await Promise.race([
        running,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(reader.timeoutError()), opts.timeoutMs);
        }),
      ]);
    } catch (err) {
      await reader.stop();
      if (err instanceof RebalancerError) throw err;
      throw new RebalancerError('REB_KAFKA_UNAVAILABLE', `cannot read topic ${opts.topic}: ${err instanceof Error ? err.message : String(err)}`, { topic: opts.topic }, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    return reader;
  }

  /** The next offset this reader will deliver of `partition` (everything below it was read). */
  position(partition: number): number {
    return this.next.get(partition) ?? 0;
  }

  /** Records behind the latest high watermark seen, over all partitions. */
  lag(): number {
    let lag = 0;
    for (const [p, hw] of this.highWatermarks) lag += Math.max(0, hw - (this.next.get(p) ?? 0));
    return lag;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.signal.notify();
    // Disconnecting while kafkajs connects or joins leaves it retrying in the background.
    await this.startup?.catch(() => {});
    await this.consumer.disconnect().catch(() => {});
    if (this.opts.deleteGroupOnStop) await deleteGroup(this.opts.kafka, this.opts.groupId);
  }

  private async run(): Promise<void> {
    const c = this.consumer;
    c.on(c.events.CRASH, (e) => {
      // A reader already stopped (replaced after a crash or a hang) reports nothing: its
      // owner has moved on to a new reader, which this would otherwise restart again.
      if (e.payload.restart || this.stopped) return;
      const err = e.payload.error;
      if (this.caughtUp) this.opts.onCrash(err);
      else this.signal.fail(err);
    });
    // Also seen for batches whose records compaction removed (eachBatch is not called for those).
    c.on(c.events.END_BATCH_PROCESS, (e) => {
      this.advance(e.payload.partition, Number(e.payload.lastOffset) + 1, Number(e.payload.highWatermark));
    });
    this.startup = (async () => {
      await c.connect();
      if (this.stopped) return;
      await c.subscribe({ topic: this.opts.topic, fromBeginning: true });
      if (this.stopped) return;
      await c.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          if (this.stopped) return;
          for (const m of batch.messages) {
            this.opts.onMessage(m, batch.partition);
            this.next.set(batch.partition, Number(m.offset) + 1);
          }
        },
      });
    })();
    await this.startup;
    while (!this.reachedEnds()) {
      if (this.signal.failure) throw this.signal.failure;
      if (this.stopped) throw new RebalancerError('REB_KAFKA_UNAVAILABLE', `reading topic ${this.opts.topic} stopped before its end`);
      await this.signal.wait();
    }
    this.caughtUp = true;
  }

  private advance(partition: number, next: number, highWatermark: number): void {
    if (next > (this.next.get(partition) ?? 0)) this.next.set(partition, next);
    if (Number.isFinite(highWatermark)) this.highWatermarks.set(partition, highWatermark);
    this.signal.notify();
  }

  private reachedEnds(): boolean {
    for (const [p, o] of this.opts.ends) if ((this.next.get(p) ?? 0) < o.high) return false;
    return true;
  }



  private timeoutError(): RebalancerError {
    const at = [...this.opts.ends].map(([p, o]) => `p${p} ${this.next.get(p) ?? 0}/${o.high}`).join(', ');
    return new RebalancerError('REB_KAFKA_UNAVAILABLE', `reading topic ${this.opts.topic} did not reach its end offsets within ${this.opts.timeoutMs} ms (at ${at})`, { topic: this.opts.topic });
  }
}

async function deleteGroup(kafka: Kafka, groupId: string): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.deleteGroups([groupId]);
  } catch {
    // Best effort: an empty group without offsets is also removed by the coordinator in time.
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
