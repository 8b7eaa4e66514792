/**
 * Informed undersampling (ComposeOptions.score, src/balance/composer.ts): an undersampled
 * category keeps exactly its k_c highest-scored fresh events, k_c ∈ {⌊x_c⌋, ⌈x_c⌉} with
 * x_c = F_c·a_c the uniform method's expected kept count (and E[k_c] = x_c); ties are broken
 * uniformly by the seeded Rng; without a score hook the composer is bit-identical to the
 * uniform composer as it was before the hook existed.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { BalanceState, Rng, SOURCE_FRESH, type BalanceConfig, type ComposedBatch, type ComposeOptions } from '../../src/balance/index.js';
import { chiSquareCritical, stream, type TestEvent } from './helpers.js';

const SHARES = [0.6, 0.25, 0.1, 0.04, 0.01];

/** A state warmed on 20,000 events of SHARES (every reservoir non-empty unless `starved`). */
function warmState(config: Partial<BalanceConfig>, rng: Rng, starved = false): { st: BalanceState<TestEvent>; t: number; shape: (es: TestEvent[]) => TestEvent[] } {
  const st = new BalanceState<TestEvent>({ bucketCount: 100, bucketWidthMs: 10_000, reservoirSize: 50, replayMemorySize: 200, weightPolicy: 'sqrt_inverse', ...(starved ? { replayEventTypes: ['purchase' as const] } : {}), ...config }, new Rng(22));
  // starved: c3 and c4 only ever come as views while only purchases are replayed, so their
  // shortfall has nothing to replay and is filled with undersampled-away fresh events.
  const shape = (es: TestEvent[]): TestEvent[] => (starved ? es.map((e) => (e.categoryId === 'c3' || e.categoryId === 'c4' ? { ...e, type: 'view' as const } : e)) : es);
  const t = 1_000_000;
  for (const e of shape(stream(rng, SHARES, 20_000, t))) st.observe(e);
  return { st, t: t + 20_000, shape };
}

/** a_c = min(1, (B/F)·q_c/π_c), q_c ∝ π_c^ρ, from the state's live priors (what the composer uses). */
function acceptance(st: BalanceState<TestEvent>, B: number, F: number): Map<string, number> {
  const cats = st.categories();
  const rho = st.config.rho;
  const pw = cats.map((c) => Math.pow(st.prior(c), rho));
  const sum = pw.reduce((a, b) => a + b, 0);
  return new Map(cats.map((c, i) => [c, Math.min(1, ((B / F) * (pw[i]! / sum)) / st.prior(c))]));
}

function freshByCategory(batch: ComposedBatch<TestEvent>): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  batch.items.forEach((e, i) => {
    if (batch.sources[i] !== SOURCE_FRESH) return;
    let s = out.get(e.categoryId);
    if (s === undefined) out.set(e.categoryId, (s = new Set()));
    s.add(e.id);
  });
  return out;
}

/** Fresh events of category c, highest score first (scores distinct in these tests). */
function ranked(fresh: readonly TestEvent[], scores: Float64Array, c: string): TestEvent[] {
  return fresh
    .map((e, i) => ({ e, s: scores[i]! }))
    .filter((x) => x.e.categoryId === c)
    .sort((a, b) => b.s - a.s)
    .map((x) => x.e);
}

