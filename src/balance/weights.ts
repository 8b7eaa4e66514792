/**
 * Class-weight policies and their normalisation.
 *
 * Raw weight r_c from the smoothed prior π_c = (n_c + α)/(N + αC):
 *   none                 r_c = 1
 *   inverse_frequency    r_c = 1/π_c
 *   sqrt_inverse         r_c = π_c^{-1/2}
 *   effective_number     r_c = 1/E_c, E_c = (1 − β^{n_c+α})/(1 − β)   (Cui et al., CVPR 2019;
 *                        the count is smoothed by α like the prior so n_c = 0 stays finite;
 *                        effectiveNumberWeight() in effective-number.ts)
 *
 * Order chosen: normalise and clip together, then smooth, then normalise and clip again.
 * "Normalise then clip" alone breaks Σ π_c w_c = 1 whenever a clip binds, so instead we solve
 * for the scale s with Σ_c π_c · clip(s·r_c, w_min, w_max) = 1 (a monotone piecewise-linear
 * equation in s; safeguarded Newton). A solution exists whenever w_min ≤ 1 ≤ w_max (the
 * config enforces it), so both invariants hold exactly (to rounding) after every refresh:
 *   Σ_c π_c w_c = 1   and   w_min ≤ w_c ≤ w_max.
 * Smoothing w ← (1−η)w + η·w_target is applied to the clipped targets, and the smoothed
 * vector is projected once more with the same equation (its scale is ≈ 1 when the prior
 * moves slowly), so smoothing never breaks the invariants.
 *
 * Unseen or vanished categories: weight = clip(s·r(n=0)), the target weight a category with
 * n_c = 0 would get under the current prior (for α = 0 that raw weight is infinite and the
 * rule gives w_max). Before the first refresh it is 1.
 */
import type { WeightPolicyName } from './config.js';
import { effectiveNumberWeight } from './effective-number.js';

export interface WeightOptions {
  readonly policy: WeightPolicyName;
  readonly alpha: number;
  readonly beta: number;
  readonly minWeight: number;
  readonly maxWeight: number;
}

/** Raw (unnormalised) weight of a category with count n and prior π. */
export function rawWeight(policy: WeightPolicyName, count: number, prior: number, alpha: number, beta: number): number {
  switch (policy) {
    case 'none':
      return 1;
    case 'inverse_frequency':
      return 1 / prior;
    case 'sqrt_inverse':
      return 1 / Math.sqrt(prior);
    case 'effective_number':
      return effectiveNumberWeight(count + alpha, beta);
  }
}

/**
 * Scale s with Σ_i prior[i]·clip(s·raw[i], lo, hi) = 1 over i in [0, length) with prior[i] > 0.
 * Requires lo ≤ 1 ≤ hi and Σ prior = 1. Infinite raw entries clip to hi.
 */
export function solveScale(raw: ArrayLike<number>, prior: ArrayLike<number>, length: number, lo: number, hi: number): number {
  let dot = 0;
  for (let i = 0; i < length; i++) {
    const p = prior[i]!;
    if (p > 0 && Number.isFinite(raw[i]!)) dot += p * raw[i]!;
  }
  return solveScaleFrom(raw, prior, length, lo, hi, dot);
}

/** solveScale() given dot = Σ prior[i]·raw[i] over prior[i] > 0 and finite raw[i] (the Newton start 1/dot). */
export function solveScaleFrom(raw: ArrayLike<number>, prior: ArrayLike<number>, length: number, lo: number, hi: number, dot: number): number {
  let s = dot > 0 ? 1 / dot : 1;
  let sLo = 0;
  let sHi = Infinity;
  for (let iter = 0; iter < 200; iter++) {
    let f = 0;
    let slope = 0;
    for (let i = 0; i < length; i++) {
      const p = prior[i]!;
      if (!(p > 0)) continue;
      const v = s * raw[i]!;
      if (v <= lo) f += p * lo;
      else if (v >= hi) f += p * hi;
      else {
        f += p * v;
        slope += p * raw[i]!;
      }
    }
    const err = 1 - f;
    if (Math.abs(err) <= 1e-13) return s;
    if (err > 0) sLo = s;
    else sHi = s;
    const newton = slope > 0 ? s + err / slope : NaN;
    if (newton > sLo && newton < sHi) s = newton;
    else if (Number.isFinite(sHi)) s = sLo > 0 ? 0.5 * (sLo + sHi) : 0.5 * sHi;
    else s = s * 2;
    if (Number.isFinite(sHi) && sHi - sLo <= 1e-15 * sHi) return s;
  }
  return s;
}

