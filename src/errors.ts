/**
 * One error class for the project, with a closed catalogue of codes. Callers branch
 * on `code` (and `retriable`), never on message text. Every code is documented in
 * README.md ("Error codes"); test/errors.test.ts keeps the two in sync.
 */
export const ERROR_CODES = {
  REB_CONFIG_INVALID: { retriable: false, http: 500, doc: 'A configuration value is missing or malformed; the message names the setting and the expected form.' },
  REB_DECODE_TRUNCATED: { retriable: false, http: 500, doc: 'An Avro payload ended before the record was complete.' },
  REB_DECODE_BAD_FRAMING: { retriable: false, http: 500, doc: 'A payload starts with neither the Avro single-object marker (0xC3 0x01) nor the Confluent magic byte (0x00).' },
  REB_DECODE_UNKNOWN_SCHEMA_ID: { retriable: true, http: 500, doc: 'A Confluent-framed payload names a schema id the codec has not learned yet; the caller fetches it from the schema registry and decodes again.' },
  REB_DECODE_UNKNOWN_SCHEMA: { retriable: false, http: 500, doc: 'The payload carries a schema fingerprint that no known schema version has.' },
  REB_DECODE_INVALID: { retriable: false, http: 500, doc: 'The payload decoded but is not a valid record (bad bytes, trailing data, invalid union branch).' },
  REB_DECODE_TOO_LARGE: { retriable: false, http: 500, doc: 'A payload is longer than the codec decodes (64 KiB for events); it is refused unread.' },
  REB_EVENT_INVALID: { retriable: false, http: 500, doc: 'A decoded event fails validation (empty or over-long field, unknown type, impossible timestamp).' },
  REB_ENCODE_INVALID: { retriable: false, http: 500, doc: 'A value given to the encoder does not match the schema.' },
  REB_BALANCE_INVALID: { retriable: false, http: 500, doc: 'A balance-core component was constructed or called with invalid arguments.' },
  REB_MODEL_INVALID: { retriable: false, http: 500, doc: 'A model operation was called with invalid arguments (empty candidate set, K <= 0, shape mismatch).' },
  REB_MODEL_BACKEND: { retriable: false, http: 500, doc: 'The native TensorFlow backend is required but not loaded.' },
  REB_CHECKPOINT_CORRUPT: { retriable: false, http: 500, doc: 'A checkpoint on disk is incomplete or fails its checksum; it is skipped. When checkpoints exist and none verifies, the service refuses to start (naming each and why) unless --allow-empty-restore.' },
  REB_TRAINER_DIED: { retriable: true, http: 503, doc: 'The trainer worker thread died (or failed to start); it is restarted from its last state, and a batch that kills two workers in a row is dropped.' },
  REB_KAFKA_UNAVAILABLE: { retriable: true, http: 503, doc: 'The Kafka cluster could not be reached or did not become ready in time.' },
  REB_KAFKA_AUTH_FAILED: { retriable: false, http: 503, doc: 'Kafka refused the client: SASL authentication failed (wrong user name or password, or the mechanism is not enabled on the listener) or the TLS handshake failed (the broker certificate does not verify against --kafka-ssl-ca); not retried, the message names the brokers and the settings to check (never the password).' },
  REB_PIPELINE_FAILED: { retriable: false, http: 503, doc: 'An unexpected error stopped the streaming pipeline; /readyz fails and the service exits non-zero without a final checkpoint (a restart resumes from the last one).' },
  REB_KAFKA_CONSUMER_DEAD: { retriable: false, http: 503, doc: 'The Kafka consumer stopped (crash or restart loop); the service exits non-zero.' },
  REB_REGISTRY_UNAVAILABLE: { retriable: true, http: 503, doc: 'The schema registry did not answer (connection refused, timeout, 5xx); messages that need it wait and are retried, none is dead-lettered for it.' },
  REB_REGISTRY_REJECTED: { retriable: false, http: 500, doc: 'The schema registry refused a request that cannot succeed as sent (e.g. a schema incompatible with the subject\'s BACKWARD rule), or answered in an unexpected form; the message quotes its error code.' },
  REB_LOCAL_KAFKA: { retriable: false, http: 500, doc: 'The local Kafka broker could not be installed, formatted or started.' },
  REB_INPUT_INVALID: { retriable: false, http: 500, doc: 'A command-line input (file, flag, row) could not be used; the message says which and why.' },
  REB_SOURCE_RETENTION: { retriable: false, http: 500, doc: 'A source topic no longer holds the requested records: its log start offset moved past them (deleted by time retention or a delete-records request); the message names the topic, the partitions and log start vs requested offsets.' },
  REB_HTTP_BAD_REQUEST: { retriable: false, http: 400, doc: 'An HTTP request has a bad parameter; answered with 400 and this code.' },
  REB_HTTP_OVERLOADED: { retriable: true, http: 503, doc: 'The thread answering HTTP (the serving thread, or the main thread inline) is saturated: /recommendations is shed at once with 503, this code and a Retry-After header (the other routes are never shed); retry after that many seconds.' },
  REB_HTTP_NOT_FOUND: { retriable: false, http: 404, doc: 'An HTTP request for a route the service does not have; answered with 404 and this code.' },
  REB_SERVING_FAILED: { retriable: false, http: 503, doc: 'The serving thread (HTTP and recommendations) could not start, e.g. the HTTP host does not resolve or the port is taken, or it exited; the service does not start, or stops being ready.' },
  REB_INTERNAL: { retriable: false, http: 500, doc: 'An unexpected internal error while answering an HTTP request: the client gets 500 with this code and a request id, never the internal message; the service log has the details under that id.' },
  REB_ARGUMENT_INVALID: { retriable: false, http: 500, doc: 'An internal component was constructed or called with invalid arguments: a programming error, not bad input or configuration; the message names the argument.' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The HTTP status an error of this code answers with (4xx: the request; 503: a dependency or capacity, retry; 500: a fault of the service). */
export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CODES[code].http;
}

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

/**
 * The one "invalid value" error: `<name> must be <expected>, got <got>` under `code`, with
 * { setting: name, got } as details (got described as JSON, or its type when it has none).
 */
export function invalidValue(code: ErrorCode, name: string, expected: string, got: unknown, prefix = ''): RebalancerError {
  return new RebalancerError(code, `${prefix}${name} must be ${expected}, got ${describeValue(got)}`, { setting: name, got: describeValue(got) });
}

function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined || v === null) return String(v);
  try {
    return JSON.stringify(v) ?? typeof v;
  } catch {
    return typeof v;
  }
}

export function isRebalancerError(err: unknown, code?: ErrorCode): err is RebalancerError {
  return err instanceof RebalancerError && (code === undefined || err.code === code);
}

/**
 * An error another thread reported as (code, message, stack): a RebalancerError when the code
 * is in the catalogue, a plain Error otherwise; the stack is the thread's.
 */
export function errorFromThread(code: string | null, message: string, stack: string): Error {
  const err = code !== null && isErrorCode(code) ? new RebalancerError(code, message) : new Error(message);
  err.stack = stack;
  return err;
}

function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}
