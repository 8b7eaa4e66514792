import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { BalanceState, Rng, WEIGHT_POLICIES, classWeights, imbalanceStats, rawWeight, type WeightPolicyName } from '../../src/balance/index.js';
import { stream } from './helpers.js';

function randomCounts(rng: Rng): number[] {
  const n = 1 + rng.int(40);
  // Heavy-tailed counts with some absent categories (0).
  return Array.from({ length: n }, () => (rng.next() < 0.1 ? 0 : Math.floor(Math.exp(rng.next() * 12))));
}

test('every policy: Σ π_c w_c = 1 and w_min ≤ w_c ≤ w_max over random count vectors', () => {
  const rng = new Rng(21);
  let clippedCases = 0;
  for (let trial = 0; trial < 2000; trial++) {
    const counts = randomCounts(rng);
    const policy = WEIGHT_POLICIES[trial % WEIGHT_POLICIES.length]!;
    const o = { policy, alpha: [0, 0.5, 1, 5][rng.int(4)]!, beta: 0.5 + 0.4999 * rng.next(), minWeight: 0.05 + 0.95 * rng.next(), maxWeight: 1 + 19 * rng.next() };
    const { weights, priors, unseenWeight } = classWeights(counts, o);
    let dot = 0;
    let priorSum = 0;
    let clipped = false;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i]! <= 0) {
        assert.equal(weights[i], 0);
        continue;
      }
      priorSum += priors[i]!;
      dot += priors[i]! * weights[i]!;
      assert.ok(weights[i]! >= o.minWeight - 1e-12 && weights[i]! <= o.maxWeight + 1e-12, `${policy}: ${weights[i]} outside [${o.minWeight}, ${o.maxWeight}]`);
      if (weights[i] === o.minWeight || weights[i] === o.maxWeight) clipped = true;
    }
    if (priorSum === 0) continue;
    if (clipped) clippedCases++;
    assert.ok(Math.abs(priorSum - 1) < 1e-9);
    assert.ok(Math.abs(dot - 1) < 1e-9, `${policy}: Σπw = ${dot}`);
    assert.ok(unseenWeight >= o.minWeight && unseenWeight <= o.maxWeight);
    // Unclipped weights keep the policy's ratios; weights never increase with the count.
    const idx = counts.map((n, i) => [n, i] as const).filter(([n]) => n > 0);
    for (const [n1, i] of idx) {
      for (const [n2, j] of idx) {
        if (n1 < n2 && policy !== 'none') assert.ok(weights[i]! >= weights[j]! - 1e-12, `${policy}: monotone`);
        const wi = weights[i]!;
        const wj = weights[j]!;
        if (wi > o.minWeight && wi < o.maxWeight && wj > o.minWeight && wj < o.maxWeight) {
          const ri = rawWeight(policy, n1, priors[i]!, o.alpha, o.beta);
          const rj = rawWeight(policy, n2, priors[j]!, o.alpha, o.beta);
          assert.ok(Math.abs(wi / wj - ri / rj) <= 1e-9 * (ri / rj), `${policy}: ratio`);
        }
      }
    }
    if (policy === 'none') assert.ok(idx.every(([, i]) => Math.abs(weights[i]! - 1) < 1e-12));
  }
  assert.ok(clippedCases > 200, `clipping was exercised (${clippedCases} cases)`);
});

test('smoothed weights in BalanceState keep Σ π_c w_c = 1 and the bounds after every refresh', () => {
  for (const policy of WEIGHT_POLICIES) {
    const rng = new Rng(3);
    const st = new BalanceState({ weightPolicy: policy, refreshEveryEvents: 0, bucketCount: 10, bucketWidthMs: 100, minWeight: 0.2, maxWeight: 5, smoothing: 0.3 }, new Rng(4));
    let t = 0;
    for (let round = 0; round < 30; round++) {
      // The mix drifts between rounds, so weights move and clip.
      const shares = [50 + round * 10, 20, 5, 1, round % 7];
      for (const e of stream(rng, shares, 300, t)) st.observe(e);
      t += 300;
      st.refreshWeights();
      let dot = 0;
      for (const [cat, w] of st.weights()) {
        dot += st.prior(cat) * w;
        assert.ok(w >= 0.2 - 1e-12 && w <= 5 + 1e-12, `${policy}: ${cat} ${w}`);
      }
      assert.ok(Math.abs(dot - 1) < 1e-9, `${policy} round ${round}: Σπw = ${dot}`);
    }
  }
});

