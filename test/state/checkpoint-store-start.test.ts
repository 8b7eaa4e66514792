import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CheckpointStore } from '../../src/state/checkpoint-store.js';

function store(dir: string, lines: string[]): CheckpointStore<{ n: number }> {
  return new CheckpointStore<{ n: number }>({ dir, keep: 3, now: () => 1_000, log: (m) => lines.push(m) });
}

describe('checkpoint store at start', () => {
  it('refuses to start from empty state when checkpoints exist but none verifies, naming each and why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rebalancer-ckpt-start-'));
    const s = store(dir, []);
    const a = await s.write({ n: 1 }, new Map([['state.bin', Buffer.from('one')]]));
    const b = await s.write({ n: 2 }, new Map([['state.bin', Buffer.from('two')]]));
    writeFileSync(join(a.dir, 'state.bin'), 'torn');
    writeFileSync(join(b.dir, 'manifest.json'), '{');
    await assert.rejects(s.loadLatest(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'REB_CHECKPOINT_CORRUPT');
      assert.match(err.message, /none of the 2 checkpoints .* verifies/);
      assert.match(err.message, /ckpt-0+2: no readable manifest/);
      assert.match(err.message, /ckpt-0+1: file state\.bin is missing or fails its checksum/);
      assert.match(err.message, /--allow-empty-restore/);
      return true;
    });
  });

  it('with allowEmpty (--allow-empty-restore) says in one line that it starts from empty state', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rebalancer-ckpt-start-'));
    const lines: string[] = [];
    const s = store(dir, lines);
    const a = await s.write({ n: 1 }, new Map([['state.bin', Buffer.from('one')]]));
    const b = await s.write({ n: 2 }, new Map([['state.bin', Buffer.from('two')]]));
    writeFileSync(join(a.dir, 'state.bin'), 'torn');
    writeFileSync(join(b.dir, 'manifest.json'), '{');
    assert.equal(await s.loadLatest({ allowEmpty: true }), undefined);
    assert.equal(lines.filter((l) => l.startsWith('skipping checkpoint')).length, 2);
    assert.ok(lines.some((l) => /^WARNING: none of the 2 checkpoints in .* verifies \(--allow-empty-restore\): starting from EMPTY state/.test(l)), lines.join('\n'));
  });

  it('says nothing of the kind for an empty directory, and loads the newest good checkpoint past a torn one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rebalancer-ckpt-start-'));
    const lines: string[] = [];
    const s = store(dir, lines);
    assert.equal(await s.loadLatest(), undefined);
    assert.equal(lines.length, 0);
    await s.write({ n: 1 }, new Map([['state.bin', Buffer.from('one')]]));
    const b = await s.write({ n: 2 }, new Map([['state.bin', Buffer.from('two')]]));
    writeFileSync(join(b.dir, 'state.bin'), 'torn');
    const loaded = await s.loadLatest();
    assert.equal(loaded?.manifest.meta.n, 1);
    assert.ok(!lines.some((l) => l.startsWith('WARNING')));
  });

  it('fails fast naming --checkpoint-dir when the directory cannot be written', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'rebalancer-ckpt-start-')), 'a-file');
    writeFileSync(file, 'x');
    await assert.rejects(store(join(file, 'sub'), []).assertWritable(), (err: Error & { code?: string }) => err.code === 'REB_CONFIG_INVALID' && /--checkpoint-dir .* is not writable/.test(err.message));
    await store(mkdtempSync(join(tmpdir(), 'rebalancer-ckpt-start-')), []).assertWritable();
  });
});
