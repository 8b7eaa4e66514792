/**
 * Bounded inputs in the pipeline, without a broker: a valid-looking event with an
 * over-long field, or a payload over the codec's bound, is dead-lettered with its own
 * bounded reason, counted in rebalancer_events_invalid_total, and never applied to the
 * state nor handed to the recommendation trigger; an event at the limits is applied.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { from } from 'rxjs';
import { MAX_EVENT_PAYLOAD_BYTES, MAX_EXTRA_VALUE_LENGTH, MAX_ID_LENGTH, createEventCodec, makeEvent, type InteractionEvent } from '../../src/codec/index.js';
import type { BalancePort } from '../../src/ports/index.js';
import { REJECT_REASONS } from '../../src/ingest/reasons.js';
import type { RecordChunk } from '../../src/ingest/source.js';
import { PipelineProbe } from '../helpers/pipeline.js';

const T0 = Date.UTC(2026, 0, 1);

/** A balance port that only records what it is given. */
function recordingBalance(): BalancePort<never> & { observed: InteractionEvent[] } {
  const observed: InteractionEvent[] = [];
  let watermark = -Infinity;
  return {
    observed,
    observe(e) {
      observed.push(e);
      watermark = Math.max(watermark, e.eventTime);
      return 'accepted';
    },
    watermark: () => watermark,
    advanceTo: (t) => {
      watermark = Math.max(watermark, t);
    },
    compose: () => { throw new Error('training is off in this test'); },
    batchSources: () => ({ fresh: 0, replay: 0, synthetic: 0 }),
    view: () => ({ windowCounts: new Map(), windowEvents: 0, weights: new Map(), imbalanceRatio: 1, entropyNormalized: 1, gini: 0, reservoirFill: { perCategory: 0, cbrs: 0 } }),
    candidates: () => [],
    snapshot: () => null,
  };
}

describe('bounded events in the pipeline', () => {
  it('dead-letters over-long fields and over-size payloads with their reasons, counts them, and applies none of them', async () => {
    const codec = createEventCodec();
    const ev = (eventId: string, over: Partial<Parameters<typeof makeEvent>[0]> = {}): InteractionEvent =>
      makeEvent({ eventId, userId: 'u1', itemId: 'i1', categoryId: 'c-ok', type: 'click', eventTime: T0, ...over });
    const atLimit = ev('at-limit', { userId: 'u'.repeat(MAX_ID_LENGTH), itemId: 'i'.repeat(MAX_ID_LENGTH), categoryId: 'c'.repeat(MAX_ID_LENGTH) });
    const events: InteractionEvent[] = [
      ev('ok-1'),
      ev('long-user', { userId: 'u'.repeat(MAX_ID_LENGTH + 1), categoryId: 'c-bad' }),
      atLimit,
      ev('x'.repeat(MAX_ID_LENGTH + 1), { categoryId: 'c-bad' }),
      ev('long-extra', { categoryId: 'c-bad', extra: { referrer: 'r'.repeat(MAX_EXTRA_VALUE_LENGTH + 1) } }),
      // The case: a 900 KB userId. Its payload is over the codec's bound, so it is refused before decoding.
      ev('huge-user', { userId: 'u'.repeat(900_000), categoryId: 'c-bad' }),
      ev('ok-2'),
    ];
    const messages: KafkaMessage[] = events.map((e, i) => {
      const value = codec.encode(e);
      return { key: Buffer.from(e.userId), value, timestamp: String(e.eventTime), attributes: 0, offset: String(i), size: value.length };
    });
    const chunk: RecordChunk = { topic: 'events', partition: 0, messages, bytes: messages.reduce((n, m) => n + (m.value?.length ?? 0), 0) };

    const balance = recordingBalance();
    const triggered: string[] = [];
    const probe = new PipelineProbe();
    await probe.run(from([chunk]), { codec, balance, onApplied: (e) => triggered.push(e.userId) });
    const { letters, ledger, registry } = probe;

    assert.ok(messages[5]!.value!.length > MAX_EVENT_PAYLOAD_BYTES);
    // Decode rejects come first (decode step), then validation rejects in stream order.
    assert.deepEqual(letters.map((l) => [l.offset, l.reason, l.code]), [
      ['5', 'payload_too_large', 'REB_DECODE_TOO_LARGE'],
      ['1', 'field_too_long', 'REB_EVENT_INVALID'],
      ['3', 'field_too_long', 'REB_EVENT_INVALID'],
      ['4', 'field_too_long', 'REB_EVENT_INVALID'],
    ]);
    assert.match(letters[0]!.message, new RegExp(`payload of ${messages[5]!.value!.length} bytes is over the ${MAX_EVENT_PAYLOAD_BYTES}-byte limit`));
    assert.match(letters[1]!.message, /^event long-user: too long: userId has 257 characters \(limit 256\)$/);
    assert.match(letters[3]!.message, /too long: extra value of key referrer has 257 characters \(limit 256\)$/);
    // Original bytes kept for the operator; the reason label is one of the bounded set.
    for (const l of letters) {
      assert.equal(l.value, messages[Number(l.offset)]!.value);
      assert.ok(REJECT_REASONS.includes(l.reason as (typeof REJECT_REASONS)[number]));
    }

    // Not applied: only the three valid events reached the state and the recommendation trigger.
    assert.deepEqual(balance.observed.map((e) => e.eventId), ['ok-1', 'at-limit', 'ok-2']);
    assert.deepEqual(triggered, ['u1', atLimit.userId, 'u1']);
    assert.ok(balance.observed.every((e) => e.categoryId !== 'c-bad'));
    assert.equal(ledger.applied, 3);
    assert.equal(ledger.invalid, 4);
    assert.deepEqual(ledger.snapshot().byCategory, { 'c-ok': 2, [atLimit.categoryId]: 1 });
    // The whole chunk is released (nothing trains), and the partition position moves past the rejects.
    assert.equal(probe.released.events, messages.length);
    assert.equal(ledger.snapshot().positions['0'], messages.length);

    const text = await registry.metrics();
    assert.match(text, /rebalancer_events_invalid_total\{reason="field_too_long"\} 3\n/);
    assert.match(text, /rebalancer_events_invalid_total\{reason="payload_too_large"\} 1\n/);
    assert.match(text, /rebalancer_dlq_messages_total\{reason="field_too_long"\} 3\n/);
    assert.match(text, /rebalancer_dlq_messages_total\{reason="payload_too_large"\} 1\n/);
  });
});
