/**
 * Messages between the main thread (trainer-thread.ts) and the trainer worker (worker.ts).
 * Each side validates what it receives with the schemas here.
 *
 * No JSON: a training batch goes as columns (strings only for ids, the event type as an
 * index into EVENT_TYPE_ORDER in a Uint8Array, times in a Float64Array, sample weights in a
 * Float32Array). Object identity matters to the trainer (it remembers each fresh positive's
 * count features by the event object between `evaluate` and `step`), so the composed batch's
 * items are sent as references: an item that is one of the `arrived` events is its index
 * there, any other (a replay) is a row of its own; the worker rebuilds the objects so that
 * the same event is the same object on both sides.
 *
 * What travels how: a batch message is copied by the structured clone (the client keeps it
 * in its replay journal; it is a few KB of columns), a snapshot's buffers are transferred
 * (tens of MB, O(1) to post), a hand-over state's arrays are in shared memory (see
 * HandOverState).
 *
 * The prior π_c (logit adjustment) is a main-thread callback: with logit adjustment on, each
 * batch carries π_c of every category the worker may need (a category dictionary, grown by
 * the batches and by the categories of a restored catalog; negatives are drawn from the
 * catalog, so they need more than the batch's own categories).
 */
import { z } from 'zod';
import { EVENT_TYPE_ORDER, adjustmentStateSchema, rngStateSchema, type AdjustmentState, type RngState } from '../balance/index.js';
import type { EventType } from '../codec/types.js';
import { SETTINGS, loadConfig, type RawSettings, type ServiceConfig, type SettingKey } from '../config/index.js';
import type { EvaluatorState, RingState } from '../model/evaluator.js';
import type { EvaluationView } from '../ports/index.js';
import { modelSnapshotSchema, type ModelSnapshot } from '../model/snapshot.js';
import { gaussianStateSchema, type GaussianState } from '../model/gaussian-oversampler.js';
import { headsStateSchema, type HeadsState } from '../model/online-bagging.js';
import { SYNTHETIC_KINDS } from '../model/latent-smote.js';
import { tensorMemorySchema, threadMemorySchema, type TensorMemory, type ThreadMemory } from '../metrics/thread-memory.js';
import { modelChangesSchema, type BlendReport, type ModelChanges, type SyncMode } from './model-sync.js';

const float32 = z.instanceof(Float32Array);
const float64 = z.instanceof(Float64Array);
const uint8 = z.instanceof(Uint8Array);
const count = z.number().int().min(0);

// ---------------------------------------------------------------- configuration

/** A setting's parsed value as it travels (ServiceConfig values are these). */
const settingValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]);
export type WireConfig = Record<string, z.infer<typeof settingValue>>;

/** The service configuration for the message (structured clone keeps it as is). */
export function configToWire(config: ServiceConfig): WireConfig {
  return { ...config };
}

/**
 * The configuration received by message, validated by the settings' own schemas: each
 * value is written back as its raw text and parsed again (numbers print and parse back
 * exactly), so the worker holds a ServiceConfig checked the way `loadConfig` checks one.
 */
export function configFromWire(wire: WireConfig): ServiceConfig {
  const raw: RawSettings = {};
  for (const key of Object.keys(SETTINGS) as SettingKey[]) {
    const v = wire[key];
    if (v !== undefined) raw[key] = Array.isArray(v) ? v.join(',') : String(v);
  }
  return loadConfig({ layers: [{ source: 'override', origin: 'the main thread', values: raw }] });
}

// ---------------------------------------------------------------- state pieces


/**
 * Strings as one text and their lengths: a structured clone copies two objects however many
 * strings there are (a catalog holds up to 200k ids; cloning and validating them one by one
 * on the main thread cost ~0.1 s here).
 */
export interface PackedStrings {
  text: string;
  lengths: Uint32Array;
}

const packedStringsSchema: z.ZodType<PackedStrings> = z.object({ text: z.string(), lengths: z.instanceof(Uint32Array) }).superRefine((p, ctx) => {
  let total = 0;
  for (let i = 0; i < p.lengths.length; i++) total += p.lengths[i]!;
  if (total !== p.text.length) ctx.addIssue({ code: 'custom', message: `packed strings: lengths sum to ${total}, the text has ${p.text.length} characters` });
});

