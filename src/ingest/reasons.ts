import type { EventProblem } from '../codec/index.js';
import type { ErrorCode } from '../errors.js';

/**
 * Bounded reason labels for rejected events: the `reason` label of
 * rebalancer_events_invalid_total / rebalancer_dlq_messages_total and the
 * `rebalancer.reason` DLQ header. Free-text detail goes in the message header only.
 */
export type RejectReason =
  | 'empty_payload'
  | 'payload_too_large'
  | 'bad_framing'
  | 'truncated'
  | 'unknown_schema'
  | 'undecodable'
  | 'empty_field'
  | 'field_too_long'
  | 'unknown_type'
  | 'bad_timestamp'
  | 'bad_price'
  | 'future_timestamp'
  | 'processing_error';

export const REJECT_REASONS: readonly RejectReason[] = ['empty_payload', 'payload_too_large', 'bad_framing', 'truncated', 'unknown_schema', 'undecodable', 'empty_field', 'field_too_long', 'unknown_type', 'bad_timestamp', 'bad_price', 'future_timestamp', 'processing_error'];

export function reasonOfDecodeError(code: ErrorCode | undefined): RejectReason {
  switch (code) {
    case 'REB_DECODE_TOO_LARGE': return 'payload_too_large';
    case 'REB_DECODE_BAD_FRAMING': return 'bad_framing';
    case 'REB_DECODE_TRUNCATED': return 'truncated';
    case 'REB_DECODE_UNKNOWN_SCHEMA': return 'unknown_schema';
    case 'REB_DECODE_UNKNOWN_SCHEMA_ID': return 'unknown_schema';
    default: return 'undecodable';
  }
}

/** The bounded label of an invalid event: its problem's kind (codec/index.ts eventProblem), never its message text. */
export function reasonOfValidation(problem: EventProblem): RejectReason {
  return problem.kind;
}
