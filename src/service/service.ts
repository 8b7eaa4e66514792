import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Admin, Producer } from 'kafkajs';
import { Registry } from 'prom-client';
import type { Subscription } from 'rxjs';
import { Rng } from '../balance/index.js';
import { EVENT_TYPES, createEventCodec, createRecommendationCodec, type InteractionEvent } from '../codec/index.js';
import type { ServiceConfig } from '../config/index.js';
import { RebalancerError, isRebalancerError } from '../errors.js';
import type { MetricsText, Readiness } from '../http/server.js';
import { createServiceMetrics, foldTopCategories, headCategories, tailShareOfCounts, type ServiceMetrics } from '../metrics/index.js';
import { threadMemory } from '../metrics/thread-memory.js';
import { CheckpointStore } from '../state/checkpoint-store.js';
import { Checkpointer, checkpointMetaSchema, type CheckpointMeta } from '../state/checkpointer.js';
import { decodeSavedState, encodeSavedState, type SavedState } from './saved-state.js';
import { TrainBacklog } from '../ingest/backlog.js';
import { DedupSet } from '../ingest/dedup.js';
import { EventTimeAlignment, type HeldEvent } from '../ingest/event-time.js';
import { DLQ_REFUSAL_LABELS, DeadLetterSink } from '../ingest/dlq.js';
import { IngestLedger } from '../ingest/ledger.js';
import { buildPipeline } from '../ingest/pipeline.js';
import type { AdjustmentView, CandidateItem } from '../ports/index.js';
import { KafkaSource } from '../ingest/source.js';
import { REJECT_REASONS } from '../ingest/reasons.js';
import { createKafkaClient } from '../adapters/kafka/client.js';
import { waitForKafka } from '../adapters/kafka/connect.js';
import { kafkaSecurity } from '../adapters/kafka/security.js';
import { SchemaRegistryClient } from '../adapters/kafka/schema-registry.js';
import { SchemaIdGate } from '../ingest/schema-ids.js';
import { BalanceAdapter } from '../train/balance-adapter.js';
import { informedScorer } from '../train/informed-scores.js';
import { ScaleOut, type GlobalState } from './scale-out.js';
import { startTrainer, type Trainer, type TrainerStats } from '../train/index.js';
import { MODEL_DIR } from '../state/checkpoint-layout.js';
import { NOT_READY_REASONS, type NotReady } from './readiness.js';
import { ServiceHistory, type HistorySample } from './history.js';
import { MainThreadServing, ServingThread, TriggerGate, adminAddress, adminUrl, type Serving } from '../serve/index.js';
import { TrainerThread } from '../train/trainer-thread.js';
import type { ModelSnapshot } from '../model/snapshot.js';