/** The sampler's item catalog (negatives.ts CatalogState) with its id lists packed. */
export interface PackedCatalog {
  capacity: number;
  ringSize: number;
  uniformShare: number;
  ringPos: number;
  rng: RngState;
  items: PackedStrings;
  categories: PackedStrings;
  ringItems: PackedStrings;
  ringCategories: PackedStrings;
}

const packedCatalogSchema: z.ZodType<PackedCatalog> = z.object({
  capacity: count,
  ringSize: count,
  uniformShare: z.number().min(0).max(1),
  ringPos: count,
  rng: rngStateSchema,
  items: packedStringsSchema,
  categories: packedStringsSchema,
  ringItems: packedStringsSchema,
  ringCategories: packedStringsSchema,
});

/** The trainer's state (trainer.ts TrainerState) for a hand-over: arrays in shared memory, the catalog packed. */
export interface HandOverTrainer {
  step: number;
  events: number;
  rng: RngState;
  embeddingAccumulators: [Float32Array, Float32Array, Float32Array];
  denseFirstMoments: Float32Array[];
  denseSecondMoments: Float32Array[];
  catalog: PackedCatalog;
  adjustment: AdjustmentState | null;
  /** The generative oversampler's fit (--synthetic gaussian), or null. */
  oversampler: GaussianState | null;
  /** Online bagging's heads (--bagging), or null. */
  heads: HeadsState | null;
}

const handOverTrainerSchema: z.ZodType<HandOverTrainer> = z.object({
  step: count,
  events: count,
  rng: rngStateSchema,
  embeddingAccumulators: z.tuple([float32, float32, float32]),
  denseFirstMoments: z.array(float32),
  denseSecondMoments: z.array(float32),
  catalog: packedCatalogSchema,
  adjustment: adjustmentStateSchema.nullable(),
  oversampler: gaussianStateSchema.nullable(),
  heads: headsStateSchema.nullable(),
});

const ringStateSchema: z.ZodType<RingState> = z.object({
  hits: float32,
  ndcg: float32,
  auc: float32,
  size: count,
  pos: count,
  sumHit: z.number(),
  sumNdcg: z.number(),
  sumAuc: z.number(),
});

const evaluatorStateSchema: z.ZodType<EvaluatorState> = z.object({
  k: count,
  horizon: count,
  total: count,
  overall: ringStateSchema,
  categories: z.array(z.object({ categoryId: z.string(), ring: ringStateSchema })),
});

/** The evaluation as the pipeline reads it (ports.ts EvaluationView; Maps survive the structured clone). */
const evaluationViewSchema: z.ZodType<EvaluationView> = z.object({
  hitRateByCategory: z.map(z.string(), z.number()),
  evaluationsByCategory: z.map(z.string(), z.number()),
  hitRateMacro: z.number(),
  hitRateMicro: z.number(),
  ndcgMacro: z.number(),
  ndcgMicro: z.number(),
  adjustment: z.object({ tau: z.number(), microCost: z.number(), macroGain: z.number() }),
});

/**
 * Everything a fresh worker needs to continue exactly where another stopped: the model's
 * parameters and count tables (a snapshot), the hashed tables' occupancy, the trainer's
 * state (optimizer, sampler, adjustment controller, trained-event count) and the
 * evaluator's tallies.
 *
 * The large arrays live in SharedArrayBuffers: the main thread keeps the state as the base of
 * later restarts and hands it to new workers without copying it (a worker copies out of it,
 * and nothing writes into it).
 */
export interface HandOverState {
  snapshot: ModelSnapshot;
  /** Occupancy bitmaps of the user, item and category id spaces (collision estimate). */
  occupancy: [Uint8Array, Uint8Array, Uint8Array];
  trainer: HandOverTrainer;
  evaluator: EvaluatorState;
}

const handOverStateSchema: z.ZodType<HandOverState> = z.object({
  snapshot: modelSnapshotSchema,
  occupancy: z.tuple([uint8, uint8, uint8]),
  trainer: handOverTrainerSchema,
  evaluator: evaluatorStateSchema,
});

// ---------------------------------------------------------------- batches

/** Events as columns; `types[i]` indexes EVENT_TYPE_ORDER. */
export interface EventColumns {
  eventIds: string[];
  userIds: string[];
  itemIds: string[];
  categoryIds: string[];
  types: Uint8Array;
  times: Float64Array;
}

