/**
 * The trainer as the service sees it: on its own worker thread (TrainerThread, the default)
 * or inline on the main thread (ModelAdapter, `--trainer-thread false`), behind one port.
 */
import type { Rng } from '../balance/index.js';
import type { ServiceConfig } from '../config/index.js';
import type { Trainer } from './trainer.js';
import { TrainerThread } from './trainer-thread.js';

export type { Trainer, TrainerStats } from './trainer.js';

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
