/**
 * Generative oversampling (issue #16; src/model/gaussian-oversampler.ts): the online fit is
 * the sample mean and variance of what it was fed (exactly, within its window; after it the
 * old observations decay), draws follow the fit, the trainer fits a category on its replayed
 * positives' gathered inputs and nothing else, a drawn sample trains the dense weights and no
 * embedding row, a category without a fit replays instead, and the fit travels with the
 * trainer's hand-over state.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/balance/rng.js';
import { makeEvent, type InteractionEvent } from '../../src/codec/index.js';
import { isRebalancerError } from '../../src/errors.js';
import { GAUSSIAN_MIN_OBSERVATIONS, GAUSSIAN_WINDOW, GaussianOversampler, inputWidth, readInputVector } from '../../src/model/gaussian-oversampler.js';
import { createModel, IncrementalTrainer, type Interaction, type RecModel } from '../../src/model/index.js';
import { syntheticEvent } from '../../src/model/latent-smote.js';
import { exportHandOver, trainerStateOf } from '../../src/train/hand-over.js';

const SMALL = { userRows: 1024, itemRows: 4096, categoryRows: 64, gmfDim: 8, mlpDim: 8, mlpLayers: [16] };
const prior = (): number => 0.1;

/** Two-pass mean and unbiased variance per coordinate of vectors[from, to). */
function naive(vectors: readonly Float64Array[], from = 0, to = vectors.length): { mean: Float64Array; variance: Float64Array } {
  const w = vectors[0]!.length;
  const n = to - from;
  const mean = new Float64Array(w);
  const variance = new Float64Array(w);
  for (let i = from; i < to; i++) for (let d = 0; d < w; d++) mean[d]! += vectors[i]![d]! / n;
  for (let i = from; i < to; i++) for (let d = 0; d < w; d++) variance[d]! += (vectors[i]![d]! - mean[d]!) ** 2 / (n - 1);
  return { mean, variance };
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (let d = 0; d < actual.length; d++) assert.ok(Math.abs(actual[d]! - expected[d]!) <= tol * Math.max(1, Math.abs(expected[d]!)), `${what}[${d}]: ${actual[d]} vs ${expected[d]}`);
}

