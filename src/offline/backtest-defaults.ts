/**
 * The backtest's defaults, apart from the runner (which loads TensorFlow): the CLI shows
 * them in --help without loading it.
 */
import type { BacktestOptions } from './backtest.js';

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
