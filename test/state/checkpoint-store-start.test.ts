import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { serialize } from 'node:v8';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { isRebalancerError } from '../../src/errors.js';
import { decodeSavedState, encodeSavedState, type SavedState } from '../../src/service/saved-state.js';
import { CheckpointStore } from '../../src/state/checkpoint-store.js';

function store(dir: string, lines: string[]): CheckpointStore<{ n: number }> {
  return new CheckpointStore<{ n: number }>({ dir, keep: 3, meta: z.object({ n: z.number() }), now: () => 1_000, log: (m) => lines.push(m) });
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

describe('checkpoint store: content that verifies but does not restore', () => {
  it('skips a checkpoint whose state cannot be restored for the next older one, saying why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rebalancer-ckpt-restore-'));
    const lines: string[] = [];
    const s = store(dir, lines);
    await s.write({ n: 1 }, new Map([['state.bin', Buffer.from('one')]]));
    await s.write({ n: 2 }, new Map([['state.bin', Buffer.from('two')]]));
    const tried: number[] = [];
    const r = await s.restoreNewest(async (c) => {
      tried.push(c.manifest.meta.n);
      const text = (await c.readFile('state.bin')).toString();
      if (text === 'two') throw new Error('a structural setting changed');
      return text;
    });
    assert.deepEqual(tried, [2, 1]);
    assert.equal(r?.value, 'one');
    assert.equal(r?.checkpoint.manifest.meta.n, 1);
    assert.ok(lines.some((l) => /ckpt-0+2: verifies but cannot be restored \(a structural setting changed\); trying the next older one/.test(l)), lines.join('\n'));
  });

  it('refuses to start when none restores (naming each and why), unless --allow-empty-restore', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rebalancer-ckpt-restore-'));
    const s = store(dir, []);
    await s.write({ n: 1 }, new Map([['state.bin', Buffer.from('one')]]));
    const fail = async (): Promise<never> => {
      throw new Error('unreadable state');
    };
    await assert.rejects(s.restoreNewest(fail), (err: Error & { code?: string }) => err.code === 'REB_CHECKPOINT_CORRUPT' && /ckpt-0+1: verifies but cannot be restored \(unreadable state\)/.test(err.message));
    assert.equal(await s.restoreNewest(fail, { allowEmpty: true }), undefined);
  });

  it('treats a manifest whose meta has another shape as corrupt (validated, not cast)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rebalancer-ckpt-restore-'));
    const lines: string[] = [];
    const s = store(dir, lines);
    await s.write({ n: 1 }, new Map([['state.bin', Buffer.from('one')]]));
    const b = await s.write({ n: 2 }, new Map([['state.bin', Buffer.from('two')]]));
    const manifest = JSON.parse(readFileSync(join(b.dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(b.dir, 'manifest.json'), JSON.stringify({ ...manifest, meta: { n: 'two' } }));
    assert.equal((await s.loadLatest())?.manifest.meta.n, 1);
    assert.ok(lines.some((l) => /ckpt-0+2: manifest has an unknown format \(meta\.n: /.test(l)), lines.join('\n'));
    // A file name escaping the checkpoint directory is refused too.
    writeFileSync(join(b.dir, 'manifest.json'), JSON.stringify({ ...manifest, files: [{ name: '../../etc/passwd', bytes: 1, sha256: '0'.repeat(64) }] }));
    assert.equal((await s.loadLatest())?.manifest.meta.n, 1);
  });
});

describe('saved state (state.bin)', () => {
  it('round-trips, and refuses what is not a saved state with REB_CHECKPOINT_CORRUPT', () => {
    const saved: SavedState = { format: 2, balance: { state: { version: 1 }, popular: [] } as unknown as SavedState['balance'], dedup: ['e1'], ledger: { positions: { '0': 5 }, byCategory: { c: 5 }, byType: { click: 5 }, applied: 5, duplicates: 0, late: 0, lost: 0, invalid: 0 }, backlog: [], held: [] };
    assert.deepEqual(decodeSavedState(encodeSavedState(saved)), saved);
    const corrupt = (v: unknown): void => assert.throws(() => decodeSavedState(serialize(v)), (e: unknown) => isRebalancerError(e, 'REB_CHECKPOINT_CORRUPT'));
    corrupt({ ...saved, format: 3 });
    corrupt({ ...saved, ledger: { ...saved.ledger, applied: -1 } });
    corrupt({ ...saved, dedup: [1] });
    corrupt({ ...saved, backlog: [{ eventId: 'e' }] });
    corrupt({ ...saved, balance: null });
    assert.throws(() => decodeSavedState(Buffer.from('not v8')), (e: unknown) => isRebalancerError(e, 'REB_CHECKPOINT_CORRUPT'));
  });
});
