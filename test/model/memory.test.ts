/**
 * Memory discipline: the live tensor count does not grow with training (5,000 steps vs
 * 100), and the number of tensors allocated per step is constant.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-node';
import { Rng } from '../../src/balance/rng.js';
import { createModel, IncrementalTrainer, recommend, type Interaction } from '../../src/model/index.js';

/** Tensor ids come from one counter: a fresh scalar's id tells how many tensors were ever made. */
function nextTensorId(): number {
  const t = tf.scalar(0);
  const id = t.id;
  t.dispose();
  return id;
}

describe('memory', () => {
  it('tensor count after 5,000 steps equals the count after 100', () => {
    const rng = new Rng(21);
    const start = tf.memory().numTensors;
    const model = createModel({ userRows: 256, itemRows: 256, categoryRows: 8, gmfDim: 4, mlpDim: 4, mlpLayers: [8] }, rng.fork());
    const trainer = new IncrementalTrainer(model, { negativesPerPositive: 2, evalCandidates: 10, evalMaxPerStep: 4, lrDecay: 0.001 }, rng.fork());
    const weights = new Float32Array(8).fill(1);
    const candidates = Array.from({ length: 50 }, (_, i) => ({ itemId: `i${i}`, categoryId: `c${i % 4}` }));
    const stepOnce = (): void => {
      const positives: Interaction[] = Array.from({ length: 8 }, () => ({ userId: `u${rng.int(40)}`, itemId: `i${rng.int(80)}`, categoryId: `c${rng.int(4)}`, type: 'click' as const }));
      trainer.evaluateThenTrain(positives, weights, () => 0.25);
    };
    for (let s = 0; s < 100; s++) stepOnce();
    recommend(model, 'u1', candidates, 5);
    const after100 = tf.memory().numTensors;
    // One step first: the recommend above left dense weights uploaded, which the next step reuses.
    stepOnce();
    const id0 = nextTensorId();
    for (let s = 0; s < 100; s++) stepOnce();
    const perStepA = (nextTensorId() - id0 - 1) / 100;
    for (let s = 200; s < 5000; s++) {
      stepOnce();
      if (s % 1000 === 0) recommend(model, 'u1', candidates, 5);
    }
    const id1 = nextTensorId();
    for (let s = 0; s < 100; s++) stepOnce();
    const perStepB = (nextTensorId() - id1 - 1) / 100;
    recommend(model, 'u1', candidates, 5);
    const after5000 = tf.memory().numTensors;
    assert.equal(trainer.steps, 5101);
    assert.equal(after5000, after100);
    assert.equal(perStepB, perStepA, 'tensors allocated per step stay constant');
    model.dispose();
    // Everything the model held (dense weights, serving caches) is freed.
    assert.equal(tf.memory().numTensors, start);
  });
});
