import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ErrorCode } from '../errors.js';

/**
 * Admission control for the expensive route (issue #18): scoring is synchronous (3–5 ms with
 * 5,000 candidates), so past the thread's capacity requests wait in socket buffers and latency
 * grows with the number of clients. Two guards answer 503 `REB_HTTP_OVERLOADED` at once
 * instead, with `Retry-After`. Both bound how long a request waits rather than how many wait
 * (the idea of CoDel, Nichols & Jacobson, "Controlling Queue Delay", ACM Queue 10(5), 2012,
 * as applied to server request queues in Maurer, "Fail at Scale", ACM Queue 13(8), 2015):
 *
 * - **Turn budget** (per request): a turn of the event loop (from its first admitted request
 *   to the next check phase) admits requests for at most `turnBudgetMs`; the rest of the turn
 *   is shed. Every socket that is readable when the loop polls is handled in one turn, so with
 *   200 clients one turn would otherwise hold 200 × 5 ms = 1 s of scoring, and the last
 *   request of it waits all of that. A sampled signal cannot see this: it changes only
 *   between turns (`@fastify/under-pressure` alone, even at a 50 ms delay threshold sampled
 *   every 100 ms, left the p99 of test/http/load-shedding.test.ts's flood at 1.0–1.1 s).
 * - **Sustained delay** (`@fastify/under-pressure`): when the event-loop delay, averaged over
 *   `sampleIntervalMs`, is above `maxEventLoopDelayMs`, the thread is behind on everything
 *   (inline mode: a pipeline or training stalling the same thread), and every request of the
 *   route is shed until a sample says otherwise.
 *
 * Event-loop utilization is deliberately not a signal: it measures how busy the thread is,
 * not how long requests wait. Inline training keeps the main thread busy while requests are
 * answered in tens of milliseconds, and under a flood the turn budget keeps latency bounded
 * at a utilization of 0.98 (measured), so a utilization threshold would shed everything in
 * both cases.
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
 * most that plus the turn's 503s (~0.1 ms each), while one client or a normal rate (one or a
 * few requests per turn) never comes near it; a burst of more than ~10 simultaneous requests
 * has its excess shed. The delay is the plugin's: the mean lateness of a 10 ms timer over one
 * sample, less the 10 ms. An idle loop measures ~0 and the flood test within its turn budget
 * ~40 ms (measured); inline training, one step of ~30 ms plus 15–25 ms of evaluation at a
 * time (README benchmarks), should measure a few tens of ms (not measured here). 100 ms over
 * one second means turns longer than ~110 ms back to back, or one stall of ~0.95 s or more
 * (after which the next second is shed too: that loop is behind).
 * Overload from a burst of clients lasts seconds: retrying after 1 s is soon enough.
 */
export const DEFAULT_SHEDDING: SheddingOptions = { turnBudgetMs: 50, maxEventLoopDelayMs: 100, sampleIntervalMs: 1_000, retryAfterSeconds: 1 };

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
 * hooks added here do not reach the cheap routes). A shed request is answered from the hook,
 * before its handler runs, with a body serialized once; `onShed` is called for each.
 */
export async function registerLoadShedding(scope: FastifyInstance, o: SheddingOptions, onShed: () => void): Promise<void> {
  const body = JSON.stringify({ error: `the service is overloaded: recommendations are shed until the event loop catches up; retry after ${o.retryAfterSeconds} s`, code: 'REB_HTTP_OVERLOADED' satisfies ErrorCode });
  const retryAfter = String(o.retryAfterSeconds);
  const shed = (reply: FastifyReply): void => {
    onShed();
    void reply.code(503).header('retry-after', retryAfter).type('application/json; charset=utf-8').send(body);
  };
  // A handler that sends and returns nothing: the plugin goes on to the next hook, which fastify skips once the reply is sent.
  await scope.register(underPressure, {
    maxEventLoopDelay: o.maxEventLoopDelayMs,
    sampleInterval: o.sampleIntervalMs,
    pressureHandler: (_req, reply) => shed(reply),
  });
  const budget = new TurnBudget(o.turnBudgetMs);
  scope.addHook('onRequest', (_req, reply, done) => {
    if (budget.admit()) done();
    else shed(reply);
  });
}
