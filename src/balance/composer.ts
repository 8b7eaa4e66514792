/**
 * Batch composer: fresh events + majority undersampling + minority replay (+ optional
 * synthetic interpolations, SMOTE in latent space: Chawla et al., JAIR 2002).
 *
 * Target mix q_c ∝ π_c^ρ over the categories in the window (ρ = 1 keeps the stream's mix,
 * ρ = 0 is uniform). Since π_c = (n_c + α)/(N + αC), q_c ∝ (n_c + α)^ρ: the power depends
 * on the count only and is memoised per slot, so a batch pays it for changed counts only. With F fresh events and batch size B:
 *   1. keep a fresh event of c with probability a_c = min(1, (B/F)·q_c/π_c) (undersampling;
 *      for F = B this is the design's min(1, q_c/π_c)), so the expected kept count is
 *      min(F·π_c, B·q_c) ≤ B·q_c. Events of categories not in the window are kept (a = 1).
 *      If more than B are kept, a uniform subset of B is kept.
 *   2. the remaining R = B − kept slots go to the shortfalls s_c = max(0, B·q_c − kept_c) by
 *      systematic sampling (one uniform offset, stride Σs/R): each category gets ⌊R·s_c/Σs⌋
 *      or ⌈R·s_c/Σs⌉ slots, unbiased and with the least variance.
 *   3. each such slot is a replay of a uniform item of c's reservoir (the CBRS memory when the
 *      reservoir is empty), or with probability syntheticFraction, when an interpolation hook
 *      is given and the reservoir has ≥ 2 items, hook(a, b, λ) of two distinct reservoir items
 *      a, b (uniform) with λ ~ U(0, 1), weighted × syntheticWeight; a hook that returns
 *      undefined declines (e.g. a generator not fitted yet) and the slot replays a instead.
 *      Slots with nothing to replay are filled with undersampled-away fresh events, else
 *      left out (report.unfilled).
 *   4. the batch is shuffled; each sample's weight is its category's class weight w_c divided
 *      by Z = Σ_c q_c w_c, the mean class weight under the target mix (a synthetic sample's
 *      × syntheticWeight, so with a weight ≠ 1 the mean moves off 1 by its share).
 * Sample weights. The class weights are normalised on the window's prior, Σ_c π_c w_c = 1, so
 * a batch with the stream's mix has mean weight 1. A batch resampled to q has mean Σ_c q_c w_c
 * instead (e.g. > 1 when ρ < 1 moves mass to the heavy minority weights), and the loss scale
 * would drift with ρ. Dividing by Z makes the mean sample weight under the target mix exactly
 * 1 again, keeps the ratios between categories (what the policy decides), and costs one
 * multiply-add per category and batch. ρ = 1 keeps the stream's mix (q = π), so Z = 1 up to
 * the drift of π since the last weight refresh: there the class weights are used unchanged.
 * The clip [w_min, w_max] bounds the class weights, not these batch-scaled sample weights.
 * The realised mix is q only approximately (a head category whose kept fresh count overshoots
 * B·q_c is not trimmed, a shortfall is filled), so realised means run slightly below 1:
 * 0.98 to 0.99 measured at B = 1,024, the gap shrinking as 1/√B.
 * Note: balancing by resampling and by class weights both correct for the skew; a trainer
 * using both at full strength over-corrects (use ρ < 1 or the 'none' policy).
 *
 * Informed undersampling (options.score; `--undersampling informed`). Uniform undersampling
 * drops majority events at random; informed undersampling keeps the most informative ones
 * instead, as NearMiss keeps the majority examples nearest the minority (Mani & Zhang, "kNN
 * approach to unbalanced data distributions", ICML 2003 Workshop on Learning from Imbalanced
 * Datasets) and online hard example mining keeps the highest-loss ones (Shrivastava et al.,
 * CVPR 2016). How many of each category stay is unchanged, only which: a category c with
 * F_c fresh events and a_c < 1 keeps k_c = ⌊x⌋ or ⌈x⌉ of them, x = F_c·a_c (randomised
 * rounding, P(⌈x⌉) = x − ⌊x⌋, so E[k_c] = F_c·a_c, the uniform method's expected count, where
 * a deterministic round would bias small categories), namely its k_c highest-scored fresh
 * events, ties broken by a uniform key from the Rng. Categories with a_c ≥ 1 and events outside
 * the window keep everything. When more than B are kept, how many each category loses is drawn
 * as the uniform method draws it (a uniform B-subset of the kept events) and each drops its
 * lowest-scored. Slots with nothing to replay take the highest-scored dropped events first.
 * So within a category the fresh events in the batch are always its top-scored ones. A NaN
 * score counts as −∞. Without options.score every step and every random draw is the uniform
 * method's, bit for bit.
 */
