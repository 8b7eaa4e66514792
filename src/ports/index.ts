import type { EventType, InteractionEvent, RecommendedItem } from '../codec/index.js';

/**
 * What the streaming pipeline needs from the balance core and the model, stated in
 * the pipeline's terms. src/service/ adapts the real `BalanceState` and model to these,
 * so the pipeline can be tested with small fakes and the two cores stay free of Kafka.
 */
export interface BalanceView {
  /** Events per category in the window. */
  windowCounts: ReadonlyMap<string, number>;
  windowEvents: number;
  weights: ReadonlyMap<string, number>;
  imbalanceRatio: number;
  entropyNormalized: number;
  gini: number;
  reservoirFill: { perCategory: number; cbrs: number };
}

export interface CandidateItem {
  itemId: string;
  categoryId: string;
}

/**
 * What the window did with an event: counted it, or left it out because it was older than
 * the watermark (late), of a new category while every category slot is in use (overflow),
 * or unusable (rejected: empty category, unknown type, impossible time; validation should
 * have caught it). Each outcome but `accepted` has its own counter.
 */
export type ObserveOutcome = 'accepted' | 'late' | 'overflow' | 'rejected';

export interface BalancePort<B> {
  /** Applies one valid, deduplicated event to the window (and, if accepted, the reservoirs). */
  observe(event: InteractionEvent): ObserveOutcome;
  /** The window's head (ms): the newest event time applied or advanced to; −Infinity before the first event. */
  watermark(): number;
  /** Moves the window's head forward to `eventTime` without an event (evicting old buckets); no-op when not ahead. */
  advanceTo(eventTime: number): void;
  /** Composes a training batch around these fresh events (replay, undersampling). */
  compose(fresh: readonly InteractionEvent[]): B;
  /** Samples per source in a composed batch. */
  batchSources(batch: B): { fresh: number; replay: number; synthetic: number };
  view(): BalanceView;
  /** Recommendation candidates: head items plus items from every category's reservoir. */
  candidates(perCategory: number, headItems: number): CandidateItem[];
  snapshot(): unknown;
}

export interface EvaluationView {
  hitRateByCategory: ReadonlyMap<string, number>;
  /** Evaluations per category (the weights of `other` when folding). */
  evaluationsByCategory: ReadonlyMap<string, number>;
  hitRateMacro: number;
  hitRateMicro: number;
  ndcgMacro: number;
  ndcgMicro: number;
  /** Serving-time logit adjustment in use (src/balance/adjustment.ts). */
  adjustment: AdjustmentView;
}

export interface AdjustmentView {
  /** τ served now (0: the raw logits). */
  tau: number;
  /** Estimated relative micro HR@K loss of τ against the unadjusted ranking (decayed prequential figures). */
  microCost: number;
  /** Estimated relative macro HR@K gain of τ against the unadjusted ranking. */
  macroGain: number;
}

export interface ModelPort<B> {
  readonly version: string;
  /** True when TensorFlow runs on the native backend. */
  readonly nativeBackend: boolean;
  /**
   * True when the model learns from events of this type (label weight > 0). Events it does
   * not learn from (views, label weight 0) still update the balance state but never enter
   * a training batch: the pipeline releases them right after the state update.
   */
  trainsOn(type: EventType): boolean;
  /**
   * One prequential step: evaluate the batch's positives with the current model, then train
   * on the batch. The step's place in the model's queue is fixed when `train` is called: a
   * `save` called afterwards holds this batch, one called before does not.
   */
  train(batch: B): Promise<{ loss: number }>;
  recommend(userId: string, candidates: readonly CandidateItem[], k: number): RecommendedItem[];
  /** Whether the model `recommend` scores with has no history of the user (src/model/snapshot.ts, isColdStart); null when it cannot tell. */
  coldStart(userId: string): boolean | null;
  evaluation(): EvaluationView;
  /**
   * Queues a save of the model into `dir` behind every batch handed to `train` so far and
   * returns the version the saved model will carry (synchronously) with the save's promise.
   */
  save(dir: string): { version: string; done: Promise<void> };
  /** Fresh events the model has been handed so far (what a saved model has trained). */
  readonly trainedEvents: number;
}

/** What the recommender scores with: the live model (inline) or the latest snapshot. */
export interface ScoringPort {
  readonly version: string;
  recommend(userId: string, candidates: readonly CandidateItem[], k: number): RecommendedItem[];
  /** Whether the model scored from has no history of the user (src/model/snapshot.ts, isColdStart); null when it cannot tell. */
  coldStart(userId: string): boolean | null;
}
