/**
 * Recorded events to read back, from an event file or a slice of a topic, in one order:
 * a file in record order; a topic merged across partitions by event time (each
 * partition's own order kept), so pacing by event time and backtests see one timeline.
 * Each item carries its position, so a consumer can remember where it stopped.
 */
import { randomBytes } from 'node:crypto';
import type { Admin, Batch, Consumer, IHeaders, Kafka, KafkaMessage, SeekEntry } from 'kafkajs';
import { createEventCodec, type InteractionEvent, type SingleObjectCodec } from '../codec/index.js';
import { RebalancerError, isRebalancerError } from '../errors.js';
import { kafkaAuthFailure } from './kafka/connect.js';
import { openEventFile } from './event-file.js';
import { timeRetention } from './sink.js';
import { BatchSignal } from './kafka/batch-signal.js';

export interface SourceItem {
  key: Buffer | string;
  value: Buffer;
  /** Event time (ms): the decoded eventTime. */
  timestamp: number;
  event: InteractionEvent;
  headers: IHeaders | undefined;
  /** Source partition, or -1 for a file. */
  partition: number;
  /** File: byte offset after this record. Topic: this message's offset. */
  position: number;
  /** File: index of the next record. Topic: unused (0). */
  nextIndex: number;
}

export interface Range {
  /** File: first record index; topic: first offset in every partition. */
  fromOffset?: number;
  /** Exclusive end (record index or per-partition offset). */
  toOffset?: number;
  /** Event-time range [fromTime, toTime), ms. */
  fromTime?: number;
  toTime?: number;
}

export interface EventSource {
  /** Upper bound of the items to come (exact without a time range). */
  readonly total: number;
  /** Items skipped because they do not decode (reported through onSkip). */
  readonly skipped: number;
  items(): AsyncGenerator<SourceItem>;
  close(): Promise<void>;
}

export type SkipHandler = (where: string, reason: string) => void;

/** Teaches the source's codec a Confluent schema id it met (from a schema registry); see wire-format.ts. */
export type SchemaIdLearner = (codec: SingleObjectCodec<InteractionEvent>, id: number) => Promise<void>;

export interface FileResume {
  offset: number;
  index: number;
}

export function fileSource(path: string, range: Range, resume: FileResume | undefined, onSkip: SkipHandler): EventSource {
  const file = openEventFile(path);
  const codec = createEventCodec();
  let count = 0;
  for (const rec of file.records()) count = rec.index + 1;
  const from = range.fromOffset ?? 0;
  const to = Math.min(range.toOffset ?? count, count);
  const startIndex = Math.max(resume?.index ?? 0, from);
  let skipped = 0;
  return {
    total: Math.max(0, to - startIndex),
    get skipped() { return skipped; },
    async *items() {
      const records = resume !== undefined && resume.index >= from ? file.records(resume.offset, resume.index) : file.records();
      for (const rec of records) {
        if (rec.index < from) continue;
        if (rec.index >= to) break;
        let event: InteractionEvent;
        try {
          event = codec.decode(rec.payload);
        } catch (err) {
          skipped++;
          onSkip(`${path} record ${rec.index}`, (err as Error).message);
          continue;
        }
        if (!inTimeRange(event, range)) continue;
        yield { key: event.userId, value: rec.payload, timestamp: event.eventTime, event, headers: undefined, partition: -1, position: rec.nextOffset, nextIndex: rec.index + 1 };
      }
    },
    close() {
      file.close();
      return Promise.resolve();
    },
  };
}

/** Buffered messages per partition before its fetching is paused. */
const HIGH_WATER = 5_000;
const LOW_WATER = 1_000;
/** A partition waiting this long for its next record has its log start checked (retention may have deleted what is left). */
const STALL_CHECK_MS = 5_000;

/** A partition whose log start offset has moved past the start of the requested records. */
interface Deleted {
  partition: number;
  logStart: number;
  requested: number;
  high: number;
}

/** A partition's offsets as the admin client reports them. */
export type PartitionOffsets = SeekEntry & { low: string; high: string };

/**
 * Connects an admin client, checks that `topic` exists (REB_INPUT_INVALID: `<label> <topic>
 * does not exist`) and hands its partitions' offsets to `use`. Failing to reach the cluster is
 * REB_KAFKA_AUTH_FAILED (refused credentials or TLS, src/adapters/kafka/connect.ts) or
 * REB_KAFKA_UNAVAILABLE; a RebalancerError from `use` passes as it is. The admin client is
 * disconnected before this settles.
 */
