/**
 * TensorFlow's thread pools, sized so the trainer worker leaves the main thread a core.
 *
 * libtensorflow 2.9 (tfjs-node 4.22) reads TF_NUM_INTRAOP_THREADS and TF_NUM_INTEROP_THREADS
 * with getenv once per process, when the first TF context is created (the first load of
 * tfjs-node on any thread); later contexts (other workers) share that process-wide intra-op
 * pool. So: the values must be in the real process environment before anything loads
 * tfjs-node; a worker's `env` option does not reach them (it only changes the worker's
 * `process.env` copy). Measured on 2 cores: threads of a trainer worker 16 → 14 with both at
 * 1; the trainer side used 0.99 cores either way (the worker's JS thread waits during each TF
 * op) and the step took 27–31 ms either way; with one intra-op thread a TF op can no longer
 * spread over both cores while the main thread serves.
 */

/**
 * Sets the two variables in `env` (the process environment) unless already set: intra-op
 * threads = cores − 1 (at least 1), inter-op threads = 1. Call before the first import of
 * tfjs-node. Returns the values in effect.
 */
export function limitTensorFlowThreads(env: NodeJS.ProcessEnv, cores: number): { intraOp: string; interOp: string } {
  env.TF_NUM_INTRAOP_THREADS ??= String(Math.max(1, Math.floor(cores) - 1));
  env.TF_NUM_INTEROP_THREADS ??= '1';
  return { intraOp: env.TF_NUM_INTRAOP_THREADS, interOp: env.TF_NUM_INTEROP_THREADS };
}
