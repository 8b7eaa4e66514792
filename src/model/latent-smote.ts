/**
 * Synthetic minority samples in the trainer (`--synthetic`, issue #16): what a synthetic
 * sample is on its way from the composer to the trainer, and how the trainer's low-level
 * step builds its inputs and routes its gradients.
 *
 * Latent SMOTE. SMOTE makes a minority example on the segment between a minority example and
 * a same-class neighbour, x = λ·a + (1 − λ)·b with λ ~ U(0, 1) (Chawla et al., "SMOTE:
 * Synthetic Minority Over-sampling Technique", JAIR 2002); in latent space the segment joins
 * learned representations instead of raw features (DeepSMOTE: Dablain, Krawczyk & Chawla,
 * IEEE TNNLS 2022; the same interpolation of hidden inputs as Manifold Mixup, Verma et al.,
 * ICML 2019). Here a and b are two events of one category's reservoir (the composer draws
 * them uniformly: a random neighbour within the category rather than one of the k nearest,
 * which needs no index and no distance computations on the hot path), and the latent vector
 * is the model's whole gathered input: user GMF, item GMF (+ category), the MLP input (user |
 * item | category) and the count features. Mixing the inputs is differentiable, so the
 * gradient of the loss w.r.t. the mixed input x goes back to a's rows × λ and to b's rows ×
 * (1 − λ) (then sparse Adagrad, as for any sample). Its negatives are the catalog's sampled
 * negatives paired with the same mixed user side (user vectors and user-dependent count
 * features mixed, the negative item's own), so the synthetic user is contrasted exactly as a
 * real one is.
 *
 * Generative oversampling (gaussian-oversampler.ts): the composer's sample names its category
 * and a fallback event; the trainer draws the positive's whole input vector from the
 * category's Gaussian and pairs the catalog's negatives with the drawn user side. A drawn
 * sample has no table rows of its own, so it trains the dense weights only: none of its rows
 * (nor its negatives') is scattered to.
 */
import type { InteractionEvent } from '../codec/types.js';
import type { BatchRows, GatheredInputs, RecModel } from './neumf.js';
import { GaussianOversampler, readInputVector, writeInputVector } from './gaussian-oversampler.js';

export type SyntheticKind = 'latent_smote' | 'gaussian';
/** Wire order of the kinds (batch-codec.ts). */
export const SYNTHETIC_KINDS: readonly SyntheticKind[] = ['latent_smote', 'gaussian'];

/**
 * A synthetic sample: latent_smote interpolates the inputs of events a and b (same category)
 * at λ; gaussian draws from a's category's Gaussian (b and λ unused), and trains as a plain
 * replay of a while that category has no fitted Gaussian.
 */
export interface SyntheticSpec<E> {
  readonly kind: SyntheticKind;
  readonly a: E;
  readonly b: E;
  readonly lambda: number;
}

/** The composer's synthetic item: event a's fields (so it is an event of a's category) and what to make of it. */
export type SyntheticEvent = InteractionEvent & { readonly synthetic: SyntheticSpec<InteractionEvent> };

export function syntheticEvent(kind: SyntheticKind, a: InteractionEvent, b: InteractionEvent, lambda: number): SyntheticEvent {
  return {
    eventId: a.eventId,
    userId: a.userId,
    itemId: a.itemId,
    categoryId: a.categoryId,
    type: a.type,
    eventTime: a.eventTime,
    price: a.price,
    sessionId: a.sessionId,
    extra: a.extra,
    synthetic: { kind, a, b, lambda },
  };
}

export function isSyntheticEvent(e: InteractionEvent): e is SyntheticEvent {
  return 'synthetic' in e && e.synthetic !== undefined;
}

