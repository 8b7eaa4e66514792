import { Observable, concatMap, filter, map, startWith, tap, type OperatorFunction } from 'rxjs';
import type { KafkaMessage } from 'kafkajs';
import { EVENT_TYPES, eventProblem, type InteractionEvent, type SingleObjectCodec } from '../codec/index.js';
import { CONFLUENT_MAGIC, MARKER_0 } from '../codec/single-object.js';
import { isRebalancerError, type ErrorCode } from '../errors.js';
import type { ServiceMetrics } from '../metrics/index.js';
import type { TrainBacklog } from './backlog.js';
import type { DedupSet } from './dedup.js';
import type { DeadLetter } from './dlq.js';
import { DEFAULT_PARTITION_IDLE_MS, EventTimeAlignment, FutureSkewGuard, type Released } from './event-time.js';
import type { IngestLedger } from './ledger.js';
import type { PartitionStates } from './partition-state.js';
import type { BalancePort, ModelPort, ObserveOutcome } from '../ports/index.js';
import { reasonOfDecodeError, reasonOfValidation, type RejectReason } from './reasons.js';
import { awaitSchemaIds, SchemaIdGate } from './schema-ids.js';
import type { RecordChunk } from './source.js';

/**
 * The streaming pipeline, one small named step per stage:
 *
 *   chunks ─ awaitSchemaIds ─ decode ─ clean (validate, dedup) ─ deadLetter ─ align ─ applyToBalance ─┬─ (ingest done, released)
 *                                                                                    └─ rebatch ─ trainStep
 *
 * awaitSchemaIds holds a chunk (and the later ones of its partition, in order) while the
 * schema registry is asked for a Confluent schema id the codec has not learned (see
 * schema-ids.ts); it passes every other chunk straight on.
 * decode..applyToBalance run synchronously inside the source's `next`, so ingestion
 * is one tight loop per chunk. `align` holds events of partitions read ahead of the
 * slowest one until the per-partition watermark reaches them (stream/event-time.ts); a
 * timer releases what idleness frees while no chunk comes, and the end of the stream
 * releases the rest. Training runs after it, one batch at a time
 * (concatMap): events wait there holding their in-flight slot, so a slow trainer fills
 * the in-flight budget and the source pauses the consumer; nothing queues unbounded.
 */
export interface Reject {
  message: KafkaMessage;
  reason: RejectReason;
  code: ErrorCode;
  detail: string;
}

export interface DecodedChunk {
  chunk: RecordChunk;
  events: InteractionEvent[];
  /** The message each event came from (parallel to `events`). */
  messages: KafkaMessage[];
  rejects: Reject[];
}

export interface CleanChunk extends DecodedChunk {
  duplicates: number;
}

/** What `align` hands to the state: events to apply now, in order, with their partitions. */
export interface AlignedEvents extends Released<InteractionEvent> {
  readonly topic: string;
  /** The chunk that came in; undefined for a release by the idleness timer or at the end of the stream. */
  readonly chunk: RecordChunk | undefined;
  /** Messages of the chunk that reach neither the state nor the held events (rejects, duplicates): released now. */
  readonly settled: number;
  /** The window's head after these events (the frontier, stream/event-time.ts). */
  readonly frontier: number;
}

