/** The incremental recommendation model: public surface. */
export { DEFAULT_LOSS_CONFIG, DEFAULT_MODEL_CONFIG, DEFAULT_TRAINER_CONFIG, resolveModelConfig, resolveTrainerConfig } from './config.js';
export type { LossConfig, LossKind, ModelConfig, TrainerConfig } from './config.js';
export { HashedIdSpace, bucketOf, murmur3 } from './hash.js';
export type { CollisionEstimate } from './hash.js';
export { RecModel, assertNativeBackend, createModel, forwardLogits } from './neumf.js';
export type { BatchRows, GatheredInputs } from './neumf.js';
export { effectiveWeights, lossTerms, perSampleLosses, trainingOffset } from './losses.js';
export { ItemCatalog } from './negatives.js';
export type { CatalogItem, CatalogState } from './negatives.js';
export { PrequentialEvaluator, rankOutcome } from './evaluator.js';
export type { CategoryEval, EvalSummary, RankOutcome } from './evaluator.js';
export { IncrementalTrainer } from './trainer.js';
export type { CategoryPrior, Interaction, StepReport, TrainerConfigInput, TrainerState, TrainingBatch } from './trainer.js';
export { fullSortTopK, recommend, recommendBatch, scoreCandidates, selectTopK } from './recommender.js';
export type { Candidate, ExposureControl, RecommendOptions, Recommendation } from './recommender.js';
export { MODEL_FORMAT, loadModel, saveModel } from './persistence.js';
export type { LoadedModel, ModelManifest } from './persistence.js';
