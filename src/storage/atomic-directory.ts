/**
 * The one atomic directory writer, for model snapshots (model/persistence.ts) and checkpoints
 * (state/checkpoint-store.ts).
 *
 * A directory is built as `.tmp-<name>-<pid>` next to its target: every file written and
 * fsynced (and hashed as it is written), the manifest last, the temp directory fsynced; then it
 * is renamed to the target and the parent fsynced. Since rename is atomic, a crash at any point
 * leaves the target absent or complete, never partial; the temp directory is removed on
 * failure (after a crash, by `removeStaleTemps`). The target is a fresh name (`snap-<seq>`,
 * `ckpt-<seq>`): a pointer file replaced by `replaceFileAtomically` (CURRENT) or the highest
 * complete name says which one is live. This is the usual write-temp, fsync, rename, fsync-
 * the-directory protocol (Pillai et al., "All File Systems Are Not Created Equal", OSDI 2014).
 *
 * Each file is hashed and fsynced once. Files the writer did not write itself (put into the
 * temp directory by a caller's callback) are read, hashed and fsynced at commit, except in a
 * sealed subdirectory: one that this writer committed earlier (and that was then moved in),
 * recognised by its `manifest.json` listing its files with size and SHA-256. The manifest and
 * the files it lists are durable already and their digests known: they are adopted, checked by
 * size only, not read again (a checkpoint takes in the model's snapshot this way).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { RebalancerError } from '../errors.js';
import { nodeDurableFs, type DurableFs } from './durable-fs.js';

/** A sealed directory's manifest (the name both callers give theirs). */
export const MANIFEST_FILE = 'manifest.json';

export interface FileDigest {
  readonly bytes: number;
  /** Lower-case hex SHA-256 of the contents. */
  readonly sha256: string;
}

/** A file of a written directory: its path relative to the directory (platform separators), size and SHA-256. */
export interface DigestedFile extends FileDigest {
  readonly name: string;
}

/** The temp directory while it is being filled. */
export interface StagingDirectory {
  /** Its path, for callers that put files there themselves (see the module comment). */
  readonly path: string;
  /** Writes the file `name` (relative; parent directories are created) from `chunks`, in order; fsynced, hashed on the way. */
  writeFile(name: string, chunks: Uint8Array | readonly Uint8Array[]): Promise<FileDigest>;
}

export interface AtomicDirectoryOptions {
  /**
   * Renders `manifest.json` from every other file's digest (sorted by name); it is written
   * last, so a directory without one is torn. Absent: the directory has no manifest.
   */
  manifest?: (files: readonly DigestedFile[]) => Uint8Array;
  fs?: DurableFs;
}

/**
 * Writes the directory `target` (which must not exist yet) atomically with what `fill` puts
 * into the staging directory; returns the digests of its files (the manifest excepted).
 */
export async function writeDirectoryAtomically(target: string, fill: (dir: StagingDirectory) => Promise<void>, options: AtomicDirectoryOptions = {}): Promise<DigestedFile[]> {
  const fs = options.fs ?? nodeDurableFs;
  const parent = path.dirname(target);
  const tmp = path.join(parent, `.tmp-${path.basename(target)}-${process.pid}`);
  await fs.mkdir(parent);
  await fs.remove(tmp);
  await fs.mkdir(tmp);
  try {
    const staging = new Staging(fs, tmp);
    await fill(staging);
    const files = await digestTree(fs, tmp, staging.written);
    if (options.manifest !== undefined) {
      if (files.some((f) => f.name === MANIFEST_FILE)) throw new RebalancerError('REB_ARGUMENT_INVALID', `${target}: a file named ${MANIFEST_FILE} would be overwritten by the manifest`, { target });
      await fs.writeDurably(path.join(tmp, MANIFEST_FILE), [options.manifest(files)]);
    }
    await fs.fsync(tmp);
    await fs.rename(tmp, target);
    await fs.fsync(parent);
    return files;
  } catch (err) {
    await fs.remove(tmp).catch(() => {});
    throw err;
  }
}

/** Replaces the file `dir/name` atomically (write `name.tmp-<pid>`, fsync, rename, fsync `dir`): readers see the old or the new contents. */
export async function replaceFileAtomically(dir: string, name: string, data: Uint8Array, fs: DurableFs = nodeDurableFs): Promise<void> {
  const tmp = path.join(dir, `${name}.tmp-${process.pid}`);
  await fs.writeDurably(tmp, [data]);
  await fs.rename(tmp, path.join(dir, name));
  await fs.fsync(dir);
}

/**
 * Removes the temp entries (`.tmp-…-<pid>`) of other processes in `dir` that are older than
 * `olderThanMs`: what a writer left behind when its process died. This process's are in use.
 */