function sameBytes(a: Float32Array, b: Float32Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

describe('gaussian oversampler: the fit', () => {
  it('within the window, each key\'s mean and variance are the sample mean and unbiased variance of the vectors fed to it (keys interleaved)', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const rng = new Rng(seed);
      const width = 1 + rng.int(40);
      const fit = new GaussianOversampler(width);
      const fed = new Map<number, Float64Array[]>();
      const shift = Array.from({ length: width }, () => 10 * rng.normal());
      for (let i = 0; i < 600; i++) {
        const key = rng.int(4);
        const scale = 0.1 + key;
        const x = Float64Array.from({ length: width }, (_, d) => shift[d]! + key + scale * rng.normal());
        fit.observe(key, x);
        if (!fed.has(key)) fed.set(key, []);
        fed.get(key)!.push(x);
      }
      for (const [key, xs] of fed) {
        assert.ok(xs.length >= 2 && xs.length <= GAUSSIAN_WINDOW, `seed ${seed}: ${xs.length} vectors of key ${key}`);
        assert.equal(fit.count(key), xs.length);
        const ref = naive(xs);
        assertClose(fit.mean(key), ref.mean, 1e-9, `seed ${seed} key ${key} mean`);
        assertClose(fit.variance(key), ref.variance, 1e-9, `seed ${seed} key ${key} variance`);
      }
      assert.equal(fit.count(99), 0);
      assert.ok(!fit.ready(99));
    }
  });

  it('past the window older observations decay: the fit follows a shifted distribution, its variance that of the recent vectors (bounded memory)', () => {
    const rng = new Rng(3);
    const fit = new GaussianOversampler(3);
    const vectors: Float64Array[] = [];
    for (let i = 0; i < 4 * GAUSSIAN_WINDOW; i++) vectors.push(Float64Array.of(rng.normal(), 2 * rng.normal(), 0));
    for (let i = 0; i < 8 * GAUSSIAN_WINDOW; i++) vectors.push(Float64Array.of(5 + rng.normal(), 2 * rng.normal(), 0));
    for (const v of vectors) fit.observe(7, v);
    // All 12 windows averaged alike would give a mean of 3.3 and a variance of 6.6 in the first coordinate.
    const recent = naive(vectors, vectors.length - 4 * GAUSSIAN_WINDOW);
    assert.ok(Math.abs(fit.mean(7)[0]! - 5) < 0.2, `the first coordinate's mean moved from 0 to 5: ${fit.mean(7)[0]}`);
    assert.ok(Math.abs(fit.variance(7)[0]! - 1) < 0.25, `the first coordinate's variance is the recent one, 1: ${fit.variance(7)[0]}`);
    assertClose(fit.mean(7), recent.mean, 0.2, 'mean follows the recent vectors');
    assertClose(fit.variance(7), recent.variance, 0.25, 'variance of the recent vectors');
    assert.equal(fit.size, 1);
    assert.equal(fit.exportState().means.length, 3, 'one mean vector per key, however many observations');
  });

  it('10,000 draws have the fitted mean and variance (within sampling tolerance), from the given Rng (same seed, same draws)', () => {
    const rng = new Rng(11);
    const width = 6;
    const fit = new GaussianOversampler(width);
    for (let i = 0; i < 100; i++) fit.observe(1, Float64Array.from({ length: width }, (_, d) => d - 2 + (0.2 + d) * rng.normal()));
    const mean = fit.mean(1);
    const variance = fit.variance(1);
    const n = 10_000;
    const draws: Float64Array[] = [];
    const out = new Float32Array(width);
    const a = new Rng(5);
    for (let i = 0; i < n; i++) {
      fit.sample(1, a, out);
      draws.push(Float64Array.from(out));
    }
    const got = naive(draws);
    for (let d = 0; d < width; d++) {
      const se = Math.sqrt(variance[d]! / n);
      assert.ok(Math.abs(got.mean[d]! - mean[d]!) < 4 * se, `mean[${d}]: ${got.mean[d]} vs fit ${mean[d]} (4 s.e. = ${4 * se})`);
      // The sample variance of n normals has a relative s.e. of √(2/(n−1)) ≈ 1.4%.
      assert.ok(Math.abs(got.variance[d]! / variance[d]! - 1) < 4 * Math.sqrt(2 / (n - 1)), `variance[${d}]: ${got.variance[d]} vs fit ${variance[d]}`);
    }
    const b = new Rng(5);
    const again = new Float32Array(width);
    fit.sample(1, b, again);
    assert.deepEqual([...again], [...draws[0]!].map(Math.fround));
    assert.throws(() => fit.sample(2, a, out), (e: unknown) => isRebalancerError(e, 'REB_MODEL_INVALID'));
  });

  it('exports and restores its state exactly; a state of another width is refused', () => {
    const rng = new Rng(2);
    const fit = new GaussianOversampler(4);
    for (let i = 0; i < 300; i++) fit.observe(rng.int(3), Float64Array.from({ length: 4 }, () => rng.normal()));
    const copy = new GaussianOversampler(4, GAUSSIAN_WINDOW, fit.exportState());
    for (const key of [0, 1, 2]) {
      assert.equal(copy.count(key), fit.count(key));
      assert.deepEqual(copy.mean(key), fit.mean(key));
      assert.deepEqual(copy.variance(key), fit.variance(key));
    }
    assert.throws(() => new GaussianOversampler(5, GAUSSIAN_WINDOW, fit.exportState()), (e: unknown) => isRebalancerError(e, 'REB_MODEL_INVALID'));
  });
});

let clock = 0;
const ev = (userId: string, itemId: string, categoryId: string): InteractionEvent => makeEvent({ eventId: `e${clock}`, userId, itemId, categoryId, type: 'click', eventTime: clock++ });

/** A trainer with --synthetic gaussian on a small model. */
function gaussianTrainer(wide: boolean, negatives: number): { model: RecModel; trainer: IncrementalTrainer } {
  const model = createModel({ ...SMALL, wideFeatures: wide }, new Rng(5));
  return { model, trainer: new IncrementalTrainer(model, { negativesPerPositive: negatives, synthetic: 'gaussian' }, new Rng(6)) };
}

/** The fit of `categoryId` in the trainer's exported state. */
function fitOf(trainer: IncrementalTrainer, model: RecModel, categoryId: string): { count: number; mean: Float64Array; variance: Float64Array } {
  const state = trainer.exportState().oversampler;
  assert.ok(state !== undefined, 'the trainer exports its fit');
  const fit = new GaussianOversampler(state.width, state.window, state);
  const key = model.categories.peekRow(categoryId);
  return { count: fit.count(key), mean: fit.mean(key), variance: fit.variance(key) };
}

