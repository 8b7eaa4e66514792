import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/balance/rng.js';
import { makeEvent, type InteractionEvent } from '../../src/codec/index.js';
import { createModel, IncrementalTrainer, type RecModel } from '../../src/model/index.js';
import { OutputHeads, baggingRate, multiplicities, poisson } from '../../src/model/online-bagging.js';
import { exportHandOver, modelFromHandOver, trainerStateOf } from '../../src/train/hand-over.js';

describe('online bagging (Oza 2001; OOB/UOB, Wang et al. TKDE 2015)', () => {
  it('Poisson draws have mean and variance λ within 4 standard errors', () => {
    const rng = new Rng(7);
    for (const lambda of [0.25, 1, 3.5, 8, 40]) {
      const n = 40_000;
      let s = 0;
      let s2 = 0;
      for (let i = 0; i < n; i++) {
        const k = poisson(rng, lambda);
        assert.ok(Number.isInteger(k) && k >= 0);
        s += k;
        s2 += k * k;
      }
      const mean = s / n;
      const variance = s2 / n - mean * mean;
      assert.ok(Math.abs(mean - lambda) < 4 * Math.sqrt(lambda / n), `λ ${lambda}: mean ${mean}`);
      assert.ok(Math.abs(variance - lambda) < 0.05 * lambda + 0.02, `λ ${lambda}: variance ${variance}`);
    }
  });

  it('OOB repeats the minority (λ = π_max/π_c), UOB thins the majority (λ = π_min/π_c), both clipped to [1/λmax, λmax]', () => {
    const near = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-12, `${a} ≠ ${b}`);
    near(baggingRate('oob', 0.5, 0.01, 0.5, 10), 1);
    near(baggingRate('oob', 0.1, 0.01, 0.5, 10), 5);
    near(baggingRate('oob', 0.001, 0.001, 0.5, 10), 10);
    near(baggingRate('uob', 0.01, 0.01, 0.5, 10), 1);
    near(baggingRate('uob', 0.05, 0.01, 0.5, 10), 0.2);
    near(baggingRate('uob', 0.5, 0.001, 0.5, 10), 0.1);
  });

  it('the multiplicities of each sample have mean λ of its category over the replicas and steps', () => {
    const rng = new Rng(3);
    const K = 8;
    const rates = Float32Array.from([5, 1, 0.2]);
    const out = new Float32Array(rates.length * K);
    const sums = [0, 0, 0];
    const steps = 5_000;
    for (let s = 0; s < steps; s++) {
      multiplicities(rng, K, rates, rates.length, out);
      for (let i = 0; i < rates.length; i++) for (let k = 0; k < K; k++) sums[i]! += out[i * K + k]!;
    }
    for (let i = 0; i < rates.length; i++) {
      const mean = sums[i]! / (steps * K);
      assert.ok(Math.abs(mean - rates[i]!) < 4 * Math.sqrt(rates[i]! / (steps * K)), `rate ${rates[i]}: mean ${mean}`);
    }
  });

  it('the heads start as copies of the output layer; re-centring moves their mean onto it and keeps their differences', () => {
    const out = Float32Array.from([0.5, -1, 2]);
    const bias = Float32Array.from([0.25]);
    const heads = OutputHeads.fromOutputLayer(4, out, bias, new Rng(1));
    const mean = new Float32Array(3);
    const meanBias = new Float32Array(1);
    heads.writeMean(mean, meanBias);
    assert.deepEqual([...mean], [...out]);
    assert.equal(meanBias[0], 0.25);
    // Heads diverge (as training would), then the model's layer changes from outside (a sync blend).
    heads.weights[0] = 1.5; // head 0 of input 0
    heads.bias[3] = 1.25;
    const diffBefore = heads.weights[0]! - heads.weights[1]!;
    const blended = Float32Array.from([1, 1, 1]);
    const blendedBias = Float32Array.from([-0.5]);
    heads.recenter(blended, blendedBias);
    heads.writeMean(mean, meanBias);
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(mean[i]! - blended[i]!) < 1e-6, `input ${i}: ${mean[i]}`);
    assert.ok(Math.abs(meanBias[0]! + 0.5) < 1e-6);
    assert.ok(Math.abs(heads.weights[0]! - heads.weights[1]! - diffBefore) < 1e-6);
    assert.ok(heads.bias[3]! > heads.bias[0]!);
  });
});

