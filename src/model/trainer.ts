/**
 * Incremental training: one optimizer step per composed batch, with prequential
 * evaluation before it.
 *
 * Why not tfjs-layers: `fit` rejects `sampleWeight` and `trainOnBatch` takes no weights,
 * and `gather`'s gradient is dense over the whole table. Instead the batch's embedding
 * rows are gathered in JS, `tf.valueAndGrads` differentiates the weighted loss with
 * respect to those small tensors and the dense weights, and the updates are applied in JS:
 * per-row Adagrad on the embedding tables (O(batch × dim) per step, state only for rows
 * touched) and Adam on the dense weights. Keeping every parameter and optimizer moment in
 * plain arrays makes save/load synchronous and exact, and keeps the number of tensors
 * allocated per step small and constant (tfjs-node 4.22 tracks tensors by a 32-bit id).
 */
import * as tf from '@tensorflow/tfjs-node';
import { performance } from 'node:perf_hooks';
import { AdjustmentController, Rng, type AdjustmentState, type RngState } from '../balance/index.js';
import type { InteractionEvent } from '../codec/types.js';
import { RebalancerError } from '../errors.js';
import { resolveTrainerConfig, type LossConfig, type TrainerConfig } from './config.js';
import { effectiveWeights, lossTerms, trainingOffset } from './losses.js';
import { forwardLogits, type BatchRows, type RecModel } from './neumf.js';
import { ItemCatalog, type CatalogItem, type CatalogState } from './negatives.js';
import { CATEGORY_LOG_COUNT, WIDE_FEATURES } from './features.js';
import { PrequentialEvaluator } from './evaluator.js';
import { CategoryStepSizes } from './category-lr.js';
import { GAUSSIAN_WINDOW, GaussianOversampler, inputWidth, type GaussianState } from './gaussian-oversampler.js';
import { SyntheticRows, applySyntheticInputs, scatterRows, type SyntheticSpec } from './latent-smote.js';
import { OutputHeads, adamHeads, baggedValueAndGrads, baggingRate, multiplicities, type HeadsState } from './online-bagging.js';
import { adamStepSize, adamUpdate } from './adam.js';

/** One training interaction; an InteractionEvent satisfies it. */
export interface Interaction extends Pick<InteractionEvent, 'userId' | 'itemId' | 'categoryId' | 'type'> {
  /** A synthetic sample (--synthetic, latent-smote.ts): trained from these events, not from the fields above. */
  readonly synthetic?: SyntheticSpec<Interaction>;
}

/** Prior π_c of a category (for logit adjustment). */
export type CategoryPrior = (categoryId: string) => number;

export interface StepReport {
  /** Mean weighted loss of the batch (before the update). */
  loss: number;
  /** Positives ranked by the prequential evaluator in this call. */
  evaluated: number;
  /** Samples (positives + negatives) in the optimizer step. */
  trainedSamples: number;
  /** Wall time of the call in ms. */
  ms: number;
  /** Dense learning rate used by the step. */
  learningRate: number;
}

/** A fully specified batch for the low-level step: labels, weights and training-logit offsets per sample. */
export interface TrainingBatch {
  rows: BatchRows;
  labels: Float32Array;
  weights: Float32Array;
  offsets: Float32Array;
  /**
   * [n, WIDE_FEATURES] count features per sample as of the sample's own point in the stream
   * (a fresh positive: just before it was counted). Default: the counts as they are now.
   */
  wide?: Float32Array;
  /**
   * Per-sample learning-rate factor of the sample's item and category rows (per-category
   * learning rates, category-lr.ts); a row's step is scaled by the mean factor of its
   * samples in the batch. Default: 1 (the loss and every other parameter ignore it).
   */
  rowScales?: Float32Array;
  /** Synthetic samples' mixed and drawn inputs, and the replays the Gaussians fit (latent-smote.ts); absent: none. */
  synthetic?: SyntheticRows;
  /** Online bagging: each sample's Poisson rate λ (online-bagging.ts); absent: 1 for every sample. */
  bagRates?: Float32Array;
}

/** Optimizer and sampler state, persisted with the model for a warm start. */
export interface TrainerState {
  step: number;
  /** Adagrad accumulators of the user, item and category tables. */
  embeddingAccumulators: [Float32Array, Float32Array, Float32Array];
  /** Adam first and second moments of the dense parameters. */
  denseFirstMoments: Float32Array[];
  denseSecondMoments: Float32Array[];
  rng: RngState;
  catalog: CatalogState;
  /** The serving-time adjustment controller's tallies (absent in checkpoints written before it). */
  adjustment?: AdjustmentState;
  /** Fresh events handed to the trainer so far (`arrived`); absent in older checkpoints (0). */
  events?: number;
  /** The generative oversampler's fit (--synthetic gaussian); carried between trainer workers, not saved with the model. */
  oversampler?: GaussianState;
  /** Online bagging's heads and their Poisson generator (--bagging); carried between trainer workers, not saved with the model. */
  heads?: HeadsState;
}

export type TrainerConfigInput = Parameters<typeof resolveTrainerConfig>[0];

/** The per-sample arrays `step` fills. */
interface StepArrays {
  rows: BatchRows;
  labels: Float32Array;
  weights: Float32Array;
  offsets: Float32Array;
  wide: Float32Array;
  rowScales: Float32Array | null;
}

