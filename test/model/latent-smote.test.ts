/**
 * Latent SMOTE in the trainer (issue #16; src/model/latent-smote.ts): a synthetic sample's
 * inputs lie on the segment between its two events' inputs, the trainer trains on exactly
 * those mixed inputs, and the gradient reaches event a's rows × λ and event b's rows × (1 − λ),
 * its negatives' user side included.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/balance/rng.js';
import { makeEvent, type EventType, type InteractionEvent } from '../../src/codec/index.js';
import { WIDE_FEATURES } from '../../src/model/features.js';
import { createModel, DEFAULT_TRAINER_CONFIG, IncrementalTrainer, type RecModel } from '../../src/model/index.js';
import { interpolateInputs, syntheticEvent } from '../../src/model/latent-smote.js';
import type { BatchRows, GatheredInputs } from '../../src/model/neumf.js';
import { spreadWeights } from './helpers.js';

const SMALL = { userRows: 1024, itemRows: 4096, categoryRows: 64, gmfDim: 8, mlpDim: 8, mlpLayers: [16] };
const prior = (): number => 0.1;
const ADAGRAD_INITIAL = 0.1;

function event(eventId: string, userId: string, itemId: string, type: EventType): InteractionEvent {
  return makeEvent({ eventId, userId, itemId, categoryId: 'tail', type, eventTime: 1 });
}

function rowsOf(model: RecModel, events: readonly InteractionEvent[]): BatchRows {
  return {
    users: Int32Array.from(events, (e) => model.users.peekRow(e.userId)),
    items: Int32Array.from(events, (e) => model.items.peekRow(e.itemId)),
    categories: Int32Array.from(events, (e) => model.categories.peekRow(e.categoryId)),
    length: events.length,
  };
}

/** The inputs of replayed events as the trainer gathers them: the tables, and the count features without the event itself. */
function replayInputs(model: RecModel, events: readonly InteractionEvent[]): GatheredInputs {
  const rows = rowsOf(model, events);
  const inputs = model.gather(rows);
  for (let r = 0; r < rows.length; r++) model.features?.fill(rows.users[r]!, rows.items[r]!, rows.categories[r]!, inputs.wide, r * WIDE_FEATURES, 1);
  return inputs;
}

/** A model whose tables and dense weights are spread (O(1) logits), with the two events counted once each. */
function setUp(seed: number): { model: RecModel; a: InteractionEvent; b: InteractionEvent } {
  const model = createModel(SMALL, new Rng(seed));
  spreadWeights(model, new Rng(seed + 1));
  const a = event('a', 'user-a', 'item-a', 'click');
  const b = event('b', 'user-b', 'item-b', 'purchase');
  assert.notEqual(model.users.peekRow(a.userId), model.users.peekRow(b.userId), 'two user rows');
  assert.notEqual(model.items.peekRow(a.itemId), model.items.peekRow(b.itemId), 'two item rows');
  for (const e of [a, b]) model.features!.observe(model.users.peekRow(e.userId), model.items.peekRow(e.itemId), model.categories.peekRow(e.categoryId));
  return { model, a, b };
}

/** Per coordinate of a row, the gradient a one-sample Adagrad step applied (g = −Δw·√(acc0/(lr² − Δw²)), from w' = w − lr·g/√(acc0 + g²)). */
function appliedGradient(before: Float32Array, after: Float32Array, row: number, width: number, lr: number): Float64Array {
  const out = new Float64Array(width);
  for (let d = 0; d < width; d++) {
    const dw = after[row * width + d]! - before[row * width + d]!;
    out[d] = -dw * Math.sqrt(ADAGRAD_INITIAL / (lr * lr - dw * dw));
  }
  return out;
}

const norm = (v: Float64Array): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

/** g_a / λ = g_b / (1 − λ) coordinate-wise, relative to the size of the gradient. */
function assertSplit(ga: Float64Array, gb: Float64Array, lambda: number, what: string): void {
  assert.ok(norm(ga) > 1e-4 && norm(gb) > 1e-4, `${what}: both rows moved (${norm(ga)}, ${norm(gb)})`);
  const whole = norm(ga) / lambda;
  let worst = 0;
  for (let d = 0; d < ga.length; d++) worst = Math.max(worst, Math.abs(ga[d]! / lambda - gb[d]! / (1 - lambda)));
  assert.ok(worst <= 2e-3 * whole, `${what}: a's row got ${norm(ga)}, b's ${norm(gb)}, for λ = ${lambda} (worst coordinate off by ${worst} of ${whole})`);
}

