import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';
import { EVENT_TYPES, type EventType } from '../codec/index.js';
import { LabelledGauge } from './labelled-gauge.js';
import type { ThreadMemory } from './thread-memory.js';

/**
 * Every metric of the service, on one injected registry (never prom-client's global
 * one). Names are a contract with the Grafana dashboards and alerts: base units,
 * counters end in `_total`, every label set bounded (categories beyond the top N are
 * folded into `other`, see labelled-gauge.ts).
 */
/** A counter set from a running total (never decreases). */
export interface MonotonicCount {
  set(total: number): void;
}

export interface ServiceMetrics {
  readonly registry: Registry;
  eventsConsumed: Record<EventType, Counter.Internal>;
  eventsInvalid(reason: string): Counter.Internal;
  dlqMessages(reason: string): Counter.Internal;
  /** Dead letters the DLQ topic refused whole and stored truncated, by refusal (e.g. message_too_large). */
  dlqTruncated(refusal: string): Counter.Internal;
  /** Dead letters the DLQ topic refused whole and truncated, dropped (logged) so checkpoints go on, by refusal. */
  dlqDropped(refusal: string): Counter.Internal;
  eventsDuplicate: Counter;
  /** Records re-delivered below their partition's position (a rebalance or restart re-reads from the last commit): neither counted nor applied again. */
  eventsRedelivered: Counter;
  /** Scale-out: partitions owned, changelog and global counts (see docs/operations.md, "Scaling out"). */
  partitions: {
    owned: Gauge;
    restores: Counter;
    restoreDuration: Histogram;
    changelogWrites: Counter;
    changelogBytes: Counter;
    changelogFailures: Counter;
    changelogLag: Gauge;
    peers: Gauge;
    syncUpdates: Record<'sent' | 'received' | 'applied' | 'dropped' | 'failed', MonotonicCount>;
    syncBytes: Record<'sent' | 'received', MonotonicCount>;
    syncBlendAge: Gauge;
    globalLag: Gauge;
    globalPartitions: Gauge;
    globalDivergence: Gauge;
    globalRecords: Counter;
    commitsSkipped: Counter;
  };
  /** Events older than the watermark (the slowest assigned partition's, stream/event-time.ts): left out of the window. */
  eventsLate: Counter;
  /** Events of a new category while every window category slot was in use: left out of the window (not late). */
  eventsOverflow: Counter;
  /** Events the window could not use (empty category, unknown type, impossible time) that validation let through: should stay 0. */
  eventsWindowRejected: Counter;
  /** Held events applied before the watermark reached them because the alignment buffer was full (stream/event-time.ts). */
  watermarkForced: Counter;
  /** Offsets skipped because their records were gone from the log when fetched (see OffsetGapWatch). */
  eventsLost: { retention: Counter.Internal };
  windowEvents: Gauge;
  windowCategories: Gauge;
  categoryWindowShare: LabelledGauge<'category'>;
  classWeight: LabelledGauge<'category'>;
  imbalanceRatio: Gauge;
  entropyNormalized: Gauge;
  gini: Gauge;
  reservoirFill: { perCategory: Gauge.Internal<string>; cbrs: Gauge.Internal<string> };
  batchSamples: { fresh: Counter.Internal; replay: Counter.Internal; synthetic: Counter.Internal };
  trainSteps: Counter;
  trainStepDuration: Histogram;
  trainLoss: Gauge;
  prequentialHitRate: LabelledGauge<'category'>;
  prequentialHitRateAverage: { macro: Gauge.Internal<string>; micro: Gauge.Internal<string> };
  prequentialNdcgAverage: { macro: Gauge.Internal<string>; micro: Gauge.Internal<string> };
  recommendationDuration: Histogram;
  recommendations: { http: Counter.Internal; event: Counter.Internal };
  /** /recommendations requests shed with 503 REB_HTTP_OVERLOADED (src/http/load-shedding.ts). */
  httpShed: Counter;
  recommendationTailShare: Gauge;
  recommendationsDropped: Counter;
  recommendationTriggersDropped: { backlog: Counter.Internal; rateLimit: Counter.Internal };
  interactionTailShare: Gauge;
  consumerLag(topic: string, partition: number): Gauge.Internal<string>;
  /** Schema-id look-ups of Confluent-framed events at the schema registry, by outcome. */
  schemaRegistryRequests: { ok: Counter.Internal; unavailable: Counter.Internal; unknownId: Counter.Internal };
  /** Events waiting for their schema id (held in order; offsets not committed past them). */
  schemaRegistryWaiting: Gauge;
  /** Events read, by framing (the first bytes of the payload). */
  eventsFraming: { singleObject: Counter.Internal; confluent: Counter.Internal };
  consumerPaused: Gauge;
  consumerUp: Gauge;
  /** 1 per readiness reason failing now (labels: service/readiness.ts NOT_READY_REASONS), and 1/0 overall. */
  notReady(reason: string): Gauge.Internal<string>;
  ready: Gauge;
  kafkaSilence: Gauge;
  dlqPending: Gauge;
  dlqOldestPending: Gauge;
  consumerCrashes: Counter;
  checkpointAge: Gauge;
  checkpoints: Counter;
  checkpointDuration: Histogram;
  tfNativeBackend: Gauge;
  modelVersion: LabelledGauge<'version'>;
  servingAdjustment: { tau: Gauge; microCost: Gauge; macroGain: Gauge };
  trainer: { staleness: Gauge; tensorIds: Gauge; recycles: MonotonicCount; restarts: MonotonicCount; dropped: MonotonicCount };
  /** Per thread (main, trainer, serving): where resident memory goes (process_resident_memory_bytes is the whole process). */
  threads: { set(thread: ServiceThread, memory: ThreadMemory): void; tensors: Gauge; tensorBytes: Gauge };
}

