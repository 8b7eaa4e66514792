import { RebalancerError } from '../errors.js';
import { BoundedSingleObjectCodec } from './bounded-codec.js';
import { MAX_EVENT_PAYLOAD_BYTES, MAX_EXTRA_ENTRIES, MAX_EXTRA_KEY_LENGTH, MAX_EXTRA_VALUE_LENGTH, MAX_ID_LENGTH } from './limits.js';
import { EVENT_TYPES, INTERACTION_EVENT_V1, INTERACTION_EVENT_V2, RECOMMENDATION_V1 } from './schemas.js';
import { SingleObjectCodec } from './single-object.js';
import type { InteractionEvent, RecommendationMessage } from './types.js';

export * from './types.js';
export { EVENT_TYPES, SCHEMA_FILES } from './schemas.js';
export { SingleObjectCodec, HEADER_BYTES } from './single-object.js';
export { BoundedSingleObjectCodec } from './bounded-codec.js';
export { MAX_EVENT_PAYLOAD_BYTES, MAX_EXTRA_ENTRIES, MAX_EXTRA_KEY_LENGTH, MAX_EXTRA_VALUE_LENGTH, MAX_ID_LENGTH, MAX_ID_LENGTH_CEILING } from './limits.js';

/** The event codec; it refuses payloads over MAX_EVENT_PAYLOAD_BYTES unread (REB_DECODE_TOO_LARGE). */
export function createEventCodec(): SingleObjectCodec<InteractionEvent> {
  return new BoundedSingleObjectCodec<InteractionEvent>('InteractionEvent', [INTERACTION_EVENT_V1, INTERACTION_EVENT_V2], MAX_EVENT_PAYLOAD_BYTES);
}

export function createRecommendationCodec(): SingleObjectCodec<RecommendationMessage> {
  return new SingleObjectCodec<RecommendationMessage>('Recommendation', [RECOMMENDATION_V1]);
}

const EVENT_TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);

/**
 * Static bounds of a real event time (UTC): from the Unix epoch, 1970-01-01, so real logs
 * of any age import (the service counts old events as late, it does not reject them), up
 * to 2100-01-01, a far-future sanity bound that catches unit mistakes (µs or ns taken for
 * ms land thousands of years ahead). How far ahead of the stream an event may be is the
 * service's decision, relative to its watermark (`--max-future-skew-ms`), not the codec's.
 */
export const MIN_EVENT_TIME = 0;
export const MAX_EVENT_TIME = 4_102_444_800_000;

/**
 * Semantic checks that Avro types cannot express. Returns the reason for the first
 * failure, or undefined when the event is valid; no allocation on the valid path.
 * Reasons never quote an over-long value, only its length (see limits.ts). `maxIdLength`:
 * the id bound (--max-id-length; at most MAX_ID_LENGTH_CEILING, so every valid event fits
 * the payload bound).
 */
/** Why an event is invalid: a bounded kind (the `reason` label of rejects, stream/reasons.ts) and a message. */
export interface EventProblem {
  readonly kind: 'empty_field' | 'field_too_long' | 'unknown_type' | 'bad_timestamp' | 'bad_price';
  readonly message: string;
}

/** The first problem of an event, or undefined when it is valid. */
export function eventProblem(e: InteractionEvent, maxIdLength: number = MAX_ID_LENGTH): EventProblem | undefined {
  const empty = (field: string): EventProblem => ({ kind: 'empty_field', message: `empty ${field}` });
  if (e.eventId.length === 0) return empty('eventId');
  if (e.userId.length === 0) return empty('userId');
  if (e.itemId.length === 0) return empty('itemId');
  if (e.categoryId.length === 0) return empty('categoryId');
  if (e.eventId.length > maxIdLength) return tooLong('eventId', e.eventId.length, maxIdLength);
  if (e.userId.length > maxIdLength) return tooLong('userId', e.userId.length, maxIdLength);
  if (e.itemId.length > maxIdLength) return tooLong('itemId', e.itemId.length, maxIdLength);
  if (e.categoryId.length > maxIdLength) return tooLong('categoryId', e.categoryId.length, maxIdLength);
  if (e.sessionId !== null && e.sessionId.length > maxIdLength) return tooLong('sessionId', e.sessionId.length, maxIdLength);
  const extra = validateExtra(e.extra);
  if (extra !== undefined) return extra;
  if (!EVENT_TYPE_SET.has(e.type)) return { kind: 'unknown_type', message: `unknown event type ${String(e.type)}` };
  if (!Number.isFinite(e.eventTime) || e.eventTime < MIN_EVENT_TIME || e.eventTime > MAX_EVENT_TIME) return { kind: 'bad_timestamp', message: `eventTime ${e.eventTime} outside [1970-01-01, 2100-01-01]` };
  if (e.price !== null && !(e.price >= 0 && Number.isFinite(e.price))) return { kind: 'bad_price', message: `price ${e.price} is not a finite non-negative number` };
  return undefined;
}

/** The message of the event's first problem, or undefined when it is valid. */
export function validateEvent(e: InteractionEvent, maxIdLength: number = MAX_ID_LENGTH): string | undefined {
  return eventProblem(e, maxIdLength)?.message;
}

function tooLong(field: string, length: number, limit: number): EventProblem {
  return { kind: 'field_too_long', message: `too long: ${field} has ${length} characters (limit ${limit})` };
}

function validateExtra(extra: Record<string, string>): EventProblem | undefined {
  let entries = 0;
  for (const key in extra) {
    if (!Object.hasOwn(extra, key)) continue;
    if (++entries > MAX_EXTRA_ENTRIES) return { kind: 'field_too_long', message: `too long: extra has more than ${MAX_EXTRA_ENTRIES} entries` };
    if (key.length > MAX_EXTRA_KEY_LENGTH) return tooLong('an extra key', key.length, MAX_EXTRA_KEY_LENGTH);
    const value = extra[key]!;
    if (value.length > MAX_EXTRA_VALUE_LENGTH) return tooLong(`extra value of key ${key}`, value.length, MAX_EXTRA_VALUE_LENGTH);
  }
  return undefined;
}

export function assertValidEvent(e: InteractionEvent): void {
  const reason = validateEvent(e);
  if (reason !== undefined) throw new RebalancerError('REB_EVENT_INVALID', `invalid event ${e.eventId}: ${reason}`, { reason });
}
