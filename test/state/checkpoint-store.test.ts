/**
 * CheckpointStore through its public API only (write, restoreNewest, loadLatest): what goes
 * in comes back byte for byte, the newest checkpoint wins, old ones are pruned to `keep`,
 * a tampered newest one (checksum, truncation, manifest) is skipped for the next older one
 * with the reason logged, and a write that fails or a process killed mid-write never
 * leaves anything that a restore would load. checkpoint-store-start.test.ts covers the
 * start-up rules (none verifies, --allow-empty-restore, an unwritable directory) and
 * content that verifies but does not restore.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { z } from 'zod';
import { Rng } from '../../src/balance/rng.js';
import { RebalancerError } from '../../src/errors.js';
import { CheckpointStore, type LoadedCheckpoint } from '../../src/state/checkpoint-store.js';

interface Meta {
  n: number;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rebalancer-ckpt-store-'));
  dirs.push(dir);
  return dir;
}

function store(dir: string, o: { keep?: number; lines?: string[]; now?: () => number } = {}): CheckpointStore<Meta> {
  return new CheckpointStore<Meta>({ dir, keep: o.keep ?? 3, meta: z.object({ n: z.number() }), now: o.now ?? (() => 1_000), log: (m) => o.lines?.push(m) });
}

function bytes(seed: number, length: number): Buffer {
  const rng = new Rng(seed);
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = rng.int(256);
  return out;
}

function state(n: number): Map<string, Buffer> {
  return new Map([['state.bin', Buffer.from(`state-${n}`)]]);
}

/** Restores with a callback that records which checkpoints it was handed and reads their state. */
async function restoreRecording(s: CheckpointStore<Meta>): Promise<{ tried: number[]; meta: number | undefined; text: string | undefined }> {
  const tried: number[] = [];
  const r = await s.restoreNewest(async (c: LoadedCheckpoint<Meta>) => {
    tried.push(c.manifest.meta.n);
    return (await c.readFile('state.bin')).toString();
  });
  return { tried, meta: r?.checkpoint.manifest.meta.n, text: r?.value };
}

describe('checkpoint store: round trip and order', { timeout: 20_000 }, () => {
  it('restores meta, files and what writeExtra put into the directory (nested too), byte for byte', async () => {
    const dir = freshDir();
    const s = store(dir, { now: () => 1_234_567 });
    const stateBin = bytes(1, 70_000);
    const ledger = Buffer.from(JSON.stringify({ applied: 42 }));
    const weights = bytes(2, 4_096);
    const empty = Buffer.alloc(0);
    const written = await s.write({ n: 7 }, new Map([['state.bin', stateBin], ['ledger.json', ledger], ['empty.bin', empty]]), async (tmp) => {
      await mkdir(join(tmp, 'model', 'shards'), { recursive: true });
      await writeFile(join(tmp, 'model', 'shards', 'weights.bin'), weights);
    });
    assert.equal(written.seq, 1);

    const loaded = await s.loadLatest();
    assert.ok(loaded !== undefined);
    assert.equal(loaded.dir, written.dir);
    assert.deepEqual(loaded.manifest.meta, { n: 7 });
    assert.equal(loaded.manifest.seq, 1);
    assert.equal(loaded.manifest.createdAt, 1_234_567, 'stamped by the injected clock');
    assert.deepEqual(await loaded.readFile('state.bin'), stateBin);
    assert.deepEqual(await loaded.readFile('ledger.json'), ledger);
    assert.deepEqual(await loaded.readFile('empty.bin'), empty);
    assert.deepEqual(await loaded.readFile(join('model', 'shards', 'weights.bin')), weights);
    const listed = new Map(loaded.manifest.files.map((f) => [f.name, f.bytes]));
    assert.deepEqual(listed, new Map([['empty.bin', 0], ['ledger.json', ledger.length], [join('model', 'shards', 'weights.bin'), 4_096], ['state.bin', 70_000]]), 'every file, writeExtra\'s included, is in the manifest with its size');
  });

  it('the newest wins: restoreNewest hands over only the highest sequence, numbered on from disk by a new instance, past 9 and 99', async () => {
    const dir = freshDir();
    const first = store(dir, { keep: 200 });
    for (let n = 1; n <= 3; n++) await first.write({ n }, state(n));
    assert.deepEqual(await restoreRecording(first), { tried: [3], meta: 3, text: 'state-3' }, 'the callback sees the newest only');

    // A restarted process numbers on from what is on disk, not from 1.
    const restarted = store(dir, { keep: 200 });
    const fourth = await restarted.write({ n: 4 }, state(4));
    assert.equal(fourth.seq, 4);
    for (let n = 5; n <= 101; n++) await restarted.write({ n }, state(n));
    // Lexical order of unpadded names would put 99 after 101 (and 9 after 10).
    assert.deepEqual(await restoreRecording(store(dir, { keep: 200 })), { tried: [101], meta: 101, text: 'state-101' });
  });
});