describe('informed undersampling', () => {
  it('keeps exactly the top-k_c fresh events by score of each undersampled category, k_c within rounding of the uniform expected count F_c·a_c', () => {
    let undersampled = 0;
    for (const seed of [1, 2, 3]) {
      for (const rho of [0, 0.3]) {
        for (const starved of [false, true]) {
          const rng = new Rng(seed);
          const { st, shape, t: t0 } = warmState({ rho }, rng, starved);
          let t = t0;
          const B = 256;
          for (const F of [256, 256, 300, 1024, 100]) {
            const fresh = shape(stream(rng, SHARES, F, t, t));
            t += F;
            for (const e of fresh) st.observe(e);
            const scores = Float64Array.from(fresh, () => rng.next());
            const accept = acceptance(st, B, F);
            const batch = st.composeBatch(fresh, B, { score: (_, i) => scores[i]! });
            const kept = freshByCategory(batch);
            // Would every undersampled category round up, could more than B be kept (then a trim redraws the counts)?
            let most = 0;
            for (const [c, a] of accept) {
              const n = fresh.filter((e) => e.categoryId === c).length;
              most += a < 1 ? Math.ceil(n * a) : n;
            }
            for (const [c, a] of accept) {
              const order = ranked(fresh, scores, c);
              const got = kept.get(c) ?? new Set<number>();
              // Always: the category's fresh events in the batch are its highest-scored ones.
              assert.deepEqual(new Set(order.slice(0, got.size).map((e) => e.id)), got, `seed ${seed} ρ ${rho} F ${F} ${c}: kept fresh events are the top ${got.size} by score`);
              if (a >= 1 || starved || most > B) continue;
              undersampled++;
              const x = order.length * a;
              assert.ok(got.size === Math.floor(x) || got.size === Math.ceil(x), `seed ${seed} ρ ${rho} F ${F} ${c}: kept ${got.size}, uniform expects ${x.toFixed(3)}`);
            }
          }
        }
      }
    }
    assert.ok(undersampled >= 20, `the count check ran on ${undersampled} undersampled categories`);
  });

  it('keeps F_c·a_c events per undersampled category on average, as uniform undersampling does', () => {
    const rng = new Rng(7);
    const { st } = warmState({ rho: 0 }, rng);
    const fresh = stream(rng, SHARES, 1024, 5_000_000, 10_000_000); // not observed: the window stays put
    const B = 256;
    const accept = acceptance(st, B, fresh.length);
    const cats = [...accept.keys()].filter((c) => accept.get(c)! < 1);
    assert.ok(cats.length >= 2, 'at least two categories are undersampled');
    const N = 2_000;
    const informed = new Map(cats.map((c) => [c, 0]));
    const uniform = new Map(cats.map((c) => [c, 0]));
    const scores = Float64Array.from(fresh, () => rng.next());
    for (let k = 0; k < N; k++) {
      for (const [c, s] of freshByCategory(st.composeBatch(fresh, B, { score: (_, i) => scores[i]! }))) if (informed.has(c)) informed.set(c, informed.get(c)! + s.size);
      for (const [c, s] of freshByCategory(st.composeBatch(fresh, B))) if (uniform.has(c)) uniform.set(c, uniform.get(c)! + s.size);
    }
    for (const c of cats) {
      const n = fresh.filter((e) => e.categoryId === c).length;
      const x = n * accept.get(c)!;
      const frac = x - Math.floor(x);
      // Informed: ⌊x⌋ + Bernoulli(frac) per batch; 5 standard errors (at least 0.5 / N for frac = 0).
      const seInformed = Math.sqrt((frac * (1 - frac)) / N);
      assert.ok(Math.abs(informed.get(c)! / N - x) <= 5 * seInformed + 0.5 / N, `${c}: informed mean ${(informed.get(c)! / N).toFixed(3)} vs F_c·a_c ${x.toFixed(3)}`);
      // Uniform: Binomial(F_c, a_c) per batch, mean F_c·a_c (the reference the informed count must match).
      const a = accept.get(c)!;
      const seUniform = Math.sqrt((n * a * (1 - a)) / N);
      assert.ok(Math.abs(uniform.get(c)! / N - x) <= 5 * seUniform, `${c}: uniform mean ${(uniform.get(c)! / N).toFixed(3)} vs F_c·a_c ${x.toFixed(3)}`);
    }
  });

  it('breaks ties uniformly with the seeded Rng (χ² at p = 0.001), reproducibly for a seed', () => {
    const rng = new Rng(9);
    const { st } = warmState({ rho: 0 }, rng);
    const fresh = stream(rng, [1], 200, 5_000_000, 10_000_000); // all c0, the majority
    const same = (): number => 1;
    const N = 3_000;
    const keptTimes = new Float64Array(fresh.length);
    let total = 0;
    for (let k = 0; k < N; k++) {
      const batch = st.composeBatch(fresh, 128, { score: same });
      for (const id of freshByCategory(batch).get('c0') ?? []) {
        keptTimes[id - 10_000_000]!++;
        total++;
      }
    }
    const p = total / (N * fresh.length);
    assert.ok(p > 0.05 && p < 0.95, `c0 is undersampled (kept share ${p.toFixed(3)})`);
    let chi2 = 0;
    for (const o of keptTimes) chi2 += (o - N * p) ** 2 / (N * p * (1 - p));
    assert.ok(chi2 < chiSquareCritical(fresh.length - 1), `χ² ${chi2.toFixed(1)} < ${chiSquareCritical(fresh.length - 1).toFixed(1)}: every tied event equally likely kept`);
    // Same seed, same batch; another seed, another choice among the ties.
    const compose = (seed: number): number[] => {
      const r = new Rng(seed);
      const w = warmState({ rho: 0 }, r);
      return [...(freshByCategory(w.st.composeBatch(fresh, 128, { score: same })).get('c0') ?? [])].sort((a, b) => a - b);
    };
    assert.deepEqual(compose(4), compose(4));
    assert.notDeepEqual(compose(4), compose(5));
  });

  it('ranks ties below higher scores, and a NaN score below every number', () => {
    const rng = new Rng(13);
    const { st } = warmState({ rho: 0 }, rng);
    const fresh = stream(rng, [1], 400, 5_000_000, 10_000_000);
    // Three tiers: 1 (the first 40), NaN (the next 40), 0 (the rest).
    const score = (_: TestEvent, i: number): number => (i < 40 ? 1 : i < 80 ? Number.NaN : 0);
    for (let k = 0; k < 50; k++) {
      const kept = [...(freshByCategory(st.composeBatch(fresh, 256, { score })).get('c0') ?? [])].map((id) => id - 10_000_000);
      assert.ok(kept.length > 40 && kept.length < 360, `kept ${kept.length}`);
      for (let i = 0; i < 40; i++) assert.ok(kept.includes(i), `score-1 event ${i} kept`);
      assert.ok(kept.every((i) => i < 40 || i >= 80), 'no NaN-scored event kept while a 0-scored one is dropped');
    }
  });

  it('is bit-identical to the uniform composer as it was before informed undersampling without a score hook (same seed, same batches)', () => {
    // sha256 of the items, weights, sources, reports and the final Rng state of 7 batches
    // (F = 256, 256, 300, 100, 256, 1024, 64; B = 256), recorded with the composer before the
    // score hook existed (git 8e4b4e8), per ρ, synthetic fraction and starved reservoirs.
    const GOLDEN: [number, number, boolean, string][] = [
      [0, 0, false, '4db9c8ba67260f80e97fd54924f385482fd0504a0dfc1b8d9c019471d212c783'],
      [0, 0, true, 'c38ca8e186a27d86bd883d1b847f8627298e59388014ced1c231487f3ebf543d'],
      [0, 0.5, false, '702ea5dd1568d44decf3c55f1240bf979b795b1b3dbc2d59c28f239a8ae24342'],
      [0, 0.5, true, '40b793fabafa20c4dc165b589861817fd5e14f7fce66d4a4136e46892b8c82e4'],
      [0.3, 0, false, '8c666ca67bf04dbbd47ffbb3bf43aa38b1bfe205e2c8b3421795167235f2baff'],
      [0.3, 0, true, '14a58981b7a4a8aef36e8fef5aa6486c9f6e2d1f03650f254190665cc0551e05'],
      [0.3, 0.5, false, 'f22ee4a9f93a5f7ba16906bcf57bf7269ee472633bf1e0f6e45d412d7304da62'],
      [0.3, 0.5, true, 'f98e974f4af4630f21c3adb3566a07846759a7b45e07d68334401fb9ae7192e8'],
      [1, 0, false, '1baa647ffb8b3448bcd16cb464c14bef9c723335fb24d862c278305925cd42ea'],
      [1, 0, true, '643b137d7032b18ac985b8e3fd8b88ae5dfbe91d94b8ff77d91a207dc62bf477'],
      [1, 0.5, false, 'ad5061c625176f7bbba045fa26e9376b6ad135b1d5be1c1aa5c0e08a79eea4fd'],
      [1, 0.5, true, '25c028fc3b7d48fa58c732b711f4e596035e9f0d8971fd31a6e5d56099435557'],
    ];
    const interpolate = (a: TestEvent, b: TestEvent, l: number): TestEvent => ({ ...a, id: -1 - Math.round(l * 1e6) - b.id });
    const digest = (rho: number, syntheticFraction: number, starved: boolean, options: ComposeOptions<TestEvent>): string => {
      const rng = new Rng(21);
      const { st, shape, t: t0 } = warmState({ rho, syntheticFraction }, rng, starved);
      let t = t0;
      const h = createHash('sha256');
      const sizes = [256, 256, 300, 100, 256, 1024, 64];
      for (let k = 0; k < sizes.length; k++) {
        const F = sizes[k]!;
        const fresh = shape(stream(rng, k === 4 ? [0.5, 0, 0, 0, 0, 0.5] : SHARES, F, t, t));
        t += F;
        for (const e of fresh) st.observe(e);
        const batch = st.composeBatch(fresh, 256, options);
        h.update(JSON.stringify(batch.items.map((e) => e.id)));
        h.update(Buffer.from(batch.weights.buffer, batch.weights.byteOffset, batch.weights.byteLength));
        h.update(Buffer.from(batch.sources));
        const r = batch.report;
        h.update(JSON.stringify([r.requested, r.size, r.fresh, r.replay, r.synthetic, r.droppedFresh, r.unfilled, r.weightScale, [...r.byCategory]]));
      }
      h.update(JSON.stringify(st.snapshot().rng));
      return h.digest('hex');
    };
    for (const [rho, synthetic, starved, expected] of GOLDEN) {
      assert.equal(digest(rho, synthetic, starved, { interpolate }), expected, `ρ ${rho}, synthetic ${synthetic}, starved ${starved}`);
      assert.equal(digest(rho, synthetic, starved, { interpolate, score: undefined }), expected, `ρ ${rho}, synthetic ${synthetic}, starved ${starved}: score: undefined`);
    }
    // The hook does change the batches where undersampling happens (the digest can tell).
    assert.notEqual(digest(0.3, 0, false, { interpolate, score: (e) => e.id % 97 }), GOLDEN[4]![3]);
  });
});
