/**
 * `rebalancer inspect`: what an event file or a topic holds, event by event, and a summary.
 *
 * Records are decoded in either framing, chosen per record by its first byte (Avro
 * single-object or Confluent, see codec/single-object.ts). A Confluent schema id the codec
 * has not learned is fetched from the schema registry, when one is given, once per id; an
 * id that cannot be fetched, and every payload that does not decode, is reported (one
 * line, its error code) and counted, never fatal. Nothing is validated beyond decoding:
 * inspect shows what is there.
 */
import { randomBytes } from 'node:crypto';
import type { EachBatchPayload, Kafka } from 'kafkajs';
import { createEventCodec, type InteractionEvent } from '../codec/index.js';
import { CONFLUENT_HEADER_BYTES, HEADER_BYTES, SingleObjectCodec, type Framing } from '../codec/single-object.js';
import { RebalancerError, isRebalancerError } from '../errors.js';
import type { SchemaRegistryClient } from '../adapters/kafka/schema-registry.js';
import { openEventFile } from '../adapters/event-file.js';
import { withTopicOffsets } from '../adapters/sources.js';

/** One record to inspect: its value and where it was read. */
export interface InspectRecord {
  value: Buffer | null;
  /** Topic partition; undefined for a file. */
  partition: number | undefined;
  /** Topic: the message offset; file: the record number (0-based). */
  offset: number;
  /** For messages: `file record 12`, `topic[0]@34`. */
  where: string;
}

/** The framing of a record, or `none` when its first bytes announce neither. */
export type SeenFraming = Framing | 'none';

/** Reason key of a message without a value (a tombstone): no error code applies. */
export const TOMBSTONE = 'tombstone';

export type Decoded =
  | { ok: true; event: InteractionEvent; framing: Framing }
  | { ok: false; framing: SeenFraming; code: string; message: string; schemaId: number | undefined };

/** After a registry outage, an id is asked for again no sooner than this (ms). */
export const REGISTRY_RETRY_MS = 10_000;

export interface DecoderOptions {
  /** Fetches Confluent schema ids; without it a Confluent record is undecodable (REB_DECODE_UNKNOWN_SCHEMA_ID). */
  registry?: SchemaRegistryClient;
  /** Clock for the outage back-off (ms). */
  now?: () => number;
}

/**
 * Decodes records of either framing. Each schema id is asked of the registry once: a
 * definite answer (learned, unknown id, incompatible schema) is kept for the run; an outage
 * (REB_REGISTRY_UNAVAILABLE) is kept REGISTRY_RETRY_MS, then the id is asked again.
 */
export class InspectDecoder {
  private readonly codec: SingleObjectCodec<InteractionEvent> = createEventCodec();
  private readonly failed = new Map<number, { error: RebalancerError; at: number }>();
  private readonly registry: SchemaRegistryClient | undefined;
  private readonly now: () => number;

  constructor(options: DecoderOptions = {}) {
    this.registry = options.registry;
    this.now = options.now ?? Date.now;
  }

  async decode(value: Buffer | null): Promise<Decoded> {
    if (value === null) return { ok: false, framing: 'none', code: TOMBSTONE, message: 'message has no value (tombstone)', schemaId: undefined };
    const framing = SingleObjectCodec.framingOf(value) ?? 'none';
    const schemaId = framing === 'confluent' && value.length >= CONFLUENT_HEADER_BYTES ? value.readUInt32BE(1) : undefined;
    try {
      return { ok: true, event: this.codec.decode(value), framing: framing === 'none' ? 'single-object' : framing };
    } catch (err) {
      if (!isRebalancerError(err)) throw err;
      if (err.code !== 'REB_DECODE_UNKNOWN_SCHEMA_ID' || framing !== 'confluent' || schemaId === undefined) return failure(framing, err, schemaId);
      const learnt = await this.learn(schemaId);
      if (learnt !== undefined) return failure(framing, learnt, schemaId);
      try {
        return { ok: true, event: this.codec.decode(value), framing };
      } catch (again) {
        if (!isRebalancerError(again)) throw again;
        return failure(framing, again, schemaId);
      }
    }
  }

  /** Teaches the codec `id`; the error that prevents it, or undefined once learned. */
  private async learn(id: number): Promise<RebalancerError | undefined> {
    if (this.registry === undefined) {
      return new RebalancerError('REB_DECODE_UNKNOWN_SCHEMA_ID', `Confluent schema id ${id} is unknown without a schema registry (pass --schema-registry <url>)`, { schemaId: id });
    }
    const before = this.failed.get(id);
    if (before !== undefined && (before.error.code !== 'REB_REGISTRY_UNAVAILABLE' || this.now() - before.at < REGISTRY_RETRY_MS)) return before.error;
    try {
      await this.registry.learn(this.codec, id);
      this.failed.delete(id);
      return undefined;
    } catch (err) {
      if (!isRebalancerError(err)) throw err;
      this.failed.set(id, { error: err, at: this.now() });
      return err;
    }
  }
}

