/**
 * Per-partition event-time watermarks (src/ingest/event-time.ts) without a broker: the
 * window follows the slowest assigned partition, `late` counts only what is older than
 * that watermark, idle and revoked partitions stop holding it, events held for it are
 * bounded, checkpointed and released to the source exactly once, and every other reason an
 * event is not counted has its own counter.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { Registry } from 'prom-client';
import { Subject, from, type Observable } from 'rxjs';
import { Rng } from '../../src/balance/index.js';
import { createEventCodec, makeEvent, type InteractionEvent } from '../../src/codec/index.js';
import { defaultConfig } from '../../src/config/index.js';
import { createServiceMetrics } from '../../src/metrics/index.js';
import { BalanceAdapter } from '../../src/train/balance-adapter.js';
import type { DeadLetter } from '../../src/ingest/dlq.js';
import { EventTimeAlignment, HeldEvents, PartitionWatermarks } from '../../src/ingest/event-time.js';
import { IngestLedger } from '../../src/ingest/ledger.js';
import type { BalancePort, ObserveOutcome } from '../../src/ports/index.js';
import { REJECT_REASONS } from '../../src/ingest/reasons.js';
import type { RecordChunk } from '../../src/ingest/source.js';
import { PipelineProbe } from '../helpers/pipeline.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 0, 1);
/** The service's default --window-lateness-ms. */
const LATENESS = 5 * MIN;

const codec = createEventCodec();
let seq = 0;
function ev(eventTime: number, categoryId = `cat-${seq % 7}`): InteractionEvent {
  const n = seq++;
  return makeEvent({ eventId: `e${n}`, userId: `u${n % 50}`, itemId: `i${n % 30}`, categoryId, type: 'click', eventTime });
}

/** A chunk stream completed after the file's tests even when a test failed half-way (its idleness timer would keep the process alive). */
const subjects: Subject<RecordChunk>[] = [];
function openSubject(): Subject<RecordChunk> {
  const s = new Subject<RecordChunk>();
  subjects.push(s);
  return s;
}
after(() => {
  for (const s of subjects) s.complete();
});

/** Chunks of one partition, with consecutive offsets per partition. */
class Partitions {
  private readonly next = new Map<number, number>();
  chunk(partition: number, events: readonly InteractionEvent[]): RecordChunk {
    let offset = this.next.get(partition) ?? 0;
    const messages: KafkaMessage[] = events.map((e) => {
      const value = codec.encode(e);
      return { key: Buffer.from(e.userId), value, timestamp: String(e.eventTime), attributes: 0, offset: String(offset++), size: value.length };
    });
    this.next.set(partition, offset);
    return { topic: 'events', partition, messages, bytes: messages.reduce((n, m) => n + (m.value?.length ?? 0), 0) };
  }
}

/** `count` events from `start`, `gapMs` apart. */
function run(start: number, count: number, gapMs: number): InteractionEvent[] {
  return Array.from({ length: count }, (_, i) => ev(start + i * gapMs));
}

/** Splits two partitions' events into chunks of `size` and interleaves them: p0, p1, p0, p1, ... */
function interleave(parts: Partitions, a: { partition: number; events: InteractionEvent[] }, b: { partition: number; events: InteractionEvent[] }, size: number): RecordChunk[] {
  const out: RecordChunk[] = [];
  for (let i = 0; i < Math.max(a.events.length, b.events.length); i += size) {
    if (i < a.events.length) out.push(parts.chunk(a.partition, a.events.slice(i, i + size)));
    if (i < b.events.length) out.push(parts.chunk(b.partition, b.events.slice(i, i + size)));
  }
  return out;
}

interface Harness {
  balance: BalancePort<unknown>;
  ledger: IngestLedger;
  letters: DeadLetter[];
  /** Events applied to the balance state (the window), in order. */
  applied: InteractionEvent[];
  /** Events handed to the recommendation trigger (onApplied), in order: as they arrive, held or not. */
  arrived: InteractionEvent[];
  /** Sum of what the pipeline released to the source (events). */
  released: { events: number };
  eventTime: EventTimeAlignment<InteractionEvent>;
  run(chunks$: Observable<RecordChunk>): Promise<void>;
  metric(name: string): Promise<number>;
}

