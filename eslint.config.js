import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import tseslint from 'typescript-eslint';

/** The layers of src/, lowest first (scripts/layers.json). */
const LAYERS = JSON.parse(readFileSync(new URL('./scripts/layers.json', import.meta.url), 'utf8')).layers;
/** The pure core: besides the layers, no Node module and no package with I/O, threads or tensors. */
const PURE = new Set(['balance', 'codec']);
const IO_MODULES = ['node:*', 'fs', 'net', 'http', 'https', 'child_process', 'crypto', 'v8', 'os', 'worker_threads', 'perf_hooks', 'timers', 'kafkajs', '@tensorflow/*', 'prom-client', 'fastify', 'rxjs'];
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const dirOf = (folder) => (folder === '(root)' ? 'src' : `src/${folder}`);
/** How an import from `folder` to the directory `to` starts (./x or ../../x). */
function prefix(folder, to) {
  const p = posix.relative(dirOf(folder), to);
  return p.startsWith('.') ? p : `./${p}`;
}

/**
 * One no-restricted-imports block per folder of src/: nothing from its own or a higher layer,
 * nothing from dev/, the balance core only through balance/index.ts, and for the pure core no
 * module with I/O.
 */
function importBoundaries() {
  const rank = new Map(LAYERS.flatMap((l, i) => l.folders.map((f) => [f, i])));
  return [...rank.keys()].map((folder) => {
    const mine = rank.get(folder);
    const higher = [...rank].filter(([f, r]) => f !== folder && f !== '(root)' && r >= mine);
    const patterns = [
      ...higher.map(([f, r]) => ({ regex: `^${escape(prefix(folder, dirOf(f)))}/[^/]+$`, message: `src/${folder} (layer ${LAYERS[mine].name}) may not import src/${f} (layer ${LAYERS[r].name}); see scripts/layers.json` })),
      { regex: `^${escape(prefix(folder, 'dev'))}/`, message: 'dev/ is development support: src/ never imports it (dev/rebalancer.ts hands the CLI what it needs)' },
      ...(folder === 'balance' ? [] : [{ regex: `^${escape(prefix(folder, 'src/balance'))}/(?!index\\.js$)`, message: 'import the balance core from balance/index.js' }]),
      ...(PURE.has(folder) ? [{ group: IO_MODULES, message: 'the pure core takes what it needs as arguments' }] : []),
    ];
    return { files: [folder === '(root)' ? 'src/*.ts' : `src/${folder}/*.ts`], rules: { 'no-restricted-imports': ['error', { patterns }] } };
  });
}


export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', 'bin/**', 'tmp/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'off',
      // A longer function needs `// eslint-disable-next-line max-lines-per-function -- <reason>`.
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true, IIFEs: true }],
    },
  },
  {
    // balance/ and codec/ are the pure core: no I/O, no clocks, no timers, no process, no
    // globals (their imports are restricted below, with every folder's).
    files: ['src/balance/**/*.ts', 'src/codec/**/*.ts'],
    rules: {
      'no-restricted-properties': ['error', { object: 'Date', property: 'now', message: 'inject a clock' }, { object: 'Math', property: 'random', message: 'use the seeded Rng' }, { object: 'performance', property: 'now', message: 'inject a clock' }],
      'no-restricted-globals': ['error', { name: 'process', message: 'the pure core takes what it needs as arguments' }, { name: 'setTimeout', message: 'no timers in the pure core' }, { name: 'setInterval', message: 'no timers in the pure core' }, { name: 'setImmediate', message: 'no timers in the pure core' }, { name: 'queueMicrotask', message: 'no scheduling in the pure core' }, { name: 'performance', message: 'inject a clock' }, { name: 'fetch', message: 'no I/O in the pure core' }, { name: 'globalThis', message: 'no globals in the pure core' }],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'new Date() reads the clock: inject one' }],
    },
  },
  // Import boundaries, one block per folder of src/ (scripts/layers.json; the same rule,
  // checked on the whole graph with dynamic imports, is scripts/architecture.ts).
  ...importBoundaries(),
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