describe('latent SMOTE', () => {
  it('the mixed inputs lie on the segment: λ·inputs(a) + (1 − λ)·inputs(b) in every block, within 1e-6', () => {
    const { model, a, b } = setUp(3);
    const rng = new Rng(4);
    for (let trial = 0; trial < 20; trial++) {
      const lambda = rng.next();
      const ia = replayInputs(model, [a]);
      const ib = replayInputs(model, [b]);
      const mixed = replayInputs(model, [a]);
      interpolateInputs(mixed, 0, ib, 0, lambda, model.config.gmfDim, model.config.mlpDim, WIDE_FEATURES);
      for (const block of ['userGmf', 'itemGmf', 'mlpInput', 'wide'] as const) {
        assert.ok(mixed[block].length > 0);
        for (let d = 0; d < mixed[block].length; d++) {
          const expected = lambda * ia[block][d]! + (1 - lambda) * ib[block][d]!;
          assert.ok(Math.abs(mixed[block][d]! - expected) <= 1e-6, `λ ${lambda}, ${block}[${d}]: ${mixed[block][d]} vs ${expected}`);
        }
      }
    }
    model.dispose();
  });

  it('one synthetic positive: the step\'s loss is that of the mixed inputs, and a\'s and b\'s rows move in proportion λ : (1 − λ)', () => {
    for (const lambda of [0.3, 0.8]) {
      const { model, a, b } = setUp(7);
      const trainer = new IncrementalTrainer(model, { negativesPerPositive: 0, synthetic: 'latent_smote' }, new Rng(8));
      // The loss the step must report: the weighted BCE of the model's logit on the mixed inputs.
      const mixed = replayInputs(model, [a]);
      interpolateInputs(mixed, 0, replayInputs(model, [b]), 0, lambda, model.config.gmfDim, model.config.mlpDim, WIDE_FEATURES);
      const s = model.scoreGathered(mixed)[0]!;
      const lw = DEFAULT_TRAINER_CONFIG.labelWeights;
      const weight = 1.25 * (lambda * lw.click + (1 - lambda) * lw.purchase);
      const expectedLoss = weight * Math.log1p(Math.exp(-s));
      // Neither endpoint alone has that logit (so the loss tells the mixed inputs apart).
      for (const e of [a, b]) assert.ok(Math.abs(model.scoreGathered(replayInputs(model, [e]))[0]! - s) > 1e-2, `λ ${lambda}: ${e.eventId}'s own logit differs`);
      const users = model.userTable.slice();
      const items = model.itemTable.slice();
      const report = trainer.step([syntheticEvent('latent_smote', a, b, lambda)], Float32Array.of(1.25), prior, { freshCount: 0 });
      assert.equal(report.trainedSamples, 1);
      assert.ok(Math.abs(report.loss - expectedLoss) <= 1e-5 * Math.max(1, expectedLoss), `λ ${lambda}: loss ${report.loss} vs ${expectedLoss} on the mixed inputs (logit ${s})`);
      const w = model.rowWidth;
      const lr = trainer.config.embeddingLearningRate;
      const ga = appliedGradient(users, model.userTable, model.users.peekRow(a.userId), w, lr);
      const gb = appliedGradient(users, model.userTable, model.users.peekRow(b.userId), w, lr);
      assertSplit(ga, gb, lambda, `λ ${lambda}: user rows`);
      assertSplit(appliedGradient(items, model.itemTable, model.items.peekRow(a.itemId), w, lr), appliedGradient(items, model.itemTable, model.items.peekRow(b.itemId), w, lr), lambda, `λ ${lambda}: item rows`);
      model.dispose();
    }
  });

  it('its negatives pair the catalog\'s items with the mixed user: a\'s and b\'s user rows still share the whole gradient λ : (1 − λ)', () => {
    const lambda = 0.35;
    const { model, a, b } = setUp(9);
    const trainer = new IncrementalTrainer(model, { negativesPerPositive: 4, synthetic: 'latent_smote' }, new Rng(10));
    for (let i = 0; i < 40; i++) trainer.catalog.observe(`other-i${i}`, `c${i % 5}`);
    const users = model.userTable.slice();
    const items = model.itemTable.slice();
    const report = trainer.step([syntheticEvent('latent_smote', a, b, lambda)], Float32Array.of(1), prior, { freshCount: 0 });
    assert.equal(report.trainedSamples, 5, 'the synthetic positive and its 4 negatives');
    const w = model.rowWidth;
    const lr = trainer.config.embeddingLearningRate;
    assertSplit(appliedGradient(users, model.userTable, model.users.peekRow(a.userId), w, lr), appliedGradient(users, model.userTable, model.users.peekRow(b.userId), w, lr), lambda, 'user rows (positive + negatives)');
    // The negatives' own item rows learned too.
    let moved = 0;
    for (let i = 0; i < 40; i++) {
      const r = model.items.peekRow(`other-i${i}`);
      if (appliedGradient(items, model.itemTable, r, w, lr).some((x) => x !== 0)) moved++;
    }
    assert.ok(moved >= 1 && moved <= 4, `${moved} negative item rows moved`);
    model.dispose();
  });
});
