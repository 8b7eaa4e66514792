/**
 * What the service serves from a snapshot: the serving-time adjustment τ travels with it
 * (scores equal `RecModel.scoreServed`), and a scorer warmed in slices with `prepare` (as
 * the trainer thread warms a new snapshot before serving from it) scores exactly as one
 * built in one go, finishing a half-prepared set on first use.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/balance/rng.js';
import { createModel, IncrementalTrainer, SnapshotScorer, takeSnapshot, type Candidate, type Interaction, type RecModel } from '../../src/model/index.js';
import { assertCloseRelative as assertClose } from './helpers.js';

function trained(seed: number): RecModel {
  const rng = new Rng(seed);
  const model = createModel({ userRows: 512, itemRows: 1024, categoryRows: 32, gmfDim: 8, mlpDim: 8, mlpLayers: [16, 8], wideFeatures: true }, rng.fork());
  const t = new IncrementalTrainer(model, { negativesPerPositive: 2, evalCandidates: 10, evalMaxPerStep: 4 }, rng.fork());
  for (let s = 0; s < 6; s++) {
    const positives: Interaction[] = Array.from({ length: 32 }, () => {
      const c = rng.int(8);
      return { userId: `u${rng.int(40)}`, itemId: `c${c}-i${rng.int(200)}`, categoryId: `c${c}`, type: 'click' as const };
    });
    t.step(positives, new Float32Array(32).fill(1), () => 0.1);
  }
  return model;
}

function candidates(seed: number, n: number): Candidate[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const c = rng.int(8);
    return { itemId: `c${c}-i${rng.int(200)}`, categoryId: `c${c}` };
  });
}


describe('serving from snapshots', () => {
  it('carries the serving-time τ: snapshot scores equal scoreServed, and differ from the raw logits', () => {
    const model = trained(1);
    model.servingTau = 0.4;
    const cands = candidates(2, 300);
    const pairs = cands.map((c) => ({ userId: 'u3', itemId: c.itemId, categoryId: c.categoryId }));
    const snapshot = takeSnapshot(model, { seq: 0, steps: 6 });
    assert.equal(snapshot.servingTau, 0.4);
    const served = new SnapshotScorer(snapshot).score('u3', cands);
    assertClose(served, model.scoreServed(pairs), 'snapshot vs scoreServed');
    let moved = 0;
    const raw = model.scorePairs(pairs);
    for (let i = 0; i < raw.length; i++) if (Math.abs(raw[i]! - served[i]!) > 1e-3) moved++;
    assert.ok(moved > raw.length / 2, `τ shifts the scores (${moved} of ${raw.length})`);
    model.dispose();
  });

  it('a scorer warmed in slices scores as one built in one go; a half-warmed set is finished on first use', () => {
    const model = trained(3);
    const cands = candidates(4, 1_000);
    const snapshot = takeSnapshot(model, { seq: 0, steps: 6 });
    const cold = new SnapshotScorer(snapshot).score('u7', cands);
    const warm = new SnapshotScorer(snapshot);
    let calls = 0;
    while (!warm.prepare(cands, 128)) calls++;
    assert.equal(calls, Math.ceil(1_000 / 128) - 1, 'one slice per call');
    assert.deepEqual(warm.score('u7', cands), cold);
    const half = new SnapshotScorer(snapshot);
    assert.equal(half.prepare(cands, 400), false);
    assert.deepEqual(half.score('u7', cands), cold);
    model.dispose();
  });
});