import { invalid } from './config.js';
import type { ReservoirBank } from './reservoir.js';
import type { ClassBalancedMemory } from './cbrs.js';
import type { Rng } from './rng.js';
import type { CategoryWindow } from './window.js';
import type { SmoothedClassWeights } from './weights.js';

export const SOURCE_FRESH = 0;
export const SOURCE_REPLAY = 1;
export const SOURCE_SYNTHETIC = 2;
export type SampleSource = 'fresh' | 'replay' | 'synthetic';
export const SOURCE_NAMES: readonly SampleSource[] = ['fresh', 'replay', 'synthetic'];

/**
 * A synthetic sample of two distinct same-category items and λ ~ U(0, 1) (latent SMOTE: the
 * model interpolates them; any other generator may use them as it likes), or undefined to
 * decline: the slot is then a plain replay of `a`.
 */
export type Interpolate<T> = (a: T, b: T, lambda: number) => T | undefined;

/** How informative a fresh event is (e.g. the current model's loss on it); `index` is its position in `fresh`. */
export type Informativeness<T> = (item: T, index: number) => number;

export interface ComposeOptions<T> {
  /**
   * Synthetic minority samples (--synthetic): a sample made of two same-category reservoir
   * items and λ (latent SMOTE: the trainer interpolates their inputs), or undefined to replay.
   */
  readonly interpolate?: Interpolate<T>;
  /**
   * Informed undersampling: an undersampled category keeps its highest-scored fresh events
   * (as many as uniform undersampling keeps in expectation) instead of a uniform subset.
   * Called once per fresh event. Absent: uniform undersampling.
   */
  readonly score?: Informativeness<T>;
}

export interface SourceCounts {
  fresh: number;
  replay: number;
  synthetic: number;
}

export interface CompositionReport {
  readonly requested: number;
  readonly size: number;
  readonly fresh: number;
  readonly replay: number;
  readonly synthetic: number;
  /** Fresh events removed by undersampling. */
  readonly droppedFresh: number;
  /** Slots that had nothing to replay and no dropped fresh event to fall back on. */
  readonly unfilled: number;
  readonly byCategory: ReadonlyMap<string, Readonly<SourceCounts>>;
  /** 1/Z, Z = Σ_c q_c w_c: sample weight = class weight × this (1 when ρ = 1). */
  readonly weightScale: number;
}

export interface ComposedBatch<T> {
  readonly items: T[];
  /** Sample weight of each item: its class weight × report.weightScale (mean 1 in expectation). */
  readonly weights: Float32Array;
  /** SOURCE_FRESH / SOURCE_REPLAY / SOURCE_SYNTHETIC per item. */
  readonly sources: Uint8Array;
  readonly report: CompositionReport;
}

export interface ComposerParts<T extends { readonly categoryId: string }> {
  readonly window: CategoryWindow;
  readonly reservoirs: ReservoirBank<T>;
  readonly replay: ClassBalancedMemory<T>;
  readonly weights: SmoothedClassWeights;
  readonly rng: Rng;
  readonly alpha: number;
  readonly rho: number;
  readonly syntheticFraction: number;
  /** Multiplier of a synthetic sample's weight (relative to a replay's); default 1. */
  readonly syntheticWeight?: number;
}