/** A step's batch while `step` fills it: the per-sample arrays, the samples so far and the step's bagging rates. */
interface StepBatch extends StepArrays {
  /** Samples the arrays hold at most. */
  readonly cap: number;
  /** Samples written so far. */
  n: number;
  /** Online bagging's λ per category this step (null without bagging) and per sample. */
  readonly bagRate: ((categoryId: string) => number) | null;
  readonly bagRates: Float32Array | null;
  /** Synthetic samples' inputs; created on the first synthetic sample without generative oversampling. */
  synthetic: SyntheticRows | null;
}

const ADAGRAD_INITIAL_ACCUMULATOR = 0.1;

export class IncrementalTrainer {
  readonly model: RecModel;
  readonly config: TrainerConfig;
  readonly catalog: ItemCatalog;
  readonly evaluator: PrequentialEvaluator;
  /** Chooses the serving-time logit adjustment τ from the prequential rankings (see src/balance/adjustment.ts). */
  readonly adjustment: AdjustmentController;
  private readonly rng: Rng;
  private stepCount: number;
  private eventCount: number;
  private readonly accumulators: [Float32Array, Float32Array, Float32Array];
  private readonly firstMoments: Float32Array[];
  private readonly secondMoments: Float32Array[];
  /** Per table: row → slot in the step's gradient scratch, −1 when untouched. */
  private readonly rowSlots: [Int32Array, Int32Array, Int32Array];
  private scratch = new Float32Array(0);
  private touched = new Int32Array(0);
  /** Per slot of the step's gradient scratch: sum of its samples' rowScales, and their count. */
  private slotScale = new Float64Array(0);
  private slotSamples = new Int32Array(0);
  /** Per-category step sizes of the item and category rows; null when categoryLrGamma is 0. */
  private readonly stepSizes: CategoryStepSizes | null;
  /** Per-category Gaussians of the replayed positives' inputs (--synthetic gaussian); null otherwise. */
  private readonly oversampler: GaussianOversampler | null;
  /** Online bagging's K output heads (--bagging oob|uob); null otherwise. */
  private readonly heads: OutputHeads | null;
  /** Fresh positives counted in the streaming features, with their features from just before. */
  private readonly ingested = new WeakMap<Interaction, Float32Array>();
  /** Called after every optimizer step with its rows (model sync counts the samples per row). */
  private stepListener: ((rows: BatchRows) => void) | null = null;
  /** Called with the rows of every fresh positive just before it enters the count features (model sync). */
  private positiveListener: ((user: number, item: number, category: number) => void) | null = null;

  constructor(model: RecModel, config: TrainerConfigInput, rng: Rng, state?: TrainerState) {
    this.model = model;
    this.config = resolveTrainerConfig(config);
    this.stepSizes = this.config.categoryLrGamma > 0 ? new CategoryStepSizes(this.config.categoryLrGamma, this.config.categoryLrClip) : null;
    this.rng = state ? Rng.fromState(state.rng) : rng;
    const w = model.rowWidth;
    const mc = model.config;
    this.rowSlots = [new Int32Array(mc.userRows).fill(-1), new Int32Array(mc.itemRows).fill(-1), new Int32Array(mc.categoryRows).fill(-1)];
    this.evaluator = new PrequentialEvaluator(this.config.evalK, this.config.evalHorizon);
    const wideWidth = model.features === null ? 0 : WIDE_FEATURES;
    this.oversampler = this.config.synthetic === 'gaussian' ? new GaussianOversampler(inputWidth(mc.gmfDim, mc.mlpDim, wideWidth), GAUSSIAN_WINDOW, state?.oversampler) : null;
    this.heads = this.makeHeads(state?.heads);
    // Without the wide part there is no category count to adjust by: τ stays 0.
    this.adjustment = new AdjustmentController({ k: this.config.evalK, maxMicroLoss: model.features === null ? 0 : this.config.maxMicroLoss }, state?.adjustment);
    model.servingTau = this.adjustment.tau;
    if (state) {
      const sizes = [mc.userRows * w, mc.itemRows * w, mc.categoryRows * w];
      const okAcc = state.embeddingAccumulators.length === 3 && state.embeddingAccumulators.every((a, i) => a.length === sizes[i]);
      const okDense =
        state.denseFirstMoments.length === model.dense.length &&
        state.denseSecondMoments.length === model.dense.length &&
        model.dense.every((d, i) => state.denseFirstMoments[i]!.length === d.length && state.denseSecondMoments[i]!.length === d.length);
      if (!okAcc || !okDense) throw new RebalancerError('REB_MODEL_INVALID', 'trainer state does not match the model shape');
      this.stepCount = state.step;
      this.eventCount = state.events ?? 0;
      this.accumulators = state.embeddingAccumulators;
      this.firstMoments = state.denseFirstMoments;
      this.secondMoments = state.denseSecondMoments;
      this.catalog = ItemCatalog.fromState(state.catalog);
    } else {
      this.stepCount = 0;
      this.eventCount = 0;
      this.accumulators = [
        new Float32Array(mc.userRows * w).fill(ADAGRAD_INITIAL_ACCUMULATOR),
        new Float32Array(mc.itemRows * w).fill(ADAGRAD_INITIAL_ACCUMULATOR),
        new Float32Array(mc.categoryRows * w).fill(ADAGRAD_INITIAL_ACCUMULATOR),
      ];
      this.firstMoments = model.dense.map((d) => new Float32Array(d.length));
      this.secondMoments = model.dense.map((d) => new Float32Array(d.length));
      this.catalog = new ItemCatalog(this.config.catalogCapacity, this.config.popularityRingSize, this.config.uniformNegativeShare, this.rng.fork());
    }
  }

