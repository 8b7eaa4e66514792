/**
 * One error class for the project, with a closed catalogue of codes. Callers branch
 * on `code` (and `retriable`), never on message text. Every code is documented in
 * README.md ("Error codes"); test/errors.test.ts keeps the two in sync.
 */
export const ERROR_CODES = {
  REB_CONFIG_INVALID: { retriable: false, doc: 'A configuration value is missing or malformed; the message names the setting and the expected form.' },
  REB_DECODE_TRUNCATED: { retriable: false, doc: 'An Avro payload ended before the record was complete.' },
  REB_DECODE_BAD_FRAMING: { retriable: false, doc: 'A payload does not start with the Avro single-object marker (0xC3 0x01).' },
  REB_DECODE_UNKNOWN_SCHEMA: { retriable: false, doc: 'The payload carries a schema fingerprint that no known schema version has.' },
  REB_DECODE_INVALID: { retriable: false, doc: 'The payload decoded but is not a valid record (bad bytes, trailing data, invalid union branch).' },
  REB_EVENT_INVALID: { retriable: false, doc: 'A decoded event fails validation (empty id, unknown type, impossible timestamp).' },
  REB_ENCODE_INVALID: { retriable: false, doc: 'A value given to the encoder does not match the schema.' },
  REB_BALANCE_INVALID: { retriable: false, doc: 'A balance-core component was constructed or called with invalid arguments.' },
  REB_MODEL_INVALID: { retriable: false, doc: 'A model operation was called with invalid arguments (empty candidate set, K <= 0, shape mismatch).' },
  REB_MODEL_BACKEND: { retriable: false, doc: 'The native TensorFlow backend is required but not loaded.' },
  REB_CHECKPOINT_CORRUPT: { retriable: false, doc: 'A checkpoint on disk is incomplete or fails its checksum; it is skipped.' },
  REB_KAFKA_UNAVAILABLE: { retriable: true, doc: 'The Kafka cluster could not be reached or did not become ready in time.' },
  REB_KAFKA_CONSUMER_DEAD: { retriable: false, doc: 'The Kafka consumer stopped (crash or restart loop); the service exits non-zero.' },
  REB_LOCAL_KAFKA: { retriable: false, doc: 'The local Kafka broker could not be installed, formatted or started.' },
  REB_INPUT_INVALID: { retriable: false, doc: 'A command-line input (file, flag, row) could not be used; the message says which and why.' },
  REB_HTTP_BAD_REQUEST: { retriable: false, doc: 'An HTTP request has a bad parameter; answered with 400 and this code.' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class RebalancerError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RebalancerError';
    this.code = code;
    this.retriable = ERROR_CODES[code].retriable;
    this.details = details;
  }
}

export function isRebalancerError(err: unknown, code?: ErrorCode): err is RebalancerError {
  return err instanceof RebalancerError && (code === undefined || err.code === code);
}
