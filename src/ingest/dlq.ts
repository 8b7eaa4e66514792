import { createHash } from 'node:crypto';
import type { Message, Producer } from 'kafkajs';
import type { ErrorCode } from '../errors.js';

/** Header names on every dead-letter record (values are UTF-8 strings). */
export const DLQ_HEADERS = {
  reason: 'rebalancer.reason',
  code: 'rebalancer.error.code',
  message: 'rebalancer.error.message',
  topic: 'rebalancer.source.topic',
  partition: 'rebalancer.source.partition',
  offset: 'rebalancer.source.offset',
  timestamp: 'rebalancer.source.timestamp',
  /** Only when the source key was longer than DLQ_MAX_KEY_BYTES: its length; the key is cut to that many bytes. */
  keyBytes: 'rebalancer.source.key.bytes',
  /** Only on a record the DLQ topic refused whole: "true", and the payload is its first `excerptBytes` bytes. */
  truncated: 'rebalancer.payload.truncated',
  /** Only on a truncated record: the original payload's length in bytes. */
  originalBytes: 'rebalancer.payload.original.bytes',
  /** Only on a truncated record: SHA-256 of the original payload, hex. */
  sha256: 'rebalancer.payload.sha256',
  /** Only on a truncated record: the Kafka error that refused it whole (e.g. MESSAGE_TOO_LARGE). */
  refusal: 'rebalancer.dlq.refusal',
} as const;

/**
 * Kafka errors that refuse a record for what it is, so sending it again cannot succeed
 * (kafkajs protocol error types, src/protocol/error.js of kafkajs 2.2.4): a record or
 * record batch over the topic's `max.message.bytes` (MESSAGE_TOO_LARGE) or the segment
 * size (RECORD_LIST_TOO_LARGE), a record the broker's validation rejects (INVALID_RECORD,
 * e.g. no key on a compacted topic), a record it finds corrupt (CORRUPT_MESSAGE; kafkajs
 * retries it itself first) or a timestamp out of the topic's range (INVALID_TIMESTAMP).
 * Everything else (broker down, no leader, timeouts, authorization, unknown topic) is about
 * the path, not the record, and is retried until it succeeds: dropping there would lose
 * every dead letter of an outage.
 */
export const DLQ_REFUSALS = ['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE', 'INVALID_TIMESTAMP'] as const;
export type DlqRefusal = (typeof DLQ_REFUSALS)[number];

/** The bounded metric label of a refusal (rebalancer_dlq_truncated_total / rebalancer_dlq_dropped_total). */
export const DLQ_REFUSAL_LABELS: readonly string[] = DLQ_REFUSALS.map(refusalLabel);

/** Bytes of a refused payload kept in its truncated copy. */
export const DLQ_EXCERPT_BYTES = 1_024;

/**
 * Longest source key copied to the dead letter; a longer one is cut (and its length put in
 * a header). kafkajs hashes every key with a murmur2 over 64-bit `Long` objects, in time
 * that grows faster than the key (1.5 s at 150 KB, measured here): an attacker-sized key
 * would otherwise stall the event loop on the dead-letter path.
 */
export const DLQ_MAX_KEY_BYTES = 1_024;

export interface DeadLetter {
  /** Original payload bytes, unchanged (null for a tombstone). */
  value: Buffer | null;
  key: Buffer | null;
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  /** Bounded reason label (also the metric label). */
  reason: string;
  code: ErrorCode;
  message: string;
}

/** Counters the sink feeds; label = a DLQ_REFUSAL_LABELS value. */
export interface DeadLetterMetrics {
  dlqTruncated(refusal: string): { inc(): void };
  dlqDropped(refusal: string): { inc(): void };
}

export interface DeadLetterSinkOptions {
  producer: Pick<Producer, 'send'>;
  topic: string;
  /** Records buffered before a send is started without waiting for the linger. */
  maxBuffered?: number;
  lingerMs?: number;
  /** Bytes of a refused payload kept in its truncated copy (default DLQ_EXCERPT_BYTES). */
  excerptBytes?: number;
  metrics?: DeadLetterMetrics;
  /** The broker's acknowledgement timeout of one send, ms (kafkajs default 30 s); a timed-out send is retried. */
  timeoutMs?: number;
  /** Clock for the pending age (default Date.now). */
  now?: () => number;
  /** Wait before the next attempt after a retriable failure (default 100 ms doubling to 10 s). */
  retryDelayMs?: (attempt: number) => number;
  log(msg: string): void;
}