export interface PipelineDeps<B> {
  codec: SingleObjectCodec<InteractionEvent>;
  /**
   * Confluent schema ids: looked up at the schema registry while their events wait
   * (stream/schema-ids.ts). Absent: no registry (Confluent-framed events are dead-lettered
   * as unknown_schema). Its codec must be `codec`.
   */
  schemaIds?: SchemaIdGate;
  dedup: DedupSet;
  /**
   * The input partitions this instance owns (stream/partition-state.ts): when given, they
   * decide what is counted (offset beyond the partition's position) and what is a duplicate
   * (their id sets), instead of `dedup`.
   */
  partitions?: PartitionStates;
  balance: BalancePort<B>;
  /** Undefined when training is off: events are released right after the state update. */
  model: ModelPort<B> | undefined;
  deadLetters: { add(letter: DeadLetter): void };
  metrics: ServiceMetrics;
  ledger: IngestLedger;
  release(count: number, bytes: number): void;
  batchSize: number;
  batchMaxWaitMs: number;
  /** Events more than this ahead of the newest event time seen are rejected as `future_timestamp` (0 = no check); see event-time.ts. */
  maxFutureSkewMs: number;
  /**
   * Per-partition watermarks and the events held for them (stream/event-time.ts); the service
   * creates it (it feeds the assignment in and checkpoints the held events). Absent: one
   * with the default idleness and no assignment (every partition that delivers takes part).
   */
  eventTime?: EventTimeAlignment<InteractionEvent>;
  /** Longest id of a valid event (--max-id-length; validateEvent's default when absent). */
  maxIdLength?: number;
  /** Test hooks (not for production use; absent in production). */
  testHooks?: PipelineTestHooks;
  /** Events bound for training and not handed to the model yet (what a checkpoint's model has not seen). */
  backlog?: TrainBacklog;
  /**
   * The backlog of the restored checkpoint: already applied to the state, trained first.
   * Never counted in flight by the source, so never released to it.
   */
  restoredBacklog?: readonly InteractionEvent[];
  /**
   * Called for each clean event as it arrives (recommendation triggers), before it may be held
   * for a slower partition's watermark (see `align`); must be cheap. A throw fails the pipeline.
   */
  onApplied?(event: InteractionEvent): void;
  onTrained?(report: TrainReport): void;
  log(msg: string): void;
  now(): number;
}

/** Test hooks of the pipeline (not for production use): the service passes them on from its options, never from a setting. */
export interface PipelineTestHooks {
  /** Extra wait after each training step, ms (simulates a slow trainer). */
  trainDelayMs?: number;
}

export interface TrainReport {
  events: number;
  loss: number;
  seconds: number;
}

/** Builds the pipeline; subscribe to run it. Completes after the source completes and training drains. */
export function buildPipeline<B>(chunks$: Observable<RecordChunk>, deps: PipelineDeps<B>): Observable<TrainReport> {
  const timeGuard = new FutureSkewGuard(deps.maxFutureSkewMs);
  const eventTime = deps.eventTime ?? new EventTimeAlignment<InteractionEvent>({ allowedLatenessMs: 0, idleTimeoutMs: DEFAULT_PARTITION_IDLE_MS, maxHeld: DEFAULT_MAX_HELD, start: deps.balance.watermark() });
  const gate = deps.schemaIds ?? new SchemaIdGate({ codec: deps.codec, registry: undefined, metrics: deps.metrics, log: deps.log, now: deps.now });
  const applied$ = chunks$.pipe(
    awaitSchemaIds(gate),
    decode(deps.codec, { metrics: deps.metrics, whyUnknown: (id) => gate.whyUnknown(id) }),
    clean(deps.dedup, deps.metrics, deps.ledger, timeGuard, () => eventTime.watermarks.newest, deps.maxIdLength, deps.partitions),
    deadLetter(deps),
    align(eventTime, deps.now, deps.metrics, deps.onApplied),
    applyToBalance(deps, eventTime),
  );
  if (deps.model === undefined) {
    return applied$.pipe(filter((_events): _events is never => false));
  }
  const model = deps.model;
  const restored = deps.restoredBacklog ?? [];
  deps.backlog?.push(restored);
  const toTrain$ = restored.length > 0 ? applied$.pipe(startWith([...restored])) : applied$;
  return toTrain$.pipe(rebatch(deps.batchSize, deps.batchMaxWaitMs), trainStep(deps, model, restored.length, eventTime));
}

/** Held events when the pipeline makes its own alignment (the service passes half its in-flight bound). */
const DEFAULT_MAX_HELD = 10_000;

export interface DecodeContext {
  /** Counts events by framing. */
  metrics?: Pick<ServiceMetrics, 'eventsFraming'>;
  /** Why a Confluent schema id the codec has not learned cannot be decoded (SchemaIdGate.whyUnknown). */
  whyUnknown?(schemaId: number): string;
}

/**
 * Avro decode, either framing per message (single-object or Confluent; by the first byte);
 * failures become rejects with their typed reason. A Confluent schema id still unknown here
 * (awaitSchemaIds looked it up already, or no registry is configured) is `unknown_schema`.
 */