/**
 * What a training batch's synthetic samples need of the low-level step (IncrementalTrainer.trainBatch),
 * filled by `step` sample by sample:
 *  - mixed: sample r's inputs become λ·inputs(r's rows) + (1 − λ)·inputs(partner rows), its
 *    gradient goes to its rows × λ and to the partner rows × (1 − λ);
 *  - drawn: sample r's inputs (or its user blocks) are a Gaussian draw, and no table row gets its gradient;
 *  - fitted: sample r's gathered inputs are an observation of the Gaussian of `key`.
 */
export class SyntheticRows {
  readonly mixIndex: number[] = [];
  readonly mixLambda: number[] = [];
  readonly partnerUsers: number[] = [];
  readonly partnerItems: number[] = [];
  readonly partnerCategories: number[] = [];
  /** [mixed × wideFeatures] the partner rows' count features (as `step` computed them). */
  partnerWide: Float32Array;
  readonly drawIndex: number[] = [];
  readonly drawUserOnly: boolean[] = [];
  readonly drawValues: Float32Array[] = [];
  readonly fitIndex: number[] = [];
  readonly fitKey: number[] = [];

  /** `capacity`: the most samples of the batch (positives × (1 + negatives)). */
  constructor(
    readonly capacity: number,
    readonly wideFeatures: number,
  ) {
    this.partnerWide = new Float32Array(0);
  }

  /** Records a mixed sample; returns the offset of its partner's count features in `partnerWide` (fill them there). */
  mix(sample: number, lambda: number, user: number, item: number, category: number): number {
    const k = this.mixIndex.length;
    this.mixIndex.push(sample);
    this.mixLambda.push(lambda);
    this.partnerUsers.push(user);
    this.partnerItems.push(item);
    this.partnerCategories.push(category);
    if (this.partnerWide.length < (k + 1) * this.wideFeatures) this.partnerWide = grow(this.partnerWide, Math.max(this.capacity, 2 * (k + 1)) * this.wideFeatures);
    return k * this.wideFeatures;
  }

  draw(sample: number, values: Float32Array, userOnly: boolean): void {
    this.drawIndex.push(sample);
    this.drawValues.push(values);
    this.drawUserOnly.push(userOnly);
  }

  fit(sample: number, key: number): void {
    this.fitIndex.push(sample);
    this.fitKey.push(key);
  }

  get empty(): boolean {
    return this.mixIndex.length === 0 && this.drawIndex.length === 0 && this.fitIndex.length === 0;
  }
}

function grow(a: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n);
  out.set(a);
  return out;
}

/**
 * Before the forward pass, on the batch's gathered inputs: the fitted samples are observed
 * (as gathered: no sample is mixed or drawn yet), then mixed samples are interpolated with
 * their partners' inputs and drawn samples overwritten by their draws.
 */
export function applySyntheticInputs(model: RecModel, inputs: GatheredInputs, s: SyntheticRows, oversampler: GaussianOversampler | null): void {
  const { gmfDim: g, mlpDim: m } = model.config;
  const wf = model.features === null ? 0 : s.wideFeatures;
  if (oversampler !== null && s.fitIndex.length > 0) {
    const x = new Float32Array(oversampler.width);
    for (let k = 0; k < s.fitIndex.length; k++) {
      readInputVector(inputs, s.fitIndex[k]!, g, m, wf, x);
      oversampler.observe(s.fitKey[k]!, x);
    }
  }
  const count = s.mixIndex.length;
  if (count > 0) {
    const rows: BatchRows = { users: Int32Array.from(s.partnerUsers), items: Int32Array.from(s.partnerItems), categories: Int32Array.from(s.partnerCategories), length: count };
    const partner = model.gather(rows);
    if (wf > 0) partner.wide.set(s.partnerWide.subarray(0, count * wf));
    for (let k = 0; k < count; k++) interpolateInputs(inputs, s.mixIndex[k]!, partner, k, s.mixLambda[k]!, g, m, wf);
  }
  for (let k = 0; k < s.drawIndex.length; k++) writeInputVector(inputs, s.drawIndex[k]!, g, m, wf, s.drawValues[k]!, s.drawUserOnly[k]!);
}

