import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import { RebalancerError } from '../errors.js';

/**
 * Admission control for the expensive route (issue #18): scoring is synchronous (3–5 ms with
 * 5,000 candidates), so past the thread's capacity requests wait in socket buffers and latency
 * grows with the number of clients. Two guards answer 503 `REB_HTTP_OVERLOADED` at once
 * instead, with `Retry-After`:
 *
 * - **Turn budget** (per request): a turn of the event loop (from its first admitted request
 *   to the next check phase) admits requests for at most `turnBudgetMs`; the rest of the turn
 *   is shed. Every socket that is readable when the loop polls is served in one turn, so with
 *   200 clients one turn would otherwise hold 200 × 5 ms = 1 s of scoring, and the last
 *   request of it waits all of that. A sampled signal cannot see this: it changes only
 *   between turns.
 * - **Sustained delay** (`@fastify/under-pressure`): when the event-loop delay, averaged over
 *   `sampleIntervalMs`, is above `maxEventLoopDelayMs`, the thread is behind on everything
 *   (inline mode: a stalled pipeline or training on the same thread), and every request of
 *   the route is shed until the next sample says otherwise.
 *
 * Event-loop utilization is deliberately not a signal: it measures how busy the thread is,
 * not how long requests wait. Inline training keeps the main thread near 1 while requests are
 * answered in milliseconds, and under a flood the turn budget keeps latency bounded with the
 * thread just as busy, so a utilization threshold would shed everything in both cases.
 */
export interface SheddingOptions {
  /** Scoring time one event-loop turn admits before shedding the rest of the turn, ms. */
  turnBudgetMs: number;
  /** Mean event-loop delay (over one sample) past which every request is shed, ms. */
  maxEventLoopDelayMs: number;
  /** How often the event-loop delay is sampled, ms. */
  sampleIntervalMs: number;
  /** The `Retry-After` header of a shed request, s. */
  retryAfterSeconds: number;
}

/**
 * 50 ms of admitted scoring per turn is 10–16 requests at 3–5 ms: an admitted request waits at
 * most that plus the turn's 503s, while a single client or a normal rate (one or a few requests
 * per turn) never comes near it. A mean delay of 100 ms over half a second means the thread
 * has been blocked most of that time (an idle loop measures ~0, a loop serving a flood within
 * its turn budget ~30 ms); a 300 ms checkpoint once a second moves the mean by a few ms only.
 * Overload from a burst of clients lasts seconds: retrying after 1 s is soon enough.
 */
export const DEFAULT_SHEDDING: SheddingOptions = { turnBudgetMs: 50, maxEventLoopDelayMs: 100, sampleIntervalMs: 500, retryAfterSeconds: 1 };

/** The error a shed request answers with (503, `Retry-After`); one instance, it carries no per-request data. */
export class OverloadedError extends RebalancerError {
  constructor() {
    super('REB_HTTP_OVERLOADED', 'the service is overloaded: recommendations are shed until the event loop catches up; retry after the Retry-After header');
  }
}

/**
 * Admits requests within a budget of time per event-loop turn. The turn opens at the first
 * request that asks and closes at the next check phase (setImmediate), so the time measured
 * is how long the loop has been away from polling for new work while this turn's requests ran.
 */
export class TurnBudget {
  private open = false;
  private turnStart = 0;
  private readonly close = (): void => {
    this.open = false;
  };

  constructor(
    private readonly budgetMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  admit(): boolean {
    const t = this.now();
    if (!this.open) {
      this.open = true;
      this.turnStart = t;
      setImmediate(this.close);
      return true;
    }
    return t - this.turnStart < this.budgetMs;
  }
}

/**
 * Registers both guards on `scope` (an encapsulated context holding only the routes to shed:
 * hooks added here do not reach the cheap routes). A shed request goes to the error handler
 * as an `OverloadedError`.
 */
export async function registerLoadShedding(scope: FastifyInstance, o: SheddingOptions): Promise<void> {
  await scope.register(underPressure, {
    maxEventLoopDelay: o.maxEventLoopDelayMs,
    sampleInterval: o.sampleIntervalMs,
    retryAfter: o.retryAfterSeconds,
    customError: OverloadedError,
  });
  const budget = new TurnBudget(o.turnBudgetMs);
  const overloaded = new OverloadedError();
  scope.addHook('onRequest', (_req, _reply, done) => {
    if (budget.admit()) done();
    else done(overloaded);
  });
}