export function decode(codec: SingleObjectCodec<InteractionEvent>, context: DecodeContext = {}): OperatorFunction<RecordChunk, DecodedChunk> {
  const framing = context.metrics?.eventsFraming;
  return map(function decodeChunk(chunk: RecordChunk): DecodedChunk {
    const events: InteractionEvent[] = [];
    const messages: KafkaMessage[] = [];
    const rejects: Reject[] = [];
    let confluent = 0;
    let singleObject = 0;
    for (const message of chunk.messages) {
      const value = message.value;
      if (value === null || value.length === 0) {
        rejects.push({ message, reason: 'empty_payload', code: 'REB_DECODE_BAD_FRAMING', detail: 'empty or null payload' });
        continue;
      }
      if (value[0] === CONFLUENT_MAGIC) confluent++;
      else if (value[0] === MARKER_0) singleObject++;
      try {
        events.push(codec.decode(value));
        messages.push(message);
      } catch (err) {
        const code = isRebalancerError(err) ? err.code : 'REB_DECODE_INVALID';
        let detail = (err as Error).message;
        if (isRebalancerError(err, 'REB_DECODE_UNKNOWN_SCHEMA_ID') && context.whyUnknown !== undefined) detail = context.whyUnknown(value.readUInt32BE(1));
        rejects.push({ message, reason: reasonOfDecodeError(code), code, detail });
      }
    }
    if (framing !== undefined) {
      if (confluent > 0) framing.confluent.inc(confluent);
      if (singleObject > 0) framing.singleObject.inc(singleObject);
    }
    return { chunk, events, messages, rejects };
  });
}

/**
 * Semantic validation, the event-time plausibility check against the newest event time
 * seen (before de-duplication, so a rejected event's id is not remembered and a re-send
 * counts), then duplicate suppression by eventId within the dedup horizon. The reference is
 * the newest event time seen on any partition at the start of the chunk, moved along by the
 * chunk's kept events (`align` takes them right after this step, in this order).
 */
export function clean(dedup: DedupSet, metrics: ServiceMetrics, ledger: IngestLedger, timeGuard: FutureSkewGuard, newestAtStart: () => number, maxIdLength?: number, partitions?: PartitionStates): OperatorFunction<DecodedChunk, CleanChunk> {
  return map(function cleanChunk({ chunk, events, messages, rejects }: DecodedChunk): CleanChunk {
    const kept: InteractionEvent[] = [];
    let duplicates = 0;
    let behind = 0;
    let watermark = newestAtStart();
    const owned = partitions?.forRecords(chunk.partition);
    if (owned !== undefined && chunk.messages.length > 0) owned.startAt(Number(chunk.messages[0]!.offset));
    // This process's replica state (balance window, reservoirs, model) reflects offsets below
    // the ledger's position: after a restore whose changelog blob is older than the local
    // checkpoint, such events are counted for the partition but not applied twice.
    const applied = ledger.positions.get(chunk.partition) ?? -1;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const invalid = eventProblem(e, maxIdLength);
      if (invalid !== undefined) {
        rejects.push({ message: messages[i]!, reason: reasonOfValidation(invalid), code: 'REB_EVENT_INVALID', detail: `event ${e.eventId}: ${invalid.message}` });
        continue;
      }
      if (!timeGuard.admit(e.eventTime, watermark)) {
        const detail = `event ${e.eventId}: eventTime ${e.eventTime} is ${e.eventTime - watermark} ms ahead of the watermark ${watermark} (more than --max-future-skew-ms ${timeGuard.maxFutureSkewMs})`;
        rejects.push({ message: messages[i]!, reason: 'future_timestamp', code: 'REB_EVENT_INVALID', detail });
        continue;
      }
      if (owned !== undefined) {
        const offset = Number(messages[i]!.offset);
        const admission = owned.admit(e, offset);
        if (admission === 'duplicate') duplicates++;
        if (admission !== 'new' || offset < applied) {
          if (admission === 'behind' || offset < applied) behind++;
          continue;
        }
      } else if (!dedup.add(e.eventId)) {
        duplicates++;
        continue;
      }
      if (e.eventTime > watermark) watermark = e.eventTime;
      kept.push(e);
    }
    if (owned !== undefined) {
      for (const r of rejects) owned.reject(Number(r.message.offset));
      const last = chunk.messages[chunk.messages.length - 1];
      if (last !== undefined) owned.advance(Number(last.offset) + 1);
    }
    if (duplicates > 0) {
      metrics.eventsDuplicate.inc(duplicates);
      ledger.duplicates += duplicates;
    }
    if (behind > 0) metrics.eventsRedelivered.inc(behind);
    return { chunk, events: kept, messages: [], rejects, duplicates };
  });
}

