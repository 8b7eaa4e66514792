/**
 * The serving fast path (`scoreCandidates`, `recommend`, `recommendBatch` through the
 * model's candidate scorer) against the reference path `scorePairs` (the full network on
 * the expanded user × candidate pairs): same scores on random candidates and shapes, cached
 * item-side work invalidated by a training step and by in-place edits of the candidate
 * array, and a flat tensor count.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-node';
import ts from 'typescript';
import { Rng } from '../../src/balance/rng.js';
import { CandidateScorer, type ScorableModel } from '../../src/model/candidate-scorer.js';
import { createModel, recommend, recommendBatch, scoreCandidates, selectTopK, type ModelConfig } from '../../src/model/index.js';
import { randomCandidates, reference, spreadWeights, trainer } from './helpers.js';

const TOLERANCE = 1e-5;



function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, what);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  assert.ok(worst <= TOLERANCE, `${what}: max |fast − reference| = ${worst}`);
}


const SHAPES: Array<{ name: string; config: Partial<ModelConfig> }> = [
  { name: 'one hidden layer', config: { userRows: 512, itemRows: 512, categoryRows: 16, gmfDim: 8, mlpDim: 8, mlpLayers: [16] } },
  { name: 'three hidden layers', config: { userRows: 1024, itemRows: 2048, categoryRows: 64, gmfDim: 16, mlpDim: 16, mlpLayers: [64, 32, 16] } },
  { name: 'uneven widths', config: { userRows: 256, itemRows: 256, categoryRows: 8, gmfDim: 5, mlpDim: 7, mlpLayers: [9, 3] } },
];

describe('candidate scorer', () => {
  for (const shape of SHAPES) {
    it(`equals scorePairs on random candidates and users (${shape.name})`, () => {
      const rng = new Rng(101);
      const model = createModel(shape.config, rng.fork());
      spreadWeights(model, rng);
      // Sizes include 1 and sets with duplicate ids; each set is scored twice (miss, then cached hit).
      for (const n of [1, 7, 300, 2500]) {
        const cands = randomCandidates(rng, n);
        for (let r = 0; r < 3; r++) {
          const user = `u${rng.int(100_000)}`;
          assertClose(scoreCandidates(model, user, cands), reference(model, user, cands), `n=${n} user ${user}`);
        }
      }
      const cands = randomCandidates(rng, 500);
      const users = ['u1', 'u2', 'u3', 'a-new-user'];
      const batch = recommendBatch(model, users, cands, 10);
      users.forEach((u, j) => {
        const expected = selectTopK(reference(model, u, cands), cands, 10);
        assert.deepEqual(batch[j]!.map((r) => r.itemId), expected.map((r) => r.itemId), `batch user ${u}`);
        batch[j]!.forEach((r, i) => assert.ok(Math.abs(r.score - expected[i]!.score) <= TOLERANCE));
        assert.deepEqual(recommend(model, u, cands, 10).map((r) => r.itemId), expected.map((r) => r.itemId), `single user ${u}`);
      });
      model.dispose();
    });
  }

  it('a training step invalidates the cached item side: scores change and match the reference', () => {
    const rng = new Rng(7);
    const model = createModel(SHAPES[1]!.config, rng.fork());
    const train = trainer(model, 8);
    const cands = randomCandidates(rng, 400);
    const before = scoreCandidates(model, 'u3', cands);
    assertClose(before, reference(model, 'u3', cands), 'before training');
    for (let s = 0; s < 3; s++) train.step();
    const after = scoreCandidates(model, 'u3', cands);
    assertClose(after, reference(model, 'u3', cands), 'after training');
    let changed = 0;
    for (let i = 0; i < after.length; i++) if (Math.abs(after[i]! - before[i]!) > 1e-6) changed++;
    assert.ok(changed > after.length / 2, `only ${changed} of ${after.length} scores moved after training`);
    // Weights edited by hand and announced with denseChanged are picked up as well.
    model.dense[2 * model.config.mlpLayers.length + 1]![0]! += 1; // the output bias b_out
    model.denseChanged();
    const shifted = scoreCandidates(model, 'u3', cands);
    for (let i = 0; i < shifted.length; i++) assert.ok(Math.abs(shifted[i]! - after[i]! - 1) < 1e-4);
    model.dispose();
  });

  it('applies the serving-time adjustment: fast path = scoreServed = scorePairs − τ·log(1 + recent category count)', () => {
    const rng = new Rng(13);
    const model = createModel({ ...SHAPES[1]!.config, wideFeatures: true }, rng.fork());
    const train = trainer(model, 14);
    for (let s = 0; s < 5; s++) train.step();
    const cands = randomCandidates(rng, 300);
    const raw = reference(model, 'u5', cands);
    model.servingTau = 0.7;
    const pairs = cands.map((c) => ({ userId: 'u5', itemId: c.itemId, categoryId: c.categoryId }));
    const served = model.scoreServed(pairs);
    assertClose(scoreCandidates(model, 'u5', cands), served, 'fast path vs scoreServed');
    assertClose(model.scorePairs(pairs), raw, 'scorePairs stays raw');
    // The shift is −τ·log(1 + n_c) per candidate: the same within a category, larger for frequent ones.
    const shift = new Map<string, number>();
    let moved = 0;
    cands.forEach((c, i) => {
      const d = served[i]! - raw[i]!;
      const seen = shift.get(c.categoryId);
      if (seen === undefined) shift.set(c.categoryId, d);
      else assert.ok(Math.abs(seen - d) < 1e-4, `one shift per category (${c.categoryId})`);
      if (d < -1e-3) moved++;
    });
    assert.ok(moved > 0, 'categories seen in training are shifted down');
    model.dispose();
  });

  it('an array edited in place is rescored where it changed', () => {
    const rng = new Rng(9);
    const model = createModel(SHAPES[0]!.config, rng.fork());
    spreadWeights(model, rng);
    const cands = randomCandidates(rng, 200);
    scoreCandidates(model, 'u1', cands);
    cands[17] = { itemId: 'replaced-item', categoryId: 'c3' };
    cands[150] = { itemId: cands[150]!.itemId, categoryId: 'another-category' };
    assertClose(scoreCandidates(model, 'u1', cands), reference(model, 'u1', cands), 'after in-place edit');
    cands.push({ itemId: 'appended', categoryId: 'c1' });
    assertClose(scoreCandidates(model, 'u1', cands), reference(model, 'u1', cands), 'after push');
    model.dispose();
  });

  it('scores through the narrow ScorableModel view alone, and imports nothing of neumf.ts (no import cycle)', () => {
    const rng = new Rng(21);
    const model = createModel({ ...SHAPES[2]!.config, wideFeatures: true }, rng.fork());
    const train = trainer(model, 22);
    for (let s = 0; s < 3; s++) train.step();
    spreadWeights(model, rng);
    // A plain object, not a RecModel: only what the interface names, its own version counter.
    let version = 0;
    const view: ScorableModel = {
      config: model.config,
      get parameterVersion() {
        return version;
      },
      rowWidth: model.rowWidth,
      userTable: model.userTable,
      itemTable: model.itemTable,
      categoryTable: model.categoryTable,
      dense: model.dense,
      items: { peekRow: (id) => model.items.peekRow(id) },
      categories: { peekRow: (id) => model.categories.peekRow(id) },
      features: model.features,
      wideLogit: (u, i, c, scratch) => model.wideLogit(u, i, c, scratch),
    };
    const scorer = new CandidateScorer(view);
    const cands = randomCandidates(rng, 300);
    const row = model.users.peekRow('u4');
    assertClose(scorer.score([row], cands), reference(model, 'u4', cands), 'through the view');
    // The view's version decides staleness: a weight change it announces is picked up.
    model.dense[2 * model.config.mlpLayers.length + 1]![0]! += 1;
    model.denseChanged();
    version++;
    assertClose(scorer.score([row], cands), reference(model, 'u4', cands), 'after a version bump of the view');
    scorer.dispose();
    model.dispose();
    const imports = ts.preProcessFile(readFileSync(new URL('../../src/model/candidate-scorer.ts', import.meta.url), 'utf8'), true, true).importedFiles.map((f) => f.fileName);
    assert.ok(imports.length > 0, 'the import list was read');
    assert.deepEqual(imports.filter((f) => /neumf/.test(f)), [], `candidate-scorer.ts imports ${imports.join(', ')}`);
  });

  it('keeps the tensor count flat over calls, candidate sets and training, and frees it all on dispose', () => {
    const rng = new Rng(11);
    const start = tf.memory().numTensors;
    const model = createModel(SHAPES[1]!.config, rng.fork());
    const train = trainer(model, 12);
    const fixed = randomCandidates(rng, 300);
    const cycle = (i: number): void => {
      recommend(model, `u${i}`, fixed, 10);
      // More distinct arrays than the cache keeps.
      recommend(model, `u${i}`, randomCandidates(rng, 50 + (i % 7)), 5);
      recommendBatch(model, [`u${i}`, `v${i}`], fixed, 5);
      if (i % 5 === 0) train.step();
    };
    for (let i = 0; i < 20; i++) cycle(i);
    const settled = tf.memory().numTensors;
    for (let i = 20; i < 220; i++) cycle(i);
    assert.equal(tf.memory().numTensors, settled);
    model.dispose();
    assert.equal(tf.memory().numTensors, start);
  });
});
