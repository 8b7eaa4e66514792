/**
 * The event contract's bounds (src/codec/limits.ts): each field at its limit is valid and
 * one past it is not, with a reason that names the field and its length but never quotes
 * the value; the payload bound refuses longer payloads before decoding, and never a
 * valid event.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_EVENT_PAYLOAD_BYTES,
  MAX_EXTRA_ENTRIES,
  MAX_EXTRA_KEY_LENGTH,
  MAX_EXTRA_VALUE_LENGTH,
  MAX_ID_LENGTH,
  MAX_ID_LENGTH_CEILING,
  createEventCodec,
  createRecommendationCodec,
  makeEvent,
  validateEvent,
  type InteractionEvent,
} from '../../src/codec/index.js';
import { isRebalancerError } from '../../src/errors.js';

const codec = createEventCodec();

const base = (over: Partial<InteractionEvent> = {}): InteractionEvent => ({
  ...makeEvent({ eventId: 'e1', userId: 'u1', itemId: 'i1', categoryId: 'c1', type: 'click', eventTime: Date.UTC(2026, 0, 1) }),
  ...over,
});

/** A string of `n` UTF-16 code units, each 3 UTF-8 bytes (the worst case on the wire). */
const wide = (n: number): string => '€'.repeat(n);

function extras(entries: number, keyLength = 8, valueLength = 8): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < entries; i++) out[`k${String(i).padStart(keyLength - 1, '0')}`] = 'v'.repeat(valueLength);
  return out;
}

describe('event field bounds', () => {
  it('the limits are the documented ones', () => {
    assert.equal(MAX_ID_LENGTH, 256);
    assert.equal(MAX_EXTRA_ENTRIES, 32);
    assert.equal(MAX_EXTRA_KEY_LENGTH, 64);
    assert.equal(MAX_EXTRA_VALUE_LENGTH, 256);
    assert.equal(MAX_EVENT_PAYLOAD_BYTES, 65_536);
  });

  for (const field of ['eventId', 'userId', 'itemId', 'categoryId', 'sessionId'] as const) {
    it(`${field}: ${MAX_ID_LENGTH} characters are accepted, ${MAX_ID_LENGTH + 1} rejected naming field and length`, () => {
      assert.equal(validateEvent(base({ [field]: wide(MAX_ID_LENGTH) })), undefined);
      const reason = validateEvent(base({ [field]: 'x'.repeat(MAX_ID_LENGTH + 1) }));
      assert.equal(reason, `too long: ${field} has ${MAX_ID_LENGTH + 1} characters (limit ${MAX_ID_LENGTH})`);
    });
  }

  it('a 900 KB userId is rejected by length, and the reason does not carry the value', () => {
    const reason = validateEvent(base({ userId: 'u'.repeat(900_000) }));
    assert.equal(reason, `too long: userId has 900000 characters (limit ${MAX_ID_LENGTH})`);
  });

  it(`extra: ${MAX_EXTRA_ENTRIES} entries are accepted, ${MAX_EXTRA_ENTRIES + 1} rejected`, () => {
    assert.equal(validateEvent(base({ extra: extras(MAX_EXTRA_ENTRIES) })), undefined);
    assert.equal(validateEvent(base({ extra: extras(MAX_EXTRA_ENTRIES + 1) })), `too long: extra has more than ${MAX_EXTRA_ENTRIES} entries`);
  });

  it(`extra keys: ${MAX_EXTRA_KEY_LENGTH} characters are accepted, ${MAX_EXTRA_KEY_LENGTH + 1} rejected`, () => {
    assert.equal(validateEvent(base({ extra: { [wide(MAX_EXTRA_KEY_LENGTH)]: 'v' } })), undefined);
    assert.equal(validateEvent(base({ extra: { ['k'.repeat(MAX_EXTRA_KEY_LENGTH + 1)]: 'v' } })), `too long: an extra key has ${MAX_EXTRA_KEY_LENGTH + 1} characters (limit ${MAX_EXTRA_KEY_LENGTH})`);
  });

  it(`extra values: ${MAX_EXTRA_VALUE_LENGTH} characters are accepted, ${MAX_EXTRA_VALUE_LENGTH + 1} rejected`, () => {
    assert.equal(validateEvent(base({ extra: { campaign: wide(MAX_EXTRA_VALUE_LENGTH) } })), undefined);
    assert.equal(validateEvent(base({ extra: { campaign: 'v'.repeat(MAX_EXTRA_VALUE_LENGTH + 1) } })), `too long: extra value of key campaign has ${MAX_EXTRA_VALUE_LENGTH + 1} characters (limit ${MAX_EXTRA_VALUE_LENGTH})`);
  });

  it('empty ids are still reported as empty (not as a length problem)', () => {
    assert.equal(validateEvent(base({ userId: '' })), 'empty userId');
  });
});