/**
 * Normalised, clipped weights for a count vector (entries ≤ 0 are absent categories and
 * get weight 0 in the output). Pure; used by the state and by the property tests.
 */
export function classWeights(counts: ArrayLike<number>, options: WeightOptions): { weights: Float64Array; priors: Float64Array; unseenWeight: number } {
  const length = counts.length;
  let total = 0;
  let categories = 0;
  for (let i = 0; i < length; i++) {
    if (counts[i]! > 0) {
      total += counts[i]!;
      categories++;
    }
  }
  const priors = new Float64Array(length);
  const raw = new Float64Array(length);
  const weights = new Float64Array(length);
  const scale = computeTargets(counts, length, total, categories, options, priors, raw);
  for (let i = 0; i < length; i++) if (priors[i]! > 0) weights[i] = clip(scale * raw[i]!, options.minWeight, options.maxWeight);
  return { weights, priors, unseenWeight: unseenWeight(scale, total, categories, options) };
}

/**
 * Per-slot memo of the effective-number raw weight, which depends on the count only:
 * a refresh recomputes the expm1 only for counts that changed since the last one.
 */
export interface RawWeightCache {
  /** Count the cached raw weight belongs to (NaN = none). */
  readonly count: Float64Array;
  readonly raw: Float64Array;
}

/** Fills priors/raw for entries with count > 0 (others 0) and returns the normalising scale. */
export function computeTargets(counts: ArrayLike<number>, length: number, total: number, categories: number, o: WeightOptions, priors: Float64Array, raw: Float64Array, cache?: RawWeightCache): number {
  const alpha = o.alpha;
  const denom = total + alpha * categories;
  // One loop per policy (decided once, not per category); same values as rawWeight().
  const policy = o.policy;
  const beta = o.beta;
  const logBeta = Math.log(beta);
  const cachedCount = cache?.count;
  const cachedRaw = cache?.raw;
  // Σ π_c r_c for the solver's start, accumulated here instead of in another pass.
  let dot = 0;
  for (let i = 0; i < length; i++) {
    const n = counts[i]!;
    if (!(n > 0)) {
      priors[i] = 0;
      raw[i] = 0;
      continue;
    }
    const p = (n + alpha) / denom;
    priors[i] = p;
    let r: number;
    if (policy === 'effective_number') {
      if (cachedCount !== undefined && cachedCount[i] === n) r = cachedRaw![i]!;
      else {
        r = effectiveNumberWeight(n + alpha, beta, logBeta);
        if (cachedCount !== undefined) {
          cachedCount[i] = n;
          cachedRaw![i] = r;
        }
      }
    } else if (policy === 'inverse_frequency') r = 1 / p;
    else if (policy === 'sqrt_inverse') r = 1 / Math.sqrt(p);
    else r = 1;
    raw[i] = r;
    if (Number.isFinite(r)) dot += p * r;
  }
  return solveScaleFrom(raw, priors, length, o.minWeight, o.maxWeight, dot);
}

export function unseenWeight(scale: number, total: number, categories: number, o: WeightOptions): number {
  const denom = total + o.alpha * categories;
  const p = denom > 0 ? o.alpha / denom : 0;
  const r = rawWeight(o.policy, 0, p, o.alpha, o.beta);
  return clip(scale * r, o.minWeight, o.maxWeight);
}