/** `inner` with every event it is given recorded in `applied`. */
function recording(inner: BalancePort<unknown>, applied: InteractionEvent[]): BalancePort<unknown> {
  return {
    observe(e) {
      applied.push(e);
      return inner.observe(e);
    },
    watermark: () => inner.watermark(),
    advanceTo: (t) => inner.advanceTo(t),
    compose: (fresh) => inner.compose(fresh),
    batchSources: (batch) => inner.batchSources(batch),
    view: () => inner.view(),
    candidates: (perCategory, headItems) => inner.candidates(perCategory, headItems),
    snapshot: () => inner.snapshot(),
  };
}

function harness(opts: { idleTimeoutMs?: number; maxHeld?: number; balance?: BalancePort<unknown>; now?: () => number; eventTime?: EventTimeAlignment<InteractionEvent> } = {}): Harness {
  const applied: InteractionEvent[] = [];
  const arrived: InteractionEvent[] = [];
  const balance = recording(opts.balance ?? BalanceAdapter.create(defaultConfig({ windowLatenessMs: LATENESS }), new Rng(1)), applied);
  const probe = new PipelineProbe();
  const eventTime = opts.eventTime ?? new EventTimeAlignment<InteractionEvent>({ allowedLatenessMs: LATENESS, idleTimeoutMs: opts.idleTimeoutMs ?? 30_000, maxHeld: opts.maxHeld ?? 100_000, start: balance.watermark() });
  return {
    balance,
    ledger: probe.ledger,
    letters: probe.letters,
    applied,
    arrived,
    released: probe.released,
    eventTime,
    run: (chunks$) => probe.run(chunks$, { codec, balance, maxFutureSkewMs: HOUR, eventTime, onApplied: (e) => arrived.push(e), now: opts.now ?? (() => 0) }),
    metric: (name) => probe.metric(name),
  };
}

/** A harness with partitions 0 and 1 assigned, running over an open chunk stream; `clock.now` is its processing time (ms). */
function streaming(opts: { idleTimeoutMs?: number; maxHeld?: number } = {}): { h: Harness; clock: { now: number }; parts: Partitions; chunks$: Subject<RecordChunk>; done: Promise<void> } {
  const clock = { now: 0 };
  const h = harness({ ...opts, now: () => clock.now });
  h.eventTime.assign([0, 1], clock.now);
  const chunks$ = openSubject();
  return { h, clock, parts: new Partitions(), chunks$, done: h.run(chunks$) };
}

