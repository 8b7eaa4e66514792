/**
 * The test command: starts one real Kafka broker for the whole run, runs every
 * test/**\/*.test.ts with node's test runner, stops the broker. Test files find the
 * broker in REBALANCER_TEST_BROKERS.
 *
 *   node --import tsx test/run.ts [--unit] [--no-coverage] [filter...]
 *   --unit     no broker, and only the suites that need no outside server: a suite needs one
 *              when it uses the test broker, starts a broker, registry, Prometheus or
 *              Chromium, or runs service instances (EXTERNAL below, read from its source)
 *   --no-coverage  no line coverage (test/coverage.ts); otherwise printed per folder of src/
 *              after the run, and, when every suite ran (no --unit, no filter), a core folder
 *              below its floor fails the run
 *   filter     only files whose path contains one of these strings
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT, startLocalKafka, type LocalKafka } from '../dev/local-broker.js';
import { coverageByFolder, coverageDir, coverageReport } from './coverage.js';

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const filters = args.filter((a) => !a.startsWith('--'));
const withCoverage = !args.includes('--no-coverage');
const everySuite = !unitOnly && filters.length === 0;
/** What in a suite's source means it needs an outside server (the broker of this run, or one it starts). */
const EXTERNAL = /helpers\/kafka\.js|startLocalKafka|REBALANCER_TEST_BROKERS|helpers\/instances\.js|local-registry|startLocalRegistry|prometheus|promtool|chromium|playwright/;

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith('.test.ts')) out.push(relative(REPO_ROOT, path));
  }
  return out.sort();
}

let files = findTests(join(REPO_ROOT, 'test'));
if (filters.length > 0) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (unitOnly) files = files.filter((f) => !EXTERNAL.test(readFileSync(join(REPO_ROOT, f), 'utf8')));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

let kafka: LocalKafka | undefined;
const started = Date.now();
if (!unitOnly) {
  kafka = await startLocalKafka({ log: (m) => console.error(`[test] ${m}`) });
}
const stopKafka = async (): Promise<void> => {
  const k = kafka;
  kafka = undefined;
  if (k) await k.stop();
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => { void stopKafka().finally(() => process.exit(130)); });
}

const rawCoverage = withCoverage ? coverageDir(REPO_ROOT) : undefined;
const child = spawn(process.execPath, ['--import', 'tsx', ...(rawCoverage !== undefined ? ['--import', './test/coverage-preload.ts'] : []), '--expose-gc', '--test', '--test-reporter=spec', ...files], {
  cwd: REPO_ROOT,
  stdio: 'inherit',
  env: {
    ...process.env,
    TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2',
    KAFKAJS_NO_PARTITIONER_WARNING: '1',
    ...(kafka ? { REBALANCER_TEST_BROKERS: kafka.brokers.join(',') } : {}),
    ...(rawCoverage !== undefined ? { NODE_V8_COVERAGE: rawCoverage } : {}),
  },
});
let code: number = await new Promise((r) => child.on('exit', (c, s) => r(c ?? (s ? 1 : 0))));
await stopKafka();
console.error(`[test] ${files.length} files in ${Math.round((Date.now() - started) / 1000)} s, exit ${code}`);
if (rawCoverage !== undefined) {
  const { lines, broken } = coverageReport(coverageByFolder(REPO_ROOT, rawCoverage));
  for (const line of lines) console.error(line);
  if (everySuite && broken.length > 0) {
    console.error(`[test] coverage below the floor (test/coverage.ts): ${broken.join('; ')}`);
    if (code === 0) code = 1;
  }
}
process.exit(code);
