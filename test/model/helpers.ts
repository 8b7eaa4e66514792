/** Shared by the scoring tests: spread weights and a small seeded trainer over random clicks. */
import { Rng } from '../../src/balance/rng.js';
import { IncrementalTrainer, type Interaction, type RecModel } from '../../src/model/index.js';

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
