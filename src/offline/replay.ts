/**
 * Replays recorded events into a topic: as fast as possible, or paced at `speed` times
 * the original event-time gaps (event i is sent at wall start + (t_i − t_0) / speed).
 * Keys are kept; event times too (message timestamp = eventTime), or, with timestamps
 * 'now', each event is re-encoded with eventTime = its send time. Values are the source
 * bytes as read, whatever their framing (an event re-stamped by 'now' is re-encoded in its
 * own framing), unless a wire format is asked for: then every event is decoded and encoded
 * again in it (wire-format.ts). After every
 * acknowledged send the position is written to a small progress file, so a rerun with
 * resume continues after the last acknowledged event (at-least-once: a crash between a
 * send and its progress write replays that batch again; the service drops duplicates
 * by eventId).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { CompressionTypes, type Message, type Producer } from 'kafkajs';
import { SingleObjectCodec, type InteractionEvent } from '../codec/index.js';
import { RebalancerError } from '../errors.js';
import { retentionWarning } from '../adapters/sink.js';
import type { EventSource, SourceItem } from '../adapters/sources.js';
import { TopicEncoders, type EventEncode, type WireFormat } from '../adapters/wire-format.js';
import { z } from 'zod';

export const REPLAY_TIMESTAMPS = ['original', 'now'] as const;
export type ReplayTimestamps = (typeof REPLAY_TIMESTAMPS)[number];

const sourceIdSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('file'), path: z.string(), size: z.number().int().min(0) }),
  z.object({ kind: z.literal('topic'), topic: z.string() }),
]);
export type SourceId = z.infer<typeof sourceIdSchema>;

/** The progress file of a resumable replay, as read back from disk (validated, never cast). */
const progressFileSchema = z.object({
  version: z.literal(1),
  source: sourceIdSchema,
  target: z.string(),
  /** Events acknowledged by the target so far (over all runs). */
  replayed: z.number().int().min(0),
  /** File: where to continue. */
  file: z.object({ offset: z.number().int().min(0), index: z.number().int().min(0) }).optional(),
  /** Topic: next offset per source partition. */
  partitions: z.record(z.string(), z.number().int().min(0)).optional(),
  updatedAt: z.string(),
});
export type ReplayProgressFile = z.infer<typeof progressFileSchema>;

export function readProgressFile(path: string, source: SourceId, target: string): ReplayProgressFile | undefined {
  if (!existsSync(path)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new RebalancerError('REB_INPUT_INVALID', `progress file ${path} is not valid JSON (delete it to start over): ${(err as Error).message}`, { path });
  }
  const parsed = progressFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new RebalancerError('REB_INPUT_INVALID', `progress file ${path} is not a replay progress file (${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}); delete it to start over`, { path });
  }
  const p = parsed.data;
  if (JSON.stringify(p.source) !== JSON.stringify(source) || p.target !== target) {
    throw new RebalancerError('REB_INPUT_INVALID', `progress file ${path} belongs to another replay (${JSON.stringify(p.source)} → ${String(p.target)}); use --progress-file to pick another or delete it`, { path });
  }
  return p;
}

function writeProgressFile(path: string, p: ReplayProgressFile): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(p));
  renameSync(tmp, path);
}

export interface ReplayOptions {
  target: string;
  /** 0 = as fast as possible. */
  speed: number;
  /** 'key': the producer's partitioner picks by key; 'source': keep the source partition. */
  partitioning: 'key' | 'source';
  /** 'original' (default): keep event times; 'now': re-stamp each event (payload and message) with its send time. */
  timestamps?: ReplayTimestamps;
  /** undefined (default): keep each message's bytes (framing included); a format: re-encode every event in it. */
  wireFormat?: WireFormat;
  /** Encoders for the target (Confluent ones register `<target>-value` on first use); default: single-object only. */
  encoders?: TopicEncoders;
  /**
   * Called once, when the first event is read and before it is sent (so a replay with nothing
   * to send creates no topic): prepares the target and returns its time retention in ms
   * (undefined when it keeps messages). Events older than that are warned about, once.
   */
  prepareTarget?(): Promise<number | undefined>;
  /** One-line warnings (retention). */
  onWarning?(line: string): void;
  batchSize: number;
  progressFile: string;
  sourceId: SourceId;
  /** Progress of earlier runs when resuming. */
  resumed: ReplayProgressFile | undefined;
  onProgress(replayed: number): void;
  /** Injected for tests of pacing; defaults to the wall clock. */
  now?: () => number;
}

export interface ReplaySummary {
  replayed: number;
  /** Replayed in this run. */
  thisRun: number;
  firstEventTime: number | undefined;
  lastEventTime: number | undefined;
  wallMs: number;
}

/** Longest wall time an event waits in a batch while pacing (keeps pacing smooth). */
const MAX_BATCH_DELAY_MS = 20;

export async function replay(source: EventSource, producer: Producer, opts: ReplayOptions): Promise<ReplaySummary> {
  const run = new ReplayRun(producer, opts);
  for await (const item of source.items()) await run.add(item);
  await run.flush();
  return run.summary();
}

