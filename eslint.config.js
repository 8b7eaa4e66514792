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
    // balance/ and codec/ are the pure core: no I/O, no clocks, no globals.
    files: ['src/balance/**/*.ts', 'src/codec/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['node:fs*', 'node:net', 'node:http*', 'kafkajs', '@tensorflow/*', 'prom-client', '../stream/*', '../model/*', '../http/*', '../state/*', '../cli/*', '../metrics/*'] }],
      'no-restricted-properties': ['error', { object: 'Date', property: 'now', message: 'inject a clock' }, { object: 'Math', property: 'random', message: 'use the seeded Rng' }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