/**
 * Produces undecodable or invalid events to the dead-letter topic with their original
 * bytes and where they came from. `flush()` resolves when everything handed in so far is
 * settled, and the checkpointer awaits it before writing offsets, so a dead letter is
 * never lost by a commit. A failing DLQ never throws into the pipeline.
 *
 * Settled means one of: acknowledged whole; refused whole by the topic (DLQ_REFUSALS) and
 * acknowledged as a truncated copy (headers kept, plus truncated / original size / SHA-256
 * / refusal headers); or refused in both forms and dropped (logged with its provenance and
 * hash, counted in rebalancer_dlq_dropped_total). So a record the topic will never take
 * cannot hold checkpoints back. Retriable failures (broker down) are retried until they
 * succeed: nothing is lost in an outage, and `oldestPendingAgeMs` shows the stall.
 *
 * Sends are batched; a refused batch is halved and each half sent in order, so one bad
 * record costs O(log n) extra sends and never blocks the good ones. Delivery is at least
 * once: a batch spanning partitions may be partly written before a refusal, and its
 * written records are sent again with their half.
 */
export class DeadLetterSink {
  private buffer: DeadLetter[] = [];
  private inFlight: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private sentCount = 0;
  private truncatedCount = 0;
  private droppedCount = 0;
  private failures = 0;
  /** When each unsettled dead letter was added, oldest first (settlement is in order); from `head` on. */
  private addedAt: number[] = [];
  private head = 0;
  private readonly maxBuffered: number;
  private readonly lingerMs: number;
  private readonly excerptBytes: number;
  private readonly now: () => number;
  private readonly retryDelayMs: (attempt: number) => number;

  constructor(private readonly opts: DeadLetterSinkOptions) {
    this.maxBuffered = opts.maxBuffered ?? 500;
    this.lingerMs = opts.lingerMs ?? 50;
    this.excerptBytes = opts.excerptBytes ?? DLQ_EXCERPT_BYTES;
    this.now = opts.now ?? Date.now;
    this.retryDelayMs = opts.retryDelayMs ?? ((attempt) => Math.min(10_000, 100 * 2 ** Math.min(attempt, 7)));
  }

  /** Dead letters acknowledged by Kafka (whole or truncated). */
  get sent(): number {
    return this.sentCount;
  }

  /** Of `sent`, those stored as a truncated copy because the topic refused them whole. */
  get truncated(): number {
    return this.truncatedCount;
  }

  /** Dead letters the topic refused whole and truncated: logged and counted, not stored. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Failed send attempts (retriable failures and refusals). */
  get sendFailures(): number {
    return this.failures;
  }

  /** Dead letters added and not settled yet (buffered or being sent). */
  get pending(): number {
    return this.addedAt.length - this.head;
  }

  /**
   * Milliseconds the oldest unsettled dead letter has waited at `now` (0 when none): grows
   * without bound only while the DLQ path is stalled (broker or topic unavailable), which
   * is what a readiness check needs.
   */
  oldestPendingAgeMs(now: number): number {
    const oldest = this.addedAt[this.head];
    return oldest === undefined ? 0 : Math.max(0, now - oldest);
  }

  add(letter: DeadLetter): void {
    this.addedAt.push(this.now());
    this.buffer.push(letter);
    if (this.buffer.length >= this.maxBuffered) this.startSend();
    else this.timer ??= setTimeout(() => this.startSend(), this.lingerMs);
  }

  /** Resolves when every dead letter added so far is settled (acknowledged, truncated or dropped). */
  async flush(): Promise<void> {
    this.startSend();
    await this.inFlight;
  }