export interface ServiceOptions {
  /** Defaults to a fresh registry (never prom-client's global one). */
  registry?: Registry;
  now?: () => number;
  log?: (msg: string) => void;
  /** Test hooks (not for production use): called for each applied event inside the pipeline; a throw fails the pipeline. */
  testHooks?: { afterApply?(event: InteractionEvent): void };
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

export interface ServiceState {
  ready: boolean;
  /** As /readyz answers it. */
  readiness: Readiness;
  window: { events: number; categories: number; shares: Record<string, number> };
  weights: Record<string, number>;
  imbalance: { ratio: number; entropyNormalized: number; gini: number };
  reservoirFill: { perCategory: number; cbrs: number };
  /** Training samples composed since this process started, by source (fresh, minority replay, synthetic). */
  trainingSamples: { fresh: number; replay: number; synthetic: number };
  /** Share of recently recommended items in tail categories, and of the window's interactions (balance/tail.ts). */
  tailShare: { recommendations: number; interactions: number };
  model: { version: string; steps: number; nativeBackend: boolean; training: boolean; trainedEvents: number; trainerThread: boolean; trainer: TrainerStats | null };
  evaluation: { hitRateMacro: number; hitRateMicro: number; ndcgMacro: number; ndcgMicro: number; hitRateByCategory: Record<string, number>; adjustment: AdjustmentView };
  totals: { applied: number; byCategory: Record<string, number>; byType: Record<string, number>; invalid: number; duplicates: number; late: number; lost: number; deadLettered: number; recommendationsProduced: number };
  offsets: { topic: string; positions: Record<string, number>; committed: Record<string, number> };
  consumer: { up: boolean; paused: boolean; pauses: number; inFlight: number; assigned: number[]; crashes: number; lag: Record<string, number> };
  /** The dead-letter sink: sent (= totals.deadLettered), not yet acknowledged, stored truncated, dropped. */
  deadLetters: { sent: number; pending: number; truncated: number; dropped: number };
  checkpoint: { seq: number; ageSeconds: number; restoredFrom: number | null; restored: RestoredCounts | null };
  /**
   * Merged from every partition's owner (the consumer group may split the topic over several
   * instances; `totals`, `window` and `offsets` above are what this instance has applied).
   */
  global: GlobalState;
}

/**
 * At restore: events the restored model had trained, the saved backlog it had not, and the
 * applied events of the types it trains on (the ledger's, up to the restored offsets). A
 * consistent checkpoint has modelTrainedEvents + backlog = trainableEvents.
 */
export interface RestoredCounts {
  modelTrainedEvents: number;
  backlog: number;
  trainableEvents: number;
}

const STATE_FILE = 'state.bin';
/** Largest k a /recommendations request may ask for. */
const MAX_K = 1_000;
/**
 * On the serving thread, event-triggered recommendations take at most this share of it, in
 * slices of at most SERVING_THREAD_SLICE_MS (what a request may wait behind); as on the main
 * thread, so the machine spends the same on them either way.
 */
const SERVING_THREAD_EVENT_SHARE = 0.3;
const SERVING_THREAD_SLICE_MS = 2;

/**
 * The composition root: restores the latest checkpoint, wires the Kafka source, the
 * pipeline (decode → clean → DLQ → balance → batches → train), the recommender, the
 * checkpointer and the HTTP server, and returns a handle to stop it.
 */
export async function startService(config: ServiceConfig, options: ServiceOptions = {}): Promise<ServiceHandle> {
  // What to undo when start-up fails part-way, so a failed start ends the process (no thread,
  // client or server left running) with its one error line.
  const undo: Array<() => Promise<unknown>> = [];
  try {
    return await startSteps(config, options, undo);
  } catch (err) {
    for (const u of undo.reverse()) await u().catch(() => {});
    throw err;
  }
}

async function startSteps(config: ServiceConfig, options: ServiceOptions, undo: Array<() => Promise<unknown>>): Promise<ServiceHandle> {
  const now = options.now ?? Date.now;
  const log = options.log ?? ((m: string) => console.error(`[rebalancer] ${m}`));
  const registry = options.registry ?? new Registry();
  const afterApply = options.testHooks?.afterApply;
  if (config.wireFormat === 'confluent' && config.schemaRegistry === '') {
    throw new RebalancerError('REB_CONFIG_INVALID', '--wire-format confluent needs --schema-registry (REBALANCER_SCHEMA_REGISTRY): the Recommendation schema is registered there under <recommendations-topic>-value');
  }
  const schemaRegistry = config.schemaRegistry === '' ? undefined : new SchemaRegistryClient({ url: config.schemaRegistry, timeoutMs: config.registryTimeoutMs });
  const rng = new Rng(config.seed);
  const security = kafkaSecurity(config); // SASL and TLS (src/adapters/kafka/security.ts): REB_CONFIG_INVALID for an unusable PEM file
  const kafka = createKafkaClient({ clientId: config.clientId, brokers: config.brokers, logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel, retry: { retries: 8 }, ...security });

  // Until the service is up, HTTP says it is starting, and in which phase.
  let phase = 'restoring the latest checkpoint';
  // Sampled from the /state document once the service is up (`state` is defined below).
  const history = new ServiceHistory({ ...options.history, now, read: () => historySample(state()) });
  const answers = {
    state: (): unknown => ({ ready: false, starting: phase }),
    readiness: (): Readiness => ({ ready: false, reasons: [`starting: ${phase}`] }),
    history: (): unknown => history.document(),
  };
  let refreshGauges = (): void => {};
  const metrics = createServiceMetrics({ registry, beforeCollect: () => refreshGauges(), rejectReasons: REJECT_REASONS, dlqRefusals: DLQ_REFUSAL_LABELS, notReadyReasons: NOT_READY_REASONS });
  metrics.notReady('starting').set(1);

  // 1. Restore (or start fresh).
  const store = new CheckpointStore<CheckpointMeta>({ dir: config.checkpointDir, keep: config.checkpointsKept, meta: checkpointMetaSchema, now, log });
  await store.assertWritable();
  // The newest checkpoint whose state restores: one that verifies but holds a state that does
  // not (another format, a structural setting changed) is skipped for the next older one.
  const loaded = await store.restoreNewest(async (c) => {
    const saved = decodeSavedState(await c.readFile(STATE_FILE));
    return { saved, balance: BalanceAdapter.restore(saved.balance, config), dedup: DedupSet.restore(config.dedupHorizon, saved.dedup), ledger: IngestLedger.restore(saved.ledger) };
  }, { allowEmpty: config.allowEmptyRestore });
  const restored = loaded?.checkpoint;
  let balance: BalanceAdapter;
  let dedup: DedupSet;
  let ledger: IngestLedger;
  let model: Trainer | undefined;
  const prior = (c: string): number => balance.prior(c);
  let restoredBacklog: InteractionEvent[] = [];
  let restoredHeld: HeldEvent<InteractionEvent>[] = [];
  let restoredCounts: RestoredCounts | null = null;
  if (restored && loaded) {
    const saved = loaded.value.saved;
    restoredBacklog = saved.backlog ?? [];
    restoredHeld = saved.held ?? [];
    balance = loaded.value.balance;
    dedup = loaded.value.dedup;
    ledger = loaded.value.ledger;
    if (config.train) model = await startTrainer({ config, rng, prior, ...(restored.manifest.meta.modelVersion !== null ? { restoreDir: restored.dir } : {}), log, now });
    if (model) {
      const m = model;
      const byType = ledger.snapshot().byType;
      const trainableEvents = EVENT_TYPES.reduce((sum, t) => sum + (m.trainsOn(t) ? (byType[t] ?? 0) : 0), 0);
      restoredCounts = { modelTrainedEvents: m.trainedEvents, backlog: restoredBacklog.length, trainableEvents };
    }
    log(`restored checkpoint ${restored.manifest.seq} (${ledger.applied} events applied, ${restoredBacklog.length} of them to train first; positions ${JSON.stringify(restored.manifest.meta.positions)})`);
  } else {
    balance = BalanceAdapter.create(config, rng);
    dedup = new DedupSet(config.dedupHorizon);
    ledger = new IngestLedger();
    if (config.train) model = await startTrainer({ config, rng, prior, log, now });
  }
  if (model) {
    const m = model;
    undo.push(() => m.stop());
  }
  // --undersampling informed: batches keep the majority events the model scores worst (src/train/informed-scores.ts).
  const informed = config.undersampling === 'informed' && model !== undefined ? informedScorer(model, now) : undefined;
  balance.scoreWith(informed?.score);
  // Asked of the trainer, so TensorFlow loads where it trains (the trainer thread creates its
  // thread pools, with the thread's priority); with training off it is loaded here to report.
  const native = model ? model.nativeBackend : (await import('../train/model-adapter.js')).tfBackendIsNative();
  if (!native) log('WARNING: TensorFlow is NOT running on the native backend; training will be very slow (see README, native TensorFlow)');
  metrics.tfNativeBackend.set(native ? 1 : 0);

  // 2. HTTP and recommendations, up while Kafka connects (/healthz answers, /readyz says why not yet).
  let recommendationSchemaId: number | undefined;
  if (config.wireFormat === 'confluent' && schemaRegistry !== undefined) {
    phase = 'registering the Recommendation schema';
    recommendationSchemaId = await registerRecommendationSchema(schemaRegistry, config, log);
  }
  phase = 'connecting to Kafka';
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: false, retry: { retries: 5 } });
  const serving = await startServing(config, { recommendationSchemaId, balance: () => balance, model, onSnapshot: informed?.offer, metrics, producer, registry, state: () => answers.state(), readiness: () => answers.readiness(), history: () => answers.history(), now, log });
  undo.push(() => serving.stop());
  const httpPort = serving.port;

  // 3. Kafka clients and topics.
  const admin = kafka.admin();
  undo.push(() => admin.disconnect());
  // Bounded retry, then one line naming the brokers and attempts (REB_KAFKA_UNAVAILABLE); refused credentials or TLS at once (REB_KAFKA_AUTH_FAILED).
  await waitForKafka({ brokers: config.brokers, security, timeoutMs: config.connectTimeoutMs, onRetry: (n, why) => { if (config.logLevel === 'debug') log(`Kafka not reachable yet (attempt ${n}): ${why}`); } });
  await withTimeout(admin.connect(), config.connectTimeoutMs, `connecting to Kafka at ${config.brokers.join(',')}`);
  await ensureTopics(admin, config);
  undo.push(() => producer.disconnect());
  await withTimeout(producer.connect(), config.connectTimeoutMs, 'connecting the producer');

  // Partition-owned state: the changelog and counts topics, and the global window read to
  // its end before this instance joins the group (docs/operations.md, "Scaling out").
  phase = 'reading the global window counts';
  const scaleOut = new ScaleOut(config, { kafka, producer, metrics, log, now });
  await scaleOut.start(admin);
  undo.push(() => scaleOut.stop());
  balance.state.useCountSource(scaleOut.global);
  const ownership = scaleOut.ownership;
  const partitionStates = scaleOut.states;

  // 4. Sinks, source.
  const deadLetters = new DeadLetterSink({ producer, topic: config.dlqTopic, log, metrics, now, timeoutMs: config.produceTimeoutMs });
  let deadError: RebalancerError | undefined;
  let stopping = false;
  let rejectDone: (err: Error) => void = () => {};
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  // The window follows the slowest assigned partition; events of partitions read ahead are
  // held (at most half the in-flight bound, so the consumer can always resume).
  const eventTime = new EventTimeAlignment<InteractionEvent>({ allowedLatenessMs: config.windowLatenessMs, idleTimeoutMs: config.partitionIdleMs, maxHeld: Math.max(1, Math.floor(config.maxInFlight / 2)), start: balance.watermark(), restored: restoredHeld });
  const source = new KafkaSource({
    kafka,
    topic: config.topic,
    groupId: config.groupId,
    fromBeginning: config.fromBeginning,
    sessionTimeoutMs: config.sessionTimeoutMs,
    maxInFlight: config.maxInFlight,
    maxInFlightBytes: config.maxInFlightBytes,
    fetchMaxBytes: config.fetchMaxBytes,
    startOffsets: ledger.positions,
    preparePartition: (p) => ownership.prepare(p),
    positions: {
      get: (p) => {
        const position = partitionStates.get(p)?.position;
        return position !== undefined && position >= 0 ? position : undefined;
      },
    },
    onRebalancing: () => {
      // This member still owns its partitions until it rejoins: a checkpoint now writes their
      // changelog blobs, so their next owner re-reads less.
      if (!stopping) void checkpointer.checkpoint().catch((err: unknown) => log(`checkpoint at rebalance failed: ${(err as Error).message}`));
    },
    onDead: (err) => {
      deadError = err;
      metrics.consumerUp.set(0);
      rejectDone(err);
    },
    onCrash: (err, restart) => {
      metrics.consumerCrashes.inc();
      log(`Kafka consumer crashed (${restart ? 'kafkajs restarts it' : 'no restart'}): ${err.message}`);
    },
    onPauseChange: (paused) => {
      metrics.consumerPaused.set(paused ? 1 : 0);
      // No partition can deliver while paused: that time does not make them idle.
      if (paused) eventTime.pause(now());
      else eventTime.resume(now());
    },
    onLag: (topic, partition, lag) => {
      metrics.consumerLag(topic, partition).set(lag);
      eventTime.backlog(partition, lag);
    },
    onAssigned: (partitions) => {
      ownership.assign(partitions);
      eventTime.assign(partitions, now());
    },
    onLost: (gap) => {
      ledger.lose(gap.partition, gap.expected, gap.actual);
      partitionStates.get(gap.partition)?.lose(gap.expected, gap.actual);
      metrics.eventsLost.retention.inc(gap.lost);
    },
    log,
    now,
  });

  const backlog = new TrainBacklog();
  let stages = 0;
  const checkpointer = new Checkpointer({
    store,
    // One instant: the state, the offsets, the events bound for training the model has not
    // been handed, and the model's save queued behind the steps it has been handed. So the
    // saved model has trained exactly the events up to the offsets minus the saved backlog.
    capture: () => {
      const saved: SavedState = { format: 2, balance: balance.snapshot(), dedup: dedup.snapshot(), ledger: ledger.snapshot(), backlog: backlog.snapshot(), held: eventTime.snapshot() };
      const files = new Map([[STATE_FILE, encodeSavedState(saved)]]);
      // The owned partitions' states at the same instant: written to the changelog after the
      // local checkpoint and before the commit, which covers exactly these positions.
      const blobs = ownership.captureBlobs();
      const commitPositions = new Map([...blobs.keys()].map((p) => [p, partitionStates.get(p)!.position]));
      const partitionsPart = { beforeCommit: () => ownership.writeBlobs(blobs, commitPositions), commitPositions };
      if (!model) return { meta: { topic: config.topic, positions: saved.ledger.positions, modelVersion: null }, files, ...partitionsPart };
      // A `.tmp-…-<pid>` name: the store removes it if this process dies before moving it.
      const stage = join(config.checkpointDir, `.tmp-model-${++stages}-${process.pid}`);
      const save = model.save(stage);
      return {
        meta: { topic: config.topic, positions: saved.ledger.positions, modelVersion: save.version },
        files,
        ...partitionsPart,
        writeModel: async (dir: string) => {
          try {
            await save.done;
            await rename(join(stage, MODEL_DIR), join(dir, MODEL_DIR));
          } finally {
            await rm(stage, { recursive: true, force: true });
          }
        },
      };
    },
    flushDeadLetters: () => deadLetters.flush(),
    commit: async (positions) => {
      const allowed = ownership.committable(positions);
      await source.commit(allowed);
      ownership.committedNow(allowed);
    },
    fingerprint: () => `${[...ledger.positions].join(";")}|${ledger.applied}|${model?.trainedEvents ?? 0}|${backlog.size}|${deadLetters.sent}`,
    metrics,
    now,
    log,
  });
  if (restored) checkpointer.restored(restored.manifest.seq, restored.manifest.createdAt, restored.manifest.meta.positions);

  // 5. The pipeline.
  const eventCodec = createEventCodec();
  const schemaIds = new SchemaIdGate({ codec: eventCodec, registry: schemaRegistry, metrics, log, now });
  const pipelineDone = new Promise<void>((resolve) => {
    const subscription: Subscription = buildPipeline(source.records$, {
      codec: eventCodec,
      schemaIds,
      dedup,
      partitions: partitionStates,
      balance,
      model,
      deadLetters,
      metrics,
      ledger,
      release: (count, bytes) => source.release(count, bytes),
      batchSize: config.batchSize,
      batchMaxWaitMs: config.batchMaxWaitMs,
      maxFutureSkewMs: config.maxFutureSkewMs,
      maxIdLength: config.maxIdLength,
      trainDelayMs: config.trainDelayMs,
      backlog,
      restoredBacklog,
      eventTime,
      onApplied: model
        ? (e) => {
            serving.onEvent(e, now());
            afterApply?.(e);
          }
        : afterApply,
      log,
      now,
    }).subscribe({
      // Not ready, no final checkpoint, and `done` rejects: the process exits non-zero and a
      // restart resumes from the last checkpoint (a stalled consumer must not look healthy).
      error: (err: unknown) => {
        log(`pipeline failed: ${(err as Error).stack ?? String(err)}`);
        deadError ??= new RebalancerError('REB_PIPELINE_FAILED', `the pipeline failed: ${(err as Error).message}`, {}, { cause: err });
        rejectDone(deadError);
        resolve();
      },
      complete: () => resolve(),
    });
    void subscription;
  });

  // 6. Gauges derived from state, refreshed per scrape (and by the live view).
  refreshGauges = () => {
    scaleOut.refreshGauges(balance.view().windowCounts);
    updateGauges(metrics, config, balance, model, source, checkpointer, serving);
    const failing = new Set(notReady().map((f) => f.reason));
    for (const reason of NOT_READY_REASONS) metrics.notReady(reason).set(failing.has(reason) ? 1 : 0);
    metrics.ready.set(failing.size === 0 ? 1 : 0);
    metrics.kafkaSilence.set(source.silenceMs() / 1000);
    metrics.dlqPending.set(deadLetters.pending);
    metrics.dlqOldestPending.set(deadLetters.oldestPendingAgeMs(now()) / 1000);
  };

  const notReady = (): NotReady[] => {
    const out: NotReady[] = [];
    const fail = (reason: NotReady['reason'], text: string): void => {
      out.push({ reason, text });
    };
    if (deadError) fail(deadError.code === 'REB_PIPELINE_FAILED' ? 'pipeline_failed' : 'consumer_dead', deadError.code === 'REB_PIPELINE_FAILED' ? deadError.message : `consumer dead: ${deadError.message}`);
    else if (!source.isUp) fail('consumer_down', 'Kafka consumer is not running');
    if (source.assignedPartitions.length === 0) fail('not_assigned', 'no partition assigned yet');
    if (stopping) fail('stopping', 'shutting down');
    const silence = source.silenceMs();
    if (!deadError && silence > config.brokerSilenceMs) fail('kafka_silent', `no answer from Kafka for ${(silence / 1000).toFixed(0)} s: fetches and heartbeats fail (broker down or unreachable)`);
    const dlqAge = deadLetters.oldestPendingAgeMs(now());
    if (dlqAge > config.dlqStallMs) fail('dlq_stalled', `the dead-letter path is stalled: ${deadLetters.pending} dead letters pending, the oldest for ${(dlqAge / 1000).toFixed(0)} s (checkpoints and offset commits wait for it)`);
    const checkpointAge = checkpointer.ageSeconds();
    if (checkpointAge * 1000 > config.checkpointStallMs) {
      const why = checkpointer.lastFailure === undefined ? '' : `; the last attempt failed: ${checkpointer.lastFailure}`;
      fail('checkpoint_stalled', `no checkpoint for ${checkpointAge.toFixed(0)} s (--checkpoint-stall-ms ${config.checkpointStallMs}), so no offsets committed${why}`);
    }
    const outage = schemaIds.outage;
    if (outage !== undefined) fail('schema_registry_unavailable', `${schemaIds.waiting} events wait for Confluent schema id ${outage.schemaId}: the schema registry has not answered for ${((now() - outage.since) / 1000).toFixed(0)} s (retrying; nothing is dead-lettered meanwhile): ${outage.error}`);
    if (serving instanceof ServingThread && !serving.alive) fail('serving_down', 'the serving thread exited (HTTP recommendations are down)');
    if (model && !model.stats().healthy) fail('trainer_unhealthy', 'the trainer thread died 3 times within 10 minutes (rebalancer_trainer_worker_restarts_total)');
    return out;
  };
  const readiness = (): Readiness => {
    const failing = notReady();
    return { ready: failing.length === 0, reasons: failing.map((f) => f.text) };
  };

  const state = (): ServiceState => ({ ...serviceState(config, balance, model, ledger, source, checkpointer, deadLetters, serving, readiness(), restored?.manifest.seq ?? null, restoredCounts), global: scaleOut.state(balance.view().windowCounts) });

  // Model sync with the group's other instances (needs the trainer thread).
  if (model instanceof TrainerThread) {
    phase = 'starting model sync';
    await scaleOut.startModelSync(model);
  } else if (model !== undefined && config.modelSync !== 'off') {
    log('model sync needs the trainer thread (--trainer-thread true): this replica is not synchronised with other instances');
  }

  // 7. Go.
  phase = 'joining the consumer group';
  undo.push(() => source.disconnect());
  await source.start();
  answers.state = state;
  answers.readiness = readiness;
  history.start();
  metrics.consumerUp.set(1);
  checkpointer.start(config.checkpointIntervalMs);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      history.stop();
      checkpointer.stopTimer();
      source.stopFetching();
      await pipelineDone;
      if (!deadError) {
        try {
          await checkpointer.checkpoint();
        } catch (err) {
          log(`final checkpoint failed: ${(err as Error).message}`);
        }
      }
      await scaleOut.stopModelSync();
      await model?.stop().catch((err: unknown) => log(`stopping the trainer failed: ${(err as Error).message}`));
      await scaleOut.stop();
      await source.disconnect();
      await serving.stop().catch((err: unknown) => log(`stopping the HTTP server failed: ${(err as Error).message}`));
      await producer.disconnect().catch(() => {});
      metrics.consumerUp.set(0);
      if (deadError) rejectDone(deadError);
      else resolveDone();
    })();
    return stopped;
  };

  return { config, registry, httpPort, url: `http://${config.httpHost}:${httpPort}`, adminUrl: adminUrl(config, httpPort, serving.adminPort), done, stop, state, readiness };
}

