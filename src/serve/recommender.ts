import { isTail } from '../balance/index.js';
import type { RecommendationMessage } from '../codec/index.js';
import type { CandidateItem, ScoringPort } from '../ports/index.js';

export type { ScoringPort };
import { OutputQueue, type OutputMessage } from './output-queue.js';

export type { OutputMessage };

/** A recommendation as served over HTTP: the topic's message plus the cold-start flag. */
export interface ServedRecommendation extends RecommendationMessage {
  /** True when the model has no history of the user: the items are not personal (null: unknown, no wide part). */
  readonly coldStart: boolean | null;
}

/** The recommender's own metrics (the service's, or a serving thread's tallies). */
export interface RecommenderMetrics {
  /** Seconds one recommendation took (scoring and top K). */
  observeDuration(seconds: number, trigger: 'http' | 'event'): void;
  /** A trigger dropped because the queue was full. */
  droppedBacklog(): void;
}


export interface RecommenderOptions {
  /** Items per event-triggered recommendation. */
  k: number;
  /** A fresh candidate list and the head categories (called at most once per CANDIDATE_TTL_MS). */
  candidates(): { items: CandidateItem[]; head: ReadonlySet<string> };
  scorer(): ScoringPort;
  metrics: RecommenderMetrics;
  encode(message: RecommendationMessage): Buffer;
  /** Produces one slice's recommendations (the caller logs and counts failures). */
  send(messages: OutputMessage[]): Promise<void>;
  now(): number;
  log(msg: string): void;
  /**
   * Longest the pump scores queued users in one go before it yields, so HTTP requests (and,
   * on the main thread, Kafka fetches and training steps) get a turn between slices.
   */
  sliceMs: number;
  /**
   * Share of the thread's time event-triggered recommendations may take: after a slice of d
   * ms the next one waits d·(1 − share)/share ms. Triggers beyond what the share serves are
   * dropped once the queue is full, and counted.
   */
  cpuShare: number;
}

/** Candidates are rebuilt at most this often (they change slowly: reservoirs and head items). */
export const CANDIDATE_TTL_MS = 1_000;
/** Recently recommended items remembered for the tail-share gauge. */
const TAIL_RING = 5_000;
/** Users queued for the pump; further triggers are dropped until it drains. */
export const MAX_PENDING = 2_000;
const PUMP_INTERVAL_MS = 100;

/**
 * Serves recommendations: on HTTP request (`recommend`), and to the recommendations topic
 * for users queued by event triggers (`enqueue`, after the TriggerGate), served by a pump in
 * slices that take at most `cpuShare` of the thread. Runs on the main thread when training
 * is inline, and on the serving thread otherwise (serving-worker.ts).
 */
export class Recommender {
  private candidateList: CandidateItem[] = [];
  private candidatesAt = -Infinity;
  /** Head categories (holding 80% of window events, src/balance/tail.ts); the rest are tail. */
  private head: ReadonlySet<string> = new Set();
  private readonly tailRing = new Uint8Array(TAIL_RING);
  private tailPos = 0;
  private tailFill = 0;
  private tailCount = 0;
  private readonly pending = new Set<string>();
  private pump: NodeJS.Timeout | undefined;
  /** True while a drain is running in slices (the interval does not start another). */
  private draining = false;
  private drainDone: Promise<void> = Promise.resolve();
  private readonly output: OutputQueue;

  constructor(private readonly opts: RecommenderOptions) {
    this.output = new OutputQueue(opts.send, opts.log);
  }

  get producedCount(): number {
    return this.output.produced;
  }

  tailShare(): number {
    return this.tailFill > 0 ? this.tailCount / this.tailFill : 0;
  }

  start(): void {
    this.pump ??= setInterval(() => this.drainPending(), PUMP_INTERVAL_MS);
  }

  /** Stops the pump and waits for produced recommendations to be acknowledged. */
  async stop(): Promise<void> {
    if (this.pump) clearInterval(this.pump);
    this.pump = undefined;
    await this.drainDone;
    await this.output.drained();
  }

  /** Forgets the candidate list, so the next recommendation fetches a fresh one. */
  invalidateCandidates(): void {
    this.candidatesAt = -Infinity;
  }