  /** Fresh events handed to the trainer so far (see `countArrived`). */
  get trainedEvents(): number {
    return this.eventCount;
  }

  /**
   * Counts the fresh events of a batch (everything that arrived, also events undersampling
   * left out of the optimizer step): a checkpoint's model has trained exactly this many
   * events of the stream, which a restore checks against its offsets.
   */
  countArrived(n: number): void {
    this.eventCount += n;
  }

  /**
   * Calls `listener` after every optimizer step with the step's table rows (the `length`
   * real samples, positives and negatives; src/train/model-sync.ts counts them per row).
   * One listener; null removes it.
   */
  observeSteps(listener: ((rows: BatchRows) => void) | null): void {
    this.stepListener = listener;
  }

  /**
   * Calls `listener` with the user, item and category rows of every fresh positive just
   * before it enters the streaming count features (model sync sends them to the other
   * replicas). One listener; null removes it.
   */
  observePositives(listener: ((user: number, item: number, category: number) => void) | null): void {
    this.positiveListener = listener;
  }

  /** True when steps read the priors π_c (logit adjustment, per-category learning rates): the trainer thread's batches must carry them. */
  get usesPriors(): boolean {
    return this.config.loss.logitAdjustTau !== 0 || this.stepSizes !== null || this.heads !== null;
  }

  /** Optimizer steps taken so far. */
  get steps(): number {
    return this.stepCount;
  }

  /** Dense learning rate at step t: lr · min(1, (t+1)/warmup) / sqrt(1 + decay·t). */
  learningRate(step = this.stepCount): number {
    const c = this.config;
    const warm = c.warmupSteps > 0 ? Math.min(1, (step + 1) / c.warmupSteps) : 1;
    return (c.denseLearningRate * warm) / Math.sqrt(1 + c.lrDecay * step);
  }

  /**
   * Prequential step: ranks the first `freshCount` positives (default: all; put replayed
   * positives after the fresh ones) with the current model, then trains on all of them.
   */
  evaluateThenTrain(positives: readonly Interaction[], sampleWeights: Float32Array, prior: CategoryPrior, opts: { freshCount?: number } = {}): StepReport {
    const start = performance.now();
    const evaluated = this.evaluate(positives, opts.freshCount ?? positives.length);
    const report = this.step(positives, sampleWeights, prior, opts);
    return { ...report, evaluated, ms: performance.now() - start };
  }

  /**
   * Ranks up to `evalMaxPerStep` of positives[0, count) among `evalCandidates` items drawn
   * uniformly from the catalog, and records the results. Positives whose label weight is 0
   * (e.g. views) are not evaluated. Nothing is evaluated until the catalog holds more
   * than `evalCandidates` items (early rankings among few candidates would inflate the rates).
   * Every fresh positive of positives[0, count) enters the streaming counts (see scoreInStream).
   */
  evaluate(positives: readonly Interaction[], count = positives.length): number {
    const c = this.config;
    const nCand = c.evalCandidates;
    const end = Math.min(count, positives.length);
    if (this.catalog.size <= nCand || c.evalMaxPerStep === 0) {
      this.scoreInStream(positives, end, []);
      return 0;
    }
    const eligible: number[] = [];
    for (let i = 0; i < end; i++) {
      if (c.labelWeights[positives[i]!.type] > 0) eligible.push(i);
    }
    // Seeded partial Fisher–Yates when there are more than evalMaxPerStep.
    const m = Math.min(eligible.length, c.evalMaxPerStep);
    for (let i = 0; i < m && eligible.length > m; i++) {
      const j = i + this.rng.int(eligible.length - i);
      const t = eligible[i]!;
      eligible[i] = eligible[j]!;
      eligible[j] = t;
    }
    const chosen = eligible.slice(0, m).sort((a, b) => a - b);
    // sampleUniform returns exactly nCand here since the catalog holds more than nCand items.
    const queries = chosen.map((index) => ({ index, candidates: this.catalog.sampleUniform(nCand, positives[index]!.itemId) }));
    const n = queries.length * (nCand + 1);
    const logPrior = new Float32Array(n);
    const scores = this.scoreInStream(positives, end, queries, logPrior);
    const group = nCand + 1;
    const served = new Float32Array(group);
    for (let e = 0; e < queries.length; e++) {
      const base = e * group;
      const categoryId = positives[queries[e]!.index]!.categoryId;
      this.servedScores(scores, logPrior, base, base + group, served);
      this.evaluator.record(categoryId, served[0]!, served, 1, group);
      this.recordAdjustment(categoryId, scores, logPrior, base, base + group);
    }
    return queries.length;
  }

  /**
   * Scores as served: out[r − base] = scores[r] − τ·logPrior[r] for r in [base, end), with
   * the serving-time adjustment τ in use (the ranking /recommendations returns).
   */
  servedScores(scores: ArrayLike<number>, logPrior: ArrayLike<number>, base: number, end: number, out: Float32Array): void {
    const tau = this.adjustment.tau;
    for (let r = base; r < end; r++) out[r - base] = scores[r]! - tau * logPrior[r]!;
  }

