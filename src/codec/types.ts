import type { EVENT_TYPES } from './schemas.js';

export type EventType = (typeof EVENT_TYPES)[number];

/** A decoded interaction event (the current schema version's shape). */
export interface InteractionEvent {
  eventId: string;
  userId: string;
  itemId: string;
  categoryId: string;
  type: EventType;
  /** Event time in ms since the epoch. */
  eventTime: number;
  price: number | null;
  sessionId: string | null;
  extra: Record<string, string>;
}

export interface RecommendedItem {
  itemId: string;
  categoryId: string;
  score: number;
}

export interface RecommendationMessage {
  userId: string;
  items: RecommendedItem[];
  modelVersion: string;
  generatedAt: number;
}

/** The fields an event may be built without (price and sessionId then null, extra empty). */
type OptionalEventField = 'price' | 'sessionId' | 'extra';

/** Builds an event with every field present, so all events share one hidden class. */
export function makeEvent(fields: Omit<InteractionEvent, OptionalEventField> & Partial<Pick<InteractionEvent, OptionalEventField>>): InteractionEvent {
  return {
    eventId: fields.eventId,
    userId: fields.userId,
    itemId: fields.itemId,
    categoryId: fields.categoryId,
    type: fields.type,
    eventTime: fields.eventTime,
    price: fields.price ?? null,
    sessionId: fields.sessionId ?? null,
    extra: fields.extra ?? {},
  };
}
