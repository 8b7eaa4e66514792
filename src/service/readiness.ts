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