export class BatchComposer<T extends { readonly categoryId: string }> {
  private readonly p: ComposerParts<T>;
  private counts = new Float64Array(0);
  private priors = new Float64Array(0);
  private target = new Float64Array(0);
  private kept = new Float64Array(0);
  /** Per slot: the count the memoised (n + α)^ρ belongs to (NaN = none), and the power. */
  private powCount = new Float64Array(0);
  private powValue = new Float64Array(0);
  /** Scratch of the BatchBuilder: per slot × source, samples put in the batch being composed (zeroed after each batch). */
  private slotSources = new Int32Array(0);
  /** Scratch of the BatchBuilder: slots and categories outside the window in first-use order. */
  private touchedSlots = new Int32Array(0);
  private freshSlot = new Int32Array(0);
  private keptIdx = new Int32Array(0);
  private droppedIdx = new Int32Array(0);
  /** 1/Σ_c q_c w_c of the batch being composed (set by targetMix(), read by putFresh() and fill()). */
  private weightScale = 1;
  // Informed undersampling scratch (allocated on first use): per fresh event its score, its
  // random tie-break key, its group (slot, or slotLimit for categories outside the window),
  // an index permutation and a keep flag; per group its keep count; labels for the trim.
  private keys = new Float64Array(0);
  private ties = new Float64Array(0);
  private groups = new Int32Array(0);
  private order = new Int32Array(0);
  private keepFlags = new Uint8Array(0);
  private labels = new Int32Array(0);
  private quota = new Int32Array(0);
  /** Group, then score descending, then tie key descending. */
  private readonly byGroupThenScore = (i: number, j: number): number => this.groups[i]! - this.groups[j]! || this.byScore(i, j);
  /** Score descending, then tie key descending. */
  private readonly byScore = (i: number, j: number): number => {
    const a = this.keys[i]!;
    const b = this.keys[j]!;
    if (a !== b) return a > b ? -1 : 1;
    return this.ties[j]! - this.ties[i]!;
  };

  constructor(parts: ComposerParts<T>) {
    this.p = parts;
  }

  compose(fresh: readonly T[], batchSize: number, options: ComposeOptions<T> = {}): ComposedBatch<T> {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw invalid('batchSize', 'an integer ≥ 1', batchSize);
    if (!Array.isArray(fresh)) throw invalid('fresh', 'an array of events', fresh);
    const { window, rng } = this.p;
    const score = options.score;
    const B = batchSize;
    const F = fresh.length;
    this.ensure(window.slotLimit, F);
    this.targetMix(B);
    // 1. Undersampling of fresh events.
    const factor = F > 0 ? 1 / F : 0;
    const keptCount = score === undefined ? this.undersampleUniform(fresh, B, factor) : this.undersampleInformed(fresh, B, factor, score);
    const droppedCount = F - keptCount;
    const batch = new BatchBuilder<T>(B, this.slotSources, this.touchedSlots);
    for (let i = 0; i < keptCount; i++) this.putFresh(batch, fresh, this.keptIdx[i]!);
    // 2–3. Shortfalls by systematic sampling, filled by replay or synthesis.
    const empty = this.fillShortfalls(B - keptCount, batch, options.interpolate);
    const fallback = this.fallBackOnDropped(fresh, droppedCount, empty, score !== undefined, batch);
    // 4. Shuffle (Fisher–Yates) so sources and categories are not in blocks.
    batch.shuffle(rng);
    return batch.finish(window, droppedCount - fallback, empty - fallback, this.weightScale);
  }

