import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecayedPopularityScorer, PopularityScorer, resolveReferenceOptions } from '../../src/baselines/index.js';
import { isRebalancerError } from '../../src/errors.js';
import { Rng } from '../../src/balance/index.js';
import { ev, items, scores } from './helpers.js';

const config = resolveReferenceOptions({});
const decayed = (halfLife: number): DecayedPopularityScorer => new DecayedPopularityScorer(resolveReferenceOptions({ decayHalfLife: halfLife }));

test('popularity ranks three items by their positive counts (3, 2, 1); unseen items score 0', () => {
  const p = new PopularityScorer(config);
  // A: click, add_to_cart, purchase = 3 positives; B: 2 clicks; C: 1 purchase and 5 views.
  for (const e of [ev('u1', 'A'), ev('u2', 'B'), ev('u3', 'C', 'purchase'), ev('u1', 'A', 'add_to_cart'), ev('u2', 'B'), ev('u3', 'A', 'purchase')]) p.observe(e);
  for (let k = 0; k < 5; k++) p.observe(ev('u9', 'C', 'view'));
  assert.deepEqual(scores(p, 'u1', ['C', 'A', 'D', 'B']), [1, 3, 0, 2]);
  // Same for every user, known or not.
  assert.deepEqual(scores(p, 'nobody', ['C', 'A', 'D', 'B']), [1, 3, 0, 2]);
});

test('popularity: equal counts give exactly equal scores (no hidden tie-break)', () => {
  const p = new PopularityScorer(config);
  for (const e of [ev('u', 'X'), ev('u', 'Y'), ev('v', 'Y'), ev('v', 'X')]) p.observe(e);
  const [x, y] = scores(p, 'u', ['X', 'Y']);
  assert.equal(x, 2);
  assert.equal(y, 2);
});

test('popularity ignores events of label weight 0: views by default, any type configured so', () => {
  const p = new PopularityScorer(config);
  for (let k = 0; k < 10; k++) p.observe(ev('u', 'A', 'view'));
  assert.deepEqual(scores(p, 'u', ['A']), [0]);
  const noClicks = new PopularityScorer(resolveReferenceOptions({ labelWeights: { click: 0 } }));
  noClicks.observe(ev('u', 'A', 'click'));
  noClicks.observe(ev('u', 'B', 'purchase'));
  assert.deepEqual(scores(noClicks, 'u', ['A', 'B']), [0, 1]);
});

test('score does not change state and checks the output length', () => {
  const p = new PopularityScorer(config);
  p.observe(ev('u', 'A'));
  const first = scores(p, 'u', ['A', 'Z']);
  assert.deepEqual(scores(p, 'u', ['A', 'Z']), first);
  // Scoring Z did not register it: the first positive of Z counts 1.
  p.observe(ev('u', 'Z'));
  assert.deepEqual(scores(p, 'u', ['A', 'Z']), [1, 1]);
  assert.throws(() => p.score('u', items('A', 'Z'), new Float64Array(1)), (e: unknown) => isRebalancerError(e, 'REB_MODEL_INVALID'));
  assert.throws(() => decayed(2).score('u', items('A', 'Z'), new Float64Array(1)), (e: unknown) => isRebalancerError(e, 'REB_MODEL_INVALID'));
});

test('popularity_decayed with half-life 1: a, b, a gives a = 1/4 + 1 = 1.25, b = 1/2', () => {
  const d = decayed(1);
  for (const e of [ev('u', 'a'), ev('u', 'b'), ev('u', 'a')]) d.observe(e);
  assert.deepEqual(scores(d, 'u', ['a', 'b', 'never']), [1.25, 0.5, 0]);
});

test('popularity_decayed with half-life 2: a, a, b gives a = 2^-1 + 2^-1/2, b = 1; views do not age counts', () => {
  const d = decayed(2);
  for (const e of [ev('u', 'a'), ev('u', 'x', 'view'), ev('u', 'a'), ev('u', 'x', 'view'), ev('u', 'x', 'view'), ev('u', 'b')]) d.observe(e);
  const [a, b, x] = scores(d, 'u', ['a', 'b', 'x']);
  assert.ok(Math.abs(a! - (0.5 + Math.SQRT1_2)) < 1e-15, `a = ${a}`);
  assert.ok(Math.abs(b! - 1) < 1e-15, `b = ${b}`);
  assert.equal(x, 0);
});

test('popularity_decayed matches a brute-force decayed count over random streams, across renormalisations', () => {
  // Half-life 1 renormalises at positive 901, 1801, 2701; half-life 1.5 at 1351, 2701. The
  // checkpoints include the positives right after those (where a wrong rescale would show;
  // with H = 1 older mass is negligible a few dozen positives later).
  for (const halfLife of [1, 1.5, 7, 10_000]) {
    const rng = new Rng(Math.round(halfLife * 10));
    const d = decayed(halfLife);
    const history: string[] = [];
    const ids = Array.from({ length: 12 }, (_, k) => `i${k}`);
    for (let n = 1; n <= 6_000; n++) {
      const item = ids[rng.int(ids.length)]!;
      const type = rng.next() < 0.5 ? 'view' : 'click';
      d.observe(ev('u', item, type));
      if (type === 'view') continue;
      history.push(item);
      if (history.length % 450 > 3) continue;
      const got = scores(d, 'u', ids);
      ids.forEach((id, k) => {
        let want = 0;
        history.forEach((h, j) => {
          if (h === id) want += Math.pow(2, -(history.length - 1 - j) / halfLife);
        });
        // Relative error; want = 0 only for an item not seen yet.
        assert.ok(Math.abs(got[k]! - want) <= 1e-12 * want, `H=${halfLife} after ${history.length} positives, ${id}: ${got[k]} vs ${want}`);
      });
    }
    assert.ok(history.length > 2_800, `${history.length} positives`);
  }
});
