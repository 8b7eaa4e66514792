import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import avro from 'avsc';
import { createEventCodec, createRecommendationCodec, makeEvent, validateEvent, type InteractionEvent } from '../../src/codec/index.js';
import { INTERACTION_EVENT_V1, INTERACTION_EVENT_V2 } from '../../src/codec/schemas.js';
import { isRebalancerError, type ErrorCode } from '../../src/errors.js';
import { Rng } from '../../src/balance/rng.js';

const codec = createEventCodec();

function sampleEvent(i: number, extra = false): InteractionEvent {
  return makeEvent({
    eventId: `e-${i}`,
    userId: `u-${i % 17}`,
    itemId: `i-${i % 101}`,
    categoryId: `c-${i % 7}`,
    type: (['view', 'click', 'add_to_cart', 'purchase'] as const)[i % 4]!,
    eventTime: 1_767_225_600_000 + i * 1000,
    ...(extra ? { price: 19.99, sessionId: `s-${i}`, extra: { campaign: 'spring', ü: 'ñ' } } : {}),
  });
}

function decodeError(buf: Buffer): { code: ErrorCode; message: string } {
  try {
    codec.decode(buf);
  } catch (err) {
    assert.ok(isRebalancerError(err), `expected a RebalancerError, got ${String(err)}`);
    return { code: err.code, message: err.message };
  }
  assert.fail('decode should have thrown');
}

describe('event codec', () => {
  it('round-trips events with and without optional fields', () => {
    for (let i = 0; i < 200; i++) {
      const e = sampleEvent(i, i % 2 === 0);
      assert.deepEqual({ ...codec.decode(codec.encode(e)) }, e);
    }
  });

  it('frames with the Avro single-object marker and the writer schema fingerprint', () => {
    const buf = codec.encode(sampleEvent(1));
    assert.equal(buf[0], 0xc3);
    assert.equal(buf[1], 0x01);
    assert.equal(buf.subarray(2, 10).toString('hex'), codec.currentFingerprint);
  });

  it('reads v1 data with the v2 reader, filling defaults', () => {
    const e = sampleEvent(3, true);
    const decoded = codec.decode(codec.encodeVersion(1, e));
    assert.deepEqual({ ...decoded }, { ...e, price: null, sessionId: null, extra: {} });
  });

  it('v2 data resolves into a v1 reader (forward compatibility of the contract)', () => {
    const v1 = avro.Type.forSchema(INTERACTION_EVENT_V1 as unknown as avro.Schema);
    const v2 = avro.Type.forSchema(INTERACTION_EVENT_V2 as unknown as avro.Schema);
    const e = sampleEvent(5, true);
    const body = codec.encode(e).subarray(10);
    const old = v1.fromBuffer(body, v1.createResolver(v2)) as Record<string, unknown>;
    assert.deepEqual({ ...old }, { eventId: e.eventId, userId: e.userId, itemId: e.itemId, categoryId: e.categoryId, type: e.type, eventTime: e.eventTime });
  });

  it('gives typed errors for truncated payloads at every cut point', () => {
    const buf = codec.encode(sampleEvent(7, true));
    for (let cut = 0; cut < buf.length; cut++) {
      const { code } = decodeError(buf.subarray(0, cut));
      assert.ok(['REB_DECODE_TRUNCATED', 'REB_DECODE_BAD_FRAMING', 'REB_DECODE_INVALID'].includes(code), `cut ${cut}: ${code}`);
      if (cut >= 10) assert.notEqual(code, 'REB_DECODE_BAD_FRAMING');
    }
    assert.equal(decodeError(buf.subarray(0, buf.length - 1)).code, 'REB_DECODE_TRUNCATED');
  });

  it('gives a framing error for random bytes and never crashes', () => {
    const rng = new Rng(11);
    for (let i = 0; i < 500; i++) {
      const buf = Buffer.alloc(1 + rng.int(64));
      for (let j = 0; j < buf.length; j++) buf[j] = rng.int(256);
      if (buf[0] === 0xc3 || buf[0] === 0x00) buf[0] = 0x01; // neither framing (0x00 is Confluent's magic byte)
      assert.equal(decodeError(buf).code, 'REB_DECODE_BAD_FRAMING');
    }
  });

  it('gives REB_DECODE_UNKNOWN_SCHEMA naming the fingerprint', () => {
    const buf = Buffer.from(codec.encode(sampleEvent(2)));
    buf.fill(0xab, 2, 10);
    const err = decodeError(buf);
    assert.equal(err.code, 'REB_DECODE_UNKNOWN_SCHEMA');
    assert.match(err.message, /abababababababab/);
  });

  it('rejects trailing bytes and invalid enum indexes', () => {
    const buf = codec.encode(sampleEvent(2));
    assert.equal(decodeError(Buffer.concat([buf, Buffer.from([0])])).code, 'REB_DECODE_INVALID');
    // Body after 4 strings "e-2","u-2","i-2","c-2": set the enum varint to 9 (index out of range).
    const body = Buffer.from(buf);
    const enumAt = 10 + 4 * 4;
    body[enumAt] = 18;
    assert.ok(['REB_DECODE_INVALID', 'REB_DECODE_TRUNCATED'].includes(decodeError(body).code));
  });

  it('refuses to encode values that do not match the schema', () => {
    assert.throws(() => codec.encode({ ...sampleEvent(1), type: 'like' as InteractionEvent['type'] }), (e: unknown) => isRebalancerError(e, 'REB_ENCODE_INVALID'));
  });

  it('validates event semantics beyond the schema', () => {
    assert.equal(validateEvent(sampleEvent(1)), undefined);
    assert.match(validateEvent({ ...sampleEvent(1), categoryId: '' }) ?? '', /categoryId/);
    assert.match(validateEvent({ ...sampleEvent(1), eventTime: -5 }) ?? '', /eventTime/);
    assert.match(validateEvent({ ...sampleEvent(1), eventTime: Number.NaN }) ?? '', /eventTime/);
    assert.match(validateEvent({ ...sampleEvent(1), price: -1 }) ?? '', /price/);
  });
});

describe('recommendation codec', () => {
  it('round-trips a ranked list', () => {
    const rc = createRecommendationCodec();
    const msg = { userId: 'u-1', items: [{ itemId: 'i-1', categoryId: 'c-1', score: 0.75 }, { itemId: 'i-2', categoryId: 'c-9', score: -1.5 }], modelVersion: 'v3', generatedAt: 1_767_225_600_000 };
    const back = rc.decode(rc.encode(msg));
    assert.deepEqual(JSON.parse(JSON.stringify(back)), msg);
  });
});
