/**
 * Serving: HTTP and event-triggered recommendations, on a serving thread of their own when
 * the trainer has its thread (ServingThread), else on the main thread (MainThreadServing).
 */
import type { InteractionEvent } from '../codec/index.js';
import type { ThreadMemory } from '../metrics/thread-memory.js';

export { MainThreadServing } from './main-thread-serving.js';
export { adminAddress, adminUrl, type ListenAddress } from './listeners.js';
export { ServingThread } from './serving-thread.js';
export { TriggerGate } from './trigger-gate.js';
export { Recommender, type ScoringPort } from './recommender.js';
export { SnapshotServing } from '../model/snapshot-serving.js';

/** What the service needs of either. */
export interface Serving {
  /** The bound HTTP port. */
  readonly port: number;
  /** The bound admin port (--admin-port), or null when every route is on `port`. */
  readonly adminPort: number | null;
  /** Recommendations acknowledged by the output topic. */
  readonly producedCount: number;
  /** Share of recently recommended items in tail categories. */
  tailShare(): number;
  /** The serving thread's heap as of its latest stats (null when serving runs on the main thread, or before the first). */
  threadMemory(): ThreadMemory | null;
  /** Called for every applied event (trigger gate): O(1). */
  onEvent(event: InteractionEvent, now: number): void;
  /** Stops event-triggered output (waiting for what was produced) and the HTTP server. */
  stop(): Promise<void>;
}