  /** Feeds one evaluated positive's raw ranking to the adjustment controller (after its served outcome was recorded). */
  recordAdjustment(categoryId: string, scores: ArrayLike<number>, logPrior: ArrayLike<number>, base: number, end: number): void {
    this.adjustment.record(categoryId, scores, logPrior, base, end);
    this.model.servingTau = this.adjustment.tau;
  }

  /**
   * Prequential scoring in stream order. For each query (ascending `index` into positives),
   * returns the logit of positives[index] followed by the logits of its candidates, scored
   * by the model as it stands just before that positive: the embeddings as of the last
   * step, the streaming counts including every earlier positive (also earlier ones of this
   * batch). Every positive of positives[0, count) with a label weight > 0 is counted in the
   * streaming features on the way (once: a later `step` does not count it again).
   */
  scoreInStream(positives: readonly Interaction[], count: number, queries: readonly { index: number; candidates: readonly CatalogItem[] }[], logPrior?: Float32Array): Float32Array {
    const model = this.model;
    let n = 0;
    for (const q of queries) n += 1 + q.candidates.length;
    const rows: BatchRows = { users: new Int32Array(n), items: new Int32Array(n), categories: new Int32Array(n), length: n };
    let o = 0;
    for (const q of queries) {
      const p = positives[q.index]!;
      const u = model.users.peekRow(p.userId);
      rows.users.fill(u, o, o + 1 + q.candidates.length);
      rows.items[o] = model.items.peekRow(p.itemId);
      rows.categories[o++] = model.categories.peekRow(p.categoryId);
      for (const cand of q.candidates) {
        rows.items[o] = model.items.peekRow(cand.itemId);
        rows.categories[o++] = model.categories.peekRow(cand.categoryId);
      }
    }
    const inputs = model.gather(rows);
    const features = model.features;
    let q = 0;
    let base = 0;
    for (let i = 0; i < count; i++) {
      while (q < queries.length && queries[q]!.index <= i) {
        const size = 1 + queries[q]!.candidates.length;
        if (features !== null && queries[q]!.index === i) {
          for (let r = base; r < base + size; r++) {
            features.fill(rows.users[r]!, rows.items[r]!, rows.categories[r]!, inputs.wide, r * WIDE_FEATURES);
            if (logPrior !== undefined) logPrior[r] = inputs.wide[r * WIDE_FEATURES + CATEGORY_LOG_COUNT]!;
          }
        }
        base += size;
        q++;
      }
      this.ingest(positives[i]!);
    }
    return n === 0 ? new Float32Array(0) : model.scoreGathered(inputs);
  }

  /** Counts a fresh positive in the streaming features, keeping its features as of just before. */
  private ingest(p: Interaction): void {
    const features = this.model.features;
    if (features === null || !(this.config.labelWeights[p.type] > 0) || this.ingested.has(p)) return;
    const model = this.model;
    const u = model.users.peekRow(p.userId);
    const i = model.items.peekRow(p.itemId);
    const c = model.categories.peekRow(p.categoryId);
    const before = new Float32Array(WIDE_FEATURES);
    features.fill(u, i, c, before, 0);
    this.ingested.set(p, before);
    this.positiveListener?.(u, i, c);
    features.observe(u, i, c);
  }

  /**
   * One optimizer step on the positives (weight = sampleWeights[i] × labelWeights[type]) and
   * `negativesPerPositive` sampled negatives each (weight = negativeWeight, not class-weighted:
   * a class weight says how much a category's positives count, and a negative's item is
   * drawn from the whole catalog, whatever the positive's category; scaling the negatives
   * by the positive's class weight would also push the whole catalog down for tail users).
   * positives[0, freshCount) are new interactions (default: all); the rest are replays of
   * earlier ones. After the step the fresh positives enter the streaming count features.
   */
  step(positives: readonly Interaction[], sampleWeights: Float32Array, prior: CategoryPrior, opts: { freshCount?: number } = {}): StepReport {
    const start = performance.now();
    if (sampleWeights.length < positives.length) {
      throw new RebalancerError('REB_MODEL_INVALID', `sampleWeights has ${sampleWeights.length} entries for ${positives.length} positives`);
    }
    const c = this.config;
    for (const p of positives) {
      if (p.synthetic === undefined && c.labelWeights[p.type] > 0) this.catalog.observe(p.itemId, p.categoryId);
    }
    const freshCount = Math.min(opts.freshCount ?? positives.length, positives.length);
    for (let i = 0; i < freshCount; i++) this.ingest(positives[i]!);
    const batch = this.beginBatch(positives.length * (1 + c.negativesPerPositive), prior);
    for (let i = 0; i < positives.length; i++) this.addPositive(batch, positives[i]!, i < freshCount, sampleWeights[i]!, prior);
    const n = batch.n;
    batch.rows.length = n;
    const lr = this.learningRate();
    const value = n === 0 ? 0 : this.trainBatch(trainingBatchOf(batch, this.model.features !== null));
    return { loss: value, evaluated: 0, trainedSamples: n, ms: performance.now() - start, learningRate: lr };
  }

