import type { Producer } from 'kafkajs';
import type { InteractionEvent, RecommendationMessage, SingleObjectCodec } from '../codec/index.js';
import type { ServiceConfig } from '../config/index.js';
import type { ServiceMetrics } from '../metrics/index.js';
import type { BalancePort, CandidateItem, ModelPort } from '../stream/ports.js';

export interface RecommenderOptions<B> {
  config: ServiceConfig;
  balance: () => BalancePort<B>;
  model: () => ModelPort<B>;
  metrics: ServiceMetrics;
  producer: Producer;
  codec: SingleObjectCodec<RecommendationMessage>;
  now(): number;
  log(msg: string): void;
}

/** Candidates are rebuilt at most this often (they change slowly: reservoirs and head items). */
const CANDIDATE_TTL_MS = 1_000;
/** Recently recommended items remembered for the tail-share gauge. */
const TAIL_RING = 5_000;
/** Users remembered for the per-user rate limit (oldest forgotten first). */
const RATE_LIMIT_USERS = 100_000;
/** Event-triggered users waiting for the pump; further triggers are dropped until it drains. */
const MAX_PENDING = 2_000;
const PUMP_INTERVAL_MS = 100;
/**
 * Longest the pump scores users in one go before it yields to the event loop, so HTTP
 * requests, Kafka fetches and training steps get a turn between slices.
 */
const PUMP_SLICE_MS = 8;
/**
 * Share of the main thread's time event-triggered recommendations may take: after a slice of
 * d ms the next one waits d·(1 − share)/share ms. They are a rate-limited background output;
 * the main thread also ingests and answers /recommendations, whose latency must not queue
 * behind them. Triggers beyond what the share serves are dropped and counted
 * (rebalancer_recommendation_triggers_dropped_total{reason="backlog"}).
 */
const EVENT_REC_CPU_SHARE = 0.3;

/**
 * Serves recommendations: on HTTP request, and to the recommendations topic when an
 * event of a trigger type arrives (per-user minimum interval + a global per-second cap,
 * so a burst of purchases cannot flood the topic or stall ingestion). Triggered users are
 * queued (bounded) and served by a pump off the ingestion path.
 */
export class Recommender<B> {
  private candidates: CandidateItem[] = [];
  private candidatesAt = -Infinity;
  private head: ReadonlySet<string> = new Set();
  private readonly tailRing = new Uint8Array(TAIL_RING);
  private tailPos = 0;
  private tailFill = 0;
  private tailCount = 0;
  private readonly lastSent = new Map<string, number>();
  private readonly pending = new Set<string>();
  private tokens: number;
  private tokensAt: number;
  private readonly triggerTypes: ReadonlySet<string>;
  private pump: NodeJS.Timeout | undefined;
  /** True while a drain is running in slices (the interval does not start another). */
  private draining = false;
  private drainDone: Promise<void> = Promise.resolve();
  private sending: Promise<void> = Promise.resolve();
  private produced = 0;

  constructor(private readonly opts: RecommenderOptions<B>) {
    this.triggerTypes = new Set(opts.config.recTriggerTypes);
    this.tokens = opts.config.recMaxPerSecond;
    this.tokensAt = opts.now();
  }

  get producedCount(): number {
    return this.produced;
  }

  /** Head categories (holding 80% of window events); the rest are tail. Refreshed by the service. */
  setHeadCategories(head: ReadonlySet<string>): void {
    this.head = head;
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
    await this.sending;
  }

  recommend(userId: string, k: number, trigger: 'http' | 'event'): RecommendationMessage {
    const started = process.hrtime.bigint();
    const candidates = this.currentCandidates();
    const items = this.opts.model().recommend(userId, candidates, k);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.opts.metrics.recommendationDuration.observe(seconds);
    this.opts.metrics.recommendations[trigger].inc();
    for (const item of items) this.recordTail(!this.head.has(item.categoryId));
    return { userId, items, modelVersion: this.opts.model().version, generatedAt: this.opts.now() };
  }

  /** Called for every applied event: O(1), never blocks. */
  onEvent(event: InteractionEvent): void {
    if (!this.triggerTypes.has(event.type)) return;
    const now = this.opts.now();
    const last = this.lastSent.get(event.userId);
    if (last !== undefined && now - last < this.opts.config.recMinIntervalMs) return;
    if (this.pending.size >= MAX_PENDING) {
      this.opts.metrics.recommendationTriggersDropped.backlog.inc();
      return;
    }
    if (!this.takeToken(now)) {
      this.opts.metrics.recommendationTriggersDropped.rateLimit.inc();
      return;
    }
    this.lastSent.delete(event.userId);
    this.lastSent.set(event.userId, now);
    if (this.lastSent.size > RATE_LIMIT_USERS) this.lastSent.delete(this.lastSent.keys().next().value!);
    this.pending.add(event.userId);
  }

  private takeToken(now: number): boolean {
    const rate = this.opts.config.recMaxPerSecond;
    this.tokens = Math.min(rate, this.tokens + ((now - this.tokensAt) / 1000) * rate);
    this.tokensAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * Serves the queued users in slices of at most PUMP_SLICE_MS, pausing between slices so
   * they take at most EVENT_REC_CPU_SHARE of the thread; each slice's recommendations go to
   * the topic as one produce call.
   */
  private drainPending(): void {
    if (this.draining || this.pending.size === 0) return;
    this.draining = true;
    this.drainDone = new Promise<void>((resolve) => {
      const slice = (): void => {
        const started = performance.now();
        const deadline = started + PUMP_SLICE_MS;
        const messages: Array<{ key: string; value: Buffer }> = [];
        for (const userId of this.pending) {
          this.pending.delete(userId);
          try {
            const rec = this.recommend(userId, this.opts.config.recK, 'event');
            if (rec.items.length > 0) messages.push({ key: userId, value: this.opts.codec.encode(rec) });
          } catch (err) {
            this.opts.log(`recommendation for ${userId} failed: ${(err as Error).message}`);
          }
          if (performance.now() >= deadline) break;
        }
        if (messages.length > 0) this.send(messages);
        if (this.pending.size > 0 && this.pump !== undefined) {
          const spent = performance.now() - started;
          setTimeout(slice, (spent * (1 - EVENT_REC_CPU_SHARE)) / EVENT_REC_CPU_SHARE);
          return;
        }
        this.draining = false;
        resolve();
      };
      slice();
    });
  }

  private send(messages: Array<{ key: string; value: Buffer }>): void {
    this.sending = this.sending.then(async () => {
      try {
        await this.opts.producer.send({ topic: this.opts.config.recommendationsTopic, messages });
        this.produced += messages.length;
      } catch (err) {
        // Recommendations are ephemeral: a lost batch is logged, not retried (the next trigger recomputes).
        this.opts.log(`producing ${messages.length} recommendations failed: ${(err as Error).message}`);
      }
    });
  }

  private currentCandidates(): CandidateItem[] {
    const now = this.opts.now();
    if (now - this.candidatesAt >= CANDIDATE_TTL_MS || this.candidates.length === 0) {
      const fresh = this.opts.balance().candidates(this.opts.config.recCandidatesPerCategory, this.opts.config.recHeadItems);
      // Same length: update the array in place, so the scorer's cache (keyed by the array)
      // recomputes only the entries that changed, not the whole set, once a second.
      if (fresh.length === this.candidates.length) for (let i = 0; i < fresh.length; i++) this.candidates[i] = fresh[i]!;
      else this.candidates = fresh;
      this.candidatesAt = now;
    }
    return this.candidates;
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
