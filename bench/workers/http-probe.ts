/**
 * The HTTP latency probe on a thread of its own (bench/service.ts): a client of the service
 * must not share the service's main thread, or its own callbacks would wait behind ingestion
 * and count as serving latency. Open loop: one request every `intervalMs` whether or not the
 * previous one has answered (no coordinated omission); latency counts from when a request
 * was due. Runs until told to stop, then posts the sorted latencies (ms) of the requests
 * answered 200 and how many were shed (503 REB_HTTP_OVERLOADED) or failed otherwise.
 */
import { parentPort, workerData } from 'node:worker_threads';

const port = parentPort!;
const { url, intervalMs, users } = workerData as { url: string; intervalMs: number; users: number };
let stopping = false;
port.on('message', () => {
  stopping = true;
});

const latencies: number[] = [];
let shed = 0;
let failed = 0;
const inFlight = new Set<Promise<void>>();
let user = 0;
let next = performance.now();
while (!stopping) {
  for (const now = performance.now(); next <= now; next += intervalMs) {
    const due = next;
    const p: Promise<void> = fetch(`${url}/recommendations/user-${user++ % users}?k=20`)
      .then(async (res) => {
        await res.arrayBuffer();
        if (res.status === 200) latencies.push(performance.now() - due);
        else if (res.status === 503) shed++;
        else failed++;
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
}
await Promise.all(inFlight);
port.postMessage({ latencies: Float64Array.from(latencies.sort((a, b) => a - b)), shed, failed });
