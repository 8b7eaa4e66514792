/**
 * The Avro wire contract. `schemas/*.avsc` holds the same JSON for other languages and
 * tools; test/codec/schemas.test.ts fails when the two drift apart.
 *
 * Evolution rule: a new version only adds fields with defaults (backward and forward
 * compatible). Older versions stay listed so data written with them still decodes.
 */
export const EVENT_TYPES = ['view', 'click', 'add_to_cart', 'purchase'] as const;

const eventTypeEnum = {
  type: 'enum',
  name: 'EventType',
  namespace: 'com.rebalancer',
  symbols: [...EVENT_TYPES],
} as const;

export const INTERACTION_EVENT_V1 = {
  type: 'record',
  name: 'InteractionEvent',
  namespace: 'com.rebalancer',
  doc: 'One user interaction with an item. Version 1.',
  fields: [
    { name: 'eventId', type: 'string', doc: 'Unique id; duplicates are dropped within a horizon.' },
    { name: 'userId', type: 'string' },
    { name: 'itemId', type: 'string' },
    { name: 'categoryId', type: 'string' },
    { name: 'type', type: eventTypeEnum },
    { name: 'eventTime', type: { type: 'long', logicalType: 'timestamp-millis' }, doc: 'Event time, ms since epoch (UTC).' },
  ],
} as const;

export const INTERACTION_EVENT_V2 = {
  type: 'record',
  name: 'InteractionEvent',
  namespace: 'com.rebalancer',
  doc: 'One user interaction with an item. Version 2 adds optional price, session and free-form extras.',
  fields: [
    ...INTERACTION_EVENT_V1.fields,
    { name: 'price', type: ['null', 'double'], default: null, doc: 'Unit price, if known.' },
    { name: 'sessionId', type: ['null', 'string'], default: null },
    { name: 'extra', type: { type: 'map', values: 'string' }, default: {} },
  ],
} as const;

export const RECOMMENDATION_V1 = {
  type: 'record',
  name: 'Recommendation',
  namespace: 'com.rebalancer',
  doc: 'Ranked recommendations for one user. Version 1.',
  fields: [
    { name: 'userId', type: 'string' },
    {
      name: 'items',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'RecommendedItem',
          fields: [
            { name: 'itemId', type: 'string' },
            { name: 'categoryId', type: 'string' },
            { name: 'score', type: 'double' },
          ],
        },
      },
    },
    { name: 'modelVersion', type: 'string' },
    { name: 'generatedAt', type: { type: 'long', logicalType: 'timestamp-millis' } },
  ],
} as const;

/** Every schema version, by file name under schemas/. */
export const SCHEMA_FILES = {
  'interaction-event.v1.avsc': INTERACTION_EVENT_V1,
  'interaction-event.v2.avsc': INTERACTION_EVENT_V2,
  'recommendation.v1.avsc': RECOMMENDATION_V1,
} as const;
