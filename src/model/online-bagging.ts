/**
 * Online bagging for class imbalance (issue #16): K replicas of the output layer over the
 * shared embeddings and hidden layers, each trained on its own Poisson resampling of the
 * stream.
 *
 * Online bagging (Oza & Russell, "Online Bagging and Boosting", AISTATS 2001) presents each
 * example k ~ Poisson(1) times to each of K base learners: the online limit of bootstrap
 * sampling. Wang, Minku & Yao ("Resampling-Based Ensemble Methods for Online Class Imbalance
 * Learning", IEEE TKDE 27(5), 2015; the multi-class form in "Dealing with Multiple Classes in
 * Online Class Imbalance Learning", IJCAI 2016) replace λ = 1 by a class-dependent rate from
 * the live, time-decayed class sizes:
 *   - OOB (oversampling online bagging):  λ_c = w_max / w_c  (the minority is repeated),
 *   - UOB (undersampling online bagging): λ_c = w_min / w_c  (the majority is thinned).
 * Here the classes are the categories of the positives and w_c is the window's prior π_c
 * (the balance state's live, windowed category share), and λ_c is clipped to
 * [1/λmax, λmax]: at the stream's skews (up to 5,000:1) an unclipped OOB would repeat a tail
 * positive thousands of times in one step. Negatives are not of a category (their item is
 * drawn from the whole catalog, see the trainer), so each gets Poisson(1): plain bagging.
 *
 * The replicas are K output layers (weights over [GMF ⊙, last hidden layer], and a bias):
 * the cheapest replicas that still see different data; the embeddings and hidden layers are
 * shared, and get the sum of the K heads' gradients. Serving averages the replicas' logits,
 * which for linear heads is the one head whose weights are the heads' mean: the model's own
 * output layer is kept equal to that mean after every step, so serving, snapshots,
 * persistence and model sync see an ordinary model and pay nothing for K. Before a step the
 * heads are re-centred on the model's output layer (each moved by the same vector), so a
 * change made to the model from outside (a blend from model sync, a checkpoint restore, a warm
 * start) reaches every head while their differences are kept.
 */
import * as tf from '@tensorflow/tfjs-node';
import { z } from 'zod';
import { Rng, rngStateSchema, type RngState } from '../balance/index.js';
import { adamUpdate } from './adam.js';
import type { BaggingMode, LossConfig } from './config.js';
import { lossTerms } from './losses.js';
import { forwardJoined } from './neumf.js';

/** λ_c of a positive of prior π_c, given the extreme priors of the step (see the header). */
export function baggingRate(mode: BaggingMode, prior: number, minPrior: number, maxPrior: number, lambdaMax: number): number {
  const p = Math.max(prior, 1e-12);
  const raw = mode === 'oob' ? maxPrior / p : minPrior / p;
  return Math.min(lambdaMax, Math.max(1 / lambdaMax, raw));
}

/**
 * One draw of Poisson(λ): Knuth's multiplication method for λ ≤ 30 (O(λ) uniforms; λ is
 * clipped to λmax, a few units), the normal approximation rounded at zero above.
 */
export function poisson(rng: Rng, lambda: number): number {
  if (!(lambda > 0)) return 0;
  if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * rng.normal()));
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = rng.next();
  while (p > limit) {
    k++;
    p *= rng.next();
  }
  return k;
}

/** The K output heads and their Adam moments; `width` = inputs of the output layer. */
export interface HeadsState {
  replicas: number;
  width: number;
  /** [width × K] row-major (as the output layer's [width, 1] matrix, K columns). */
  weights: Float32Array;
  bias: Float32Array;
  firstMoments: [Float32Array, Float32Array];
  secondMoments: [Float32Array, Float32Array];
  /** The Poisson draws' generator (so a hand-over to a new trainer worker continues the same draws). */
  rng: RngState;
}

const f32 = z.instanceof(Float32Array);
export const headsStateSchema: z.ZodType<HeadsState> = z
  .object({
    replicas: z.number().int().min(2),
    width: z.number().int().min(1),
    weights: f32,
    bias: f32,
    firstMoments: z.tuple([f32, f32]),
    secondMoments: z.tuple([f32, f32]),
    rng: rngStateSchema,
  })
  .superRefine((h, ctx) => {
    const n = h.width * h.replicas;
    if (h.weights.length !== n || h.bias.length !== h.replicas || h.firstMoments[0].length !== n || h.secondMoments[0].length !== n || h.firstMoments[1].length !== h.replicas || h.secondMoments[1].length !== h.replicas) {
      ctx.addIssue({ code: 'custom', message: `bagging heads state: ${h.weights.length} weights and ${h.bias.length} biases for ${h.replicas} heads of width ${h.width}` });
    }
  });

export class OutputHeads {
  readonly replicas: number;
  readonly width: number;
  readonly weights: Float32Array;
  readonly bias: Float32Array;
  readonly firstMoments: [Float32Array, Float32Array];
  readonly secondMoments: [Float32Array, Float32Array];
  readonly rng: Rng;

  /** K copies of the output layer `out` [width] and `outBias` [1] (the replicas then diverge by their resampling). */
  static fromOutputLayer(replicas: number, out: Float32Array, outBias: Float32Array, rng: Rng): OutputHeads {
    const width = out.length;
    const weights = new Float32Array(width * replicas);
    for (let i = 0; i < width; i++) weights.fill(out[i]!, i * replicas, (i + 1) * replicas);
    const bias = new Float32Array(replicas).fill(outBias[0]!);
    return new OutputHeads({ replicas, width, weights, bias, firstMoments: [new Float32Array(width * replicas), new Float32Array(replicas)], secondMoments: [new Float32Array(width * replicas), new Float32Array(replicas)], rng: rng.state() });
  }

