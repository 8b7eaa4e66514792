/**
 * Messages between the main thread (serving-thread.ts) and the serving thread
 * (serving-worker.ts). Each side validates what it receives with the schemas here.
 *
 * Snapshots are forwarded from the trainer with their buffers transferred (O(arrays), no
 * copy; the main thread keeps no reference). Candidates go as one object per item once a second; triggers as user
 * ids every PUMP_INTERVAL; recommendation durations come back as a Float64Array.
 */
import { z } from 'zod';
import { threadMemorySchema, type ThreadMemory } from '../metrics/thread-memory.js';
import { modelSnapshotSchema, type ModelSnapshot } from '../model/snapshot.js';
import type { CandidateItem } from '../ports/index.js';

/** What the serving thread starts with (its workerData). */
export interface ServingInit {
  host: string;
  port: number;
  /** A separate address for the admin routes (listeners.ts); absent: every route on host:port. */
  admin?: { host: string; port: number };
  /** k when a request does not say, and the largest it may ask for. */
  defaultK: number;
  maxK: number;
  /** Longest userId accepted (--max-id-length). */
  maxIdLength: number;
  /** Items per event-triggered recommendation. */
  recK: number;
  /** Share of the serving thread's time event-triggered recommendations may take. */
  cpuShare: number;
  /** Longest slice of event-triggered scoring before HTTP requests get a turn, ms. */
  sliceMs: number;
  /** Set: recommendations are written in the Confluent wire format under this schema id (else Avro single-object). */
  recommendationSchemaId?: number;
}

export const servingInitSchema: z.ZodType<ServingInit> = z.object({
  host: z.string(),
  port: z.number().int().min(0).max(65_535),
  admin: z.object({ host: z.string(), port: z.number().int().min(0).max(65_535) }).optional(),
  defaultK: z.number().int().min(1),
  maxK: z.number().int().min(1),
  maxIdLength: z.number().int().min(1),
  recK: z.number().int().min(1),
  cpuShare: z.number().gt(0).max(1),
  sliceMs: z.number().gt(0),
  recommendationSchemaId: z.number().int().min(0).max(0xffffffff).optional(),
});

/** What the serving thread asks the main thread (answered with `reply`). */
export type Question = 'state' | 'readiness' | 'metrics' | 'history';

export type ToServing =
  | { type: 'snapshot'; snapshot: ModelSnapshot; version: string }
  | { type: 'candidates'; items: CandidateItem[]; head: string[]; version: string }
  | { type: 'trigger'; users: string[] }
  | { type: 'reply'; id: number; body: unknown }
  | { type: 'stop' };

export const toServingSchema: z.ZodType<ToServing> = z.discriminatedUnion('type', [
  z.object({ type: z.literal('snapshot'), snapshot: modelSnapshotSchema, version: z.string() }),
  z.object({ type: z.literal('candidates'), items: z.array(z.object({ itemId: z.string(), categoryId: z.string() })), head: z.array(z.string()), version: z.string() }),
  z.object({ type: z.literal('trigger'), users: z.array(z.string()) }),
  z.object({ type: z.literal('reply'), id: z.number().int(), body: z.unknown() }),
  z.object({ type: z.literal('stop') }),
]);

/** Recommendation tallies since the previous `stats` message. */
export interface ServingTally {
  /** Seconds per HTTP recommendation, and per event-triggered one. */
  http: Float64Array;
  event: Float64Array;
  /** Triggers dropped because the serving thread's queue was full. */
  droppedBacklog: number;
  /** /recommendations requests shed (503 REB_HTTP_OVERLOADED). */
  shed: number;
  /** Share of recently recommended items in tail categories. */
  tailShare: number;
  /** Sequence number of the snapshot being served (−1 before the first). */
  servedSeq: number;
  /** The serving thread's heap. */
  memory: ThreadMemory;
}

export type FromServing =
  | { type: 'listening'; port: number; adminPort: number | null }
  | { type: 'failed'; code: string | null; message: string; stack: string }
  | { type: 'ask'; id: number; question: Question }
  | { type: 'produce'; messages: Array<{ key: string; value: Uint8Array }> }
  | ({ type: 'stats' } & ServingTally)
  | { type: 'log'; message: string }
  | { type: 'stopped' };

export const fromServingSchema: z.ZodType<FromServing> = z.discriminatedUnion('type', [
  z.object({ type: z.literal('listening'), port: z.number().int().min(1).max(65_535), adminPort: z.number().int().min(1).max(65_535).nullable() }),
  z.object({ type: z.literal('failed'), code: z.string().nullable(), message: z.string(), stack: z.string() }),
  z.object({ type: z.literal('ask'), id: z.number().int(), question: z.enum(['state', 'readiness', 'metrics', 'history']) }),
  z.object({ type: z.literal('produce'), messages: z.array(z.object({ key: z.string(), value: z.instanceof(Uint8Array) })) }),
  z.object({ type: z.literal('stats'), http: z.instanceof(Float64Array), event: z.instanceof(Float64Array), droppedBacklog: z.number().int().min(0), shed: z.number().int().min(0), tailShare: z.number().min(0).max(1), servedSeq: z.number().int().min(-1), memory: threadMemorySchema }),
  z.object({ type: z.literal('log'), message: z.string() }),
  z.object({ type: z.literal('stopped') }),
]);

export const readinessSchema = z.object({ ready: z.boolean(), reasons: z.array(z.string()) });
export const metricsTextSchema = z.object({ contentType: z.string(), body: z.string() });
