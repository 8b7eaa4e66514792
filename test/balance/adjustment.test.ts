/**
 * The serving-time adjustment controller: hit@K of re-rankings under each τ on hand-checked
 * cases, the choice within the micro budget (against a brute-force choice over its own
 * figures), warm-up, and a state round trip.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADJUSTMENT_GRID, AdjustmentController, Rng, adjustmentStateSchema } from '../../src/balance/index.js';

/** One positive among `n` candidates: the positive's score and log prior, then the candidates'. */
function query(pos: number, posPrior: number, cands: Array<[number, number]>): { scores: Float32Array; prior: Float32Array } {
  const scores = Float32Array.from([pos, ...cands.map((c) => c[0])]);
  const prior = Float32Array.from([posPrior, ...cands.map((c) => c[1])]);
  return { scores, prior };
}

test('hit@K per τ: a tail positive ranked 3rd raw enters the top 2 once τ·Δlog-prior beats its score gap', () => {
  const c = new AdjustmentController({ k: 2, maxMicroLoss: 0.5, warmup: 1e9 });
  // Positive: score 1.0, log prior 0 (tail). Two head candidates above it by 0.1 and 0.3,
  // log prior 2 (head). Under τ they fall by 2τ relative: above the positive while 0.1 − 2τ > 0.
  const { scores, prior } = query(1.0, 0, [[1.1, 2], [1.3, 2], [0.5, 2], [0.2, 0]]);
  c.record('tail', scores, prior, 0, scores.length);
  const f = c.figures();
  for (let j = 0; j < ADJUSTMENT_GRID.length; j++) {
    const tau = ADJUSTMENT_GRID[j]!;
    // Rank = candidates above: (1.1 − 2τ > 1) + (1.3 − 2τ > 1); hit@2 when rank < 2, i.e. 1.1 − 2τ ≤ 1.
    const expected = 0.1 - 2 * tau > 1e-6 ? 0 : 1;
    assert.equal(f.micro[j], expected, `τ = ${tau}`);
    assert.equal(f.macro[j], expected, `τ = ${tau}`);
  }
  assert.equal(c.tau, 0, 'no choice before warm-up');
});

/** A stream where head positives lose and tail positives gain as τ grows (at different τ per query). */
function feed(c: AdjustmentController, n: number, seed: number): void {
  const rng = new Rng(seed);
  for (let i = 0; i < n; i++) {
    const tail = rng.next() < 0.2;
    // Positive's raw margin over the 10th candidate: head positives mostly above, tail below.
    const margin = tail ? -rng.next() * 0.6 : rng.next() * 0.8 - 0.1;
    const cands: Array<[number, number]> = [];
    // 9 head candidates far above, 1 threshold candidate (head or tail), 10 far below.
    for (let j = 0; j < 9; j++) cands.push([10, 3]);
    cands.push([0, rng.next() < 0.5 ? 3 : 0]);
    for (let j = 0; j < 10; j++) cands.push([-10, 1]);
    const { scores, prior } = query(margin, tail ? 0 : 3, cands);
    c.record(tail ? `tail-${i % 3}` : 'head', scores, prior, 0, scores.length);
  }
}

test('the chosen τ is the best macro among the τ within the micro budget (brute force over its own figures); budget 0 never adjusts', () => {
  for (const budget of [0, 0.01, 0.05, 0.2]) {
    const c = new AdjustmentController({ k: 10, maxMicroLoss: budget, warmup: 100, every: 50, halfLife: 5_000 });
    feed(c, 5_000, 7);
    const f = c.figures();
    let best = 0;
    for (let j = 1; j < f.grid.length; j++) if (f.micro[j]! >= (1 - budget) * f.micro[0]! && f.macro[j]! > f.macro[best]!) best = j;
    if (budget === 0) assert.equal(c.tau, 0);
    else assert.equal(c.tau, f.grid[best], `budget ${budget}`);
    const j = f.grid.indexOf(c.tau);
    assert.ok(f.micro[j]! >= (1 - budget) * f.micro[0]! - 1e-12, `micro within budget ${budget}`);
  }
  // A larger budget buys at least as much macro.
  const taus = [0.01, 0.2].map((b) => {
    const c = new AdjustmentController({ k: 10, maxMicroLoss: b, warmup: 100, every: 50 });
    feed(c, 5_000, 7);
    return c.tau;
  });
  assert.ok(taus[1]! > taus[0]!, `τ grows with the budget: ${taus.join(' < ')}`);
});

test('warm-up: τ stays 0 until the tallies hold `warmup` evaluations', () => {
  const c = new AdjustmentController({ k: 10, maxMicroLoss: 0.2, warmup: 1_000, every: 10, halfLife: 1e6 });
  feed(c, 900, 3);
  assert.equal(c.tau, 0);
  feed(c, 300, 4);
  assert.ok(c.tau > 0);
});

test('a fresh controller\'s state (no tail threshold yet) passes its schema and restores', () => {
  const fresh = new AdjustmentController();
  const state = adjustmentStateSchema.parse(JSON.parse(JSON.stringify(fresh.state())));
  assert.deepEqual(new AdjustmentController({}, state).state(), fresh.state());
});

test('state round trip: a restored controller has the same figures and τ, and goes on identically; a malformed state is rejected by the schema', () => {
  const a = new AdjustmentController({ k: 10, maxMicroLoss: 0.05, warmup: 100, every: 32 });
  feed(a, 2_000, 11);
  const state = adjustmentStateSchema.parse(JSON.parse(JSON.stringify(a.state())));
  const b = new AdjustmentController({ k: 10, maxMicroLoss: 0.05, warmup: 100, every: 32 }, state);
  assert.deepEqual(b.figures(), a.figures());
  feed(a, 500, 12);
  feed(b, 500, 12);
  assert.deepEqual(b.figures(), a.figures());
  assert.equal(b.tau, a.tau);
  assert.equal(adjustmentStateSchema.safeParse({ ...a.state(), hits: [1, 2] }).success, false);
});