function failure(framing: SeenFraming, err: RebalancerError, schemaId: number | undefined): Decoded {
  return { ok: false, framing, code: err.code, message: err.message, schemaId };
}

/** What `--summary` prints (and the stderr summary says in words). */
export interface InspectSummaryJson {
  records: number;
  events: number;
  categories: { distinct: number; top: { category: string; count: number }[] };
  types: Record<string, number>;
  timeSpan: { first: string; last: string; ms: number } | null;
  framings: {
    'single-object': { count: number; fingerprints: Record<string, number> };
    confluent: { count: number; schemaIds: Record<string, number> };
    none: number;
  };
  undecodable: { count: number; reasons: Record<string, number>; schemaIds: Record<string, number> };
}

function increment<K>(m: Map<K, number>, k: K): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

function sortedObject<K extends string | number>(m: Map<K, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])))) out[String(k)] = v;
  return out;
}

/** Counts of what was read. */
export class InspectSummary {
  private records = 0;
  private events = 0;
  private readonly categories = new Map<string, number>();
  private readonly types = new Map<string, number>();
  private first = Infinity;
  private last = -Infinity;
  private readonly framings = new Map<SeenFraming, number>();
  private readonly fingerprints = new Map<string, number>();
  private readonly schemaIds = new Map<number, number>();
  private readonly reasons = new Map<string, number>();
  private readonly undecodedIds = new Map<number, number>();
  private undecodable = 0;

  add(value: Buffer | null, d: Decoded): void {
    this.records++;
    increment(this.framings, d.framing);
    if (value !== null && d.framing === 'single-object' && value.length >= HEADER_BYTES) increment(this.fingerprints, value.subarray(2, HEADER_BYTES).toString('hex'));
    if (value !== null && d.framing === 'confluent' && value.length >= CONFLUENT_HEADER_BYTES) increment(this.schemaIds, value.readUInt32BE(1));
    if (!d.ok) {
      this.undecodable++;
      increment(this.reasons, d.code);
      if (d.schemaId !== undefined) increment(this.undecodedIds, d.schemaId);
      return;
    }
    const e = d.event;
    this.events++;
    increment(this.categories, e.categoryId);
    increment(this.types, e.type);
    if (e.eventTime < this.first) this.first = e.eventTime;
    if (e.eventTime > this.last) this.last = e.eventTime;
  }

  get count(): number {
    return this.records;
  }

  toJSON(top = 10): InspectSummaryJson {
    const cats = [...this.categories].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    return {
      records: this.records,
      events: this.events,
      categories: { distinct: cats.length, top: cats.slice(0, top).map(([category, count]) => ({ category, count })) },
      types: sortedObject(this.types),
      timeSpan: this.events === 0 ? null : { first: isoTime(this.first), last: isoTime(this.last), ms: this.last - this.first },
      framings: {
        'single-object': { count: this.framings.get('single-object') ?? 0, fingerprints: sortedObject(this.fingerprints) },
        confluent: { count: this.framings.get('confluent') ?? 0, schemaIds: sortedObject(this.schemaIds) },
        none: this.framings.get('none') ?? 0,
      },
      undecodable: { count: this.undecodable, reasons: sortedObject(this.reasons), schemaIds: sortedObject(this.undecodedIds) },
    };
  }

  /** The summary in words, a few lines for stderr. */
  describe(top = 10): string[] {
    const s = this.toJSON(top);
    const list = (o: Record<string, number>, label = ''): string => Object.entries(o).map(([k, v]) => `${label}${k} ${v}`).join(', ');
    const so = s.framings['single-object'];
    const cf = s.framings.confluent;
    const lines = [
      `${s.records} records: ${s.events} events, ${s.undecodable.count} undecodable${s.undecodable.count > 0 ? ` (${list(s.undecodable.reasons)}${Object.keys(s.undecodable.schemaIds).length > 0 ? `; schema ids ${list(s.undecodable.schemaIds)}` : ''})` : ''}`,
      `framings: single-object ${so.count}${so.count > 0 ? ` (fingerprint ${list(so.fingerprints)})` : ''}, confluent ${cf.count}${cf.count > 0 ? ` (schema id ${list(cf.schemaIds)})` : ''}${s.framings.none > 0 ? `, neither ${s.framings.none}` : ''}`,
    ];
    if (s.timeSpan !== null) lines.push(`event time: ${s.timeSpan.first} .. ${s.timeSpan.last} (${formatSpan(s.timeSpan.ms)})`);
    if (s.events > 0) {
      lines.push(`types: ${list(s.types)}`);
      lines.push(`categories: ${s.categories.distinct} (top ${Math.min(top, s.categories.distinct)}: ${s.categories.top.map((c) => `${c.category} ${c.count}`).join(', ')})`);
    }
    return lines;
  }
}