  /**
   * π_c and the target counts B·q_c, q_c ∝ π_c^ρ, over the categories in the window (into
   * priors and target; kept zeroed), and weightScale = 1/Z, Z = Σ_c q_c w_c.
   */
  private targetMix(B: number): void {
    const { window, weights } = this.p;
    const limit = window.slotLimit;
    const { counts, priors, target, kept, powCount, powValue } = this;
    window.fillCounts(counts);
    const alpha = this.p.alpha;
    const rho = this.p.rho;
    const denom = window.total() + alpha * window.size;
    let qSum = 0;
    // Σ_c q̃_c w_c with the unnormalised q̃; divided by Σ q̃ it is Z = Σ_c q_c w_c.
    let qw = 0;
    for (let s = 0; s < limit; s++) {
      const n = counts[s]!;
      kept[s] = 0;
      if (n > 0) {
        priors[s] = (n + alpha) / denom;
        let q: number;
        if (rho === 1) q = n + alpha;
        else if (rho === 0) q = 1;
        else if (powCount[s] === n) q = powValue[s]!;
        else {
          q = Math.pow(n + alpha, rho);
          powCount[s] = n;
          powValue[s] = q;
        }
        target[s] = q;
        qSum += q;
        qw += q * weights.weightAt(s);
      } else {
        priors[s] = 0;
        target[s] = 0;
      }
    }
    for (let s = 0; s < limit; s++) target[s] = (target[s]! / qSum) * B;
    this.weightScale = rho === 1 || !(qw > 0) ? 1 : qSum / qw;
  }

  /** Puts fresh[idx] in the batch with its category's class weight (the unseen weight outside the window). */
  private putFresh(batch: BatchBuilder<T>, fresh: readonly T[], idx: number): void {
    const weights = this.p.weights;
    const e = fresh[idx]!;
    const slot = this.freshSlot[idx]!;
    batch.put(e, slot, e.categoryId, (slot >= 0 ? weights.weightAt(slot) : weights.unseenWeight) * this.weightScale, SOURCE_FRESH);
  }

  /**
   * Steps 2–3: spreads `remaining` slots over the shortfalls max(0, B·q_c − kept_c) by systematic
   * sampling (target becomes the shortfalls) and fills each by replay or synthesis; returns the
   * slots left empty (nothing stored for their category, or no shortfall at all).
   */
  private fillShortfalls(remaining: number, batch: BatchBuilder<T>, interpolate: Interpolate<T> | undefined): number {
    if (remaining <= 0) return 0;
    const limit = this.p.window.slotLimit;
    const { target, kept } = this;
    let shortfall = 0;
    for (let s = 0; s < limit; s++) {
      const d = target[s]! - kept[s]!;
      const v = d > 0 ? d : 0;
      target[s] = v;
      shortfall += v;
    }
    if (!(shortfall > 0)) return remaining;
    let empty = 0;
    const stride = shortfall / remaining;
    let u = this.p.rng.next() * stride;
    let cum = 0;
    let picked = 0;
    let lastSlot = -1;
    for (let s = 0; s < limit && picked < remaining; s++) {
      const v = target[s]!;
      if (v <= 0) continue;
      lastSlot = s;
      cum += v;
      while (u < cum && picked < remaining) {
        if (!this.fill(s, batch, interpolate)) empty++;
        picked++;
        u += stride;
      }
    }
    // Rounding can leave the last stride unvisited.
    while (picked < remaining && lastSlot >= 0) {
      if (!this.fill(lastSlot, batch, interpolate)) empty++;
      picked++;
    }
    return empty;
  }

  /**
   * Fills up to `empty` slots with undersampled-away fresh events (uniformly, or informed: the
   * highest-scored first); returns how many it used.
   */
  private fallBackOnDropped(fresh: readonly T[], droppedCount: number, empty: number, informed: boolean, batch: BatchBuilder<T>): number {
    const dropped = this.droppedIdx;
    if (informed && empty > 0 && droppedCount > 1) dropped.subarray(0, droppedCount).sort(this.byScore);
    let fallback = 0;
    while (fallback < empty && fallback < droppedCount) {
      let idx: number;
      if (informed) {
        idx = dropped[fallback]!;
      } else {
        const j = fallback + this.p.rng.int(droppedCount - fallback);
        idx = dropped[j]!;
        dropped[j] = dropped[fallback]!;
        dropped[fallback] = idx;
      }
      fallback++;
      this.putFresh(batch, fresh, idx);
    }
    return fallback;
  }

