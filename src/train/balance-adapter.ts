import { BalanceState, SOURCE_FRESH, SOURCE_REPLAY, SOURCE_SYNTHETIC, type BalanceConfig, type BalanceSnapshot, type ComposedBatch, type ComposeOptions, type Interpolate, type Rng } from '../balance/index.js';
import type { InteractionEvent } from '../codec/index.js';
import type { ServiceConfig } from '../config/index.js';
import { DEFAULT_MODEL_CONFIG, DEFAULT_TRAINER_CONFIG } from '../model/config.js';
import { GAUSSIAN_MIN_OBSERVATIONS } from '../model/gaussian-oversampler.js';
import { syntheticEvent } from '../model/latent-smote.js';
import { idSpaces } from '../model/layout.js';
import type { BalancePort, BalanceView, CandidateItem, ObserveOutcome } from '../ports/index.js';
import { PopularItems } from './popular-items.js';

/**
 * A composed training batch plus every fresh event it was composed from, in arrival order
 * (undersampling leaves some out of `items`; the model's streaming counts and the
 * prequential evaluation still see all of them).
 */
export type EventBatch = ComposedBatch<InteractionEvent> & { readonly arrived: readonly InteractionEvent[] };

/**
 * Informed undersampling: the model's logits s of (userId, itemId, categoryId) for each event,
 * or null when there is no model to score with yet (src/train/informed-scores.ts).
 */
export type FreshScorer = (events: readonly InteractionEvent[]) => Float32Array | null;

/** −log σ(s) = softplus(−s): the BCE loss of a positive with logit s, without overflow. */
export function positiveLoss(s: number): number {
  return s >= 0 ? Math.log1p(Math.exp(-s)) : Math.log1p(Math.exp(s)) - s;
}

/** The balance settings of the service configuration, in the balance core's terms. */
export function balanceConfigOf(c: ServiceConfig): Partial<BalanceConfig> {
  return {
    bucketCount: c.windowBuckets,
    bucketWidthMs: c.windowWidthMs,
    allowedLatenessMs: c.windowLatenessMs,
    weightPolicy: c.weightPolicy,
    alpha: c.weightAlpha,
    beta: c.weightBeta,
    minWeight: c.weightMin,
    maxWeight: c.weightMax,
    smoothing: c.weightSmoothing,
    reservoirSize: c.reservoirSize,
    replayMemorySize: c.replaySize,
    rho: c.targetMixRho,
    // --synthetic: the composer's share of synthetic replay slots and their weight (the hook is the adapter's).
    syntheticFraction: c.synthetic === 'off' ? 0 : c.syntheticFraction,
    syntheticWeight: c.syntheticWeight,
    // Only the types the model trains on (views have label weight 0 by default): replay
    // slots and reservoir candidates are not spent on samples the trainer drops.
    replayEventTypes: c.replayEventTypes,
  };
}

export interface BalanceAdapterSnapshot {
  state: BalanceSnapshot<InteractionEvent>;
  popular: ReturnType<PopularItems['snapshot']>;
}

/**
 * The balance core (`BalanceState`) seen through the pipeline's BalancePort, plus the
 * popular-items tracker that supplies the head of the recommendation candidates.
 */
export class BalanceAdapter implements BalancePort<EventBatch> {
  private readonly popular: PopularItems;
  /** Training samples composed since start, by source (the live page's replay mix). */
  private readonly composed = { fresh: 0, replay: 0, synthetic: 0 };
  private readonly batchSize: number;
  private readonly oversample: number;
  /**
   * --undersampling informed with a target mix that undersamples (ρ < 1; at ρ = 1 every
   * fresh event is kept, so nothing is scored): decided once.
   */
  private readonly informed: boolean;
  private scorer: FreshScorer | undefined;
  /** Batches composed with informed undersampling (a model score for every fresh event), and without (no model yet, or uniform). */
  private readonly undersampled = { informed: 0, uniform: 0 };
  /** The composer's synthetic hook (--synthetic; undefined when off). */
  private readonly synthesize: Interpolate<InteractionEvent> | undefined;
  /** --synthetic gaussian: see `countFitted`; null otherwise. */
  private readonly fitted: { readonly rowOf: (categoryId: string) => number; readonly counts: Int32Array } | null;