describe('gaussian oversampler: in the trainer', () => {
  it('fits a category on its replayed positives\' gathered inputs (as they were before the step), never on fresh ones', () => {
    const { model, trainer } = gaussianTrainer(false, 0);
    const g = model.config.gmfDim;
    const m = model.config.mlpDim;
    const width = inputWidth(g, m, 0);
    const rng = new Rng(8);
    const fed: Float64Array[] = [];
    for (let step = 0; step < 4; step++) {
      const fresh = Array.from({ length: 10 }, () => ev(`u${rng.int(30)}`, `tail-i${rng.int(50)}`, 'tail'));
      const replays = Array.from({ length: 12 }, () => ev(`u${rng.int(30)}`, `tail-i${rng.int(50)}`, 'tail'));
      // The replays' inputs as the step will gather them (the tables as they are before it).
      const inputs = model.gather({ users: Int32Array.from(replays, (e) => model.users.peekRow(e.userId)), items: Int32Array.from(replays, (e) => model.items.peekRow(e.itemId)), categories: Int32Array.from(replays, (e) => model.categories.peekRow(e.categoryId)), length: replays.length });
      const x = new Float32Array(width);
      for (let r = 0; r < replays.length; r++) {
        readInputVector(inputs, r, g, m, 0, x);
        fed.push(Float64Array.from(x));
      }
      const positives = [...fresh, ...replays];
      trainer.step(positives, new Float32Array(positives.length).fill(1), prior, { freshCount: fresh.length });
    }
    const fit = fitOf(trainer, model, 'tail');
    assert.equal(fit.count, 48, 'the 4 × 12 replays, not the fresh events');
    const ref = naive(fed);
    assertClose(fit.mean, ref.mean, 1e-5, 'mean');
    assertClose(fit.variance, ref.variance, 1e-4, 'variance');
    model.dispose();
  });

  it('a drawn sample (and its negatives) changes no embedding row nor Adagrad accumulator, and changes the dense weights', () => {
    for (const wide of [true, false]) {
      const { model, trainer } = gaussianTrainer(wide, 3);
      const rng = new Rng(4);
      // Fit 'tail' on replays; other items in the catalog for the negatives.
      for (let s = 0; s < 4; s++) {
        const replays = Array.from({ length: 12 }, () => ev(`u${rng.int(30)}`, `tail-i${rng.int(50)}`, 'tail'));
        const fresh = Array.from({ length: 12 }, () => ev(`u${rng.int(30)}`, `head-i${rng.int(200)}`, 'head'));
        const positives = [...fresh, ...replays];
        trainer.step(positives, new Float32Array(positives.length).fill(1), prior, { freshCount: fresh.length });
      }
      assert.ok(fitOf(trainer, model, 'tail').count >= GAUSSIAN_MIN_OBSERVATIONS);
      const a = ev('u-new', 'tail-i7', 'tail');
      const marker = syntheticEvent('gaussian', a, a, 1);
      const tables = [model.userTable.slice(), model.itemTable.slice(), model.categoryTable.slice()];
      const accumulators = trainer.exportState().embeddingAccumulators.map((x) => x.slice());
      const dense = model.dense.map((d) => d.slice());
      const report = trainer.step([marker], Float32Array.of(1), prior, { freshCount: 0 });
      assert.equal(report.trainedSamples, 4, 'the drawn positive and its 3 negatives');
      assert.ok(sameBytes(model.userTable, tables[0]!) && sameBytes(model.itemTable, tables[1]!) && sameBytes(model.categoryTable, tables[2]!), `wide ${wide}: no table row moved`);
      trainer.exportState().embeddingAccumulators.forEach((x, i) => assert.ok(sameBytes(x, accumulators[i]!), `wide ${wide}: accumulator ${i} unchanged`));
      assert.ok(
        model.dense.some((d, i) => !sameBytes(d, dense[i]!)),
        `wide ${wide}: the dense weights moved`,
      );
      model.dispose();
    }
  });

  it('a category without a fitted Gaussian replays the sample\'s event instead (bit-identical to a plain replay), and that replay counts towards the fit', () => {
    const run = (asMarker: boolean): { model: RecModel; trainer: IncrementalTrainer } => {
      const r = gaussianTrainer(true, 0);
      const a = makeEvent({ eventId: 'a', userId: 'u1', itemId: 'tail-i1', categoryId: 'tail', type: 'purchase', eventTime: 1 });
      const item: Interaction = asMarker ? syntheticEvent('gaussian', a, a, 1) : a;
      r.trainer.step([item], Float32Array.of(1.5), prior, { freshCount: 0 });
      return r;
    };
    const marker = run(true);
    const replay = run(false);
    for (const k of ['userTable', 'itemTable', 'categoryTable'] as const) assert.ok(sameBytes(marker.model[k], replay.model[k]), k);
    marker.model.dense.forEach((d, i) => assert.ok(sameBytes(d, replay.model.dense[i]!), `dense[${i}]`));
    assert.equal(fitOf(marker.trainer, marker.model, 'tail').count, 1);
    marker.model.dispose();
    replay.model.dispose();
  });

  it('the fit travels with the trainer\'s hand-over state (a worker that takes over draws from the same Gaussians)', () => {
    const { model, trainer } = gaussianTrainer(true, 1);
    const rng = new Rng(12);
    for (let s = 0; s < 3; s++) {
      const positives = Array.from({ length: 20 }, () => ev(`u${rng.int(30)}`, `c${s}-i${rng.int(50)}`, `c${rng.int(3)}`));
      trainer.step(positives, new Float32Array(positives.length).fill(1), prior, { freshCount: 0 });
    }
    const exported = exportHandOver(trainer, 0);
    assert.ok(exported.trainer.oversampler !== null);
    const state = trainerStateOf(exported.trainer);
    assert.deepEqual(state.oversampler, trainer.exportState().oversampler);
    model.dispose();
  });
});
