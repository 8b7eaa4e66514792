/**
 * Per-category learning rates (issue #16; src/model/category-lr.ts): the factors are
 * π_c^−γ normalised to a prior-weighted mean of 1 and clipped; on the same gradient a
 * minority item row moves f_c × its plain step and a majority row less, while the dense
 * weights, the user rows and the Adagrad accumulators move exactly as without them (class
 * weights, by contrast, change the dense update); γ = 0 reads no prior and trains
 * bit-identically to a trainer configured without the setting; the trainer thread gets the
 * priors it needs and trains the model inline training does.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Rng } from '../../src/balance/rng.js';
import { defaultConfig, loadConfig } from '../../src/config/index.js';
import { isRebalancerError } from '../../src/errors.js';
import { CategoryStepSizes } from '../../src/model/category-lr.js';
import { createModel, IncrementalTrainer, ItemCatalog, resolveTrainerConfig, type Interaction, type RecModel, type TrainerConfigInput } from '../../src/model/index.js';
import { ModelAdapter } from '../../src/train/model-adapter.js';
import { TrainerThread } from '../../src/train/trainer-thread.js';
import { BalanceFeed } from '../helpers/balance-feed.js';

const SMALL = { userRows: 1024, itemRows: 4096, categoryRows: 64, gmfDim: 8, mlpDim: 8, mlpLayers: [16] };
const MAJOR = 'head';
const MINOR = 'tail';
/** π of the two categories of the trainer tests. */
const PRIOR: Readonly<Record<string, number>> = { [MAJOR]: 0.9, [MINOR]: 0.1 };
const prior = (c: string): number => PRIOR[c]!;
// γ = 0.5: Z = (0.9^0.5 + 0.1^0.5) / 1 = 1.2649111; f_head = 0.9^−0.5 / Z = 0.8333333, f_tail = 0.1^−0.5 / Z = 2.5.
const F_MAJOR = 0.8333333;
const F_MINOR = 2.5;

/** A step's change of one table row. */
function rowDelta(before: Float32Array, after: Float32Array, row: number, width: number): Float64Array {
  const d = new Float64Array(width);
  for (let j = 0; j < width; j++) d[j] = after[row * width + j]! - before[row * width + j]!;
  return d;
}

const norm = (v: Float64Array): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

/** Asserts Δ = f·Δ0 coordinate-wise, up to the float32 rounding of the stored weights. */
function assertScaled(delta: Float64Array, plain: Float64Array, f: number, what: string): void {
  assert.ok(norm(plain) > 1e-4, `${what}: the plain step moves the row (${norm(plain)})`);
  const worst = delta.reduce((m, x, j) => Math.max(m, Math.abs(x - f * plain[j]!)), 0);
  assert.ok(worst <= 2e-4 * norm(plain) * Math.max(1, f), `${what}: step ${norm(delta)} vs ${f} × ${norm(plain)} (worst coordinate off by ${worst})`);
}

/**
 * A batch with one positive per item: 24 head items and 8 tail items (so the tail's prior
 * of 0.1 is a real minority), users spread; items chosen so that no two share an item row.
 */
function batch(model: RecModel): Interaction[] {
  const out: Interaction[] = [];
  const rows = new Set<number>();
  const rng = new Rng(77);
  for (const [category, count] of [
    [MAJOR, 24],
    [MINOR, 8],
  ] as const) {
    for (let i = 0, made = 0; made < count; i++) {
      const itemId = `${category}-i${i}`;
      const r = model.items.peekRow(itemId);
      if (rows.has(r)) continue;
      rows.add(r);
      out.push({ userId: `u${rng.int(40)}`, itemId, categoryId: category, type: 'click' });
      made++;
    }
  }
  return out;
}

interface Run {
  model: RecModel;
  trainer: IncrementalTrainer;
}

/** Identical models (same seed) and trainers (same seed), differing only in `config`. */
function run(config: TrainerConfigInput): Run {
  const model = createModel(SMALL, new Rng(5));
  return { model, trainer: new IncrementalTrainer(model, { negativesPerPositive: 3, ...config }, new Rng(6)) };
}

