/**
 * Training losses on the model's logit s, label y ∈ {0, 1} and sample weight w.
 *
 * The training logit is z = s + o, with an item-dependent offset o that is applied in
 * training only (serving scores s):
 *   - logit adjustment (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021):
 *     o += τ·log π_c, π_c the prior of the item's category;
 *   - sampled-negative correction (Yi et al., "Sampling-bias-corrected neural modeling for
 *     large corpus item recommendations", RecSys 2019): o −= log q(item), q the probability
 *     that the sampler draws the item. Applied to every sample of the item (positive or
 *     negative) so that it is a consistent per-item offset; a constant factor in q (e.g. the
 *     number of negatives k) only shifts the output bias.
 *
 * With z_t = z if y = 1 else −z and p_t = σ(z_t):
 *   - weighted BCE:  ℓ = w · (−log p_t) = w · softplus(−z_t)
 *   - focal (Lin et al., "Focal loss for dense object detection", ICCV 2017):
 *       ℓ = w · α_t · (1 − p_t)^γ · (−log p_t),  α_t = α if y = 1 else 1 − α,
 *     computed stably as (1 − p_t)^γ = exp(−γ · softplus(z_t)).
 * The batch loss is Σ ℓ / n (the weights' expected value is 1, so its scale does not drift).
 */
import * as tf from '@tensorflow/tfjs-node';
import type { LossConfig } from './config.js';

/** Per-sample −log-likelihood terms (unweighted), from training logits z and signs 2y − 1 (any shape; signs broadcast). */
export function lossTerms(z: tf.Tensor, signs: tf.Tensor, loss: LossConfig): tf.Tensor {
  const zt = tf.mul(z, signs);
  const nll = tf.softplus(tf.neg(zt));
  if (loss.kind === 'bce' || loss.focalGamma === 0) return nll;
  const modulator = tf.exp(tf.mul(tf.softplus(zt), -loss.focalGamma));
  return tf.mul(nll, modulator);
}

/** Effective weight of each sample: w · α_t (focal) · scale. Done in JS so the graph stays small. */
export function effectiveWeights(labels: Float32Array, weights: Float32Array, n: number, loss: LossConfig, scale: number, out = new Float32Array(n)): Float32Array {
  const focal = loss.kind === 'focal';
  const a = loss.focalAlpha;
  for (let i = 0; i < n; i++) {
    const alphaT = focal ? (labels[i]! > 0.5 ? a : 1 - a) : 1;
    out[i] = weights[i]! * alphaT * scale;
  }
  return out;
}

/** Training-logit offset of one sample: τ·log π_c − [correction]·log q. */
export function trainingOffset(loss: LossConfig, prior: number, samplingProbability: number): number {
  let o = 0;
  if (loss.logitAdjustTau !== 0) o += loss.logitAdjustTau * Math.log(Math.max(prior, 1e-12));
  if (loss.sampledNegativeCorrection) o -= Math.log(Math.max(samplingProbability, 1e-12));
  return o;
}

/**
 * Per-sample weighted losses ℓ_i for given serving logits, labels, weights and offsets,
 * through the same tensor code as training (the batch loss is their mean).
 */
export function perSampleLosses(logits: ArrayLike<number>, labels: ArrayLike<number>, weights: ArrayLike<number>, offsets: ArrayLike<number>, loss: LossConfig): Float32Array {
  const n = logits.length;
  const lab = Float32Array.from(labels);
  const signs = lab.map((y) => (y > 0.5 ? 1 : -1));
  const w = effectiveWeights(lab, Float32Array.from(weights), n, loss, 1);
  const out = tf.tidy(() => {
    const z = tf.add(tf.tensor1d(Float32Array.from(logits)), tf.tensor1d(Float32Array.from(offsets))) as tf.Tensor1D;
    return tf.mul(lossTerms(z, tf.tensor1d(signs), loss), tf.tensor1d(w));
  });
  const values = out.dataSync() as Float32Array;
  out.dispose();
  return values;
}
