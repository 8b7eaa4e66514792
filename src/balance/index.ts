/**
 * Public API of the balance core: pure, synchronous, deterministic given a seeded Rng.
 * Other modules import from here only.
 */
export { Rng, rngStateSchema, type RngState } from './rng.js';
export { DEFAULT_BALANCE_CONFIG, WEIGHT_POLICIES, resolveBalanceConfig, type BalanceConfig, type WeightPolicyName, type WindowMode } from './config.js';
export {
  CategoryWindow,
  EVENT_TYPE_ORDER,
  eventTypeIndex,
  ADD_LATE,
  ADD_OVERFLOW,
  ADD_REJECTED,
  MAX_EVENT_TIME_MS,
  type WindowOptions,
  type WindowHooks,
  type WindowCounters,
  type WindowSnapshot,
} from './window.js';
export { imbalanceStats, smoothedPrior, type ImbalanceStats, type CategoryStat } from './stats.js';
export { rawWeight, solveScale, classWeights, type WeightOptions } from './weights.js';
export { effectiveNumber, effectiveNumberWeight } from './effective-number.js';
export { ReservoirBank, type ReservoirBankSnapshot } from './reservoir.js';
export { ClassBalancedMemory, type ReplayMemorySnapshot } from './cbrs.js';
export {
  SOURCE_FRESH,
  SOURCE_REPLAY,
  SOURCE_SYNTHETIC,
  SOURCE_NAMES,
  type SampleSource,
  type Interpolate,
  type ComposeOptions,
  type ComposedBatch,
  type CompositionReport,
  type SourceCounts,
} from './composer.js';
export { GlobalWindow, shareDivergence, type BucketCounts, type CountTotals, type PartitionTotals, type BucketEvicted, type CountsRecord, type GlobalTotals } from './global-window.js';
export { BalanceState, SNAPSHOT_VERSION, type CountSource, type BalanceEvent, type BalanceSnapshot, type BalanceCounters, type ObserveStatus } from './state.js';
export { ADJUSTMENT_GRID, AdjustmentController, adjustmentStateSchema, DEFAULT_ADJUSTMENT_CONFIG, type AdjustmentConfig, type AdjustmentFigures, type AdjustmentState } from './adjustment.js';
export { headCategories, isTail, tailCategories, tailShareOfCounts } from './tail.js';
