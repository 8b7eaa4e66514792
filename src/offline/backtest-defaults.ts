/**
 * The backtest's options and their defaults, apart from the runner (which loads TensorFlow):
 * the CLI shows them in --help without loading it.
 */
import type { RawSettings } from '../config/index.js';

export interface BacktestOptions {
  /** Seed of the harness (candidates, probes, reference rows). */
  seed: number;
  k: number;
  /** Candidates each positive is ranked among. */
  evalCandidates: number;
  tailShare: number;
  /** Points of the time series. */
  seriesPoints: number;
  /** Recommendation probes over the run; each: up to `probeUsers` users × up to `probeItems` items. */
  probes: number;
  probeUsers: number;
  probeItems: number;
  /** Worker threads (at most one per strategy). */
  workers: number;
  /** Events per broadcast chunk, and chunks a worker may have queued. */
  chunkSize: number;
  queueDepth: number;
  /** Run settings the backtest's own flags set for every strategy (below the strategy's own): --seed, --batch-size. */
  harnessSettings: RawSettings;
  /** The first this many events of the source only pre-train the @pretrained strategies (see the file comment); 0 = none. */
  pretrainEvents: number;
  /** The cold-start window: HR@K over the first this many measured events (rounded up to a series point). */
  coldStartEvents: number;
  /** Save each strategy's final model (and trainer state) into <dir>/<strategy name> ('' = not saved): what `run --init-from` reads. */
  saveModelsDir: string;
  onProgress?(done: number, total: number): void;
}

export const DEFAULT_BACKTEST: Readonly<Omit<BacktestOptions, 'onProgress'>> = Object.freeze({
  seed: 42,
  k: 10,
  evalCandidates: 100,
  tailShare: 0.2,
  seriesPoints: 50,
  probes: 20,
  probeUsers: 32,
  probeItems: 1_000,
  workers: 0,
  chunkSize: 4_096,
  queueDepth: 4,
  harnessSettings: {},
  pretrainEvents: 0,
  coldStartEvents: 5_000,
  saveModelsDir: '',
});
