import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BalanceState, DEFAULT_BALANCE_CONFIG, Rng, type BalanceConfig } from '../../src/balance/index.js';
import { RebalancerError } from '../../src/errors.js';
import { TYPES, stream, type TestEvent } from './helpers.js';

function drive(st: BalanceState<TestEvent>, rng: Rng, start: number, n: number): unknown[] {
  const out: unknown[] = [];
  let t = start;
  for (let i = 0; i < n; i++) {
    t += rng.int(40) + (i === n >> 1 ? 150_000 : 0); // one idle gap longer than the window: every category vanishes
    const e: TestEvent = { id: start + i, categoryId: `c${Math.floor(rng.next() ** 3 * 30)}`, type: TYPES[rng.int(4)]!, eventTime: rng.next() < 0.05 ? t - rng.int(600_000) : t };
    out.push(st.observe(e));
    if (i % 500 === 499) {
      const fresh = stream(rng, [5, 3, 1, 1], 64, t, 1e9 + i);
      const b = st.composeBatch(fresh, 64, { interpolate: (a, c, l) => ({ ...a, id: -Math.round(l * 1e6) - c.id }) });
      out.push(b.items.map((x) => x.id), Array.from(b.weights), Array.from(b.sources), b.report.droppedFresh, b.report.unfilled);
      out.push(st.stats(), [...st.weights()]);
    }
  }
  out.push(st.counters(), [...st.replayCounts()], st.categories().map((c) => [c, st.reservoir(c).map((x) => x.id)]));
  return out;
}

for (const windowMode of ['sliding', 'decayed'] as const) {
  test(`a restored snapshot behaves identically, random choices included (${windowMode})`, () => {
    const config: Partial<BalanceConfig> = { windowMode, bucketCount: 20, bucketWidthMs: 5_000, reservoirSize: 8, replayMemorySize: 64, refreshEveryEvents: 256, syntheticFraction: 0.3, maxCategories: 25 };
    const a = new BalanceState<TestEvent>(config, new Rng(1));
    drive(a, new Rng(2), 0, 20_000);
    const snap = JSON.parse(JSON.stringify(a.snapshot()));
    const b = BalanceState.restore<TestEvent>(snap);
    const c = BalanceState.restore<TestEvent>(snap);
    assert.deepEqual(b.snapshot(), a.snapshot(), 'restore reproduces the snapshot');
    const outA = drive(a, new Rng(3), 400_000, 20_000);
    const outB = drive(b, new Rng(3), 400_000, 20_000);
    assert.deepEqual(outB, outA);
    assert.deepEqual(drive(c, new Rng(3), 400_000, 20_000), outA);
    const k = a.counters();
    assert.ok(k.overflow > 0 && k.late > 0 && k.released > 0, `the run exercised overflow, late events and recycling: ${JSON.stringify(k)}`);
  });
}

test('restore refuses a change to a setting that shapes stored state', () => {
  const a = new BalanceState<TestEvent>({}, new Rng(1));
  const snap = a.snapshot();
  assert.throws(() => BalanceState.restore(snap, { bucketCount: 10 }), { code: 'REB_BALANCE_INVALID', message: /config.bucketCount must be 60/ });
  assert.equal(BalanceState.restore(snap, { rho: 0.7 }).config.rho, 0.7);
  assert.throws(() => BalanceState.restore({ ...snap, version: 2 as 1 }), { code: 'REB_BALANCE_INVALID', message: /snapshot.version/ });
});

test('bad configuration throws REB_BALANCE_INVALID naming the setting and the expected form', () => {
  const cases: [Partial<BalanceConfig>, RegExp][] = [
    [{ bucketCount: 0 }, /^bucketCount must be an integer in \[1, 1000000\], got 0$/],
    [{ bucketCount: 2.5 }, /^bucketCount must be an integer/],
    [{ bucketWidthMs: 0 }, /^bucketWidthMs must be an integer ≥ 1/],
    [{ allowedLatenessMs: NaN }, /^allowedLatenessMs must be a finite number in \[0, ∞\), got NaN$/],
    [{ allowedLatenessMs: -1 }, /^allowedLatenessMs must be/],
    [{ maxCategories: 0 }, /^maxCategories must be an integer/],
    [{ windowMode: 'tumbling' as 'sliding' }, /^windowMode must be 'sliding' or 'decayed', got "tumbling"$/],
    [{ decayHalfLifeMs: 0 }, /^decayHalfLifeMs must be a finite number in \(0, ∞\)/],
    [{ alpha: -1 }, /^alpha must be/],
    [{ weightPolicy: 'focal' as 'none' }, /^weightPolicy must be one of none, inverse_frequency, sqrt_inverse, effective_number/],
    [{ beta: 1 }, /^beta must be a finite number in \(0, 1\), got 1$/],
    [{ beta: 0 }, /^beta must be a finite number in \(0, 1\), got 0$/],
    [{ minWeight: 2, maxWeight: 1.5 }, /^minWeight must be a finite number in \(0, 1\]/],
    [{ minWeight: 0 }, /^minWeight must be/],
    [{ maxWeight: 0.5 }, /^maxWeight must be a finite number in \[1, ∞\)/],
    [{ smoothing: 0 }, /^smoothing must be a finite number in \(0, 1\]/],
    [{ reservoirSize: 0 }, /^reservoirSize must be an integer/],
    [{ replayMemorySize: 0 }, /^replayMemorySize must be an integer/],
    [{ rho: 1.5 }, /^rho must be a finite number in \[0, 1\]/],
    [{ syntheticFraction: -0.1 }, /^syntheticFraction must be/],
    [{ refreshEveryEvents: -1 }, /^refreshEveryEvents must be an integer ≥ 0/],
    [{ bukketCount: 3 } as Partial<BalanceConfig>, /^config.bukketCount must be one of the known settings/],
  ];
  for (const [config, message] of cases) {
    assert.throws(
      () => new BalanceState(config, new Rng(1)),
      (err: unknown) => err instanceof RebalancerError && err.code === 'REB_BALANCE_INVALID' && message.test(err.message),
      `${JSON.stringify(config)} → ${message}`,
    );
  }
  assert.throws(() => new BalanceState({}, {} as Rng), { code: 'REB_BALANCE_INVALID', message: /^rng must be an Rng/ });
  assert.doesNotThrow(() => new BalanceState(DEFAULT_BALANCE_CONFIG, new Rng(1)));
});

