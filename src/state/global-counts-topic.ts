import type { Admin, Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import { z } from 'zod';
import { RebalancerError } from '../errors.js';
import { ensureStateTopic } from './compacted-topic.js';
import { TopicReader, readTopicOffsets } from './topic-reader.js';
import type { CountsRecord } from '../balance/index.js';

/**
 * The global counts topic: a compacted topic where each partition's owner publishes that
 * partition's bucketed window counts and cumulative totals, and which every instance reads
 * from the beginning and then continuously, delivering records in offset order to a merge
 * (src/balance/) that is idempotent by key. Compaction keeps the latest record per key, so
 * a new reader gets the whole picture in one pass.
 *
 * Keys: `b/<partition>/<bucket>` for a bucket, `t/<partition>` for totals. Values are JSON,
 * zod-validated on read; a bucket the owner evicts is a tombstone (null value) under the
 * bucket's key, delivered as `{ kind: 'evict' }`. The writer's instance id travels in the
 * `from` header. Records that fail validation (not JSON, wrong shape, key not matching
 * the value, missing `from`) are counted in `invalid`, logged and skipped.
 *
 * One partition: every record then has one place in one order, "read up to the end" is a
 * single offset, and the volume (a few records per input partition per publish) is far
 * below what one partition carries. Records are always produced to partition 0.
 */
// The records are the global window's (src/balance/global-window.ts): one definition.
export type { CountsRecord } from '../balance/index.js';

export interface GlobalCountsOptions {
  kafka: Kafka;
  producer: Producer;
  topic: string;
  groupIdPrefix: string;
  /** Must be unique among the instances: it names this instance's reading group. */
  instanceId: string;
  log(msg: string): void;
  /** Bound on start() reaching the end offsets, and the broker's acknowledgement timeout of each publish. */
  timeoutMs: number;
  /** Called synchronously, in topic order; an exception is logged and counted (`failed`), the record skipped. */
  onRecord(r: CountsRecord, from: string): void;
  /** Wall clock for `lastReadAt` (ms); Date.now by default. */
  now?: () => number;
  /** Replication factor when ensureTopic creates the topic; the broker's default when omitted. */
  replicationFactor?: number;
}

export interface GlobalCountsStats {
  /** Records behind the latest high watermark seen (before start: 0). */
  lag: number;
  /** Records read (valid ones, tombstones included). */
  read: number;
  published: number;
  invalid: number;
  /** Records onRecord threw on. */
  failed: number;
  /** Wall-clock time of the last record read (ms), 0 before any. */
  lastReadAt: number;
  /** Times the reading consumer stopped and reading started again from the beginning. */
  restarts: number;
}

const Count = z.number().int().nonnegative();
const Partition = z.number().int().nonnegative();
const Counts = z.record(z.string(), Count);
const Value = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('bucket'), partition: Partition, bucket: z.number().int(), position: Count, counts: Counts }),
  z.object({
    kind: z.literal('totals'), partition: Partition, position: Count, byCategory: Counts, byType: Counts,
    applied: Count, duplicates: Count, late: Count, lost: Count, invalid: Count,
  }),
]);

const BUCKET_KEY = /^b\/(\d+)\/(-?\d+)$/;
const FROM_HEADER = 'from';

export function countsKey(r: CountsRecord): string {
  return r.kind === 'totals' ? `t/${r.partition}` : `b/${r.partition}/${r.bucket}`;
}

export class GlobalCountsTopic {
  private reader: TopicReader | undefined;
  private starting: Promise<void> | undefined;
  private readonly now: () => number;
  private readonly counters = { read: 0, published: 0, invalid: 0, failed: 0, lastReadAt: 0, restarts: 0 };
  private stopping = false;
  /** This instance's previous publish: the offset of its last record and when it was acknowledged. */
  private lastPublish: { offset: number; at: number } | undefined;