/** Hands every reject to the dead-letter sink (original bytes + provenance) and counts it. */
export function deadLetter<B>(deps: Pick<PipelineDeps<B>, 'deadLetters' | 'metrics' | 'ledger'>): OperatorFunction<CleanChunk, CleanChunk> {
  return tap(function routeRejects({ chunk, rejects }: CleanChunk): void {
    for (const r of rejects) {
      deps.deadLetters.add({
        value: r.message.value,
        key: r.message.key ?? null,
        topic: chunk.topic,
        partition: chunk.partition,
        offset: r.message.offset,
        timestamp: r.message.timestamp,
        reason: r.reason,
        code: r.code,
        message: r.detail,
      });
      deps.metrics.eventsInvalid(r.reason).inc();
      deps.metrics.dlqMessages(r.reason).inc();
    }
    deps.ledger.invalid += rejects.length;
  });
}

/**
 * The event-time gate (stream/event-time.ts) as an operator: each chunk's clean events go
 * in, the events to apply now come out (in order). While events are held, a timer
 * re-evaluates idleness every IDLE_CHECK_DIVISOR-th of the idleness timeout (at most every
 * IDLE_CHECK_MAX_MS), with the pipeline's clock, and an assignment triggers a check at
 * once; at the end of the stream everything held is released, so the final checkpoint
 * holds none. `onArrival` sees every clean event as it comes, held or not (recommendation
 * triggers: holding an event for a slower partition's watermark must not delay its
 * user's recommendation).
 */
export function align(eventTime: EventTimeAlignment<InteractionEvent>, now: () => number, metrics: ServiceMetrics, onArrival?: (event: InteractionEvent) => void): OperatorFunction<CleanChunk, AlignedEvents> {
  const checkEveryMs = Math.min(IDLE_CHECK_MAX_MS, Math.max(10, Math.floor(eventTime.watermarks.idleTimeoutMs / IDLE_CHECK_DIVISOR)));
  return (source) =>
    new Observable<AlignedEvents>((subscriber) => {
      let timer: NodeJS.Timeout | undefined;
      let topic = '';
      let forced = eventTime.forced;
      const emit = (chunk: RecordChunk | undefined, settled: number, out: Released<InteractionEvent>): void => {
        if (eventTime.forced > forced) {
          metrics.watermarkForced.inc(eventTime.forced - forced);
          forced = eventTime.forced;
        }
        subscriber.next({ topic, chunk, settled, events: out.events, partitions: out.partitions, frontier: eventTime.frontier });
      };
      const stopTimer = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
      };
      // Errors of this operator's own work (a trigger that throws, a bug) fail the pipeline
      // like any operator's; thrown into the source's subscriber they would go unhandled.
      const fail = (err: unknown): void => {
        stopTimer();
        eventTime.onWake(undefined);
        subscriber.error(err);
      };
      const onTimer = (): void => {
        timer = undefined;
        try {
          const out = eventTime.release(now());
          if (out.events.length > 0) emit(undefined, 0, out);
          armTimer();
        } catch (err) {
          fail(err);
        }
      };
      const armTimer = (delayMs = checkEveryMs): void => {
        if (timer === undefined && eventTime.heldCount > 0 && !subscriber.closed) timer = setTimeout(onTimer, delayMs);
      };
      // An assignment comes from the consumer between chunks: check on the next turn.
      eventTime.onWake(() => {
        if (eventTime.heldCount === 0 || subscriber.closed) return;
        stopTimer();
        armTimer(0);
      });
      const subscription = source.subscribe({
        next({ chunk, events }) {
          try {
            topic = chunk.topic;
            if (onArrival !== undefined) for (const e of events) onArrival(e);
            emit(chunk, chunk.messages.length - events.length, eventTime.admit(chunk.partition, events, now()));
            armTimer();
          } catch (err) {
            fail(err);
          }
        },
        error: fail,
        complete() {
          stopTimer();
          eventTime.onWake(undefined);
          try {
            const out = eventTime.flush();
            if (out.events.length > 0) emit(undefined, 0, out);
          } catch (err) {
            subscriber.error(err);
            return;
          }
          subscriber.complete();
        },
      });
      // Held events of a restored checkpoint wait for idleness too, even if no chunk comes.
      armTimer();
      return () => {
        stopTimer();
        eventTime.onWake(undefined);
        subscription.unsubscribe();
      };
    });
}