describe('per-partition watermarks in the pipeline: a catch-up', () => {
  // Partition 0 was read 2 h of event time ahead of partition 1 (4 h of history each, a
  // chunk = 20 min), delivered alternately, as a consumer catching up hands them over.
  const catchUp = (parts: Partitions): { chunks: RecordChunk[]; slow: InteractionEvent[]; fast: InteractionEvent[] } => {
    const fast = run(T0 + 2 * HOUR, 2_400, 6_000);
    const slow = run(T0, 2_400, 6_000);
    return { chunks: interleave(parts, { partition: 0, events: fast }, { partition: 1, events: slow }, 200), slow, fast };
  };

  it('counts no event of the slower partition late, applies every event once, and releases every message once', async () => {
    const h = harness();
    h.eventTime.assign([0, 1], 0);
    const { chunks, slow, fast } = catchUp(new Partitions());
    await h.run(from(chunks));
    assert.equal(h.ledger.late, 0, 'no event counted late');
    assert.equal(await h.metric('rebalancer_events_late_total'), 0);
    assert.deepEqual(h.letters, [], 'nothing dead-lettered: 2 h ahead of the window head is not "in the future" (--max-future-skew-ms 1 h is judged against the newest event time seen)');
    assert.equal(h.applied.length, slow.length + fast.length);
    assert.equal(new Set(h.applied.map((e) => e.eventId)).size, h.applied.length, 'each event applied once');
    assert.equal(h.released.events, chunks.reduce((n, c) => n + c.messages.length, 0), 'every message released to the source exactly once');
    // The slow partition's events went in as they came; the fast one's waited for it, and entered in event-time order.
    const order = h.applied.map((e) => e.eventTime);
    for (let i = 1; i < order.length; i++) assert.ok(order[i]! >= order[i - 1]! - LATENESS, `applied in event-time order (± lateness) at ${i}`);
    assert.equal(h.ledger.positions.get(0), fast.length);
    assert.equal(h.ledger.positions.get(1), slow.length);
  });

  it('with the alignment off (--partition-idle-ms 0, the single watermark of before) the same stream counts most of the slower partition late', async () => {
    const h = harness({ idleTimeoutMs: 0 });
    const { chunks, slow } = catchUp(new Partitions());
    await h.run(from(chunks));
    assert.ok(h.ledger.late > slow.length * 0.8, `${h.ledger.late} late of ${slow.length}`);
  });

  it('holds the faster partition while the slower one is behind: the window head is the slowest partition\'s newest event time', async () => {
    const { h, parts, chunks$, done } = streaming();
    // The fast partition first (a partition whose first delivery were hours ahead of every
    // event seen would be taken for a bad clock: --max-future-skew-ms).
    chunks$.next(parts.chunk(0, run(T0 + 3 * HOUR, 10, 1_000)));
    assert.equal(h.applied.length, 0, 'partition 1 is assigned and has not delivered: it holds the window');
    assert.equal(h.arrived.length, 10, 'the recommendation triggers do not wait for it');
    chunks$.next(parts.chunk(1, run(T0, 10, 1_000)));
    assert.equal(h.applied.length, 10, 'the slow partition\'s events go in, the fast partition\'s wait');
    assert.equal(h.eventTime.heldCount, 10);
    assert.equal(h.balance.watermark(), T0 + 9_000, 'window head = slowest partition\'s newest event time');
    assert.equal(h.eventTime.watermarks.watermark, T0 + 9_000 - LATENESS);
    chunks$.next(parts.chunk(1, run(T0 + 3 * HOUR + 4_000, 1, 0)));
    assert.deepEqual(h.applied.slice(10).map((e) => e.eventTime - T0 - 3 * HOUR), [0, 1_000, 2_000, 3_000, 4_000, 4_000], 'released in event-time order once the slower partition reached them (then its own event)');
    assert.equal(h.balance.watermark(), T0 + 3 * HOUR + 4_000);
    chunks$.complete();
    await done;
    assert.equal(h.applied.length, 21, 'the rest at the end of the stream');
    assert.equal(h.ledger.late, 0);
  });
});

describe('per-partition watermarks: what is late', () => {
  it('counts an event older than the slowest partition\'s watermark as late, on either partition, and nothing newer', async () => {
    const h = harness();
    h.eventTime.assign([0, 1], 0);
    const parts = new Partitions();
    const slowMax = T0 + HOUR;
    const chunks = [
      parts.chunk(0, run(T0 + 3 * HOUR, 61, MIN)), // partition 0 up to T0 + 4 h
      parts.chunk(1, run(T0, 61, MIN)), // partition 1 up to T0 + 1 h: the slowest
      // Really late: older than min(watermarks) = slowMax − lateness, on the slow and on the fast partition.
      parts.chunk(1, [ev(slowMax - LATENESS - MIN), ev(slowMax - LATENESS + MIN)]),
      // Far behind partition 0's own watermark (3 h) but not behind the slowest partition's: not late.
      parts.chunk(0, [ev(slowMax - LATENESS - 2 * MIN), ev(slowMax - 2 * MIN)]),
    ];
    await h.run(from(chunks));
    assert.equal(h.ledger.late, 2);
    assert.equal(await h.metric('rebalancer_events_late_total'), 2);
    assert.equal(h.applied.length, 61 + 61 + 4, 'late events count as consumed (they still train), as before');
  });
});

