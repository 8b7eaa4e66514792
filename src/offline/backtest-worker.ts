/**
 * Worker thread of a backtest: runs a subset of the strategies in lockstep over the
 * chunks the main thread broadcasts, acknowledging each chunk (the main thread's
 * backpressure), and sends the tallies back at the end. tfjs-node loads per worker
 * thread, so each worker has its own native backend and tensors.
 */
import { parentPort } from 'node:worker_threads';
import { isRebalancerError } from '../errors.js';
import { toWorkerSchema, type FromWorker, type HarnessSettings, type StrategySpec } from './backtest-protocol.js';
import { StrategyRunner, StreamTables } from './backtest-runner.js';

const port = parentPort;
if (port === null) throw new Error('backtest-worker.ts runs as a worker thread');

let runners: StrategyRunner[] = [];
let harness: HarnessSettings | undefined;
const tables = new StreamTables();

function send(message: FromWorker): void {
  port!.postMessage(message);
}

function fail(err: unknown): void {
  const e = err instanceof Error ? err : new Error(String(err));
  send({ type: 'error', code: isRebalancerError(err) ? err.code : null, message: e.message, stack: e.stack ?? e.message });
  for (const r of runners) r.dispose();
  runners = [];
  port!.close();
}

let specs: StrategySpec[] = [];
/**
 * Messages are handled one at a time, in order: `init` reads the strategies' warm-start
 * sources and `end` saves models (both asynchronous) while later messages wait their turn.
 */
let queue: Promise<void> = Promise.resolve();
let failed = false;

port.on('message', (raw: unknown) => {
  queue = queue.then(() => (failed ? undefined : handle(raw))).catch((err: unknown) => {
    failed = true;
    fail(err);
  });
});

async function handle(raw: unknown): Promise<void> {
  const message = toWorkerSchema.parse(raw);
  switch (message.type) {
    case 'init':
      harness = message.harness;
      specs = message.strategies;
      for (const s of message.strategies) runners.push(await StrategyRunner.create(s, message.harness, tables));
      send({ type: 'ready' });
      break;
    case 'chunk': {
      if (harness === undefined) throw new Error('chunk before init');
      const view = tables.decode(message);
      for (const r of runners) r.process(view);
      send({ type: 'ack', seq: message.seq, events: message.start + message.userIds.length });
      break;
    }
    case 'end': {
      const results = runners.map((r) => r.finish(message.events));
      for (let i = 0; i < runners.length; i++) {
        const dir = specs[i]!.saveModelTo;
        if (dir !== undefined) await runners[i]!.saveModel(dir);
      }
      for (const r of runners) r.dispose();
      runners = [];
      send({ type: 'result', results });
      port!.close();
      break;
    }
  }
}
