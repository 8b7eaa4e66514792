/**
 * `rebalancer run` instances as child processes, for the scale-out test and the soak
 * (bench/soak.ts): each with its own HTTP port and checkpoint directory, all in one
 * consumer group. The helpers speak only the CLI and the HTTP surface (/state, /metrics),
 * never the service's internals.
 *
 * By default an instance runs the CLI from source (tsx), so it tests the working tree;
 * `entry: 'bin'` runs `node bin/rebalancer.js` (the compiled dist/, as users do; rebuild
 * with `npm run build` first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SETTINGS, type RawSettings } from '../../src/config/index.js';
import { REPO_ROOT, freePort } from '../../dev/local-broker.js';
import { limitTensorFlowThreads } from '../../src/train/tf-threads.js';
import { MMAP_THRESHOLD_BYTES, MMAP_THRESHOLD_ENV } from '../../src/service/allocator.js';

/** Longest stderr kept per instance (the tail; the head is dropped). */
const STDERR_KEEP = 256 * 1024;

/** Children still running: killed if this process exits without stopping them (a failed test). */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) {
    try { c.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

export interface InstanceOptions {
  /** Short name, used as the Kafka client id and in messages. */
  name: string;
  brokers: readonly string[];
  topic: string;
  groupId: string;
  /** Further run settings (raw values, as flags take them), e.g. { checkpointIntervalMs: '1000' }. */
  settings?: RawSettings;
  /** Default: a fresh temp directory, removed by remove(). */
  checkpointDir?: string;
  /** Default: a free port. */
  httpPort?: number;
  entry?: 'source' | 'bin';
  /** Longest wait for /state to answer after the spawn (default 90 s). */
  startTimeoutMs?: number;
}

export interface InstanceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Instance {
  readonly name: string;
  readonly pid: number;
  readonly url: string;
  readonly checkpointDir: string;
  readonly child: ChildProcess;
  readonly exited: Promise<InstanceExit>;
  /** Whether the process has exited. */
  readonly alive: boolean;
  /** Collected output (stderr: the last STDERR_KEEP characters). */
  stdout(): string;
  stderr(): string;
  /** GET /state as parsed JSON (unvalidated: callers parse what they read with a schema). */
  state(): Promise<unknown>;
  /** GET /metrics as Prometheus text. */
  metrics(): Promise<string>;
  /** Sends `signal` and waits for the exit. */
  kill(signal: NodeJS.Signals): Promise<InstanceExit>;
  /** SIGTERM, then SIGKILL after `graceMs` if still running. */
  stop(graceMs?: number): Promise<InstanceExit>;
  /** Removes the checkpoint directory if this helper made it (call after the process exited). */
  remove(): void;
}

/** The CLI flags of run settings, in SETTINGS' spelling: { httpPort: '0' } → ['--http-port', '0']. */
export function settingsToFlags(settings: RawSettings): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(settings)) {
    const spec = key in SETTINGS ? SETTINGS[key as keyof typeof SETTINGS] : undefined;
    if (spec === undefined) throw new Error(`unknown run setting ${key}`);
    if (value !== undefined) out.push(spec.flag, value);
  }
  return out;
}

/** `node …` arguments that run the CLI with `args`, from source or from bin/. */
export function cliCommand(args: readonly string[], entry: 'source' | 'bin' = 'source'): string[] {
  if (entry === 'bin') return [join(REPO_ROOT, 'bin', 'rebalancer.js'), ...args];
  return ['--import', 'tsx', '-e', "import('./src/cli/main.ts').then((m) => m.main(process.argv.slice(0, 1).concat(['rebalancer'], process.argv.slice(1))))", ...args];
}

/** The environment of a CLI child: as bin/rebalancer.js sets it (TensorFlow's pools leave a core to the main thread). */
export function cliEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { [MMAP_THRESHOLD_ENV]: String(MMAP_THRESHOLD_BYTES), ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', KAFKAJS_NO_PARTITIONER_WARNING: '1' };
  limitTensorFlowThreads(env, availableParallelism());
  return env;
}

/**
 * Spawns `rebalancer run` and resolves once its HTTP server answers /state. Rejects (with
 * the stderr tail) if the process exits first or the wait times out; the process is then
 * killed.
 */
