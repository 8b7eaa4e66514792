#!/usr/bin/env node
// Entry point of the `rebalancer` executable: runs the compiled CLI in dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('rebalancer: dist/ is missing; run `npm run setup` (or `npm start`) first');
  process.exit(2);
}
const { main: run } = await import(main.href);
await run(process.argv);