/** inputs[r] ← λ·inputs[r] + (1 − λ)·other[k], block by block (user GMF, item GMF, MLP input, count features). */
export function interpolateInputs(inputs: GatheredInputs, r: number, other: GatheredInputs, k: number, lambda: number, gmfDim: number, mlpDim: number, wideFeatures: number): void {
  const mu = 1 - lambda;
  const lerp = (to: Float32Array, from: Float32Array, width: number): void => {
    const o = r * width;
    const p = k * width;
    for (let d = 0; d < width; d++) to[o + d] = lambda * to[o + d]! + mu * from[p + d]!;
  };
  lerp(inputs.userGmf, other.userGmf, gmfDim);
  lerp(inputs.itemGmf, other.itemGmf, gmfDim);
  lerp(inputs.mlpInput, other.mlpInput, 3 * mlpDim);
  if (wideFeatures > 0) lerp(inputs.wide, other.wide, wideFeatures);
}

/** The rows and per-row input gradients the sparse optimizer scatters (`count` entries; the gradient's scale stays the batch's). */
export interface ScatterRows {
  rows: BatchRows;
  count: number;
  gU: Float32Array;
  gV: Float32Array;
  gX: Float32Array;
  scales: Float32Array | null;
}

/**
 * The scatter of a batch with synthetic samples: every sample that is not drawn keeps its
 * rows, its gradient × λ when it is mixed (× 1 otherwise); each mixed sample adds its partner
 * rows with its gradient × (1 − λ); drawn samples are left out (no table row learns from
 * them). gU, gV: [n, gmfDim], gX: [n, 3·mlpDim] (the gradients w.r.t. the gathered inputs).
 */
export function scatterRows(rows: BatchRows, n: number, gU: Float32Array, gV: Float32Array, gX: Float32Array, scales: Float32Array | null, s: SyntheticRows, gmfDim: number, mlpDim: number): ScatterRows {
  const g = gmfDim;
  const m3 = 3 * mlpDim;
  const factor = new Float32Array(n).fill(1);
  const keep = new Uint8Array(n).fill(1);
  for (let k = 0; k < s.drawIndex.length; k++) keep[s.drawIndex[k]!] = 0;
  for (let k = 0; k < s.mixIndex.length; k++) factor[s.mixIndex[k]!] = s.mixLambda[k]!;
  let kept = 0;
  for (let i = 0; i < n; i++) kept += keep[i]!;
  const count = kept + s.mixIndex.length;
  const out: ScatterRows = {
    rows: { users: new Int32Array(count), items: new Int32Array(count), categories: new Int32Array(count), length: count },
    count,
    gU: new Float32Array(count * g),
    gV: new Float32Array(count * g),
    gX: new Float32Array(count * m3),
    scales: scales === null ? null : new Float32Array(count),
  };
  let o = 0;
  const put = (i: number, user: number, item: number, category: number, f: number): void => {
    out.rows.users[o] = user;
    out.rows.items[o] = item;
    out.rows.categories[o] = category;
    for (let d = 0; d < g; d++) {
      out.gU[o * g + d] = f * gU[i * g + d]!;
      out.gV[o * g + d] = f * gV[i * g + d]!;
    }
    for (let d = 0; d < m3; d++) out.gX[o * m3 + d] = f * gX[i * m3 + d]!;
    if (out.scales !== null) out.scales[o] = scales![i]!;
    o++;
  };
  for (let i = 0; i < n; i++) if (keep[i] === 1) put(i, rows.users[i]!, rows.items[i]!, rows.categories[i]!, factor[i]!);
  for (let k = 0; k < s.mixIndex.length; k++) put(s.mixIndex[k]!, s.partnerUsers[k]!, s.partnerItems[k]!, s.partnerCategories[k]!, 1 - s.mixLambda[k]!);
  return out;
}
