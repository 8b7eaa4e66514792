/**
 * Sample weights of composed batches: class weight / Z, Z = Σ_c q_c w_c over the target mix
 * q ∝ π^ρ, so a composed batch's expected mean sample weight is 1 whatever ρ and the policy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BalanceState, Rng, type WeightPolicyName } from '../../src/balance/index.js';
import { stream, type TestEvent } from './helpers.js';

const B = 1024;
const BATCHES = 40;
/**
 * Tolerance on the mean sample weight over BATCHES batches of B. Two parts:
 *  - sampling: the per-batch means vary; the standard error of their average is ≤ 0.0025 on
 *    these streams (measured), so 4 standard errors ≤ 0.01;
 *  - bias of the composer's mix, which is q only approximately: a category whose kept fresh
 *    count overshoots B·q_c is not trimmed (trimming would resample the fresh events even at
 *    ρ = 1), while a shortfall is filled by replay, so E[count_c] ≈ B·q_c + E[(kept_c − B·q_c)⁺]
 *    for the head. The head (light weights) ends ≈ 0.4·sd(kept_c)/B ≈ 0.005 above q at
 *    B = 1,024, the tail below, and the mean weight falls by up to 0.021 on these streams
 *    (measured: means 0.980 to 0.994). This part shrinks as 1/√B.
 * Without the normalisation the mean is Σ q_c w_c, 1.15 to 2.3 on these streams; each case
 * asserts it lies beyond 2 × the tolerance, so every case fails without the fix.
 */
const TOLERANCE = 0.035;

/** A random skewed stream: C categories with Zipf(s) shares, C in [8, 20), s in [1, 1.5). */
function skewedShares(rng: Rng): number[] {
  const c = 8 + rng.int(12);
  const s = 1 + 0.5 * rng.next();
  return Array.from({ length: c }, (_, i) => Math.pow(i + 1, -s));
}

interface Run {
  meanWeight: number;
  /** Mean over batches of Σ_c q_c w_c with the class weights: the old batch mean. */
  unnormalisedMean: number;
  /** Largest |Σ_c q_c ŵ_c − 1| over batches, ŵ_c the batch's sample weight of c. */
  worstTargetMixError: number;
}

function run(shares: readonly number[], policy: WeightPolicyName, rho: number, seed: number): Run {
  const rng = new Rng(seed);
  // β = 0.9999 (Cui et al.'s largest): at 0.999 effective numbers saturate past a few thousand
  // events, the weights flatten and the case could not tell the fix apart.
  const st = new BalanceState<TestEvent>({ bucketCount: 100, bucketWidthMs: 10_000, weightPolicy: policy, beta: 0.9999, rho }, new Rng(seed + 1));
  let t = 1_000_000;
  for (const e of stream(rng, shares, 30_000, t)) st.observe(e);
  t += 30_000;
  let sum = 0;
  let unnormalised = 0;
  let worst = 0;
  for (let k = 0; k < BATCHES; k++) {
    const fresh = stream(rng, shares, B, t, t);
    t += B;
    for (const e of fresh) st.observe(e);
    const pw = shares.map((_, c) => Math.pow(st.prior(`c${c}`), rho));
    const pSum = pw.reduce((a, b) => a + b, 0);
    const q = pw.map((x) => x / pSum);
    const batch = st.composeBatch(fresh, B);
    assert.equal(batch.report.size, B);
    const sampleWeight = new Map<string, number>();
    let batchSum = 0;
    for (let i = 0; i < batch.items.length; i++) {
      const id = batch.items[i]!.categoryId;
      const w = batch.weights[i]!;
      batchSum += w;
      const seen = sampleWeight.get(id);
      assert.ok(seen === undefined || seen === w, `one sample weight per category in a batch (${id})`);
      sampleWeight.set(id, w);
    }
    sum += batchSum / batch.items.length;
    unnormalised += q.reduce((a, qc, c) => a + qc * st.weightOf(`c${c}`), 0);
    // Every category is in the batch (the tail by replay), so ŵ_c is known for all of them.
    const targetMean = q.reduce((a, qc, c) => a + qc * sampleWeight.get(`c${c}`)!, 0);
    worst = Math.max(worst, Math.abs(targetMean - 1));
  }
  return { meanWeight: sum / BATCHES, unnormalisedMean: unnormalised / BATCHES, worstTargetMixError: worst };
}

const POLICIES: readonly WeightPolicyName[] = ['inverse_frequency', 'sqrt_inverse', 'effective_number'];

for (const seed of [101, 202, 303]) {
  const shares = skewedShares(new Rng(seed));
  for (const policy of POLICIES) {
    for (const rho of [0, 0.5]) {
      test(`mean sample weight of composed batches is 1 ± ${TOLERANCE} (stream ${seed}: ${shares.length} categories; ${policy}; ρ = ${rho})`, () => {
        const r = run(shares, policy, rho, seed);
        // Exactly 1 under the target mix (float32 weights: 1e-6).
        assert.ok(r.worstTargetMixError < 1e-6, `Σ q_c ŵ_c off 1 by ${r.worstTargetMixError}`);
        assert.ok(Math.abs(r.meanWeight - 1) <= TOLERANCE, `mean sample weight ${r.meanWeight.toFixed(4)}`);
        assert.ok(Math.abs(r.unnormalisedMean - 1) > 2 * TOLERANCE, `this case tells the fix apart: Σ q_c w_c = ${r.unnormalisedMean.toFixed(4)}`);
      });
    }
  }
}

test("policy 'none': every sample weight is exactly 1 at any ρ", () => {
  const shares = skewedShares(new Rng(404));
  for (const rho of [0, 0.5, 1]) {
    const rng = new Rng(405);
    const st = new BalanceState<TestEvent>({ bucketCount: 100, bucketWidthMs: 10_000, weightPolicy: 'none', rho }, new Rng(406));
    for (const e of stream(rng, shares, 20_000)) st.observe(e);
    const fresh = stream(rng, shares, 512, 1_020_000, 20_000);
    for (const e of fresh) st.observe(e);
    const batch = st.composeBatch(fresh, 512);
    assert.ok(batch.weights.every((w) => w === 1), `ρ = ${rho}`);
    assert.equal(batch.report.weightScale, 1);
  }
});

test('ρ = 1 (the stream mix, no resampling): sample weights are the class weights exactly, as before', () => {
  for (const policy of POLICIES) {
    const shares = skewedShares(new Rng(505));
    const rng = new Rng(506);
    const st = new BalanceState<TestEvent>({ bucketCount: 100, bucketWidthMs: 10_000, weightPolicy: policy, rho: 1 }, new Rng(507));
    for (const e of stream(rng, shares, 20_000)) st.observe(e);
    let t = 1_020_000;
    for (let k = 0; k < 10; k++) {
      // Fewer fresh events than the batch: the rest is replay, still at the class weights.
      const fresh = stream(rng, shares, 300, t, t);
      t += 300;
      for (const e of fresh) st.observe(e);
      const batch = st.composeBatch(fresh, 512);
      assert.equal(batch.report.weightScale, 1);
      assert.ok(batch.report.replay > 0);
      batch.items.forEach((e, i) => assert.equal(batch.weights[i], Math.fround(st.weightOf(e.categoryId)), `${policy}: ${e.categoryId}`));
    }
  }
});
