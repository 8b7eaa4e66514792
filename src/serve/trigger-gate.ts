import type { EventType, InteractionEvent } from '../codec/index.js';

/** Users remembered for the per-user rate limit (oldest forgotten first). */
const RATE_LIMIT_USERS = 100_000;

export interface TriggerGateOptions {
  /** Event types that trigger a recommendation to the output topic. */
  triggerTypes: readonly EventType[];
  /** Least time between two event-triggered recommendations of one user, ms. */
  minIntervalMs: number;
  /** Global cap, recommendations per second (a token bucket of that size). */
  maxPerSecond: number;
  /** Counts a trigger refused by the global cap (rebalancer_recommendation_triggers_dropped_total{reason="rate_limit"}). */
  onRateLimited(): void;
}

/** What the gate decided for one event. */
export type TriggerDecision = 'admit' | 'ignore' | 'rate_limit';

/**
 * Decides which applied events trigger a recommendation to the output topic: events of a
 * trigger type, at most one per user per `minIntervalMs`, at most `maxPerSecond` in total
 * (a token bucket), so a burst of purchases cannot flood the topic. O(1) per event, on
 * the ingesting thread; scoring happens elsewhere (Recommender's queue).
 */
export class TriggerGate {
  private readonly types: ReadonlySet<string>;
  private readonly lastSent = new Map<string, number>();
  private tokens: number;
  private tokensAt: number | undefined;

  constructor(private readonly o: TriggerGateOptions) {
    this.types = new Set(o.triggerTypes);
    this.tokens = o.maxPerSecond;
  }

  /** `now`: the caller's clock, ms. */
  decide(event: InteractionEvent, now: number): TriggerDecision {
    if (!this.types.has(event.type)) return 'ignore';
    const last = this.lastSent.get(event.userId);
    if (last !== undefined && now - last < this.o.minIntervalMs) return 'ignore';
    if (!this.takeToken(now)) {
      this.o.onRateLimited();
      return 'rate_limit';
    }
    this.lastSent.delete(event.userId);
    this.lastSent.set(event.userId, now);
    if (this.lastSent.size > RATE_LIMIT_USERS) this.lastSent.delete(this.lastSent.keys().next().value!);
    return 'admit';
  }

  private takeToken(now: number): boolean {
    const rate = this.o.maxPerSecond;
    this.tokens = Math.min(rate, this.tokens + ((now - (this.tokensAt ?? now)) / 1000) * rate);
    this.tokensAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
