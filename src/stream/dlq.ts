import type { Producer } from 'kafkajs';
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
} as const;

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

export interface DeadLetterSinkOptions {
  producer: Producer;
  topic: string;
  /** Records buffered before a send is started without waiting for the linger. */
  maxBuffered?: number;
  lingerMs?: number;
  log(msg: string): void;
}

/**
 * Produces undecodable or invalid events to the dead-letter topic with their original
 * bytes and where they came from. Sends are batched and retried until they succeed;
 * `flush()` resolves only when everything handed in so far is acknowledged, and the
 * checkpointer awaits it before writing offsets, so a dead letter is never lost by a
 * commit. A failing DLQ never throws into the pipeline: it holds the checkpoint back.
 */
export class DeadLetterSink {
  private buffer: DeadLetter[] = [];
  private inFlight: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private sentCount = 0;
  private failures = 0;
  private readonly maxBuffered: number;
  private readonly lingerMs: number;

  constructor(private readonly opts: DeadLetterSinkOptions) {
    this.maxBuffered = opts.maxBuffered ?? 500;
    this.lingerMs = opts.lingerMs ?? 50;
  }

  get sent(): number {
    return this.sentCount;
  }

  get sendFailures(): number {
    return this.failures;
  }

  get pending(): number {
    return this.buffer.length;
  }

  add(letter: DeadLetter): void {
    this.buffer.push(letter);
    if (this.buffer.length >= this.maxBuffered) this.startSend();
    else this.timer ??= setTimeout(() => this.startSend(), this.lingerMs);
  }

  /** Resolves when every dead letter added so far is acknowledged by Kafka. */
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
    this.inFlight = this.inFlight.then(() => this.sendWithRetry(letters));
  }

  private async sendWithRetry(letters: DeadLetter[]): Promise<void> {
    const messages = letters.map((l) => ({
      key: l.key,
      value: l.value,
      headers: {
        [DLQ_HEADERS.reason]: l.reason,
        [DLQ_HEADERS.code]: l.code,
        [DLQ_HEADERS.message]: l.message.slice(0, 1_000),
        [DLQ_HEADERS.topic]: l.topic,
        [DLQ_HEADERS.partition]: String(l.partition),
        [DLQ_HEADERS.offset]: l.offset,
        [DLQ_HEADERS.timestamp]: l.timestamp,
      },
    }));
    for (let attempt = 0; ; attempt++) {
      try {
        await this.opts.producer.send({ topic: this.opts.topic, messages, acks: -1 });
        this.sentCount += letters.length;
        return;
      } catch (err) {
        this.failures++;
        const delay = Math.min(10_000, 100 * 2 ** Math.min(attempt, 7));
        this.opts.log(`dead-letter send of ${letters.length} records failed (attempt ${attempt + 1}, retrying in ${delay} ms): ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}