  /** Empty per-sample arrays for up to `cap` samples, and the step's per-category factors (step sizes, bagging rates). */
  private beginBatch(cap: number, prior: CategoryPrior): StepBatch {
    const sizes = this.stepSizes;
    const rowScales = sizes === null ? null : new Float32Array(cap);
    sizes?.begin(this.catalog.categories(), prior);
    const bagRate = this.heads === null ? null : this.baggingRates(prior);
    return {
      rows: { users: new Int32Array(cap), items: new Int32Array(cap), categories: new Int32Array(cap), length: 0 },
      labels: new Float32Array(cap),
      weights: new Float32Array(cap),
      offsets: new Float32Array(cap),
      wide: new Float32Array(this.model.features === null ? 0 : cap * WIDE_FEATURES),
      rowScales,
      bagRate,
      bagRates: bagRate === null ? null : new Float32Array(cap).fill(1),
      synthetic: this.oversampler === null ? null : new SyntheticRows(cap, WIDE_FEATURES),
      cap,
      n: 0,
    };
  }

  /**
   * Adds one positive of the step (`fresh`: a new interaction, else a replay) and its sampled
   * negatives to the batch; a synthetic one goes to addSynthetic, or, a Gaussian sample of a
   * category without a fitted Gaussian yet, is trained as a plain replay of its event.
   */
  private addPositive(batch: StepBatch, positive: Interaction, fresh: boolean, sw: number, prior: CategoryPrior): void {
    let p = positive;
    const spec = p.synthetic;
    if (spec !== undefined) {
      const synthetic = (batch.synthetic ??= new SyntheticRows(batch.cap, WIDE_FEATURES));
      if (spec.kind === 'latent_smote' || this.oversampler?.ready(this.model.categories.peekRow(spec.a.categoryId)) === true) {
        const at = batch.n;
        batch.n = this.addSynthetic(spec, sw, prior, batch, at, synthetic);
        if (batch.bagRates !== null && batch.n > at) batch.bagRates[at] = batch.bagRate!(spec.a.categoryId);
        return;
      }
      p = spec.a;
    }
    const c = this.config;
    const lw = c.labelWeights[p.type];
    if (!(lw > 0) || !(sw > 0)) return;
    const model = this.model;
    const features = model.features;
    const { rows, wide } = batch;
    const n = batch.n;
    const u = model.users.row(p.userId);
    rows.users[n] = u;
    rows.items[n] = model.items.row(p.itemId);
    rows.categories[n] = model.categories.row(p.categoryId);
    batch.labels[n] = 1;
    batch.weights[n] = sw * lw;
    if (batch.bagRates !== null) batch.bagRates[n] = batch.bagRate!(p.categoryId);
    if (features !== null) {
      // A fresh positive as it looked just before it was counted; a replay has been
      // counted already (once), and is taken out of the counts.
      const before = fresh ? this.ingested.get(p) : undefined;
      if (before !== undefined) wide.set(before, n * WIDE_FEATURES);
      else features.fill(u, rows.items[n]!, rows.categories[n]!, wide, n * WIDE_FEATURES, 1);
    }
    batch.offsets[n] = this.offsetFor(prior, p.categoryId, p.itemId);
    if (batch.rowScales !== null) batch.rowScales[n] = this.stepSizes!.factor(p.categoryId);
    // Generative oversampling fits each category's Gaussian on its replayed positives.
    if (this.oversampler !== null && !fresh) batch.synthetic!.fit(n, rows.categories[n]!);
    batch.n = n + 1;
    this.addNegatives(batch, p.itemId, u, prior);
  }

  /** Up to `negativesPerPositive` negatives of the catalog for user row `u`, for a positive of `itemId`. */
  private addNegatives(batch: StepBatch, itemId: string, u: number, prior: CategoryPrior): void {
    const c = this.config;
    const model = this.model;
    const features = model.features;
    const { rows, wide } = batch;
    for (let j = 0; j < c.negativesPerPositive; j++) {
      const neg = this.catalog.sampleNegative(itemId);
      if (neg === null) break;
      const n = batch.n;
      rows.users[n] = u;
      rows.items[n] = model.items.row(neg.itemId);
      rows.categories[n] = model.categories.row(neg.categoryId);
      batch.labels[n] = 0;
      batch.weights[n] = c.negativeWeight;
      batch.offsets[n] = this.offsetFor(prior, neg.categoryId, neg.itemId);
      if (features !== null) features.fill(u, rows.items[n]!, rows.categories[n]!, wide, n * WIDE_FEATURES);
      if (batch.rowScales !== null) batch.rowScales[n] = this.stepSizes!.factor(neg.categoryId);
      batch.n = n + 1;
    }
  }

  /** A sample's training-logit offset: its category's prior with logit adjustment, its item's sampling probability with the log q correction. */
  private offsetFor(prior: CategoryPrior, categoryId: string, itemId: string): number {
    const loss = this.config.loss;
    return offsetOf(loss, loss.logitAdjustTau !== 0 ? prior(categoryId) : 1, loss.sampledNegativeCorrection ? this.catalog.probability(itemId) : 1);
  }