describe('checkpoint store: retention', { timeout: 20_000 }, () => {
  for (const keep of [1, 2, 4]) {
    it(`keeps the newest ${keep} (keep=${keep}) and removes the older directories`, async () => {
      const dir = freshDir();
      const s = store(dir, { keep });
      const written: Array<{ seq: number; dir: string }> = [];
      for (let n = 1; n <= 6; n++) written.push(await s.write({ n }, state(n)));
      const kept = written.slice(-keep);
      assert.deepEqual(readdirSync(dir).sort(), kept.map((w) => basename(w.dir)).sort(), 'nothing else left on disk');
      for (const w of written.slice(0, -keep)) assert.equal(existsSync(w.dir), false, `${w.dir} pruned`);
      // What is left is exactly what a restore can fall back through: make every one fail.
      await assert.rejects(s.restoreNewest(async () => Promise.reject(new Error('refused'))), (err: unknown) => {
        assert.ok(err instanceof RebalancerError);
        assert.equal(err.code, 'REB_CHECKPOINT_CORRUPT');
        assert.match(err.message, new RegExp(`none of the ${keep} checkpoints`));
        const failures = z.array(z.string()).parse(err.details.failures);
        assert.deepEqual(failures.map((f) => f.split(':')[0]), kept.map((w) => basename(w.dir)).reverse(), 'newest first, the pruned ones absent');
        return true;
      });
      assert.deepEqual(await restoreRecording(s), { tried: [6], meta: 6, text: 'state-6' });
    });
  }
});

interface Tamper {
  title: string;
  /** Damages checkpoint `dir` (its state.bin holds 'state-2', its model/w.bin 64 bytes). */
  damage(dir: string): void;
  /** What the skip line says after the checkpoint's name. */
  reason: RegExp;
}

