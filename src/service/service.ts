import type { Kafka, Producer } from 'kafkajs';
import { Registry } from 'prom-client';
import { Rng } from '../balance/index.js';
import type { ServiceConfig } from '../config/index.js';
import { RebalancerError } from '../errors.js';
import type { Readiness } from '../http/server.js';
import { createKafkaClient } from '../adapters/kafka/client.js';
import { kafkaSecurity, type KafkaSecurityFields } from '../adapters/kafka/security.js';
import { SchemaRegistryClient } from '../adapters/kafka/schema-registry.js';
import { DLQ_REFUSAL_LABELS } from '../ingest/dlq.js';
import { REJECT_REASONS } from '../ingest/reasons.js';
import { createServiceMetrics, type ServiceMetrics } from '../metrics/index.js';
import { adminUrl, type Serving } from '../serve/index.js';
import type { Trainer } from '../train/index.js';
import { TrainerThread } from '../train/trainer-thread.js';
import { ServiceAnswers } from './answers.js';
import { GaugeRefresher } from './gauges.js';
import { wireIngest } from './ingest.js';
import { connectKafka, startScaleOut } from './kafka-setup.js';
import { serviceState, type ServiceParts } from './parts.js';
import { NOT_READY_REASONS, readinessOf } from './readiness.js';
import { attachModel, restoreOrStart, type RestoredState } from './restore.js';
import type { ServiceTestHooks } from './run-pipeline.js';
import type { ScaleOut } from './scale-out.js';
import { registerRecommendationSchema, startServing, type ServingDeps } from './serving.js';
import { once, shutdown } from './shutdown.js';
import type { ServiceState } from './state-document.js';

export type { RestoredCounts, ServiceState } from './state-document.js';
export type { ServiceTestHooks } from './run-pipeline.js';

export interface ServiceOptions {
  /** Defaults to a fresh registry (never prom-client's global one). */
  registry?: Registry;
  now?: () => number;
  log?: (msg: string) => void;
  /**
   * Test hooks (not for production use, and no setting: only a program starting the service
   * can set them): `afterApply` is called for each applied event inside the pipeline (a
   * throw fails the pipeline); `trainDelayMs` waits that long after each training step (a
   * slow trainer).
   */
  testHooks?: ServiceTestHooks;
  /** The live page's history (/state/history): sample interval and span, ms (defaults: 5 s over one hour). */
  history?: { intervalMs?: number; spanMs?: number };
}

export interface ServiceHandle {
  readonly config: ServiceConfig;
  readonly registry: Registry;
  /** The bound HTTP port (useful with --http-port 0). */
  readonly httpPort: number;
  readonly url: string;
  /** Base URL of /metrics, /state, probes and the live page: `url` unless --admin-port is set. */
  readonly adminUrl: string;
  /** Resolves when the service stopped cleanly; rejects (REB_KAFKA_CONSUMER_DEAD) when the consumer died. */
  readonly done: Promise<void>;
  /** Drain in-flight work, final checkpoint, commit, disconnect. */
  stop(): Promise<void>;
  /** The /state document. */
  state(): ServiceState;
  readiness(): Readiness;
}

type Undo = Array<() => Promise<unknown>>;

/**
 * The composition root: restores the latest checkpoint, wires the Kafka source, the
 * pipeline (decode → clean → DLQ → balance → batches → train), the recommender, the
 * checkpointer and the HTTP server, and returns a handle to stop it.
 */
export async function startService(config: ServiceConfig, options: ServiceOptions = {}): Promise<ServiceHandle> {
  // What to undo when start-up fails part-way, so a failed start ends the process (no thread,
  // client or server left running) with its one error line.
  const undo: Undo = [];
  try {
    return await startSteps(config, options, undo);
  } catch (err) {
    for (const u of undo.reverse()) await u().catch(() => {});
    throw err;
  }
}

/** What every step uses: the clock, the log, the registry, the seeded Rng and the Kafka client. */
interface Env {
  now(): number;
  log(msg: string): void;
  registry: Registry;
  rng: Rng;
  kafka: Kafka;
  security: KafkaSecurityFields;
  /** Absent: no schema registry (--schema-registry unset). */
  schemaRegistry: SchemaRegistryClient | undefined;
}

function environment(config: ServiceConfig, options: ServiceOptions): Env {
  const now = options.now ?? Date.now;
  const log = options.log ?? ((m: string) => console.error(`[rebalancer] ${m}`));
  const registry = options.registry ?? new Registry();
  if (config.wireFormat === 'confluent' && config.schemaRegistry === '') {
    throw new RebalancerError('REB_CONFIG_INVALID', '--wire-format confluent needs --schema-registry (REBALANCER_SCHEMA_REGISTRY): the Recommendation schema is registered there under <recommendations-topic>-value');
  }
  const schemaRegistry = config.schemaRegistry === '' ? undefined : new SchemaRegistryClient({ url: config.schemaRegistry, timeoutMs: config.registryTimeoutMs });
  const rng = new Rng(config.seed);
  const security = kafkaSecurity(config); // SASL and TLS (src/adapters/kafka/security.ts): REB_CONFIG_INVALID for an unusable PEM file
  const kafka = createKafkaClient({ clientId: config.clientId, brokers: config.brokers, logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel, retry: { retries: 8 }, ...security });
  return { now, log, registry, rng, kafka, security, schemaRegistry };
}

