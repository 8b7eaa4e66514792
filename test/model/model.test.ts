/** Backend, training effect, hashing of unknown ids, bad input and exposure control. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-node';
import { headCategories, isTail, Rng, tailCategories, tailShareOfCounts } from '../../src/balance/index.js';
import { isRebalancerError } from '../../src/errors.js';
import { createModel, HashedIdSpace, IncrementalTrainer, murmur3, recommend, recommendBatch, selectTopK, type Candidate, type Interaction } from '../../src/model/index.js';

const SMALL = { userRows: 512, itemRows: 512, categoryRows: 16, gmfDim: 8, mlpDim: 8, mlpLayers: [16] };

function batch(rng: Rng, n: number): Interaction[] {
  return Array.from({ length: n }, () => ({ userId: `u${rng.int(50)}`, itemId: `i${rng.int(200)}`, categoryId: `c${rng.int(5)}`, type: 'click' as const }));
}

describe('model', () => {
  it('runs on the native TensorFlow backend and a training step changes the weights', () => {
    assert.equal(tf.getBackend(), 'tensorflow');
    const model = createModel(SMALL, new Rng(1));
    const trainer = new IncrementalTrainer(model, { negativesPerPositive: 2 }, new Rng(2));
    const positives = batch(new Rng(3), 32);
    const dense0 = model.dense.map((d) => d.slice());
    const userRow = model.userEmbedding('u1');
    const before = model.scorePairs([{ userId: 'u1', itemId: 'i1', categoryId: 'c1' }])[0]!;
    const report = trainer.step(positives, new Float32Array(32).fill(1), () => 0.2);
    assert.equal(report.trainedSamples, 32 * 3);
    assert.ok(Number.isFinite(report.loss) && report.loss > 0);
    assert.ok(model.dense.some((d, i) => d.some((v, j) => v !== dense0[i]![j])), 'dense weights changed');
    const touched = positives.some((p) => p.userId === 'u1');
    if (touched) assert.notDeepEqual(model.userEmbedding('u1'), userRow);
    assert.notEqual(model.scorePairs([{ userId: 'u1', itemId: 'i1', categoryId: 'c1' }])[0], before);
    assert.equal(trainer.steps, 1);
    model.dispose();
  });

  it('refuses to create a model on a non-native backend', async () => {
    await tf.setBackend('cpu');
    try {
      assert.throws(() => createModel(SMALL, new Rng(1)), (e: unknown) => isRebalancerError(e, 'REB_MODEL_BACKEND'));
    } finally {
      await tf.setBackend('tensorflow');
    }
    assert.equal(tf.getBackend(), 'tensorflow');
  });

  it('hashes unknown users and items (no vocabulary) and estimates collisions', () => {
    const model = createModel(SMALL, new Rng(1));
    const cands: Candidate[] = [{ itemId: 'never-seen-item', categoryId: 'never-seen-cat' }, { itemId: 'i2', categoryId: 'c1' }];
    const recs = recommend(model, 'a-brand-new-user', cands, 5);
    assert.equal(recs.length, 2);
    assert.ok(recs.every((r) => Number.isFinite(r.score)));
    assert.equal(murmur3('abc', 1), murmur3('abc', 1));
    assert.notEqual(murmur3('abc', 1), murmur3('abc', 2));
    // 1,000 distinct ids in 1,024 rows: k ≈ m(1 − e^{−n/m}) ≈ 640 rows taken, so 1 − k/n ≈ 36%.
    const space = new HashedIdSpace(1024, 7);
    for (let i = 0; i < 1000; i++) space.row(`id-${i}`);
    const est = space.collisions();
    assert.ok(est.estimatedDistinctIds > 800 && est.estimatedDistinctIds < 1250, JSON.stringify(est));
    assert.ok(est.collisionRate > 0.25 && est.collisionRate < 0.5, JSON.stringify(est));
    model.dispose();
  });

  it('rejects an empty candidate set and K <= 0 with REB_MODEL_INVALID', () => {
    const model = createModel(SMALL, new Rng(1));
    const invalid = (e: unknown): boolean => isRebalancerError(e, 'REB_MODEL_INVALID');
    assert.throws(() => recommend(model, 'u1', [], 10), invalid);
    assert.throws(() => recommend(model, 'u1', [{ itemId: 'i', categoryId: 'c' }], 0), invalid);
    assert.throws(() => recommend(model, 'u1', [{ itemId: 'i', categoryId: 'c' }], -3), invalid);
    assert.throws(() => recommend(model, 'u1', [{ itemId: 'i', categoryId: 'c' }], 1.5), invalid);
    assert.throws(() => createModel({ gmfDim: 0 }, new Rng(1)), invalid);
    assert.throws(() => new IncrementalTrainer(model, { negativesPerPositive: -1 }, new Rng(1)), invalid);
    model.dispose();
  });

  it('returns the top K by score, once per item, and scores users in a batch consistently', () => {
    const model = createModel(SMALL, new Rng(5));
    const cands: Candidate[] = Array.from({ length: 300 }, (_, i) => ({ itemId: `i${i % 250}`, categoryId: `c${i % 7}` }));
    const recs = recommend(model, 'u9', cands, 20);
    assert.equal(recs.length, 20);
    assert.equal(new Set(recs.map((r) => r.itemId)).size, 20);
    for (let i = 1; i < recs.length; i++) assert.ok(recs[i - 1]!.score >= recs[i]!.score);
    const [fromBatch] = recommendBatch(model, ['u9', 'u10'], cands, 20);
    assert.deepEqual(fromBatch!.map((r) => r.itemId), recs.map((r) => r.itemId));
    model.dispose();
  });

  it('exposure control reserves tail slots and caps categories as documented', () => {
    // 10 head items with scores 10..1, 3 tail items with scores 0.3, 0.2, 0.1.
    const cands: Candidate[] = [...Array.from({ length: 10 }, (_, i) => ({ itemId: `h${i}`, categoryId: 'head' })), ...[0, 1, 2].map((i) => ({ itemId: `t${i}`, categoryId: 'tail' }))];
    const scores = Float32Array.from([10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0.3, 0.2, 0.1]);
    // 99% of the window's events are in 'head': it alone holds 80%, so 'tail' is tail.
    const head = headCategories(new Map([['head', 99], ['tail', 1]]));
    const plain = selectTopK(scores, cands, 5);
    assert.deepEqual(plain.map((r) => r.itemId), ['h0', 'h1', 'h2', 'h3', 'h4']);
    const reserved = selectTopK(scores, cands, 5, { head, minTailSlots: 2 });
    assert.deepEqual(reserved.map((r) => r.itemId), ['h0', 'h1', 'h2', 't0', 't1']);
    assert.deepEqual(reserved.map((r) => r.reserved), [false, false, false, true, true]);
    const capped = selectTopK(scores, cands, 5, { maxPerCategory: 3 });
    assert.deepEqual(capped.map((r) => r.itemId), ['h0', 'h1', 'h2', 't0', 't1']);
    // The cap never shrinks the list: too few categories → best skipped items fill it.
    const tight = selectTopK(scores, cands, 5, { maxPerCategory: 1 });
    assert.deepEqual(tight.map((r) => r.itemId), ['h0', 'h1', 'h2', 'h3', 't0']);
    assert.throws(() => selectTopK(scores, cands, 5, { minTailSlots: 1 }), (e: unknown) => isRebalancerError(e, 'REB_MODEL_INVALID'));
  });

  it('exposure control reserves slots for the tail of balance/tail.ts: outside the categories holding 80% of the events, unseen ones included', () => {
    // a 50%, b 30% (together 80%: the head), c 15% and d 5% are tail; c's share is well above
    // any small per-category threshold, yet it is tail because a and b already hold 80%.
    const counts = new Map([['a', 50], ['b', 30], ['c', 15], ['d', 5]]);
    const head = headCategories(counts);
    assert.deepEqual([...tailCategories(counts, 0.2)].sort(), ['c', 'd']);
    const cands: Candidate[] = [
      ...['a0', 'a1', 'a2'].map((itemId) => ({ itemId, categoryId: 'a' })),
      ...['b0', 'b1'].map((itemId) => ({ itemId, categoryId: 'b' })),
      { itemId: 'c0', categoryId: 'c' },
      { itemId: 'n0', categoryId: 'never-in-the-window' },
    ];
    const scores = Float32Array.from([9, 8, 7, 6, 5, 2, 1]);
    const recs = selectTopK(scores, cands, 4, { head, minTailSlots: 2 });
    assert.deepEqual(recs.map((r) => r.itemId), ['a0', 'a1', 'c0', 'n0']);
    assert.deepEqual(recs.map((r) => r.reserved), [false, false, true, true]);
    // Every listed item counts as tail exactly when the tail-share figures count it so.
    const tailed = recs.filter((r) => isTail(head, r.categoryId)).map((r) => r.itemId);
    assert.deepEqual(tailed, ['c0', 'n0']);
    assert.equal(tailShareOfCounts(counts, head), 0.2);
    // One tail slot: only the best-scored tail candidate comes in, in place of the lowest head item.
    assert.deepEqual(selectTopK(scores, cands, 4, { head, minTailSlots: 1 }).map((r) => r.itemId), ['a0', 'a1', 'a2', 'c0']);
  });
});
