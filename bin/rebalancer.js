#!/usr/bin/env node
// Entry point of the `rebalancer` executable: runs the compiled CLI in dist/.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('rebalancer: dist/ is missing; run `npm run setup` (or `npm start`) first');
  process.exit(2);
}
// TensorFlow's thread pools are sized from the process environment when tfjs-node first
// loads: leave a core to the main thread (src/train/tf-threads.ts).
const { limitTensorFlowThreads } = await import(new URL('../dist/train/tf-threads.js', import.meta.url).href);
limitTensorFlowThreads(process.env, availableParallelism());
const { main: run } = await import(main.href);
await run(process.argv);