describe('per-partition watermarks: idleness and revocation', () => {
  it('an idle partition stops holding the watermark after the idleness timeout (processing time from the injected clock)', async () => {
    const { h, clock, parts, chunks$, done } = streaming({ idleTimeoutMs: 1_000 });
    chunks$.next(parts.chunk(1, run(T0, 5, 1_000))); // partition 1 delivers once, then nothing
    clock.now = 100;
    chunks$.next(parts.chunk(0, run(T0 + HOUR, 5, 1_000)));
    clock.now = 999;
    chunks$.next(parts.chunk(0, run(T0 + HOUR + 5_000, 5, 1_000)));
    assert.equal(h.applied.length, 5, 'partition 1 still holds the window 999 ms after its last event');
    clock.now = 1_000;
    chunks$.next(parts.chunk(0, run(T0 + HOUR + 10_000, 5, 1_000)));
    assert.equal(h.applied.length, 20, 'idle at 1000 ms: partition 0 alone sets the watermark');
    // Held events are also freed by the timer when no chunk comes (partition 0 goes quiet too).
    chunks$.next(parts.chunk(1, run(T0 + 2 * HOUR, 3, 1_000))); // partition 1 is back, ahead now: waits for partition 0
    assert.equal(h.applied.length, 20);
    clock.now = 2_500;
    await new Promise((r) => setTimeout(r, 400)); // the timer checks every idleness/4 = 250 ms
    assert.equal(h.applied.length, 23, 'every partition idle: everything seen is released');
    chunks$.complete();
    await done;
    assert.equal(h.ledger.late, 0);
  });

  it('an assigned partition that never delivers holds the watermark until it is idle', () => {
    const a = new EventTimeAlignment<InteractionEvent>({ allowedLatenessMs: LATENESS, idleTimeoutMs: 1_000, maxHeld: 1_000 });
    a.assign([0, 1, 2], 0);
    assert.equal(a.admit(0, run(T0, 3, 1_000), 10).events.length, 0, 'partitions 1 and 2 may still deliver older events');
    assert.equal(a.admit(1, run(T0 + 500, 3, 1_000), 20).events.length, 0, 'partition 2 still holds');
    assert.equal(a.frontier, -Infinity);
    assert.equal(a.release(999).events.length, 0, 'not idle 999 ms after its assignment');
    const freed = a.release(1_000).events.map((e) => e.eventTime - T0);
    assert.deepEqual(freed, [0, 500, 1_000, 1_500, 2_000], 'partition 2 idle: up to min(partition 0, partition 1) = T0 + 2 s, in event-time order');
    assert.equal(a.frontier, T0 + 2_000);
  });

  it('uses the consumer\'s backlog: a partition with one never turns idle; a caught-up one holds until idle, not at once', async () => {
    const { h, clock, parts, chunks$, done } = streaming({ idleTimeoutMs: 1_000 });
    h.eventTime.backlog(0, 10);
    chunks$.next(parts.chunk(0, run(T0 + HOUR, 10, 1_000)));
    h.eventTime.backlog(0, 0);
    h.eventTime.backlog(1, 500);
    chunks$.next(parts.chunk(1, run(T0, 10, 1_000)));
    assert.equal(h.applied.length, 10);
    clock.now = 60_000;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(h.applied.length, 10, 'a minute later partition 1 still holds: it has 500 records to deliver, it is not idle');
    // Caught up, and just delivered: a topic being replayed into is caught up between produce
    // requests, and a fetch can return one partition's part of a request before another's.
    chunks$.next(parts.chunk(1, run(T0 + 10_000, 5, 1_000)));
    h.eventTime.backlog(1, 0);
    chunks$.next(parts.chunk(0, run(T0 + HOUR + 10_000, 5, 1_000)));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(h.applied.length, 15, 'caught up but not idle: partition 1 still holds');
    clock.now = 61_000;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(h.applied.length, 30, 'caught up and idle: no partition holds, everything seen is released');
    chunks$.complete();
    await done;
    assert.equal(h.ledger.late, 0);
  });

  it('revocation drops a partition from the minimum at once', async () => {
    const { h, parts, chunks$, done } = streaming();
    chunks$.next(parts.chunk(1, run(T0, 5, 1_000)));
    chunks$.next(parts.chunk(0, run(T0 + HOUR, 5, 1_000)));
    assert.equal(h.applied.length, 5);
    h.eventTime.assign([0], 0); // partition 1 went to another member
    await new Promise((r) => setTimeout(r, 20)); // an assignment triggers a check on the next turn
    assert.equal(h.applied.length, 10, 'the revoked partition no longer holds the window');
    assert.equal(h.balance.watermark(), T0 + HOUR + 4_000);
    // A newly assigned partition holds it again (from its assignment), but cannot move it back.
    h.eventTime.assign([0, 2], 0);
    chunks$.next(parts.chunk(0, run(T0 + HOUR + 5_000, 2, 1_000)));
    assert.equal(h.applied.length, 10, 'partition 2 was assigned and has not delivered');
    chunks$.next(parts.chunk(2, [ev(T0 + HOUR - 10 * MIN)]));
    assert.equal(h.applied.length, 11, 'its old event goes in (late: older than the watermark it found)');
    assert.equal(h.ledger.late, 1);
    assert.equal(h.eventTime.frontier, T0 + HOUR + 4_000, 'the frontier never goes back');
    chunks$.complete();
    await done;
  });
});

