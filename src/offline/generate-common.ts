/**
 * Pieces shared by the synthetic generator profiles (`simple` in generate.ts, `realistic`
 * in generate-realistic.ts): id formats, the power-law category shares, the event-type
 * mix and inverse-CDF sampling on cumulative weights; and the pacer of `generate --rate`.
 */
import { EVENT_TYPES } from '../codec/index.js';
import type { EventType } from '../codec/types.js';
import { RebalancerError } from '../errors.js';

/** Base type mix: view, click, add_to_cart, purchase (purchases rarest). */
export const TYPE_MIX = [0.55, 0.3, 0.1, 0.05] as const;
export const TYPES: readonly EventType[] = EVENT_TYPES;

export function categoryId(c: number): string {
  return `cat-${String(c).padStart(3, '0')}`;
}

export function itemId(c: number, i: number): string {
  return `item-${c}-${i}`;
}

/**
 * Power-law base shares z_c ∝ (c+1)^-s with s = ln(skew)/ln(C), so the head/tail ratio
 * z_0 / z_{C-1} is exactly `skew`; they sum to 1.
 */
export function baseShares(categories: number, skew: number): Float64Array {
  const s = Math.log(skew) / Math.log(categories);
  const out = new Float64Array(categories);
  let total = 0;
  for (let c = 0; c < categories; c++) total += out[c] = Math.pow(c + 1, -s);
  for (let c = 0; c < categories; c++) out[c]! /= total;
  return out;
}

/** Running sums of `shares`, the last forced to exactly 1 (for pick()). */
export function cumulativeOf(shares: Float64Array): Float64Array {
  const out = new Float64Array(shares.length);
  let acc = 0;
  for (let i = 0; i < shares.length; i++) out[i] = acc += shares[i]!;
  out[shares.length - 1] = 1;
  return out;
}

/**
 * Index of the first of cumulative[0, n) that is >= x (binary search; inverse-CDF
 * sampling when x is uniform on [0, cumulative[n-1])). n defaults to the whole array.
 */
export function pick(cumulative: Float64Array, x: number, n = cumulative.length): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The clock a paced run waits on (injected, so pacing is tested without waiting). */
export interface PacingClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const WALL_CLOCK: PacingClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Paces a stream at `rate` events per second (`generate --rate`): event i (0-based) is due
 * `i / rate` seconds after the pacer was made. The schedule is absolute, so a late wake-up
 * (a timer's granularity, a slow send) is made up by the events after it and the mean
 * rate holds; no event is released before it is due.
 */
export class RatePacer {
  private readonly start: number;
  private readonly msPerEvent: number;

  constructor(rate: number, private readonly clock: PacingClock = WALL_CLOCK) {
    if (!(rate > 0 && Number.isFinite(rate))) throw new RebalancerError('REB_INPUT_INVALID', `--rate must be a positive number, got ${rate}`, { setting: 'rate' });
    this.msPerEvent = 1000 / rate;
    this.start = clock.now();
  }

  /** Resolves once event `i` is due (at once if it already is). */
  async due(i: number): Promise<void> {
    const at = this.start + i * this.msPerEvent;
    // A timer may fire a little early: wait again until the event is due.
    for (let wait = at - this.clock.now(); wait > 0; wait = at - this.clock.now()) await this.clock.sleep(wait);
  }
}
