import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADD_LATE, ADD_OVERFLOW, ADD_REJECTED, CategoryWindow, Rng, EVENT_TYPE_ORDER } from '../../src/balance/index.js';
import type { EventType } from '../../src/codec/types.js';
import { TYPES } from './helpers.js';

interface Accepted {
  cat: string;
  type: EventType;
  t: number;
}

/** Brute-force reference: keeps every accepted event and recounts on demand. */
class NaiveWindow {
  events: Accepted[] = [];
  wm = -Infinity;
  late = 0;
  constructor(
    readonly B: number,
    readonly width: number,
    readonly lateness: number,
  ) {}
  add(cat: string, type: EventType, t: number): boolean {
    const wm = Math.max(this.wm, t);
    const head = Math.floor(wm / this.width);
    const tooLate = t < this.wm - this.lateness || Math.floor(t / this.width) <= head - this.B;
    this.wm = wm;
    if (tooLate) {
      this.late++;
      return false;
    }
    this.events.push({ cat, type, t });
    return true;
  }
  inWindow(): Accepted[] {
    const head = Math.floor(this.wm / this.width);
    return this.events.filter((e) => Math.floor(e.t / this.width) > head - this.B);
  }
  counts(): Map<string, number> {
    const m = new Map<string, number>();
    for (const e of this.inWindow()) m.set(e.cat, (m.get(e.cat) ?? 0) + 1);
    return m;
  }
}

const opts = (over: Partial<ConstructorParameters<typeof CategoryWindow>[0]> = {}) => ({
  bucketCount: 8,
  bucketWidthMs: 100,
  allowedLatenessMs: 250,
  maxCategories: 1000,
  windowMode: 'sliding' as const,
  decayHalfLifeMs: 1000,
  ...over,
});

test('window counts equal a brute-force recount over random out-of-order and late streams', () => {
  for (let seed = 1; seed <= 30; seed++) {
    const rng = new Rng(seed);
    const B = 1 + rng.int(10);
    const width = 1 + rng.int(200);
    const lateness = rng.int(B * width * 1.5);
    const w = new CategoryWindow(opts({ bucketCount: B, bucketWidthMs: width, allowedLatenessMs: lateness }));
    const naive = new NaiveWindow(B, width, lateness);
    let t = rng.int(10_000);
    const cats = 1 + rng.int(30);
    for (let i = 0; i < 3000; i++) {
      // Mostly forward, sometimes far back (late), sometimes a big jump (evicts everything).
      const r = rng.next();
      const time = r < 0.7 ? (t += rng.int(width)) : r < 0.95 ? Math.max(0, t - rng.int(lateness * 2 + 1)) : (t += rng.int(B * width * 2));
      const cat = `k${Math.floor(Math.pow(rng.next(), 3) * cats)}`;
      const type = TYPES[rng.int(4)]!;
      const slot = w.add(cat, type, time);
      const ok = naive.add(cat, type, time);
      assert.equal(slot >= 0, ok, `seed ${seed} event ${i}: accepted`);
      if (!ok) assert.equal(slot, ADD_LATE);
      if (i % 97 === 0 || i === 2999) {
        const expected = naive.counts();
        assert.equal(w.size, expected.size, `seed ${seed} event ${i}: category count`);
        assert.deepEqual(new Set(w.categories()), new Set(expected.keys()));
        let total = 0;
        for (const [cat, n] of expected) {
          assert.equal(w.count(cat), n, `seed ${seed} event ${i}: count of ${cat}`);
          total += n;
          for (const ty of EVENT_TYPE_ORDER) {
            const nt = naive.inWindow().filter((e) => e.cat === cat && e.type === ty).length;
            assert.equal(w.typeCount(cat, ty), nt);
          }
        }
        assert.equal(w.total(), total);
      }
    }
    assert.equal(w.counters.late, naive.late);
    assert.equal(w.counters.added, naive.events.length);
  }
});

