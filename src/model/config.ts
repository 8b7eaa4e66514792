import { z } from 'zod';
import type { EventType } from '../codec/types.js';
import { invalidValue } from '../errors.js';

/** Shape of the NeuMF-style scorer (He et al., WWW 2017). */
export interface ModelConfig {
  /** Rows of the hashed user table. */
  userRows: number;
  /** Rows of the hashed item table. */
  itemRows: number;
  /** Rows of the hashed category table. */
  categoryRows: number;
  /** Width of the GMF (generalised matrix factorisation) embeddings. */
  gmfDim: number;
  /** Width of the MLP-branch embeddings (user, item and category each). */
  mlpDim: number;
  /** Hidden layer widths of the MLP branch (ReLU). */
  mlpLayers: number[];
  /** Seed of the id hash (murmur3). */
  hashSeed: number;
  /** Standard deviation of the normal initialisation of embeddings. */
  embeddingInitStd: number;
  /** The wide part: streaming count features (popularity, user–category affinity, repeats; see features.ts). */
  wideFeatures: boolean;
  /** Slots of the hashed (user, category) and (user, item) count tables (a power of two). */
  pairRows: number;
  /** Half-life of the recent-popularity counts, in positives. */
  popularityHalfLife: number;
}

export const DEFAULT_MODEL_CONFIG: Readonly<ModelConfig> = Object.freeze({
  userRows: 1 << 16,
  itemRows: 1 << 16,
  categoryRows: 1 << 10,
  gmfDim: 16,
  mlpDim: 16,
  mlpLayers: [64, 32, 16],
  hashSeed: 0x2f6b1d3a,
  embeddingInitStd: 0.05,
  wideFeatures: true,
  pairRows: 1 << 20,
  popularityHalfLife: 20_000,
});

export type LossKind = 'bce' | 'focal';

export interface LossConfig {
  kind: LossKind;
  /** Focal α (weight of the positive class), Lin et al. 2017. */
  focalAlpha: number;
  /** Focal γ (focusing exponent). */
  focalGamma: number;
  /** Logit adjustment strength τ (Menon et al., ICLR 2021); 0 disables it. */
  logitAdjustTau: number;
  /** Subtract log q(item) from training logits (Yi et al., RecSys 2019). */
  sampledNegativeCorrection: boolean;
}

export const DEFAULT_LOSS_CONFIG: Readonly<LossConfig> = Object.freeze({
  kind: 'bce',
  focalAlpha: 0.25,
  focalGamma: 2,
  logitAdjustTau: 0,
  sampledNegativeCorrection: false,
});

export interface TrainerConfig {
  loss: LossConfig;
  /** Base learning rate of the dense (MLP/GMF output) Adam optimiser. */
  denseLearningRate: number;
  /** Learning rate of the per-row Adagrad on the embedding tables. */
  embeddingLearningRate: number;
  /**
   * Per-category learning rate of the item and category rows (see category-lr.ts): their
   * Adagrad step is scaled by f_c ∝ π_c^−γ (prior-weighted mean 1); 0 = off.
   */
  categoryLrGamma: number;
  /** The per-category factor is clipped to [1/clip, clip]. */
  categoryLrClip: number;
  /** Adam learning rate of the wide part's feature weights (a handful of weights on counts: they can move fast). */
  wideLearningRate: number;
  /** Linear warm-up over this many steps (0 = none). */
  warmupSteps: number;
  /** Inverse-square-root decay: lr_t = lr·min(1,(t+1)/warmup)/sqrt(1 + decay·t); 0 = constant. */
  lrDecay: number;
  /** Negatives sampled per positive. */
  negativesPerPositive: number;
  /** Weight of each sampled negative (not multiplied by the positive's class weight; see IncrementalTrainer.step). */
  negativeWeight: number;
  /** Label weight per event type; events with weight 0 are not positives. */
  labelWeights: Record<EventType, number>;
  /** Share of negatives drawn uniformly from the catalog; the rest by recent popularity. */
  uniformNegativeShare: number;
  /** Items kept in the bounded catalog the samplers draw from. */
  catalogCapacity: number;
  /** Recent positives kept for popularity sampling (q is exact over this ring). */
  popularityRingSize: number;
  /** Candidates each evaluated positive is ranked among (sampled uniformly from the catalog). */
  evalCandidates: number;
  /** K of hit-rate@K and NDCG@K. */
  evalK: number;
  /** Sliding horizon: last H evaluations kept per category. */
  evalHorizon: number;
  /** At most this many positives evaluated per step (a seeded sample of the fresh ones). */
  evalMaxPerStep: number;
  /**
   * Serving-time logit adjustment: the largest relative micro HR@K loss against the
   * unadjusted ranking that the adjustment controller may spend (0 = never adjust; see
   * src/balance/adjustment.ts).
   */
  maxMicroLoss: number;
  /**
   * Synthetic minority samples (--synthetic). The trainer trains whatever synthetic samples a
   * batch carries; 'gaussian' also makes it fit the per-category Gaussians they are drawn
   * from (gaussian-oversampler.ts) on the replayed positives.
   */
  synthetic: SyntheticMode;
  /**
   * Online bagging for imbalance (--bagging, online-bagging.ts): K = baggingReplicas output
   * heads trained with Poisson(λ_c) multiplicities, λ_c clipped to [1/baggingLambdaMax,
   * baggingLambdaMax]; serving uses their mean. 'off' = one output layer.
   */
  bagging: 'off' | BaggingMode;
  baggingReplicas: number;
  baggingLambdaMax: number;
}

