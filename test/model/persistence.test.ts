/** Save, load, continue training; torn or corrupted saves are rejected; a snapshot moved into a checkpoint is adopted unread. */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Rng } from '../../src/balance/rng.js';
import { isRebalancerError } from '../../src/errors.js';
import { createModel, IncrementalTrainer, loadModel, saveModel, type Interaction, type RecModel } from '../../src/model/index.js';
import { writeDirectoryAtomically } from '../../src/storage/atomic-directory.js';
import { nodeDurableFs, type DurableFs } from '../../src/storage/durable-fs.js';

const CONFIG = { userRows: 300, itemRows: 400, categoryRows: 16, gmfDim: 6, mlpDim: 5, mlpLayers: [12, 6] };
const TRAINER = { negativesPerPositive: 3, evalCandidates: 20, lrDecay: 0.01, loss: { kind: 'focal' as const, logitAdjustTau: 0.5, sampledNegativeCorrection: true } };
const tmpRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'reb-model-'));
after(() => fs.rm(tmpRoot, { recursive: true, force: true }));

function batches(seed: number, count: number): Interaction[][] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => Array.from({ length: 16 }, () => ({ userId: `u${rng.int(60)}`, itemId: `i${rng.int(150)}`, categoryId: `c${rng.int(6)}`, type: rng.next() < 0.2 ? ('purchase' as const) : ('click' as const) })));
}

const probe = Array.from({ length: 40 }, (_, i) => ({ userId: `u${i}`, itemId: `i${i * 3}`, categoryId: `c${i % 6}` }));
const prior = (c: string): number => (c === 'c0' ? 0.5 : 0.1);
const ones = new Float32Array(16).fill(1);
const corrupt = (e: unknown): boolean => isRebalancerError(e, 'REB_CHECKPOINT_CORRUPT');

async function trainedModel(dir: string): Promise<{ model: RecModel; trainer: IncrementalTrainer }> {
  const model = createModel(CONFIG, new Rng(1));
  const trainer = new IncrementalTrainer(model, TRAINER, new Rng(2));
  for (const b of batches(3, 40)) trainer.evaluateThenTrain(b, ones, prior);
  await saveModel(model, trainer.exportState(), dir, 'v-test-1');
  return { model, trainer };
}

describe('persistence', () => {
  it('load gives the same predictions, and training continues identically (warm start)', async () => {
    const dir = path.join(tmpRoot, 'roundtrip');
    const { model, trainer } = await trainedModel(dir);
    const loaded = await loadModel(dir);
    assert.equal(loaded.version, 'v-test-1');
    assert.deepEqual(loaded.model.scorePairs(probe), model.scorePairs(probe));
    assert.deepEqual(loaded.model.collisionStats(), model.collisionStats());
    assert.ok(loaded.trainerState !== null);
    const resumed = new IncrementalTrainer(loaded.model, TRAINER, new Rng(999), loaded.trainerState);
    assert.equal(resumed.steps, trainer.steps);
    for (const b of batches(4, 10)) {
      trainer.step(b, ones, prior);
      resumed.step(b, ones, prior);
    }
    assert.deepEqual(loaded.model.scorePairs(probe), model.scorePairs(probe));
    assert.notDeepEqual(loaded.model.scorePairs(probe), (await loadModel(dir)).model.scorePairs(probe));
    // A second save becomes current; a model saved without trainer state loads with none.
    await saveModel(model, null, dir, 'v-test-2');
    const second = await loadModel(dir);
    assert.equal(second.version, 'v-test-2');
    assert.equal(second.trainerState, null);
    assert.deepEqual(second.model.scorePairs(probe), model.scorePairs(probe));
  });

  it('rejects a torn save (manifest missing) and a checksum mismatch with REB_CHECKPOINT_CORRUPT', async () => {
    const dir = path.join(tmpRoot, 'torn');
    await trainedModel(dir);
    const snap = (await loadModel(dir)).snapshotDir;
    const weights = path.join(snap, 'weights.bin');
    const bytes = await fs.readFile(weights);
    bytes[bytes.length >> 1] ^= 0xff;
    await fs.writeFile(weights, bytes);
    await assert.rejects(loadModel(dir), corrupt);
    await fs.rm(path.join(snap, 'manifest.json'));
    await assert.rejects(loadModel(dir), corrupt);
    await assert.rejects(loadModel(path.join(tmpRoot, 'nothing-here')), corrupt);
  });

  it('a crash mid-save leaves the previous snapshot current', async () => {
    const dir = path.join(tmpRoot, 'crash');
    const { model } = await trainedModel(dir);
    // Simulate a save that died before its rename: a temp dir with partial files and no manifest.
    const tmp = path.join(dir, '.tmp-snap-00000002-1');
    await fs.mkdir(tmp);
    await fs.writeFile(path.join(tmp, 'weights.bin'), Buffer.alloc(100));
    const loaded = await loadModel(dir);
    assert.equal(loaded.version, 'v-test-1');
    assert.deepEqual(loaded.model.scorePairs(probe), model.scorePairs(probe));
    // The next save still works and becomes current.
    await saveModel(model, null, dir, 'v-test-3');
    assert.equal((await loadModel(dir)).version, 'v-test-3');
  });

  it('a snapshot is sealed for the atomic writer: moved into a checkpoint, its files are adopted by their manifest digests, neither read nor fsynced again', async () => {
    const stage = path.join(tmpRoot, 'stage');
    const { model } = await trainedModel(path.join(stage, 'model'));
    const saved = await loadModel(path.join(stage, 'model'));
    const touched: string[] = [];
    const recording: DurableFs = {
      ...nodeDurableFs,
      readFile: (file) => (touched.push(`read ${path.basename(file)}`), nodeDurableFs.readFile(file)),
      fsync: (target) => (touched.push(`fsync ${path.basename(target)}`), nodeDurableFs.fsync(target)),
    };
    const checkpoint = path.join(tmpRoot, 'ckpt-1');
    const files = await writeDirectoryAtomically(checkpoint, async (s) => fs.rename(path.join(stage, 'model'), path.join(s.path, 'model')), { fs: recording });
    const snap = path.join('model', path.basename(saved.snapshotDir));
    for (const [file, entry] of Object.entries(saved.manifest.files)) {
      assert.deepEqual(files.find((f) => f.name === path.join(snap, file)), { name: path.join(snap, file), ...entry }, `${file}: the digest saveModel computed`);
      assert.deepEqual(touched.filter((t) => t.endsWith(` ${file}`)), [], `${file}: not read or fsynced again`);
    }
    assert.deepEqual(Object.keys(saved.manifest.files).sort(), ['optimizer.bin', 'state.json', 'weights.bin']);
    assert.ok(touched.includes('read manifest.json'), 'the seal was read');
    const loaded = await loadModel(path.join(checkpoint, 'model'));
    assert.deepEqual(loaded.model.scorePairs(probe), model.scorePairs(probe));
  });
});
