/**
 * Generative oversampling (`--synthetic gaussian`): a class-conditional generator of the
 * model's input vectors, fitted online to each category's replayed positives, sampled for
 * the synthetic slots the composer gives a category. Generative oversampling fits a
 * distribution to the minority class and draws new minority examples from it (Liu, Ghosh &
 * Martin, "Generative Oversampling for Mining Imbalanced Datasets", DMIN 2007).
 *
 * The generator is a diagonal Gaussian N(μ_c, diag σ²_c) over the concatenated gathered
 * input of a positive: user GMF | item GMF (+ category GMF) | MLP input (user | item |
 * category) | count features (with the wide part). Why a diagonal Gaussian and not a
 * conditional GAN (BAGAN: Mariani et al., arXiv 2018; CTGAN: Xu et al., NeurIPS 2019): it is
 * fitted in O(width) per observation with no training loop of its own, needs no more than a
 * few dozen samples for a stable estimate (2 numbers per coordinate), which is what a tail
 * category has, and it cannot diverge or collapse; a GAN needs thousands of samples per
 * class and its own optimiser, more than a tail category ever has. The price: a diagonal
 * Gaussian ignores how coordinates go together (a user's and an item's vectors that match),
 * so its draws carry the category's typical inputs, not its user–item pairings.
 *
 * Online fit, bounded: per key (the category's hashed row, so at most categoryRows keys) the
 * mean and the sum of squared deviations, 2 × width numbers. The first `window` observations
 * are exact running moments (Welford, Technometrics 1962); after that each observation has
 * weight 1/window and older ones decay (exponentially weighted mean and variance: Finch,
 * "Incremental calculation of weighted mean and variance", 2009), so the fit follows the
 * embeddings as they train instead of averaging over inputs the model no longer produces.
 */
import { z } from 'zod';
import type { Rng } from '../balance/index.js';
import { RebalancerError } from '../errors.js';
import type { GatheredInputs } from './neumf.js';

/** Observations of a category before its Gaussian is sampled (before that its synthetic slots replay). */
export const GAUSSIAN_MIN_OBSERVATIONS = 32;
/** Observations after which older ones decay (weight 1/window each). */
export const GAUSSIAN_WINDOW = 256;

/** A fitted oversampler as plain data (trainer state: hand-over between trainer workers). */
export interface GaussianState {
  width: number;
  window: number;
  keys: Int32Array;
  /** Observations per key (not capped at the window). */
  counts: Float64Array;
  /** [keys × width] means, then sums of squared deviations (variance × (min(count, window) − 1)). */
  means: Float64Array;
  m2: Float64Array;
}

export const gaussianStateSchema: z.ZodType<GaussianState> = z
  .object({
    width: z.number().int().min(1),
    window: z.number().int().min(2),
    keys: z.instanceof(Int32Array),
    counts: z.instanceof(Float64Array),
    means: z.instanceof(Float64Array),
    m2: z.instanceof(Float64Array),
  })
  .superRefine((s, ctx) => {
    const k = s.keys.length;
    if (s.counts.length !== k || s.means.length !== k * s.width || s.m2.length !== k * s.width) ctx.addIssue({ code: 'custom', message: `gaussian oversampler state: ${k} keys, ${s.counts.length} counts, ${s.means.length} means, ${s.m2.length} m2 for width ${s.width}` });
  });

interface Moments {
  n: number;
  readonly mean: Float64Array;
  readonly m2: Float64Array;
}

export class GaussianOversampler {
  readonly width: number;
  readonly window: number;
  private readonly stats = new Map<number, Moments>();

  constructor(width: number, window = GAUSSIAN_WINDOW, state?: GaussianState) {
    if (!Number.isInteger(width) || width < 1) throw new RebalancerError('REB_MODEL_INVALID', `gaussian oversampler width must be an integer >= 1, got ${width}`);
    if (!Number.isInteger(window) || window < 2) throw new RebalancerError('REB_MODEL_INVALID', `gaussian oversampler window must be an integer >= 2, got ${window}`);
    this.width = width;
    this.window = window;
    if (state !== undefined) {
      if (state.width !== width || state.window !== window) {
        throw new RebalancerError('REB_MODEL_INVALID', `gaussian oversampler state is for width ${state.width} and window ${state.window}, the model's inputs have ${width} and window ${window}`);
      }
      for (let k = 0; k < state.keys.length; k++) {
        const o = k * width;
        this.stats.set(state.keys[k]!, { n: state.counts[k]!, mean: state.means.slice(o, o + width), m2: state.m2.slice(o, o + width) });
      }
    }
  }