function sameBytes(a: Float32Array, b: Float32Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

describe('per-category learning rate: the factors', () => {
  it('f_c = π_c^−γ / Z with the prior-weighted mean 1, larger for rarer categories, clipped to [1/clip, clip]', () => {
    const two = new CategoryStepSizes(0.5, 10);
    two.begin([MAJOR, MINOR], prior);
    assert.ok(Math.abs(two.factor(MAJOR) - F_MAJOR) < 1e-6, `head ${two.factor(MAJOR)}`);
    assert.ok(Math.abs(two.factor(MINOR) - F_MINOR) < 1e-6, `tail ${two.factor(MINOR)}`);
    for (let seed = 1; seed <= 30; seed++) {
      const rng = new Rng(seed);
      const n = 2 + rng.int(40);
      const ids = Array.from({ length: n }, (_, i) => `c${i}`);
      // Zipf-like priors (decreasing in i) over a random share of the mass (the catalog's categories need not hold all of it).
      const exponent = 0.5 + 1.5 * rng.next();
      const raw = ids.map((_, i) => 1 / Math.pow(i + 1, exponent));
      const total = raw.reduce((s, x) => s + x, 0) / (0.5 + 0.5 * rng.next());
      const pi = new Map(ids.map((c, i) => [c, raw[i]! / total]));
      const gamma = 0.05 + 0.95 * rng.next();
      const free = new CategoryStepSizes(gamma, 1e9);
      free.begin(ids, (c) => pi.get(c)!);
      const mass = ids.reduce((s, c) => s + pi.get(c)!, 0);
      const mean = ids.reduce((s, c) => s + pi.get(c)! * free.factor(c), 0) / mass;
      assert.ok(Math.abs(mean - 1) < 1e-9, `seed ${seed}: prior-weighted mean ${mean}`);
      for (let i = 1; i < n; i++) assert.ok(free.factor(ids[i]!) > free.factor(ids[i - 1]!), `seed ${seed}: rarer category ${i} gets a larger factor`);
      const clip = 1 + 3 * rng.next();
      const clipped = new CategoryStepSizes(gamma, clip);
      clipped.begin(ids, (c) => pi.get(c)!);
      for (const c of ids) {
        const expected = Math.min(clip, Math.max(1 / clip, free.factor(c)));
        assert.ok(Math.abs(clipped.factor(c) - expected) < 1e-12, `seed ${seed} ${c}: ${clipped.factor(c)} vs ${expected}`);
      }
    }
  });

  it('the catalog lists exactly the categories of the items it holds (through evictions and a restore)', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const rng = new Rng(seed);
      const catalog = new ItemCatalog(1 + rng.int(20), 50, 1, rng.fork());
      for (let i = 0; i < 200; i++) {
        // Items may come back under another category (the catalog keeps the latest).
        catalog.observe(`i${rng.int(60)}`, `c${rng.int(12)}`);
        const state = catalog.exportState();
        const naive = [...new Set(state.categories)].sort();
        assert.deepEqual([...catalog.categories()].sort(), naive, `seed ${seed} after ${i + 1} observations`);
      }
      assert.deepEqual([...ItemCatalog.fromState(catalog.exportState()).categories()].sort(), [...catalog.categories()].sort());
    }
  });

  it('settings: γ in [0, 1] and clip >= 1, rejected with the setting named', () => {
    assert.throws(() => resolveTrainerConfig({ categoryLrGamma: 1.5 }), (e: unknown) => isRebalancerError(e, 'REB_MODEL_INVALID') && /categoryLrGamma/.test(e.message));
    assert.throws(() => resolveTrainerConfig({ categoryLrClip: 0.5 }), (e: unknown) => isRebalancerError(e, 'REB_MODEL_INVALID') && /categoryLrClip/.test(e.message));
    assert.throws(() => loadConfig({ flags: { categoryLrGamma: '2' } }), (e: unknown) => isRebalancerError(e, 'REB_CONFIG_INVALID') && /--category-lr-gamma/.test(e.message));
    assert.throws(() => loadConfig({ flags: { categoryLrClip: '0.5' } }), (e: unknown) => isRebalancerError(e, 'REB_CONFIG_INVALID') && /--category-lr-clip/.test(e.message));
    const c = loadConfig({ flags: { categoryLrGamma: '0.5', categoryLrClip: '3' } });
    assert.deepEqual([c.categoryLrGamma, c.categoryLrClip], [0.5, 3]);
    assert.equal(loadConfig({}).categoryLrGamma, 0, 'off by default');
  });
});