export type ServiceThread = 'main' | 'trainer' | 'serving';

export interface ServiceMetricsOptions {
  registry: Registry;
  /** Called before every scrape so gauges derived from state are fresh. */
  beforeCollect?: () => void;
  collectDefault?: boolean;
  /**
   * Every reason label the service can report: those series exist at 0 from the start,
   * so a clean stream shows 0 rather than "no data" and rate() works from the first scrape.
   */
  rejectReasons?: readonly string[];
  /** Every refusal label of the dead-letter sink (stream/dlq.ts DLQ_REFUSAL_LABELS): those series exist at 0 from the start. */
  dlqRefusals?: readonly string[];
  /** Every readiness reason label: those series exist at 0 from the start. */
  notReadyReasons?: readonly string[];
}

// eslint-disable-next-line max-lines-per-function -- one table of every metric family in registration order, which is the order prom-client collects them in (the collect hook of rebalancer_window_events refreshes the gauges registered after it): split up, that order would be spread over several functions
export function createServiceMetrics({ registry, beforeCollect, collectDefault = true, rejectReasons = [], dlqRefusals = [], notReadyReasons = [] }: ServiceMetricsOptions): ServiceMetrics {
  if (collectDefault) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> =>
    new Counter<L>({ name, help, labelNames, registers });
  // A counter fed with a running total kept elsewhere (the trainer's stats): increments by the difference.
  const monotonic = (name: string, help: string): MonotonicCount => {
    const c = counter(name, help);
    let last = 0;
    return {
      set(total: number): void {
        if (total > last) c.inc(total - last);
        last = Math.max(last, total);
      },
    };
  };
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = [], collect?: () => void): Gauge<L> =>
    new Gauge<L>({ name, help, labelNames, registers, ...(collect ? { collect } : {}) });
  const histogram = (name: string, help: string, buckets: number[]): Histogram => new Histogram({ name, help, buckets, registers });
  const cached = <T>(make: (key: string) => T): ((key: string) => T) => {
    const children = new Map<string, T>();
    return (key) => {
      let child = children.get(key);
      if (child === undefined) {
        child = make(key);
        children.set(key, child);
      }
      return child;
    };
  };

  const consumed = counter('rebalancer_events_consumed_total', 'Valid events consumed and applied to the balance state, by event type.', ['type']);
  const invalid = counter('rebalancer_events_invalid_total', 'Events rejected by decoding or validation, by reason.', ['reason']);
  const dlq = counter('rebalancer_dlq_messages_total', 'Records produced to the dead-letter topic, by reason.', ['reason']);
  const fill = gauge('rebalancer_reservoir_fill_ratio', 'Fill of the replay reservoirs (0..1): per_category = mean over categories, cbrs = class-balanced memory.', ['reservoir']);
  const samples = counter('rebalancer_batch_samples_total', 'Samples in composed training batches, by source.', ['source']);
  const heapUsed = gauge('rebalancer_thread_heap_used_bytes', 'JS heap in use per thread (main, trainer, serving; each worker thread has its own V8 heap).', ['thread']);
  const heapCommitted = gauge('rebalancer_thread_heap_committed_bytes', 'JS heap pages in physical memory per thread (what the heap adds to resident memory, free space within it included).', ['thread']);
  const external = gauge('rebalancer_thread_external_bytes', 'Memory outside the JS heap held by the thread\'s JS objects (ArrayBuffers, typed arrays, native handles V8 is told of), per thread.', ['thread']);
  const hitAvg = gauge('rebalancer_prequential_hit_rate_average', 'Prequential hit-rate@K averaged over categories (macro) or over evaluations (micro).', ['average']);
  const ndcgAvg = gauge('rebalancer_prequential_ndcg_average', 'Prequential NDCG@K averaged over categories (macro) or over evaluations (micro).', ['average']);
  const dropped = counter('rebalancer_recommendation_triggers_dropped_total', 'Event triggers that produced no recommendation: the global --rec-max-per-second cap (rate_limit), or the queue full because event-triggered recommendations may take only 30% of the serving thread, or of the main thread when training inline (backlog).', ['reason']);
  const recs = counter('rebalancer_recommendations_total', 'Recommendation lists served, by trigger (http request or event-triggered to the output topic).', ['trigger']);
  // prom-client only exports a child once it has a value.
  for (const reason of rejectReasons) {
    invalid.labels({ reason }).inc(0);
    dlq.labels({ reason }).inc(0);
  }
  for (const type of EVENT_TYPES) consumed.labels({ type }).inc(0);
  const dlqTruncated = counter('rebalancer_dlq_truncated_total', 'Dead letters the dead-letter topic refused whole (e.g. over its max.message.bytes) and stored as a truncated copy with the original size and SHA-256 in headers, by refusal.', ['refusal']);
  const dlqDropped = counter('rebalancer_dlq_dropped_total', 'Dead letters the dead-letter topic refused whole and truncated: logged with their source offset and SHA-256 and dropped so checkpoints go on, by refusal.', ['refusal']);
  for (const refusal of dlqRefusals) {
    dlqTruncated.labels({ refusal }).inc(0);
    dlqDropped.labels({ refusal }).inc(0);
  }
  const lost = counter('rebalancer_events_lost_total', 'Offsets skipped because their records were no longer in the log when fetched (retention or deleteRecords moved the log start past the position; with --from-beginning false the consumer resets to the end and the records it jumps over count too).', ['reason']);
  // At 0 from the start, so increase() sees the first loss.
  const lostRetention = lost.labels({ reason: 'retention' });
  lostRetention.inc(0);
  const registryRequests = counter('rebalancer_schema_registry_requests_total', 'Schema-id look-ups of Confluent-framed events at the schema registry: ok (learned), unavailable (no answer, a timeout, a 5xx or a refusal: retried with backoff, the events wait), unknown_id (the registry has no such id, or its schema cannot be read as the current one: those events are dead-lettered as unknown_schema).', ['outcome']);
  const framing = counter('rebalancer_events_framing_total', 'Events read, by framing: single_object (Avro single-object encoding, 0xC3 0x01 + fingerprint) or confluent (0x00 + schema id).', ['framing']);
  for (const outcome of ['ok', 'unavailable', 'unknown_id']) registryRequests.labels({ outcome }).inc(0);
  for (const f of ['single_object', 'confluent']) framing.labels({ framing: f }).inc(0);
  const lag = gauge('rebalancer_consumer_lag_messages', 'Messages between the last consumed offset and the high watermark.', ['topic', 'partition']);

  // Scrape-time refresh of state-derived gauges: one collect hook on a gauge that is
  // always registered, so every family is refreshed once per scrape.
  const windowEvents = gauge('rebalancer_window_events', 'Events in the sliding window (N).', [], beforeCollect);
  // Registered after the gauge whose collect refreshes the state-derived gauges: collected after it, so never a scrape behind.
  const notReady = gauge('rebalancer_not_ready', '1 while /readyz fails for this reason (see the readiness contract in docs/operations.md), else 0.', ['reason']);
  for (const reason of notReadyReasons) notReady.labels({ reason }).set(0);

  return {
    registry,
    eventsConsumed: Object.fromEntries(EVENT_TYPES.map((t) => [t, consumed.labels({ type: t })])) as Record<EventType, Counter.Internal>,
    eventsInvalid: cached((reason) => invalid.labels({ reason })),
    dlqMessages: cached((reason) => dlq.labels({ reason })),
    dlqTruncated: cached((refusal) => dlqTruncated.labels({ refusal })),
    dlqDropped: cached((refusal) => dlqDropped.labels({ refusal })),
    eventsDuplicate: counter('rebalancer_events_duplicate_total', 'Events dropped because their eventId was seen within the dedup horizon.'),
    eventsRedelivered: counter('rebalancer_events_redelivered_total', 'Records delivered again below their partition\'s position (after a rebalance or restart Kafka re-reads from the last commit; a new owner restores the position from the changelog): neither counted nor applied again.'),
    partitions: {
      owned: gauge('rebalancer_partitions_owned', 'Input partitions this instance owns now (assigned by the consumer group, state restored).'),
      restores: counter('rebalancer_partition_restores_total', 'Partition states restored from the changelog topic on assignment (a partition without a changelog blob starts fresh and is not counted).'),
      restoreDuration: histogram('rebalancer_partition_restore_duration_seconds', 'Time to read the changelog topic for newly assigned partitions (their records wait meanwhile).', [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]),
      changelogWrites: counter('rebalancer_changelog_writes_total', 'Partition state blobs written to the changelog topic (one per owned partition per checkpoint).'),
      changelogBytes: counter('rebalancer_changelog_written_bytes_total', 'Bytes of partition state blobs written to the changelog topic.'),
      changelogFailures: counter('rebalancer_changelog_write_failures_total', 'Checkpoints whose changelog write failed (offsets are not committed past them; retried at the next checkpoint).'),
      changelogLag: gauge('rebalancer_changelog_lag_records', 'Records counted by the partitions this instance owns and not yet in their changelog blobs: what their next owner would re-read after a crash (bounded by one checkpoint interval of traffic).'),
      peers: gauge('rebalancer_peer_instances', 'Other instances of this consumer group heard of in the counts topic within the last minute (model sync publishes only while there is one).'),
      syncUpdates: {
        sent: monotonic('rebalancer_model_sync_sent_updates_total', 'Model updates (changed embedding rows, dense weights, counted positives) this instance published.'),
        received: monotonic('rebalancer_model_sync_received_updates_total', 'Model updates of other instances received.'),
        applied: monotonic('rebalancer_model_sync_applied_updates_total', 'Model updates of other instances blended into this replica (between training steps).'),
        dropped: monotonic('rebalancer_model_sync_dropped_updates_total', 'Received model updates dropped because too many waited to be blended (their rows go again when they train again).'),
        failed: monotonic('rebalancer_model_sync_failed_updates_total', 'Model updates that failed to publish or could not be blended (e.g. another model shape).'),
      },
      syncBytes: {
        sent: monotonic('rebalancer_model_sync_sent_bytes_total', 'Bytes of model updates published.'),
        received: monotonic('rebalancer_model_sync_received_bytes_total', 'Bytes of model updates received.'),
      },
      syncBlendAge: gauge('rebalancer_model_sync_blend_age_seconds', 'Seconds since another instance\'s model update was last blended in (-1: none yet).'),
      globalLag: gauge('rebalancer_global_counts_lag_records', 'Records of the global counts topic not read yet by this instance (its global window is this far behind the owners).'),
      globalPartitions: gauge('rebalancer_global_partitions', 'Input partitions the global window has totals for (every partition of the topic once each owner has published).'),
      globalDivergence: gauge('rebalancer_global_share_divergence', 'Total variation distance (0..1) between this instance\'s local window category mix and the global one: how different the partitions it owns look from the whole stream.'),
      globalRecords: counter('rebalancer_global_counts_records_total', 'Records of the global counts topic read and merged (including this instance\'s own).'),
      commitsSkipped: counter('rebalancer_offset_commits_skipped_total', 'Offsets of a checkpoint not committed because the partition is no longer owned or the group\'s committed offset is already further (commits never move backwards).'),
    },
    eventsLost: { retention: lostRetention },
    eventsLate: counter('rebalancer_events_late_total', 'Events older than the watermark (newest event time of the slowest assigned, non-idle partition minus --window-lateness-ms) or than the window: counted here, not in the window. Other reasons an event is not counted have their own counters.'),
    eventsOverflow: counter('rebalancer_events_overflow_total', 'Events of a new category while every window category slot was in use (the balance core\'s maxCategories): not counted in the window.'),
    eventsWindowRejected: counter('rebalancer_events_window_rejected_total', 'Events the window refused as unusable (empty category, unknown type, impossible time) after validation let them through; not counted in the window. Should stay 0.'),
    watermarkForced: counter('rebalancer_watermark_forced_events_total', 'Events held for a slower partition and applied before the watermark reached them because the event-time alignment buffer (half of --max-in-flight) was full; the slower partitions\' older events may then count as late.'),
    windowEvents,
    windowCategories: gauge('rebalancer_window_categories', 'Categories with at least one event in the window (C).'),
    categoryWindowShare: new LabelledGauge(gauge('rebalancer_category_window_share', 'Share n_c/N of each category in the window (top N categories, rest folded into other).', ['category']), 'category'),
    classWeight: new LabelledGauge(gauge('rebalancer_class_weight', 'Current class weight per category (other = share-weighted mean of folded categories).', ['category']), 'category'),
    imbalanceRatio: gauge('rebalancer_imbalance_ratio', 'Imbalance ratio max n_c / min n_c over categories in the window.'),
    entropyNormalized: gauge('rebalancer_category_entropy_normalized', 'Normalised entropy H/log C of the window category distribution (1 = uniform).'),
    gini: gauge('rebalancer_category_gini', 'Gini coefficient of window category counts (0 = uniform).'),
    reservoirFill: { perCategory: fill.labels({ reservoir: 'per_category' }), cbrs: fill.labels({ reservoir: 'cbrs' }) },
    batchSamples: { fresh: samples.labels({ source: 'fresh' }), replay: samples.labels({ source: 'replay' }), synthetic: samples.labels({ source: 'synthetic' }) },
    trainSteps: counter('rebalancer_train_steps_total', 'Incremental training steps taken.'),
    trainStepDuration: histogram('rebalancer_train_step_duration_seconds', 'Duration of one predict-then-train step.', [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
    trainLoss: gauge('rebalancer_train_loss', 'Weighted training loss of the last step.'),
    prequentialHitRate: new LabelledGauge(gauge('rebalancer_prequential_hit_rate', 'Prequential hit-rate@K per category (test, then train).', ['category']), 'category'),
    prequentialHitRateAverage: { macro: hitAvg.labels({ average: 'macro' }), micro: hitAvg.labels({ average: 'micro' }) },
    prequentialNdcgAverage: { macro: ndcgAvg.labels({ average: 'macro' }), micro: ndcgAvg.labels({ average: 'micro' }) },
    recommendationDuration: histogram('rebalancer_recommendation_duration_seconds', 'Time to score candidates and pick the top K for one user.', [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]),
    recommendations: { http: recs.labels({ trigger: 'http' }), event: recs.labels({ trigger: 'event' }) },
    httpShed: counter('rebalancer_http_requests_shed_total', '/recommendations requests shed with 503 REB_HTTP_OVERLOADED and Retry-After because the serving thread was saturated (event-loop turn budget or sustained event-loop delay).'),
    recommendationTriggersDropped: { backlog: dropped.labels({ reason: 'backlog' }), rateLimit: dropped.labels({ reason: 'rate_limit' }) },
    recommendationsDropped: counter('rebalancer_recommendations_dropped_total', 'Event-triggered recommendations scored but not produced: the produce failed or was not acknowledged within --produce-timeout-ms (they are not retried; the next trigger recomputes).'),
    recommendationTailShare: gauge('rebalancer_recommendation_tail_share', 'Share of recently recommended items in tail categories (outside the head set holding 80% of window events).'),
    interactionTailShare: gauge('rebalancer_interaction_tail_share', 'Share of window events in tail categories (outside the head set holding 80% of window events).'),
    consumerLag: (topic, partition) => lag.labels({ topic, partition: String(partition) }),
    schemaRegistryRequests: { ok: registryRequests.labels({ outcome: 'ok' }), unavailable: registryRequests.labels({ outcome: 'unavailable' }), unknownId: registryRequests.labels({ outcome: 'unknown_id' }) },
    schemaRegistryWaiting: gauge('rebalancer_schema_registry_waiting_messages', 'Events waiting for their schema id from the schema registry: held in order with the later events of their partition, offsets not committed past them.'),
    eventsFraming: { singleObject: framing.labels({ framing: 'single_object' }), confluent: framing.labels({ framing: 'confluent' }) },
    consumerPaused: gauge('rebalancer_consumer_paused', '1 while the consumer is paused for backpressure.'),
    notReady: cached((reason) => notReady.labels({ reason })),
    ready: gauge('rebalancer_ready', '1 while /readyz answers 200, else 0 (rebalancer_not_ready says why).'),
    kafkaSilence: gauge('rebalancer_kafka_silence_seconds', 'Seconds since the Kafka cluster last answered a fetch or a heartbeat of the consumer (/readyz fails past --broker-silence-ms).'),
    dlqPending: gauge('rebalancer_dlq_pending', 'Dead letters handed to the sink and not yet acknowledged by the dead-letter topic.'),
    dlqOldestPending: gauge('rebalancer_dlq_oldest_pending_seconds', 'Age of the oldest dead letter not yet acknowledged (/readyz fails past --dlq-stall-ms; checkpoints wait for it).'),
    consumerUp: gauge('rebalancer_consumer_up', '1 while the Kafka consumer is running; 0 when crashed, restarting or stopped.'),
    consumerCrashes: counter('rebalancer_consumer_crashes_total', 'Kafka consumer crashes (kafkajs CRASH events).'),
    checkpointAge: gauge('rebalancer_checkpoint_age_seconds', 'Seconds since the last successful checkpoint (since start or restore while none was written).'),
    checkpoints: counter('rebalancer_checkpoints_total', 'Checkpoints written successfully.'),
    checkpointDuration: histogram('rebalancer_checkpoint_duration_seconds', 'Time to write one checkpoint (snapshot, model save, fsync, rename).', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
    tfNativeBackend: gauge('rebalancer_tf_native_backend', '1 when TensorFlow runs on the native (tensorflow) backend, else 0.'),
    modelVersion: new LabelledGauge(gauge('rebalancer_model_version_info', 'Model version currently serving (value 1).', ['version']), 'version'),
    trainer: {
      staleness: gauge('rebalancer_model_serving_staleness_seconds', 'Age of the oldest training step the served parameters lack (0 when the served snapshot is current; bounded by --snapshot-interval-ms plus one step while the trainer thread lives).'),
      tensorIds: gauge('rebalancer_trainer_tensor_id_high_water', 'Native tensor handles created by the training thread (tfjs-node numbers them with a 32-bit counter, tfjs issue 8735); the trainer thread is recycled at --recycle-at-tensor-id.'),
      recycles: monotonic('rebalancer_trainer_recycles_total', 'Trainer threads replaced by a fresh one from the current state (tensor-id limit) since start.'),
      restarts: monotonic('rebalancer_trainer_worker_restarts_total', 'Trainer threads that died and were restarted since start (3 within 10 minutes fail /readyz).'),
      dropped: monotonic('rebalancer_trainer_dropped_batches_total', 'Training batches dropped because they killed two trainer threads in a row.'),
    },
    threads: {
      set(thread: ServiceThread, memory: ThreadMemory): void {
        heapUsed.labels({ thread }).set(memory.heapUsedBytes);
        heapCommitted.labels({ thread }).set(memory.heapCommittedBytes);
        external.labels({ thread }).set(memory.externalBytes);
      },
      tensors: gauge('rebalancer_trainer_tensors', 'Live TensorFlow tensors of the training thread (tf.memory().numTensors): flat over steps, else tensors leak.'),
      tensorBytes: gauge('rebalancer_trainer_tensor_bytes', 'Bytes of the live TensorFlow tensors of the training thread (tf.memory().numBytes; native memory, outside the JS heap).'),
    },
    servingAdjustment: {
      tau: gauge('rebalancer_serving_adjustment_tau', 'Serving-time logit adjustment τ in use: recommendations rank by s − τ·log prior of the category (0 = raw scores; chosen within --max-micro-loss).'),
      microCost: gauge('rebalancer_serving_adjustment_micro_cost_ratio', 'Estimated relative micro hit-rate@K loss of the τ in use against the unadjusted ranking (prequential, decayed); stays below --max-micro-loss.'),
      macroGain: gauge('rebalancer_serving_adjustment_macro_gain_ratio', 'Estimated relative macro hit-rate@K gain of the τ in use against the unadjusted ranking (prequential, decayed).'),
    },
  };
}
