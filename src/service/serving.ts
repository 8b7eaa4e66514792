/**
 * Start-up step 2: HTTP and recommendations, up while Kafka connects (/healthz answers,
 * /readyz says why not yet). On the serving thread when the trainer has its own thread (a
 * request never waits on ingestion or a step), else on the main thread.
 */
import type { Producer } from 'kafkajs';
import type { Registry } from 'prom-client';
import { createRecommendationCodec } from '../codec/index.js';
import type { ServiceConfig } from '../config/index.js';
import { RebalancerError, isRebalancerError } from '../errors.js';
import type { MetricsText, Readiness } from '../http/server.js';
import { withTimeout } from '../adapters/kafka/deadline.js';
import type { SchemaRegistryClient } from '../adapters/kafka/schema-registry.js';
import { headCategories, type ServiceMetrics } from '../metrics/index.js';
import type { ModelSnapshot } from '../model/snapshot.js';
import type { CandidateItem } from '../ports/index.js';
import { MainThreadServing, ServingThread, TriggerGate, adminAddress, type Serving } from '../serve/index.js';
import type { BalanceAdapter } from '../train/balance-adapter.js';
import type { Trainer } from '../train/index.js';
import { TrainerThread } from '../train/trainer-thread.js';

/** Largest k a /recommendations request may ask for. */
const MAX_K = 1_000;
/**
 * On the serving thread, event-triggered recommendations take at most this share of it, in
 * slices of at most SERVING_THREAD_SLICE_MS (what a request may wait behind); as on the main
 * thread, so the machine spends the same on them either way.
 */
const SERVING_THREAD_EVENT_SHARE = 0.3;
const SERVING_THREAD_SLICE_MS = 2;

export interface ServingDeps {
  /** Set: recommendations are written in the Confluent wire format under this schema id. */
  recommendationSchemaId: number | undefined;
  balance: BalanceAdapter;
  model: Trainer | undefined;
  /** Sees each trainer-thread snapshot before it is transferred to the serving thread (informed undersampling). */
  onSnapshot: ((snapshot: ModelSnapshot) => void) | undefined;
  metrics: ServiceMetrics;
  producer: Producer;
  registry: Registry;
  state: () => unknown;
  readiness: () => Readiness;
  /** The /state/history document. */
  history: () => unknown;
  now: () => number;
  log: (msg: string) => void;
}

/** What both kinds of serving share: the trigger gate, the candidates, the producer and /metrics. */
interface ServingCommon {
  gate: TriggerGate;
  candidates(): { items: CandidateItem[]; head: ReadonlySet<string> };
  produce(messages: Array<{ key: string; value: Buffer }>): Promise<void>;
  metricsText(): Promise<MetricsText>;
}

export async function startServing(config: ServiceConfig, d: ServingDeps): Promise<Serving> {
  const { metrics, producer, balance } = d;
  const common: ServingCommon = {
    gate: new TriggerGate({ triggerTypes: config.recTriggerTypes, minIntervalMs: config.recMinIntervalMs, maxPerSecond: config.recMaxPerSecond, onRateLimited: () => metrics.recommendationTriggersDropped.rateLimit.inc() }),
    candidates: () => ({ items: balance.candidates(config.recCandidatesPerCategory, config.recHeadItems), head: headCategories(balance.view().windowCounts) }),
    // Recommendations are ephemeral: a batch not acknowledged within --produce-timeout-ms is
    // dropped (logged by the caller) and counted, never waited on longer.
    produce: async (messages) => {
      try {
        await withTimeout(producer.send({ topic: config.recommendationsTopic, messages, timeout: config.produceTimeoutMs }), config.produceTimeoutMs, `producing ${messages.length} recommendations`);
      } catch (err) {
        metrics.recommendationsDropped.inc(messages.length);
        throw err;
      }
    },
    metricsText: async () => ({ contentType: d.registry.contentType, body: await d.registry.metrics() }),
  };
  return d.model instanceof TrainerThread ? startServingThread(config, d, d.model, common) : startMainThreadServing(config, d, common);
}