export async function removeStaleTemps(dir: string, nowMs: number, olderThanMs: number, fs: DurableFs = nodeDurableFs): Promise<void> {
  for (const entry of await fs.list(dir)) {
    if (!entry.name.startsWith('.tmp-') || entry.name.endsWith(`-${process.pid}`)) continue;
    const at = path.join(dir, entry.name);
    if (nowMs - (await fs.stat(at)).mtimeMs > olderThanMs) await fs.remove(at);
  }
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

class Staging implements StagingDirectory {
  /** Digests of the files written through `writeFile`, by relative name. */
  readonly written = new Map<string, FileDigest>();

  constructor(
    private readonly fs: DurableFs,
    readonly path: string,
  ) {}

  async writeFile(name: string, chunks: Uint8Array | readonly Uint8Array[]): Promise<FileDigest> {
    const rel = path.normalize(name);
    if (path.isAbsolute(rel) || rel.split(path.sep).includes('..')) throw new RebalancerError('REB_ARGUMENT_INVALID', `file name ${JSON.stringify(name)} is not inside the directory`, { name });
    const parts = chunks instanceof Uint8Array ? [chunks] : chunks;
    const file = path.join(this.path, rel);
    if (path.dirname(rel) !== '.') await this.fs.mkdir(path.dirname(file));
    const hash = createHash('sha256');
    let bytes = 0;
    for (const part of parts) {
      hash.update(part);
      bytes += part.byteLength;
    }
    await this.fs.writeDurably(file, parts);
    const digest = { bytes, sha256: hash.digest('hex') };
    this.written.set(rel, digest);
    return digest;
  }
}

/**
 * Digests of every file under `root`, sorted by relative name: known for files written
 * through the staging directory, adopted from seals, else read, hashed and fsynced here.
 * Every directory that no seal covers is fsynced (its entries become durable).
 */
async function digestTree(fs: DurableFs, root: string, written: ReadonlyMap<string, FileDigest>): Promise<DigestedFile[]> {
  const out: DigestedFile[] = [];
  const sealed = new Map<string, FileDigest>();
  const walk = async (rel: string): Promise<void> => {
    const dir = path.join(root, rel);
    const entries = (await fs.list(dir)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const seal = rel !== '' && entries.some((e) => e.kind === 'file' && e.name === MANIFEST_FILE) ? await readSeal(fs, dir) : null;
    if (seal !== null) {
      for (const [name, digest] of seal.files) sealed.set(path.join(rel, name), digest);
      out.push({ name: path.join(rel, MANIFEST_FILE), ...seal.digest });
    }
    for (const entry of entries) {
      const name = path.join(rel, entry.name);
      if (entry.kind === 'directory') await walk(name);
      else if (entry.kind === 'file' && !(seal !== null && entry.name === MANIFEST_FILE)) out.push({ name, ...(await digestOf(fs, root, name, written, sealed)) });
    }
    if (seal === null && rel !== '') await fs.fsync(dir);
  };
  await walk('');
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function digestOf(fs: DurableFs, root: string, name: string, written: ReadonlyMap<string, FileDigest>, sealed: ReadonlyMap<string, FileDigest>): Promise<FileDigest> {
  const known = written.get(name);
  if (known !== undefined) return known;
  const file = path.join(root, name);
  const adopted = sealed.get(name);
  if (adopted !== undefined) {
    const { bytes } = await fs.stat(file);
    if (bytes !== adopted.bytes) throw new RebalancerError('REB_CHECKPOINT_CORRUPT', `${file} has ${bytes} bytes, but the manifest it was sealed with says ${adopted.bytes}`, { path: file });
    return adopted;
  }
  const data = await fs.readFile(file);
  await fs.fsync(file);
  return { bytes: data.length, sha256: sha256(data) };
}

/** The seal of `dir`: its manifest's own digest and the files it lists; null when the manifest lists none in either known form. */
async function readSeal(fs: DurableFs, dir: string): Promise<{ digest: FileDigest; files: Map<string, FileDigest> } | null> {
  const bytes = await fs.readFile(path.join(dir, MANIFEST_FILE));
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    return null;
  }
  const files = isObject(raw) ? sealedFiles(raw.files) : null;
  return files === null ? null : { digest: { bytes: bytes.length, sha256: sha256(bytes) }, files };
}

/** A manifest's `files`: `{ name: { bytes, sha256 } }` (model snapshots) or `[{ name, bytes, sha256 }]` (checkpoints). */
function sealedFiles(files: unknown): Map<string, FileDigest> | null {
  const entries = Array.isArray(files) ? files.map((f) => [isObject(f) ? f.name : undefined, f] as const) : isObject(files) ? Object.entries(files) : null;
  if (entries === null) return null;
  const out = new Map<string, FileDigest>();
  for (const [name, entry] of entries) {
    if (typeof name !== 'string' || !isObject(entry)) return null;
    const { bytes, sha256: hex } = entry;
    const rel = path.normalize(name);
    const inside = !path.isAbsolute(rel) && !rel.split(path.sep).includes('..') && rel !== MANIFEST_FILE;
    if (!inside || typeof bytes !== 'number' || !Number.isInteger(bytes) || bytes < 0 || typeof hex !== 'string' || !/^[0-9a-f]{64}$/.test(hex)) return null;
    out.set(rel, { bytes, sha256: hex });
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
