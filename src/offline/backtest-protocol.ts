/**
 * Messages between the backtest's main thread and its worker threads, as structured-
 * clonable data with a zod schema each (the receiving side validates what it gets).
 *
 * The main thread reads the source once and broadcasts chunks of events as compact
 * arrays: strings only for the ids the model hashes, categories as indices into a
 * dictionary sent incrementally, the shared evaluation candidates as indices into the
 * candidate pool (items seen as positives), also sent incrementally.
 */
import { z } from 'zod';
import type { ConfigLayer } from '../config/index.js';
import { tallyDataSchema, type TallyData } from './backtest-tally.js';

/** Settings of the harness every row shares (not run settings). */
export interface HarnessSettings {
  k: number;
  evalCandidates: number;
  /** A series point every this many events (and one at the end). */
  seriesEvery: number;
}

export interface StrategySpec {
  name: string;
  /** Raw setting layers for loadConfig, highest precedence first (strategyLayers; validated in the main thread already). */
  layers: ConfigLayer[];
  /** Save the strategy's final model here (saveModel's layout, what `run --init-from` reads); absent: not saved. */
  saveModelTo?: string;
}

export interface InitMessage {
  type: 'init';
  harness: HarnessSettings;
  strategies: StrategySpec[];
}

export interface Probe {
  /** Index in the chunk of the event after which the probe is taken. */
  at: number;
  users: string[];
  /** Candidate-pool indices of the items ranked for each user. */
  items: Int32Array;
}

export interface EventChunk {
  type: 'chunk';
  seq: number;
  /** Stream position of the chunk's first event. */
  start: number;
  /** Category names new since the previous chunk (dictionary order). */
  newCategories: string[];
  userIds: string[];
  itemIds: string[];
  categories: Int32Array;
  /** Index of the event type in EVENT_TYPE_ORDER. */
  types: Uint8Array;
  times: Float64Array;
  /** Items new to the candidate pool since the previous chunk, with their category indices. */
  poolItems: string[];
  poolCategories: Int32Array;
  /** Chunk indices of the evaluated positives. */
  evalAt: Int32Array;
  /** evalAt.length × evalCandidates candidate-pool indices. */
  candidates: Int32Array;
  probes: Probe[];
}

export interface EndMessage {
  type: 'end';
  events: number;
}

export type ToWorker = InitMessage | EventChunk | EndMessage;

export interface RunnerResult {
  name: string;
  tally: TallyData;
  trainedSamples: number;
  /** Mean serving-time adjustment τ over the evaluated positives (0 without adjustment). */
  meanServingTau: number;
  trainSeconds: number;
  wallSeconds: number;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'ack'; seq: number; events: number }
  | { type: 'result'; results: RunnerResult[] }
  | { type: 'error'; code: string | null; message: string; stack: string };

const layerSchema = z.object({ source: z.enum(['flag', 'env', 'file', 'strategy', 'harness', 'default', 'override']), origin: z.string().optional(), values: z.record(z.string(), z.string()) });

export const toWorkerSchema: z.ZodType<ToWorker> = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('init'),
    harness: z.object({ k: z.number().int().min(1), evalCandidates: z.number().int().min(1), seriesEvery: z.number().int().min(1) }),
    strategies: z.array(z.object({ name: z.string(), layers: z.array(layerSchema), saveModelTo: z.string().min(1).optional() })),
  }),
  z.object({
    type: z.literal('chunk'),
    seq: z.number().int(),
    start: z.number().int(),
    newCategories: z.array(z.string()),
    userIds: z.array(z.string()),
    itemIds: z.array(z.string()),
    categories: z.instanceof(Int32Array),
    types: z.instanceof(Uint8Array),
    times: z.instanceof(Float64Array),
    poolItems: z.array(z.string()),
    poolCategories: z.instanceof(Int32Array),
    evalAt: z.instanceof(Int32Array),
    candidates: z.instanceof(Int32Array),
    probes: z.array(z.object({ at: z.number().int(), users: z.array(z.string()), items: z.instanceof(Int32Array) })),
  }),
  z.object({ type: z.literal('end'), events: z.number().int() }),
]);

export const fromWorkerSchema: z.ZodType<FromWorker> = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('ack'), seq: z.number().int(), events: z.number().int() }),
  z.object({
    type: z.literal('result'),
    results: z.array(z.object({ name: z.string(), tally: tallyDataSchema, trainedSamples: z.number(), meanServingTau: z.number(), trainSeconds: z.number(), wallSeconds: z.number() })),
  }),
  z.object({ type: z.literal('error'), code: z.string().nullable(), message: z.string(), stack: z.string() }),
]);
