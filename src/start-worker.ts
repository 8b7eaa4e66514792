/**
 * Starting a worker thread on a module that sits next to the caller, the same way from
 * source and compiled: the compiled `.js` in dist/, or, when running from source under tsx,
 * the `.ts` with tsx registered inside the worker first (Node 20 workers do not run the
 * parent's --import hooks for their entry module).
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

export interface ModuleWorkerOptions extends WorkerOptions {
  /**
   * Nice value (0 to 19) of the worker's thread, set before its module loads, so threads it
   * starts (TensorFlow's pools) inherit it. Linux nice values are per thread: a niced trainer
   * still gets every idle cycle but yields the core to the ingest and serving threads
   * whenever they are runnable. Ignored where the OS refuses (logged by the worker: never).
   */
  niceness?: number;
}

/**
 * Starts a worker on the module `name` (file name without extension) in the directory of
 * `callerUrl` (the caller's `import.meta.url`).
 */
export function startModuleWorker(callerUrl: string, name: string, options: ModuleWorkerOptions = {}): Worker {
  const { niceness, ...workerOptions } = options;
  const fromSource = extname(fileURLToPath(callerUrl)) === '.ts';
  const entry = new URL(`./${name}.${fromSource ? 'ts' : 'js'}`, callerUrl).href;
  const nice = niceness === undefined ? '' : `try { require('node:os').setPriority(${Math.trunc(niceness)}); } catch {}`;
  if (!fromSource && nice === '') return new Worker(new URL(entry), workerOptions);
  const load = fromSource ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })` : `import(${JSON.stringify(entry)})`;
  return new Worker(`${nice}\n${load}`, { ...workerOptions, eval: true, ...(fromSource ? { execArgv: [] } : {}) });
}
