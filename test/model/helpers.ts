/** Shared by the scoring tests: candidates, the reference forward pass, spread weights and a small seeded trainer over random clicks. */
import assert from 'node:assert/strict';
import { Rng } from '../../src/balance/rng.js';
import { IncrementalTrainer, type Candidate, type Interaction, type RecModel } from '../../src/model/index.js';

export function randomCandidates(rng: Rng, n: number, items = 400, categories = 12): Candidate[] {
  return Array.from({ length: n }, () => {
    const c = rng.int(categories);
    return { itemId: `c${c}-i${rng.int(items)}`, categoryId: `c${c}` };
  });
}

/** The reference forward pass (tfjs) on the expanded user × candidate pairs. */
export function reference(model: RecModel, userId: string, candidates: readonly Candidate[]): Float32Array {
  return model.scorePairs(candidates.map((c) => ({ userId, itemId: c.itemId, categoryId: c.categoryId })));
}

/** |actual − expected| ≤ 1e-5·max(1, |expected|) everywhere. */
export function assertCloseRelative(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, what);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / Math.max(1, Math.abs(expected[i]!)));
  assert.ok(worst <= 1e-5, `${what}: max relative difference ${worst}`);
}

/** Scales up the weights so that logits are O(1) and differences are not hidden by tiny values. */
export function spreadWeights(model: RecModel, rng: Rng): void {
  for (const table of [model.userTable, model.itemTable, model.categoryTable]) for (let i = 0; i < table.length; i++) table[i] = rng.normal() * 0.5;
  for (const d of model.dense) for (let i = 0; i < d.length; i++) d[i] = rng.normal() * 0.3;
  model.denseChanged();
}

/** Steps of `batch` random clicks (50 users, 12 categories × 400 items). */
export function trainer(model: RecModel, seed: number, batch = 16): { step(): void } {
  const rng = new Rng(seed);
  const t = new IncrementalTrainer(model, { negativesPerPositive: 2, evalCandidates: 10, evalMaxPerStep: 4 }, rng.fork());
  const weights = new Float32Array(batch).fill(1);
  return {
    step(): void {
      const positives: Interaction[] = Array.from({ length: batch }, () => {
        const c = rng.int(12);
        return { userId: `u${rng.int(50)}`, itemId: `c${c}-i${rng.int(400)}`, categoryId: `c${c}`, type: 'click' as const };
      });
      t.step(positives, weights, () => 0.1);
    },
  };
}
