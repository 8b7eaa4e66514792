import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { Rng } from '../../src/balance/rng.js';
import { Ring, ServiceHistory, type HistorySample } from '../../src/service/history.js';
import { isRebalancerError } from '../../src/errors.js';

function figures(applied: number): Omit<HistorySample, 't'> {
  return { applied, hitRateMacro: applied / 1e6, hitRateMicro: applied / 2e6, tailShareRecommendations: 0.1, tailShareInteractions: 0.2, lag: 3, deadLettered: 1 };
}

describe('Ring', () => {
  it('holds the last `capacity` items in order, as a naive array does, over random capacities and pushes', () => {
    const rng = new Rng(15);
    for (let trial = 0; trial < 200; trial++) {
      const capacity = 1 + rng.int(12);
      const ring = new Ring<{ i: number }>(capacity);
      const reference: Array<{ i: number }> = [];
      const pushes = rng.int(40);
      for (let i = 0; i < pushes; i++) {
        const item = { i };
        ring.push(item);
        reference.push(item);
        const expected = reference.slice(-capacity);
        assert.equal(ring.size, expected.length);
        const got = ring.toArray();
        assert.deepEqual(got.map((x) => x.i), expected.map((x) => x.i), `capacity ${capacity} after ${i + 1} pushes`);
        // The very objects pushed, not copies of one shared object.
        got.forEach((x, k) => assert.equal(x, expected[k]));
      }
    }
  });

  it('refuses a capacity that is not a positive integer', () => {
    for (const c of [0, -1, 1.5, Number.NaN]) assert.throws(() => new Ring(c), (e: unknown) => isRebalancerError(e, 'REB_ARGUMENT_INVALID'));
  });
});

describe('ServiceHistory', () => {
  it('samples with the injected clock, keeps at most ⌈span/interval⌉+1 samples and drops the oldest first', () => {
    let now = 1_000_000;
    let applied = 0;
    const h = new ServiceHistory({ intervalMs: 1_000, spanMs: 10_000, now: () => now, read: () => figures(applied) });
    assert.equal(h.capacity, 11);
    assert.deepEqual(h.document(), { now, intervalMs: 1_000, spanMs: 10_000, samples: [] });
    for (let i = 0; i < 50; i++) {
      applied = i * 100;
      h.sample();
      now += 1_000;
    }
    now -= 1_000; // read at the instant of the last sample: the oldest kept is exactly one span old
    const doc = h.document();
    assert.equal(doc.samples.length, 11);
    assert.deepEqual(doc.samples.map((s) => s.applied), Array.from({ length: 11 }, (_, k) => (39 + k) * 100));
    assert.deepEqual(doc.samples.map((s) => s.t), Array.from({ length: 11 }, (_, k) => 1_000_000 + (39 + k) * 1_000));
    assert.deepEqual(doc.samples.at(-1), { t: 1_049_000, ...figures(4_900) });
    assert.equal(doc.now, 1_049_000);
    now += 1;
    assert.equal(h.document().samples.length, 10, 'a moment later the oldest is past the span');
  });

  it('leaves out samples older than the span (after the timer stalled)', () => {
    let now = 0;
    const h = new ServiceHistory({ intervalMs: 1_000, spanMs: 5_000, now: () => now, read: () => figures(1) });
    h.sample();
    now = 3_000;
    h.sample();
    now = 7_000;
    assert.deepEqual(h.document().samples.map((s) => s.t), [3_000]);
    now = 9_000;
    assert.deepEqual(h.document().samples, []);
  });

  it('start takes a first sample at once and one per interval until stop', () => {
    mock.timers.enable({ apis: ['setInterval'] });
    try {
      let now = 0;
      let reads = 0;
      const h = new ServiceHistory({
        intervalMs: 5_000,
        spanMs: 60_000,
        now: () => now,
        read: () => figures(++reads),
      });
      h.start();
      assert.equal(h.document().samples.length, 1, 'a page opened right after start has a point');
      for (let i = 0; i < 3; i++) {
        now += 5_000;
        mock.timers.tick(5_000);
      }
      assert.deepEqual(h.document().samples.map((s) => s.applied), [1, 2, 3, 4]);
      h.stop();
      mock.timers.tick(20_000);
      assert.equal(reads, 4, 'no sample after stop');
    } finally {
      mock.timers.reset();
    }
  });

  it('refuses an interval that is not positive or longer than the span', () => {
    const base = { now: () => 0, read: () => figures(0) };
    assert.throws(() => new ServiceHistory({ ...base, intervalMs: 0 }), (e: unknown) => isRebalancerError(e, 'REB_ARGUMENT_INVALID'));
    assert.throws(() => new ServiceHistory({ ...base, intervalMs: 10_000, spanMs: 5_000 }), (e: unknown) => isRebalancerError(e, 'REB_ARGUMENT_INVALID'));
  });
});