const eventColumnsSchema: z.ZodType<EventColumns> = z
  .object({ eventIds: z.array(z.string()), userIds: z.array(z.string()), itemIds: z.array(z.string()), categoryIds: z.array(z.string()), types: uint8, times: float64 })
  .superRefine((c, ctx) => {
    const n = c.eventIds.length;
    if (c.userIds.length !== n || c.itemIds.length !== n || c.categoryIds.length !== n || c.types.length !== n || c.times.length !== n) {
      ctx.addIssue({ code: 'custom', message: 'event columns differ in length' });
    }
    for (let i = 0; i < c.types.length; i++) {
      if (c.types[i]! >= EVENT_TYPE_ORDER.length) {
        ctx.addIssue({ code: 'custom', path: ['types', i], message: `event type index ${c.types[i]} is not in EVENT_TYPE_ORDER` });
        break;
      }
    }
  });

export interface TrainMessage {
  type: 'train';
  /** Request number on this worker (set when sent). */
  call: number;
  /** Position of the batch in the stream (1, 2, …; kept when it is retried or replayed). */
  batch: number;
  /** A journal replay on a new worker: no snapshot is published, no reply is awaited per step. */
  replay: boolean;
  /** Every fresh event the batch was composed from, in arrival order. */
  arrived: EventColumns;
  /** The items (fresh first) that are not `arrived` events. */
  extra: EventColumns;
  /** Per item: r >= 0 → arrived[r], r < 0 → extra[−r − 1]. */
  itemRefs: Int32Array;
  weights: Float32Array;
  freshCount: number;
  /** Category dictionary entries from index `from` (idempotent: entries never move). */
  categories: { from: number; ids: string[] };
  /** π_c per dictionary entry, or null when the loss does not use priors. */
  priors: Float64Array | null;
  /** The batch's synthetic samples (--synthetic), absent when it has none. */
  synthetic?: SyntheticColumns;
}

/**
 * Synthetic samples of a batch (src/model/latent-smote.ts), one entry each: the item it is
 * (its itemRefs entry refers to event a), its kind (index into SYNTHETIC_KINDS), its two
 * events as item references (as itemRefs: arrived or extra) and λ.
 */
export interface SyntheticColumns {
  index: Int32Array;
  kinds: Uint8Array;
  a: Int32Array;
  b: Int32Array;
  lambdas: Float64Array;
}

const syntheticColumnsSchema: z.ZodType<SyntheticColumns> = z.object({ index: z.instanceof(Int32Array), kinds: uint8, a: z.instanceof(Int32Array), b: z.instanceof(Int32Array), lambdas: float64 }).superRefine((s, ctx) => {
  const k = s.index.length;
  if (s.kinds.length !== k || s.a.length !== k || s.b.length !== k || s.lambdas.length !== k) ctx.addIssue({ code: 'custom', message: 'synthetic columns differ in length' });
  for (let i = 0; i < k; i++) {
    const l = s.lambdas[i]!;
    if (s.kinds[i]! >= SYNTHETIC_KINDS.length || !(l >= 0 && l <= 1)) {
      ctx.addIssue({ code: 'custom', path: ['synthetic', i], message: `synthetic sample ${i}: kind index ${s.kinds[i]}, λ ${l}` });
      break;
    }
  }
});

const trainMessageSchema: z.ZodType<TrainMessage> = z
  .object({
    type: z.literal('train'),
    call: count,
    batch: count,
    replay: z.boolean(),
    arrived: eventColumnsSchema,
    extra: eventColumnsSchema,
    itemRefs: z.instanceof(Int32Array),
    weights: float32,
    freshCount: count,
    categories: z.object({ from: count, ids: z.array(z.string()) }),
    priors: float64.nullable(),
    synthetic: syntheticColumnsSchema.optional(),
  })
  .superRefine((m, ctx) => {
    const n = m.itemRefs.length;
    if (m.weights.length !== n) ctx.addIssue({ code: 'custom', path: ['weights'], message: `${m.weights.length} weights for ${n} items` });
    if (m.freshCount > n) ctx.addIssue({ code: 'custom', path: ['freshCount'], message: `freshCount ${m.freshCount} > ${n} items` });
    const arrived = m.arrived.eventIds.length;
    const extra = m.extra.eventIds.length;
    for (let i = 0; i < n; i++) {
      const r = m.itemRefs[i]!;
      if (r >= arrived || -r - 1 >= extra) {
        ctx.addIssue({ code: 'custom', path: ['itemRefs', i], message: `item reference ${r} points outside the batch` });
        break;
      }
    }
    const s = m.synthetic;
    for (let i = 0; s !== undefined && i < s.index.length; i++) {
      const refs = [s.a[i]!, s.b[i]!];
      if (!(s.index[i]! >= m.freshCount && s.index[i]! < n) || refs.some((r) => r >= arrived || -r - 1 >= extra)) {
        ctx.addIssue({ code: 'custom', path: ['synthetic', i], message: `synthetic sample ${i} (item ${s.index[i]}, events ${refs.join(', ')}) points outside the batch or into its fresh events` });
        break;
      }
    }
  });

