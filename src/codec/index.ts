import { RebalancerError } from '../errors.js';
import { EVENT_TYPES, INTERACTION_EVENT_V1, INTERACTION_EVENT_V2, RECOMMENDATION_V1 } from './schemas.js';
import { SingleObjectCodec } from './single-object.js';
import type { InteractionEvent, RecommendationMessage } from './types.js';

export * from './types.js';
export { EVENT_TYPES, SCHEMA_FILES } from './schemas.js';
export { SingleObjectCodec, HEADER_BYTES } from './single-object.js';

export function createEventCodec(): SingleObjectCodec<InteractionEvent> {
  return new SingleObjectCodec<InteractionEvent>('InteractionEvent', [INTERACTION_EVENT_V1, INTERACTION_EVENT_V2]);
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
 */
export function validateEvent(e: InteractionEvent): string | undefined {
  if (e.eventId.length === 0) return 'empty eventId';
  if (e.userId.length === 0) return 'empty userId';
  if (e.itemId.length === 0) return 'empty itemId';
  if (e.categoryId.length === 0) return 'empty categoryId';
  if (!EVENT_TYPE_SET.has(e.type)) return `unknown event type ${String(e.type)}`;
  if (!Number.isFinite(e.eventTime) || e.eventTime < MIN_EVENT_TIME || e.eventTime > MAX_EVENT_TIME) return `eventTime ${e.eventTime} outside [1970-01-01, 2100-01-01]`;
  if (e.price !== null && !(e.price >= 0 && Number.isFinite(e.price))) return `price ${e.price} is not a finite non-negative number`;
  return undefined;
}

export function assertValidEvent(e: InteractionEvent): void {
  const reason = validateEvent(e);
  if (reason !== undefined) throw new RebalancerError('REB_EVENT_INVALID', `invalid event ${e.eventId}: ${reason}`, { reason });
}