export async function withTopicOffsets<T>(kafka: Kafka, topic: string, label: string, use: (admin: Admin, offsets: PartitionOffsets[]) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    if (!(await admin.listTopics()).includes(topic)) throw new RebalancerError('REB_INPUT_INVALID', `${label} ${topic} does not exist`, { topic });
    return await use(admin, await admin.fetchTopicOffsets(topic));
  } catch (err) {
    if (err instanceof RebalancerError) throw err;
    throw kafkaAuthFailure(err) ?? new RebalancerError('REB_KAFKA_UNAVAILABLE', `cannot read offsets of topic ${topic}: ${(err as Error).message}`, { topic }, { cause: err });
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** What of a topic a slice reads: per partition, the first offset and the end (exclusive). */
interface TopicSlice {
  topic: string;
  range: Range;
  /** A resumed position was given. */
  resumed: boolean;
  starts: Map<number, number>;
  ends: Map<number, number>;
  /** Records between the starts and the ends. */
  total: number;
}

interface SliceBounds {
  starts: Map<number, number>;
  ends: Map<number, number>;
  total: number;
  /** Partitions whose log start lies past the first record asked for. */
  deleted: Deleted[];
  /** Offsets were asked for (--from-offset, --to-offset or a resumed position). */
  explicit: boolean;
}

/**
 * A topic slice. `resume` maps partition → next offset to read (overrides the range start).
 *
 * Records deleted from the log (time retention, which goes by message timestamp, i.e. event
 * time, or a delete-records request) are reported, not silently skipped: REB_SOURCE_RETENTION
 * when an explicitly requested start (--from-offset, --to-offset, a resumed position) lies
 * below a partition's log start, or when nothing is left to read and some partition was
 * emptied by deletion (log start = high watermark > 0). Without explicit offsets a partly
 * deleted topic is read from its log start, as Kafka consumers do. Records deleted while
 * the slice is read (the consumer would silently jump to the new log start, or wait forever
 * when nothing is left) fail the same way: a batch that starts past the next expected offset,
 * or a partition waiting STALL_CHECK_MS for data, has its log start checked.
 */
export async function topicSource(kafka: Kafka, topic: string, range: Range, resume: Record<string, number> | undefined, onSkip: SkipHandler, learnSchemaId?: SchemaIdLearner): Promise<EventSource> {
  const bounds = await withTopicOffsets(kafka, topic, 'source topic', async (admin, offsets) => {
    const byTime = range.fromTime !== undefined ? await admin.fetchTopicOffsetsByTimestamp(topic, range.fromTime) : undefined;
    const b = sliceBounds(offsets, byTime, range, resume);
    if (b.deleted.length > 0 && (b.explicit || (b.total === 0 && b.deleted.some((d) => d.logStart === d.high)))) {
      throw retentionError(topic, b.deleted, offsets.length, await timeRetention(admin, topic).catch(() => undefined), resume !== undefined);
    }
    return b;
  });
  const slice: TopicSlice = { topic, range, resumed: resume !== undefined, starts: bounds.starts, ends: bounds.ends, total: bounds.total };
  return new TopicSliceSource(kafka, slice, onSkip, schemaIdDecoder(createEventCodec(), learnSchemaId));
}

/** Per partition: where the slice starts and ends, which requested records are gone, and how many are left. */
function sliceBounds(offsets: readonly PartitionOffsets[], byTime: readonly SeekEntry[] | undefined, range: Range, resume: Record<string, number> | undefined): SliceBounds {
  const starts = new Map<number, number>();
  const ends = new Map<number, number>();
  const deleted: Deleted[] = [];
  let explicit = range.fromOffset !== undefined || range.toOffset !== undefined;
  for (const o of offsets) {
    const low = Number(o.low);
    const high = Number(o.high);
    let start = Math.max(low, range.fromOffset ?? low);
    const seekByTime = byTime?.find((b) => b.partition === o.partition);
    // Offsets by timestamp use message timestamps, which our producers set to event time.
    if (seekByTime !== undefined && Number(seekByTime.offset) >= 0) start = Math.max(start, Number(seekByTime.offset));
    else if (seekByTime !== undefined) start = high;
    const resumed = resume?.[String(o.partition)];
    if (resumed !== undefined) start = Math.max(low, resumed);
    if (resumed !== undefined) explicit = true;
    starts.set(o.partition, start);
    ends.set(o.partition, Math.min(high, range.toOffset ?? high));
    // The first record asked for: a resumed position, --from-offset, or the first ever written.
    const requested = resumed ?? range.fromOffset ?? 0;
    if (low > requested && requested < (range.toOffset ?? high)) deleted.push({ partition: o.partition, logStart: low, requested, high });
  }
  let total = 0;
  for (const [p, s] of starts) total += Math.max(0, ends.get(p)! - s);
  return { starts, ends, total, deleted, explicit };
}

type Decode = (value: Buffer) => Promise<InteractionEvent>;

/**
 * Decodes either framing; a Confluent schema id the codec has not learned is fetched (once)
 * through `learnSchemaId`. What that step throws stops the source (a registry that is down,
 * or no registry given: StopReading), except an id the registry does not have or an
 * incompatible schema (REB_DECODE_UNKNOWN_SCHEMA): no one can decode that message, it is
 * skipped as undecodable.
 */
function schemaIdDecoder(codec: SingleObjectCodec<InteractionEvent>, learnSchemaId: SchemaIdLearner | undefined): Decode {
  /** Ids the registry answered for good that cannot be decoded (asked once, not per message). */
  const failedIds = new Map<number, RebalancerError>();
  return async (value) => {
    try {
      return codec.decode(value);
    } catch (err) {
      if (learnSchemaId === undefined || !isRebalancerError(err, 'REB_DECODE_UNKNOWN_SCHEMA_ID')) throw err;
    }
    const id = value.readUInt32BE(1);
    const failed = failedIds.get(id);
    if (failed !== undefined) throw failed;
    try {
      await learnSchemaId(codec, id);
    } catch (err) {
      if (isRebalancerError(err, 'REB_DECODE_UNKNOWN_SCHEMA')) {
        if (failedIds.size < 1024) failedIds.set(id, err);
        throw err;
      }
      throw new StopReading(err instanceof Error ? err : new Error(String(err)));
    }
    return codec.decode(value);
  };
}

/** The source of a topic slice: each items() call is one TopicMerge; close() ends them. */
class TopicSliceSource implements EventSource {
  readonly total: number;
  private skippedCount = 0;
  private readonly merges: TopicMerge[] = [];

  constructor(private readonly kafka: Kafka, private readonly slice: TopicSlice, private readonly onSkip: SkipHandler, private readonly decode: Decode) {
    this.total = slice.total;
  }

  get skipped(): number {
    return this.skippedCount;
  }

  items(): AsyncGenerator<SourceItem> {
    const skip: SkipHandler = (where, reason) => {
      this.skippedCount++;
      this.onSkip(where, reason);
    };
    const merge = new TopicMerge(this.kafka, this.slice, this.decode, skip);
    this.merges.push(merge);
    return merge.read();
  }

  async close(): Promise<void> {
    for (const m of this.merges) await m.close();
  }
}

/** earliestHead(): an unfinished partition has no message queued yet. */
const WAITING = -2;

/**
 * One read of a topic slice: a consumer group of its own queues each partition's messages
 * (in offset order, fetching paused past HIGH_WATER), and read() yields the earliest head by
 * event time once every unfinished partition has one.
 */
class TopicMerge {
  private readonly queues = new Map<number, SourceItem[]>();
  /** Read index into each queue. */
  private readonly heads = new Map<number, number>();
  private readonly done = new Set<number>();
  private readonly paused = new Set<number>();
  /** Next offset each partition should deliver. */
  private readonly next: Map<number, number>;
  private readonly signal = new BatchSignal();
  private consumer: Consumer | undefined;
  private watchdog: Admin | undefined;

  constructor(private readonly kafka: Kafka, private readonly slice: TopicSlice, private readonly decode: Decode, private readonly skip: SkipHandler) {
    this.next = new Map(slice.starts);
    for (const [p, s] of slice.starts) {
      this.queues.set(p, []);
      this.heads.set(p, 0);
      if (s >= slice.ends.get(p)!) this.done.add(p);
    }
  }

  async *read(): AsyncGenerator<SourceItem> {
    if (this.done.size === this.slice.starts.size) return;
    const c = await this.startConsumer();
    for (;;) {
      if (this.signal.failure) throw this.signal.failure;
      const best = this.earliestHead();
      if (best === WAITING) {
        await this.waitForMessages();
        continue;
      }
      if (best < 0) return;
      yield this.take(best, c);
    }
  }

  async close(): Promise<void> {
    if (this.consumer !== undefined) await this.consumer.disconnect().catch(() => {});
    if (this.watchdog !== undefined) await this.watchdog.disconnect().catch(() => {});
  }

  private async startConsumer(): Promise<Consumer> {
    const { topic } = this.slice;
    const c = this.kafka.consumer({ groupId: `rebalancer-replay-${randomBytes(6).toString('hex')}`, allowAutoTopicCreation: false });
    this.consumer = c;
    await c.connect();
    await c.subscribe({ topic, fromBeginning: true });
    c.on(c.events.CRASH, (e) => {
      this.signal.fail(new RebalancerError('REB_KAFKA_CONSUMER_DEAD', `replay consumer stopped: ${String((e.payload as { error?: Error }).error?.message ?? 'crash')}`));
    });
    await c.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: ({ batch, pause }) => this.onBatch(batch, pause),
    });
    for (const [p, s] of this.slice.starts) if (!this.done.has(p)) c.seek({ topic, partition: p, offset: String(s) });
    return c;
  }



  private async onBatch(batch: Batch, pause: () => void): Promise<void> {
    const p = batch.partition;
    if (this.done.has(p) || this.signal.failure !== undefined) return;
    if (await this.startsPastDeleted(p, batch)) return;
    if (!(await this.queueBatch(p, batch))) return;
    if (Number(batch.lastOffset()) >= this.slice.ends.get(p)! - 1) this.done.add(p);
    if (this.queues.get(p)!.length - this.heads.get(p)! > HIGH_WATER && !this.done.has(p)) {
      this.paused.add(p);
      pause();
    }
    this.signal.notify();
  }

  /**
   * A batch starting past the next offset: compaction or transaction markers, or the consumer
   * jumped to a log start that retention moved (offset out of range). True (and the read
   * fails) when records were deleted.
   */
  private async startsPastDeleted(p: number, batch: Batch): Promise<boolean> {
    const firstOffset = batch.messages.length > 0 ? Number(batch.messages[0]!.offset) : this.next.get(p)!;
    if (firstOffset <= this.next.get(p)!) return false;
    const gone = await this.deletedWhileReading([p]).catch(() => undefined);
    if (gone === undefined) return false;
    this.signal.fail(gone);
    return true;
  }

  /** Queues the batch's messages within the slice; false when a decoding failure stops the read. */
  private async queueBatch(p: number, batch: Batch): Promise<boolean> {
    const start = this.slice.starts.get(p)!;
    const end = this.slice.ends.get(p)!;
    for (const m of batch.messages) {
      const offset = Number(m.offset);
      if (offset >= this.next.get(p)!) this.next.set(p, offset + 1);
      if (offset < start) continue;
      if (offset >= end) break;
      if (!(await this.queueMessage(p, offset, m))) return false;
      if (offset >= end - 1) break;
    }
    return true;
  }

  /** Decodes one message and queues it when in the time range (undecodable: skipped); false when the read must stop. */
  private async queueMessage(p: number, offset: number, m: KafkaMessage): Promise<boolean> {
    const where = `${this.slice.topic}[${p}]@${offset}`;
    if (m.value === null) {
      this.skip(where, 'message has no value (tombstone)');
      return true;
    }
    try {
      const event = await this.decode(m.value);
      if (inTimeRange(event, this.slice.range)) {
        this.queues.get(p)!.push({ key: m.key ?? event.userId, value: m.value, timestamp: event.eventTime, event, headers: m.headers, partition: p, position: offset, nextIndex: 0 });
      }
    } catch (err) {
      if (err instanceof StopReading) {
        this.signal.fail(err.reason);
        return false;
      }
      this.skip(where, (err as Error).message);
    }
    return true;
  }

  /** The partition with the earliest head; WAITING while an unfinished partition has none; -1 when all are done. */
  private earliestHead(): number {
    let best = -1;
    let bestTs = Infinity;
    for (const [p, q] of this.queues) {
      const h = this.heads.get(p)!;
      if (h < q.length) {
        const ts = q[h]!.timestamp;
        if (ts < bestTs) {
          bestTs = ts;
          best = p;
        }
      } else if (!this.done.has(p)) {
        return WAITING;
      }
    }
    return best;
  }

  /** Waits for the next batch; after STALL_CHECK_MS without one, fails if the stalled partitions' records were deleted. */
  private async waitForMessages(): Promise<void> {
    if (await this.signal.wait(STALL_CHECK_MS)) return;
    const stalled = [...this.queues.keys()].filter((p) => !this.done.has(p) && this.heads.get(p)! >= this.queues.get(p)!.length);
    const gone = await this.deletedWhileReading(stalled).catch(() => undefined);
    if (gone !== undefined) throw gone;
  }

  /** Takes partition p's head; resumes its fetching once its queue is below LOW_WATER. */
  private take(p: number, c: Consumer): SourceItem {
    const q = this.queues.get(p)!;
    const h = this.heads.get(p)!;
    const item = q[h]!;
    this.heads.set(p, h + 1);
    // Compact the queue now and then instead of shifting per item.
    if (h + 1 >= 1_024 && h + 1 >= q.length / 2) {
      q.splice(0, h + 1);
      this.heads.set(p, 0);
    }
    if (this.paused.has(p) && q.length - this.heads.get(p)! < LOW_WATER) {
      this.paused.delete(p);
      c.resume([{ topic: this.slice.topic, partitions: [p] }]);
    }
    return item;
  }

  /** The error when records of `partitions` at or after their next offset were deleted (log start past it). */
  private async deletedWhileReading(partitions: number[]): Promise<RebalancerError | undefined> {
    const { topic } = this.slice;
    if (this.watchdog === undefined) {
      this.watchdog = this.kafka.admin();
      await this.watchdog.connect();
    }
    const now = await this.watchdog.fetchTopicOffsets(topic);
    const gone: Deleted[] = [];
    for (const o of now) {
      const want = this.next.get(o.partition);
      if (partitions.includes(o.partition) && want !== undefined && Number(o.low) > want) gone.push({ partition: o.partition, logStart: Number(o.low), requested: want, high: Number(o.high) });
    }
    if (gone.length === 0) return undefined;
    return retentionError(topic, gone, now.length, await timeRetention(this.watchdog, topic).catch(() => undefined), this.slice.resumed, true);
  }
}

