import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { startService, type ServiceHandle } from '../../src/service/index.js';
import { testBrokers } from '../helpers/kafka.js';
import { freshTopics, produceSkewed, testConfig, waitFor } from '../ingest/helpers.js';

/**
 * An HTTP client on a thread of its own (a client of the service never shares its main
 * thread): requests /recommendations every `intervalMs` until told to stop, and posts each
 * request's start (performance.timeOrigin-based, ms) and latency.
 */
interface Answer {
  at: number;
  ms: number;
  status: number;
}

function startClient(url: string, intervalMs: number): { stop(): Promise<Answer[]> } {
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     let stopping = false; const out = []; const inFlight = new Set(); let i = 0;
     parentPort.on('message', () => { stopping = true; });
     (async () => {
       while (!stopping) {
         const t0 = performance.now();
         const p = fetch(workerData.url + '/recommendations/user-' + (i++ % 50) + '?k=10').then(async (r) => {
           await r.arrayBuffer();
           out.push({ at: performance.timeOrigin + t0, ms: performance.now() - t0, status: r.status });
         }).finally(() => inFlight.delete(p));
         inFlight.add(p);
         await new Promise((r) => setTimeout(r, workerData.intervalMs));
       }
       await Promise.all(inFlight);
       parentPort.postMessage(out);
     })();`,
    { eval: true, workerData: { url, intervalMs } },
  );
  const result = new Promise<Answer[]>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    async stop() {
      worker.postMessage('stop');
      const r = await result;
      await worker.terminate();
      return r;
    },
  };
}

/**
 * (Shed requests, 503 REB_HTTP_OVERLOADED, are answers too: a request that waited out the
 * stall and was then shed still waited.)
 *
 * Runs a service whose main thread stalls for `stallMs` (a busy wait in the pipeline, on the
 * first event applied once serving is warm and the client runs) while a client on another thread asks for recommendations; returns
 * the latencies of the requests issued during the stall, and how long the stall was.
 */
async function latencyDuringStall(brokers: string[], trainerThread: boolean, stallMs: number): Promise<{ during: Answer[]; stalledMs: number }> {
  const topics = await freshTopics(brokers, `serve-stall-${trainerThread ? 'thread' : 'inline'}`);
  await produceSkewed(brokers, topics.topic, 3_000, { seed: 5 });
  // Armed once serving is warm and the client runs: the next applied event (of a batch
  // produced then) stalls the main thread.
  let armed = false;
  let stall: { from: number; to: number } | undefined;
  let release: () => void = () => {};
  const go = new Promise<void>((r) => (release = r));
  let service: ServiceHandle | undefined;
  try {
    service = await startService(testConfig(brokers, topics, { trainerThread }), {
      log: () => {},
      testHooks: {
        afterApply: () => {
          if (!armed || stall !== undefined) return;
          const from = performance.timeOrigin + performance.now();
          const until = performance.now() + stallMs;
          while (performance.now() < until) {
            // the main thread is busy (a long synchronous chunk, a slow step inline)
          }
          stall = { from, to: performance.timeOrigin + performance.now() };
          release();
        },
      },
    });
    const url = service.url;
    // Serving must be warm (a snapshot and candidates) before the stall: wait until a request succeeds.
    await waitFor('a first recommendation', async () => ((await fetch(`${url}/recommendations/user-1?k=10`)).ok ? true : undefined), 60_000, 50);
    const client = startClient(url, 10);
    await new Promise((r) => setTimeout(r, 300));
    armed = true;
    await produceSkewed(brokers, topics.topic, 200, { seed: 6 });
    await go;
    await new Promise((r) => setTimeout(r, 200));
    const results = await client.stop();
    const s = stall!;
    return { during: results.filter((r) => r.at >= s.from && r.at < s.to - 50), stalledMs: s.to - s.from };
  } finally {
    await service?.stop();
  }
}

describe('serving thread: /recommendations never waits on the main thread', () => {
  let brokers: string[];
  before(async () => {
    brokers = await testBrokers();
  });
  after(() => {});

  it('answers within a few scoring calls while the main thread is stalled for 1.5 s; inline serving waits out the stall', async (ctx) => {
    const STALL_MS = 1_500;
    const histogram = monitorEventLoopDelay({ resolution: 5 });
    histogram.enable();
    const thread = await latencyDuringStall(brokers, true, STALL_MS);
    histogram.disable();
    // The stall really blocked the main thread (the event loop saw it).
    assert.ok(histogram.max / 1e6 >= STALL_MS * 0.9, `main-thread event-loop delay max ${(histogram.max / 1e6).toFixed(0)} ms`);
    assert.ok(thread.stalledMs >= STALL_MS);
    assert.deepEqual([...new Set(thread.during.map((r) => r.status))], [200], 'every request during the stall was served');
    const sorted = thread.during.map((r) => r.ms).sort((a, b) => a - b);
    const slowest = sorted[sorted.length - 1] ?? Infinity;
    ctx.diagnostic(`serving thread: ${sorted.length} requests during the ${thread.stalledMs.toFixed(0)} ms stall, median ${sorted[Math.floor(sorted.length / 2)]?.toFixed(1)} ms, slowest ${slowest.toFixed(1)} ms`);
    assert.ok(sorted.length >= 20, `${sorted.length} requests were issued and answered during the stall`);
    // Bound: a tenth of the stall (requests that waited on the main thread would take up to the whole stall).
    assert.ok(slowest < STALL_MS / 10, `slowest request during the stall took ${slowest.toFixed(1)} ms`);

    // The same probe with serving on the main thread: requests wait out the stall, so the bound above can fail.
    const inline = await latencyDuringStall(brokers, false, STALL_MS);
    const inlineSlowest = Math.max(...inline.during.map((r) => r.ms));
    ctx.diagnostic(`inline: ${inline.during.length} requests during the stall, slowest ${inlineSlowest.toFixed(0)} ms`);
    assert.ok(inlineSlowest > STALL_MS / 2, `inline serving's slowest request during the stall took ${inlineSlowest.toFixed(0)} ms`);
  });
});
