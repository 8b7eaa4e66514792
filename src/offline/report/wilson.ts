/**
 * Confidence interval of a hit rate (a binomial proportion: `hits` of `n` evaluations).
 *
 * Wilson score interval (E. B. Wilson, "Probable inference, the law of succession, and
 * statistical inference", JASA 22(158):209–212, 1927): the p for which |p̂ − p| ≤ z·√(p(1−p)/n),
 *
 *   centre = (p̂ + z²/2n) / (1 + z²/n),   half-width = z / (1 + z²/n) · √(p̂(1 − p̂)/n + z²/4n²).
 *
 * Unlike the Wald interval p̂ ± z·√(p̂(1−p̂)/n) it stays inside [0, 1] and does not shrink to a
 * point at 0 or n hits, which matters for tail categories with a few dozen evaluations
 * (R. G. Newcombe, Statistics in Medicine 17:857–872, 1998, compares seven methods; its
 * examples are this module's tests).
 */
import { RebalancerError } from '../../errors.js';

/** The standard normal quantile for a two-sided 95% interval, Φ⁻¹(0.975). */
export const Z_95 = 1.959963984540054;

export interface Interval {
  lo: number;
  hi: number;
}

/** The Wilson score interval of `hits` of `n`; [0, 1] when n = 0 (no evaluation, no information). */
export function wilsonInterval(hits: number, n: number, z: number = Z_95): Interval {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(hits) || hits < 0 || hits > n || !(z > 0)) {
    throw new RebalancerError('REB_INPUT_INVALID', `a Wilson interval needs integers 0 <= hits <= n and z > 0, got hits ${hits}, n ${n}, z ${z}`);
  }
  if (n === 0) return { lo: 0, hi: 1 };
  const p = hits / n;
  const z2 = z * z;
  const d = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / d;
  const half = (z / d) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // Exactly 0 (1) at 0 (n) hits, where rounding could leave a few ulps either side.
  return { lo: hits === 0 ? 0 : Math.max(0, centre - half), hi: hits === n ? 1 : Math.min(1, centre + half) };
}