const TAMPERS: Tamper[] = [
  {
    title: 'a data file with one byte changed (same size: only the SHA-256 catches it)',
    damage: (d) => {
      const data = readFileSync(join(d, 'state.bin'));
      data[data.length - 1] ^= 0x01;
      writeFileSync(join(d, 'state.bin'), data);
    },
    reason: /file state\.bin is missing or fails its checksum/,
  },
  { title: 'a truncated data file', damage: (d) => truncateSync(join(d, 'state.bin'), 3), reason: /file state\.bin is missing or fails its checksum/ },
  { title: 'a missing data file', damage: (d) => rmSync(join(d, 'state.bin')), reason: /file state\.bin is missing or fails its checksum/ },
  {
    title: 'a tampered file written by writeExtra (the model), nested',
    damage: (d) => writeFileSync(join(d, 'model', 'w.bin'), Buffer.alloc(64, 0xee)),
    reason: new RegExp(`file ${join('model', 'w.bin').replace(/[.\\/]/g, '\\$&')} is missing or fails its checksum`),
  },
  { title: 'a manifest that is not JSON', damage: (d) => writeFileSync(join(d, 'manifest.json'), 'not json'), reason: /no readable manifest/ },
  {
    title: 'a truncated manifest',
    damage: (d) => truncateSync(join(d, 'manifest.json'), Math.floor(readFileSync(join(d, 'manifest.json')).length / 2)),
    reason: /no readable manifest/,
  },
  { title: 'no manifest at all (a torn directory)', damage: (d) => rmSync(join(d, 'manifest.json')), reason: /no readable manifest/ },
  {
    title: 'a manifest whose checksum was edited to match nothing',
    damage: (d) => {
      const manifest = z.looseObject({ files: z.array(z.looseObject({ name: z.string(), sha256: z.string() })) }).parse(JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8')));
      for (const f of manifest.files) if (f.name === 'state.bin') f.sha256 = 'f'.repeat(64);
      writeFileSync(join(d, 'manifest.json'), JSON.stringify(manifest));
    },
    reason: /file state\.bin is missing or fails its checksum/,
  },
  {
    title: 'a manifest of another format version',
    damage: (d) => {
      const manifest = z.looseObject({ format: z.number() }).parse(JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8')));
      writeFileSync(join(d, 'manifest.json'), JSON.stringify({ ...manifest, format: 2 }));
    },
    reason: /manifest has an unknown format \(format: /,
  },
];

describe('checkpoint store: a damaged newest checkpoint', { timeout: 20_000 }, () => {
  for (const t of TAMPERS) {
    it(`${t.title}: never handed to restore; the next older one is, and the log says why`, async () => {
      const dir = freshDir();
      const lines: string[] = [];
      const s = store(dir, { lines });
      const model = (fill: number) => async (tmp: string): Promise<void> => {
        await mkdir(join(tmp, 'model'));
        await writeFile(join(tmp, 'model', 'w.bin'), Buffer.alloc(64, fill));
      };
      await s.write({ n: 1 }, state(1), model(1));
      const newest = await s.write({ n: 2 }, state(2), model(2));
      t.damage(newest.dir);

      assert.deepEqual(await restoreRecording(s), { tried: [1], meta: 1, text: 'state-1' });
      const skips = lines.filter((l) => l.startsWith('skipping checkpoint'));
      assert.equal(skips.length, 1, lines.join('\n'));
      assert.ok(skips[0]!.startsWith(`skipping checkpoint ${newest.dir}: `), skips[0]);
      assert.match(skips[0]!, t.reason);
      assert.ok(!lines.some((l) => l.startsWith('WARNING')), 'a fallback is no empty start');
    });
  }

  it('falls back over several damaged ones to the newest that verifies, naming each', async () => {
    const dir = freshDir();
    const lines: string[] = [];
    const s = store(dir, { keep: 5, lines });
    const written: Array<{ dir: string }> = [];
    for (let n = 1; n <= 5; n++) written.push(await s.write({ n }, state(n)));
    rmSync(join(written[4]!.dir, 'manifest.json'));
    truncateSync(join(written[3]!.dir, 'state.bin'), 1);
    assert.deepEqual(await restoreRecording(s), { tried: [3], meta: 3, text: 'state-3' });
    assert.deepEqual(lines.map((l) => l.split(':')[0]), [`skipping checkpoint ${written[4]!.dir}`, `skipping checkpoint ${written[3]!.dir}`]);
  });
});

describe('checkpoint store: retention after a fallback', { timeout: 20_000 }, () => {
  it('a damaged checkpoint does not count towards keep: the one restored instead survives the next writes, the damaged one is pruned', async () => {
    const dir = freshDir();
    const s = store(dir, { keep: 2 });
    const first = await s.write({ n: 1 }, state(1));
    const damaged = await s.write({ n: 2 }, state(2));
    truncateSync(join(damaged.dir, 'state.bin'), 1);
    const restarted = store(dir, { keep: 2 });
    assert.deepEqual(await restoreRecording(restarted), { tried: [1], meta: 1, text: 'state-1' });
    const third = await restarted.write({ n: 3 }, state(3));
    const names = (d: string): string => d.slice(d.lastIndexOf('/') + 1);
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('ckpt-')).sort(), [names(first.dir), names(third.dir)]);
    // Corrupt the newest: the fallback still has ckpt 1, the last good one before it.
    truncateSync(join(third.dir, 'state.bin'), 1);
    assert.deepEqual(await restoreRecording(store(dir, { keep: 2 })), { tried: [1], meta: 1, text: 'state-1' });
  });
});

describe('checkpoint store: nothing half-written is restored', { timeout: 20_000 }, () => {
  it('a write whose writeExtra fails rejects, leaves nothing on disk, and the previous checkpoint stays the newest', async () => {
    const dir = freshDir();
    const lines: string[] = [];
    const s = store(dir, { lines });
    const good = await s.write({ n: 1 }, state(1));
    let tmpSeen: string | undefined;
    await assert.rejects(
      s.write({ n: 2 }, state(2), async (tmp) => {
        tmpSeen = tmp;
        await writeFile(join(tmp, 'model.bin'), 'half a model');
        throw new Error('model save failed');
      }),
      /model save failed/,
    );
    assert.ok(tmpSeen !== undefined);
    assert.equal(existsSync(tmpSeen), false, 'the temp directory is removed');
    assert.deepEqual(readdirSync(dir), [basename(good.dir)]);
    assert.deepEqual(await restoreRecording(s), { tried: [1], meta: 1, text: 'state-1' });
    assert.deepEqual(lines, [], 'not even seen as a torn checkpoint');
    const next = await s.write({ n: 3 }, state(3));
    assert.deepEqual(await restoreRecording(s), { tried: [3], meta: 3, text: 'state-3' });
    assert.ok(next.seq > good.seq);
  });

  it('while a write is in progress, a restore (a second process on the directory) still gets the previous checkpoint', async () => {
    const dir = freshDir();
    const s = store(dir);
    await s.write({ n: 1 }, state(1));
    let reached: () => void = () => {};
    const atModel = new Promise<void>((r) => (reached = r));
    let fail: (err: Error) => void = () => {};
    const pending = s.write({ n: 2 }, state(2), async (tmp) => {
      await writeFile(join(tmp, 'model.bin'), 'partial');
      reached();
      await new Promise<void>((_, reject) => (fail = reject));
    });
    await atModel;
    const lines: string[] = [];
    assert.deepEqual(await restoreRecording(store(dir, { lines })), { tried: [1], meta: 1, text: 'state-1' });
    assert.deepEqual(lines, []);
    fail(new Error('crashed'));
    await assert.rejects(pending, /crashed/);
    assert.deepEqual(await restoreRecording(s), { tried: [1], meta: 1, text: 'state-1' });
  });

  it('a process killed (SIGKILL) mid-write leaves a partial directory that is never restored, and a later write cleans it up', async () => {
    const dir = freshDir();
    await store(dir).write({ n: 1 }, state(1));
    // The child writes checkpoint 2, and kills itself after the data files and part of the model.
    const child = `
      import { writeFile } from 'node:fs/promises';
      import { join } from 'node:path';
      import { z } from 'zod';
      const { CheckpointStore } = await import(process.env.STORE_URL);
      const s = new CheckpointStore({ dir: process.env.CKPT_DIR, keep: 3, meta: z.object({ n: z.number() }), now: () => Date.now(), log: () => {} });
      await s.write({ n: 2 }, new Map([['state.bin', Buffer.from('state-2')]]), async (tmp) => {
        await writeFile(join(tmp, 'marker'), 'half-written');
        process.stdout.write('TMP ' + tmp + '\\n');
        process.kill(process.pid, 'SIGKILL');
        await new Promise(() => {});
      });`;
    const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], {
      cwd: REPO_ROOT,
      env: { ...process.env, STORE_URL: new URL('../../src/state/checkpoint-store.ts', import.meta.url).href, CKPT_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => proc.once('exit', (_code, sig) => resolve(sig)));
    assert.equal(signal, 'SIGKILL', `the child died mid-write (stdout ${out}, stderr ${err})`);
    const tmp = /^TMP (.+)$/m.exec(out)?.[1];
    assert.ok(tmp !== undefined, out);
    assert.equal(readFileSync(join(tmp, 'marker'), 'utf8'), 'half-written', 'a half-written checkpoint is on disk (else this test proves nothing)');

    // The restarted process: the half-written checkpoint is never handed to restore.
    const lines: string[] = [];
    const t = Date.now();
    let now = t;
    const restarted = store(dir, { lines, now: () => now });
    assert.deepEqual(await restoreRecording(restarted), { tried: [1], meta: 1, text: 'state-1' });
    assert.ok(!lines.some((l) => l.startsWith('WARNING')));
    // It writes on; a leftover over a minute old is removed by a later write.
    await restarted.write({ n: 3 }, state(3));
    assert.deepEqual(await restoreRecording(restarted), { tried: [3], meta: 3, text: 'state-3' });
    now = t + 3_600_000;
    await restarted.write({ n: 4 }, state(4));
    assert.equal(existsSync(tmp), false, `the crashed writer's leftover ${tmp} is removed`);
    assert.deepEqual(await restoreRecording(restarted), { tried: [4], meta: 4, text: 'state-4' });
  });
});
