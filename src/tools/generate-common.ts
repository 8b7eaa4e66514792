/**
 * Pieces shared by the synthetic generator profiles (`simple` in generate.ts, `realistic`
 * in generate-realistic.ts): id formats, the power-law category shares, the event-type
 * mix and inverse-CDF sampling on cumulative weights.
 */
import type { EventType } from '../codec/types.js';

/** Base type mix: view, click, add_to_cart, purchase (purchases rarest). */
export const TYPE_MIX = [0.55, 0.3, 0.1, 0.05] as const;
export const TYPES: readonly EventType[] = ['view', 'click', 'add_to_cart', 'purchase'];

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