  private constructor(
    readonly state: BalanceState<InteractionEvent>,
    config: ServiceConfig,
    popular?: PopularItems,
  ) {
    this.batchSize = config.batchSize;
    this.oversample = config.batchOversample;
    this.informed = config.undersampling === 'informed' && config.targetMixRho < 1;
    this.popular = popular ?? new PopularItems(Math.max(1_000, config.recHeadItems * 8));
    this.fitted = null;
    this.synthesize = undefined;
    if (config.synthetic === 'latent_smote') {
      // Latent SMOTE: the trainer interpolates the two events' model inputs at λ (src/model/latent-smote.ts).
      this.synthesize = (a, b, lambda) => syntheticEvent('latent_smote', a, b, lambda);
    } else if (config.synthetic === 'gaussian') {
      // Generative oversampling: the trainer draws from the category's Gaussian (src/model/gaussian-oversampler.ts),
      // once it has fitted enough of the category's replayed positives; until then the slot is a plain replay.
      const space = idSpaces(DEFAULT_MODEL_CONFIG).categories;
      const fitted = { rowOf: (categoryId: string) => space.peekRow(categoryId), counts: new Int32Array(space.rows) };
      this.fitted = fitted;
      this.synthesize = (a) => (fitted.counts[fitted.rowOf(a.categoryId)]! >= GAUSSIAN_MIN_OBSERVATIONS ? syntheticEvent('gaussian', a, a, 1) : undefined);
    }
  }

  static create(config: ServiceConfig, rng: Rng): BalanceAdapter {
    return new BalanceAdapter(new BalanceState<InteractionEvent>(balanceConfigOf(config), rng), config);
  }

  static restore(snapshot: BalanceAdapterSnapshot, config: ServiceConfig): BalanceAdapter {
    const state = BalanceState.restore(snapshot.state, balanceConfigOf(config));
    return new BalanceAdapter(state, config, PopularItems.restore(snapshot.popular));
  }

  /**
   * Informed undersampling (--undersampling informed): where the model's logits of the fresh
   * events come from (src/train/informed-scores.ts; the backtest passes its model). Ignored
   * with --undersampling uniform.
   */
  scoreWith(scorer: FreshScorer | undefined): void {
    this.scorer = scorer;
  }

  /** Batches composed with informed undersampling and with uniform undersampling so far. */
  undersampledBatches(): { informed: number; uniform: number } {
    return { ...this.undersampled };
  }

  observe(event: InteractionEvent): ObserveOutcome {
    this.popular.add(event.itemId, event.categoryId);
    return this.state.observe(event);
  }

  watermark(): number {
    return this.state.watermark;
  }

  advanceTo(eventTime: number): void {
    if (eventTime > this.state.watermark) this.state.advanceTo(eventTime);
  }

  compose(fresh: readonly InteractionEvent[]): EventBatch {
    // With --batch-oversample x the composed batch has (1 + x) slots per fresh event: the
    // majority keeps more of its fresh events (a_c = min(1, (B/F)·q_c/π_c)) and the minority
    // gets the extra slots as replay (oversampling rather than undersampling).
    const size = Math.round(Math.max(this.batchSize, fresh.length) * (1 + this.oversample));
    const informed = this.informedOptions(fresh);
    if (informed === undefined) this.undersampled.uniform++;
    else this.undersampled.informed++;
    const options = this.synthesize === undefined ? informed : { ...informed, interpolate: this.synthesize };
    const batch = this.state.composeBatch(fresh, size, options);
    this.composed.fresh += batch.report.fresh;
    this.composed.replay += batch.report.replay;
    this.composed.synthetic += batch.report.synthetic;
    if (this.fitted !== null) this.countFitted(batch);
    return { ...batch, arrived: fresh };
  }

