/**
 * Warm start (`run --init-from DIR`, issue #16): a model saved and then started from with
 * --init-from scores exactly as the saved model did (same users, same candidates) on every
 * path that makes a fresh model: inline (ModelAdapter), the trainer thread, and after a
 * checkpoint whose model cannot be loaded; a restored checkpoint takes precedence; a saved
 * model of another shape, or no model at all, is REB_INPUT_INVALID naming the setting.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Rng } from '../../src/balance/index.js';
import type { InteractionEvent } from '../../src/codec/index.js';
import { defaultConfig, type ServiceConfig } from '../../src/config/index.js';
import { isRebalancerError } from '../../src/errors.js';
import { BalanceAdapter, type EventBatch } from '../../src/train/balance-adapter.js';
import { MODEL_DIR, ModelAdapter } from '../../src/train/model-adapter.js';
import type { CandidateItem, ModelPort } from '../../src/ports/index.js';
import { createGenerator } from '../../src/offline/generate.js';
import { TrainerThread } from '../../src/train/trainer-thread.js';

const CONFIG = defaultConfig({ modelUserRows: 1024, modelItemRows: 2048, modelDim: 6, batchSize: 64, seed: 7 });

/** Composed batches of a realistic stream, and candidates the balance core would offer. */
function stream(config: ServiceConfig, batches: number): { batches: EventBatch[]; candidates: CandidateItem[]; users: string[]; prior: (c: string) => number } {
  const balance = BalanceAdapter.create(config, new Rng(3));
  const gen = createGenerator({ profile: 'realistic', seed: 5, events: 50_000 });
  const out: EventBatch[] = [];
  const users = new Set<string>();
  let fresh: InteractionEvent[] = [];
  while (out.length < batches) {
    const e = gen.next();
    balance.observe(e);
    if (e.type === 'view') continue;
    fresh.push(e);
    users.add(e.userId);
    if (fresh.length === config.batchSize) {
      out.push(balance.compose(fresh));
      fresh = [];
    }
  }
  // Items the model trained on, and a few it never saw.
  const candidates = [...balance.candidates(10, 60), { itemId: 'never-seen-1', categoryId: 'c-new' }, { itemId: 'never-seen-2', categoryId: 'c-0' }];
  return { batches: out, candidates, users: [...users].slice(0, 6).concat('user-never-seen'), prior: (c) => balance.prior(c) };
}

/** Every candidate's score for every user, in candidate order (k = all). */
function scores(model: Pick<ModelPort<EventBatch>, 'recommend'>, users: readonly string[], candidates: readonly CandidateItem[]): number[][] {
  return users.map((u) => {
    const byItem = new Map(model.recommend(u, candidates, candidates.length).map((r) => [r.itemId, r.score]));
    return candidates.map((c) => byItem.get(c.itemId)!);
  });
}

const root = mkdtempSync(join(tmpdir(), 'rebalancer-warm-start-'));
after(() => rmSync(root, { recursive: true, force: true }));

const data = stream(CONFIG, 40);
/** A checkpoint directory (`<dir>/model`) of a model trained on `data`, and its scores. */
let saved: { dir: string; scores: number[][] };

before(async () => {
  const adapter = ModelAdapter.create(CONFIG, new Rng(1), data.prior);
  for (const b of data.batches) await adapter.train(b);
  const dir = join(root, 'ckpt');
  await adapter.save(dir).done;
  saved = { dir, scores: scores(adapter, data.users, data.candidates) };
  assert.ok(adapter.steps >= 10, `${adapter.steps} steps trained`);
  // The saved model serves with a logit adjustment (part of its scores, carried by --init-from).
  assert.ok(adapter.evaluation().adjustment.tau > 0, `served τ ${adapter.evaluation().adjustment.tau}`);
  await adapter.stop();
});

function warm(initFrom: string, overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return defaultConfig({ ...CONFIG, ...overrides, initFrom });
}

