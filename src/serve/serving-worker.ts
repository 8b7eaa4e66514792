/**
 * The serving thread (issue #12): answers HTTP (`/recommendations` here, from the latest
 * model snapshot; `/metrics`, `/state`, `/readyz` by asking the main thread) and scores the
 * event-triggered recommendations the main thread queues, so neither waits on ingestion or
 * training. Owns no TensorFlow and no Kafka client: recommendations for the topic go back to
 * the main thread's producer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createRecommendationCodec } from '../codec/index.js';
import { isRebalancerError } from '../errors.js';
import type { HttpDeps, MetricsText, Readiness } from '../http/server.js';
import { threadMemory } from '../metrics/thread-memory.js';
import { listenHttp, type HttpListeners } from './listeners.js';
import type { CandidateItem } from '../ports/index.js';
import { fromServingSchema, metricsTextSchema, readinessSchema, servingInitSchema, toServingSchema, type FromServing, type Question } from './protocol.js';
import { Recommender } from './recommender.js';
import { SnapshotServing } from '../model/snapshot-serving.js';

/** How often recommendation tallies go to the main thread's metrics, ms. */
const STATS_INTERVAL_MS = 250;

const maybePort = parentPort;
if (maybePort === null) throw new Error('serving-worker.ts runs as a worker thread');
const port = maybePort;
const init = servingInitSchema.parse(workerData);

function send(message: FromServing): void {
  port.postMessage(message);
}

function log(message: string): void {
  send({ type: 'log', message });
}

const asked = new Map<number, (body: unknown) => void>();
let nextQuestion = 1;
function ask(question: Question): Promise<unknown> {
  const id = nextQuestion++;
  return new Promise((resolve) => {
    asked.set(id, resolve);
    send({ type: 'ask', id, question });
  });
}

let candidates: CandidateItem[] = [];
let head: ReadonlySet<string> = new Set();
const serving = new SnapshotServing('none');
let tally = { http: [] as number[], event: [] as number[], droppedBacklog: 0, shed: 0 };
const codec = createRecommendationCodec();
const recommender = new Recommender({
  k: init.recK,
  candidates: () => ({ items: candidates, head }),
  scorer: () => serving,
  metrics: {
    observeDuration: (seconds, trigger) => tally[trigger].push(seconds),
    droppedBacklog: () => tally.droppedBacklog++,
  },
  encode: (m) => (init.recommendationSchemaId === undefined ? codec.encode(m) : codec.encodeConfluent(init.recommendationSchemaId, m)),
  send: async (messages) => send({ type: 'produce', messages: messages.map((m) => ({ key: m.key, value: m.value })) }),
  now: Date.now,
  log,
  sliceMs: init.sliceMs,
  cpuShare: init.cpuShare,
});

function flushStats(): void {
  const t = tally;
  tally = { http: [], event: [], droppedBacklog: 0, shed: 0 };
  send({ type: 'stats', http: Float64Array.from(t.http), event: Float64Array.from(t.event), droppedBacklog: t.droppedBacklog, shed: t.shed, tailShare: recommender.tailShare(), servedSeq: serving.snapshot?.seq ?? -1, memory: threadMemory() });
}

const httpDeps: HttpDeps = {
  metrics: async (): Promise<MetricsText> => metricsTextSchema.parse(await ask('metrics')),
  recommend: async (userId, k) => recommender.recommend(userId, k, 'http'),
  state: () => ask('state'),
  history: () => ask('history'),
  readiness: async (): Promise<Readiness> => readinessSchema.parse(await ask('readiness')),
  defaultK: init.defaultK,
  maxIdLength: init.maxIdLength,
  maxK: init.maxK,
  log,
  onShed: () => tally.shed++,
};
let http: HttpListeners | undefined;

const statsTimer = setInterval(flushStats, STATS_INTERVAL_MS);

async function stop(): Promise<void> {
  clearInterval(statsTimer);
  await http?.close();
  await recommender.stop();
  flushStats();
  send({ type: 'stopped' });
  port.close();
}

port.on('message', (raw: unknown) => {
  const parsed = toServingSchema.safeParse(raw);
  if (!parsed.success) {
    log(`serving thread: ignored a malformed message: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    return;
  }
  const m = parsed.data;
  switch (m.type) {
    case 'snapshot':
      serving.version = m.version;
      serving.offer(m.snapshot);
      break;
    case 'candidates':
      candidates = m.items;
      serving.version = m.version;
      head = new Set(m.head);
      recommender.invalidateCandidates();
      break;
    case 'trigger':
      for (const user of m.users) recommender.enqueue(user);
      break;
    case 'reply': {
      const resolve = asked.get(m.id);
      asked.delete(m.id);
      resolve?.(m.body);
      break;
    }
    case 'stop':
      void stop();
      break;
  }
});

recommender.start();
listenHttp(httpDeps, { host: init.host, port: init.port }, init.admin).then(
  (listeners) => {
    http = listeners;
    send(fromServingSchema.parse({ type: 'listening', port: listeners.port, adminPort: listeners.adminPort }));
  },
  (err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    send({ type: 'failed', code: isRebalancerError(e) ? e.code : null, message: e.message, stack: e.stack ?? e.message });
  },
);