test('unseen and vanished categories get the weight of n = 0 under the prior (w_max when α = 0)', () => {
  const st = new BalanceState({ weightPolicy: 'inverse_frequency', alpha: 0, refreshEveryEvents: 0 }, new Rng(1));
  assert.equal(st.weightOf('never'), 1, 'before any refresh: neutral');
  for (const e of stream(new Rng(2), [10, 1], 1000)) st.observe(e);
  st.refreshWeights();
  assert.equal(st.weightOf('never'), st.config.maxWeight);

  const st2 = new BalanceState<ReturnType<typeof stream>[number]>({ weightPolicy: 'effective_number', alpha: 1, beta: 0.99, refreshEveryEvents: 0, smoothing: 1 }, new Rng(1));
  for (const e of stream(new Rng(2), [10, 1], 1000)) st2.observe(e);
  st2.refreshWeights();
  const unseen = st2.weightOf('never');
  // The n = 0 raw weight (1−β)/(1−β^α) is the largest possible raw weight, so unseen ≥ every seen weight.
  for (const w of st2.weights().values()) assert.ok(unseen >= w);
  assert.ok(unseen > 1 && unseen <= st2.config.maxWeight);
  // After the window moves past every event, the categories vanish and fall back to the rule.
  st2.advanceTo(1_000_000 + 1000 + 60 * 60_000 + 1);
  assert.equal(st2.categoryCount(), 0);
  assert.equal(st2.weightOf('c0'), st2.unseenWeight());
});

test('imbalance statistics equal a brute-force computation', () => {
  const rng = new Rng(8);
  for (let trial = 0; trial < 500; trial++) {
    const counts = randomCounts(rng);
    const beta = 0.9 + 0.0999 * rng.next();
    const s = imbalanceStats(counts, counts.length, beta);
    const pos = counts.filter((n) => n > 0);
    if (pos.length === 0) {
      assert.equal(s.categories, 0);
      continue;
    }
    const N = pos.reduce((a, b) => a + b, 0);
    const C = pos.length;
    assert.equal(s.categories, C);
    assert.equal(s.total, N);
    assert.equal(s.imbalanceRatio, Math.max(...pos) / Math.min(...pos));
    const H = -pos.reduce((a, n) => a + (n / N) * Math.log(n / N), 0);
    assert.ok(Math.abs(s.entropy - H) < 1e-9);
    assert.ok(Math.abs(s.normalizedEntropy - (C > 1 ? H / Math.log(C) : 1)) < 1e-9);
    let absDiff = 0;
    for (const a of pos) for (const b of pos) absDiff += Math.abs(a - b);
    const gini = absDiff / (2 * C * C * (N / C));
    assert.ok(Math.abs(s.gini - gini) < 1e-9, `gini ${s.gini} vs ${gini}`);
    const eff = pos.reduce((a, n) => a + (1 - Math.pow(beta, n)) / (1 - beta), 0);
    assert.ok(Math.abs(s.effectiveNumberOfSamples - eff) <= 1e-9 * eff);
  }
});

test('policy raw weights follow the published formulas', () => {
  const cases: [WeightPolicyName, number][] = [
    ['none', 1],
    ['inverse_frequency', 1 / 0.04],
    ['sqrt_inverse', 1 / Math.sqrt(0.04)],
    ['effective_number', (1 - 0.999) / (1 - Math.pow(0.999, 9 + 1))],
  ];
  for (const [policy, expected] of cases) assert.ok(Math.abs(rawWeight(policy, 9, 0.04, 1, 0.999) - expected) < 1e-9 * expected, policy);
});

/**
 * Regression fixture for issue #17 (one effective-number function): the class weights feed
 * the published backtest tables, so their bits must not move. Digest of classWeights() and of
 * BalanceState's smoothed weights under every policy (the effective number with several α and
 * β, β near 1 included), computed with the code of commit 5fa04d2 before the refactor.
 */
test('class weights are bit-identical to the pre-refactor code for fixed inputs', () => {
  const h = createHash('sha256');
  const rng = new Rng(77);
  for (let trial = 0; trial < 400; trial++) {
    const counts = randomCounts(rng);
    const o = { policy: WEIGHT_POLICIES[trial % WEIGHT_POLICIES.length]!, alpha: [0, 0.5, 1, 5][rng.int(4)]!, beta: [0.9, 0.99, 0.999, 0.9999, 1 - 1e-9, 0.5 + 0.4999 * rng.next()][rng.int(6)]!, minWeight: 0.1, maxWeight: 10 };
    const { weights, priors, unseenWeight } = classWeights(counts, o);
    h.update(new Uint8Array(weights.buffer));
    h.update(new Uint8Array(priors.buffer));
    h.update(new Uint8Array(Float64Array.of(unseenWeight, ...counts.map((n) => rawWeight(o.policy, n, 0.01, o.alpha, o.beta))).buffer));
  }
  for (const [policy, beta] of [['effective_number', 0.999], ['effective_number', 0.9999999], ['inverse_frequency', 0.999]] as const) {
    const st = new BalanceState({ weightPolicy: policy, beta, refreshEveryEvents: 0, bucketCount: 10, bucketWidthMs: 100, smoothing: 0.3 }, new Rng(4));
    let t = 0;
    for (let round = 0; round < 20; round++) {
      for (const e of stream(rng, [50 + round * 10, 20, 5, 1, round % 7], 300, t)) st.observe(e);
      t += 300;
      st.refreshWeights();
      const ws = [...st.weights()];
      h.update(JSON.stringify(ws.map(([c]) => c)));
      h.update(new Uint8Array(Float64Array.of(...ws.map(([, w]) => w), st.unseenWeight()).buffer));
    }
  }
  assert.equal(h.digest('hex'), 'e2c9ffcb8a9146a4ab16fb9ee02c3ee99b4713c717e1a38c08f5d3eded8e8ade');
});
