import type { EventType } from '../../src/codec/types.js';
import type { ReferenceEvent, ReferenceScorer, ScoredItem } from '../../src/baselines/index.js';

let clock = 1_000_000;

/** An event for user u on item i (category = first letter of the item id). */
export function ev(userId: string, itemId: string, type: EventType = 'click'): ReferenceEvent {
  return { userId, itemId, categoryId: `c-${itemId.slice(0, 1)}`, type, eventTime: clock++ };
}

export function items(...ids: string[]): ScoredItem[] {
  return ids.map((itemId) => ({ itemId, categoryId: `c-${itemId.slice(0, 1)}` }));
}

/** The scorer's scores for `ids` as a plain array. */
export function scores(s: ReferenceScorer, userId: string, ids: readonly string[]): number[] {
  const out = new Float64Array(ids.length);
  s.score(userId, items(...ids), out);
  return [...out];
}
