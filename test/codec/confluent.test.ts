/**
 * The Confluent wire format next to single-object, per message: the same events decode
 * to the same values from either framing and from v1 or v2 writers; an id the codec has not
 * learned is a retriable error naming it; a writer schema the reader cannot resolve is
 * refused when learned; the learned ids are bounded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEventCodec, makeEvent, SingleObjectCodec, type InteractionEvent } from '../../src/codec/index.js';
import { CONFLUENT_HEADER_BYTES, MAX_LEARNED_SCHEMA_IDS } from '../../src/codec/single-object.js';
import { INTERACTION_EVENT_V1, INTERACTION_EVENT_V2 } from '../../src/codec/schemas.js';
import { isRebalancerError, RebalancerError, type ErrorCode } from '../../src/errors.js';

function event(i: number): InteractionEvent {
  return makeEvent({ eventId: `e-${i}`, userId: `u-${i % 5}`, itemId: `i-${i}`, categoryId: `c-${i % 3}`, type: 'click', eventTime: 1_767_225_600_000 + i, ...(i % 2 === 0 ? { price: 9.5, sessionId: `s-${i}`, extra: { k: 'v' } } : {}) });
}

function errorOf(fn: () => unknown): RebalancerError {
  try {
    fn();
  } catch (err) {
    assert.ok(isRebalancerError(err), String(err));
    return err;
  }
  assert.fail('expected a RebalancerError');
}

describe('Confluent wire format', () => {
  it('frames as 0x00 + big-endian id + the Avro body of the same version', () => {
    const codec = createEventCodec();
    const e = event(2);
    const framed = codec.encodeConfluent(0x01020304, e);
    assert.deepEqual([...framed.subarray(0, CONFLUENT_HEADER_BYTES)], [0, 1, 2, 3, 4]);
    // The body is exactly the single-object body (same schema, same value).
    assert.deepEqual(framed.subarray(CONFLUENT_HEADER_BYTES), codec.encode(e).subarray(10));
    assert.equal(SingleObjectCodec.framingOf(framed), 'confluent');
    assert.equal(SingleObjectCodec.framingOf(codec.encode(e)), 'single-object');
    assert.equal(SingleObjectCodec.framingOf(Buffer.from([0x7b])), null);
  });

  it('an unlearned id is a retriable REB_DECODE_UNKNOWN_SCHEMA_ID naming the id; once learned, it decodes', () => {
    const codec = createEventCodec();
    const buf = codec.encodeConfluent(42, event(1));
    const err = errorOf(() => codec.decode(buf));
    assert.equal(err.code satisfies ErrorCode, 'REB_DECODE_UNKNOWN_SCHEMA_ID');
    assert.equal(err.retriable, true);
    assert.equal(err.details.schemaId, 42);
    assert.equal(codec.knowsSchemaId(42), false);
    codec.learnSchemaId(42, INTERACTION_EVENT_V2);
    assert.equal(codec.knowsSchemaId(42), true);
    assert.deepEqual(codec.decode(buf), codec.decode(codec.encode(event(1))));
  });

  it('a mixed stream of both framings and v1/v2 writers decodes to the same values, message by message', () => {
    const writer = createEventCodec();
    const reader = createEventCodec();
    reader.learnSchemaId(1, INTERACTION_EVENT_V1);
    reader.learnSchemaId(2, INTERACTION_EVENT_V2);
    for (let i = 0; i < 40; i++) {
      const e = event(i);
      const version = i % 2 === 0 ? 1 : 2;
      const framed = i % 4 < 2 ? writer.encodeVersion(version, e) : writer.encodeConfluent(version, e, version);
      // The same event written by the same schema version decodes to the same value in either framing.
      assert.deepEqual(reader.decode(framed), reader.decode(writer.encodeVersion(version, e)), `message ${i}`);
      assert.equal(reader.decode(framed).eventId, e.eventId);
    }
  });

  it('a registered schema that is not one of ours but resolvable (a field reordered, one extra) is read into the current shape', () => {
    const codec = createEventCodec();
    const fields: object[] = [...INTERACTION_EVENT_V1.fields].reverse();
    const foreign = { ...INTERACTION_EVENT_V1, fields: [...fields, { name: 'tracking', type: 'string', default: '' }] };
    const writer = new SingleObjectCodec<Record<string, unknown>>('InteractionEvent', [foreign]);
    const e = event(3);
    const body = writer.encode({ ...e, tracking: 'x' }).subarray(10);
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 9]), body]);
    codec.learnSchemaId(9, foreign);
    const decoded = codec.decode(framed);
    assert.equal(decoded.eventId, e.eventId);
    assert.equal(decoded.categoryId, e.categoryId);
    assert.equal(decoded.eventTime, e.eventTime);
  });

  it('refuses to learn a schema the reader cannot resolve, and a non-Avro one', () => {
    const codec = createEventCodec();
    const incompatible = { type: 'record', name: 'InteractionEvent', namespace: INTERACTION_EVENT_V2.namespace, fields: [{ name: 'eventId', type: 'long' }] };
    assert.equal(errorOf(() => codec.learnSchemaId(5, incompatible)).code, 'REB_DECODE_UNKNOWN_SCHEMA');
    assert.equal(errorOf(() => codec.learnSchemaId(6, { type: 'nonsense' })).code, 'REB_DECODE_UNKNOWN_SCHEMA');
    assert.equal(codec.knowsSchemaId(5), false);
  });

  it('a header shorter than 5 bytes is REB_DECODE_TRUNCATED; a cut body too', () => {
    const codec = createEventCodec();
    codec.learnSchemaId(3, INTERACTION_EVENT_V2);
    assert.equal(errorOf(() => codec.decode(Buffer.from([0, 0, 0]))).code, 'REB_DECODE_TRUNCATED');
    const full = codec.encodeConfluent(3, event(4));
    assert.ok(['REB_DECODE_TRUNCATED', 'REB_DECODE_INVALID'].includes(errorOf(() => codec.decode(full.subarray(0, full.length - 3))).code));
  });

  it(`remembers at most ${MAX_LEARNED_SCHEMA_IDS} ids, forgetting the oldest learned`, () => {
    const codec = createEventCodec();
    for (let id = 0; id <= MAX_LEARNED_SCHEMA_IDS; id++) codec.learnSchemaId(id, INTERACTION_EVENT_V2);
    assert.equal(codec.knowsSchemaId(0), false);
    assert.equal(codec.knowsSchemaId(1), true);
    assert.equal(codec.knowsSchemaId(MAX_LEARNED_SCHEMA_IDS), true);
  });
});