/** Idleness is checked this many times per idleness timeout while events are held, and at least every IDLE_CHECK_MAX_MS. */
const IDLE_CHECK_DIVISOR = 4;
const IDLE_CHECK_MAX_MS = 250;

/**
 * Applies the released events to the balance state (synchronous, O(1) each), counts them
 * and what the window left out (late, overflow, rejected: each its own counter), moves the
 * window's head to the frontier, advances the partition position (held events are in the
 * checkpoint's held list, so the position covers them), and releases what training will
 * not hold. Only events the model learns from (label weight > 0, see ModelPort.trainsOn)
 * go on to training; the others (views) are released here, right after the state update.
 * Counters and per-type ledger totals are added once per chunk, not per event.
 */
export function applyToBalance<B>(deps: PipelineDeps<B>, eventTime: EventTimeAlignment<InteractionEvent>): OperatorFunction<AlignedEvents, InteractionEvent[]> {
  const typeCount = EVENT_TYPES.length;
  const typeCounts = new Float64Array(typeCount);
  const typeIndex = new Map<string, number>(EVENT_TYPES.map((t, i) => [t, i]));
  const model = deps.model;
  // Decided once: which event types go on to training (none when training is off).
  const trainsType = EVENT_TYPES.map((t) => model !== undefined && model.trainsOn(t));
  const consumed = EVENT_TYPES.map((t) => deps.metrics.eventsConsumed[t]);
  const { balance, ledger, metrics } = deps;
  return map(function applyChunk({ topic, chunk, settled, events, partitions, frontier }: AlignedEvents): InteractionEvent[] {
    typeCounts.fill(0);
    let late = 0;
    let overflow = 0;
    let rejected = 0;
    let failed = 0;
    let released = settled;
    const toTrain: InteractionEvent[] = [];
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      let outcome: ObserveOutcome;
      try {
        outcome = balance.observe(e);
      } catch (err) {
        // A bug in the state update must not stop the stream: the event goes to the DLQ.
        deps.log(`state update failed for event ${e.eventId}: ${(err as Error).message}`);
        deps.deadLetters.add({ value: null, key: null, topic, partition: partitions[i]!, offset: '-1', timestamp: String(e.eventTime), reason: 'processing_error', code: 'REB_BALANCE_INVALID', message: `${e.eventId}: ${(err as Error).message}` });
        failed++;
        if (!eventTime.takeRestored(e)) released++;
        continue;
      }
      if (outcome === 'late') late++;
      else if (outcome === 'overflow') overflow++;
      else if (outcome === 'rejected') rejected++;
      ledger.countCategory(e.categoryId);
      const t = typeIndex.get(e.type)!;
      typeCounts[t]!++;
      if (trainsType[t]) toTrain.push(e);
      else if (!eventTime.takeRestored(e)) released++;
    }
    // The window's head follows the frontier (the slowest assigned partition), not the newest event applied.
    if (frontier > -Infinity) balance.advanceTo(frontier);
    deps.backlog?.push(toTrain);
    for (let t = 0; t < typeCount; t++) {
      const n = typeCounts[t]!;
      if (n > 0) {
        consumed[t]!.inc(n);
        ledger.countType(EVENT_TYPES[t]!, n);
      }
    }
    if (late > 0) {
      metrics.eventsLate.inc(late);
      ledger.late += late;
    }
    if (overflow > 0) metrics.eventsOverflow.inc(overflow);
    if (rejected > 0) metrics.eventsWindowRejected.inc(rejected);
    if (failed > 0) {
      metrics.eventsInvalid('processing_error').inc(failed);
      metrics.dlqMessages('processing_error').inc(failed);
      ledger.invalid += failed;
    }
    if (chunk !== undefined) {
      const last = chunk.messages[chunk.messages.length - 1];
      if (last !== undefined) ledger.advance(chunk.partition, Number(last.offset) + 1);
    }
    deps.release(released, chunk?.bytes ?? 0);
    return toTrain;
  });
}