  constructor(private readonly opts: GlobalCountsOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Creates the topic if missing (compacted, 1 partition); an existing one must compact (REB_CONFIG_INVALID otherwise). */
  async ensureTopic(admin: Admin): Promise<void> {
    await ensureStateTopic(admin, { topic: this.opts.topic, purpose: 'global counts', replicationFactor: this.opts.replicationFactor, log: this.opts.log });
  }


  /** Publishes the records in one send (acks -1); evictions become tombstones. */
  async publish(records: readonly CountsRecord[]): Promise<void> {
    if (records.length === 0) return;
    const headers = { [FROM_HEADER]: this.opts.instanceId };
    const messages: Message[] = records.map((r) => ({
      key: countsKey(r),
      value: r.kind === 'evict' ? null : JSON.stringify(r),
      partition: 0,
      headers,
    }));
    let acks: Awaited<ReturnType<GlobalCountsOptions['producer']['send']>>;
    try {
      acks = await this.opts.producer.send({ topic: this.opts.topic, acks: -1, timeout: this.opts.timeoutMs, messages });
    } catch (err) {
      throw new RebalancerError('REB_KAFKA_UNAVAILABLE', `publishing ${records.length} records to the global counts topic ${this.opts.topic} failed: ${err instanceof Error ? err.message : String(err)}`, { topic: this.opts.topic }, { cause: err });
    }
    this.counters.published += records.length;
    this.checkReaderProgress();
    const base = Number(acks.find((a) => a.partition === 0)?.baseOffset ?? NaN);
    if (Number.isFinite(base)) this.lastPublish = { offset: base + messages.length - 1, at: this.now() };
  }

  /**
   * A consumer can hang without an error after a broker restart (kafkajs issue 659: no more
   * batches, no crash event). This instance reads its own records back, so a reader that has
   * not passed this instance's previous publish READER_STALL_MS after it was acknowledged is
   * stalled: it is replaced as after a crash (reading again from the beginning changes
   * nothing but the lag; the records are absolute counts).
   */
  private checkReaderProgress(): void {
    const reader = this.reader;
    if (reader === undefined || this.lastPublish === undefined || this.stopping) return;
    if (!readerStalled(this.lastPublish, reader.position(0), this.now())) return;
    const { offset, at } = this.lastPublish;
    this.lastPublish = undefined;
    this.restartAfterCrash(new Error(`no progress: still before offset ${offset}, published ${Math.round((this.now() - at) / 1000)} s ago`));
  }

  /**
   * Starts reading (group `${groupIdPrefix}.${instanceId}`, from the beginning, never
   * committing) and resolves once the records up to the end offset seen at start have been
   * delivered. REB_KAFKA_UNAVAILABLE after timeoutMs. Joining the group takes a
   * rebalance; a previous process of the same instance id still in the group (not yet
   * timed out) delays it up to that member's session timeout.
   */
  start(): Promise<void> {
    this.starting ??= this.startReading().catch((err: unknown) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  /** Stops reading (a start() in progress is waited for first) and deletes the reading group. */
  async stop(): Promise<void> {
    this.stopping = true;
    const starting = this.starting;
    this.starting = undefined;
    await starting?.catch(() => {});
    const reader = this.reader;
    this.reader = undefined;
    await reader?.stop();
  }

  stats(): GlobalCountsStats {
    return { lag: this.reader?.lag() ?? 0, ...this.counters };
  }

  private async startReading(): Promise<void> {
    const started = performance.now();
    const ends = await readTopicOffsets(this.opts.kafka, this.opts.topic, 'the global counts topic');
    this.reader = await TopicReader.start({
      kafka: this.opts.kafka,
      topic: this.opts.topic,
      groupId: `${this.opts.groupIdPrefix}.${this.opts.instanceId}`,
      timeoutMs: this.opts.timeoutMs,
      ends,
      onMessage: (m) => this.deliver(m),
      onCrash: (err) => this.restartAfterCrash(err),
      // Never committed, so the group holds nothing worth keeping after stop.
      deleteGroupOnStop: true,
      maxWaitTimeInMs: 500,
    });
    this.opts.log(`global counts topic ${this.opts.topic}: caught up, ${this.counters.read} records in ${Math.round(performance.now() - started)} ms`);
  }

  /**
   * The reading consumer stopped for good (kafkajs gave up, e.g. a broker outage longer than
   * its retries): read the topic again from its beginning, with backoff, until it works or
   * stop() is called. Records are absolute counts merged idempotently, so reading them again
   * changes nothing but the lag.
   */
  private restartAfterCrash(err: Error): void {
    this.counters.restarts++;
    this.opts.log(`global counts topic ${this.opts.topic}: the reading consumer stopped (${err.message}); reading again from the beginning`);
    const crashed = this.reader;
    this.reader = undefined;
    const attempt = async (delayMs: number): Promise<void> => {
      // A hung consumer may not disconnect either: give it a few seconds, then go on without it.
      await Promise.race([crashed?.stop().catch(() => {}), new Promise((r) => setTimeout(r, 5_000))]);
      await new Promise((r) => setTimeout(r, delayMs));
      if (this.stopping) return;
      this.starting = undefined;
      try {
        await this.start();
      } catch (e) {
        this.opts.log(`global counts topic ${this.opts.topic}: reading again failed (${e instanceof Error ? e.message : String(e)}); retrying`);
        await attempt(Math.min(30_000, delayMs * 2));
      }
    };
    void attempt(1_000);
  }

  private deliver(m: KafkaMessage): void {
    const parsed = this.parse(m);
    if (typeof parsed === 'string') {
      this.counters.invalid++;
      // The first ten, then one in a thousand: a flood of bad records must not flood the log.
      const n = this.counters.invalid;
      if (n <= 10 || n % 1000 === 0) this.opts.log(`global counts topic ${this.opts.topic}: skipped invalid record #${n} at offset ${m.offset}: ${parsed}`);
      return;
    }
    this.counters.read++;
    this.counters.lastReadAt = this.now();
    try {
      this.opts.onRecord(parsed.record, parsed.from);
    } catch (err) {
      this.counters.failed++;
      this.opts.log(`global counts topic ${this.opts.topic}: onRecord failed on the record at offset ${m.offset}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The record and its writer, or why it is invalid. */
  private parse(m: KafkaMessage): { record: CountsRecord; from: string } | string {
    const key = m.key?.toString('utf8') ?? '';
    const from = m.headers?.[FROM_HEADER]?.toString();
    if (from === undefined || from === '') return `key ${JSON.stringify(key)} has no ${FROM_HEADER} header`;
    if (m.value === null) {
      const bucket = BUCKET_KEY.exec(key);
      if (!bucket) return `tombstone for key ${JSON.stringify(key)}, which is not a bucket key`;
      return { record: { kind: 'evict', partition: Number(bucket[1]), bucket: Number(bucket[2]) }, from };
    }
    let raw: unknown;
    try {
      raw = JSON.parse(m.value.toString('utf8'));
    } catch {
      return `key ${JSON.stringify(key)}: the value is not JSON`;
    }
    const value = Value.safeParse(raw);
    if (!value.success) return `key ${JSON.stringify(key)}: ${value.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ')}`;
    const record = value.data;
    if (countsKey(record) !== key) return `key ${JSON.stringify(key)} does not match its value (${countsKey(record)})`;
    return { record, from };
  }
}

/** How long a reader may stay behind this instance's own acknowledged record before it counts as stalled. */
export const READER_STALL_MS = 10_000;

/** Whether a reader at `position` (next offset to read) is stalled behind a record published at `published`. */
export function readerStalled(published: { offset: number; at: number }, position: number, now: number, stallMs = READER_STALL_MS): boolean {
  return position <= published.offset && now - published.at >= stallMs;
}
