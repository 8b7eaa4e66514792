/**
 * `npm run bench [-- --quick] [--json FILE] [--only a,b]`: runs every bench/<area>.ts
 * that exports `benchmarks`, starts one local Kafka broker when a benchmark needs it,
 * prints a table and writes the JSON report.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startLocalKafka, type LocalKafka } from '../dev/local-broker.js';
import { limitTensorFlowThreads } from '../src/train/tf-threads.js';
import type { Benchmark, BenchResult } from './harness.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: npm run bench -- [--quick] [--json FILE] [--only codec,balance,...]');
  process.exit(0);
}
process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
// As bin/rebalancer.js: TensorFlow's thread pools leave a core to the main thread (before tfjs-node loads).
limitTensorFlowThreads(process.env, availableParallelism());

const dir = import.meta.dirname;
const only = values.only?.split(',');
const modules = readdirSync(dir).filter((f) => f.endsWith('.ts') && !['run.ts', 'harness.ts'].includes(f)).sort();
const all: Benchmark[] = [];
for (const file of modules) {
  const mod = (await import(join(dir, file))) as { benchmarks?: Benchmark[] };
  for (const b of mod.benchmarks ?? []) if (!only || only.includes(b.name)) all.push(b);
}
// Order: pure CPU benchmarks first, Kafka ones last (they need the broker warm).
all.sort((a, b) => Number(a.needsKafka ?? false) - Number(b.needsKafka ?? false));

let kafka: LocalKafka | undefined;
const log = (m: string): void => console.error(`[bench] ${m}`);
const results: BenchResult[] = [];
try {
  for (const b of all) {
    if (b.needsKafka && !kafka) kafka = await startLocalKafka({ log });
    log(`running ${b.name}${values.quick ? ' (quick)' : ''}`);
    const t0 = Date.now();
    const rs = await b.run({ quick: values.quick, brokers: kafka?.brokers ?? [], ...(kafka ? { brokerPid: kafka.pid } : {}), log });
    results.push(...rs);
    for (const r of rs) log(`  ${r.name}: ${fmt(r.value)} ${r.unit}${r.baseline_name ? ` vs ${r.baseline_name} ${fmt(r.baseline_value!)} (ratio ${r.ratio?.toFixed(2)})` : ''}`);
    log(`  ${b.name} took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
} finally {
  await kafka?.stop();
}

const tf = await import('@tensorflow/tfjs-node').then((m) => m.getBackend()).catch(() => 'unavailable');
const report = {
  machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, tfjs_backend: tf, quick: values.quick, date: new Date().toISOString() },
  results,
};
console.log('\n| name | value | unit | baseline | baseline value | ratio |\n|---|---:|---|---|---:|---:|');
for (const r of results) console.log(`| ${r.name} | ${fmt(r.value)} | ${r.unit} | ${r.baseline_name ?? ''} | ${r.baseline_value === null ? '' : fmt(r.baseline_value)} | ${r.ratio === null ? '' : r.ratio.toFixed(2)} |`);
if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  return x.toPrecision(4);
}