/**
 * Re-cuts event arrays into batches of exactly `size`, or fewer after `maxWaitMs`
 * without a full batch (bufferCount + bufferTime for arrays). Emits the remainder on
 * completion.
 */
export function rebatch<T>(size: number, maxWaitMs: number): OperatorFunction<T[], T[]> {
  return (source) =>
    new Observable<T[]>((subscriber) => {
      let pending: T[] = [];
      let timer: NodeJS.Timeout | undefined;
      const flush = (): void => {
        if (timer) clearTimeout(timer);
        timer = undefined;
        if (pending.length === 0) return;
        const out = pending;
        pending = [];
        subscriber.next(out);
      };
      const subscription = source.subscribe({
        next(items) {
          for (const item of items) {
            pending.push(item);
            if (pending.length >= size) flush();
          }
          if (pending.length > 0) timer ??= setTimeout(flush, maxWaitMs);
        },
        error(err) {
          if (timer) clearTimeout(timer);
          subscriber.error(err);
        },
        complete() {
          flush();
          subscriber.complete();
        },
      });
      return () => {
        if (timer) clearTimeout(timer);
        subscription.unsubscribe();
      };
    });
}

/**
 * Compose (fresh + replay + undersampling) and one predict-then-train step per batch,
 * strictly one at a time. The batch's events are released after the step, which is
 * what makes a slow trainer pause the consumer. A failed step is logged and skipped.
 */
export function trainStep<B>(deps: PipelineDeps<B>, model: ModelPort<B>, restoredBacklog = 0, eventTime?: EventTimeAlignment<InteractionEvent>): OperatorFunction<InteractionEvent[], TrainReport> {
  // The restored backlog comes first; its events were never in flight at the source (nor
  // were the restored checkpoint's held events, wherever they come).
  let unreleasable = restoredBacklog;
  const trainDelayMs = deps.testHooks?.trainDelayMs ?? 0;
  return concatMap(async function composeAndTrain(fresh: InteractionEvent[]): Promise<TrainReport> {
    // Queued batches would otherwise train back to back on microtasks, starving I/O:
    // HTTP requests, Kafka heartbeats and fetches get a turn between steps.
    await yieldToEventLoop();
    const started = deps.now();
    let loss = Number.NaN;
    let handed = false;
    try {
      const batch = deps.balance.compose(fresh);
      const sources = deps.balance.batchSources(batch);
      deps.metrics.batchSamples.fresh.inc(sources.fresh);
      deps.metrics.batchSamples.replay.inc(sources.replay);
      deps.metrics.batchSamples.synthetic.inc(sources.synthetic);
      // Handing the batch to the model (train queues it synchronously) moves it out of the backlog.
      const training = model.train(batch);
      handed = true;
      deps.backlog?.take(fresh.length);
      const result = await training;
      loss = result.loss;
      if (trainDelayMs > 0) await new Promise((r) => setTimeout(r, trainDelayMs));
      const seconds = (deps.now() - started) / 1000;
      deps.metrics.trainSteps.inc();
      deps.metrics.trainStepDuration.observe(seconds);
      if (Number.isFinite(loss)) deps.metrics.trainLoss.set(loss);
    } catch (err) {
      deps.log(`training step on ${fresh.length} events failed: ${(err as Error).stack ?? String(err)}`);
    } finally {
      // A batch that failed before it reached the model is skipped: it leaves the backlog too.
      if (!handed) deps.backlog?.take(fresh.length);
      const restored = Math.min(unreleasable, fresh.length);
      unreleasable -= restored;
      let restoredHeld = 0;
      if (eventTime !== undefined) for (let i = restored; i < fresh.length; i++) if (eventTime.takeRestored(fresh[i]!)) restoredHeld++;
      deps.release(fresh.length - restored - restoredHeld, 0);
    }
    const report = { events: fresh.length, loss, seconds: (deps.now() - started) / 1000 };
    deps.onTrained?.(report);
    return report;
  });
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
