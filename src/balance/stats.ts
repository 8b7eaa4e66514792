/**
 * Imbalance figures of a category count vector (categories with n_c > 0 only):
 *   share p_c = n_c / N;  prior π_c = (n_c + α)/(N + αC)  (additive smoothing)
 *   imbalance ratio IR = max n_c / min n_c
 *   normalised entropy H/log C with H = −Σ p_c log p_c (1 for C ≤ 1: nothing to balance)
 *   Gini = Σ_i (2i − C − 1) x_(i) / (C Σ x) over ascending x_(i) (0 = equal counts)
 *   effective number of samples Σ_c (1 − β^{n_c})/(1 − β) (Cui et al., CVPR 2019; effectiveNumber()
 *   in effective-number.ts, the class weights' formula)
 *   effective number of categories exp(H) (Hill number of order 1)
 * An empty vector reads as balanced (IR 1, entropy 1, Gini 0) with categories = 0.
 */
import { effectiveNumber } from './effective-number.js';

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
    effective += effectiveNumber(n, beta, logBeta);
  }
  return statsOf(c, total, min, max, entropy, c > 1 ? weightedRank / (c * total) : 0, effective);
}

/** The figures derived from the raw sums, shared by the one-shot and incremental paths. */
function statsOf(c: number, total: number, min: number, max: number, entropy: number, gini: number, effective: number): ImbalanceStats {
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

const TWO_POW_53 = 9007199254740992;

/**
 * imbalanceStats() for a count vector that changes a little between calls (the window's
 * counts, read every ~C events). Same figures, cheaper:
 *   - the Gini sort starts from the previous call's order, so it is an insertion sort over
 *     an almost sorted array (O(C + displacement)); past a budget of moves it falls back
 *     to one full sort of (count, slot) keys;
 *   - the entropy is H = log N − (Σ n_c log n_c)/N and the effective-number terms are kept
 *     per slot, so only counts that changed since the last call cost a log or an expm1.
 * The result is a function of the counts only (never of the call history), so restored
 * states report identical figures; it agrees with imbalanceStats() to rounding (~1e-15).
 */
export class ImbalanceTracker {
  /** Slots in ascending count order as of the last call, and the counts in that order. */
  private perm = new Int32Array(0);
  private sorted = new Float64Array(0);
  private length = 0;
  /** Per slot: the count the cached terms belong to (NaN = none), n log n, (1 − β^n)/(1 − β). */
  private termCount = new Float64Array(0);
  private nLogN = new Float64Array(0);
  private effective = new Float64Array(0);
  private termBeta = NaN;
  private keys = new Float64Array(0);
  /** Consecutive calls whose insertion sort ran over budget: skip straight to the full sort. */
  private overBudget = 0;
  private calls = 0;

  /** Imbalance figures of counts[0..length), ignoring entries ≤ 0. */
  compute(counts: Float64Array, length: number, beta: number): ImbalanceStats {
    this.prepare(length, beta);
    const perm = this.perm;
    const sorted = this.sorted;
    let max = 0;
    for (let i = 0; i < length; i++) {
      const n = counts[perm[i]!]!;
      sorted[i] = n;
      if (n > max) max = n;
    }
    this.calls++;
    // After repeated overruns (churning categories) try the cheap path only every 16th call.
    if (this.overBudget >= 4 && (this.calls & 15) !== 0) this.fullSort(counts, length, max);
    else if (this.insertionSort(length, 8 * length + 1024)) this.overBudget = 0;
    else {
      this.overBudget++;
      this.fullSort(counts, length, max);
    }

    let first = 0;
    while (first < length && !(sorted[first]! > 0)) first++;
    const c = length - first;
    if (c === 0) {
      return { categories: 0, total: 0, imbalanceRatio: 1, entropy: 0, normalizedEntropy: 1, gini: 0, effectiveNumberOfSamples: 0, effectiveCategories: 0, maxShare: 0, minShare: 0 };
    }
    const termCount = this.termCount;
    const nLogN = this.nLogN;
    const effective = this.effective;
    const logBeta = Math.log(beta);
    let total = 0;
    let weightedRank = 0;
    let sumNLogN = 0;
    let eff = 0;
    for (let i = first; i < length; i++) {
      const n = sorted[i]!;
      const s = perm[i]!;
      if (termCount[s] !== n) {
        termCount[s] = n;
        nLogN[s] = n * Math.log(n);
        effective[s] = effectiveNumber(n, beta, logBeta);
      }
      total += n;
      weightedRank += (2 * (i - first + 1) - c - 1) * n;
      sumNLogN += nLogN[s]!;
      eff += effective[s]!;
    }
    const min = sorted[first]!;
    const top = sorted[length - 1]!;
    const h = c > 1 ? Math.log(total) - sumNLogN / total : 0;
    const entropy = h > 0 ? h : 0;
    return statsOf(c, total, min, top, entropy, c > 1 ? weightedRank / (c * total) : 0, eff);
  }

  /** Grows the arrays; new slots go first in the order (new categories start small). */
  private prepare(length: number, beta: number): void {
    if (beta !== this.termBeta) {
      this.termBeta = beta;
      this.termCount.fill(NaN);
    }
    if (length <= this.length) {
      if (length < this.length) {
        // Fewer slots than before (not the window's case, which never shrinks): restart the order.
        for (let i = 0; i < length; i++) this.perm[i] = i;
        this.length = length;
      }
      return;
    }
    if (this.perm.length < length) {
      const cap = Math.max(length, 2 * this.perm.length);
      const perm = new Int32Array(cap);
      perm.set(this.perm.subarray(0, this.length), length - this.length);
      this.perm = perm;
      this.sorted = new Float64Array(cap);
      this.keys = new Float64Array(cap);
      const termCount = new Float64Array(cap).fill(NaN);
      termCount.set(this.termCount.subarray(0, this.length));
      this.termCount = termCount;
      const nLogN = new Float64Array(cap);
      nLogN.set(this.nLogN.subarray(0, this.length));
      this.nLogN = nLogN;
      const effective = new Float64Array(cap);
      effective.set(this.effective.subarray(0, this.length));
      this.effective = effective;
    } else {
      this.perm.copyWithin(length - this.length, 0, this.length);
    }
    for (let s = this.length; s < length; s++) this.perm[s - this.length] = s;
    this.length = length;
  }

  /** Sorts sorted[0..length) ascending, permuting perm alike; false (order partly done) once moves exceed budget. */
  private insertionSort(length: number, budget: number): boolean {
    const sorted = this.sorted;
    const perm = this.perm;
    let moves = 0;
    for (let i = 1; i < length; i++) {
      const v = sorted[i]!;
      if (!(v < sorted[i - 1]!)) continue;
      const s = perm[i]!;
      let j = i - 1;
      do {
        sorted[j + 1] = sorted[j]!;
        perm[j + 1] = perm[j]!;
        j--;
      } while (j >= 0 && sorted[j]! > v);
      sorted[j + 1] = v;
      perm[j + 1] = s;
      moves += i - j;
      if (moves > budget) return false;
    }
    return true;
  }

  /** Full sort of counts[0..length) into sorted/perm (ties in slot order). */
  private fullSort(counts: Float64Array, length: number, max: number): void {
    const perm = this.perm;
    const sorted = this.sorted;
    const shift = 2 ** (32 - Math.clz32(length));
    let integral = max * shift < TWO_POW_53;
    if (integral) {
      const keys = this.keys;
      for (let s = 0; s < length; s++) {
        const n = counts[s]!;
        if (!(Number.isInteger(n) && n >= 0)) {
          integral = false;
          break;
        }
        keys[s] = n * shift + s;
      }
      if (integral) {
        const view = keys.subarray(0, length);
        view.sort();
        for (let i = 0; i < length; i++) {
          const k = view[i]!;
          const s = k % shift;
          perm[i] = s;
          sorted[i] = counts[s]!;
        }
        return;
      }
    }
    // Non-integer (decayed) or huge counts: sort the slots by count.
    const order = Array.from({ length }, (_, s) => s).sort((a, b) => counts[a]! - counts[b]! || a - b);
    for (let i = 0; i < length; i++) {
      perm[i] = order[i]!;
      sorted[i] = counts[order[i]!]!;
    }
  }
}