  /**
   * Writes one synthetic positive and its negatives at sample n on (latent-smote.ts) and
   * returns the next free sample. Latent SMOTE: event a's rows, mixed with event b's at λ
   * (label weight and training offset mixed alike); its negatives pair a's user, mixed with
   * b's, with the catalog's sampled items. Gaussian: a draw from the category's Gaussian
   * (event a's rows are placeholders that the draw overwrites and no gradient reaches); its
   * negatives pair the drawn user side with the sampled items, the count features of a's user.
   */
  private addSynthetic(spec: SyntheticSpec<Interaction>, sw: number, prior: CategoryPrior, out: StepArrays, n: number, synthetic: SyntheticRows): number {
    const c = this.config;
    const model = this.model;
    const catalog = this.catalog;
    const features = model.features;
    const { a, b } = spec;
    const smote = spec.kind === 'latent_smote';
    const lambda = spec.lambda;
    const lwA = c.labelWeights[a.type];
    const lwB = c.labelWeights[b.type];
    if (!(lwA > 0) || (smote && !(lwB > 0)) || !(sw > 0)) return n;
    const offset = (categoryId: string, itemId: string): number => this.offsetFor(prior, categoryId, itemId);
    const rows = out.rows;
    const u = model.users.row(a.userId);
    const ub = smote ? model.users.row(b.userId) : -1;
    rows.users[n] = u;
    rows.items[n] = model.items.row(a.itemId);
    rows.categories[n] = model.categories.row(a.categoryId);
    out.labels[n] = 1;
    out.weights[n] = sw * (smote ? lambda * lwA + (1 - lambda) * lwB : lwA);
    out.offsets[n] = offset(a.categoryId, a.itemId);
    // a is a replay: counted once already, and taken out of the counts as a replay is.
    if (features !== null) features.fill(u, rows.items[n]!, rows.categories[n]!, out.wide, n * WIDE_FEATURES, 1);
    if (out.rowScales !== null) out.rowScales[n] = this.stepSizes!.factor(a.categoryId);
    let draw: Float32Array | null = null;
    if (smote) {
      const ib = model.items.row(b.itemId);
      const cb = model.categories.row(b.categoryId);
      out.offsets[n] = lambda * out.offsets[n]! + (1 - lambda) * offset(b.categoryId, b.itemId);
      const wo = synthetic.mix(n, lambda, ub, ib, cb);
      if (features !== null) features.fill(ub, ib, cb, synthetic.partnerWide, wo, 1);
    } else {
      draw = new Float32Array(this.oversampler!.width);
      this.oversampler!.sample(rows.categories[n]!, this.rng, draw);
      synthetic.draw(n, draw, false);
    }
    n++;
    for (let j = 0; j < c.negativesPerPositive; j++) {
      const neg = catalog.sampleNegative(a.itemId);
      if (neg === null) break;
      const item = model.items.row(neg.itemId);
      const category = model.categories.row(neg.categoryId);
      rows.users[n] = u;
      rows.items[n] = item;
      rows.categories[n] = category;
      out.labels[n] = 0;
      out.weights[n] = c.negativeWeight;
      out.offsets[n] = offset(neg.categoryId, neg.itemId);
      if (features !== null) features.fill(u, item, category, out.wide, n * WIDE_FEATURES);
      if (out.rowScales !== null) out.rowScales[n] = this.stepSizes!.factor(neg.categoryId);
      if (draw !== null) {
        synthetic.draw(n, draw, true);
      } else {
        const wo = synthetic.mix(n, lambda, ub, item, category);
        if (features !== null) features.fill(ub, item, category, synthetic.partnerWide, wo);
      }
      n++;
    }
    return n;
  }

