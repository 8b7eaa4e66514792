import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', 'bin/**', 'tmp/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // balance/ and codec/ are the pure core: no I/O, no clocks, no timers, no process, no
    // globals, and nothing from the layers above them (they import each other, errors.ts,
    // zod and avsc only).
    files: ['src/balance/**/*.ts', 'src/codec/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['node:*', 'fs', 'net', 'http', 'https', 'child_process', 'crypto', 'v8', 'os', 'worker_threads', 'perf_hooks', 'timers', 'kafkajs', '@tensorflow/*', 'prom-client', 'fastify', 'rxjs', '../stream/*', '../model/*', '../http/*', '../state/*', '../cli/*', '../metrics/*', '../service/*', '../tools/*', '../kafka/*', '../config/*', '../train/*', '../serve/*', '../baselines/*'] }],
      'no-restricted-properties': ['error', { object: 'Date', property: 'now', message: 'inject a clock' }, { object: 'Math', property: 'random', message: 'use the seeded Rng' }, { object: 'performance', property: 'now', message: 'inject a clock' }],
      'no-restricted-globals': ['error', { name: 'process', message: 'the pure core takes what it needs as arguments' }, { name: 'setTimeout', message: 'no timers in the pure core' }, { name: 'setInterval', message: 'no timers in the pure core' }, { name: 'setImmediate', message: 'no timers in the pure core' }, { name: 'queueMicrotask', message: 'no scheduling in the pure core' }, { name: 'performance', message: 'inject a clock' }, { name: 'fetch', message: 'no I/O in the pure core' }, { name: 'globalThis', message: 'no globals in the pure core' }],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'new Date() reads the clock: inject one' }],
    },
  },
  {
    // Outside the pure core, the core is reached through its public API (balance/index.ts, codec/index.ts).
    files: ['src/**/*.ts'],
    ignores: ['src/balance/**', 'src/codec/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^\\.\\./balance/(?!index\\.js$)', message: 'import the balance core from ../balance/index.js' }] }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