// ---------------------------------------------------------------- main → worker

/** Where a worker's model comes from. */
export type ModelSource =
  | { kind: 'fresh'; modelRng: RngState; trainerRng: RngState }
  /** A checkpoint directory (as ModelAdapter.restoreOrCreate): on REB_CHECKPOINT_CORRUPT, fresh from `fallback`. */
  | { kind: 'checkpoint'; dir: string; trainerRng: RngState; fallback: { modelRng: RngState; trainerRng: RngState } | null }
  | { kind: 'state'; state: HandOverState };

/** Test hooks (not for production use): they slow down or kill the worker on purpose. */
export interface WorkerHooks {
  /** Busy-waits this long in every step (blocks the worker thread). */
  trainDelayMs: number;
  /** The worker exits abruptly after this many steps of its own (null: never). */
  crashAfterSteps: number | null;
  /** The worker exits abruptly on receiving batch number `crashOnBatch` (null: never). */
  crashOnBatch: number | null;
}

export interface InitMessage {
  type: 'init';
  config: WireConfig;
  source: ModelSource;
  /** The category dictionary so far (see TrainMessage.categories). */
  categories: string[];
  snapshotIntervalMs: number;
  /** Sequence number of the worker's first snapshot. */
  seqFrom: number;
  hooks: WorkerHooks;
  /** How model sync combines replicas (model-sync.ts; absent: 'average'). */
  syncMode?: SyncMode;
}

/**
 * Model sync: blend another replica's changes (model-sync.ts) between steps. Journaled with
 * the batches, so a replacement worker replays it in order (`replay`: no snapshot after it).
 */
export interface SyncApplyMessage {
  type: 'sync-apply';
  call: number;
  replay: boolean;
  changes: ModelChanges;
}

export type ToWorker =
  | InitMessage
  | TrainMessage
  | SyncApplyMessage
  /** Model sync: the rows (and with `dense` the dense weights) trained since the last export, with their sample counts. */
  | { type: 'sync-export'; call: number; dense: boolean }
  /** Publish a snapshot now. */
  | { type: 'publish' }
  | { type: 'save'; call: number; dir: string; version: string }
  /** `final`: the worker is being replaced and publishes nothing more. */
  | { type: 'export'; call: number; final: boolean }
  /** Test hook: exit abruptly now. */
  | { type: 'crash' };

const modelSourceSchema: z.ZodType<ModelSource> = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('fresh'), modelRng: rngStateSchema, trainerRng: rngStateSchema }),
  z.object({ kind: z.literal('checkpoint'), dir: z.string().min(1), trainerRng: rngStateSchema, fallback: z.object({ modelRng: rngStateSchema, trainerRng: rngStateSchema }).nullable() }),
  z.object({ kind: z.literal('state'), state: handOverStateSchema }),
]);

const initMessageSchema: z.ZodType<InitMessage> = z.object({
  type: z.literal('init'),
  config: z.record(z.string(), settingValue),
  source: modelSourceSchema,
  categories: z.array(z.string()),
  snapshotIntervalMs: z.number().min(0),
  seqFrom: count,
  syncMode: z.enum(['average', 'delta']).optional(),
  hooks: z.object({ trainDelayMs: z.number().min(0), crashAfterSteps: count.nullable(), crashOnBatch: count.nullable() }),
});