  /**
   * The low-level optimizer step on an explicit batch (rows, labels, weights, training-logit
   * offsets). Returns the mean weighted loss before the update.
   */
  trainBatch(batch: TrainingBatch): number {
    const model = this.model;
    const n = batch.rows.length;
    if (n === 0) return 0;
    const { gmfDim: g, mlpDim: m } = model.config;
    const loss = this.config.loss;
    // The tensors are padded to one of a few sizes (see paddedRows) with zero-weight rows:
    // those add exact zeros to the loss and to every gradient, and the native backend sees
    // a bounded set of shapes (its per-shape kernels and buffers would otherwise pile up
    // with every new batch length and RSS would grow for the life of the process).
    const np = paddedRows(n);
    const rows = padRows(batch.rows, n, np);
    const inputs = model.gather(rows);
    if (batch.wide !== undefined && model.features !== null) inputs.wide.set(batch.wide.subarray(0, n * WIDE_FEATURES));
    if (batch.synthetic !== undefined) applySyntheticInputs(model, inputs, batch.synthetic, this.oversampler);
    const signs = new Float32Array(np);
    for (let i = 0; i < n; i++) signs[i] = batch.labels[i]! > 0.5 ? 1 : -1;
    const w = effectiveWeights(batch.labels, batch.weights, n, loss, 1 / n, new Float32Array(np));
    const offsets = new Float32Array(np);
    offsets.set(batch.offsets.subarray(0, n));
    const dense = model.denseTensors();
    const heads = this.heads;
    let mult: Float32Array = new Float32Array(0);
    if (heads !== null) {
      // A blend, restore or warm start may have moved the output layer since the last step.
      const [out, outBias] = this.outputLayer();
      heads.recenter(out, outBias);
      mult = multiplicities(heads.rng, heads.replicas, batch.bagRates ?? new Float32Array(n).fill(1), n, new Float32Array(np * heads.replicas));
    }
    const { value, grads } = tf.tidy(() => {
      const u = tf.tensor2d(inputs.userGmf, [np, g]);
      const v = tf.tensor2d(inputs.itemGmf, [np, g]);
      const x = tf.tensor2d(inputs.mlpInput, [np, 3 * m]);
      const off = tf.tensor1d(offsets);
      const sg = tf.tensor1d(signs);
      const wt = tf.tensor1d(w);
      const wide = model.features === null ? null : tf.tensor2d(inputs.wide, [np, WIDE_FEATURES]);
      if (heads !== null) return baggedValueAndGrads({ u, v, x, off, sg, wt, wide }, dense, heads, mult, loss);
      const f = (...args: tf.Tensor[]): tf.Scalar => {
        const z = tf.add(forwardLogits(args[0]!, args[1]!, args[2]!, args.slice(3), wide), off) as tf.Tensor1D;
        return tf.sum(tf.mul(lossTerms(z, sg, loss), wt));
      };
      return tf.valueAndGrads(f)([u, v, x, ...dense]);
    });
    const lossValue = (value.dataSync() as Float32Array)[0]!;
    const gradData = grads.map((t) => t.dataSync() as Float32Array);
    value.dispose();
    for (const t of grads) t.dispose();
    if (!Number.isFinite(lossValue)) {
      throw new RebalancerError('REB_MODEL_INVALID', `training loss is not finite (${lossValue}); check sample weights and priors`);
    }
    // The loss is a mean; the embedding rows get the gradient of the sum (×n) so that a
    // row's Adagrad step does not shrink with the batch size against the initial accumulator.
    // Only the n real rows are scattered (the padding rows' gradients are zero).
    // Per-category learning rates scale the item and category rows' steps only: a user row
    // is shared by every category the user touches, so no single category's step size is its
    // own (scaling its samples' contributions would be a class weight on the user side).
    const lrEmb = this.config.embeddingLearningRate;
    const [gU, gV, gX] = [gradData[0]!, gradData[1]!, gradData[2]!];
    const scales = batch.rowScales ?? null;
    // Synthetic samples: mixed ones split their gradient between their two events' rows, drawn ones reach no row.
    const s = batch.synthetic === undefined ? { rows: batch.rows, count: n, gU, gV, gX, scales } : scatterRows(batch.rows, n, gU, gV, gX, scales, batch.synthetic, g, m);
    this.sparseAdagrad(0, model.userTable, s.rows.users, s.count, s.gU, s.gX, 0, lrEmb, null, n);
    this.sparseAdagrad(1, model.itemTable, s.rows.items, s.count, s.gV, s.gX, m, lrEmb, s.scales, n);
    this.sparseAdagrad(2, model.categoryTable, s.rows.categories, s.count, s.gV, s.gX, 2 * m, lrEmb, s.scales, n);
    if (heads === null) {
      this.adam(gradData.slice(3), this.learningRate());
    } else {
      // Hidden layers (and wide weights) from the shared gradient; the output layer is the heads' mean.
      const deep = model.features === null ? model.dense.length : model.dense.length - 1;
      const dg: Array<Float32Array | null> = [...gradData.slice(3, 3 + deep - 2), null, null, ...(model.features === null ? [] : [gradData[3 + deep - 2]!])];
      this.adam(dg, this.learningRate());
      adamHeads(heads, [gradData[gradData.length - 2]!, gradData[gradData.length - 1]!], adamStepSize(this.learningRate(), this.stepCount + 1));
      const [out, outBias] = this.outputLayer();
      heads.writeMean(out, outBias);
    }
    model.denseChanged();
    this.stepCount++;
    this.stepListener?.(s.rows);
    return lossValue;
  }

  /** Prequential results so far. */
  snapshot(): ReturnType<PrequentialEvaluator['snapshot']> {
    return this.evaluator.snapshot();
  }

  /** A copy-free view of the optimizer and sampler state (for saveModel). */
  exportState(): TrainerState {
    return {
      step: this.stepCount,
      embeddingAccumulators: this.accumulators,
      denseFirstMoments: this.firstMoments,
      denseSecondMoments: this.secondMoments,
      rng: this.rng.state(),
      catalog: this.catalog.exportState(),
      adjustment: this.adjustment.state(),
      events: this.eventCount,
      ...(this.oversampler !== null ? { oversampler: this.oversampler.exportState() } : {}),
      ...(this.heads !== null ? { heads: this.heads.exportState() } : {}),
    };
  }

