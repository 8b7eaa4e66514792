/**
 * The trainer as the service sees it: on its own worker thread (TrainerThread, the default)
 * or inline on the main thread (ModelAdapter, `--trainer-thread false`), behind one port.
 */
import type { Rng } from '../balance/index.js';
import type { TensorMemory, ThreadMemory } from '../metrics/thread-memory.js';
import type { ServiceConfig } from '../config/index.js';
import type { EventBatch } from './balance-adapter.js';
import type { ModelPort } from '../ports/index.js';
import { TrainerThread } from './trainer-thread.js';

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

export interface StartTrainerOptions {
  config: ServiceConfig;
  rng: Rng;
  prior: (categoryId: string) => number;
  /** A checkpoint directory holding a model to restore (falls back to a fresh model when it cannot be loaded). */
  restoreDir?: string;
  log: (message: string) => void;
  now: () => number;
}

export async function startTrainer(o: StartTrainerOptions): Promise<Trainer> {
  const { config, rng, prior, restoreDir, log } = o;
  if (!config.trainerThread) {
    // Loaded only for inline training: TensorFlow then runs on this thread.
    const { ModelAdapter } = await import('./model-adapter.js');
    return restoreDir === undefined ? ModelAdapter.createInitialised(config, rng, prior) : ModelAdapter.restoreOrCreate(restoreDir, config, rng, prior, log);
  }
  return TrainerThread.create({
    config,
    rng,
    prior,
    ...(restoreDir === undefined ? {} : { restoreDir }),
    snapshotIntervalMs: config.snapshotIntervalMs,
    ...(config.modelSync === 'off' ? {} : { syncMode: config.modelSync }),
    recycleAtTensorId: config.recycleAtTensorId,
    log,
    now: o.now,
  });
}

export { TrainerThread } from './trainer-thread.js';
export { limitTensorFlowThreads } from './tf-threads.js';
