import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClassBalancedMemory, ReservoirBank, Rng } from '../../src/balance/index.js';
import { chiSquareCritical } from './helpers.js';

/** χ² of per-position inclusion counts against the uniform expectation R·k/n. */
function inclusionChiSquare(k: number, n: number, runs: number, seed: number): number {
  const rng = new Rng(seed);
  const hits = new Float64Array(n);
  for (let r = 0; r < runs; r++) {
    const bank = new ReservoirBank<number>(k, 1, rng);
    for (let i = 0; i < n; i++) bank.offer(0, i);
    const items = bank.itemsAt(0);
    assert.equal(items.length, Math.min(k, n));
    assert.equal(new Set(items).size, items.length, 'no item twice');
    for (const i of items) hits[i]!++;
  }
  const expected = (runs * k) / n;
  let chi = 0;
  for (let i = 0; i < n; i++) chi += (hits[i]! - expected) ** 2 / expected;
  return chi;
}

test('Algorithm L reservoir inclusion is uniform (χ², p = 0.001)', () => {
  for (const [k, n, runs] of [
    [8, 40, 20_000],
    [10, 500, 20_000],
    [1, 50, 50_000],
  ] as const) {
    const chi = inclusionChiSquare(k, n, runs, k * 1000 + n);
    const critical = chiSquareCritical(n - 1);
    assert.ok(chi < critical, `k=${k} n=${n}: χ² = ${chi.toFixed(1)} ≥ ${critical.toFixed(1)} (df ${n - 1}, p = 0.001)`);
  }
});

test('a recycled slot starts a fresh reservoir', () => {
  const bank = new ReservoirBank<number>(4, 2, new Rng(1));
  for (let i = 0; i < 100; i++) bank.offer(1, i);
  bank.clear(1);
  assert.equal(bank.sizeAt(1), 0);
  bank.offer(1, 1000);
  assert.deepEqual([...bank.itemsAt(1)], [1000]);
  assert.equal(bank.seenAt(1), 1);
});

test('CBRS memory becomes balanced on a 1000:1 stream', () => {
  const rng = new Rng(42);
  const M = 200;
  const mem = new ClassBalancedMemory<number>(M, rng);
  const minors = 4;
  // major : each minor = 1000 : 1; each minor shows up ~500 times.
  const n = 2_004_000;
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const u = rng.int(1000 + minors);
    const cat = u < 1000 ? 'major' : `minor${u - 1000}`;
    seen.set(cat, (seen.get(cat) ?? 0) + 1);
    mem.offer(cat, i);
  }
  const counts = mem.counts();
  assert.equal(mem.size, M);
  assert.equal([...counts.values()].reduce((a, b) => a + b, 0), M);
  // Stream share of the major class is 99.6%; balanced memory gives every class M/5 = 40.
  for (const [cat, m] of counts) assert.ok(Math.abs(m - M / (minors + 1)) <= 1, `${cat}: ${m} (seen ${seen.get(cat)})`);
});

test('CBRS keeps every item of a class rarer than its fair share', () => {
  const rng = new Rng(7);
  const mem = new ClassBalancedMemory<number>(100, rng);
  let rare = 0;
  for (let i = 0; i < 200_000; i++) {
    if (i % 20_000 === 0) {
      mem.offer('rare', i);
      rare++;
    } else mem.offer(`head${rng.int(3)}`, i);
  }
  assert.equal(mem.countOf('rare'), rare);
});

test('CBRS within a full class keeps a uniform sample (χ², p = 0.001)', () => {
  // One class only: CBRS reduces to reservoir sampling with probability m/n.
  const rng = new Rng(3);
  const n = 60;
  const k = 6;
  const runs = 20_000;
  const hits = new Float64Array(n);
  for (let r = 0; r < runs; r++) {
    const mem = new ClassBalancedMemory<number>(k, rng);
    for (let i = 0; i < n; i++) mem.offer('only', i);
    for (const i of mem.contents()) hits[i]!++;
  }
  const expected = (runs * k) / n;
  let chi = 0;
  for (let i = 0; i < n; i++) chi += (hits[i]! - expected) ** 2 / expected;
  assert.ok(chi < chiSquareCritical(n - 1), `χ² = ${chi}`);
});

test('CBRS snapshot restores identical behaviour', () => {
  const a = new ClassBalancedMemory<number>(50, new Rng(77));
  const rng = new Rng(2);
  for (let i = 0; i < 5000; i++) a.offer(`c${i % 7}`, i);
  // Both continue on equal generator streams from here.
  const b = ClassBalancedMemory.restore<number>(JSON.parse(JSON.stringify(a.snapshot())), new Rng(5));
  const a2 = ClassBalancedMemory.restore<number>(a.snapshot(), new Rng(5));
  for (let i = 0; i < 5000; i++) {
    const c = `c${Math.floor(rng.next() ** 2 * 12)}`;
    assert.equal(b.offer(c, i), a2.offer(c, i));
  }
  assert.deepEqual(b.contents(), a2.contents());
  assert.deepEqual(b.counts(), a2.counts());
  assert.deepEqual(b.snapshot(), a2.snapshot());
});

test('bad capacities throw REB_BALANCE_INVALID naming the parameter', () => {
  assert.throws(() => new ReservoirBank(0, 1, new Rng(1)), { code: 'REB_BALANCE_INVALID', message: /reservoirSize must be an integer/ });
  assert.throws(() => new ClassBalancedMemory(0, new Rng(1)), { code: 'REB_BALANCE_INVALID', message: /replayMemorySize must be an integer/ });
  assert.throws(() => new ClassBalancedMemory(2.5, new Rng(1)), { code: 'REB_BALANCE_INVALID' });
});

