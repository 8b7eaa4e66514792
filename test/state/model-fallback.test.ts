/**
 * Upgrading over old checkpoints: a checkpoint whose model cannot be loaded (here, saved
 * in the format before the wide part) restores with a fresh model and says so, instead of
 * aborting start-up; a loadable model is restored as saved.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Rng } from '../../src/balance/index.js';
import { defaultConfig } from '../../src/config/index.js';
import { MODEL_DIR, ModelAdapter } from '../../src/train/model-adapter.js';

const config = defaultConfig({ modelUserRows: 256, modelItemRows: 256, modelDim: 4 });

async function savedCheckpoint(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'rebalancer-model-fallback-'));
  const adapter = ModelAdapter.create(config, new Rng(1), () => 0.5);
  await adapter.save(dir).done;
  return dir;
}

describe('restoring the model of a checkpoint', () => {
  it('restores a loadable model as saved (its generation)', async () => {
    const dir = await savedCheckpoint();
    const logs: string[] = [];
    const restored = await ModelAdapter.restoreOrCreate(dir, config, new Rng(2), () => 0.5, (m) => logs.push(m));
    assert.equal(restored.version, 'neumf-g1');
    assert.deepEqual(logs, []);
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts a fresh model, with a warning, when the saved model is of an older format', async () => {
    const dir = await savedCheckpoint();
    const modelDir = join(dir, MODEL_DIR);
    const snap = readdirSync(modelDir).find((n) => n.startsWith('snap-'))!;
    const manifestPath = join(modelDir, snap, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { format: string };
    manifest.format = 'rebalancer-neumf/1';
    writeFileSync(manifestPath, JSON.stringify(manifest));
    await assert.rejects(ModelAdapter.restore(dir, config, new Rng(2), () => 0.5), { code: 'REB_CHECKPOINT_CORRUPT' });
    const logs: string[] = [];
    const fresh = await ModelAdapter.restoreOrCreate(dir, config, new Rng(2), () => 0.5, (m) => logs.push(m));
    assert.equal(fresh.version, 'neumf-g0');
    assert.equal(logs.length, 1);
    assert.match(logs[0]!, /was not loaded .*rebalancer-neumf\/1.*the model starts fresh/);
    rmSync(dir, { recursive: true, force: true });
  });
});