  /**
   * --synthetic gaussian: the replayed positives of each category the trainer fits its Gaussian
   * on, counted as it counts them (replays of a type the model trains on, by hashed category
   * row: the trainer's keys), so a synthetic slot is handed to the trainer only when it has a
   * fitted Gaussian to draw from; before, the slot is a replay and counted as one. (The trainer
   * still falls back to a replay should it have fewer, e.g. after a batch was dropped.)
   */
  private countFitted(batch: ComposedBatch<InteractionEvent>): void {
    const { rowOf, counts } = this.fitted!;
    const trains = DEFAULT_TRAINER_CONFIG.labelWeights;
    for (let i = 0; i < batch.items.length; i++) {
      const e = batch.items[i]!;
      if (batch.sources[i] !== SOURCE_REPLAY || !(trains[e.type] > 0)) continue;
      const r = rowOf(e.categoryId);
      if (counts[r]! < GAUSSIAN_MIN_OBSERVATIONS) counts[r]!++;
    }
  }

  /** The composer's score hook: each fresh event's loss −log σ(s) under the model (undefined: uniform undersampling). */
  private informedOptions(fresh: readonly InteractionEvent[]): ComposeOptions<InteractionEvent> | undefined {
    if (!this.informed || this.scorer === undefined || fresh.length === 0) return undefined;
    const logits = this.scorer(fresh);
    if (logits === null) return undefined;
    const losses = new Float64Array(fresh.length);
    for (let i = 0; i < losses.length; i++) losses[i] = positiveLoss(logits[i]!);
    return { score: (_, i) => losses[i]! };
  }

  /** Training samples composed since this process started, by source. */
  composedSamples(): { fresh: number; replay: number; synthetic: number } {
    return { ...this.composed };
  }

  batchSources(batch: EventBatch): { fresh: number; replay: number; synthetic: number } {
    return { fresh: batch.report.fresh, replay: batch.report.replay, synthetic: batch.report.synthetic };
  }

  view(): BalanceView {
    const stats = this.state.stats();
    const counts = new Map<string, number>();
    let reservoirFill = 0;
    const cats = this.state.categories();
    const capacity = this.state.config.reservoirSize;
    for (const c of cats) {
      counts.set(c, this.state.count(c));
      reservoirFill += Math.min(1, this.state.reservoir(c).length / capacity);
    }
    return {
      windowCounts: counts,
      windowEvents: stats.total,
      weights: this.state.weights(),
      imbalanceRatio: stats.imbalanceRatio,
      entropyNormalized: stats.normalizedEntropy,
      gini: stats.gini,
      reservoirFill: {
        perCategory: cats.length > 0 ? reservoirFill / cats.length : 0,
        cbrs: this.state.replayMemory().length / this.state.config.replayMemorySize,
      },
    };
  }

  candidates(perCategory: number, headItems: number): CandidateItem[] {
    const seen = new Set<string>();
    const out: CandidateItem[] = [];
    const push = (itemId: string, categoryId: string): void => {
      if (seen.has(itemId)) return;
      seen.add(itemId);
      out.push({ itemId, categoryId });
    };
    for (const item of this.popular.top(headItems)) push(item.itemId, item.categoryId);
    for (const c of this.state.categories()) {
      const reservoir = this.state.reservoir(c);
      let taken = 0;
      for (let i = 0; i < reservoir.length && taken < perCategory; i++) {
        const e = reservoir[i]!;
        if (!seen.has(e.itemId)) {
          push(e.itemId, e.categoryId);
          taken++;
        }
      }
    }
    return out;
  }

  prior(categoryId: string): number {
    return this.state.prior(categoryId);
  }

  snapshot(): BalanceAdapterSnapshot {
    return { state: this.state.snapshot(), popular: this.popular.snapshot() };
  }
}

/** Items of a composed batch reordered fresh-first (the prequential evaluator ranks only fresh positives). */
export function freshFirst(batch: EventBatch): { items: InteractionEvent[]; weights: Float32Array; freshCount: number } {
  const n = batch.items.length;
  const items: InteractionEvent[] = new Array<InteractionEvent>(n);
  const weights = new Float32Array(n);
  let front = 0;
  let back = n - 1;
  for (let i = 0; i < n; i++) {
    if (batch.sources[i] === SOURCE_FRESH) {
      items[front] = batch.items[i]!;
      weights[front++] = batch.weights[i]!;
    } else {
      items[back] = batch.items[i]!;
      weights[back--] = batch.weights[i]!;
    }
  }
  return { items, weights, freshCount: front };
}

export const SAMPLE_SOURCES = { fresh: SOURCE_FRESH, replay: SOURCE_REPLAY, synthetic: SOURCE_SYNTHETIC } as const;