/** The start-up, step by step; each step pushes on `undo` what undoes it. */
async function startSteps(config: ServiceConfig, options: ServiceOptions, undo: Undo): Promise<ServiceHandle> {
  const env = environment(config, options);
  const { now, log, kafka } = env;
  // Until the service is up, HTTP says it is starting, and in which phase.
  const answers = new ServiceAnswers({ history: options.history, now });
  const gauges = new GaugeRefresher();
  const metrics = createServiceMetrics({ registry: env.registry, beforeCollect: () => gauges.refresh(), rejectReasons: REJECT_REASONS, dlqRefusals: DLQ_REFUSAL_LABELS, notReadyReasons: NOT_READY_REASONS });
  metrics.notReady('starting').set(1);

  // 1. Restore (or start fresh), and the model.
  const restored = await restoreOrStart(config, env, undo);
  const { onSnapshot } = await attachModel(config, restored, metrics, env);

  // 2. HTTP and recommendations, up while Kafka connects (/healthz answers, /readyz says why not yet).
  const { producer, serving } = await startHttp(config, env, { restored, onSnapshot, metrics, answers }, undo);

  // 3. Kafka clients and topics; the partition-owned state.
  const admin = await connectKafka(config, { kafka, producer, security: env.security }, log, undo);
  answers.enter('reading the global window counts');
  const scaleOut = await startScaleOut(config, { kafka, producer, admin, balance: restored.balance, metrics, log, now }, undo);

  // 4, 5. Sinks, source, checkpoints; the pipeline.
  const ingest = wireIngest(config, { kafka, producer, schemaRegistry: env.schemaRegistry, restored, scaleOut, serving, metrics, log, now }, options.testHooks);
  const { balance, model, ledger } = restored;
  const parts: ServiceParts = { config, metrics, now, log, balance, model, ledger, serving, scaleOut, ...ingest, restored: { seq: restored.checkpoint?.manifest.seq ?? null, counts: restored.counts } };

  // 6. Gauges derived from state, refreshed per scrape (and by the live view).
  gauges.attach(parts);
  await startModelSync(config, { scaleOut, model, answers, log });

  // 7. Go.
  answers.enter('joining the consumer group');
  undo.push(() => ingest.source.disconnect());
  await ingest.source.start();
  answers.goLive({ state: () => serviceState(parts), readiness: () => readinessOf(parts) });
  metrics.consumerUp.set(1);
  ingest.checkpointer.start(config.checkpointIntervalMs);

  const stop = once(() => shutdown({ ...parts, answers, producer, pipelineDone: ingest.pipelineDone }));
  const url = `http://${config.httpHost}:${serving.port}`;
  return { config, registry: env.registry, httpPort: serving.port, url, adminUrl: adminUrl(config, serving.port, serving.adminPort), done: ingest.lifecycle.done, stop, state: () => serviceState(parts), readiness: () => readinessOf(parts) };
}

/**
 * Step 2: registers the Recommendation schema (--wire-format confluent), makes the producer
 * (connected in step 3) and starts serving.
 */
async function startHttp(
  config: ServiceConfig,
  env: Env,
  d: { restored: RestoredState; onSnapshot: ServingDeps['onSnapshot']; metrics: ServiceMetrics; answers: ServiceAnswers },
  undo: Undo,
): Promise<{ producer: Producer; serving: Serving }> {
  const { answers } = d;
  let recommendationSchemaId: number | undefined;
  if (config.wireFormat === 'confluent' && env.schemaRegistry !== undefined) {
    answers.enter('registering the Recommendation schema');
    recommendationSchemaId = await registerRecommendationSchema(env.schemaRegistry, config, env.log);
  }
  answers.enter('connecting to Kafka');
  const producer = env.kafka.producer({ allowAutoTopicCreation: false, idempotent: false, retry: { retries: 5 } });
  const serving = await startServing(config, {
    recommendationSchemaId,
    balance: d.restored.balance,
    model: d.restored.model,
    onSnapshot: d.onSnapshot,
    metrics: d.metrics,
    producer,
    registry: env.registry,
    state: () => answers.state(),
    readiness: () => answers.readiness(),
    history: () => answers.historyDocument(),
    now: env.now,
    log: env.log,
  });
  undo.push(() => serving.stop());
  return { producer, serving };
}

/** Model sync with the group's other instances (needs the trainer thread). */
async function startModelSync(config: ServiceConfig, d: { scaleOut: ScaleOut; model: Trainer | undefined; answers: ServiceAnswers; log(msg: string): void }): Promise<void> {
  if (d.model instanceof TrainerThread) {
    d.answers.enter('starting model sync');
    await d.scaleOut.startModelSync(d.model);
  } else if (d.model !== undefined && config.modelSync !== 'off') {
    d.log('model sync needs the trainer thread (--trainer-thread true): this replica is not synchronised with other instances');
  }
}