describe('per-partition watermarks: bounded, checkpointed', () => {
  it('applies the oldest held events early when more than maxHeld wait, and counts them', async () => {
    const { h, parts, chunks$, done } = streaming({ maxHeld: 50 });
    const chunks = interleave(parts, { partition: 0, events: run(T0 + 3 * HOUR, 400, 1_000) }, { partition: 1, events: run(T0, 400, 1_000) }, 40);
    let most = 0;
    for (const c of chunks) {
      chunks$.next(c);
      most = Math.max(most, h.eventTime.heldCount);
    }
    chunks$.complete();
    await done;
    assert.ok(most <= 50, `held at most ${most}`);
    assert.ok(h.eventTime.forced > 0);
    assert.equal(await h.metric('rebalancer_watermark_forced_events_total'), h.eventTime.forced);
    assert.ok(h.ledger.late > 0, 'the slow partition is then partly late: the budget, not the watermark, decided');
    assert.equal(h.released.events, 800);
  });

  it('a checkpoint carries the held events; restored, they are applied once and never released to the source', async () => {
    const first = new EventTimeAlignment<InteractionEvent>({ allowedLatenessMs: LATENESS, idleTimeoutMs: 30_000, maxHeld: 1_000 });
    first.assign([0, 1], 0);
    first.admit(1, run(T0, 3, 1_000), 0);
    first.admit(0, [ev(T0 + HOUR + 2_000), ev(T0 + HOUR), ev(T0 + HOUR + 1_000)], 0);
    const held = first.snapshot();
    assert.deepEqual(held.map((x) => [x.partition, x.event.eventTime - T0 - HOUR]), [[0, 0], [0, 1_000], [0, 2_000]], 'oldest first');

    const balance = BalanceAdapter.create(defaultConfig({ windowLatenessMs: LATENESS }), new Rng(1));
    balance.observe(ev(T0 + 2_000));
    const restored = new EventTimeAlignment<InteractionEvent>({ allowedLatenessMs: LATENESS, idleTimeoutMs: 30_000, maxHeld: 1_000, start: balance.watermark(), restored: held });
    assert.equal(restored.watermarks.newest, T0 + HOUR + 2_000, 'the restored events count for the future-skew reference');
    const h = harness({ balance, eventTime: restored });
    restored.assign([0, 1], 0);
    const parts = new Partitions();
    await h.run(from([parts.chunk(1, run(T0 + 3_000, 2, 1_000)), parts.chunk(0, run(T0 + HOUR + 3_000, 2, 1_000)), parts.chunk(1, run(T0 + 2 * HOUR, 1, 0))]));
    assert.deepEqual(h.applied.map((e) => e.eventTime - T0), [3_000, 4_000, HOUR, HOUR + 1_000, HOUR + 2_000, HOUR + 3_000, HOUR + 4_000, 2 * HOUR]);
    assert.equal(h.released.events, 5, 'only the 5 messages of this run are released; the 3 restored ones never were in flight');
    assert.equal(h.ledger.late, 0);
  });

  it('restored held events wait for the consumer: an idleness check before the first assignment releases none (review fix)', () => {
    const first = new EventTimeAlignment<InteractionEvent>({ allowedLatenessMs: LATENESS, idleTimeoutMs: 250, maxHeld: 1_000 });
    first.assign([0, 1], 0);
    first.admit(1, run(T0, 1, 0), 0);
    first.admit(0, [ev(T0 + HOUR)], 0);
    const held = first.snapshot();
    assert.equal(held.length, 1, 'partition 0 was read ahead: its event is held');
    const restored = new EventTimeAlignment<InteractionEvent>({ allowedLatenessMs: LATENESS, idleTimeoutMs: 250, maxHeld: 1_000, start: T0, restored: held });
    // The pipeline's timer fires before the consumer has joined its group.
    assert.equal(restored.release(10_000).events.length, 0, 'nothing is known of the partitions yet: the held event stays');
    assert.equal(restored.frontier, T0, 'the window head did not jump to the restored event');
    // Once assigned, the slower partition delivers its backlog; when both are idle, everything
    // is applied in event-time order: the slower partition's events before the restored one
    // (before the fix the restored event went first and these two came behind the window head).
    restored.assign([0, 1], 10_000);
    const admitted = restored.admit(1, run(T0 + 1_000, 2, 1_000), 10_000);
    const later = restored.release(11_000);
    assert.deepEqual([...admitted.events, ...later.events].map((e) => e.eventTime - T0), [1_000, 2_000, HOUR]);
  });

  it('the held-events heap pops in (event time, arrival) order, against a naive stable sort over random input', () => {
    const rng = new Rng(5);
    for (let round = 0; round < 20; round++) {
      // A random script of pushes (few distinct times, so ties are common) and pops.
      const script = Array.from({ length: 300 }, (_, id) => ({ eventTime: rng.int(40), id, popAfter: rng.next() < 0.3 }));
      const heap = new HeldEvents<{ eventTime: number; id: number }>();
      const ref: Array<{ eventTime: number; id: number }> = [];
      const popped: number[] = [];
      const refPopped: number[] = [];
      for (const { eventTime, id, popAfter } of script) {
        heap.push({ eventTime, id }, 0);
        ref.push({ eventTime, id });
        ref.sort((a, b) => a.eventTime - b.eventTime || a.id - b.id);
        if (popAfter) {
          popped.push(heap.pop()!.event.id);
          refPopped.push(ref.shift()!.id);
        }
      }
      assert.deepEqual(popped, refPopped, `round ${round}`);
      assert.equal(heap.size, ref.length);
      assert.deepEqual(heap.snapshot().map((x) => x.event.id), ref.map((x) => x.id));
      assert.equal(heap.oldest, ref[0]?.eventTime ?? Infinity);
    }
  });
});

