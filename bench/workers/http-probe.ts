/**
 * The HTTP latency probe on a thread of its own (bench/service.ts): a client of the service
 * must not share the service's main thread, or its own callbacks would wait behind ingestion
 * and count as serving latency. Open loop: one request every `intervalMs` (fractional values
 * are fine: each timer turn sends every request that has come due, several at high rates)
 * whether or not the previous one has answered (no coordinated omission); latency counts from
 * when a request was due. Requests due in the first `warmupMs` are sent but not counted (the
 * thread's own JIT and connection set-up). Runs until told to stop (or for `durationMs` from its
 * start, when given), then posts the sorted
 * latencies (ms) of the requests answered 200, how many were shed (503 REB_HTTP_OVERLOADED) or
 * failed otherwise, and the sorted dispatch lags (ms from due to sent: how far the probe
 * itself fell behind its schedule).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { z } from 'zod';

const port = parentPort!;
const { url, intervalMs, users, warmupMs, durationMs } = z
  .object({ url: z.string(), intervalMs: z.number().positive(), users: z.number().int().positive(), warmupMs: z.number().min(0).default(0), durationMs: z.number().positive().default(Infinity) })
  .parse(workerData);
let stopping = false;
port.on('message', () => {
  stopping = true;
});

const latencies: number[] = [];
const lags: number[] = [];
let shed = 0;
let failed = 0;
const inFlight = new Set<Promise<void>>();
let user = 0;
const start = performance.now();
let next = start;
while (!stopping && next - start < durationMs) {
  for (const now = performance.now(); next <= now; next += intervalMs) {
    const due = next;
    const counted = due - start >= warmupMs;
    if (counted) lags.push(performance.now() - due);
    const p: Promise<void> = fetch(`${url}/recommendations/user-${user++ % users}?k=20`)
      .then(async (res) => {
        await res.arrayBuffer();
        if (!counted) return;
        if (res.status === 200) latencies.push(performance.now() - due);
        else if (res.status === 503) shed++;
        else failed++;
      })
      .catch(() => {
        if (counted) failed++;
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
}
await Promise.all(inFlight);
const sorted = (xs: number[]): Float64Array => Float64Array.from(xs.sort((a, b) => a - b));
port.postMessage({ latencies: sorted(latencies), shed, failed, lags: sorted(lags) });