interface ServingDeps {
  /** Set: recommendations are written in the Confluent wire format under this schema id. */
  recommendationSchemaId: number | undefined;
  balance: () => BalanceAdapter;
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

/**
 * HTTP and recommendations: on the serving thread when the trainer has its own thread (a
 * request never waits on ingestion or a step), else on the main thread.
 */
async function startServing(config: ServiceConfig, d: ServingDeps): Promise<Serving> {
  const { metrics, producer, model, now, log } = d;
  const gate = new TriggerGate({ triggerTypes: config.recTriggerTypes, minIntervalMs: config.recMinIntervalMs, maxPerSecond: config.recMaxPerSecond, onRateLimited: () => metrics.recommendationTriggersDropped.rateLimit.inc() });
  const candidates = (): { items: CandidateItem[]; head: ReadonlySet<string> } => {
    const balance = d.balance();
    return { items: balance.candidates(config.recCandidatesPerCategory, config.recHeadItems), head: headCategories(balance.view().windowCounts) };
  };
  // Recommendations are ephemeral: a batch not acknowledged within --produce-timeout-ms is
  // dropped (logged by the caller) and counted, never waited on longer.
  const produce = async (messages: Array<{ key: string; value: Buffer }>): Promise<void> => {
    try {
      await withTimeout(producer.send({ topic: config.recommendationsTopic, messages, timeout: config.produceTimeoutMs }), config.produceTimeoutMs, `producing ${messages.length} recommendations`);
    } catch (err) {
      metrics.recommendationsDropped.inc(messages.length);
      throw err;
    }
  };
  const metricsText = async (): Promise<MetricsText> => ({ contentType: d.registry.contentType, body: await d.registry.metrics() });
  const codec = createRecommendationCodec();
  if (model instanceof TrainerThread) {
    const trainer = model;
    const thread = await ServingThread.start({
      init: { host: config.httpHost, port: config.httpPort, ...adminAddress(config), defaultK: config.recK, maxK: MAX_K, maxIdLength: config.maxIdLength, recK: config.recK, cpuShare: SERVING_THREAD_EVENT_SHARE, sliceMs: SERVING_THREAD_SLICE_MS, ...(d.recommendationSchemaId === undefined ? {} : { recommendationSchemaId: d.recommendationSchemaId }) },
      gate,
      candidates: () => {
        const c = candidates();
        return { items: c.items, head: [...c.head] };
      },
      version: () => trainer.version,
      answer: { metrics: metricsText, state: d.state, readiness: d.readiness, history: d.history },
      produce,
      onTally: (t) => {
        for (const s of t.http) metrics.recommendationDuration.observe(s);
        for (const s of t.event) metrics.recommendationDuration.observe(s);
        metrics.recommendations.http.inc(t.http.length);
        metrics.recommendations.event.inc(t.event.length);
        if (t.droppedBacklog > 0) metrics.recommendationTriggersDropped.backlog.inc(t.droppedBacklog);
        if (t.shed > 0) metrics.httpShed.inc(t.shed);
      },
      log,
    });
    trainer.forwardSnapshots((snapshot) => {
      d.onSnapshot?.(snapshot);
      thread.publish(snapshot);
    });
    return thread;
  }
  return MainThreadServing.start({
    host: config.httpHost,
    port: config.httpPort,
    ...adminAddress(config),
    gate,
    recommender:
      model === undefined
        ? null
        : {
            k: config.recK,
            candidates,
            scorer: () => model,
            metrics: {
              observeDuration: (seconds, trigger) => {
                metrics.recommendationDuration.observe(seconds);
                metrics.recommendations[trigger].inc();
              },
              droppedBacklog: () => metrics.recommendationTriggersDropped.backlog.inc(),
            },
            encode: (m) => (d.recommendationSchemaId === undefined ? codec.encode(m) : codec.encodeConfluent(d.recommendationSchemaId, m)),
            send: produce,
            now,
            log,
          },
    off: () => {
      throw new RebalancerError('REB_HTTP_BAD_REQUEST', 'recommendations are off: the service runs with --train false');
    },
    http: { metrics: metricsText, state: d.state, readiness: d.readiness, history: d.history, defaultK: config.recK, maxK: MAX_K, maxIdLength: config.maxIdLength, log, onShed: () => metrics.httpShed.inc() },
  });
}

/**
 * Registers the Recommendation schema under `<recommendations-topic>-value` (BACKWARD) and
 * returns its id; retried while the registry does not answer, up to --connect-timeout-ms.
 */
async function registerRecommendationSchema(client: SchemaRegistryClient, config: ServiceConfig, log: (msg: string) => void): Promise<number> {
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

async function ensureTopics(admin: Admin, config: ServiceConfig): Promise<void> {
  const existing = new Set(await withTimeout(admin.listTopics(), config.connectTimeoutMs, 'listing topics'));
  const missing = [config.topic, config.dlqTopic, config.recommendationsTopic].filter((t) => !existing.has(t));
  if (missing.length === 0) return;
  await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: topic === config.topic ? 3 : 1 })), waitForLeaders: true }).catch((err: unknown) => {
    throw new RebalancerError('REB_KAFKA_UNAVAILABLE', `could not create topics ${missing.join(', ')}: ${(err as Error).message}`, {}, { cause: err });
  });
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RebalancerError('REB_KAFKA_UNAVAILABLE', `${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

function updateGauges(metrics: ServiceMetrics, config: ServiceConfig, balance: BalanceAdapter, model: Trainer | undefined, source: KafkaSource, checkpointer: Checkpointer, serving: Serving): void {
  const view = balance.view();
  const counts = view.windowCounts;
  const top = new Set([...counts].sort((a, b) => b[1] - a[1]).slice(0, config.metricsTopCategories).map(([c]) => c));
  const shares = new Map<string, number>();
  for (const [c, n] of counts) shares.set(c, view.windowEvents > 0 ? n / view.windowEvents : 0);
  metrics.windowEvents.set(view.windowEvents);
  metrics.windowCategories.set(counts.size);
  metrics.categoryWindowShare.replaceAll(foldTopCategories(shares, top, counts, 'sum'));
  metrics.classWeight.replaceAll(foldTopCategories(view.weights, top, counts, 'weighted-mean'));
  metrics.imbalanceRatio.set(view.imbalanceRatio);
  metrics.entropyNormalized.set(view.entropyNormalized);
  metrics.gini.set(view.gini);
  metrics.reservoirFill.perCategory.set(view.reservoirFill.perCategory);
  metrics.reservoirFill.cbrs.set(view.reservoirFill.cbrs);
  metrics.interactionTailShare.set(tailShareOfCounts(counts, headCategories(counts)));
  metrics.recommendationTailShare.set(serving.tailShare());
  metrics.threads.set('main', threadMemory());
  const servingMemory = serving.threadMemory();
  if (servingMemory !== null) metrics.threads.set('serving', servingMemory);
  if (model) {
    const ev = model.evaluation();
    metrics.prequentialHitRate.replaceAll(foldTopCategories(ev.hitRateByCategory, top, ev.evaluationsByCategory, 'weighted-mean'));
    metrics.prequentialHitRateAverage.macro.set(ev.hitRateMacro);
    metrics.prequentialHitRateAverage.micro.set(ev.hitRateMicro);
    metrics.prequentialNdcgAverage.macro.set(ev.ndcgMacro);
    metrics.prequentialNdcgAverage.micro.set(ev.ndcgMicro);
    metrics.modelVersion.replaceAll(new Map([[model.version, 1]]));
    const t = model.stats();
    metrics.trainer.staleness.set(t.stalenessSeconds);
    metrics.trainer.tensorIds.set(t.tensorIdHighWater);
    metrics.trainer.recycles.set(t.recycles);
    metrics.trainer.restarts.set(t.workerRestarts);
    metrics.trainer.dropped.set(t.droppedBatches);
    if (t.memory !== null) {
      metrics.threads.set('trainer', t.memory);
      metrics.threads.tensors.set(t.memory.tensors);
      metrics.threads.tensorBytes.set(t.memory.tensorBytes);
    }
    metrics.servingAdjustment.tau.set(ev.adjustment.tau);
    metrics.servingAdjustment.microCost.set(ev.adjustment.microCost);
    metrics.servingAdjustment.macroGain.set(ev.adjustment.macroGain);
  }
  metrics.consumerUp.set(source.isUp ? 1 : 0);
  metrics.consumerPaused.set(source.paused ? 1 : 0);
  metrics.checkpointAge.set(checkpointer.ageSeconds());
}

function serviceState(
  config: ServiceConfig,
  balance: BalanceAdapter,
  model: Trainer | undefined,
  ledger: IngestLedger,
  source: KafkaSource,
  checkpointer: Checkpointer,
  deadLetters: DeadLetterSink,
  serving: Serving,
  readiness: Readiness,
  restoredFrom: number | null,
  restored: RestoredCounts | null,
): Omit<ServiceState, 'global'> {
  const view = balance.view();
  const ev = model?.evaluation();
  const ledgerSnap = ledger.snapshot();
  return {
    ready: readiness.ready,
    readiness,
    window: {
      events: view.windowEvents,
      categories: view.windowCounts.size,
      shares: Object.fromEntries([...view.windowCounts].map(([c, n]) => [c, view.windowEvents > 0 ? n / view.windowEvents : 0])),
    },
    weights: Object.fromEntries(view.weights),
    imbalance: { ratio: view.imbalanceRatio, entropyNormalized: view.entropyNormalized, gini: view.gini },
    reservoirFill: view.reservoirFill,
    trainingSamples: balance.composedSamples(),
    tailShare: { recommendations: serving.tailShare(), interactions: tailShareOfCounts(view.windowCounts, headCategories(view.windowCounts)) },
    model: { version: model?.version ?? 'none', steps: model?.steps ?? 0, nativeBackend: model?.nativeBackend ?? false, training: model !== undefined, trainedEvents: model?.trainedEvents ?? 0, trainerThread: config.trainerThread, trainer: model?.stats() ?? null },
    evaluation: {
      hitRateMacro: ev?.hitRateMacro ?? 0,
      hitRateMicro: ev?.hitRateMicro ?? 0,
      ndcgMacro: ev?.ndcgMacro ?? 0,
      ndcgMicro: ev?.ndcgMicro ?? 0,
      hitRateByCategory: ev ? Object.fromEntries(ev.hitRateByCategory) : {},
      adjustment: ev?.adjustment ?? { tau: 0, microCost: 0, macroGain: 0 },
    },
    totals: {
      applied: ledgerSnap.applied,
      byCategory: ledgerSnap.byCategory,
      byType: ledgerSnap.byType,
      invalid: ledgerSnap.invalid,
      duplicates: ledgerSnap.duplicates,
      late: ledgerSnap.late,
      lost: ledgerSnap.lost,
      deadLettered: deadLetters.sent,
      recommendationsProduced: serving.producedCount,
    },
    offsets: { topic: config.topic, positions: ledgerSnap.positions, committed: { ...checkpointer.committedOffsets } },
    consumer: {
      up: source.isUp,
      paused: source.paused,
      pauses: source.pauses,
      inFlight: source.inFlightEvents,
      assigned: [...source.assignedPartitions],
      crashes: source.crashCount,
      lag: Object.fromEntries([...source.lagByPartition].map(([p, l]) => [String(p), l])),
    },
    deadLetters: { sent: deadLetters.sent, pending: deadLetters.pending, truncated: deadLetters.truncated, dropped: deadLetters.dropped },
    checkpoint: { seq: checkpointer.lastSequence, ageSeconds: checkpointer.ageSeconds(), restoredFrom, restored },
  };
}

/** One history sample's figures, read from the /state document (so the live page's charts end where /state is). */
function historySample(s: ServiceState): Omit<HistorySample, 't'> {
  let lag = 0;
  for (const l of Object.values(s.consumer.lag)) lag += l;
  return {
    applied: s.totals.applied,
    hitRateMacro: s.evaluation.hitRateMacro,
    hitRateMicro: s.evaluation.hitRateMicro,
    tailShareRecommendations: s.tailShare.recommendations,
    tailShareInteractions: s.tailShare.interactions,
    lag,
    deadLettered: s.totals.deadLettered,
  };
}
