import { Observable, concatMap, filter, map, startWith, tap, type OperatorFunction } from 'rxjs';
import type { KafkaMessage } from 'kafkajs';
import { EVENT_TYPES, validateEvent, type InteractionEvent, type SingleObjectCodec } from '../codec/index.js';
import { isRebalancerError, type ErrorCode } from '../errors.js';
import type { ServiceMetrics } from '../metrics/index.js';
import type { TrainBacklog } from './backlog.js';
import type { DedupSet } from './dedup.js';
import type { DeadLetter } from './dlq.js';
import { FutureSkewGuard } from './event-time.js';
import type { IngestLedger } from './ledger.js';
import type { BalancePort, ModelPort } from './ports.js';
import { reasonOfDecodeError, reasonOfValidation, type RejectReason } from './reasons.js';
import type { RecordChunk } from './source.js';

/**
 * The streaming pipeline, one small named step per stage:
 *
 *   chunks ─ decode ─ clean (validate, dedup) ─ deadLetter ─ applyToBalance ─┬─ (ingest done, released)
 *                                                                            └─ rebatch ─ trainStep
 *
 * decode..applyToBalance run synchronously inside the source's `next`, so ingestion
 * is one tight loop per chunk. Training runs after it, one batch at a time
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

export interface PipelineDeps<B> {
  codec: SingleObjectCodec<InteractionEvent>;
  dedup: DedupSet;
  balance: BalancePort<B>;
  /** Undefined when training is off: events are released right after the state update. */
  model: ModelPort<B> | undefined;
  deadLetters: { add(letter: DeadLetter): void };
  metrics: ServiceMetrics;
  ledger: IngestLedger;
  release(count: number, bytes: number): void;
  batchSize: number;
  batchMaxWaitMs: number;
  /** Events more than this ahead of the watermark are rejected as `future_timestamp` (0 = no check); see event-time.ts. */
  maxFutureSkewMs: number;
  /** Longest id of a valid event (--max-id-length; validateEvent's default when absent). */
  maxIdLength?: number;
  /** Test hook: extra wait per training step (simulates a slow trainer). */
  trainDelayMs: number;
  /** Events bound for training and not handed to the model yet (what a checkpoint's model has not seen). */
  backlog?: TrainBacklog;
  /**
   * The backlog of the restored checkpoint: already applied to the state, trained first.
   * Never counted in flight by the source, so never released to it.
   */
  restoredBacklog?: readonly InteractionEvent[];
  /** Called for each applied event (recommendation triggers); must be cheap. */
  onApplied?(event: InteractionEvent): void;
  onTrained?(report: TrainReport): void;
  log(msg: string): void;
  now(): number;
}

export interface TrainReport {
  events: number;
  loss: number;
  seconds: number;
}

/** Builds the pipeline; subscribe to run it. Completes after the source completes and training drains. */
export function buildPipeline<B>(chunks$: Observable<RecordChunk>, deps: PipelineDeps<B>): Observable<TrainReport> {
  const timeGuard = new FutureSkewGuard(deps.maxFutureSkewMs);
  const applied$ = chunks$.pipe(decode(deps.codec), clean(deps.dedup, deps.metrics, deps.ledger, timeGuard, () => deps.balance.watermark(), deps.maxIdLength), deadLetter(deps), applyToBalance(deps));
  if (deps.model === undefined) {
    return applied$.pipe(filter((_events): _events is never => false));
  }
  const model = deps.model;
  const restored = deps.restoredBacklog ?? [];
  deps.backlog?.push(restored);
  const toTrain$ = restored.length > 0 ? applied$.pipe(startWith([...restored])) : applied$;
  return toTrain$.pipe(rebatch(deps.batchSize, deps.batchMaxWaitMs), trainStep(deps, model, restored.length));
}

/** Avro single-object decode; failures become rejects with their typed reason. */
export function decode(codec: SingleObjectCodec<InteractionEvent>): OperatorFunction<RecordChunk, DecodedChunk> {
  return map(function decodeChunk(chunk: RecordChunk): DecodedChunk {
    const events: InteractionEvent[] = [];
    const messages: KafkaMessage[] = [];
    const rejects: Reject[] = [];
    for (const message of chunk.messages) {
      if (message.value === null || message.value.length === 0) {
        rejects.push({ message, reason: 'empty_payload', code: 'REB_DECODE_BAD_FRAMING', detail: 'empty or null payload' });
        continue;
      }
      try {
        events.push(codec.decode(message.value));
        messages.push(message);
      } catch (err) {
        const code = isRebalancerError(err) ? err.code : 'REB_DECODE_INVALID';
        rejects.push({ message, reason: reasonOfDecodeError(code), code, detail: (err as Error).message });
      }
    }
    return { chunk, events, messages, rejects };
  });
}

/**
 * Semantic validation, the event-time plausibility check against the watermark (before
 * de-duplication, so a rejected event's id is not remembered and a re-send counts), then
 * duplicate suppression by eventId within the dedup horizon. The watermark is the balance
 * state's at the start of the chunk, moved along by the chunk's kept events: the state
 * applies them right after this step, in this order.
 */
