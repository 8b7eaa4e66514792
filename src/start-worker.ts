/**
 * Starting a worker thread on a module that sits next to the caller, the same way from
 * source and compiled: the compiled `.js` in dist/, or, when running from source under tsx,
 * the `.ts` with tsx registered inside the worker first (Node 20 workers do not run the
 * parent's --import hooks for their entry module).
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker on the module `name` (file name without extension) in the directory of
 * `callerUrl` (the caller's `import.meta.url`).
 */
export function startModuleWorker(callerUrl: string, name: string, options: WorkerOptions = {}): Worker {
  if (extname(fileURLToPath(callerUrl)) !== '.ts') return new Worker(new URL(`./${name}.js`, callerUrl), options);
  const api = import.meta.resolve('tsx/esm/api');
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  return new Worker(`import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, { ...options, eval: true, execArgv: [] });
}