describe('per-category learning rate: the trainer step', () => {
  it('on the same gradient a tail item row moves f_tail × its plain step, a head row f_head × (less), the dense weights and user rows exactly as without; class weights change the dense update instead', () => {
    const plain = run({});
    const scaled = run({ categoryLrGamma: 0.5, categoryLrClip: 10 });
    const weighted = run({});
    const positives = batch(plain.model);
    const ones = new Float32Array(positives.length).fill(1);
    const classWeights = Float32Array.from(positives, (p) => (p.categoryId === MINOR ? F_MINOR : F_MAJOR));
    const before = { items: plain.model.itemTable.slice(), categories: plain.model.categoryTable.slice(), users: plain.model.userTable.slice(), dense: plain.model.dense.map((d) => d.slice()) };
    assert.ok(sameBytes(before.items, scaled.model.itemTable) && sameBytes(before.items, weighted.model.itemTable), 'the three start identical');
    plain.trainer.step(positives, ones, prior);
    scaled.trainer.step(positives, ones, prior);
    weighted.trainer.step(positives, classWeights, prior);
    const w = plain.model.rowWidth;

    // Item rows: every positive's row (negatives are drawn from these same items, so each row
    // holds one category; the rows were chosen collision-free).
    let tailRows = 0;
    let headRows = 0;
    for (const p of positives) {
      const r = plain.model.items.peekRow(p.itemId);
      const d0 = rowDelta(before.items, plain.model.itemTable, r, w);
      const d = rowDelta(before.items, scaled.model.itemTable, r, w);
      const f = p.categoryId === MINOR ? F_MINOR : F_MAJOR;
      assertScaled(d, d0, f, `${p.itemId}`);
      if (p.categoryId === MINOR) {
        assert.ok(norm(d) > 2 * norm(d0), `${p.itemId}: the tail row moves further`);
        tailRows++;
      } else {
        assert.ok(norm(d) < norm(d0), `${p.itemId}: the head row moves less`);
        headRows++;
      }
    }
    assert.deepEqual([tailRows, headRows], [8, 24]);
    // Category rows likewise.
    for (const [c, f] of [
      [MINOR, F_MINOR],
      [MAJOR, F_MAJOR],
    ] as const) {
      const r = plain.model.categories.peekRow(c);
      assertScaled(rowDelta(before.categories, scaled.model.categoryTable, r, w), rowDelta(before.categories, plain.model.categoryTable, r, w), f, `category ${c}`);
    }

    // The dense weights, the user rows and the optimizer state are bit-identical to the plain step.
    plain.model.dense.forEach((d, i) => assert.ok(sameBytes(d, scaled.model.dense[i]!), `dense[${i}] unchanged by the per-category learning rate`));
    assert.ok(!sameBytes(before.dense[0]!, plain.model.dense[0]!), 'the step moved the dense weights');
    assert.ok(sameBytes(plain.model.userTable, scaled.model.userTable), 'user rows unchanged');
    assert.ok(!sameBytes(before.users, plain.model.userTable), 'the step moved user rows');
    const acc0 = plain.trainer.exportState().embeddingAccumulators;
    const acc1 = scaled.trainer.exportState().embeddingAccumulators;
    acc0.forEach((a, i) => assert.ok(sameBytes(a, acc1[i]!), `Adagrad accumulator ${i}: the same gradient, summed the same way`));

    // Class weights with the same factors scale the loss: the dense weights move differently.
    let denseDiff = 0;
    plain.model.dense.forEach((d, i) => d.forEach((v, j) => (denseDiff = Math.max(denseDiff, Math.abs(v - weighted.model.dense[i]![j]!)))));
    assert.ok(denseDiff > 1e-5, `class weights change the dense update (max difference ${denseDiff})`);
    for (const run of [plain, scaled, weighted]) run.model.dispose();
  });

  it('γ = 0 reads no prior and trains bit-identically to a trainer without the setting; clip 1 (every factor 1) too', () => {
    const noPrior = (): number => {
      throw new Error('the prior was read');
    };
    const base = run({});
    const off = run({ categoryLrGamma: 0, categoryLrClip: 7 });
    const unit = run({ categoryLrGamma: 0.8, categoryLrClip: 1 });
    assert.equal(base.trainer.usesPriors, false);
    assert.equal(off.trainer.usesPriors, false);
    assert.equal(unit.trainer.usesPriors, true, 'with γ > 0 the trainer thread must send priors');
    const rng = new Rng(9);
    for (let s = 0; s < 6; s++) {
      const positives: Interaction[] = Array.from({ length: 40 }, () => {
        const c = rng.next() < 0.85 ? MAJOR : MINOR;
        return { userId: `u${rng.int(30)}`, itemId: `${c}-i${rng.int(300)}`, categoryId: c, type: 'click' };
      });
      const ones = new Float32Array(positives.length).fill(1);
      base.trainer.step(positives, ones, noPrior);
      off.trainer.step(positives, ones, noPrior);
      unit.trainer.step(positives, ones, prior);
    }
    for (const other of [off, unit]) {
      for (const k of ['userTable', 'itemTable', 'categoryTable'] as const) assert.ok(sameBytes(base.model[k], other.model[k]), k);
      base.model.dense.forEach((d, i) => assert.ok(sameBytes(d, other.model.dense[i]!), `dense[${i}]`));
    }
    for (const r of [base, off, unit]) r.model.dispose();
  });
});


