/** Focal loss, logit adjustment and the sampled-negative correction on hand-computed cases. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_LOSS_CONFIG, perSampleLosses, trainingOffset, type LossConfig } from '../../src/model/index.js';

const close = (actual: number, expected: number, tol = 1e-5): void => assert.ok(Math.abs(actual - expected) <= tol, `${actual} vs ${expected}`);

describe('losses', () => {
  it('focal loss (α = 0.25, γ = 2) matches the hand computation', () => {
    const focal: LossConfig = { ...DEFAULT_LOSS_CONFIG, kind: 'focal', focalAlpha: 0.25, focalGamma: 2 };
    // Sample 1: s = 0.5, y = 1, w = 2. p_t = σ(0.5) = 0.6224593, (1 − p_t)² = 0.3775407² = 0.1425370,
    //   −ln p_t = 0.4740770, α_t = 0.25 → ℓ = 2 · 0.25 · 0.1425370 · 0.4740770 = 0.0337866.
    // Sample 2: s = −1, y = 0, w = 1. z_t = 1, p_t = σ(1) = 0.7310586, (1 − p_t)² = 0.2689414² = 0.0723295,
    //   −ln p_t = 0.3132617, α_t = 0.75 → ℓ = 0.75 · 0.0723295 · 0.3132617 = 0.0169935.
    const l = perSampleLosses([0.5, -1], [1, 0], [2, 1], [0, 0], focal);
    close(l[0]!, 0.0337866);
    close(l[1]!, 0.0169935);
    // γ = 0 and α = 0.5 is half the BCE: sample 1 → 2 · 0.5 · 0.4740770 = 0.4740770.
    const half = perSampleLosses([0.5], [1], [2], [0], { ...focal, focalAlpha: 0.5, focalGamma: 0 });
    close(half[0]!, 0.474077);
  });

  it('weighted BCE matches the hand computation', () => {
    // s = 0.5, y = 1, w = 3: 3 · ln(1 + e^−0.5) = 3 · 0.4740770 = 1.4222310; s = 2, y = 0, w = 1: ln(1 + e²) = 2.1269280.
    const l = perSampleLosses([0.5, 2], [1, 0], [3, 1], [0, 0], DEFAULT_LOSS_CONFIG);
    close(l[0]!, 1.422231);
    close(l[1]!, 2.126928);
  });

  it('logit adjustment trains on s + τ·log π_c', () => {
    const la: LossConfig = { ...DEFAULT_LOSS_CONFIG, logitAdjustTau: 1 };
    // τ = 1, π = 0.01: offset = ln 0.01 = −4.6051702.
    close(trainingOffset(la, 0.01, 1), -4.6051702);
    // τ = 0.5: offset = 0.5 · ln 0.01 = −2.3025851.
    close(trainingOffset({ ...la, logitAdjustTau: 0.5 }, 0.01, 1), -2.3025851);
    // A tail positive (π = 0.01) with s = 0.5: z = −4.1051702, BCE = ln(1 + e^4.1051702) = ln(1 + 100/e^0.5)
    //   = ln(61.6530660) = 4.1215230.
    const l = perSampleLosses([0.5], [1], [1], [trainingOffset(la, 0.01, 1)], la);
    close(l[0]!, 4.121523, 1e-4);
    // Disabled (τ = 0): no offset.
    assert.equal(trainingOffset(DEFAULT_LOSS_CONFIG, 0.01, 0.5), 0);
  });

  it('the sampled-negative correction subtracts log q', () => {
    const corr: LossConfig = { ...DEFAULT_LOSS_CONFIG, sampledNegativeCorrection: true };
    // q = 0.001: −ln 0.001 = 6.9077553.
    close(trainingOffset(corr, 1, 0.001), 6.9077553);
    // Combined with τ = 1, π = 0.1: ln 0.1 − ln 0.001 = −2.3025851 + 6.9077553 = 4.6051702.
    close(trainingOffset({ ...corr, logitAdjustTau: 1 }, 0.1, 0.001), 4.6051702);
  });
});