export type SyntheticMode = 'off' | 'latent_smote' | 'gaussian';

/** Online bagging's rate rule (online-bagging.ts): oversampling (OOB) or undersampling (UOB). */
export type BaggingMode = 'oob' | 'uob';

export const DEFAULT_TRAINER_CONFIG: Readonly<TrainerConfig> = Object.freeze({
  loss: DEFAULT_LOSS_CONFIG,
  denseLearningRate: 0.002,
  embeddingLearningRate: 0.05,
  categoryLrGamma: 0,
  categoryLrClip: 4,
  wideLearningRate: 0.05,
  warmupSteps: 0,
  lrDecay: 0,
  negativesPerPositive: 4,
  negativeWeight: 1,
  labelWeights: Object.freeze({ view: 0, click: 1, add_to_cart: 1.5, purchase: 3 }) as Record<EventType, number>,
  uniformNegativeShare: 1,
  catalogCapacity: 200_000,
  popularityRingSize: 50_000,
  evalCandidates: 100,
  evalK: 10,
  evalHorizon: 1_000,
  evalMaxPerStep: 64,
  maxMicroLoss: 0,
  synthetic: 'off',
  bagging: 'off',
  baggingReplicas: 4,
  baggingLambdaMax: 10,
});

function invalid(setting: string, expected: string, got: unknown): never {
  throw invalidValue('REB_MODEL_INVALID', setting, expected, got, 'model setting ');
}

function positiveInt(name: string, v: number, max = 2 ** 31 - 1): void {
  if (!Number.isInteger(v) || v <= 0 || v > max) invalid(name, `an integer in [1, ${max}]`, v);
}

function nonNegative(name: string, v: number): void {
  if (!Number.isFinite(v) || v < 0) invalid(name, 'a finite number >= 0', v);
}

export function resolveModelConfig(partial: Partial<ModelConfig>): ModelConfig {
  const c: ModelConfig = { ...DEFAULT_MODEL_CONFIG, ...partial, mlpLayers: [...(partial.mlpLayers ?? DEFAULT_MODEL_CONFIG.mlpLayers)] };
  positiveInt('userRows', c.userRows, 1 << 26);
  positiveInt('itemRows', c.itemRows, 1 << 26);
  positiveInt('categoryRows', c.categoryRows, 1 << 24);
  positiveInt('gmfDim', c.gmfDim, 1024);
  positiveInt('mlpDim', c.mlpDim, 1024);
  if (c.mlpLayers.length === 0) invalid('mlpLayers', 'a non-empty list of layer widths', c.mlpLayers);
  c.mlpLayers.forEach((w, i) => positiveInt(`mlpLayers[${i}]`, w, 4096));
  if (!Number.isInteger(c.hashSeed)) invalid('hashSeed', 'an integer', c.hashSeed);
  nonNegative('embeddingInitStd', c.embeddingInitStd);
  if (typeof c.wideFeatures !== 'boolean') invalid('wideFeatures', 'true or false', c.wideFeatures);
  positiveInt('pairRows', c.pairRows, 1 << 26);
  if ((c.pairRows & (c.pairRows - 1)) !== 0) invalid('pairRows', 'a power of two', c.pairRows);
  if (!(c.popularityHalfLife >= 1 && Number.isFinite(c.popularityHalfLife))) invalid('popularityHalfLife', 'a number >= 1', c.popularityHalfLife);
  return c;
}

