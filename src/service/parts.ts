import type { ServiceConfig } from '../config/index.js';
import type { DeadLetterSink } from '../ingest/dlq.js';
import type { IngestLedger } from '../ingest/ledger.js';
import type { SchemaIdGate } from '../ingest/schema-ids.js';
import type { KafkaSource } from '../ingest/source.js';
import type { ServiceMetrics } from '../metrics/index.js';
import type { Serving } from '../serve/index.js';
import type { Checkpointer } from '../state/checkpointer.js';
import type { BalanceAdapter } from '../train/balance-adapter.js';
import type { Trainer } from '../train/index.js';
import type { Lifecycle } from './lifecycle.js';
import { readinessOf } from './readiness.js';
import type { ScaleOut } from './scale-out.js';
import { stateDocument, type RestoredCounts, type ServiceState, type StateReadings } from './state-document.js';

/**
 * The parts of a started service, as one explicit object: what /state, /readyz, the
 * derived gauges and the shutdown read (instead of closures over the start-up's bindings).
 */
export interface ServiceParts {
  readonly config: ServiceConfig;
  readonly metrics: ServiceMetrics;
  now(): number;
  log(msg: string): void;
  readonly balance: BalanceAdapter;
  /** Undefined when training is off. */
  readonly model: Trainer | undefined;
  readonly ledger: IngestLedger;
  readonly source: KafkaSource;
  readonly checkpointer: Checkpointer;
  readonly deadLetters: DeadLetterSink;
  readonly serving: Serving;
  readonly scaleOut: ScaleOut;
  readonly schemaIds: SchemaIdGate;
  readonly lifecycle: Lifecycle;
  /** The checkpoint restored at start (null: started fresh) and its counts (null without a model). */
  readonly restored: { seq: number | null; counts: RestoredCounts | null };
}

/** Reads the parts at one instant for the /state document. */
export function stateReadings(p: ServiceParts): StateReadings {
  const { model, source, checkpointer, deadLetters } = p;
  const view = p.balance.view();
  return {
    readiness: readinessOf(p),
    view,
    trainingSamples: p.balance.composedSamples(),
    model: model === undefined ? undefined : { version: model.version, steps: model.steps, nativeBackend: model.nativeBackend, trainedEvents: model.trainedEvents, stats: model.stats(), evaluation: model.evaluation() },
    trainerThread: p.config.trainerThread,
    ledger: p.ledger.snapshot(),
    topic: p.config.topic,
    serving: { tailShare: p.serving.tailShare(), produced: p.serving.producedCount },
    consumer: { up: source.isUp, paused: source.paused, pauses: source.pauses, inFlight: source.inFlightEvents, assigned: source.assignedPartitions, crashes: source.crashCount, lag: source.lagByPartition },
    deadLetters: { sent: deadLetters.sent, pending: deadLetters.pending, truncated: deadLetters.truncated, dropped: deadLetters.dropped },
    checkpoint: { seq: checkpointer.lastSequence, ageSeconds: checkpointer.ageSeconds(), committed: checkpointer.committedOffsets, restoredFrom: p.restored.seq, restored: p.restored.counts },
    global: p.scaleOut.state(view.windowCounts),
  };
}

/** The /state document of the running service. */
export function serviceState(p: ServiceParts): ServiceState {
  return stateDocument(stateReadings(p));
}
