import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { BalanceState, Rng, SOURCE_FRESH, SOURCE_REPLAY, SOURCE_SYNTHETIC, type BalanceConfig, type ComposedBatch } from '../../src/balance/index.js';
import { stream, type TestEvent } from './helpers.js';

const SHARES = [0.6, 0.25, 0.1, 0.04, 0.01];
const B = 1024;
const TOLERANCE = 0.01; // absolute, on the mean batch share over 100 batches

/** Warms a state on the stream, then composes batches from fresh chunks of the same stream. */
function run(config: Partial<BalanceConfig>, batches: number, interpolate?: (a: TestEvent, b: TestEvent, l: number) => TestEvent) {
  const rng = new Rng(11);
  const st = new BalanceState<TestEvent>({ bucketCount: 100, bucketWidthMs: 10_000, ...config }, new Rng(12));
  let t = 1_000_000;
  for (const e of stream(rng, SHARES, 50_000, t)) st.observe(e);
  t += 50_000;
  const mix = new Float64Array(SHARES.length);
  const bySource = [0, 0, 0];
  let dropped = 0;
  let q: number[] = [];
  for (let k = 0; k < batches; k++) {
    const fresh = stream(rng, SHARES, B, t, t);
    t += B;
    for (const e of fresh) st.observe(e);
    // q_c ∝ π_c^ρ from the live priors (what the composer uses).
    const rho = st.config.rho;
    const pw = SHARES.map((_, c) => Math.pow(st.prior(`c${c}`), rho));
    const sum = pw.reduce((a, b) => a + b, 0);
    q = pw.map((x) => x / sum);
    const batch = st.composeBatch(fresh, B, interpolate === undefined ? {} : { interpolate });
    // Sample weight = class weight / Z, Z = Σ_c q_c w_c (the batch-mean weight under the target
    // mix); ρ = 1 resamples nothing systematically and keeps the class weights unchanged.
    const z = rho === 1 ? 1 : q.reduce((acc, qc, c) => acc + qc * st.weightOf(`c${c}`), 0);
    assert.ok(Math.abs(batch.report.weightScale - 1 / z) <= 1e-12 / z, `weightScale ${batch.report.weightScale} vs 1/Z ${1 / z}`);
    assert.equal(batch.items.length, B);
    assert.equal(batch.weights.length, B);
    assert.equal(batch.report.size, B);
    assert.equal(batch.report.fresh + batch.report.replay + batch.report.synthetic, B);
    let fromMap = 0;
    for (const c of batch.report.byCategory.values()) fromMap += c.fresh + c.replay + c.synthetic;
    assert.equal(fromMap, B);
    for (let i = 0; i < B; i++) {
      const e = batch.items[i]!;
      mix[Number(e.categoryId.slice(1))]! += 1 / (B * batches);
      bySource[batch.sources[i]!]!++;
      const expected = st.weightOf(e.categoryId) / z;
      if (rho === 1) assert.equal(batch.weights[i], Math.fround(st.weightOf(e.categoryId)), 'ρ = 1: sample weight is the class weight');
      else assert.ok(Math.abs(batch.weights[i]! - expected) <= 1e-7 * expected, `sample weight ${batch.weights[i]} is class weight / Z = ${expected}`);
    }
    dropped += batch.report.droppedFresh;
  }
  return { mix, q, bySource, dropped, st };
}

for (const rho of [0, 0.3, 1]) {
  test(`batches reach the target mix q ∝ π^ρ within ±${TOLERANCE} (ρ = ${rho})`, () => {
    const { mix, q, bySource, dropped } = run({ rho }, 100);
    for (let c = 0; c < SHARES.length; c++) assert.ok(Math.abs(mix[c]! - q[c]!) <= TOLERANCE, `c${c}: ${mix[c]!.toFixed(4)} vs q ${q[c]!.toFixed(4)}`);
    if (rho === 1) {
      // The stream's own mix: nearly everything is fresh.
      assert.ok(bySource[SOURCE_FRESH]! > 0.95 * 100 * B);
    } else {
      assert.ok(bySource[SOURCE_REPLAY]! > 0, 'minorities oversampled by replay');
      assert.ok(dropped > 0, 'majority undersampled');
    }
  });
}

test('undersampling keeps a majority event with probability min(1, (B/F)·q_c/π_c)', () => {
  const rng = new Rng(5);
  const st = new BalanceState<TestEvent>({ rho: 0, bucketCount: 100, bucketWidthMs: 10_000 }, new Rng(6));
  for (const e of stream(rng, SHARES, 50_000)) st.observe(e);
  const fresh = stream(rng, [1], 4096, 1_050_000, 10_000_000); // all c0, the majority
  let kept = 0;
  const batches = 200;
  for (let k = 0; k < batches; k++) kept += st.composeBatch(fresh, B).report.fresh;
  const pw = [0, 1, 2, 3, 4].map(() => 1);
  const q0 = pw[0]! / pw.reduce((a, b) => a + b, 0);
  const expected = Math.min(1, ((B / fresh.length) * q0) / st.prior('c0'));
  const observed = kept / (batches * fresh.length);
  // Binomial standard error over 819,200 trials is < 0.0006; allow 0.005.
  assert.ok(Math.abs(observed - expected) < 0.005, `kept ${observed} vs ${expected}`);
});