  /**
   * Step 1 with uniform undersampling: keeps a fresh event of slot c with probability a_c, then
   * a uniform subset of B if more are kept. Fills freshSlot, keptIdx, droppedIdx and kept[slot];
   * returns the kept count (≤ B).
   */
  private undersampleUniform(fresh: readonly T[], B: number, factor: number): number {
    const { window, rng } = this.p;
    const F = fresh.length;
    const { priors, target, kept } = this;
    let keptCount = 0;
    let droppedCount = 0;
    for (let i = 0; i < F; i++) {
      const slot = window.slotOf(fresh[i]!.categoryId);
      this.freshSlot[i] = slot;
      let keep = true;
      if (slot >= 0 && priors[slot]! > 0) {
        const a = (factor * target[slot]!) / priors[slot]!;
        keep = a >= 1 || rng.next() < a;
      }
      if (keep) {
        this.keptIdx[keptCount++] = i;
        if (slot >= 0) kept[slot]!++;
      } else {
        this.droppedIdx[droppedCount++] = i;
      }
    }
    if (keptCount > B) {
      // Uniform subset of B (partial Fisher–Yates); the rest count as dropped.
      for (let i = 0; i < B; i++) {
        const j = i + rng.int(keptCount - i);
        const t = this.keptIdx[i]!;
        this.keptIdx[i] = this.keptIdx[j]!;
        this.keptIdx[j] = t;
      }
      for (let i = B; i < keptCount; i++) {
        const idx = this.keptIdx[i]!;
        const slot = this.freshSlot[idx]!;
        if (slot >= 0) kept[slot]!--;
        this.droppedIdx[droppedCount++] = idx;
      }
      keptCount = B;
    }
    return keptCount;
  }

  /**
   * Step 1 with informed undersampling (see the module comment): fills freshSlot, keptIdx and
   * droppedIdx (both in arrival order) and kept[slot]; returns the kept count (≤ B).
   */
  private undersampleInformed(fresh: readonly T[], B: number, factor: number, score: Informativeness<T>): number {
    const { window, rng } = this.p;
    const F = fresh.length;
    const limit = window.slotLimit;
    this.ensureInformed(limit + 1, F);
    const { priors, target, kept, freshSlot, keys, ties, groups, order, keepFlags, quota } = this;
    quota.fill(0, 0, limit + 1);
    // Group sizes F_g, scores and tie-break keys, in arrival order.
    for (let i = 0; i < F; i++) {
      const e = fresh[i]!;
      const slot = window.slotOf(e.categoryId);
      freshSlot[i] = slot;
      const g = slot >= 0 ? slot : limit;
      groups[i] = g;
      quota[g]!++;
      const k = score(e, i);
      keys[i] = k === k ? k : -Infinity;
      ties[i] = rng.next();
      order[i] = i;
    }
    // Keep counts: all of a group with a ≥ 1 (or outside the window), else F_g·a_g rounded at random.
    let total = quota[limit]!;
    for (let s = 0; s < limit; s++) {
      const n = quota[s]!;
      if (n === 0) continue;
      if (priors[s]! > 0) {
        const a = (factor * target[s]!) / priors[s]!;
        if (a < 1) {
          const x = n * a;
          const k = Math.floor(x);
          quota[s] = k + (x > k && rng.next() < x - k ? 1 : 0);
        }
      }
      total += quota[s]!;
    }
    if (total > B) {
      // How many of each group survive a uniform B-subset of the kept events (partial Fisher–Yates on group labels).
      const labels = this.labels;
      let w = 0;
      for (let g = 0; g <= limit; g++) for (let c = quota[g]!; c > 0; c--) labels[w++] = g;
      quota.fill(0, 0, limit + 1);
      for (let i = 0; i < B; i++) {
        const j = i + rng.int(total - i);
        const t = labels[i]!;
        labels[i] = labels[j]!;
        labels[j] = t;
        quota[t]!++;
      }
    }
    // Each group keeps its quota of highest-scored events.
    const sorted = order.subarray(0, F).sort(this.byGroupThenScore);
    for (let r = 0; r < F; r++) {
      const i = sorted[r]!;
      const g = groups[i]!;
      if (quota[g]! > 0) {
        quota[g]!--;
        keepFlags[i] = 1;
      } else {
        keepFlags[i] = 0;
      }
    }
    let keptCount = 0;
    let droppedCount = 0;
    for (let i = 0; i < F; i++) {
      if (keepFlags[i] === 1) {
        this.keptIdx[keptCount++] = i;
        const slot = freshSlot[i]!;
        if (slot >= 0) kept[slot]!++;
      } else {
        this.droppedIdx[droppedCount++] = i;
      }
    }
    return keptCount;
  }