function isoTime(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

function formatSpan(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1_000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${(ms / 60_000).toFixed(1)} min`;
  if (ms < 172_800_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
}

/**
 * One event as a JSON line: the decoded fields, then `framing`, and for a topic
 * `partition` and `offset`. bigint-safe: a bigint (an Avro long past 2^53 decoded as such)
 * is written as its decimal string, never thrown on or rounded.
 */
export function eventLine(event: InteractionEvent, framing: Framing, partition?: number, offset?: number): string {
  const line = partition === undefined ? { ...event, framing } : { ...event, framing, partition, offset };
  return JSON.stringify(line, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** Records of an event file, from record number `from`. */
export async function* fileRecords(path: string, from = 0): AsyncGenerator<InspectRecord> {
  const file = openEventFile(path);
  try {
    for (const rec of file.records()) {
      if (rec.index < from) continue;
      yield { value: rec.payload, partition: undefined, offset: rec.index, where: `${path} record ${rec.index}` };
    }
  } finally {
    file.close();
  }
}

export interface TopicReadOptions {
  topic: string;
  /** First offset in every partition (clamped to [log start, end]); default: the log start. */
  fromOffset?: number;
  /** Only this partition. */
  partition?: number;
  /** Keep reading new messages until `signal` aborts; otherwise stop at the end offsets seen at start. */
  follow: boolean;
  signal: AbortSignal;
  /** Called once the consumer has joined and reads (follow: from then on new messages show). */
  onReady?: (partitions: number[]) => void;
}

/** Per partition to read: its first offset and its end (exclusive; Infinity when following). */
interface ReadBounds {
  starts: Map<number, number>;
  ends: Map<number, number>;
  /** Every partition of the topic, read or not. */
  all: number[];
}

/**
 * Reads a topic's messages, each partition in offset order (partitions interleave as the
 * broker delivers them), handing each to `handle`; `handle` returns false to stop. Resolves
 * when every partition has reached its end (not following), `handle` stops, or `signal`
 * aborts. A consumer group of its own, nothing committed.
 */
export async function readTopic(kafka: Kafka, options: TopicReadOptions, handle: (r: InspectRecord) => Promise<boolean>): Promise<void> {
  const bounds = await readBounds(kafka, options);
  const open = new Set([...bounds.starts].filter(([p, s]) => s < bounds.ends.get(p)!).map(([p]) => p));
  if (open.size === 0 || options.signal.aborted) return;
  await consumeOpen(kafka, options, bounds, open, handle);
}

/** The partitions to read (one, with --partition) and their offsets, clamped to the log. */
function readBounds(kafka: Kafka, options: TopicReadOptions): Promise<ReadBounds> {
  const { topic } = options;
  return withTopicOffsets(kafka, topic, 'topic', (_admin, offsets) => {
    if (options.partition !== undefined && !offsets.some((o) => o.partition === options.partition)) {
      throw new RebalancerError('REB_INPUT_INVALID', `--partition ${options.partition}: topic ${topic} has partitions 0..${offsets.length - 1}`, { flag: 'partition' });
    }
    const bounds: ReadBounds = { starts: new Map(), ends: new Map(), all: [] };
    for (const o of offsets) {
      bounds.all.push(o.partition);
      if (options.partition !== undefined && o.partition !== options.partition) continue;
      const low = Number(o.low);
      const high = Number(o.high);
      bounds.starts.set(o.partition, Math.min(Math.max(low, options.fromOffset ?? low), high));
      bounds.ends.set(o.partition, options.follow ? Infinity : high);
    }
    return Promise.resolve(bounds);
  });
}

/** The end of a read: `finished` settles at the first finish() (an error rejects it); `stopped` from then on. */
class ReadEnd {
  stopped = false;
  readonly finished: Promise<void>;
  private settle: (err?: Error) => void = () => {};

  constructor() {
    this.finished = new Promise<void>((resolve, reject) => {
      this.settle = (err) => (err === undefined ? resolve() : reject(err));
    });
  }

  readonly finish = (err?: Error): void => {
    this.stopped = true;
    this.settle(err);
  };
}

/** Consumes the open partitions from their start offsets until the read ends (see readTopic). */
async function consumeOpen(kafka: Kafka, options: TopicReadOptions, bounds: ReadBounds, open: Set<number>, handle: (r: InspectRecord) => Promise<boolean>): Promise<void> {
  const { topic } = options;
  const end = new ReadEnd();
  const onAbort = (): void => end.finish();
  options.signal.addEventListener('abort', onAbort, { once: true });
  const consumer = kafka.consumer({ groupId: `rebalancer-inspect-${randomBytes(6).toString('hex')}`, allowAutoTopicCreation: false });
  try {
    await consumer.connect();
    consumer.on(consumer.events.CRASH, (e) => {
      const why = (e.payload as { error?: Error }).error?.message ?? 'crash';
      end.finish(new RebalancerError('REB_KAFKA_CONSUMER_DEAD', `inspect consumer of ${topic} stopped: ${why}`, { topic }));
    });
    consumer.on(consumer.events.GROUP_JOIN, () => options.onReady?.([...bounds.starts.keys()]));
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: true, eachBatch: batchReader(topic, bounds, open, handle, end) });
    // Partitions with nothing to read (or filtered out) are paused; the others start at their start offset.
    const idle = bounds.all.filter((p) => !open.has(p));
    if (idle.length > 0) consumer.pause([{ topic, partitions: idle }]);
    for (const p of open) consumer.seek({ topic, partition: p, offset: String(bounds.starts.get(p)!) });
    await end.finished;
  } finally {
    options.signal.removeEventListener('abort', onAbort);
    await consumer.disconnect().catch(() => {});
  }
}

/** Hands each message of a batch within its partition's bounds to `handle`; a partition past its end is closed, the last one ends the read. */
function batchReader(topic: string, bounds: ReadBounds, open: Set<number>, handle: (r: InspectRecord) => Promise<boolean>, end: ReadEnd): (payload: EachBatchPayload) => Promise<void> {
  return async ({ batch, heartbeat }) => {
    const p = batch.partition;
    if (end.stopped || !open.has(p)) return;
    const start = bounds.starts.get(p)!;
    const stop = bounds.ends.get(p)!;
    for (const m of batch.messages) {
      if (end.stopped) return;
      const offset = Number(m.offset);
      if (offset < start) continue;
      if (offset >= stop) break;
      if (!(await handle({ value: m.value, partition: p, offset, where: `${topic}[${p}]@${offset}` }))) {
        end.finish();
        return;
      }
      if (offset >= stop - 1) break;
    }
    await heartbeat();
    if (Number(batch.lastOffset()) >= stop - 1) open.delete(p);
    if (open.size === 0) end.finish();
  };
}

export interface InspectOptions {
  decoder: InspectDecoder;
  summary: InspectSummary;
  /** Stop after this many records (events and undecodable ones). */
  limit?: number;
  /** Writes one event line (resolves when there is room for more); undefined: no event lines. */
  write?: (line: string) => void | Promise<void>;
  /** Reports one undecodable record. */
  onUndecodable: (where: string, code: string, message: string) => void;
}

/**
 * Decodes one record, counts it and writes its line; false once `limit` records are done
 * (the caller stops reading).
 */
export function recordHandler(o: InspectOptions): (r: InspectRecord) => Promise<boolean> {
  return async (r) => {
    if (o.limit !== undefined && o.summary.count >= o.limit) return false;
    const d = await o.decoder.decode(r.value);
    o.summary.add(r.value, d);
    if (d.ok) {
      if (o.write !== undefined) await o.write(eventLine(d.event, d.framing, r.partition, r.partition === undefined ? undefined : r.offset));
    } else {
      o.onUndecodable(r.where, d.code, d.message);
    }
    return o.limit === undefined || o.summary.count < o.limit;
  };
}

/** Inspects an event file's records from record `from`. */
export async function inspectFile(path: string, from: number, o: InspectOptions, signal?: AbortSignal): Promise<void> {
  const handle = recordHandler(o);
  if (o.limit === 0) return;
  for await (const r of fileRecords(path, from)) {
    if (signal?.aborted === true || !(await handle(r))) break;
  }
}

/** Inspects a topic (see readTopic). */
export async function inspectTopic(kafka: Kafka, read: TopicReadOptions, o: InspectOptions): Promise<void> {
  if (o.limit === 0) return;
  await readTopic(kafka, read, recordHandler(o));
}