export async function startInstance(options: InstanceOptions): Promise<Instance> {
  const ownsDir = options.checkpointDir === undefined;
  const checkpointDir = options.checkpointDir ?? mkdtempSync(join(tmpdir(), `rebalancer-${options.name}-`));
  const httpPort = options.httpPort ?? (await freePort());
  const settings: RawSettings = {
    brokers: options.brokers.join(','),
    topic: options.topic,
    dlqTopic: `${options.topic}.dlq`,
    recommendationsTopic: `${options.topic}.recs`,
    groupId: options.groupId,
    clientId: options.name,
    httpPort: String(httpPort),
    checkpointDir,
    ...options.settings,
  };
  const child = spawn(process.execPath, cliCommand(['run', ...settingsToFlags(settings)], options.entry), {
    cwd: REPO_ROOT,
    env: cliEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn instance ${options.name}`);
  live.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  // REBALANCER_INSTANCE_LOG_DIR: every instance's whole stderr also goes to <dir>/<name>.log (for debugging a failed run).
  const logDir = process.env.REBALANCER_INSTANCE_LOG_DIR;
  const logFile = logDir === undefined || logDir === '' ? undefined : join(logDir, `${options.name}.log`);
  child.stderr!.on('data', (d: Buffer) => {
    if (logFile !== undefined) appendFileSync(logFile, d);
    err += d.toString();
    if (err.length > 2 * STDERR_KEEP) err = err.slice(-STDERR_KEEP);
  });
  let exitedYet = false;
  const exited = new Promise<InstanceExit>((resolve) => child.once('exit', (code, signal) => {
    exitedYet = true;
    live.delete(child);
    resolve({ code, signal });
  }));
  const url = `http://127.0.0.1:${httpPort}`;
  const instance: Instance = {
    name: options.name,
    pid,
    url,
    checkpointDir,
    child,
    exited,
    get alive() { return !exitedYet; },
    stdout: () => out,
    stderr: () => err.slice(-STDERR_KEEP),
    state: async () => fetchJson(`${url}/state`),
    metrics: async () => fetchText(`${url}/metrics`),
    kill: async (signal) => {
      if (!exitedYet) child.kill(signal);
      return exited;
    },
    stop: async (graceMs = 25_000) => {
      if (exitedYet) return exited;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const done = await Promise.race([exited, new Promise<undefined>((r) => { timer = setTimeout(() => r(undefined), graceMs); })]);
      clearTimeout(timer);
      if (done !== undefined) return done;
      child.kill('SIGKILL');
      return exited;
    },
    remove: () => {
      if (ownsDir) rmSync(checkpointDir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + (options.startTimeoutMs ?? 90_000);
  for (;;) {
    if (exitedYet) {
      const e = await exited;
      instance.remove();
      throw new Error(`instance ${options.name} exited (code ${e.code}, signal ${e.signal}) before its HTTP server answered:\n${tail(err)}`);
    }
    try {
      await instance.state();
      return instance;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await instance.kill('SIGKILL');
      instance.remove();
      throw new Error(`instance ${options.name}: no answer on ${url}/state within ${options.startTimeoutMs ?? 90_000} ms:\n${tail(err)}`);
    }
    await sleep(250);
  }
}

/** Stops every instance still running (SIGTERM, then SIGKILL) and removes the checkpoint directories the helper made. */
export async function stopAll(instances: readonly Instance[], graceMs?: number): Promise<void> {
  await Promise.all(instances.map(async (i) => {
    await i.stop(graceMs);
    i.remove();
  }));
}

/**
 * The last lines of an instance's stderr that say something: the kafkajs client's own log
 * lines and all but the last periodic status line are left out (they bury the service's
 * messages during a broker outage), and the number left out is given.
 */
export function digest(stderr: string, lines = 30): string {
  const all = stderr.trim().split('\n');
  const lastStatus = all.findLastIndex((l) => l.includes('"msg":"status"'));
  const kept = all.filter((l, k) => !l.startsWith('[kafka ') && (k === lastStatus || !l.includes('"msg":"status"')));
  const shown = kept.slice(-lines);
  return [`(${all.length - shown.length} earlier or kafkajs/status lines left out)`, ...shown].join('\n');
}

/** Last lines of a log, for error messages. */
export function tail(text: string, lines = 40): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it returns a value (errors count as "not yet"); throws after timeoutMs naming `what`. */
export async function pollUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last !== undefined ? ` (last error: ${String(last)})` : ''}`);
    await sleep(intervalMs);
  }
}

async function fetchJson(url: string): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  const body: unknown = await res.json();
  return body;
}

async function fetchText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res.text();
}

/**
 * Sum of the samples of one metric family in Prometheus text (every label set), or
 * undefined when the family has no sample.
 */
export function sumMetric(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = Number(rest.slice(rest.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) sum = (sum ?? 0) + value;
  }
  return sum;
}
