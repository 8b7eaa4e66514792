/**
 * The atomic directory writer (src/storage/atomic-directory.ts) through a recording file
 * system: what it leaves on disk when it crashes between any two calls (the target absent or
 * complete, the pointer on a complete directory), the order of its fsyncs, temp directories
 * cleaned, and each file hashed and fsynced once, a sealed subdirectory adopted unread.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { isRebalancerError } from '../../src/errors.js';
import { MANIFEST_FILE, removeStaleTemps, replaceFileAtomically, writeDirectoryAtomically, type DigestedFile } from '../../src/storage/atomic-directory.js';
import { nodeDurableFs, type DurableFs } from '../../src/storage/durable-fs.js';

class Crash extends Error {}

interface Op {
  op: 'mkdir' | 'remove' | 'rename' | 'list' | 'readFile' | 'stat' | 'writeDurably' | 'fsync';
  path: string;
  to?: string;
}

/**
 * node:fs with every call recorded; from call `crashAt` on every call throws (the process is
 * dead: no clean-up runs). A write the crash interrupts leaves half its bytes, unsynced.
 */
class RecordingFs implements DurableFs {
  readonly ops: Op[] = [];
  private calls = 0;

  constructor(private readonly crashAt = Infinity) {}

  private enter(op: Op): boolean {
    if (this.calls++ >= this.crashAt) return false;
    this.ops.push(op);
    return true;
  }

  private async call<T>(op: Op, run: () => Promise<T>): Promise<T> {
    if (!this.enter(op)) throw new Crash(`crashed before ${op.op} ${op.path}`);
    return run();
  }

  mkdir = (dir: string) => this.call({ op: 'mkdir', path: dir }, () => nodeDurableFs.mkdir(dir));
  remove = (p: string) => this.call({ op: 'remove', path: p }, () => nodeDurableFs.remove(p));
  rename = (from: string, to: string) => this.call({ op: 'rename', path: from, to }, () => nodeDurableFs.rename(from, to));
  list = (dir: string) => this.call({ op: 'list', path: dir }, () => nodeDurableFs.list(dir));
  readFile = (file: string) => this.call({ op: 'readFile', path: file }, () => nodeDurableFs.readFile(file));
  stat = (p: string) => this.call({ op: 'stat', path: p }, () => nodeDurableFs.stat(p));
  fsync = (p: string) => this.call({ op: 'fsync', path: p }, () => nodeDurableFs.fsync(p));
  writeDurably = async (file: string, chunks: readonly Uint8Array[]): Promise<void> => {
    if (!this.enter({ op: 'writeDurably', path: file })) {
      const all = Buffer.concat(chunks);
      writeFileSync(file, all.subarray(0, all.length >> 1));
      throw new Crash(`crashed in the middle of writing ${file}`);
    }
    await nodeDurableFs.writeDurably(file, chunks);
  };

  count(op: Op['op'], path: string): number {
    return this.ops.filter((o) => o.op === op && o.path === path).length;
  }

  index(op: Op['op'], path: string): number {
    return this.ops.findIndex((o) => o.op === op && o.path === path);
  }
}

const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');
const listManifest = (files: readonly DigestedFile[]): Uint8Array => Buffer.from(JSON.stringify({ files: files.map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256 })) }));

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/** A complete directory: its manifest lists every other file on disk, each with its true size and SHA-256. */
function assertComplete(dir: string, what: string): Map<string, string> {
  const manifest = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as { files: Array<{ name: string; bytes: number; sha256: string }> };
  const listed = new Map(manifest.files.map((f) => [f.name, f.sha256]));
  assert.deepEqual([...listed.keys()].sort(), filesUnder(dir).filter((f) => f !== MANIFEST_FILE), `${what}: the manifest lists exactly the files on disk`);
  for (const f of manifest.files) {
    const data = readFileSync(join(dir, f.name));
    assert.equal(data.length, f.bytes, `${what}: ${f.name} size`);
    assert.equal(sha(data), f.sha256, `${what}: ${f.name} checksum`);
  }
  return listed;
}

function temps(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.includes('.tmp-'));
}