describe('--init-from (warm start)', () => {
  it('reproduces the saved model\'s scores exactly, from a checkpoint, its model directory or one snapshot', async () => {
    const modelDir = join(saved.dir, MODEL_DIR);
    const snapshot = join(modelDir, readdirSync(modelDir).find((n) => n.startsWith('snap-'))!);
    for (const dir of [saved.dir, modelDir, snapshot]) {
      // Another seed than the saved model's: the weights must come from the file, not the seed.
      const adapter = await ModelAdapter.createInitialised(warm(dir, { seed: 99 }), new Rng(99), data.prior);
      assert.deepEqual(scores(adapter, data.users, data.candidates), saved.scores, `--init-from ${dir}`);
      // The trainer starts fresh (fine-tuning): no step, no event trained yet.
      assert.equal(adapter.steps, 0);
      assert.equal(adapter.trainedEvents, 0);
      assert.equal(adapter.version, 'neumf-g0');
      await adapter.stop();
    }
    // The control: without --init-from the same seed gives other scores (so the equality above is not vacuous).
    const cold = ModelAdapter.create(CONFIG, new Rng(99), data.prior);
    assert.notDeepEqual(scores(cold, data.users, data.candidates), saved.scores);
    await cold.stop();
  });

  it('the trainer thread starts from it too, and a restarted worker does not read it again', async () => {
    const copy = join(root, 'copy');
    const adapter = await ModelAdapter.createInitialised(warm(saved.dir), new Rng(1), data.prior);
    await adapter.save(copy).done;
    await adapter.stop();
    const common = { rng: new Rng(4), prior: data.prior, snapshotIntervalMs: 0, log: () => {}, now: () => performance.now() };
    const fromCheckpoint = await TrainerThread.create({ ...common, config: CONFIG, restoreDir: saved.dir });
    const warmThread = await TrainerThread.create({ ...common, config: warm(copy), rng: new Rng(4) });
    try {
      // Served from snapshots (pure-JS scorer) on both sides: identical parameters, identical scores.
      assert.deepEqual(scores(warmThread, data.users, data.candidates), scores(fromCheckpoint, data.users, data.candidates));
      assert.equal(warmThread.steps, 0);
      assert.equal(warmThread.trainedEvents, 0);
      rmSync(copy, { recursive: true, force: true });
      warmThread.crash();
      const end = performance.now() + 20_000;
      while (warmThread.stats().workerRestarts < 1 && performance.now() < end) await new Promise((r) => setTimeout(r, 5));
      assert.equal(warmThread.stats().workerRestarts, 1);
      await warmThread.train(data.batches[0]!);
      assert.equal(warmThread.steps, 1, 'the restarted worker trains on from the warm model');
    } finally {
      await fromCheckpoint.stop();
      await warmThread.stop();
    }
  });

  it('a restored checkpoint takes precedence; a checkpoint whose model cannot be loaded falls back to --init-from', async () => {
    // Another model, in the service's own checkpoint.
    const own = ModelAdapter.create(CONFIG, new Rng(2), data.prior);
    await own.train(data.batches[0]!);
    const ownDir = join(root, 'own');
    await own.save(ownDir).done;
    const ownScores = scores(own, data.users, data.candidates);
    await own.stop();
    // --init-from names nothing: it must not even be read when the checkpoint's model loads.
    const restored = await ModelAdapter.restoreOrCreate(ownDir, warm(join(root, 'no-such-dir')), new Rng(5), data.prior, () => {});
    assert.deepEqual(scores(restored, data.users, data.candidates), ownScores);
    await restored.stop();
    // The checkpoint's model is unloadable: the fresh model it falls back to starts from --init-from.
    const modelDir = join(ownDir, MODEL_DIR);
    const snap = readdirSync(modelDir).find((n) => n.startsWith('snap-'))!;
    writeFileSync(join(modelDir, snap, 'weights.bin'), 'torn');
    const logs: string[] = [];
    const fallback = await ModelAdapter.restoreOrCreate(ownDir, warm(saved.dir), new Rng(5), data.prior, (m) => logs.push(m));
    assert.equal(logs.length, 1);
    assert.deepEqual(scores(fallback, data.users, data.candidates), saved.scores);
    await fallback.stop();
  });

  it('rejects a saved model of another shape, and a directory without one, with REB_INPUT_INVALID naming the setting', async () => {
    await assert.rejects(ModelAdapter.createInitialised(warm(saved.dir, { modelDim: 8 }), new Rng(1), data.prior), (e: unknown) => {
      assert.ok(isRebalancerError(e, 'REB_INPUT_INVALID'), String(e));
      assert.match(e.message, /--init-from .*ckpt: the saved model has gmfDim 6, this run's model 8 \(--model-dim\)/);
      return true;
    });
    await assert.rejects(ModelAdapter.createInitialised(warm(saved.dir, { modelItemRows: 4096 }), new Rng(1), data.prior), /itemRows 2048, this run's model 4096 \(--model-item-rows\)/);
    const empty = mkdtempSync(join(root, 'empty-'));
    for (const dir of [empty, join(root, 'missing')]) {
      await assert.rejects(ModelAdapter.createInitialised(warm(dir), new Rng(1), data.prior), (e: unknown) => isRebalancerError(e, 'REB_INPUT_INVALID') && e.message.includes(dir));
    }
    // A corrupt saved model is the user's input, not a checkpoint to skip.
    const torn = join(root, 'torn');
    const adapter = ModelAdapter.create(CONFIG, new Rng(1), data.prior);
    await adapter.save(torn).done;
    await adapter.stop();
    const tornModel = join(torn, MODEL_DIR);
    writeFileSync(join(tornModel, readdirSync(tornModel).find((n) => n.startsWith('snap-'))!, 'manifest.json'), '{"format": "rebalancer-neumf/2"}');
    await assert.rejects(ModelAdapter.createInitialised(warm(torn), new Rng(1), data.prior), (e: unknown) => isRebalancerError(e, 'REB_INPUT_INVALID') && /manifest\.json is malformed/.test(e.message));
    // ModelAdapter.create cannot silently ignore the setting.
    assert.throws(() => ModelAdapter.create(warm(saved.dir), new Rng(1), data.prior), (e: unknown) => isRebalancerError(e, 'REB_MODEL_INVALID'));
  });
});