export function clip(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

export interface ClassWeightsSnapshot {
  readonly weights: readonly number[];
  readonly initialised: readonly number[];
  readonly unseenWeight: number;
  readonly refreshes: number;
}

/**
 * Smoothed per-slot weights, refreshed from the window counts. Scratch arrays are reused
 * across refreshes (grown with the slot capacity), so a refresh allocates nothing.
 */
export class SmoothedClassWeights {
  private readonly options: WeightOptions;
  private readonly eta: number;
  private w = new Float64Array(0);
  private initialised = new Uint8Array(0);
  private priors = new Float64Array(0);
  private raw = new Float64Array(0);
  private counts = new Float64Array(0);
  private rawCache: RawWeightCache = { count: new Float64Array(0), raw: new Float64Array(0) };
  private unseen = 1;
  private refreshCount = 0;

  constructor(options: WeightOptions, smoothing: number, slots: number) {
    this.options = options;
    this.eta = smoothing;
    this.ensureSlots(slots);
  }

  ensureSlots(slots: number): void {
    if (slots <= this.w.length) return;
    const w = new Float64Array(slots);
    w.set(this.w);
    this.w = w;
    const init = new Uint8Array(slots);
    init.set(this.initialised);
    this.initialised = init;
    this.priors = new Float64Array(slots);
    this.raw = new Float64Array(slots);
    this.counts = new Float64Array(slots);
    const count = new Float64Array(slots).fill(NaN);
    count.set(this.rawCache.count);
    const raw = new Float64Array(slots);
    raw.set(this.rawCache.raw);
    this.rawCache = { count, raw };
  }

  /** counts[0..length) are the window's n_c per slot (0 = free slot). */
  refresh(fillCounts: (out: Float64Array) => number, total: number, categories: number): void {
    const o = this.options;
    const length = fillCounts(this.counts);
    const counts = this.counts;
    const priors = this.priors;
    const raw = this.raw;
    const w = this.w;
    const scale = computeTargets(counts, length, total, categories, o, priors, raw, this.rawCache);
    const eta = this.eta;
    const lo = o.minWeight;
    const hi = o.maxWeight;
    let dot = 0;
    for (let i = 0; i < length; i++) {
      const p = priors[i]!;
      if (!(p > 0)) continue;
      const target = clip(scale * raw[i]!, lo, hi);
      const previous = this.initialised[i] === 1 ? w[i]! : this.unseen;
      const wi = (1 - eta) * previous + eta * target;
      w[i] = wi;
      this.initialised[i] = 1;
      if (Number.isFinite(wi)) dot += p * wi;
    }
    const rescale = solveScaleFrom(w, priors, length, lo, hi, dot);
    for (let i = 0; i < length; i++) if (priors[i]! > 0) w[i] = clip(rescale * w[i]!, lo, hi);
    this.unseen = unseenWeight(scale, total, categories, o);
    this.refreshCount++;
  }

  /** Weight of a slot, or the unseen-category weight if the slot has not been refreshed yet. */
  weightAt(slot: number): number {
    return this.initialised[slot] === 1 ? this.w[slot]! : this.unseen;
  }

  get unseenWeight(): number {
    return this.unseen;
  }

  get refreshes(): number {
    return this.refreshCount;
  }

  clear(slot: number): void {
    this.w[slot] = 0;
    this.initialised[slot] = 0;
  }

  snapshot(slotLimit: number): ClassWeightsSnapshot {
    return { weights: Array.from(this.w.subarray(0, slotLimit)), initialised: Array.from(this.initialised.subarray(0, slotLimit)), unseenWeight: this.unseen, refreshes: this.refreshCount };
  }

  restoreFrom(snap: ClassWeightsSnapshot): void {
    this.ensureSlots(snap.weights.length);
    this.w.set(snap.weights);
    this.initialised.set(snap.initialised);
    this.unseen = snap.unseenWeight;
    this.refreshCount = snap.refreshes;
  }
}