describe('online bagging in the trainer', () => {
  const SMALL = { userRows: 64, itemRows: 64, categoryRows: 8, gmfDim: 4, mlpDim: 4, mlpLayers: [8] };
  let clock = 0;
  const ev = (userId: string, itemId: string, categoryId: string): InteractionEvent => makeEvent({ eventId: `b${clock}`, userId, itemId, categoryId, type: 'click', eventTime: clock++ });
  // A skewed prior: c0 is the majority (λ_OOB = 1), c2 the minority (λ_OOB = 9, λ_UOB(c0) = 1/9).
  const PRIORS: Record<string, number> = { c0: 0.81, c1: 0.1, c2: 0.09 };
  const prior = (c: string): number => PRIORS[c] ?? 0.01;

  function bagged(mode: 'oob' | 'uob', wide: boolean): { model: RecModel; trainer: IncrementalTrainer } {
    const model = createModel({ ...SMALL, wideFeatures: wide }, new Rng(5));
    return { model, trainer: new IncrementalTrainer(model, { negativesPerPositive: 2, bagging: mode, baggingReplicas: 4, baggingLambdaMax: 10 }, new Rng(6)) };
  }

  function train(trainer: IncrementalTrainer, steps: number, seed: number): void {
    const rng = new Rng(seed);
    for (let s = 0; s < steps; s++) {
      const positives = Array.from({ length: 24 }, () => ev(`u${rng.int(30)}`, `i${rng.int(40)}`, `c${rng.int(3)}`));
      trainer.step(positives, new Float32Array(positives.length).fill(1), prior);
    }
  }

  /** The output layer's weights and bias of a model (dense = [..., Wout, bout, Wwide?]). */
  function outputLayer(model: RecModel): [Float32Array, Float32Array] {
    const deep = model.features === null ? model.dense.length : model.dense.length - 1;
    return [model.dense[deep - 2]!, model.dense[deep - 1]!];
  }

  for (const wide of [false, true]) {
    it(`the heads diverge and the served output layer is their mean after every step (wide part ${wide ? 'on' : 'off'})`, () => {
      const { model, trainer } = bagged('oob', wide);
      assert.ok(trainer.usesPriors, 'the rates read π_c, so the trainer thread must send priors');
      const [out0] = outputLayer(model);
      const before = out0.slice();
      train(trainer, 6, 1);
      const heads = trainer.exportState().heads!;
      const [out, bias] = outputLayer(model);
      const K = heads.replicas;
      for (let i = 0; i < heads.width; i++) {
        let mean = 0;
        for (let k = 0; k < K; k++) mean += heads.weights[i * K + k]!;
        assert.ok(Math.abs(mean / K - out[i]!) < 1e-5, `input ${i}: mean ${mean / K}, served ${out[i]}`);
      }
      const meanBias = [...heads.bias].reduce((a, b) => a + b, 0) / K;
      assert.ok(Math.abs(meanBias - bias[0]!) < 1e-5);
      // Different Poisson draws per head: the heads are no longer copies.
      let spread = 0;
      for (let i = 0; i < heads.width; i++) spread += Math.abs(heads.weights[i * K]! - heads.weights[i * K + 1]!);
      assert.ok(spread > 1e-4, `heads 0 and 1 differ by ${spread}`);
      assert.ok([...out].some((x, i) => x !== before[i]), 'the output layer moved');
      model.dispose();
    });
  }

  it('OOB and UOB train differently from each other, reproducibly for a seed', () => {
    const scores: number[][] = [];
    for (const mode of ['oob', 'uob', 'oob'] as const) {
      const { model, trainer } = bagged(mode, true);
      train(trainer, 5, 2);
      scores.push([...outputLayer(model)[0]]);
      model.dispose();
    }
    assert.deepEqual(scores[0], scores[2]);
    assert.notDeepEqual(scores[0], scores[1]);
  });

  it('a change of the output layer from outside (a sync blend) reaches every head at the next step', () => {
    const { model, trainer } = bagged('oob', false);
    train(trainer, 3, 3);
    const [out] = outputLayer(model);
    const headsBefore = trainer.exportState().heads!.weights.slice();
    out[0]! += 5; // as a blend from another instance would
    train(trainer, 1, 4);
    const heads = trainer.exportState().heads!;
    const K = heads.replicas;
    // The step moves each head a little; the +5 shift dominates and reached all of them.
    for (let k = 0; k < K; k++) assert.ok(heads.weights[k]! - headsBefore[k]! > 4, `head ${k}: ${heads.weights[k]} vs ${headsBefore[k]}`);
    model.dispose();
  });

  it('the heads travel with the hand-over state: a worker that takes over continues with the same heads and draws', () => {
    const { model, trainer } = bagged('uob', true);
    train(trainer, 3, 5);
    const exported = exportHandOver(trainer, 0);
    assert.ok(exported.trainer.heads !== null);
    const state = trainerStateOf(exported.trainer);
    const copy = modelFromHandOver(exported);
    const taken = new IncrementalTrainer(copy, { negativesPerPositive: 2, bagging: 'uob', baggingReplicas: 4, baggingLambdaMax: 10 }, new Rng(99), state);
    train(trainer, 2, 6);
    train(taken, 2, 6);
    assert.deepEqual([...outputLayer(copy)[0]], [...outputLayer(model)[0]]);
    assert.deepEqual([...taken.exportState().heads!.weights], [...trainer.exportState().heads!.weights]);
    model.dispose();
    copy.dispose();
  });
});
