import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/balance/rng.js';
import { StreamFeatures, WIDE_FEATURES } from '../../src/model/features.js';
import { IncrementalTrainer, createModel } from '../../src/model/index.js';

const SIZES = { userRows: 64, itemRows: 64, categoryRows: 8, pairRows: 1024 };

function featuresOf(f: StreamFeatures, u: number, i: number, c: number, self = 0): number[] {
  const out = new Float32Array(WIDE_FEATURES);
  f.fill(u, i, c, out, 0, self);
  return Array.from(out);
}

describe('streaming count features (wide part)', () => {
  it('counts, decays by half-life in positives and takes out a replay’s own count', () => {
    const f = new StreamFeatures(SIZES, 2);
    // user 1: three positives of item 5 (category 2), one of item 6 (category 3).
    f.observe(1, 5, 2);
    f.observe(1, 5, 2);
    f.observe(1, 6, 3);
    f.observe(1, 5, 2);
    const [recent, total, affinity, repeat, catRecent] = featuresOf(f, 1, 5, 2);
    // Recent count of item 5 with half-life 2: seen at t = 0, 1, 3 of 4 positives → 2^-2 + 2^-1.5 + 2^-0.5.
    const decayed = 2 ** -2 + 2 ** -1.5 + 2 ** -0.5;
    assert.ok(Math.abs(recent! - Math.log1p(decayed)) < 1e-5, `recent ${recent}`);
    assert.ok(Math.abs(total! - Math.log1p(3)) < 1e-6);
    assert.ok(Math.abs(affinity! - (Math.log1p(3) - Math.log1p(4))) < 1e-6);
    assert.ok(Math.abs(repeat! - Math.log1p(3)) < 1e-6);
    assert.ok(Math.abs(catRecent! - Math.log1p(decayed)) < 1e-5);
    // A replayed positive of (1, 5, 2) looks as if one of its counts were not there.
    const [, totalSelf, affSelf, repeatSelf] = featuresOf(f, 1, 5, 2, 1);
    assert.ok(Math.abs(totalSelf! - Math.log1p(2)) < 1e-6);
    assert.ok(Math.abs(affSelf! - (Math.log1p(2) - Math.log1p(3))) < 1e-6);
    assert.ok(Math.abs(repeatSelf! - Math.log1p(2)) < 1e-6);
    // Another user has no affinity and no repeats yet.
    const other = featuresOf(f, 2, 5, 2);
    assert.equal(other[2], 0);
    assert.equal(other[3], 0);
  });

  it('the decayed counts stay exact across the internal rescaling', () => {
    const f = new StreamFeatures(SIZES, 1);
    for (let t = 0; t < 200; t++) f.observe(0, t % 2, 0); // g reaches 2^200 > 1e20: rescaled on the way
    const [recentOdd] = featuresOf(f, 0, 1, 0);
    // Item 1 was seen at t = 1, 3, …, 199 of 200: Σ 2^-(200-t) over odd t = Σ_k 2^-(2k+1), k = 0..99.
    let expect = 0;
    for (let k = 0; k < 100; k++) expect += 2 ** -(2 * k + 1);
    assert.ok(Math.abs(recentOdd! - Math.log1p(expect)) < 1e-5, `${recentOdd} vs ${Math.log1p(expect)}`);
  });
});

describe('prequential scoring in stream order', () => {
  it('a positive is scored with the counts of every earlier positive of its batch, and counted once', () => {
    const model = createModel({ userRows: 256, itemRows: 256, categoryRows: 16, pairRows: 1024, gmfDim: 4, mlpDim: 4, mlpLayers: [8] }, new Rng(1));
    const trainer = new IncrementalTrainer(model, {}, new Rng(2));
    // Give the repeat feature weight so scores depend on it.
    const wide = model.dense[model.dense.length - 1]!;
    wide.fill(0);
    wide[3] = 1;
    model.denseChanged();
    const p = { userId: 'u', itemId: 'i1', categoryId: 'c', type: 'click' as const };
    const q = { userId: 'u', itemId: 'i1', categoryId: 'c', type: 'click' as const };
    const cand = [{ itemId: 'i2', categoryId: 'c' }];
    const scores = trainer.scoreInStream([p, q], 2, [{ index: 0, candidates: cand }, { index: 1, candidates: cand }]);
    // Second positive of the same (user, item): its repeat count is 1 → its logit is log(2) higher.
    assert.ok(Math.abs(scores[2]! - scores[0]! - Math.log(2)) < 1e-4, `${scores[0]} ${scores[2]}`);
    assert.equal(model.features!.positives, 2);
    trainer.step([p, q], new Float32Array([1, 1]), () => 1);
    assert.equal(model.features!.positives, 2, 'step must not count positives scoreInStream already counted');
    model.dispose();
  });
});