export function clean(dedup: DedupSet, metrics: ServiceMetrics, ledger: IngestLedger, timeGuard: FutureSkewGuard, watermarkAtStart: () => number, maxIdLength?: number): OperatorFunction<DecodedChunk, CleanChunk> {
  return map(function cleanChunk({ chunk, events, messages, rejects }: DecodedChunk): CleanChunk {
    const kept: InteractionEvent[] = [];
    let duplicates = 0;
    let watermark = watermarkAtStart();
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const invalid = validateEvent(e, maxIdLength);
      if (invalid !== undefined) {
        rejects.push({ message: messages[i]!, reason: reasonOfValidation(invalid), code: 'REB_EVENT_INVALID', detail: `event ${e.eventId}: ${invalid}` });
        continue;
      }
      if (!timeGuard.admit(e.eventTime, watermark)) {
        const detail = `event ${e.eventId}: eventTime ${e.eventTime} is ${e.eventTime - watermark} ms ahead of the watermark ${watermark} (more than --max-future-skew-ms ${timeGuard.maxFutureSkewMs})`;
        rejects.push({ message: messages[i]!, reason: 'future_timestamp', code: 'REB_EVENT_INVALID', detail });
        continue;
      }
      if (!dedup.add(e.eventId)) {
        duplicates++;
        continue;
      }
      if (e.eventTime > watermark) watermark = e.eventTime;
      kept.push(e);
    }
    if (duplicates > 0) {
      metrics.eventsDuplicate.inc(duplicates);
      ledger.duplicates += duplicates;
    }
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
 * Applies the clean events to the balance state (synchronous, O(1) each), counts them,
 * advances the partition position, and releases what training will not hold. Only
 * events the model learns from (label weight > 0, see ModelPort.trainsOn) go on to
 * training; the others (views) are released here, right after the state update.
 * Counters and per-type ledger totals are added once per chunk, not per event.
 */
export function applyToBalance<B>(deps: PipelineDeps<B>): OperatorFunction<CleanChunk, InteractionEvent[]> {
  const typeCount = EVENT_TYPES.length;
  const typeCounts = new Float64Array(typeCount);
  const typeIndex = new Map<string, number>(EVENT_TYPES.map((t, i) => [t, i]));
  const model = deps.model;
  // Decided once: which event types go on to training (none when training is off).
  const trainsType = EVENT_TYPES.map((t) => model !== undefined && model.trainsOn(t));
  const consumed = EVENT_TYPES.map((t) => deps.metrics.eventsConsumed[t]);
  const { balance, ledger, onApplied } = deps;
  return map(function applyChunk({ chunk, events }: CleanChunk): InteractionEvent[] {
    typeCounts.fill(0);
    let late = 0;
    const toTrain: InteractionEvent[] = [];
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      try {
        if (!balance.observe(e)) late++;
      } catch (err) {
        // A bug in the state update must not stop the stream: the event goes to the DLQ.
        deps.log(`state update failed for event ${e.eventId}: ${(err as Error).message}`);
        deps.deadLetters.add({ value: null, key: null, topic: chunk.topic, partition: chunk.partition, offset: '-1', timestamp: String(e.eventTime), reason: 'processing_error', code: 'REB_BALANCE_INVALID', message: `${e.eventId}: ${(err as Error).message}` });
        deps.metrics.dlqMessages('processing_error').inc();
        continue;
      }
      ledger.countCategory(e.categoryId);
      const t = typeIndex.get(e.type)!;
      typeCounts[t]!++;
      if (trainsType[t]) toTrain.push(e);
      onApplied?.(e);
    }
    deps.backlog?.push(toTrain);
    for (let t = 0; t < typeCount; t++) {
      const n = typeCounts[t]!;
      if (n > 0) {
        consumed[t]!.inc(n);
        ledger.countType(EVENT_TYPES[t]!, n);
      }
    }
    if (late > 0) {
      deps.metrics.eventsLate.inc(late);
      ledger.late += late;
    }
    const last = chunk.messages[chunk.messages.length - 1];
    if (last !== undefined) ledger.advance(chunk.partition, Number(last.offset) + 1);
    deps.release(chunk.messages.length - toTrain.length, chunk.bytes);
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
export function trainStep<B>(deps: PipelineDeps<B>, model: ModelPort<B>, restoredBacklog = 0): OperatorFunction<InteractionEvent[], TrainReport> {
  // The restored backlog comes first; its events were never in flight at the source.
  let unreleasable = restoredBacklog;
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
      if (deps.trainDelayMs > 0) await new Promise((r) => setTimeout(r, deps.trainDelayMs));
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
      deps.release(fresh.length - restored, 0);
    }
    const report = { events: fresh.length, loss, seconds: (deps.now() - started) / 1000 };
    deps.onTrained?.(report);
    return report;
  });
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
