/**
 * Bounds on an event's free strings and on the payload the codec will decode. Part of
 * the event contract (README, "Event contract"): an event over any of them is invalid
 * and goes to the dead-letter topic; nothing of unbounded size reaches the state, the
 * model, the recommendation messages or Kafka keys (kafkajs hashes a message key with
 * its murmur2 partitioner in time that grows faster than the key: 1.5 s at 150 KB,
 * measured here).
 *
 * String lengths are JavaScript string lengths (UTF-16 code units): checking one is O(1)
 * and allocates nothing, which matters on the per-event path. A code unit is at most
 * 3 UTF-8 bytes, so an id at the limit is at most 768 bytes on the wire.
 */

/** eventId, userId, itemId, categoryId and sessionId: UUIDs (36), ULIDs (26), SKUs and slugs fit with room to spare. The default of --max-id-length. */
export const MAX_ID_LENGTH = 256;

/**
 * The largest --max-id-length: 5 ids × 1,024 × 3 bytes plus the largest extras still encode
 * to about 46 KB, under MAX_EVENT_PAYLOAD_BYTES.
 */
export const MAX_ID_LENGTH_CEILING = 1_024;

/** Entries of the free-form `extra` map (schema v2). */
export const MAX_EXTRA_ENTRIES = 32;

/** A key of the `extra` map (an attribute name). */
export const MAX_EXTRA_KEY_LENGTH = 64;

/** A value of the `extra` map (a campaign, a referrer, a short attribute). */
export const MAX_EXTRA_VALUE_LENGTH = 256;

/**
 * The largest payload (framing header included) the event codec decodes; a longer one is
 * refused before avsc reads it (REB_DECODE_TOO_LARGE). Every event within the field limits
 * above encodes to at most about 35 KB (5 ids × 768 bytes + 32 × (64 + 256) × 3 bytes of
 * extras + varints), so this bound never refuses a valid event.
 */
export const MAX_EVENT_PAYLOAD_BYTES = 64 * 1024;
