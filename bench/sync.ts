/**
 * Model sync between instances (issue #13): prequential HR@10 of 3 replicas, each seeing the
 * events of its own users, syncing at several intervals, against 1 instance seeing every
 * event, on the realistic generator profile, with the popularity and MF reference rows of the
 * backtest harness (src/offline/sync-sim.ts). Seeds run in parallel worker threads.
 *
 *   node --import tsx bench/sync.ts [--events 60000] [--seeds 1,2,3] [--threads 2] [--json FILE]
 *
 * prints the table (mean over seeds with the per-seed range, then every seed's figures). In
 * `npm run bench` (group `sync`) one short seed: micro HR@10 of 3 replicas syncing after every
 * step against 1 instance (ratio), and without sync.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startModuleWorker } from '../src/start-worker.js';
import type { SyncPlan, SyncSimResult } from '../src/offline/sync-sim.js';
import { result, type Benchmark } from './harness.js';

/** Runs every seed of the measurement, at most `threads` at a time. */
export async function measureSync(o: { seeds: readonly number[]; events: number; plans?: readonly SyncPlan[]; threads: number; log: (m: string) => void }): Promise<SyncSimResult[]> {
  const { DEFAULT_SYNC_SIM, syncSimResultSchema } = await import('../src/offline/sync-sim.js');
  const plans = o.plans ?? DEFAULT_SYNC_SIM.plans;
  const out = new Array<SyncSimResult>(o.seeds.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < o.seeds.length) {
      const i = next++;
      const seed = o.seeds[i]!;
      const started = Date.now();
      const worker = startModuleWorker(import.meta.url, 'workers/sync-seed', { workerData: { seed, events: o.events, plans } });
      out[i] = await new Promise<SyncSimResult>((resolve, reject) => {
        worker.once('message', (m: unknown) => {
          const parsed = syncSimResultSchema.safeParse(m);
          if (parsed.success) resolve(parsed.data);
          else reject(new Error(`seed ${seed}: unexpected result: ${parsed.error.message}`));
        });
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`seed ${seed}: the worker exited with code ${code} before its result`)));
      });
      await worker.terminate();
      o.log(`seed ${seed}: ${o.events} events in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.threads, o.seeds.length)) }, lane));
  return out;
}

const pct = (x: number): string => (100 * x).toFixed(2);

function spread(xs: readonly number[]): string {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  return xs.length === 1 ? pct(mean) : `${pct(mean)} [${pct(Math.min(...xs))}–${pct(Math.max(...xs))}]`;
}

/** The table over seeds: mean [min–max] per row, the gap to 1 instance, traffic; then each seed. */
export function formatSyncTable(results: readonly SyncSimResult[]): string {
  const first = results[0]!;
  const names = [...first.rows.map((r) => r.name), ...first.references.map((r) => r.name)];
  const pick = (name: string): Array<{ microHr: number; macroHr: number; crossMicroHr?: number; publishes?: number; bytes?: number; instances?: number }> =>
    results.map((res) => res.rows.find((r) => r.name === name) ?? res.references.find((r) => r.name === name)!);
  const single = results.map((res) => res.rows[0]!.microHr);
  const header = ['row', 'micro HR@10 % mean [min–max]', 'macro HR@10 % mean [min–max]', 'Δ micro vs 1 instance (pp)', 'micro HR@10 % answered by another instance', 'publishes per replica', 'KB per publish'];
  const lines = names.map((name) => {
    const rows = pick(name);
    const micro = rows.map((r) => r.microHr);
    const gap = micro.map((m, i) => 100 * (m - single[i]!));
    const publishes = rows.reduce((s, r) => s + (r.publishes ?? 0), 0);
    const bytes = rows.reduce((s, r) => s + (r.bytes ?? 0), 0);
    const instances = rows[0]!.instances ?? 1;
    return [
      name,
      spread(micro),
      spread(rows.map((r) => r.macroHr)),
      name === '1 instance' ? '' : `${(gap.reduce((s, g) => s + g, 0) / gap.length).toFixed(2)} [${Math.min(...gap).toFixed(2)}–${Math.max(...gap).toFixed(2)}]`,
      rows[0]!.crossMicroHr === undefined ? '' : spread(rows.map((r) => r.crossMicroHr!)),
      publishes > 0 ? (publishes / results.length / instances).toFixed(0) : '',
      publishes > 0 ? (bytes / publishes / 1024).toFixed(0) : '',
    ];
  });
  const perSeed = [['row', ...results.map((r) => `seed ${r.seed} micro / macro`)], ...names.map((name) => [name, ...pick(name).map((r) => `${pct(r.microHr)} / ${pct(r.macroHr)}`)])];
  return `${table([header, ...lines])}\n\n${table(perSeed)}\n\n(${first.events} events per seed, realistic profile; HR@10 among 100 sampled candidates; sync every S = after S events of its own per replica.)`;
}

function table(rows: readonly string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: readonly string[]): string => r.map((x, c) => (c === 0 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

export const benchmarks: Benchmark[] = [
  {
    name: 'sync',
    async run(ctx) {
      const events = ctx.quick ? 20_000 : 60_000;
      const [r] = await measureSync({ seeds: [1], events, plans: [{ every: null }, { every: 'step' }], threads: 1, log: ctx.log });
      const single = r!.rows[0]!;
      const [off, step] = [r!.rows[1]!, r!.rows[2]!];
      const notes = `3 replicas vs 1 instance, ${events} realistic events, seed 1`;
      return [
        result('sync.micro_hr10_after_every_step', step.microHr, 'HR@10', { name: '1 instance', value: single.microHr }, notes),
        result('sync.micro_hr10_off', off.microHr, 'HR@10', { name: '1 instance', value: single.microHr }, notes),
      ];
    },
  },
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '60000' },
      seeds: { type: 'string', default: '1,2,3' },
      threads: { type: 'string', default: String(Math.min(2, availableParallelism())) },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: node --import tsx bench/sync.ts [--events 60000] [--seeds 1,2,3] [--threads 2] [--json FILE]');
    return;
  }
  const events = Number(values.events);
  const seeds = values.seeds.split(',').map(Number);
  const threads = Number(values.threads);
  if (!Number.isInteger(events) || events < 1 || seeds.some((s) => !Number.isInteger(s) || s < 0) || !Number.isInteger(threads) || threads < 1) {
    console.error('bench/sync.ts: --events, --seeds and --threads take positive integers');
    process.exitCode = 2;
    return;
  }
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  // TensorFlow's pools are per process and sized when it first loads: one thread per lane.
  process.env.TF_NUM_INTRAOP_THREADS ??= String(threads);
  process.env.TF_NUM_INTEROP_THREADS ??= String(threads);
  const started = Date.now();
  const results = await measureSync({ seeds, events, threads, log: (m) => console.error(`[sync] ${m}`) });
  console.log(formatSyncTable(results));
  console.log(`(wall ${((Date.now() - started) / 1000).toFixed(0)} s, ${threads} threads)`);
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
