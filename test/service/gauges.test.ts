/**
 * The derived gauges from a fixed balance view and evaluation: per-category series folded
 * into the top N categories plus `other` (bounded labels), the rest copied.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EvaluationView } from '../../src/ports/index.js';
import { derivedGauges, topCategories } from '../../src/service/gauges.js';
import { VIEW } from './fixtures.js';

const evaluation: EvaluationView = {
  hitRateByCategory: new Map([
    ['shoes', 0.3],
    ['books', 0.2],
    ['tools', 0.6],
  ]),
  evaluationsByCategory: new Map([
    ['shoes', 50],
    ['books', 30],
    ['tools', 10],
  ]),
  hitRateMacro: 0.37,
  hitRateMicro: 0.3,
  ndcgMacro: 0.12,
  ndcgMicro: 0.16,
  adjustment: { tau: 0.5, microCost: 0.01, macroGain: 0.03 },
};

describe('derived gauges', () => {
  it('fold the per-category series into the top N categories plus other', () => {
    const g = derivedGauges(VIEW, evaluation, 1);
    // Shares: other sums books and tools.
    assert.deepEqual([...g.categoryWindowShare], [['shoes', 0.6], ['other', 0.4]]);
    // Weights: other is the mean of books' and tools' weighted by their window counts.
    assert.deepEqual([...g.classWeight], [['shoes', 0.5], ['other', (1.2 * 3 + 3 * 1) / 4]]);
    // Hit rates: other is weighted by the evaluations per category, not by window counts.
    assert.deepEqual([...g.evaluation!.hitRate], [['shoes', 0.3], ['other', (0.2 * 30 + 0.6 * 10) / 40]]);
  });

  it('copy the window figures, the interaction tail share and the evaluation averages', () => {
    const g = derivedGauges(VIEW, evaluation, 5);
    assert.equal(g.windowEvents, 10);
    assert.equal(g.windowCategories, 3);
    assert.equal(g.imbalanceRatio, 6);
    assert.equal(g.entropyNormalized, 0.82);
    assert.equal(g.gini, 0.33);
    assert.deepEqual(g.reservoirFill, { perCategory: 0.4, cbrs: 0.9 });
    assert.equal(g.interactionTailShare, 0.1);
    // Every category within the top N: no `other`.
    assert.deepEqual([...g.categoryWindowShare.keys()], ['shoes', 'books', 'tools']);
    assert.deepEqual({ ...g.evaluation!, hitRate: undefined }, { hitRate: undefined, hitRateMacro: 0.37, hitRateMicro: 0.3, ndcgMacro: 0.12, ndcgMicro: 0.16, adjustment: { tau: 0.5, microCost: 0.01, macroGain: 0.03 } });
  });

  it('have no evaluation series when training is off', () => {
    assert.equal(derivedGauges(VIEW, undefined, 5).evaluation, undefined);
  });

  it('rank the top categories by window count, ties in window order', () => {
    const counts = new Map([
      ['a', 2],
      ['b', 5],
      ['c', 2],
      ['d', 1],
    ]);
    assert.deepEqual([...topCategories(counts, 3)], ['b', 'a', 'c']);
    assert.deepEqual([...topCategories(counts, 0)], []);
  });
});
