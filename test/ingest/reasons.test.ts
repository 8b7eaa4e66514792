import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_EVENT_TIME, MIN_EVENT_TIME, eventProblem, makeEvent, validateEvent, type InteractionEvent } from '../../src/codec/index.js';
import { REJECT_REASONS, reasonOfValidation } from '../../src/ingest/reasons.js';

const valid = (over: Partial<InteractionEvent> = {}): InteractionEvent => ({ ...makeEvent({ eventId: 'e1', userId: 'u1', itemId: 'i1', categoryId: 'c1', type: 'click', eventTime: Date.UTC(2026, 0, 1) }), ...over });

describe('reject reasons', () => {
  it('map every kind of invalid event to its own bounded label (never processing_error), whatever its message says', () => {
    const cases: [Partial<InteractionEvent>, string][] = [
      [{ eventId: '' }, 'empty_field'],
      [{ categoryId: '' }, 'empty_field'],
      [{ type: 'like' as InteractionEvent['type'] }, 'unknown_type'],
      [{ eventTime: -1 }, 'bad_timestamp'],
      [{ eventTime: MAX_EVENT_TIME + 1 }, 'bad_timestamp'],
      [{ eventTime: Number.NaN }, 'bad_timestamp'],
      [{ price: -1 }, 'bad_price'],
      [{ userId: 'u'.repeat(5000) }, 'field_too_long'],
      [{ extra: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, 'v'])) }, 'field_too_long'],
    ];
    for (const [over, label] of cases) {
      const problem = eventProblem(valid(over));
      assert.ok(problem !== undefined, JSON.stringify(over));
      assert.equal(reasonOfValidation(problem), label, problem.message);
      assert.ok(REJECT_REASONS.includes(reasonOfValidation(problem)));
      // The label never comes from the text: the same kind with another message maps alike.
      assert.equal(reasonOfValidation({ kind: problem.kind, message: 'reworded' }), label);
    }
  });

  it('accept real event times from 1970-01-01 (the 1990s included) up to the far-future bound', () => {
    assert.equal(MIN_EVENT_TIME, Date.UTC(1970, 0, 1));
    assert.equal(MAX_EVENT_TIME, Date.UTC(2100, 0, 1));
    for (const t of [0, Date.UTC(1996, 0, 29), Date.UTC(1999, 11, 31, 23, 59, 59), MAX_EVENT_TIME]) assert.equal(validateEvent(valid({ eventTime: t })), undefined, String(t));
    assert.match(validateEvent(valid({ eventTime: -1 }))!, /^eventTime -1 outside \[1970-01-01, 2100-01-01\]$/);
  });

  it('list each label once, including the watermark check’s future_timestamp', () => {
    assert.equal(new Set(REJECT_REASONS).size, REJECT_REASONS.length);
    assert.ok(REJECT_REASONS.includes('future_timestamp'));
    for (const r of REJECT_REASONS) assert.match(r, /^[a-z_]+$/);
  });
});
