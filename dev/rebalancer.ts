/**
 * The development entry point: the product's CLI (src/cli/main.ts) with the local
 * infrastructure of `run --embedded` plugged in, a Kafka broker (local-broker.ts) and a
 * schema registry (local-registry.ts). `npm start` runs
 * `node --import tsx dev/rebalancer.ts run --embedded`; the tests run it the same way. The
 * installed executable (bin/rebalancer.js) has no embedded mode: it connects to --brokers.
 */
import { availableParallelism } from 'node:os';
import { limitTensorFlowThreads } from '../src/train/tf-threads.js';
import { startLocalKafka } from './local-broker.js';
import { startLocalRegistry } from './local-registry.js';

process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
// As bin/rebalancer.js: TensorFlow's pools are sized when tfjs-node first loads, so the CLI
// (which loads it) is imported after.
limitTensorFlowThreads(process.env, availableParallelism());
const { main } = await import('../src/cli/main.js');
await main(process.argv, { startKafka: startLocalKafka, startRegistry: startLocalRegistry });