describe('per-partition watermarks: the combination', () => {
  it('watermark = min over delivered partitions of (newest − lateness); never decreases; idle partitions leave it; 0 turns it into the newest event time', () => {
    const w = new PartitionWatermarks(LATENESS, 30_000);
    const deliver = (partition: number, now: number, eventTime: number): number => {
      w.beginChunk(partition, now);
      return w.observe(eventTime);
    };
    assert.equal(deliver(0, 0, T0 + 10 * MIN), T0 + 10 * MIN);
    assert.equal(deliver(1, 0, T0 + 30 * MIN), T0 + 10 * MIN, 'min(10, 30)');
    assert.equal(w.watermark, T0 + 5 * MIN, 'minus the lateness');
    assert.equal(w.newest, T0 + 30 * MIN);
    assert.equal(deliver(0, 1, T0 + 20 * MIN), T0 + 20 * MIN, 'min(20, 30)');
    assert.equal(deliver(2, 2, T0), T0 + 20 * MIN, 'a partition with older events joins the minimum but does not move it back');
    assert.equal(deliver(2, 4, T0 + 25 * MIN), T0 + 20 * MIN, 'min(20, 30, 25)');
    assert.equal(deliver(0, 5, T0 + 40 * MIN), T0 + 25 * MIN, 'min(40, 30, 25)');
    assert.equal(w.refresh(30_001), T0 + 25 * MIN, 'partition 1 idle (last event at 0): min(40, 25)');
    assert.equal(w.refresh(30_005), T0 + 40 * MIN, 'every partition idle: the newest event time seen');
    assert.deepEqual(w.partitions(30_005).map((p) => [p.partition, p.holding]), [[0, false], [1, false], [2, false]]);

    const off = new PartitionWatermarks(LATENESS, 0);
    off.beginChunk(0, 0);
    off.observe(T0 + HOUR);
    off.beginChunk(1, 0);
    assert.equal(off.observe(T0), T0 + HOUR, 'alignment off: the newest event time of any partition');
  });
});

