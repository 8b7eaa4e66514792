/**
 * Recorded events to read back, from an event file or a slice of a topic, in one order:
 * a file in record order; a topic merged across partitions by event time (each
 * partition's own order kept), so pacing by event time and backtests see one timeline.
 * Each item carries its position, so a consumer can remember where it stopped.
 */
import { randomBytes } from 'node:crypto';
import type { Admin, Consumer, IHeaders, Kafka } from 'kafkajs';
import { createEventCodec, type InteractionEvent, type SingleObjectCodec } from '../codec/index.js';
import { RebalancerError, isRebalancerError } from '../errors.js';
import { kafkaAuthFailure } from './kafka/connect.js';
import { openEventFile } from './event-file.js';
import { timeRetention } from './sink.js';

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
        if (range.fromTime !== undefined && event.eventTime < range.fromTime) continue;
        if (range.toTime !== undefined && event.eventTime >= range.toTime) continue;
        yield { key: event.userId, value: rec.payload, timestamp: event.eventTime, event, headers: undefined, partition: -1, position: rec.nextOffset, nextIndex: rec.index + 1 };
      }
    },
    close() {
      file.close();
      return Promise.resolve();
    },
  };
}

interface Queued {
  item: SourceItem;
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
  const admin = kafka.admin();
  const starts = new Map<number, number>();
  const ends = new Map<number, number>();
  const deleted: Deleted[] = [];
  let explicit = range.fromOffset !== undefined || range.toOffset !== undefined;
  let retention: RebalancerError | undefined;
  try {
    await admin.connect();
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) throw new RebalancerError('REB_INPUT_INVALID', `source topic ${topic} does not exist`, { topic });
    const offsets = await admin.fetchTopicOffsets(topic);
    const byTime = range.fromTime !== undefined ? await admin.fetchTopicOffsetsByTimestamp(topic, range.fromTime) : undefined;
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
    let readable = 0;
    for (const [p, s] of starts) readable += Math.max(0, ends.get(p)! - s);
    if (deleted.length > 0 && (explicit || (readable === 0 && deleted.some((d) => d.logStart === d.high)))) {
      retention = retentionError(topic, deleted, offsets.length, await timeRetention(admin, topic).catch(() => undefined), resume !== undefined);
    }
  } catch (err) {
    if (err instanceof RebalancerError) throw err;
    // Refused credentials or TLS: REB_KAFKA_AUTH_FAILED (src/adapters/kafka/connect.ts), not an outage.
    throw kafkaAuthFailure(err) ?? new RebalancerError('REB_KAFKA_UNAVAILABLE', `cannot read offsets of topic ${topic}: ${(err as Error).message}`, { topic }, { cause: err });
  } finally {
    await admin.disconnect().catch(() => {});
  }
  if (retention !== undefined) throw retention;
  let total = 0;
  for (const [p, s] of starts) total += Math.max(0, ends.get(p)! - s);
  const codec = createEventCodec();
  /**
   * Decodes either framing; a Confluent schema id the codec has not learned is fetched (once)
   * through `learnSchemaId`. What that step throws stops the source (a registry that is down,
   * or no registry given), except an id the registry does not have or an incompatible schema
   * (REB_DECODE_UNKNOWN_SCHEMA): no one can decode that message, it is skipped as undecodable.
   */
  /** Ids the registry answered for good that cannot be decoded (asked once, not per message). */
  const failedIds = new Map<number, RebalancerError>();
  const decode = async (value: Buffer): Promise<InteractionEvent> => {
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
  let skipped = 0;
  let consumer: Consumer | undefined;
  let watchdog: Admin | undefined;

  return {
    total,
    get skipped() { return skipped; },
    async *items() {
      const queues = new Map<number, Queued[]>();
      const heads = new Map<number, number>(); // read index into each queue
      const done = new Set<number>();
      const paused = new Set<number>();
      for (const [p, s] of starts) {
        queues.set(p, []);
        heads.set(p, 0);
        if (s >= ends.get(p)!) done.add(p);
      }
      if (done.size === starts.size) return;
      /** Next offset each partition should deliver. */
      const next = new Map(starts);
      /** The error when records of `partitions` at or after their next offset were deleted (log start past it). */
      const deletedWhileReading = async (partitions: number[]): Promise<RebalancerError | undefined> => {
        if (watchdog === undefined) {
          watchdog = kafka.admin();
          await watchdog.connect();
        }
        const now = await watchdog.fetchTopicOffsets(topic);
        const gone: Deleted[] = [];
        for (const o of now) {
          const want = next.get(o.partition);
          if (partitions.includes(o.partition) && want !== undefined && Number(o.low) > want) gone.push({ partition: o.partition, logStart: Number(o.low), requested: want, high: Number(o.high) });
        }
        if (gone.length === 0) return undefined;
        return retentionError(topic, gone, now.length, await timeRetention(watchdog, topic).catch(() => undefined), resume !== undefined, true);
      };
      let wake: (() => void) | undefined;
      let failure: Error | undefined;
      const notify = (): void => {
        const w = wake;
        wake = undefined;
        w?.();
      };
      consumer = kafka.consumer({ groupId: `rebalancer-replay-${randomBytes(6).toString('hex')}`, allowAutoTopicCreation: false });
      const c = consumer;
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      c.on(c.events.CRASH, (e) => {
        failure = new RebalancerError('REB_KAFKA_CONSUMER_DEAD', `replay consumer stopped: ${String((e.payload as { error?: Error }).error?.message ?? 'crash')}`);
        notify();
      });
      await c.run({
        autoCommit: false,
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch, pause }) => {
          const p = batch.partition;
          if (done.has(p) || failure !== undefined) return;
          const end = ends.get(p)!;
          const q = queues.get(p)!;
          // A batch starting past the next offset: compaction or transaction markers, or the
          // consumer jumped to a log start that retention moved (offset out of range).
          const firstOffset = batch.messages.length > 0 ? Number(batch.messages[0]!.offset) : next.get(p)!;
          if (firstOffset > next.get(p)!) {
            const gone = await deletedWhileReading([p]).catch(() => undefined);
            if (gone !== undefined) {
              failure = gone;
              notify();
              return;
            }
          }
          for (const m of batch.messages) {
            const offset = Number(m.offset);
            if (offset >= next.get(p)!) next.set(p, offset + 1);
            if (offset < starts.get(p)!) continue;
            if (offset >= end) break;
            if (m.value === null) {
              skipped++;
              onSkip(`${topic}[${p}]@${offset}`, 'message has no value (tombstone)');
            } else {
              try {
                const event = await decode(m.value);
                if ((range.fromTime === undefined || event.eventTime >= range.fromTime) && (range.toTime === undefined || event.eventTime < range.toTime)) {
                  q.push({ item: { key: m.key ?? event.userId, value: m.value, timestamp: event.eventTime, event, headers: m.headers, partition: p, position: offset, nextIndex: 0 } });
                }
              } catch (err) {
                if (err instanceof StopReading) {
                  failure = err.reason;
                  notify();
                  return;
                }
                skipped++;
                onSkip(`${topic}[${p}]@${offset}`, (err as Error).message);
              }
            }
            if (offset >= end - 1) break;
          }
          if (Number(batch.lastOffset()) >= end - 1) done.add(p);
          if (q.length - heads.get(p)! > HIGH_WATER && !done.has(p)) {
            paused.add(p);
            pause();
          }
          notify();
        },
      });
      for (const [p, s] of starts) if (!done.has(p)) c.seek({ topic, partition: p, offset: String(s) });

      for (;;) {
        if (failure) throw failure;
        // The next item is the earliest head, once every unfinished partition has one.
        let best = -1;
        let bestTs = Infinity;
        let waiting = false;
        for (const [p, q] of queues) {
          const h = heads.get(p)!;
          if (h < q.length) {
            const ts = q[h]!.item.timestamp;
            if (ts < bestTs) {
              bestTs = ts;
              best = p;
            }
          } else if (!done.has(p)) {
            waiting = true;
          }
        }
        if (waiting) {
          let timer: NodeJS.Timeout | undefined;
          const woken = await new Promise<boolean>((r) => {
            wake = () => r(true);
            timer = setTimeout(() => r(false), STALL_CHECK_MS);
          });
          clearTimeout(timer);
          if (!woken) {
            const stalled = [...queues.keys()].filter((p) => !done.has(p) && heads.get(p)! >= queues.get(p)!.length);
            const gone = await deletedWhileReading(stalled).catch(() => undefined);
            if (gone !== undefined) throw gone;
          }
          continue;
        }
        if (best < 0) return;
        const q = queues.get(best)!;
        const h = heads.get(best)!;
        const item = q[h]!.item;
        heads.set(best, h + 1);
        // Compact the queue now and then instead of shifting per item.
        if (h + 1 >= 1_024 && h + 1 >= q.length / 2) {
          q.splice(0, h + 1);
          heads.set(best, 0);
        }
        if (paused.has(best) && q.length - heads.get(best)! < LOW_WATER) {
          paused.delete(best);
          c.resume([{ topic, partitions: [best] }]);
        }
        yield item;
      }
    },
    async close() {
      if (consumer !== undefined) await consumer.disconnect().catch(() => {});
      if (watchdog !== undefined) await watchdog.disconnect().catch(() => {});
    },
  };
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