  private startSend(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.buffer.length === 0) return;
    const letters = this.buffer;
    this.buffer = [];
    // Chain sends so they complete in order and flush() can await the tail.
    this.inFlight = this.inFlight.then(() => this.deliver(letters.map((l) => ({ letter: l, message: wholeMessage(l) }))));
  }

  private async deliver(batch: Outgoing[]): Promise<void> {
    const refusal = await this.sendRetrying(batch.map((o) => o.message));
    if (refusal === undefined) {
      this.sentCount += batch.length;
      this.settle(batch.length);
      return;
    }
    if (batch.length > 1) {
      const mid = batch.length >>> 1;
      await this.deliver(batch.slice(0, mid));
      await this.deliver(batch.slice(mid));
      return;
    }
    await this.deliverTruncated(batch[0]!.letter, refusal);
  }

  /** The topic refused this record whole: store a bounded copy, or drop it with a log line and a count. */
  private async deliverTruncated(letter: DeadLetter, refusal: DlqRefusal): Promise<void> {
    const where = `${letter.topic}/${letter.partition}@${letter.offset}`;
    const size = letter.value?.length ?? 0;
    const sha256 = createHash('sha256').update(letter.value ?? Buffer.alloc(0)).digest('hex');
    const second = await this.sendRetrying([truncatedMessage(letter, refusal, this.excerptBytes, sha256)]);
    if (second === undefined) {
      this.sentCount++;
      this.truncatedCount++;
      this.opts.metrics?.dlqTruncated(refusalLabel(refusal)).inc();
      this.opts.log(`dead letter ${where} (reason ${letter.reason}, ${size} bytes) refused whole by ${this.opts.topic} (${refusal}): stored truncated to ${Math.min(size, this.excerptBytes)} bytes, sha256 ${sha256}`);
    } else {
      this.droppedCount++;
      this.opts.metrics?.dlqDropped(refusalLabel(second)).inc();
      this.opts.log(`dead letter ${where} (reason ${letter.reason}, ${size} bytes, sha256 ${sha256}) DROPPED: ${this.opts.topic} refused it whole (${refusal}) and truncated (${second})`);
    }
    this.settle(1);
  }

  /** Sends until acknowledged (undefined) or refused for what the records are (the refusal). */
  private async sendRetrying(messages: Message[]): Promise<DlqRefusal | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.opts.producer.send({ topic: this.opts.topic, messages, acks: -1, ...(this.opts.timeoutMs === undefined ? {} : { timeout: this.opts.timeoutMs }) });
        return undefined;
      } catch (err) {
        this.failures++;
        const refusal = refusalOf(err);
        if (refusal !== undefined) return refusal;
        const delay = this.retryDelayMs(attempt);
        this.opts.log(`dead-letter send of ${messages.length} records failed (attempt ${attempt + 1}, retrying in ${delay} ms): ${err instanceof Error ? err.message : String(err)}`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private settle(count: number): void {
    this.head += count;
    if (this.head >= 1_024 && this.head * 2 >= this.addedAt.length) {
      this.addedAt = this.addedAt.slice(this.head);
      this.head = 0;
    }
  }
}

interface Outgoing {
  letter: DeadLetter;
  message: Message;
}

/**
 * The Kafka refusal a send error carries, if any: kafkajs throws the protocol error itself
 * for a non-retriable one, and wraps a retriable one it gave up on
 * (KafkaJSNumberOfRetriesExceeded) with the original as `cause`.
 */
export function refusalOf(err: unknown): DlqRefusal | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && typeof e === 'object' && e !== null; depth++) {
    if ('type' in e && typeof e.type === 'string') {
      const type = e.type;
      const refusal = DLQ_REFUSALS.find((r) => r === type);
      if (refusal !== undefined) return refusal;
    }
    e = 'cause' in e ? e.cause : undefined;
  }
  return undefined;
}

function refusalLabel(refusal: DlqRefusal): string {
  return refusal.toLowerCase();
}

function provenanceHeaders(l: DeadLetter): Record<string, string> {
  const headers: Record<string, string> = {
    [DLQ_HEADERS.reason]: l.reason,
    [DLQ_HEADERS.code]: l.code,
    [DLQ_HEADERS.message]: l.message.slice(0, 1_000),
    [DLQ_HEADERS.topic]: l.topic,
    [DLQ_HEADERS.partition]: String(l.partition),
    [DLQ_HEADERS.offset]: l.offset,
    [DLQ_HEADERS.timestamp]: l.timestamp,
  };
  if (l.key !== null && l.key.length > DLQ_MAX_KEY_BYTES) headers[DLQ_HEADERS.keyBytes] = String(l.key.length);
  return headers;
}

function boundedKey(key: Buffer | null): Buffer | null {
  return key !== null && key.length > DLQ_MAX_KEY_BYTES ? key.subarray(0, DLQ_MAX_KEY_BYTES) : key;
}

function wholeMessage(l: DeadLetter): Message {
  return { key: boundedKey(l.key), value: l.value, headers: provenanceHeaders(l) };
}

function truncatedMessage(l: DeadLetter, refusal: DlqRefusal, excerptBytes: number, sha256: string): Message {
  return {
    key: boundedKey(l.key),
    value: l.value === null ? null : l.value.subarray(0, excerptBytes),
    headers: {
      ...provenanceHeaders(l),
      [DLQ_HEADERS.truncated]: 'true',
      [DLQ_HEADERS.originalBytes]: String(l.value?.length ?? 0),
      [DLQ_HEADERS.sha256]: sha256,
      [DLQ_HEADERS.refusal]: refusal,
    },
  };
}