  private ensureInformed(groups: number, fresh: number): void {
    if (this.quota.length < groups) this.quota = new Int32Array(Math.max(groups, 2 * this.quota.length));
    if (this.keys.length < fresh) {
      const n = Math.max(fresh, this.keys.length * 2);
      this.keys = new Float64Array(n);
      this.ties = new Float64Array(n);
      this.groups = new Int32Array(n);
      this.order = new Int32Array(n);
      this.keepFlags = new Uint8Array(n);
      this.labels = new Int32Array(n);
    }
  }

  /** One replay or synthetic sample of slot s; false when the category has nothing stored. */
  private fill(slot: number, batch: BatchBuilder<T>, interpolate: Interpolate<T> | undefined): boolean {
    const { window, reservoirs, replay, weights, rng } = this.p;
    const id = window.idAt(slot)!;
    const weight = weights.weightAt(slot) * this.weightScale;
    const stored = reservoirs.itemsAt(slot);
    const n = stored.length;
    if (interpolate !== undefined && n >= 2 && this.p.syntheticFraction > 0 && rng.next() < this.p.syntheticFraction) {
      const i = rng.int(n);
      let j = rng.int(n - 1);
      if (j >= i) j++;
      const made = interpolate(stored[i]!, stored[j]!, rng.next());
      if (made !== undefined) batch.put(made, slot, id, weight * (this.p.syntheticWeight ?? 1), SOURCE_SYNTHETIC);
      else batch.put(stored[i]!, slot, id, weight, SOURCE_REPLAY);
      return true;
    }
    if (n > 0) {
      batch.put(stored[rng.int(n)]!, slot, id, weight, SOURCE_REPLAY);
      return true;
    }
    const item = replay.sample(id);
    if (item === undefined) return false;
    batch.put(item, slot, id, weight, SOURCE_REPLAY);
    return true;
  }

  private ensure(slots: number, fresh: number): void {
    if (this.counts.length < slots) {
      const n = Math.max(slots, this.counts.length * 2);
      this.counts = new Float64Array(n);
      this.priors = new Float64Array(n);
      this.target = new Float64Array(n);
      this.kept = new Float64Array(n);
      this.powCount = new Float64Array(n).fill(NaN);
      this.powValue = new Float64Array(n);
      this.slotSources = new Int32Array(3 * n);
    }
    if (this.touchedSlots.length < slots + fresh) this.touchedSlots = new Int32Array(Math.max(slots + fresh, 2 * this.touchedSlots.length));
    if (this.freshSlot.length < fresh) {
      const n = Math.max(fresh, this.freshSlot.length * 2);
      this.freshSlot = new Int32Array(n);
      this.keptIdx = new Int32Array(n);
      this.droppedIdx = new Int32Array(n);
    }
  }
}

