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

export interface BalancePort<B> {
  /** Applies one valid, deduplicated event; returns false when it was late (not in the window). */
  observe(event: InteractionEvent): boolean;
  /** The newest event time applied (ms), −Infinity before the first event. */
  watermark(): number;
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
  /** One prequential step: evaluate the batch's positives with the current model, then train on the batch. */
  train(batch: B): Promise<{ loss: number }>;
  recommend(userId: string, candidates: readonly CandidateItem[], k: number): RecommendedItem[];
  evaluation(): EvaluationView;
  save(dir: string): Promise<void>;
}