/** The progress to continue: the resumed one (copied), or a fresh one. */
function startProgress(opts: ReplayOptions, started: number): ReplayProgressFile {
  const progress: ReplayProgressFile = opts.resumed !== undefined
    ? { ...opts.resumed, partitions: { ...opts.resumed.partitions } }
    : { version: 1, source: opts.sourceId, target: opts.target, replayed: 0, updatedAt: new Date(started).toISOString() };
  if (opts.sourceId.kind === 'topic') progress.partitions ??= {};
  return progress;
}

/** One replay: items are paced, turned into messages and sent in batches, the progress written after each. */
class ReplayRun {
  private readonly now: () => number;
  private readonly started: number;
  private readonly progress: ReplayProgressFile;
  private readonly restamp: boolean;
  private readonly encoders: TopicEncoders;
  private readonly encodeBy = new Map<WireFormat, EventEncode>();
  private batch: Message[] = [];
  private batchItems: SourceItem[] = [];
  private batchOpenedAt = 0;
  private thisRun = 0;
  private first: number | undefined;
  private last: number | undefined;
  private wallStart = 0;
  private retentionMs: number | undefined;
  private warned: boolean;

  constructor(private readonly producer: Producer, private readonly opts: ReplayOptions) {
    this.now = opts.now ?? Date.now;
    this.started = this.now();
    this.progress = startProgress(opts, this.started);
    this.restamp = opts.timestamps === 'now';
    this.warned = opts.timestamps === 'now';
    this.encoders = opts.encoders ?? new TopicEncoders(opts.target, undefined);
  }

  async add(item: SourceItem): Promise<void> {
    const { opts } = this;
    if (this.first === undefined) {
      this.retentionMs = await opts.prepareTarget?.();
      this.first = item.timestamp;
      this.wallStart = this.now();
    }
    this.last = item.timestamp;
    if (opts.speed > 0) await this.pace(item.timestamp - this.first);
    this.warnRetention(item.timestamp);
    if (this.batch.length === 0) this.batchOpenedAt = this.now();
    this.batch.push(await this.message(item));
    this.batchItems.push(item);
    if (this.batch.length >= opts.batchSize || (opts.speed > 0 && this.now() - this.batchOpenedAt >= MAX_BATCH_DELAY_MS)) await this.flush();
  }

  /** Sends the batch, then records its positions in the progress file. */
  async flush(): Promise<void> {
    const { batch, progress } = this;
    if (batch.length === 0) return;
    await this.producer.send({ topic: this.opts.target, messages: batch, compression: CompressionTypes.None });
    for (const item of this.batchItems) {
      if (item.partition < 0) progress.file = { offset: item.position, index: item.nextIndex };
      else progress.partitions![String(item.partition)] = item.position + 1;
    }
    progress.replayed += batch.length;
    this.thisRun += batch.length;
    progress.updatedAt = new Date(this.now()).toISOString();
    writeProgressFile(this.opts.progressFile, progress);
    this.opts.onProgress(progress.replayed);
    this.batch = [];
    this.batchItems = [];
  }

  summary(): ReplaySummary {
    return { replayed: this.progress.replayed, thisRun: this.thisRun, firstEventTime: this.first, lastEventTime: this.last, wallMs: this.now() - this.started };
  }

  /** Waits until an event `sinceFirst` ms of event time after the first is due (sending what is batched first). */
  private async pace(sinceFirst: number): Promise<void> {
    const due = this.wallStart + sinceFirst / this.opts.speed;
    const wait = due - this.now();
    if (wait > 2) {
      await this.flush();
      const rest = due - this.now();
      if (rest > 0) await sleep(rest);
    }
  }

  /** Warns once when the target's retention would delete an event of this time at once. */
  private warnRetention(eventTime: number): void {
    if (this.warned || this.retentionMs === undefined) return;
    const warning = retentionWarning(this.opts.target, this.retentionMs, eventTime, this.now());
    if (warning !== undefined) {
      this.warned = true;
      this.opts.onWarning?.(warning);
    }
  }

  private async message(item: SourceItem): Promise<Message> {
    let message: Message;
    if (this.restamp) {
      const sentAt = this.now();
      message = { key: item.key, value: await this.valueOf(item, { ...item.event, eventTime: sentAt }), timestamp: String(sentAt) };
    } else {
      message = { key: item.key, value: await this.valueOf(item, item.event), timestamp: String(item.timestamp) };
    }
    if (item.headers !== undefined) message.headers = item.headers;
    if (this.opts.partitioning === 'source') {
      if (item.partition < 0) throw new RebalancerError('REB_INPUT_INVALID', '--partitioning source needs a topic as the source (a file has no partitions)');
      message.partition = item.partition;
    }
    return message;
  }

  /** The value to send: the source bytes, or the event encoded in the asked framing (else the source's own). */
  private async valueOf(item: SourceItem, event: InteractionEvent): Promise<Buffer> {
    if (!this.restamp && this.opts.wireFormat === undefined) return item.value;
    const format = this.opts.wireFormat ?? SingleObjectCodec.framingOf(item.value) ?? 'single-object';
    let encode = this.encodeBy.get(format);
    if (encode === undefined) {
      encode = await this.encoders.encoder(format);
      this.encodeBy.set(format, encode);
    }
    return encode(event);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