/**
 * The batch being composed: its samples, weights and sources, and per-category source counts
 * (per slot in the composer's typed array, zeroed again by finish(); categories outside the
 * window through a Map), reported in first-use order.
 */
class BatchBuilder<T> {
  private readonly items: T[];
  private readonly w: Float32Array;
  private readonly sources: Uint8Array;
  private readonly slotSources: Int32Array;
  /** Slots (≥ 0) and categories outside the window (−1 − index in `outside`) in first-use order. */
  private readonly touchedSlots: Int32Array;
  private nTouched = 0;
  private outside: Map<string, SourceCounts> | undefined;
  private size = 0;
  private nFresh = 0;
  private nReplay = 0;
  private nSynthetic = 0;

  constructor(batchSize: number, slotSources: Int32Array, touchedSlots: Int32Array) {
    this.items = new Array<T>(batchSize);
    this.w = new Float32Array(batchSize);
    this.sources = new Uint8Array(batchSize);
    this.slotSources = slotSources;
    this.touchedSlots = touchedSlots;
  }

  put(item: T, slot: number, categoryId: string, weight: number, source: number): void {
    const size = this.size++;
    this.items[size] = item;
    this.w[size] = weight;
    this.sources[size] = source;
    if (source === SOURCE_FRESH) this.nFresh++;
    else if (source === SOURCE_REPLAY) this.nReplay++;
    else this.nSynthetic++;
    if (slot >= 0) {
      const slotSources = this.slotSources;
      const base = slot * 3;
      if (slotSources[base]! + slotSources[base + 1]! + slotSources[base + 2]! === 0) this.touchedSlots[this.nTouched++] = slot;
      slotSources[base + source]!++;
      return;
    }
    this.outside ??= new Map();
    let c = this.outside.get(categoryId);
    if (c === undefined) {
      c = { fresh: 0, replay: 0, synthetic: 0 };
      this.outside.set(categoryId, c);
      this.touchedSlots[this.nTouched++] = -this.outside.size;
    }
    if (source === SOURCE_FRESH) c.fresh++;
    else if (source === SOURCE_REPLAY) c.replay++;
    else c.synthetic++;
  }

  /** Fisher–Yates over the samples put so far (items, weights and sources together). */
  shuffle(rng: Rng): void {
    const { items, w, sources } = this;
    for (let i = this.size - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const it = items[i]!;
      items[i] = items[j]!;
      items[j] = it;
      const wt = w[i]!;
      w[i] = w[j]!;
      w[j] = wt;
      const so = sources[i]!;
      sources[i] = sources[j]!;
      sources[j] = so;
    }
  }

  /** The composed batch and its report; zeroes the composer's per-slot counters for the next batch. */
  finish(window: CategoryWindow, droppedFresh: number, unfilled: number, weightScale: number): ComposedBatch<T> {
    const { items, w, sources, size, slotSources, touchedSlots } = this;
    const B = w.length;
    items.length = size;
    const byCategory = new Map<string, SourceCounts>();
    const outsideEntries = this.outside === undefined ? [] : [...this.outside];
    for (let i = 0; i < this.nTouched; i++) {
      const slot = touchedSlots[i]!;
      if (slot < 0) {
        const [id, c] = outsideEntries[-slot - 1]!;
        byCategory.set(id, c);
        continue;
      }
      const base = slot * 3;
      byCategory.set(window.idAt(slot)!, { fresh: slotSources[base]!, replay: slotSources[base + 1]!, synthetic: slotSources[base + 2]! });
      slotSources[base] = 0;
      slotSources[base + 1] = 0;
      slotSources[base + 2] = 0;
    }
    return {
      items,
      weights: size === B ? w : w.slice(0, size),
      sources: size === B ? sources : sources.slice(0, size),
      report: { requested: B, size, fresh: this.nFresh, replay: this.nReplay, synthetic: this.nSynthetic, droppedFresh, unfilled, byCategory, weightScale },
    };
  }
}
