/**
 * One effective-number function (issue #17): effectiveNumberWeight() replaced three copies of
 * the formula (rawWeight's, the weight refresh's memoised one, the imbalance figures' two). The
 * class weights feed the published backtest tables, so the shared function must return the
 * very bits of the former weight expressions; the reported effective number of samples may
 * move by rounding only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, effectiveNumber, effectiveNumberWeight } from '../../src/balance/index.js';

// The former copies, verbatim (commit 5fa04d2).
/** weights.ts rawWeight('effective_number', …). */
const formerRawWeight = (count: number, alpha: number, beta: number): number => (1 - beta) / -Math.expm1((count + alpha) * Math.log(beta));
/** weights.ts computeTargets(), the per-slot memo's expression. */
function formerTargets(n: number, alpha: number, beta: number): number {
  const logBeta = Math.log(beta);
  const oneMinusBeta = 1 - beta;
  const x = (n + alpha) * logBeta;
  return x < -40 ? oneMinusBeta : oneMinusBeta / -Math.expm1(x);
}
/** stats.ts imbalanceStats() and ImbalanceTracker, one term of the sum. */
function formerStatsTerm(n: number, beta: number): number {
  const x = n * Math.log(beta);
  return (x < -40 ? 1 : -Math.expm1(x)) / (1 - beta);
}

/** Distance in units in the last place between two finite doubles of the same sign. */
function ulps(a: number, b: number): number {
  const bits = new BigInt64Array(new Float64Array([a, b]).buffer);
  const d = bits[0]! - bits[1]!;
  return Number(d < 0n ? -d : d);
}

const BETAS = [1e-12, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1 - 1e-6, 1 - 1e-9, 1 - 1e-12];
const ALPHAS = [0, 1e-9, 0.5, 1, 5];

/** Counts: 0, small integers, large ones, non-integers (decayed mode) and the expm1 cut-off region for β. */
function countsFor(beta: number, rng: Rng): number[] {
  const out = [0, 1, 2, 3, 7, 10, 100, 1_000, 12_345, 1e6, 1e9, 2 ** 53, 1e300, Number.MAX_VALUE];
  for (let i = 0; i < 200; i++) out.push(Math.floor(Math.exp(rng.next() * 25)), rng.next() * 50, rng.next() * 1e-3);
  // n·ln β from −42 to −37 (the skipped expm1 starts at −40; fdlibm's returns −1 below −38.8).
  const logBeta = Math.log(beta);
  for (let x = -42; x <= -37; x += 0.01) out.push(x / logBeta, Math.round(x / logBeta));
  return out;
}

test('effectiveNumberWeight returns the bits of both former weight expressions over (count, α, β), edges included', () => {
  const rng = new Rng(2019);
  const betas = [...BETAS, ...Array.from({ length: 40 }, () => rng.next()), ...Array.from({ length: 20 }, () => 1 - 10 ** -(1 + 11 * rng.next()))];
  let compared = 0;
  let cutOff = 0;
  let infinite = 0;
  for (const beta of betas) {
    const logBeta = Math.log(beta);
    for (const alpha of [...ALPHAS, rng.next() * 10]) {
      for (const count of countsFor(beta, rng)) {
        const want = formerRawWeight(count, alpha, beta);
        const got = effectiveNumberWeight(count + alpha, beta);
        assert.ok(Object.is(got, want), `rawWeight: count ${count}, α ${alpha}, β ${beta}: ${got} vs ${want}`);
        assert.ok(Object.is(effectiveNumberWeight(count + alpha, beta, logBeta), want), `hoisted log: count ${count}, α ${alpha}, β ${beta}`);
        assert.ok(Object.is(formerTargets(count, alpha, beta), want), `the former memo agreed: count ${count}, α ${alpha}, β ${beta}`);
        compared++;
        if ((count + alpha) * logBeta < -40) cutOff++;
        if (want === Infinity) infinite++;
      }
    }
  }
  assert.ok(compared > 500_000, `${compared} comparisons`);
  assert.ok(cutOff > 100_000, `the skipped expm1 (n·ln β < −40) was exercised ${cutOff} times`);
  assert.ok(infinite > 0, 'count 0 with α = 0 gives +∞ as before');
  assert.equal(effectiveNumberWeight(0, 0.999), Infinity);
  assert.equal(effectiveNumberWeight(1e9, 0.999), 1 - 0.999);
});

test('effectiveNumber (the reported figure) is the former stats term to within 2 ulp', () => {
  const rng = new Rng(7);
  let compared = 0;
  let moved = 0;
  let worst = 0;
  for (const beta of [...BETAS, ...Array.from({ length: 40 }, () => rng.next())]) {
    for (const count of countsFor(beta, rng)) {
      if (!(count > 0)) continue;
      const want = formerStatsTerm(count, beta);
      const got = effectiveNumber(count, beta);
      const d = ulps(got, want);
      assert.ok(d <= 2, `count ${count}, β ${beta}: ${got} vs ${want} (${d} ulp)`);
      compared++;
      if (d > 0) moved++;
      worst = Math.max(worst, d);
    }
  }
  // The reciprocal of the weight rounds twice where the former quotient rounded once.
  assert.ok(compared > 50_000 && moved > 0 && moved < compared / 2, `${moved} of ${compared} terms moved, at most ${worst} ulp`);
});