test('synthetic minority samples come from the interpolation hook with two same-category items', () => {
  let calls = 0;
  const interpolate = (a: TestEvent, b: TestEvent, l: number): TestEvent => {
    calls++;
    assert.equal(a.categoryId, b.categoryId);
    assert.notEqual(a.id, b.id);
    assert.ok(l >= 0 && l < 1);
    return { id: -1, categoryId: a.categoryId, type: a.type, eventTime: a.eventTime * (1 - l) + b.eventTime * l };
  };
  const { bySource, mix, q } = run({ rho: 0, syntheticFraction: 0.5 }, 20, interpolate);
  assert.equal(bySource[SOURCE_SYNTHETIC], calls);
  assert.ok(calls > 0);
  const replay = bySource[SOURCE_REPLAY]!;
  // Half of the oversampled slots are synthetic (binomial, ±5 standard errors).
  const n = calls + replay;
  assert.ok(Math.abs(calls / n - 0.5) < 5 * Math.sqrt(0.25 / n), `${calls} synthetic of ${n}`);
  for (let c = 0; c < SHARES.length; c++) assert.ok(Math.abs(mix[c]! - q[c]!) <= 0.02);
});

test('bad batch arguments throw REB_BALANCE_INVALID', () => {
  const st = new BalanceState<TestEvent>({}, new Rng(1));
  assert.throws(() => st.composeBatch([], 0), { code: 'REB_BALANCE_INVALID', message: /batchSize must be an integer ≥ 1/ });
  assert.throws(() => st.composeBatch([], 1.5), { code: 'REB_BALANCE_INVALID' });
  assert.throws(() => st.composeBatch(null as unknown as TestEvent[], 8), { code: 'REB_BALANCE_INVALID', message: /fresh must be/ });
  // Nothing observed: nothing to replay, the batch is short and says so.
  const empty = st.composeBatch([], 8);
  assert.equal(empty.items.length, 0);
  assert.equal(empty.report.unfilled, 8);
});

test('report.byCategory counts each category’s samples by source, categories outside the window included', () => {
  const rng = new Rng(31);
  const st = new BalanceState<TestEvent>({ bucketCount: 10, bucketWidthMs: 10_000 }, new Rng(32));
  let t = 1_000_000;
  for (const e of stream(rng, SHARES, 20_000, t)) st.observe(e);
  t += 20_000;
  for (let k = 0; k < 20; k++) {
    const fresh = stream(rng, SHARES, 256, t, t);
    t += 256;
    // Two categories the window has never seen: kept as fresh with the unseen weight.
    fresh.push({ id: -1, categoryId: 'new-a', type: 'view', eventTime: t }, { id: -2, categoryId: 'new-b', type: 'click', eventTime: t });
    const batch = st.composeBatch(fresh, 128 + k * 16);
    const want = new Map<string, { fresh: number; replay: number; synthetic: number }>();
    batch.items.forEach((e, i) => {
      const c = want.get(e.categoryId) ?? { fresh: 0, replay: 0, synthetic: 0 };
      c[(['fresh', 'replay', 'synthetic'] as const)[batch.sources[i]!]!]++;
      want.set(e.categoryId, c);
    });
    assert.deepEqual(new Map([...batch.report.byCategory].sort(([a], [b]) => a.localeCompare(b))), new Map([...want].sort(([a], [b]) => a.localeCompare(b))));
  }
});

/**
 * Regression fixture for the composer's refactors (issue #17: compose() split into named
 * steps): for a fixed seed the composed batches — items, sample weights (float bits), sources
 * and report — must not change by a bit. The expected digests were computed with the
 * single-function compose() of commit 5fa04d2, before the split. The scenarios cover every
 * branch: ρ ∈ {0, 0.3, 1}, uniform and informed undersampling, synthesis (accepted and
 * declined), categories outside the window, F < B, F > B, F = 0, unfilled slots with and
 * without the fresh fallback, the decayed window's non-integer counts, and the
 * effective-number weights (so it also pins those bits).
 */