export function resolveTrainerConfig(partial: Partial<Omit<TrainerConfig, 'loss' | 'labelWeights'>> & { loss?: Partial<LossConfig>; labelWeights?: Partial<Record<EventType, number>> }): TrainerConfig {
  const c: TrainerConfig = {
    ...DEFAULT_TRAINER_CONFIG,
    ...partial,
    loss: { ...DEFAULT_LOSS_CONFIG, ...partial.loss },
    labelWeights: { ...DEFAULT_TRAINER_CONFIG.labelWeights, ...partial.labelWeights },
  };
  if (c.loss.kind !== 'bce' && c.loss.kind !== 'focal') invalid('loss.kind', "'bce' or 'focal'", c.loss.kind);
  if (!(c.loss.focalAlpha >= 0 && c.loss.focalAlpha <= 1)) invalid('loss.focalAlpha', 'in [0, 1]', c.loss.focalAlpha);
  nonNegative('loss.focalGamma', c.loss.focalGamma);
  nonNegative('loss.logitAdjustTau', c.loss.logitAdjustTau);
  nonNegative('denseLearningRate', c.denseLearningRate);
  nonNegative('embeddingLearningRate', c.embeddingLearningRate);
  if (!(c.categoryLrGamma >= 0 && c.categoryLrGamma <= 1)) invalid('categoryLrGamma', 'in [0, 1]', c.categoryLrGamma);
  if (!(c.categoryLrClip >= 1 && Number.isFinite(c.categoryLrClip))) invalid('categoryLrClip', 'a finite number >= 1', c.categoryLrClip);
  nonNegative('wideLearningRate', c.wideLearningRate);
  nonNegative('warmupSteps', c.warmupSteps);
  nonNegative('lrDecay', c.lrDecay);
  if (!Number.isInteger(c.negativesPerPositive) || c.negativesPerPositive < 0 || c.negativesPerPositive > 1000) invalid('negativesPerPositive', 'an integer in [0, 1000]', c.negativesPerPositive);
  nonNegative('negativeWeight', c.negativeWeight);
  for (const [t, w] of Object.entries(c.labelWeights)) nonNegative(`labelWeights.${t}`, w);
  if (!(c.uniformNegativeShare >= 0 && c.uniformNegativeShare <= 1)) invalid('uniformNegativeShare', 'in [0, 1]', c.uniformNegativeShare);
  positiveInt('catalogCapacity', c.catalogCapacity, 1 << 26);
  positiveInt('popularityRingSize', c.popularityRingSize, 1 << 26);
  positiveInt('evalCandidates', c.evalCandidates, 100_000);
  positiveInt('evalK', c.evalK, 100_000);
  positiveInt('evalHorizon', c.evalHorizon, 1 << 24);
  if (!Number.isInteger(c.evalMaxPerStep) || c.evalMaxPerStep < 0) invalid('evalMaxPerStep', 'an integer >= 0', c.evalMaxPerStep);
  if (!(c.maxMicroLoss >= 0 && c.maxMicroLoss < 1)) invalid('maxMicroLoss', 'in [0, 1)', c.maxMicroLoss);
  if (c.synthetic !== 'off' && c.synthetic !== 'latent_smote' && c.synthetic !== 'gaussian') invalid('synthetic', "'off', 'latent_smote' or 'gaussian'", c.synthetic);
  if (c.bagging !== 'off' && c.bagging !== 'oob' && c.bagging !== 'uob') invalid('bagging', "'off', 'oob' or 'uob'", c.bagging);
  if (!Number.isInteger(c.baggingReplicas) || c.baggingReplicas < 2 || c.baggingReplicas > 64) invalid('baggingReplicas', 'an integer in [2, 64]', c.baggingReplicas);
  if (!(c.baggingLambdaMax >= 1 && c.baggingLambdaMax <= 1000)) invalid('baggingLambdaMax', 'a number in [1, 1000]', c.baggingLambdaMax);
  return c;
}

/** A model configuration read from disk (snapshots, saved models): the shape, then the model's own ranges (resolveModelConfig). */
export const modelConfigSchema: z.ZodType<ModelConfig> = z
  .object({
    userRows: z.number(),
    itemRows: z.number(),
    categoryRows: z.number(),
    gmfDim: z.number(),
    mlpDim: z.number(),
    mlpLayers: z.array(z.number()),
    hashSeed: z.number(),
    embeddingInitStd: z.number(),
    wideFeatures: z.boolean(),
    pairRows: z.number(),
    popularityHalfLife: z.number(),
  })
  .superRefine((c, ctx) => {
    // The ranges are the model's own (one place: resolveModelConfig).
    try {
      resolveModelConfig(c);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
    }
  });
