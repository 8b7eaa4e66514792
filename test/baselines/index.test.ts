import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReferenceScorers, REFERENCE_SCORER_NAMES, resolveReferenceOptions, type ReferenceOptions, type ReferenceScorer } from '../../src/baselines/index.js';
import { Rng } from '../../src/balance/index.js';
import { isRebalancerError } from '../../src/errors.js';
import { DEFAULT_TRAINER_CONFIG } from '../../src/model/config.js';
import { rankOutcome, type RankOutcome } from '../../src/model/evaluator.js';
import { ev, items, scores } from './helpers.js';

test('createReferenceScorers returns popularity, popularity_decayed, mf in that order, each with a one-line description', () => {
  const scorers = createReferenceScorers({}, new Rng(1));
  assert.deepEqual(
    scorers.map((s) => s.name),
    ['popularity', 'popularity_decayed', 'mf'],
  );
  assert.deepEqual(REFERENCE_SCORER_NAMES, ['popularity', 'popularity_decayed', 'mf']);
  for (const s of scorers) assert.match(s.description, /^[^\n]{10,160}$/);
  assert.match(scorers[1]!.description, /10000/);
});

test('defaults: the trainer\'s label weights, half-life 10,000 positives, 16 factors, 4 negatives', () => {
  const c = resolveReferenceOptions();
  assert.deepEqual(c.labelWeights, DEFAULT_TRAINER_CONFIG.labelWeights);
  assert.equal(c.decayHalfLife, 10_000);
  assert.equal(c.mf.factors, 16);
  assert.equal(c.mf.negatives, 4);
});

test('the label weights given reach all three scorers: with click weight 0, clicks change no score', () => {
  const scorers = createReferenceScorers({ labelWeights: { click: 0 } }, new Rng(2));
  const fresh = createReferenceScorers({ labelWeights: { click: 0 } }, new Rng(2));
  for (const s of scorers) {
    s.observe(ev('u', 'a', 'purchase'));
    s.observe(ev('u', 'b', 'click'));
    s.observe(ev('v', 'b', 'click'));
  }
  for (const s of fresh) s.observe(ev('u', 'a', 'purchase'));
  scorers.forEach((s, k) => assert.deepEqual(scores(s, 'u', ['a', 'b']), scores(fresh[k]!, 'u', ['a', 'b']), s.name));
});

test('bad options throw REB_CONFIG_INVALID naming the setting', () => {
  const cases: [ReferenceOptions, string][] = [
    [{ decayHalfLife: 0.5 }, 'decayHalfLife'],
    [{ decayHalfLife: Number.NaN }, 'decayHalfLife'],
    [{ labelWeights: { view: -1 } }, 'labelWeights.view'],
    [{ labelWeights: { clicks: 1 } as never }, 'labelWeights.clicks'],
    [{ mf: { factors: 0 } }, 'mf.factors'],
    [{ mf: { factors: 2.5 } }, 'mf.factors'],
    [{ mf: { negatives: -1 } }, 'mf.negatives'],
    [{ mf: { learningRate: Infinity } }, 'mf.learningRate'],
    [{ mf: { biasRegularisation: -0.1 } }, 'mf.biasRegularisation'],
    [{ mf: { initStd: -1 } }, 'mf.initStd'],
    [{ mf: { lr: 0.1 } as never }, 'mf.lr'],
    [{ halfLife: 5 } as never, 'halfLife'],
  ];
  for (const [options, setting] of cases) {
    assert.throws(
      () => createReferenceScorers(options, new Rng(1)),
      (e: unknown) => isRebalancerError(e, 'REB_CONFIG_INVALID') && e.details.setting === setting && e.message.includes(setting),
      setting,
    );
  }
});

/** Prequential HR@10 of each scorer on a stream, each positive ranked among 20 earlier items. */
function prequential(scorers: readonly ReferenceScorer[], seed: number): number[] {
  const rng = new Rng(seed);
  const seen: string[] = [];
  const hits = scorers.map(() => 0);
  let evaluated = 0;
  const out = new Float64Array(21);
  const o: RankOutcome = { hit: 0, ndcg: 0, auc: 0 };
  for (let n = 0; n < 4_000; n++) {
    // 200 items, item k drawn ∝ 1/(k+1); 50 users, each favouring items ≡ its id mod 5.
    const user = rng.int(50);
    let item = Math.floor(Math.exp(rng.next() * Math.log(201))) - 1;
    if (rng.next() < 0.5) item = (item - (item % 5) + (user % 5)) % 200;
    const e = ev(`u${user}`, `i${item}`, rng.next() < 0.5 ? 'view' : 'click');
    if (e.type !== 'view' && seen.length > 40) {
      const cands = items(e.itemId);
      while (cands.length < 21) {
        const c = seen[rng.int(seen.length)]!;
        if (c !== e.itemId && !cands.some((x) => x.itemId === c)) cands.push(...items(c));
      }
      evaluated++;
      scorers.forEach((s, k) => {
        s.score(e.userId, cands, out);
        rankOutcome(out[0]!, out, 1, 21, 10, o);
        hits[k]! += o.hit;
      });
    }
    for (const s of scorers) s.observe(e);
    if (e.type !== 'view' && !seen.includes(e.itemId)) seen.push(e.itemId);
  }
  return hits.map((h) => h / evaluated);
}

test('prequential use: every scorer beats chance (HR@10 of 20 = 0.5) on a popularity-skewed stream; same seed, same figures', () => {
  const a = prequential(createReferenceScorers({ decayHalfLife: 500 }, new Rng(3)), 9);
  const b = prequential(createReferenceScorers({ decayHalfLife: 500 }, new Rng(3)), 9);
  assert.deepEqual(a, b);
  a.forEach((hr, k) => assert.ok(hr > 0.6, `${REFERENCE_SCORER_NAMES[k]}: HR@10 ${hr}`));
});