test('bad events are counted rejections that leave the state untouched', () => {
  const st = new BalanceState<TestEvent>({ refreshEveryEvents: 0 }, new Rng(1));
  for (const e of stream(new Rng(2), [3, 1], 1000)) assert.equal(st.observe(e), 'accepted');
  const before = JSON.stringify(st.snapshot());
  const bad = [
    { id: 1, categoryId: 'c0', type: 'view', eventTime: NaN },
    { id: 2, categoryId: 'c0', type: 'view', eventTime: -5 },
    { id: 3, categoryId: '', type: 'view', eventTime: 1_000_500 },
    { id: 4, categoryId: 'c0', type: 'wishlist', eventTime: 1_000_500 },
  ] as unknown as TestEvent[];
  for (const e of bad) assert.equal(st.observe(e), 'rejected');
  const after = JSON.parse(JSON.stringify(st.snapshot()));
  assert.equal(after.window.counters.rejected, 4);
  after.window.counters.rejected = 0;
  after.observed -= 4;
  assert.equal(JSON.stringify(after), before);
  // A late event is counted, not dropped silently.
  assert.equal(st.observe({ id: 9, categoryId: 'c0', type: 'view', eventTime: 1_000_999 - 300_001 }), 'late');
  assert.equal(st.counters().late, 1);
});

test('stats(), prior() and weights() describe the window', () => {
  const st = new BalanceState<TestEvent>({ alpha: 1 }, new Rng(1));
  let id = 0;
  const add = (cat: string, n: number) => {
    for (let i = 0; i < n; i++) st.observe({ id: id++, categoryId: cat, type: 'view', eventTime: 1000 + id });
  };
  add('a', 900);
  add('b', 90);
  add('c', 10);
  const s = st.stats();
  assert.equal(s.categories, 3);
  assert.equal(s.total, 1000);
  assert.equal(s.imbalanceRatio, 90);
  assert.equal(st.prior('a'), 901 / 1003);
  assert.equal(st.prior('zzz'), 1 / 1003);
  assert.equal(st.typeCount('a', 'view'), 900);
  const cs = st.categoryStats();
  assert.deepEqual(cs.map((x) => x.categoryId), ['a', 'b', 'c']);
  assert.equal(cs[2]!.share, 0.01);
  assert.equal(st.weightOf('c'), st.weightOf('a'), 'no refresh yet (1,000 < 1,024 events): neutral weights');
  st.refreshWeights();
  assert.ok(st.weightOf('c') > st.weightOf('a'), 'the rare category weighs more');
});

test('with a count source (the global window), weights and priors follow it, not the local window', () => {
  const config: Partial<BalanceConfig> = { smoothing: 1, weightPolicy: 'inverse_frequency', refreshEveryEvents: 0, alpha: 1, minWeight: 0.01, maxWeight: 100 };
  const st = new BalanceState<TestEvent>(config, new Rng(1));
  // Locally the two categories look balanced...
  for (let i = 0; i < 100; i++) st.observe({ id: i, categoryId: i % 2 === 0 ? 'a' : 'b', type: 'click', eventTime: 1_000 + i });
  st.refreshWeights();
  assert.ok(Math.abs(st.weightOf('a') - st.weightOf('b')) < 1e-9, 'local: equal weights');
  // ...globally `b` is the minority (the other instances' partitions).
  const global = new Map([['a', 900], ['b', 100]]);
  st.useCountSource({ count: (c) => global.get(c) ?? 0, total: () => 1_000, categories: () => 2 });
  st.refreshWeights();
  assert.ok(st.weightOf('b') / st.weightOf('a') > 8, `global: b weighted ~9x a (got ${st.weightOf('b') / st.weightOf('a')})`);
  assert.equal(st.prior('b'), (100 + 1) / (1_000 + 2));
  // An empty source (nothing published yet) falls back to the local window.
  st.useCountSource({ count: () => 0, total: () => 0, categories: () => 0 });
  assert.equal(st.prior('b'), (50 + 1) / (100 + 2));
});
