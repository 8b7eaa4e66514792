import type { ServiceConfig } from '../config/index.js';
import type { RebalancerError } from '../errors.js';
import type { Readiness } from '../http/server.js';
import type { RegistryOutage } from '../ingest/schema-ids.js';
import { ServingThread, type Serving } from '../serve/index.js';

/**
 * The readiness contract: each reason /readyz can give, as a bounded label
 * (`rebalancer_not_ready{reason}`, alert RebalancerNotReady, runbook in docs/operations.md).
 */
export const NOT_READY_REASONS = [
  'starting',
  'pipeline_failed',
  'consumer_dead',
  'consumer_down',
  'not_assigned',
  'kafka_silent',
  'dlq_stalled',
  'checkpoint_stalled',
  'trainer_unhealthy',
  'serving_down',
  'schema_registry_unavailable',
  'stopping',
] as const;

export type NotReadyReason = (typeof NOT_READY_REASONS)[number];

/** One failed readiness check: its label and the sentence /readyz shows. */
export interface NotReady {
  reason: NotReadyReason;
  text: string;
}

/** What the readiness checks read (the running service's parts, src/service/parts.ts). */
export interface ReadinessParts {
  readonly config: Pick<ServiceConfig, 'brokerSilenceMs' | 'dlqStallMs' | 'checkpointStallMs'>;
  now(): number;
  readonly lifecycle: { readonly deadError: RebalancerError | undefined; readonly stopping: boolean };
  readonly source: { readonly isUp: boolean; readonly assignedPartitions: readonly number[]; silenceMs(): number };
  readonly deadLetters: { readonly pending: number; oldestPendingAgeMs(now: number): number };
  readonly checkpointer: { ageSeconds(): number; readonly lastFailure: string | undefined };
  readonly schemaIds: { readonly outage: RegistryOutage | undefined; readonly waiting: number };
  readonly serving: Serving;
  readonly model: { stats(): { healthy: boolean } } | undefined;
}

/** The readiness checks failing now, in the order /readyz lists them. */
export function notReady(p: ReadinessParts): NotReady[] {
  const out: NotReady[] = [];
  const fail = (reason: NotReadyReason, text: string): void => {
    out.push({ reason, text });
  };
  const { config, source, deadLetters, checkpointer } = p;
  const deadError = p.lifecycle.deadError;
  if (deadError) fail(deadError.code === 'REB_PIPELINE_FAILED' ? 'pipeline_failed' : 'consumer_dead', deadError.code === 'REB_PIPELINE_FAILED' ? deadError.message : `consumer dead: ${deadError.message}`);
  else if (!source.isUp) fail('consumer_down', 'Kafka consumer is not running');
  if (source.assignedPartitions.length === 0) fail('not_assigned', 'no partition assigned yet');
  if (p.lifecycle.stopping) fail('stopping', 'shutting down');
  const silence = source.silenceMs();
  if (!deadError && silence > config.brokerSilenceMs) fail('kafka_silent', `no answer from Kafka for ${(silence / 1000).toFixed(0)} s: fetches and heartbeats fail (broker down or unreachable)`);
  const dlqAge = deadLetters.oldestPendingAgeMs(p.now());
  if (dlqAge > config.dlqStallMs) fail('dlq_stalled', `the dead-letter path is stalled: ${deadLetters.pending} dead letters pending, the oldest for ${(dlqAge / 1000).toFixed(0)} s (checkpoints and offset commits wait for it)`);
  const checkpointAge = checkpointer.ageSeconds();
  if (checkpointAge * 1000 > config.checkpointStallMs) {
    const why = checkpointer.lastFailure === undefined ? '' : `; the last attempt failed: ${checkpointer.lastFailure}`;
    fail('checkpoint_stalled', `no checkpoint for ${checkpointAge.toFixed(0)} s (--checkpoint-stall-ms ${config.checkpointStallMs}), so no offsets committed${why}`);
  }
  const outage = p.schemaIds.outage;
  if (outage !== undefined) fail('schema_registry_unavailable', `${p.schemaIds.waiting} events wait for Confluent schema id ${outage.schemaId}: the schema registry has not answered for ${((p.now() - outage.since) / 1000).toFixed(0)} s (retrying; nothing is dead-lettered meanwhile): ${outage.error}`);
  if (p.serving instanceof ServingThread && !p.serving.alive) fail('serving_down', 'the serving thread exited (HTTP recommendations are down)');
  if (p.model && !p.model.stats().healthy) fail('trainer_unhealthy', 'the trainer thread died 3 times within 10 minutes (rebalancer_trainer_worker_restarts_total)');
  return out;
}

/** /readyz: ready when no check fails, with each failing check's sentence. */
export function readinessOf(p: ReadinessParts): Readiness {
  const failing = notReady(p);
  return { ready: failing.length === 0, reasons: failing.map((f) => f.text) };
}
