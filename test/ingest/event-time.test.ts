import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { from } from 'rxjs';
import { Rng } from '../../src/balance/index.js';
import { createEventCodec, makeEvent, type InteractionEvent } from '../../src/codec/index.js';
import { defaultConfig, loadConfig } from '../../src/config/index.js';
import { RebalancerError } from '../../src/errors.js';
import { BalanceAdapter } from '../../src/train/balance-adapter.js';
import { FutureSkewGuard, JUMP_CONFIRMATIONS, isTooFarAhead } from '../../src/ingest/event-time.js';
import type { RecordChunk } from '../../src/ingest/source.js';
import { PipelineProbe } from '../helpers/pipeline.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);

describe('event-time plausibility: isTooFarAhead', () => {
  it('is true only beyond the skew ahead of the watermark; behind and at the bound are plausible', () => {
    assert.equal(isTooFarAhead(T0 + HOUR, T0, HOUR), false); // exactly at the bound
    assert.equal(isTooFarAhead(T0 + HOUR + 1, T0, HOUR), true);
    assert.equal(isTooFarAhead(T0 + 1, T0, HOUR), false);
    assert.equal(isTooFarAhead(0, T0, HOUR), false); // far behind: late, for the window to count
    assert.equal(isTooFarAhead(Date.UTC(1996, 0, 1) + 2 * HOUR, Date.UTC(1996, 0, 1), HOUR), true); // relative, not to the clock
  });

  it('judges nothing before the first event, nor with the check off (0)', () => {
    assert.equal(isTooFarAhead(4e12, -Infinity, HOUR), false);
    assert.equal(isTooFarAhead(T0 + 1000 * HOUR, T0, 0), false);
  });
});

describe('event-time plausibility: FutureSkewGuard', () => {
  it('rejects a lone far-ahead event interleaved with on-time ones, however often it recurs', () => {
    const g = new FutureSkewGuard(HOUR);
    for (let i = 0; i < 10 * JUMP_CONFIRMATIONS; i++) {
      assert.equal(g.admit(T0 + i, T0 + i), true);
      assert.equal(g.admit(T0 + 5 * HOUR, T0 + i), false, `bad clock #${i}`);
    }
  });

  it(`believes a jump after ${JUMP_CONFIRMATIONS} consecutive far-ahead events, so a real gap never wedges the stream`, () => {
    const g = new FutureSkewGuard(HOUR);
    const wm = T0;
    const decisions = Array.from({ length: JUMP_CONFIRMATIONS }, (_, i) => g.admit(T0 + 3 * HOUR + i, wm));
    assert.deepEqual(decisions, [...Array<boolean>(JUMP_CONFIRMATIONS - 1).fill(false), true]);
    // An on-time event in the run resets it: the next far-ahead one starts over.
    const h = new FutureSkewGuard(HOUR);
    for (let i = 0; i < JUMP_CONFIRMATIONS - 1; i++) assert.equal(h.admit(T0 + 3 * HOUR, wm), false);
    assert.equal(h.admit(T0 + 1, wm), true);
    assert.equal(h.admit(T0 + 3 * HOUR, wm), false);
  });

  it('with 0 admits everything', () => {
    const g = new FutureSkewGuard(0);
    assert.equal(g.admit(T0 + 10_000 * HOUR, T0), true);
  });
});

describe('--max-future-skew-ms', () => {
  it('defaults to 1 h, takes 0 (off), and names flag and variable for a bad value', () => {
    assert.equal(defaultConfig().maxFutureSkewMs, HOUR);
    assert.equal(loadConfig({ env: { REBALANCER_MAX_FUTURE_SKEW_MS: '0' } }).maxFutureSkewMs, 0);
    assert.throws(() => loadConfig({ flags: { maxFutureSkewMs: '-1' } }), (e: unknown) => e instanceof RebalancerError && e.code === 'REB_CONFIG_INVALID' && /--max-future-skew-ms \/ REBALANCER_MAX_FUTURE_SKEW_MS: got "-1"/.test(e.message));
  });
});

describe('event-time plausibility in the pipeline', () => {
  const codec = createEventCodec();
  let offset = 0;
  const chunk = (events: InteractionEvent[]): RecordChunk => {
    const messages: KafkaMessage[] = events.map((e) => {
      const value = codec.encode(e);
      return { key: null, value, timestamp: String(e.eventTime), attributes: 0, offset: String(offset++), size: value.length };
    });
    return { topic: 'events', partition: 0, messages, bytes: messages.reduce((n, m) => n + (m.value?.length ?? 0), 0) };
  };
  let seq = 0;
  const ev = (eventTime: number): InteractionEvent => makeEvent({ eventId: `e${seq++}`, userId: 'u1', itemId: 'i1', categoryId: 'c1', type: 'click', eventTime });

  it('dead-letters far-ahead events as future_timestamp, counts far-behind ones as late, and follows a real jump', async () => {
    const balance = BalanceAdapter.create(defaultConfig({ maxFutureSkewMs: HOUR }), new Rng(1));
    const jump = T0 + 5 * HOUR;
    const chunks = [
      chunk([ev(T0)]),
      // Within a chunk the watermark moves with the kept events (+50 min steps pass one by one);
      // a bad clock between on-time events; an event from 1996 (late: counted, not rejected).
      chunk([ev(T0 + 50 * 60_000), ev(T0 + 100 * 60_000), ev(T0 + 101 * 60_000), ev(T0 + 48 * HOUR), ev(T0 + 102 * 60_000), ev(Date.UTC(1996, 0, 1))]),
      // The stream really jumps 3 h ahead: the first JUMP_CONFIRMATIONS − 1 go to the DLQ, then it follows.
      chunk(Array.from({ length: JUMP_CONFIRMATIONS + 2 }, (_, i) => ev(jump + i * 1000))),
    ];
    const probe = new PipelineProbe();
    await probe.run(from(chunks), { codec, balance, maxFutureSkewMs: HOUR });
    const { letters, ledger, registry } = probe;

    assert.deepEqual(letters.map((l) => [l.offset, l.reason, l.code]), [
      ['4', 'future_timestamp', 'REB_EVENT_INVALID'],
      ...Array.from({ length: JUMP_CONFIRMATIONS - 1 }, (_, i) => [String(7 + i), 'future_timestamp', 'REB_EVENT_INVALID']),
    ]);
    assert.match(letters[0]!.message, /eventTime \d+ is 166\d{6} ms ahead of the watermark \d+ \(more than --max-future-skew-ms 3600000\)/);
    assert.ok(letters.every((l) => l.value !== null && codec.decode(l.value).eventTime >= jump), 'original bytes kept');
    assert.equal(balance.watermark(), jump + (JUMP_CONFIRMATIONS + 1) * 1000);
    assert.equal(ledger.invalid, JUMP_CONFIRMATIONS);
    assert.equal(ledger.late, 1);
    assert.equal(ledger.applied, 1 + 5 + 3); // chunk 1, chunk 2 but the bad clock (the late one counts as consumed), the jump's last 3
    const text = await registry.metrics();
    assert.match(text, new RegExp(`rebalancer_events_invalid_total\\{reason="future_timestamp"\\} ${JUMP_CONFIRMATIONS}\\n`));
    assert.match(text, new RegExp(`rebalancer_dlq_messages_total\\{reason="future_timestamp"\\} ${JUMP_CONFIRMATIONS}\\n`));
    assert.match(text, /rebalancer_events_late_total 1\n/);
  });
});
