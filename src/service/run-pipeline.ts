/**
 * Start-up step 5: the pipeline (decode → clean → DLQ → balance → batches → train, see
 * src/ingest/pipeline.ts) subscribed to the source's records.
 */
import type { InteractionEvent, SingleObjectCodec } from '../codec/index.js';
import type { ServiceConfig } from '../config/index.js';
import type { TrainBacklog } from '../ingest/backlog.js';
import type { DedupSet } from '../ingest/dedup.js';
import type { DeadLetterSink } from '../ingest/dlq.js';
import type { EventTimeAlignment } from '../ingest/event-time.js';
import type { IngestLedger } from '../ingest/ledger.js';
import { buildPipeline, type PipelineTestHooks } from '../ingest/pipeline.js';
import type { SchemaIdGate } from '../ingest/schema-ids.js';
import type { KafkaSource } from '../ingest/source.js';
import type { ServiceMetrics } from '../metrics/index.js';
import type { Serving } from '../serve/index.js';
import type { BalanceAdapter } from '../train/balance-adapter.js';
import type { Trainer } from '../train/index.js';
import type { Lifecycle } from './lifecycle.js';
import type { ScaleOut } from './scale-out.js';

export interface PipelineParts {
  codec: SingleObjectCodec<InteractionEvent>;
  schemaIds: SchemaIdGate;
  source: KafkaSource;
  dedup: DedupSet;
  scaleOut: ScaleOut;
  balance: BalanceAdapter;
  model: Trainer | undefined;
  deadLetters: DeadLetterSink;
  ledger: IngestLedger;
  backlog: TrainBacklog;
  /** The restored checkpoint's backlog, trained first. */
  restoredBacklog: readonly InteractionEvent[];
  eventTime: EventTimeAlignment<InteractionEvent>;
  serving: Serving;
  metrics: ServiceMetrics;
  lifecycle: Lifecycle;
  log(msg: string): void;
  now(): number;
}

/** Test hooks (not for production use): see ServiceOptions.testHooks. */
export interface ServiceTestHooks extends PipelineTestHooks {
  /** Called for each applied event inside the pipeline; a throw fails the pipeline. */
  afterApply?(event: InteractionEvent): void;
}

/**
 * Runs the pipeline; resolves when it completes or fails. A failure is logged and makes the
 * service dead (Lifecycle.pipelineFailed): not ready, no final checkpoint, `done` rejects.
 */
export function runPipeline(config: ServiceConfig, p: PipelineParts, testHooks: ServiceTestHooks = {}): Promise<void> {
  const { model, serving, now, log, source } = p;
  const afterApply = testHooks.afterApply;
  return new Promise<void>((resolve) => {
    buildPipeline(source.records$, {
      codec: p.codec,
      schemaIds: p.schemaIds,
      dedup: p.dedup,
      partitions: p.scaleOut.states,
      balance: p.balance,
      model,
      deadLetters: p.deadLetters,
      metrics: p.metrics,
      ledger: p.ledger,
      release: (count, bytes) => source.release(count, bytes),
      batchSize: config.batchSize,
      batchMaxWaitMs: config.batchMaxWaitMs,
      maxFutureSkewMs: config.maxFutureSkewMs,
      maxIdLength: config.maxIdLength,
      ...(testHooks.trainDelayMs === undefined ? {} : { testHooks: { trainDelayMs: testHooks.trainDelayMs } }),
      backlog: p.backlog,
      restoredBacklog: p.restoredBacklog,
      eventTime: p.eventTime,
      onApplied: model
        ? (e) => {
            serving.onEvent(e, now());
            afterApply?.(e);
          }
        : afterApply,
      log,
      now,
    }).subscribe({
      error: (err: unknown) => {
        log(`pipeline failed: ${(err as Error).stack ?? String(err)}`);
        p.lifecycle.pipelineFailed(err);
        resolve();
      },
      complete: () => resolve(),
    });
  });
}