describe('per-category learning rate: the service paths', () => {
  const threads: TrainerThread[] = [];
  afterEach(async () => {
    await Promise.all(threads.splice(0).map((t) => t.stop().catch(() => {})));
  });

  it('the trainer thread receives the priors and trains as ModelAdapter inline (1e-5); the factors change the model', async () => {
    const config = defaultConfig({ modelUserRows: 2048, modelItemRows: 2048, modelDim: 8, batchSize: 96, targetMixRho: 0.5, categoryLrGamma: 0.5, categoryLrClip: 4, maxMicroLoss: 0, seed: 11 });
    const plainConfig = { ...config, categoryLrGamma: 0 };
    const inlineFeed = new BalanceFeed(config, 5);
    const inline = ModelAdapter.create(config, new Rng(config.seed), inlineFeed.prior);
    const plainFeed = new BalanceFeed(plainConfig, 5);
    const plain = ModelAdapter.create(plainConfig, new Rng(config.seed), plainFeed.prior);
    const threadFeed = new BalanceFeed(config, 5);
    const t = await TrainerThread.create({ config, rng: new Rng(config.seed), prior: threadFeed.prior, snapshotIntervalMs: 0, log: () => {}, now: () => performance.now() });
    threads.push(t);
    const losses: Array<[number, number, number]> = [];
    for (let i = 0; i < 20; i++) {
      const a = (await inline.train(inlineFeed.next(config.batchSize, (x) => inline.trainsOn(x)))).loss;
      const b = (await t.train(threadFeed.next(config.batchSize, (x) => t.trainsOn(x)))).loss;
      const c = (await plain.train(plainFeed.next(config.batchSize, (x) => plain.trainsOn(x)))).loss;
      losses.push([a, b, c]);
    }
    for (const [i, [a, b]] of losses.entries()) assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(a)), `loss of step ${i + 1}: inline ${a}, thread ${b}`);
    assert.ok(
      losses.slice(1).some(([a, , c]) => Math.abs(a - c) > 1e-4),
      `γ = 0.5 trains another model than γ = 0: ${JSON.stringify(losses.map(([a, , c]) => [a, c]))}`,
    );
    await inline.stop();
    await plain.stop();
  });
});