test('slots of vanished categories are recycled and memory stays at the active set', () => {
  const w = new CategoryWindow(opts({ bucketCount: 4, bucketWidthMs: 10, allowedLatenessMs: 0, maxCategories: 100 }));
  // 10,000 distinct categories over time, at most ~8 active at once.
  for (let i = 0; i < 10_000; i++) assert.ok(w.add(`cat-${i}`, 'view', i * 5) >= 0);
  assert.ok(w.size <= 8, `active ${w.size}`);
  assert.ok(w.slotLimit <= 16, `slots used ${w.slotLimit}`);
  assert.equal(w.capacity, 64, 'never grew past the initial allocation');
  assert.ok(w.counters.released >= 9_990);
  assert.equal(w.counters.overflow, 0);
  assert.equal(w.count('cat-0'), 0);
});

test('maxCategories caps tracked categories and counts the overflow', () => {
  const w = new CategoryWindow(opts({ maxCategories: 3 }));
  for (const c of ['a', 'b', 'c']) assert.ok(w.add(c, 'view', 10) >= 0);
  assert.equal(w.add('d', 'view', 11), ADD_OVERFLOW);
  assert.equal(w.add('e', 'click', 12), ADD_OVERFLOW);
  assert.ok(w.add('a', 'view', 13) >= 0, 'known categories still count');
  assert.equal(w.counters.overflow, 2);
  assert.equal(w.size, 3);
  assert.equal(w.total(), 4);
});

test('bad events are rejected and counted without touching the counts', () => {
  const w = new CategoryWindow(opts());
  w.add('a', 'view', 1000);
  const bad: [unknown, unknown, unknown][] = [
    ['', 'view', 1000],
    ['a', 'view', NaN],
    ['a', 'view', -1],
    ['a', 'view', Infinity],
    ['a', 'like', 1000],
    [42, 'view', 1000],
    ['a', 'view', '1000'],
  ];
  for (const [c, ty, t] of bad) assert.equal(w.add(c as string, ty as EventType, t as number), ADD_REJECTED);
  assert.equal(w.counters.rejected, bad.length);
  assert.equal(w.total(), 1);
  assert.equal(w.watermark, 1000);
});

test('decayed counts equal Σ e^{-λ(T − t_i)} (out-of-order events and rebasing included)', () => {
  const halfLife = 50;
  const lambda = Math.LN2 / halfLife;
  // A window long enough that nothing is evicted; λ·span ≫ 60 forces several rebases.
  const w = new CategoryWindow(opts({ bucketCount: 100, bucketWidthMs: 1000, allowedLatenessMs: 200, windowMode: 'decayed', decayHalfLifeMs: halfLife }));
  const rng = new Rng(5);
  const events: { cat: string; t: number }[] = [];
  let t = 0;
  for (let i = 0; i < 5000; i++) {
    const time = rng.next() < 0.8 ? (t += rng.int(20)) : Math.max(0, t - rng.int(150));
    const cat = `c${rng.int(5)}`;
    if (w.add(cat, 'view', time) >= 0) events.push({ cat, t: time });
    if (i % 250 === 0) {
      const T = w.watermark;
      let total = 0;
      for (let c = 0; c < 5; c++) {
        const expected = events.filter((e) => e.cat === `c${c}`).reduce((s, e) => s + Math.exp(-lambda * (T - e.t)), 0);
        total += expected;
        assert.ok(Math.abs(w.count(`c${c}`) - expected) <= 1e-9 * Math.max(1, expected), `c${c}: ${w.count(`c${c}`)} vs ${expected}`);
      }
      assert.ok(Math.abs(w.total() - total) <= 1e-9 * Math.max(1, total));
    }
  }
  assert.ok(t * lambda > 120, 'the run crossed several rebase points');
});

test('snapshot and restore give the same window', () => {
  const w = new CategoryWindow(opts({ windowMode: 'decayed' }));
  const rng = new Rng(9);
  let t = 0;
  for (let i = 0; i < 2000; i++) w.add(`c${rng.int(20)}`, TYPES[rng.int(4)]!, (t += rng.int(3)));
  const r = CategoryWindow.restore(opts({ windowMode: 'decayed' }), JSON.parse(JSON.stringify(w.snapshot())));
  for (let i = 0; i < 2000; i++) {
    const c = `c${rng.int(25)}`;
    const ty = TYPES[rng.int(4)]!;
    const time = (t += rng.int(3)) - rng.int(300);
    assert.equal(r.add(c, ty, time), w.add(c, ty, time));
  }
  assert.deepEqual(r.snapshot(), w.snapshot());
});