  recommend(userId: string, k: number, trigger: 'http' | 'event'): ServedRecommendation {
    const started = process.hrtime.bigint();
    const candidates = this.currentCandidates();
    const scorer = this.opts.scorer();
    const items = scorer.recommend(userId, candidates, k);
    // Asked after scoring: the model the items came from (a snapshot scorer is built on first use).
    const coldStart = scorer.coldStart(userId);
    this.opts.metrics.observeDuration(Number(process.hrtime.bigint() - started) / 1e9, trigger);
    for (const item of items) this.recordTail(isTail(this.head, item.categoryId));
    return { userId, items, modelVersion: scorer.version, generatedAt: this.opts.now(), coldStart };
  }

  /** Queues a user admitted by the trigger gate; false (counted) when the queue is full. */
  enqueue(userId: string): boolean {
    if (this.pending.has(userId)) return true;
    if (this.pending.size >= MAX_PENDING) {
      this.opts.metrics.droppedBacklog();
      return false;
    }
    this.pending.add(userId);
    return true;
  }

  /**
   * Serves the queued users in slices of at most `sliceMs`, pausing between slices so they
   * take at most `cpuShare` of the thread; each slice's recommendations go to the topic as
   * one produce call.
   */
  private drainPending(): void {
    if (this.draining || this.pending.size === 0) return;
    this.draining = true;
    const { sliceMs, cpuShare } = this.opts;
    this.drainDone = new Promise<void>((resolve) => {
      const slice = (): void => {
        const started = performance.now();
        const deadline = started + sliceMs;
        const messages: OutputMessage[] = [];
        for (const userId of this.pending) {
          this.pending.delete(userId);
          try {
            const rec = this.recommend(userId, this.opts.k, 'event');
            if (rec.items.length > 0) messages.push({ key: userId, value: this.opts.encode(rec) });
          } catch (err) {
            this.opts.log(`recommendation for ${userId} failed: ${(err as Error).message}`);
          }
          if (performance.now() >= deadline) break;
        }
        if (messages.length > 0) this.output.push(messages);
        if (this.pending.size > 0 && this.pump !== undefined) {
          const spent = performance.now() - started;
          setTimeout(slice, (spent * (1 - cpuShare)) / cpuShare);
          return;
        }
        this.draining = false;
        resolve();
      };
      slice();
    });
  }

  private currentCandidates(): CandidateItem[] {
    const now = this.opts.now();
    if (now - this.candidatesAt >= CANDIDATE_TTL_MS || this.candidateList.length === 0) {
      const { items: fresh, head } = this.opts.candidates();
      this.head = head;
      this.candidateList = stableMerge(this.candidateList, fresh);
      this.candidatesAt = now;
    }
    return this.candidateList;
  }

  private recordTail(isTail: boolean): void {
    const v = isTail ? 1 : 0;
    if (this.tailFill === TAIL_RING) this.tailCount -= this.tailRing[this.tailPos]!;
    else this.tailFill++;
    this.tailRing[this.tailPos] = v;
    this.tailCount += v;
    this.tailPos = (this.tailPos + 1) % TAIL_RING;
  }
}

/**
 * The fresh candidate set laid out like the current one: an item still a candidate keeps its
 * slot, arrivals take the slots of departures. Order does not matter to top-K, but the
 * scorer's cache is keyed by the array and compares slot by slot: as popularity shifts, the
 * head items' ranking moves by a few places every second, which in rank order would change
 * thousands of slots (one item rising past 3,000 shifts them all) and make the next request
 * recompute the whole item side (about 3 µs per candidate). Same size: updated in place
 * (only changed slots recompute); a new size makes a new array.
 */
export function stableMerge(current: CandidateItem[], fresh: readonly CandidateItem[]): CandidateItem[] {
  const freshIds = new Map<string, string>();
  for (const c of fresh) freshIds.set(c.itemId, c.categoryId);
  const kept = new Set<string>();
  const vacant: number[] = [];
  for (let i = 0; i < current.length; i++) {
    const c = current[i]!;
    if (freshIds.get(c.itemId) === c.categoryId && !kept.has(c.itemId)) kept.add(c.itemId);
    else vacant.push(i);
  }
  const arrivals = fresh.filter((c) => !kept.has(c.itemId));
  if (fresh.length !== current.length) {
    const vacated = new Set(vacant);
    return current.filter((_, i) => !vacated.has(i)).concat(arrivals);
  }
  for (let j = 0; j < vacant.length; j++) current[vacant[j]!] = arrivals[j]!;
  return current;
}