async function startServingThread(config: ServiceConfig, d: ServingDeps, trainer: TrainerThread, c: ServingCommon): Promise<Serving> {
  const { metrics } = d;
  const thread = await ServingThread.start({
    init: { host: config.httpHost, port: config.httpPort, ...adminAddress(config), defaultK: config.recK, maxK: MAX_K, maxIdLength: config.maxIdLength, recK: config.recK, cpuShare: SERVING_THREAD_EVENT_SHARE, sliceMs: SERVING_THREAD_SLICE_MS, ...(d.recommendationSchemaId === undefined ? {} : { recommendationSchemaId: d.recommendationSchemaId }) },
    gate: c.gate,
    candidates: () => {
      const cands = c.candidates();
      return { items: cands.items, head: [...cands.head] };
    },
    version: () => trainer.version,
    answer: { metrics: c.metricsText, state: d.state, readiness: d.readiness, history: d.history },
    produce: c.produce,
    onTally: (t) => {
      for (const s of t.http) metrics.recommendationDuration.observe(s);
      for (const s of t.event) metrics.recommendationDuration.observe(s);
      metrics.recommendations.http.inc(t.http.length);
      metrics.recommendations.event.inc(t.event.length);
      if (t.droppedBacklog > 0) metrics.recommendationTriggersDropped.backlog.inc(t.droppedBacklog);
      if (t.shed > 0) metrics.httpShed.inc(t.shed);
    },
    log: d.log,
  });
  trainer.forwardSnapshots((snapshot) => {
    d.onSnapshot?.(snapshot);
    thread.publish(snapshot);
  });
  return thread;
}

async function startMainThreadServing(config: ServiceConfig, d: ServingDeps, c: ServingCommon): Promise<Serving> {
  const { metrics, model, now, log } = d;
  const codec = createRecommendationCodec();
  const schemaId = d.recommendationSchemaId;
  return MainThreadServing.start({
    host: config.httpHost,
    port: config.httpPort,
    ...adminAddress(config),
    gate: c.gate,
    recommender:
      model === undefined
        ? null
        : {
            k: config.recK,
            candidates: c.candidates,
            scorer: () => model,
            metrics: {
              observeDuration: (seconds, trigger) => {
                metrics.recommendationDuration.observe(seconds);
                metrics.recommendations[trigger].inc();
              },
              droppedBacklog: () => metrics.recommendationTriggersDropped.backlog.inc(),
            },
            encode: (m) => (schemaId === undefined ? codec.encode(m) : codec.encodeConfluent(schemaId, m)),
            send: c.produce,
            now,
            log,
          },
    off: () => {
      throw new RebalancerError('REB_HTTP_BAD_REQUEST', 'recommendations are off: the service runs with --train false');
    },
    http: { metrics: c.metricsText, state: d.state, readiness: d.readiness, history: d.history, defaultK: config.recK, maxK: MAX_K, maxIdLength: config.maxIdLength, log, onShed: () => metrics.httpShed.inc() },
  });
}

/**
 * Registers the Recommendation schema under `<recommendations-topic>-value` (BACKWARD) and
 * returns its id; retried while the registry does not answer, up to --connect-timeout-ms.
 */
export async function registerRecommendationSchema(client: SchemaRegistryClient, config: ServiceConfig, log: (msg: string) => void): Promise<number> {
  const deadline = Date.now() + config.connectTimeoutMs;
  let delay = 100;
  for (;;) {
    try {
      const id = await client.registerValueSchemas(config.recommendationsTopic, createRecommendationCodec());
      log(`recommendations are written in the Confluent wire format, schema id ${id} (${config.recommendationsTopic}-value in ${client.url})`);
      return id;
    } catch (err) {
      if (!isRebalancerError(err, 'REB_REGISTRY_UNAVAILABLE') || Date.now() + delay > deadline) throw err;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(2_000, delay * 2);
    }
  }
}
