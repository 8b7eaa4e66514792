/** The trainer as the service sees it, whichever thread it runs on (src/train/index.ts starts one). */
import type { TensorMemory, ThreadMemory } from '../metrics/thread-memory.js';
import type { ModelPort } from '../ports/index.js';
import type { EventBatch } from './balance-adapter.js';

/** What an operator watches of the trainer (metrics, readiness). */
export interface TrainerStats {
  /** Age of the oldest step the served parameters lack (0 inline: serving reads the live model). */
  stalenessSeconds: number;
  /** Native tensor handles created by the training thread (tfjs issue 8735). */
  tensorIdHighWater: number;
  recycles: number;
  workerRestarts: number;
  droppedBatches: number;
  /** False after repeated worker deaths. */
  healthy: boolean;
  /** The trainer thread's heap and live tensors (null inline: the main thread's are the process's own metrics). */
  memory: (ThreadMemory & TensorMemory) | null;
}

export interface Trainer extends ModelPort<EventBatch> {
  readonly steps: number;
  stats(): TrainerStats;
  /** After the last step and save: stops the worker / frees the model. */
  stop(): Promise<void>;
}