describe('event payload bound', () => {
  /** An encoded event of exactly `bytes` bytes (fields past their bounds: decode does not validate). */
  function payloadOf(bytes: number): { buf: Buffer; itemIdLength: number } {
    // The itemId's length prefix is a varint: try lengths around the target until one lands exactly.
    const overhead = codec.encode(base({ itemId: '' })).length;
    for (let n = bytes - overhead - 4; n <= bytes - overhead; n++) {
      const buf = codec.encode(base({ itemId: 'i'.repeat(n) }));
      if (buf.length === bytes) return { buf, itemIdLength: n };
    }
    throw new Error(`no payload of exactly ${bytes} bytes`);
  }

  it(`decodes a payload of exactly ${MAX_EVENT_PAYLOAD_BYTES} bytes and refuses one byte more, unread, with REB_DECODE_TOO_LARGE`, () => {
    const atLimit = payloadOf(MAX_EVENT_PAYLOAD_BYTES);
    assert.equal(atLimit.buf.length, MAX_EVENT_PAYLOAD_BYTES);
    assert.equal(codec.decode(atLimit.buf).itemId.length, atLimit.itemIdLength);
    const over = payloadOf(MAX_EVENT_PAYLOAD_BYTES + 1).buf;
    assert.throws(
      () => codec.decode(over),
      (e: unknown) => isRebalancerError(e, 'REB_DECODE_TOO_LARGE') && e.message === `InteractionEvent: payload of ${MAX_EVENT_PAYLOAD_BYTES + 1} bytes is over the ${MAX_EVENT_PAYLOAD_BYTES}-byte limit`,
    );
    // Refused before framing is looked at: even garbage of that size gets the size error.
    assert.throws(() => codec.decode(Buffer.alloc(MAX_EVENT_PAYLOAD_BYTES + 1)), (e: unknown) => isRebalancerError(e, 'REB_DECODE_TOO_LARGE'));
  });

  it('the largest valid event (every bound reached with 3-byte characters) encodes well under the payload bound and round-trips', () => {
    const extra: Record<string, string> = {};
    for (let i = 0; i < MAX_EXTRA_ENTRIES; i++) extra[`${String(i).padStart(2, '0')}${wide(MAX_EXTRA_KEY_LENGTH - 2)}`] = wide(MAX_EXTRA_VALUE_LENGTH);
    const e = base({ eventId: wide(MAX_ID_LENGTH), userId: wide(MAX_ID_LENGTH), itemId: wide(MAX_ID_LENGTH), categoryId: wide(MAX_ID_LENGTH), sessionId: wide(MAX_ID_LENGTH), price: 1, extra });
    assert.equal(validateEvent(e), undefined);
    const buf = codec.encode(e);
    assert.ok(buf.length > 30_000 && buf.length <= 36_000, `worst-case valid event is ${buf.length} bytes (README: about 35 KB)`);
    assert.ok(buf.length < MAX_EVENT_PAYLOAD_BYTES);
    assert.deepEqual({ ...codec.decode(buf), extra: { ...codec.decode(buf).extra } }, e);
  });

  it('the recommendation codec is not bounded by the event payload limit', () => {
    const rc = createRecommendationCodec();
    const msg = { userId: 'u', items: Array.from({ length: 2_000 }, (_, i) => ({ itemId: `item-${i}-${'x'.repeat(30)}`, categoryId: 'c', score: i })), modelVersion: 'v1', generatedAt: 0 };
    const buf = rc.encode(msg);
    assert.ok(buf.length > MAX_EVENT_PAYLOAD_BYTES);
    assert.equal(rc.decode(buf).items.length, 2_000);
  });
});

describe('--max-id-length', () => {
  it('validateEvent takes the configured id bound (at it accepted, one past it refused); the default is MAX_ID_LENGTH', () => {
    assert.equal(validateEvent(base({ userId: 'u'.repeat(32) }), 32), undefined);
    assert.match(validateEvent(base({ userId: 'u'.repeat(33) }), 32) ?? '', /userId has 33 characters \(limit 32\)/);
    assert.match(validateEvent(base({ itemId: 'i'.repeat(33) }), 32) ?? '', /itemId has 33 characters \(limit 32\)/);
    assert.equal(validateEvent(base({ userId: 'u'.repeat(MAX_ID_LENGTH) })), undefined);
    assert.notEqual(validateEvent(base({ userId: 'u'.repeat(MAX_ID_LENGTH + 1) })), undefined);
  });

  it('the largest allowed bound still fits the payload bound: an event with every id at MAX_ID_LENGTH_CEILING in 3-byte characters encodes under MAX_EVENT_PAYLOAD_BYTES', () => {
    const id = '€'.repeat(MAX_ID_LENGTH_CEILING);
    const extra: Record<string, string> = {};
    for (let i = 0; i < MAX_EXTRA_ENTRIES; i++) extra[`${i}`.padEnd(MAX_EXTRA_KEY_LENGTH, '€')] = '€'.repeat(MAX_EXTRA_VALUE_LENGTH);
    const e = base({ eventId: id, userId: id, itemId: id, categoryId: id, sessionId: id, extra });
    assert.equal(validateEvent(e, MAX_ID_LENGTH_CEILING), undefined);
    const bytes = createEventCodec().encode(e).length;
    assert.ok(bytes < MAX_EVENT_PAYLOAD_BYTES, `${bytes} bytes`);
  });
});