  /** Adds one observation x[offset, offset + width) to the key's fit. */
  observe(key: number, x: ArrayLike<number>, offset = 0): void {
    const w = this.width;
    let s = this.stats.get(key);
    if (s === undefined) {
      s = { n: 0, mean: new Float64Array(w), m2: new Float64Array(w) };
      this.stats.set(key, s);
    }
    const n = s.n + 1;
    s.n = n;
    const mean = s.mean;
    const m2 = s.m2;
    if (n <= this.window) {
      // Welford: μ ← μ + δ/n, M2 ← M2 + δ·(x − μ_new).
      for (let d = 0; d < w; d++) {
        const x1 = x[offset + d]!;
        const delta = x1 - mean[d]!;
        mean[d]! += delta / n;
        m2[d]! += delta * (x1 - mean[d]!);
      }
      return;
    }
    // Exponentially weighted, α = 1/window: μ ← μ + αδ, σ² ← (1 − α)(σ² + αδ²); M2 = σ²·(window − 1).
    const alpha = 1 / this.window;
    const norm = this.window - 1;
    for (let d = 0; d < w; d++) {
      const delta = x[offset + d]! - mean[d]!;
      mean[d]! += alpha * delta;
      m2[d] = (1 - alpha) * (m2[d]! + norm * alpha * delta * delta);
    }
  }

  /** Observations of the key so far. */
  count(key: number): number {
    return this.stats.get(key)?.n ?? 0;
  }

  /** True when the key has at least `min` observations (its draws are used). */
  ready(key: number, min = GAUSSIAN_MIN_OBSERVATIONS): boolean {
    return this.count(key) >= Math.max(2, min);
  }

  /** The key's fitted mean (a copy; zeros when unseen). */
  mean(key: number): Float64Array {
    return this.stats.get(key)?.mean.slice() ?? new Float64Array(this.width);
  }

  /** The key's fitted variance per coordinate (the unbiased sample variance within the window; zeros below 2 observations). */
  variance(key: number): Float64Array {
    const out = new Float64Array(this.width);
    const s = this.stats.get(key);
    if (s === undefined || s.n < 2) return out;
    const norm = Math.min(s.n, this.window) - 1;
    for (let d = 0; d < this.width; d++) out[d] = Math.max(0, s.m2[d]! / norm);
    return out;
  }

  /** One draw x ~ N(μ_key, diag σ²_key) into out[offset, offset + width), with `rng`'s normals. */
  sample(key: number, rng: Rng, out: Float32Array, offset = 0): void {
    const s = this.stats.get(key);
    if (s === undefined || s.n < 2) throw new RebalancerError('REB_MODEL_INVALID', `gaussian oversampler: key ${key} has ${s?.n ?? 0} observations, too few to sample`);
    const norm = Math.min(s.n, this.window) - 1;
    for (let d = 0; d < this.width; d++) out[offset + d] = s.mean[d]! + Math.sqrt(Math.max(0, s.m2[d]! / norm)) * rng.normal();
  }

  /** Number of keys fitted. */
  get size(): number {
    return this.stats.size;
  }

  exportState(): GaussianState {
    const k = this.stats.size;
    const w = this.width;
    const state: GaussianState = { width: w, window: this.window, keys: new Int32Array(k), counts: new Float64Array(k), means: new Float64Array(k * w), m2: new Float64Array(k * w) };
    let i = 0;
    for (const [key, s] of this.stats) {
      state.keys[i] = key;
      state.counts[i] = s.n;
      state.means.set(s.mean, i * w);
      state.m2.set(s.m2, i * w);
      i++;
    }
    return state;
  }
}

/** Width of the generator's vectors: user GMF, item GMF, MLP input (3 blocks) and, with the wide part, the count features. */
export function inputWidth(gmfDim: number, mlpDim: number, wideFeatures: number): number {
  return 2 * gmfDim + 3 * mlpDim + wideFeatures;
}

/** Copies sample r's gathered input vector (user GMF | item GMF | MLP input | count features) into out[0, width). */
export function readInputVector(inputs: GatheredInputs, r: number, gmfDim: number, mlpDim: number, wideFeatures: number, out: Float32Array): void {
  const g = gmfDim;
  const m3 = 3 * mlpDim;
  out.set(inputs.userGmf.subarray(r * g, r * g + g), 0);
  out.set(inputs.itemGmf.subarray(r * g, r * g + g), g);
  out.set(inputs.mlpInput.subarray(r * m3, r * m3 + m3), 2 * g);
  if (wideFeatures > 0) out.set(inputs.wide.subarray(r * wideFeatures, r * wideFeatures + wideFeatures), 2 * g + m3);
}

/**
 * Writes a drawn vector x into sample r's inputs: all of it (a synthetic positive), or with
 * `userOnly` its user blocks only (user GMF and user MLP: a negative paired with the drawn
 * user side, whose item side and count features stay the negative's own).
 */
export function writeInputVector(inputs: GatheredInputs, r: number, gmfDim: number, mlpDim: number, wideFeatures: number, x: Float32Array, userOnly: boolean): void {
  const g = gmfDim;
  const m = mlpDim;
  const m3 = 3 * m;
  inputs.userGmf.set(x.subarray(0, g), r * g);
  if (userOnly) {
    inputs.mlpInput.set(x.subarray(2 * g, 2 * g + m), r * m3);
    return;
  }
  inputs.itemGmf.set(x.subarray(g, 2 * g), r * g);
  inputs.mlpInput.set(x.subarray(2 * g, 2 * g + m3), r * m3);
  if (wideFeatures > 0) inputs.wide.set(x.subarray(2 * g + m3, 2 * g + m3 + wideFeatures), r * wideFeatures);
}