/** Version `v` of a directory: files through the staging directory (one nested) and one its caller writes itself. */
function contents(v: number): (stage: { path: string; writeFile(name: string, chunks: Uint8Array | readonly Uint8Array[]): Promise<unknown> }) => Promise<void> {
  return async (stage) => {
    await stage.writeFile('state.bin', [Buffer.from(`state ${v} `), Buffer.alloc(5_000 * v, v)]);
    await stage.writeFile(join('model', 'weights.bin'), Buffer.alloc(3_000 + v, 7 * v));
    writeFileSync(join(stage.path, 'extra.json'), JSON.stringify({ v }));
  };
}

/** Writes directory `name` under `parent` and points `parent/CURRENT` at it, as a model save does. */
async function publish(parent: string, name: string, v: number, fs: DurableFs): Promise<void> {
  await writeDirectoryAtomically(join(parent, name), contents(v), { manifest: listManifest, fs });
  await replaceFileAtomically(parent, 'CURRENT', Buffer.from(name), fs);
}

describe('atomic directory writer', () => {
  it('writes each file once, hashed as written: the manifest lists every file with its size and SHA-256, and no temp directory is left', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'rebalancer-atomic-'));
    const fs = new RecordingFs();
    const target = join(parent, 'snap-1');
    const files = await writeDirectoryAtomically(target, contents(1), { manifest: listManifest, fs });
    assert.deepEqual(files.map((f) => f.name), ['extra.json', join('model', 'weights.bin'), 'state.bin'], 'sorted by name, the manifest excepted');
    assertComplete(target, 'written');
    assert.deepEqual(temps(parent), []);
    const tmp = join(parent, `.tmp-snap-1-${process.pid}`);
    for (const name of ['state.bin', join('model', 'weights.bin')]) {
      assert.equal(fs.count('writeDurably', join(tmp, name)), 1, `${name} written durably once`);
      assert.equal(fs.count('fsync', join(tmp, name)) + fs.count('readFile', join(tmp, name)), 0, `${name} neither fsynced again nor read back to be hashed`);
    }
    // The file the caller wrote itself is read (hashed) and fsynced once, at commit.
    assert.equal(fs.count('readFile', join(tmp, 'extra.json')), 1);
    assert.equal(fs.count('fsync', join(tmp, 'extra.json')), 1);
  });

  it('orders its fsyncs: every file and subdirectory before the manifest, the manifest and the temp directory before the rename, the parent after it', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'rebalancer-atomic-'));
    const fs = new RecordingFs();
    await publish(parent, 'snap-1', 1, fs);
    const tmp = join(parent, `.tmp-snap-1-${process.pid}`);
    const durable = (p: string): number => Math.max(fs.index('writeDurably', p), fs.index('fsync', p));
    const manifest = fs.index('writeDurably', join(tmp, MANIFEST_FILE));
    const rename = fs.ops.findIndex((o) => o.op === 'rename' && o.path === tmp && o.to === join(parent, 'snap-1'));
    for (const p of [join(tmp, 'state.bin'), join(tmp, 'model', 'weights.bin'), join(tmp, 'extra.json'), join(tmp, 'model')]) {
      const at = durable(p);
      assert.ok(at >= 0 && at < manifest, `${relative(tmp, p)} is durable (${at}) before the manifest is written (${manifest})`);
    }
    assert.ok(manifest < fs.index('fsync', tmp) && fs.index('fsync', tmp) < rename, 'manifest, then the temp directory fsynced, then the rename');
    const parentSyncs = fs.ops.map((o, i) => (o.op === 'fsync' && o.path === parent ? i : -1)).filter((i) => i >= 0);
    assert.ok(parentSyncs[0]! > rename, 'the parent is fsynced after the rename');
    // The pointer: its temp file durable, renamed over CURRENT, the parent fsynced once more.
    const pointerTmp = join(parent, `CURRENT.tmp-${process.pid}`);
    const pointerRename = fs.ops.findIndex((o) => o.op === 'rename' && o.path === pointerTmp);
    assert.ok(parentSyncs[0]! < fs.index('writeDurably', pointerTmp) && fs.index('writeDurably', pointerTmp) < pointerRename && pointerRename < parentSyncs[1]!, 'the pointer moves only once the directory it names is durable');
  });

  it('a crash between any two file-system calls leaves the new directory absent or complete, the old one intact, and the pointer on a complete one', async () => {
    // How many calls a whole save makes, to crash before each of them in turn (and once after all).
    const probe = new RecordingFs();
    await publish(mkdtempSync(join(tmpdir(), 'rebalancer-atomic-')), 'snap-2', 2, probe);
    const calls = probe.ops.length;
    assert.ok(calls >= 15, `a save makes ${calls} calls`);
    const outcomes = new Set<string>();
    for (let crashAt = 0; crashAt <= calls; crashAt++) {
      const parent = mkdtempSync(join(tmpdir(), 'rebalancer-atomic-crash-'));
      await publish(parent, 'snap-1', 1, nodeDurableFs);
      const old = assertComplete(join(parent, 'snap-1'), 'old');
      const crashed = await publish(parent, 'snap-2', 2, new RecordingFs(crashAt)).then(
        () => false,
        (err: unknown) => {
          assert.ok(err instanceof Crash, String(err));
          return true;
        },
      );
      assert.equal(crashed, crashAt < calls);
      const target = join(parent, 'snap-2');
      if (existsSync(target)) assertComplete(target, `new, crash at call ${crashAt}`);
      assert.deepEqual(assertComplete(join(parent, 'snap-1'), `old, crash at call ${crashAt}`), old, 'the old directory is untouched');
      const current = readFileSync(join(parent, 'CURRENT'), 'utf8');
      assert.ok(current === 'snap-1' || current === 'snap-2', current);
      assertComplete(join(parent, current), `the one CURRENT names, crash at call ${crashAt}`);
      outcomes.add(`${existsSync(target) ? 'new' : 'no new'} directory, CURRENT on ${current}`);
      // After the restart: the save is done again (under the next name when the last one got through), and no temp is left.
      await publish(parent, existsSync(target) ? 'snap-3' : 'snap-2', 3, nodeDurableFs);
      assert.deepEqual(temps(parent), [], `crash at call ${crashAt}: temps left after the next save`);
    }
    assert.deepEqual([...outcomes].sort(), ['new directory, CURRENT on snap-1', 'new directory, CURRENT on snap-2', 'no new directory, CURRENT on snap-1'], 'every stage of the save was crashed in');
  });

  it('a failing fill rejects with its error and leaves neither the target nor a temp directory', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'rebalancer-atomic-'));
    const boom = new Error('disk full, say');
    const write = writeDirectoryAtomically(join(parent, 'snap-1'), async (stage) => {
      await stage.writeFile('a.bin', Buffer.alloc(100));
      throw boom;
    });
    await assert.rejects(write, (err) => err === boom);
    assert.deepEqual(readdirSync(parent), []);
  });

  it('refuses a file name outside the directory and a file that the manifest would overwrite (REB_ARGUMENT_INVALID)', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'rebalancer-atomic-'));
    const invalid = (err: unknown): boolean => isRebalancerError(err, 'REB_ARGUMENT_INVALID');
    await assert.rejects(writeDirectoryAtomically(join(parent, 'a'), (s) => s.writeFile(join('..', 'escaped.bin'), Buffer.alloc(1)).then(() => {})), invalid);
    await assert.rejects(writeDirectoryAtomically(join(parent, 'b'), (s) => s.writeFile(MANIFEST_FILE, Buffer.alloc(1)).then(() => {}), { manifest: listManifest }), invalid);
    assert.deepEqual(readdirSync(parent), []);
    assert.equal(existsSync(join(tmpdir(), 'escaped.bin')) && statSync(join(tmpdir(), 'escaped.bin')).size === 1, false);
  });

  it('removes temp directories of dead processes once they are old, never this process\'s or a young one', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'rebalancer-atomic-'));
    const names = ['.tmp-ckpt-1-4000001', '.tmp-ckpt-2-4000002', `.tmp-ckpt-3-${process.pid}`, 'ckpt-000000000001'];
    for (const n of names) mkdirSync(join(parent, n));
    const now = Date.now();
    const old = new Date(now - 120_000);
    for (const n of [names[0]!, names[2]!, names[3]!]) utimesSync(join(parent, n), old, old);
    await removeStaleTemps(parent, now, 60_000);
    assert.deepEqual(readdirSync(parent).sort(), names.slice(1).sort());
  });

  for (const form of ['record', 'list'] as const) {
    it(`adopts a subdirectory sealed by an earlier write (manifest ${form}): its files are fsynced and hashed once over both writes, not read again`, async () => {
      const parent = mkdtempSync(join(tmpdir(), 'rebalancer-atomic-'));
      const fs = new RecordingFs();
      // The model's save into a stage of its own, as the service does, then moved into the checkpoint.
      const stage = join(parent, `.tmp-model-1-${process.pid}`);
      const weights = Buffer.alloc(200_000, 3);
      const renderSeal = (files: readonly DigestedFile[]): Uint8Array =>
        form === 'list' ? listManifest(files) : Buffer.from(JSON.stringify({ format: 'x', files: Object.fromEntries(files.map((f) => [f.name, { bytes: f.bytes, sha256: f.sha256 }])) }));
      await writeDirectoryAtomically(join(stage, 'snap-1'), async (s) => {
        await s.writeFile('weights.bin', weights);
        await s.writeFile('optimizer.bin', Buffer.alloc(1_000, 9));
      }, { manifest: renderSeal, fs });
      await replaceFileAtomically(stage, 'CURRENT', Buffer.from('snap-1\n'), fs);
      const target = join(parent, 'ckpt-1');
      const tmp = join(parent, `.tmp-ckpt-1-${process.pid}`);
      await writeDirectoryAtomically(target, async (s) => {
        await s.writeFile('state.bin', Buffer.from('state'));
        renameSync(stage, join(s.path, 'model'));
      }, { manifest: listManifest, fs });
      const listed = assertComplete(target, 'checkpoint');
      assert.equal(listed.get(join('model', 'snap-1', 'weights.bin')), sha(weights));
      for (const name of ['weights.bin', 'optimizer.bin', MANIFEST_FILE]) {
        const inStage = join(stage, '.tmp-snap-1-' + process.pid, name);
        const inCheckpoint = join(tmp, 'model', 'snap-1', name);
        assert.equal(fs.count('writeDurably', inStage), 1, `${name}: written durably once`);
        assert.equal(fs.count('fsync', inCheckpoint) + fs.count('writeDurably', inCheckpoint), 0, `${name}: not fsynced again by the checkpoint`);
      }
      assert.equal(fs.count('readFile', join(tmp, 'model', 'snap-1', 'weights.bin')) + fs.count('readFile', join(tmp, 'model', 'snap-1', 'optimizer.bin')), 0, 'the sealed data files are not read back');
      assert.equal(fs.count('readFile', join(tmp, 'model', 'snap-1', MANIFEST_FILE)), 1, 'the seal is read once');
      // The pointer next to the snapshot is no one's seal: hashed and fsynced at commit like any file put there.
      assert.equal(fs.count('readFile', join(tmp, 'model', 'CURRENT')), 1);
    });
  }

  it('fails the write (REB_CHECKPOINT_CORRUPT) when a sealed file no longer has the size its seal says, leaving no target', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'rebalancer-atomic-'));
    const stage = join(parent, 'stage');
    await writeDirectoryAtomically(join(stage, 'snap-1'), (s) => s.writeFile('weights.bin', Buffer.alloc(4_096, 1)).then(() => {}), { manifest: listManifest });
    truncateSync(join(stage, 'snap-1', 'weights.bin'), 1_000);
    const write = writeDirectoryAtomically(join(parent, 'ckpt-1'), async (s) => renameSync(stage, join(s.path, 'model')), { manifest: listManifest });
    await assert.rejects(write, (err: unknown) => isRebalancerError(err, 'REB_CHECKPOINT_CORRUPT') && /weights\.bin has 1000 bytes/.test(String(err)));
    assert.deepEqual(readdirSync(parent), []);
  });

  it('a manifest that is no seal (a name outside its directory, or no file list) makes nothing trusted: its directory is read and hashed', async () => {
    for (const seal of [{ files: [{ name: join('..', 'state.bin'), bytes: 5, sha256: 'a'.repeat(64) }] }, { files: 'none' }, ['not', 'an', 'object']]) {
      const parent = mkdtempSync(join(tmpdir(), 'rebalancer-atomic-'));
      const files = await writeDirectoryAtomically(join(parent, 'ckpt-1'), async (s) => {
        // Put there by the caller, so only a seal or its own bytes can give its digest.
        writeFileSync(join(s.path, 'state.bin'), '12345');
        mkdirSync(join(s.path, 'model'));
        writeFileSync(join(s.path, 'model', MANIFEST_FILE), JSON.stringify(seal));
        writeFileSync(join(s.path, 'model', 'weights.bin'), 'weights');
      }, { manifest: listManifest });
      assertComplete(join(parent, 'ckpt-1'), JSON.stringify(seal));
      assert.equal(files.find((f) => f.name === 'state.bin')?.sha256, sha(Buffer.from('12345')), 'a seal cannot reach out of its directory');
    }
  });
});