/** CBRS as written in the paper (Algorithm 1), one random draw per item: the reference for the skip-based memory. */
function naiveCbrsRun(M: number, stream: readonly string[], rng: Rng): number[] {
  const items: { cls: string; v: number }[] = [];
  const seen = new Map<string, number>();
  const full = new Set<string>();
  const count = (cls: string): number => items.filter((x) => x.cls === cls).length;
  const positions = (cls: string): number[] => items.flatMap((x, i) => (x.cls === cls ? [i] : []));
  const markLargest = (): void => {
    const counts = new Map<string, number>();
    for (const x of items) counts.set(x.cls, (counts.get(x.cls) ?? 0) + 1);
    const max = Math.max(...counts.values());
    for (const [cls, m] of counts) if (m === max) full.add(cls);
    for (const cls of [...seen.keys()]) {
      if (!counts.has(cls)) {
        seen.delete(cls);
        full.delete(cls);
      }
    }
  };
  stream.forEach((cls, v) => {
    const n = (seen.get(cls) ?? 0) + 1;
    seen.set(cls, n);
    if (items.length < M) {
      items.push({ cls, v });
      if (items.length === M) markLargest();
      return;
    }
    if (!full.has(cls)) {
      const counts = new Map<string, number>();
      for (const x of items) counts.set(x.cls, (counts.get(x.cls) ?? 0) + 1);
      const max = Math.max(...counts.values());
      const largest = [...counts].filter(([, m]) => m === max).map(([c]) => c);
      const victim = largest[rng.int(largest.length)]!;
      const pos = positions(victim);
      items[pos[rng.int(pos.length)]!] = { cls, v };
      markLargest();
      return;
    }
    if (rng.next() < count(cls) / n) {
      const pos = positions(cls);
      items[pos[rng.int(pos.length)]!] = { cls, v };
    }
  });
  return items.map((x) => x.v);
}

test('skip-based CBRS keeps the same per-item inclusion probabilities as per-item CBRS (two-sample χ², p = 0.001)', () => {
  // Class a fills the memory and becomes full; b and c then take its places while a keeps
  // arriving, so a full class's m_c falls between its candidates.
  const M = 8;
  const stream: string[] = [];
  for (let i = 0; i < 30; i++) stream.push('a');
  for (let i = 0; i < 40; i++) stream.push(i % 4 === 1 ? 'b' : i % 4 === 3 ? 'c' : 'a');
  for (let i = 0; i < 30; i++) stream.push(i % 3 === 0 ? 'b' : 'a');
  const runs = 20_000;
  const ours = new Float64Array(stream.length);
  const reference = new Float64Array(stream.length);
  const rng = new Rng(1234);
  for (let r = 0; r < runs; r++) {
    const mem = new ClassBalancedMemory<number>(M, rng);
    stream.forEach((cls, v) => mem.offer(cls, v));
    assert.equal(mem.size, M);
    for (const v of mem.contents()) ours[v]!++;
    for (const v of naiveCbrsRun(M, stream, rng)) reference[v]!++;
  }
  let chi = 0;
  let df = 0;
  for (let i = 0; i < stream.length; i++) {
    const s = ours[i]! + reference[i]!;
    if (s === 0) continue;
    chi += (ours[i]! - reference[i]!) ** 2 / s;
    df++;
  }
  assert.ok(df > 50, `most items have a chance to stay (${df})`);
  assert.ok(chi < chiSquareCritical(df), `χ² = ${chi.toFixed(1)} (df ${df})`);
});

test('offerKeyed follows offer; a forgotten key is looked up again', () => {
  const a = new ClassBalancedMemory<number>(20, new Rng(9));
  const b = new ClassBalancedMemory<number>(20, new Rng(9));
  const rng = new Rng(10);
  // Keys are reused for other categories after forgetKey, as the window recycles slots.
  const keyOf = new Map<string, number>();
  let nextKey = 0;
  for (let i = 0; i < 20_000; i++) {
    const cls = `c${Math.floor(rng.next() ** 2 * 15)}`;
    let key = keyOf.get(cls);
    if (key === undefined) {
      key = nextKey++ % 6;
      for (const [other, k] of keyOf) {
        if (k === key) {
          keyOf.delete(other);
          b.forgetKey(k);
        }
      }
      keyOf.set(cls, key);
    }
    assert.equal(b.offerKeyed(key, cls, i), a.offer(cls, i));
  }
  assert.deepEqual(b.contents(), a.contents());
  assert.deepEqual(b.counts(), a.counts());
});

test('a CBRS snapshot without candidate fields (older format) restores and keeps sampling', () => {
  const a = new ClassBalancedMemory<number>(30, new Rng(4));
  for (let i = 0; i < 3000; i++) a.offer(`c${i % 3}`, i);
  const snap = a.snapshot();
  const old = { ...snap, classes: snap.classes.map((c) => (c === null ? null : { id: c.id, seen: c.seen, full: c.full, bag: c.bag })) };
  const b = ClassBalancedMemory.restore<number>(old, new Rng(6));
  let stored = 0;
  for (let i = 3000; i < 6000; i++) if (b.offer(`c${i % 3}`, i)) stored++;
  // Each class holds 10 of its ~2,000 items: about 10·ln(2) ≈ 7 replacements per class.
  assert.ok(stored > 5 && stored < 60, `stored ${stored}`);
  assert.deepEqual([...b.counts().values()], [10, 10, 10]);
});
