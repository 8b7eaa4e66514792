/**
 * Imbalance figures of a category count vector (categories with n_c > 0 only):
 *   share p_c = n_c / N;  prior π_c = (n_c + α)/(N + αC)  (additive smoothing)
 *   imbalance ratio IR = max n_c / min n_c
 *   normalised entropy H/log C with H = −Σ p_c log p_c (1 for C ≤ 1: nothing to balance)
 *   Gini = Σ_i (2i − C − 1) x_(i) / (C Σ x) over ascending x_(i) (0 = equal counts)
 *   effective number of samples Σ_c (1 − β^{n_c})/(1 − β) (Cui et al., CVPR 2019)
 *   effective number of categories exp(H) (Hill number of order 1)
 * An empty vector reads as balanced (IR 1, entropy 1, Gini 0) with categories = 0.
 */

export interface ImbalanceStats {
  /** C: categories with n_c > 0. */
  readonly categories: number;
  /** N: Σ n_c. */
  readonly total: number;
  readonly imbalanceRatio: number;
  readonly entropy: number;
  readonly normalizedEntropy: number;
  readonly gini: number;
  readonly effectiveNumberOfSamples: number;
  readonly effectiveCategories: number;
  readonly maxShare: number;
  readonly minShare: number;
}

export interface CategoryStat {
  readonly categoryId: string;
  /** n_c (decayed in decayed mode). */
  readonly count: number;
  readonly share: number;
  readonly prior: number;
  readonly weight: number;
  /** Exact window counts per event type: view, click, add_to_cart, purchase. */
  readonly typeCounts: readonly [number, number, number, number];
}

/** Smoothed prior π_c = (n + α)/(N + αC). */
export function smoothedPrior(count: number, total: number, categories: number, alpha: number): number {
  const denom = total + alpha * categories;
  return denom > 0 ? (count + alpha) / denom : 0;
}

/**
 * Imbalance figures of counts[0..length) ignoring entries ≤ 0. `scratch` (length ≥ length)
 * avoids an allocation for the sort the Gini coefficient needs.
 */
export function imbalanceStats(counts: ArrayLike<number>, length: number, beta: number, scratch?: Float64Array): ImbalanceStats {
  const sorted = scratch !== undefined && scratch.length >= length ? scratch : new Float64Array(length);
  let c = 0;
  let total = 0;
  let max = 0;
  let min = Infinity;
  for (let i = 0; i < length; i++) {
    const n = counts[i]!;
    if (!(n > 0)) continue;
    sorted[c++] = n;
    total += n;
    if (n > max) max = n;
    if (n < min) min = n;
  }
  if (c === 0) {
    return { categories: 0, total: 0, imbalanceRatio: 1, entropy: 0, normalizedEntropy: 1, gini: 0, effectiveNumberOfSamples: 0, effectiveCategories: 0, maxShare: 0, minShare: 0 };
  }
  const view = sorted.subarray(0, c);
  view.sort();
  let entropy = 0;
  let weightedRank = 0;
  let effective = 0;
  const logBeta = Math.log(beta);
  for (let i = 0; i < c; i++) {
    const n = view[i]!;
    const p = n / total;
    entropy -= p * Math.log(p);
    weightedRank += (2 * (i + 1) - c - 1) * n;
    const x = n * logBeta;
    // β^n < 1e-17 rounds 1 − β^n to 1: skip the expm1 for the (many) large counts.
    effective += (x < -40 ? 1 : -Math.expm1(x)) / (1 - beta);
  }
  const gini = c > 1 ? weightedRank / (c * total) : 0;
  return {
    categories: c,
    total,
    imbalanceRatio: max / min,
    entropy,
    normalizedEntropy: c > 1 ? entropy / Math.log(c) : 1,
    gini,
    effectiveNumberOfSamples: effective,
    effectiveCategories: Math.exp(entropy),
    maxShare: max / total,
    minShare: min / total,
  };
}