  constructor(state: HeadsState) {
    this.replicas = state.replicas;
    this.width = state.width;
    this.weights = state.weights;
    this.bias = state.bias;
    this.firstMoments = state.firstMoments;
    this.secondMoments = state.secondMoments;
    this.rng = Rng.fromState(state.rng);
  }

  /** Moves every head by the same vector so that their mean is the output layer (out, outBias). */
  recenter(out: Float32Array, outBias: Float32Array): void {
    const K = this.replicas;
    for (let i = 0; i < this.width; i++) {
      const row = i * K;
      let mean = 0;
      for (let k = 0; k < K; k++) mean += this.weights[row + k]!;
      const shift = out[i]! - mean / K;
      if (shift !== 0) for (let k = 0; k < K; k++) this.weights[row + k]! += shift;
    }
    let meanBias = 0;
    for (let k = 0; k < K; k++) meanBias += this.bias[k]!;
    const shift = outBias[0]! - meanBias / K;
    if (shift !== 0) for (let k = 0; k < K; k++) this.bias[k]! += shift;
  }

  /** Writes the heads' mean into the output layer (out [width], outBias [1]): what serving uses. */
  writeMean(out: Float32Array, outBias: Float32Array): void {
    const K = this.replicas;
    for (let i = 0; i < this.width; i++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += this.weights[i * K + k]!;
      out[i] = s / K;
    }
    let b = 0;
    for (let k = 0; k < K; k++) b += this.bias[k]!;
    outBias[0] = b / K;
  }

  exportState(): HeadsState {
    return { replicas: this.replicas, width: this.width, weights: this.weights, bias: this.bias, firstMoments: this.firstMoments, secondMoments: this.secondMoments, rng: this.rng.state() };
  }
}

/**
 * Per-sample, per-replica multiplicities of one step, [n × K] row-major: a positive of prior
 * π_c gets Poisson(λ_c) for each replica, a negative Poisson(1).
 */
export function multiplicities(rng: Rng, replicas: number, rates: Float32Array, n: number, out: Float32Array): Float32Array {
  for (let i = 0; i < n; i++) {
    const lambda = rates[i]!;
    for (let k = 0; k < replicas; k++) out[i * replicas + k] = poisson(rng, lambda);
  }
  return out;
}

/** A training batch's tensors (trainer.ts trainBatch), np rows. */
export interface BatchTensors {
  u: tf.Tensor2D;
  v: tf.Tensor2D;
  x: tf.Tensor2D;
  /** Training-logit offsets, signs 2y − 1 and effective weights, [np]. */
  off: tf.Tensor1D;
  sg: tf.Tensor1D;
  wt: tf.Tensor1D;
  /** Count features [np, WIDE_FEATURES], or null without the wide part. */
  wide: tf.Tensor2D | null;
}

/**
 * Loss and gradients of a step with K heads: z_ik = joined_i · W_k + b_k (+ wide_i · w_wide) +
 * offset_i, loss = Σ_i Σ_k m_ik · w_i · ℓ(z_ik) / K with the multiplicities m [np × K]. The
 * gradients are those of [u, v, x, the hidden layers, the wide weights (if any), the heads'
 * weights, the heads' biases]; the model's own output layer takes no part (it is the heads'
 * mean, written after the update).
 */
export function baggedValueAndGrads(t: BatchTensors, dense: readonly tf.Tensor[], heads: OutputHeads, mult: Float32Array, loss: LossConfig): { value: tf.Scalar; grads: tf.Tensor[] } {
  const K = heads.replicas;
  const np = t.off.shape[0];
  const deep = t.wide === null ? dense.length : dense.length - 1;
  const hidden = dense.slice(0, deep - 2);
  const wideWeights = t.wide === null ? [] : [dense[deep]!];
  const m = tf.tensor2d(mult, [np, K]);
  const off = tf.reshape(t.off, [np, 1]);
  const sg = tf.reshape(t.sg, [np, 1]);
  const wt = tf.reshape(t.wt, [np, 1]);
  const wide = t.wide;
  const f = (...args: tf.Tensor[]): tf.Scalar => {
    const joined = forwardJoined(args[0]!, args[1]!, args[2]!, args.slice(3, 3 + hidden.length));
    let at = 3 + hidden.length;
    const wideW = wide === null ? null : args[at++]!;
    let z = tf.add(tf.matMul(joined, args[at]! as tf.Tensor2D), args[at + 1]!);
    if (wide !== null && wideW !== null) z = tf.add(z, tf.matMul(wide, wideW as tf.Tensor2D));
    z = tf.add(z, off);
    return tf.div(tf.sum(tf.mul(tf.mul(lossTerms(z, sg, loss), wt), m)), K);
  };
  const weights = tf.tensor2d(heads.weights, [heads.width, K]);
  const bias = tf.tensor1d(heads.bias);
  return tf.valueAndGrads(f)([t.u, t.v, t.x, ...hidden, ...wideWeights, weights, bias]);
}

/** Adam on the heads (the trainer's step size of this step). */
export function adamHeads(heads: OutputHeads, grads: readonly [Float32Array, Float32Array], stepSize: number): void {
  adamUpdate(heads.weights, grads[0], heads.firstMoments[0], heads.secondMoments[0], stepSize);
  adamUpdate(heads.bias, grads[1], heads.firstMoments[1], heads.secondMoments[1], stepSize);
}