/** A balance port whose window answers by category: the other outcomes an event can have. */
function scriptedBalance(): BalancePort<unknown> {
  let head = -Infinity;
  const outcome = (c: string): ObserveOutcome => (c === 'overflowing' ? 'overflow' : c === 'unusable' ? 'rejected' : 'accepted');
  return {
    observe(e) {
      if (e.categoryId === 'explodes') throw new Error('bug in the state update');
      head = Math.max(head, e.eventTime);
      return outcome(e.categoryId);
    },
    watermark: () => head,
    advanceTo: (t) => {
      head = Math.max(head, t);
    },
    compose: () => {
      throw new Error('training is off in this test');
    },
    batchSources: () => ({ fresh: 0, replay: 0, synthetic: 0 }),
    view: () => ({ windowCounts: new Map(), windowEvents: 0, weights: new Map(), imbalanceRatio: 1, entropyNormalized: 1, gini: 0, reservoirFill: { perCategory: 0, cbrs: 0 } }),
    candidates: () => [],
    snapshot: () => null,
  };
}

describe('every reason an event is not counted has its own counter', () => {
  it('exports each at 0 from the start, under distinct names', async () => {
    const registry = new Registry();
    createServiceMetrics({ registry, collectDefault: false, rejectReasons: REJECT_REASONS });
    const text = await registry.metrics();
    const series = ['rebalancer_events_late_total', 'rebalancer_events_overflow_total', 'rebalancer_events_window_rejected_total', 'rebalancer_events_duplicate_total', 'rebalancer_watermark_forced_events_total', 'rebalancer_events_lost_total{reason="retention"}', ...REJECT_REASONS.map((r) => `rebalancer_events_invalid_total{reason="${r}"}`)];
    for (const s of series) assert.ok(text.includes(`\n${s} 0\n`), `${s} exported at 0`);
    assert.equal(new Set(series).size, series.length);
  });

  it('window overflow, window refusals and state-update failures are counted as what they are, not as late', async () => {
    const h = harness({ balance: scriptedBalance() });
    const parts = new Partitions();
    const events = [ev(T0), ev(T0 + 1, 'overflowing'), ev(T0 + 2, 'overflowing'), ev(T0 + 3, 'unusable'), ev(T0 + 4, 'explodes'), ev(T0 + 5)];
    // And one duplicate and one far-future event (dead-lettered as future_timestamp).
    const dup = events[0]!;
    await h.run(from([parts.chunk(0, events), parts.chunk(0, [dup, ev(T0 + 3 * HOUR)])]));
    assert.equal(await h.metric('rebalancer_events_late_total'), 0);
    assert.equal(h.ledger.late, 0);
    assert.equal(await h.metric('rebalancer_events_overflow_total'), 2);
    assert.equal(await h.metric('rebalancer_events_window_rejected_total'), 1);
    assert.equal(await h.metric('rebalancer_events_invalid_total{reason="processing_error"}'), 1);
    assert.equal(await h.metric('rebalancer_dlq_messages_total{reason="processing_error"}'), 1);
    assert.equal(await h.metric('rebalancer_events_invalid_total{reason="future_timestamp"}'), 1);
    assert.equal(await h.metric('rebalancer_events_duplicate_total'), 1);
    assert.deepEqual(h.letters.map((l) => [l.reason, l.partition]), [['processing_error', 0], ['future_timestamp', 0]]);
    assert.equal(h.released.events, 8, 'every message released once, the failed one too');
  });
});
