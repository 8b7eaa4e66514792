/**
 * A short memory of the service's headline figures for the live page (src/http/live-page.ts):
 * one sample every `intervalMs` over the last `spanMs` (default every 5 s for an hour, 720
 * samples of 8 numbers), so a page opened now draws its charts over time at once instead of
 * starting empty. Kept on the main thread, which owns the figures; served at /state/history.
 * Bounded by construction (a ring), never by the length of the run.
 */
import { RebalancerError } from '../errors.js';

/** One sample: the time it was taken and the figures the live page charts over time. */
export interface HistorySample {
  /** Milliseconds since the epoch (the service's clock). */
  t: number;
  /** Events applied so far (`totals.applied`). */
  applied: number;
  /** Prequential hit-rate, macro and micro average (`evaluation.hitRateMacro`/`hitRateMicro`). */
  hitRateMacro: number;
  hitRateMicro: number;
  /** Tail share of recommended items and of the window's interactions (`tailShare`). */
  tailShareRecommendations: number;
  tailShareInteractions: number;
  /** Consumer lag summed over the assigned partitions. */
  lag: number;
  /** Records sent to the dead-letter topic so far (`totals.deadLettered`). */
  deadLettered: number;
}

/** The /state/history document. */
export interface HistoryDocument {
  /** The service's clock when the document was made (lets a page place its own later points). */
  now: number;
  intervalMs: number;
  spanMs: number;
  /** Oldest first. */
  samples: HistorySample[];
}

/** A fixed-capacity ring: push is O(1); once full, each push drops the oldest item. */
export class Ring<T> {
  private readonly items: Array<T | undefined>;
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RebalancerError('REB_ARGUMENT_INVALID', `ring capacity must be a positive integer, got ${capacity}`);
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    const end = (this.start + this.count) % this.capacity;
    this.items[end] = item;
    if (this.count < this.capacity) this.count++;
    else this.start = (this.start + 1) % this.capacity;
  }

  /** The items, oldest first (a new array). */
  toArray(): T[] {
    const out = new Array<T>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.items[(this.start + i) % this.capacity]!;
    return out;
  }
}

export interface ServiceHistoryOptions {
  /** Time between samples, ms (default 5,000). */
  intervalMs?: number;
  /** How far back samples are kept, ms (default one hour). */
  spanMs?: number;
  /** The service's clock (ms since the epoch). */
  now: () => number;
  /** Reads the figures of one sample (called on the main thread, every `intervalMs`). */
  read: () => Omit<HistorySample, 't'>;
}

export const DEFAULT_HISTORY_INTERVAL_MS = 5_000;
export const DEFAULT_HISTORY_SPAN_MS = 3_600_000;

/**
 * Samples `read()` every `intervalMs` (and once at `start()`) into a ring of
 * ⌈spanMs / intervalMs⌉ + 1 samples; `document()` leaves out samples older than `spanMs`
 * (after a stall of the timer, the ring may hold older ones).
 */
export class ServiceHistory {
  readonly intervalMs: number;
  readonly spanMs: number;
  private readonly ring: Ring<HistorySample>;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: ServiceHistoryOptions) {
    this.intervalMs = o.intervalMs ?? DEFAULT_HISTORY_INTERVAL_MS;
    this.spanMs = o.spanMs ?? DEFAULT_HISTORY_SPAN_MS;
    if (!(this.intervalMs > 0) || !(this.spanMs >= this.intervalMs)) throw new RebalancerError('REB_ARGUMENT_INVALID', `history needs 0 < intervalMs <= spanMs, got ${this.intervalMs} and ${this.spanMs}`);
    this.ring = new Ring<HistorySample>(Math.ceil(this.spanMs / this.intervalMs) + 1);
  }

  /** Bound on the number of samples held. */
  get capacity(): number {
    return this.ring.capacity;
  }

  /** Takes one sample now (the timer calls this; tests call it directly). */
  sample(): void {
    this.ring.push({ t: this.o.now(), ...this.o.read() });
  }

  /** Takes a first sample and then one every `intervalMs` until `stop()` (the timer does not keep the process alive). */
  start(): void {
    if (this.timer !== undefined) return;
    this.sample();
    // A failing read skips one sample; it must not become an uncaught exception in a timer.
    this.timer = setInterval(() => {
      try {
        this.sample();
      } catch {
        /* the next interval samples again */
      }
    }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  document(): HistoryDocument {
    const now = this.o.now();
    const since = now - this.spanMs;
    return { now, intervalMs: this.intervalMs, spanMs: this.spanMs, samples: this.ring.toArray().filter((s) => s.t >= since) };
  }
}