  /**
   * Per-row Adagrad (Duchi et al. 2011): gradients of repeated rows are summed first, then
   * acc += g², w −= lr·g/√acc, for touched rows only. With `scales` (per sample), a row's
   * learning rate is lr × the mean scale of its samples (acc is unchanged: a step size, not
   * a gradient scale); without, exactly the plain step. `gradScale`: the batch's sample count
   * (the loss is a mean), when the n entries are not the batch's samples one to one.
   */
  private sparseAdagrad(table: 0 | 1 | 2, weights: Float32Array, rowIdx: Int32Array, n: number, gGmf: Float32Array, gMlp: Float32Array, mlpOffset: number, lr: number, scales: Float32Array | null, gradScale = n): void {
    const { gmfDim: g, mlpDim: m } = this.model.config;
    const w = g + m;
    const m3 = 3 * m;
    const slots = this.rowSlots[table];
    const scale = gradScale;
    const acc = this.accumulators[table];
    if (this.scratch.length < n * w) this.scratch = new Float32Array(n * w);
    if (this.touched.length < n) this.touched = new Int32Array(n);
    if (scales !== null && this.slotScale.length < n) {
      this.slotScale = new Float64Array(n);
      this.slotSamples = new Int32Array(n);
    }
    const scratch = this.scratch;
    const touched = this.touched;
    const slotScale = this.slotScale;
    const slotSamples = this.slotSamples;
    let t = 0;
    for (let s = 0; s < n; s++) {
      const r = rowIdx[s]!;
      let slot = slots[r]!;
      if (slot < 0) {
        slot = t++;
        slots[r] = slot;
        touched[slot] = r;
        scratch.fill(0, slot * w, slot * w + w);
        if (scales !== null) {
          slotScale[slot] = 0;
          slotSamples[slot] = 0;
        }
      }
      if (scales !== null) {
        slotScale[slot]! += scales[s]!;
        slotSamples[slot]!++;
      }
      const so = slot * w;
      const go = s * g;
      for (let d = 0; d < g; d++) scratch[so + d]! += gGmf[go + d]!;
      const mo = s * m3 + mlpOffset;
      for (let d = 0; d < m; d++) scratch[so + g + d]! += gMlp[mo + d]!;
    }
    for (let slot = 0; slot < t; slot++) {
      const r = touched[slot]!;
      slots[r] = -1;
      const so = slot * w;
      const ro = r * w;
      const rowLr = scales === null ? lr : lr * (slotScale[slot]! / slotSamples[slot]!);
      for (let d = 0; d < w; d++) {
        const gr = scratch[so + d]! * scale;
        const a = acc[ro + d]! + gr * gr;
        acc[ro + d] = a;
        weights[ro + d]! -= (rowLr * gr) / Math.sqrt(a);
      }
    }
  }

  /** Adam (Kingma & Ba 2015) with bias correction, in place on the model's dense arrays; a null gradient leaves its parameter alone. */
  private adam(grads: ReadonlyArray<Float32Array | null>, lr: number): void {
    const t = this.stepCount + 1;
    const wideIndex = this.model.features === null ? -1 : grads.length - 1;
    for (let p = 0; p < grads.length; p++) {
      const gr = grads[p];
      if (gr === null || gr === undefined) continue;
      adamUpdate(this.model.dense[p]!, gr, this.firstMoments[p]!, this.secondMoments[p]!, adamStepSize(p === wideIndex ? this.config.wideLearningRate : lr, t));
    }
  }

  /** The model's output layer: its weights [width] and bias [1] (online bagging keeps them at the heads' mean). */
  private outputLayer(): [Float32Array, Float32Array] {
    const dense = this.model.dense;
    const deep = this.model.features === null ? dense.length : dense.length - 1;
    return [dense[deep - 2]!, dense[deep - 1]!];
  }

  /** Online bagging's heads: carried ones (a hand-over) when they fit the model, else K copies of the output layer. */
  private makeHeads(state: HeadsState | undefined): OutputHeads | null {
    const c = this.config;
    if (c.bagging === 'off') return null;
    const [out, outBias] = this.outputLayer();
    if (state !== undefined && state.replicas === c.baggingReplicas && state.width === out.length) return new OutputHeads(state);
    return OutputHeads.fromOutputLayer(c.baggingReplicas, out, outBias, this.rng.fork());
  }

  /** λ of a positive of each category this step (OOB/UOB over the catalog's categories, online-bagging.ts). */
  private baggingRates(prior: CategoryPrior): (categoryId: string) => number {
    const c = this.config;
    const mode = c.bagging === 'off' ? 'oob' : c.bagging;
    let min = Infinity;
    let max = 0;
    for (const category of this.catalog.categories()) {
      const p = prior(category);
      if (p > 0) {
        min = Math.min(min, p);
        max = Math.max(max, p);
      }
    }
    if (!(max > 0)) return () => 1;
    const cache = new Map<string, number>();
    return (categoryId) => {
      let r = cache.get(categoryId);
      if (r === undefined) {
        r = baggingRate(mode, prior(categoryId), min, max, c.baggingLambdaMax);
        cache.set(categoryId, r);
      }
      return r;
    };
  }
}

/**
 * Rows of the padded training batch: n rounded up to a multiple of 2^(⌊log2 n⌋ − 3) (at
 * least 16), i.e. 8 sizes per power of two, at most 12.5% padding.
 */
export function paddedRows(n: number): number {
  if (n <= 16) return 16;
  const grain = 2 ** Math.max(4, Math.floor(Math.log2(n)) - 3);
  return Math.ceil(n / grain) * grain;
}

/** The first n rows of `rows` followed by np − n padding rows (row 0 of each table). */
function padRows(rows: BatchRows, n: number, np: number): BatchRows {
  const out: BatchRows = { users: new Int32Array(np), items: new Int32Array(np), categories: new Int32Array(np), length: np };
  out.users.set(rows.users.subarray(0, n));
  out.items.set(rows.items.subarray(0, n));
  out.categories.set(rows.categories.subarray(0, n));
  return out;
}

/** The low-level batch of a filled step batch (optional parts only where the step uses them). */
function trainingBatchOf(b: StepBatch, hasWide: boolean): TrainingBatch {
  const { rows, labels, weights, offsets, wide, rowScales, synthetic, bagRates } = b;
  return { rows, labels, weights, offsets, ...(hasWide ? { wide } : {}), ...(rowScales !== null ? { rowScales } : {}), ...(synthetic !== null && !synthetic.empty ? { synthetic } : {}), ...(bagRates !== null ? { bagRates } : {}) };
}

function offsetOf(loss: LossConfig, prior: number, q: number): number {
  return trainingOffset(loss, prior, q);
}