/** Event time within the range's [fromTime, toTime). */
function inTimeRange(event: InteractionEvent, range: Range): boolean {
  return (range.fromTime === undefined || event.eventTime >= range.fromTime) && (range.toTime === undefined || event.eventTime < range.toTime);
}

/** A failure of the schema-id lookup that stops reading (the message is not skipped). */
class StopReading extends Error {
  constructor(readonly reason: Error) {
    super(reason.message);
  }
}

function retentionError(topic: string, deleted: Deleted[], partitions: number, retentionMs: number | undefined, resumed: boolean, whileReading = false): RebalancerError {
  const empty = deleted.filter((d) => d.logStart === d.high).length;
  const asked = whileReading ? 'next to read' : 'requested';
  const where = [...deleted].sort((a, b) => a.partition - b.partition).map((d) => `partition ${d.partition}: log start ${d.logStart} > ${asked} ${d.requested}${d.logStart === d.high ? ' (now empty)' : ''}`).join(', ');
  const policy = retentionMs !== undefined ? `its retention.ms=${retentionMs} deletes by message timestamp, which is the event time, so events older than that go at the broker's next retention check` : 'the records were deleted by retention or a delete-records request';
  const again = 'replay or import the original events again into a topic that keeps them (the tools create topics with retention.ms=-1), or raise the topic\'s retention.ms';
  const fix = resumed
    ? `records after the resumed position are gone; delete the progress file to replay what is left, or ${again}`
    : empty === partitions ? again : `${again}; to read what is left, omit --from-offset/--to-offset (reading then starts at the log start) or give offsets at or past the log start`;
  return new RebalancerError('REB_SOURCE_RETENTION',
    `source topic ${topic} no longer holds the requested records, deleted by retention${whileReading ? ' while they were being read' : ''}: ${where}${empty === partitions ? '; every partition is empty' : ''}. ${policy[0]!.toUpperCase()}${policy.slice(1)}; ${fix}`,
    { topic, partitions: deleted.map((d) => ({ partition: d.partition, logStart: d.logStart, requested: d.requested, highWatermark: d.high })), retentionMs });
}