const COMPOSE_GOLDEN: readonly (readonly [string, Partial<BalanceConfig>, boolean, string])[] = [
  ['ρ 0.3, effective number (defaults)', {}, false, 'd78ba10dd64748c53d3fc0fed28831251460e2e0a02037d3a38df5956494f636'],
  ['ρ 0, synthesis, effective number α 0 β 0.99', { rho: 0, syntheticFraction: 0.4, syntheticWeight: 0.5, alpha: 0, beta: 0.99 }, false, '9ddd279c79ec30796ce79627ac79e5cf95e9563365ed03bfc36f7d516363b6ce'],
  ['ρ 1, inverse frequency', { rho: 1, weightPolicy: 'inverse_frequency' }, false, '2d5ae5bcc4e0cc67be23cbd3806e899ffa383c62f0999eb6b8b77b0a17a0a4c4'],
  ['ρ 0.5, decayed window, sqrt inverse', { rho: 0.5, windowMode: 'decayed', decayHalfLifeMs: 20_000, weightPolicy: 'sqrt_inverse' }, false, 'b08769939c89f104e0d11e9e28d08d696b7736a221ee4e793852aac456752ada'],
  ['ρ 0, informed undersampling', { rho: 0, syntheticFraction: 0.2 }, true, '17bca6bcbaca4bae559fc74a0fdf4d3a6faad1cbab7673317faefd6c2893e02e'],
  ['ρ 0, starved replay (unfilled, fallback)', { rho: 0, replayEventTypes: ['purchase'], reservoirSize: 4, replayMemorySize: 16 }, false, '99838cd2dbf059ed8b68bdef330e3e4c2f955f63eaf63554bfbd7a509794ff6e'],
  ['ρ 0, starved replay, informed', { rho: 0, replayEventTypes: ['purchase'], reservoirSize: 4, replayMemorySize: 16 }, true, '99c2f1c39a7d98ecd01e753588c099f6c4ded130d5fabdf39abb6d448f0e4d5f'],
];

function composeDigest(config: Partial<BalanceConfig>, informed: boolean): string {
  const rng = new Rng(2024);
  const st = new BalanceState<TestEvent>({ bucketCount: 50, bucketWidthMs: 1_000, refreshEveryEvents: 500, ...config }, new Rng(4202));
  // Starved (only purchases replayed): c3 and c4 come as views only, so their shortfalls have
  // nothing to replay and fall back on dropped fresh events, or stay unfilled.
  const starved = config.replayEventTypes !== undefined;
  const shape = (es: TestEvent[]): TestEvent[] => (starved ? es.map((e) => (e.categoryId === 'c3' || e.categoryId === 'c4' ? { ...e, type: 'view' as const } : e)) : es);
  const h = createHash('sha256');
  const add = (batch: ComposedBatch<TestEvent>): void => {
    h.update(JSON.stringify(batch.items.map((e) => [e.id, e.categoryId, e.type, e.eventTime])));
    h.update(Buffer.from(batch.weights.buffer, batch.weights.byteOffset, batch.weights.byteLength));
    h.update(Buffer.from(batch.sources));
    const r = batch.report;
    h.update(JSON.stringify([r.requested, r.size, r.fresh, r.replay, r.synthetic, r.droppedFresh, r.unfilled, r.weightScale, [...r.byCategory]]));
  };
  add(st.composeBatch([], 8)); // nothing observed yet: every slot unfilled
  let t = 1_000_000;
  for (const e of shape(stream(rng, SHARES, 8_000, t))) st.observe(e);
  t += 8_000;
  // Declines every third call, so both the synthetic and the declined-replay paths run.
  let calls = 0;
  const interpolate = (a: TestEvent, b: TestEvent, l: number): TestEvent | undefined => (++calls % 3 === 0 ? undefined : { id: -a.id - 1, categoryId: a.categoryId, type: b.type, eventTime: a.eventTime * (1 - l) + b.eventTime * l });
  const score = (e: TestEvent, i: number): number => ((e.id * 7919 + i) % 101) / 7 + (e.id % 13 === 0 ? NaN : 0);
  const plan: readonly (readonly [number, number])[] = [
    [256, 256],
    [1024, 256],
    [100, 256],
    [0, 64],
    [300, 128],
    [2048, 512],
    [64, 1],
    [512, 200],
  ];
  for (let k = 0; k < plan.length; k++) {
    const [F, B] = plan[k]!;
    // Chunk 5 comes after a gap longer than the window and without c3: c3's slot is freed.
    if (k === 5) t += 60_000;
    const shares = k === 4 ? [0.5, 0, 0, 0, 0.1, 0.4] : k === 5 ? [0.6, 0.25, 0.1, 0, 0.05] : SHARES;
    const fresh = shape(stream(rng, shares, F, t, t));
    t += F + 1;
    for (const e of fresh) st.observe(e);
    // Categories outside the window (not observed): kept as fresh, with the unseen weight.
    if (k % 2 === 1) fresh.push({ id: -10 - k, categoryId: `new-${k}`, type: 'click', eventTime: t }, { id: -20 - k, categoryId: `new-${k}`, type: 'purchase', eventTime: t });
    add(st.composeBatch(fresh, B, informed ? { interpolate, score } : { interpolate }));
  }
  h.update(JSON.stringify(st.snapshot().rng));
  return h.digest('hex');
}

test('composed batches are bit-identical to the pre-split compose() for a fixed seed', () => {
  const got = COMPOSE_GOLDEN.map(([name, config, informed]) => [name, composeDigest(config, informed)]);
  assert.deepEqual(got, COMPOSE_GOLDEN.map(([name, , , digest]) => [name, digest]));
});