export const toWorkerSchema: z.ZodType<ToWorker> = z.union([
  initMessageSchema,
  trainMessageSchema,
  z.object({ type: z.literal('sync-apply'), call: count, replay: z.boolean(), changes: modelChangesSchema }),
  z.object({ type: z.literal('sync-export'), call: count, dense: z.boolean() }),
  z.object({ type: z.literal('publish') }),
  z.object({ type: z.literal('save'), call: count, dir: z.string().min(1), version: z.string().min(1) }),
  z.object({ type: z.literal('export'), call: count, final: z.boolean() }),
  z.object({ type: z.literal('crash') }),
]);

// ---------------------------------------------------------------- worker → main

export interface ReadyMessage {
  type: 'ready';
  /** Version of the model it holds (a checkpoint's, or neumf-g0 when fresh). */
  version: string;
  /** How the model was made; 'fresh' after a checkpoint fallback too (see `fallback`). */
  made: 'fresh' | 'checkpoint' | 'state';
  /** Why a checkpoint was not loaded (REB_CHECKPOINT_CORRUPT), or null. */
  fallback: string | null;
  nativeBackend: boolean;
  steps: number;
  trainedEvents: number;
  labelWeights: Record<EventType, number>;
  /** True when the trainer reads π_c (logit adjustment, per-category learning rates): the batches must carry priors. */
  usesPriors: boolean;
  /** Categories in the trainer's catalog (negatives are drawn from it). */
  catalogCategories: string[];
  tensorIdHighWater: number;
  evaluation: EvaluationView;
}

export interface TrainedMessage {
  type: 'trained';
  call: number;
  /** Mean weighted loss before the update (NaN when the batch had nothing to train on). */
  loss: number;
  steps: number;
  /** Samples (positives and negatives) in the optimizer step. */
  trainedSamples: number;
  /** The model's trained-event count (every `arrived` event handed to it, IncrementalTrainer.trainedEvents). */
  trainedEvents: number;
  evaluation: EvaluationView;
  tensorIdHighWater: number;
  /** Worker time of evaluate + step, ms. */
  stepMs: number;
  /** The worker thread's heap and live tensors after the step. */
  memory: ThreadMemory & TensorMemory;
}

export type FromWorker =
  | ReadyMessage
  | TrainedMessage
  | { type: 'snapshot'; snapshot: ModelSnapshot; publishMs: number }
  | { type: 'saved'; call: number; version: string; path: string }
  | { type: 'exported'; call: number; state: HandOverState; nextSeq: number }
  | { type: 'sync-exported'; call: number; changes: ModelChanges }
  | { type: 'sync-applied'; call: number; report: BlendReport }
  | { type: 'failed'; call: number | null; code: string | null; message: string; stack: string };

const labelWeightsSchema: z.ZodType<Record<EventType, number>> = z.object({ view: z.number(), click: z.number(), add_to_cart: z.number(), purchase: z.number() });

export const fromWorkerSchema: z.ZodType<FromWorker> = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('ready'),
    version: z.string(),
    made: z.enum(['fresh', 'checkpoint', 'state']),
    fallback: z.string().nullable(),
    nativeBackend: z.boolean(),
    steps: count,
    trainedEvents: count,
    labelWeights: labelWeightsSchema,
    usesPriors: z.boolean(),
    catalogCategories: z.array(z.string()),
    tensorIdHighWater: z.number(),
    evaluation: evaluationViewSchema,
  }),
  z.object({
    type: z.literal('trained'),
    call: count,
    loss: z.number(),
    steps: count,
    trainedSamples: count,
    trainedEvents: count,
    evaluation: evaluationViewSchema,
    tensorIdHighWater: z.number(),
    stepMs: z.number(),
    memory: threadMemorySchema.merge(tensorMemorySchema),
  }),
  z.object({ type: z.literal('snapshot'), snapshot: modelSnapshotSchema, publishMs: z.number() }),
  z.object({ type: z.literal('saved'), call: count, version: z.string(), path: z.string() }),
  z.object({ type: z.literal('exported'), call: count, state: handOverStateSchema, nextSeq: count }),
  z.object({ type: z.literal('sync-exported'), call: count, changes: modelChangesSchema }),
  z.object({ type: z.literal('sync-applied'), call: count, report: z.object({ replaced: count, averaged: count, added: count, dense: z.boolean(), positives: count }) }),
  z.object({ type: z.literal('failed'), call: count.nullable(), code: z.string().nullable(), message: z.string(), stack: z.string() }),
]);
