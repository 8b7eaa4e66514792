import { createHash } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { z } from 'zod';
import { RebalancerError } from '../errors.js';

/**
 * Atomic checkpoints on local disk. A checkpoint is a directory `ckpt-<seq>` holding
 * data files and a `manifest.json` listing every file with its size and SHA-256. It is
 * written as `.tmp-<seq>` (each file fsync'ed, the manifest last), then renamed into
 * place and the parent directory fsync'ed. A directory without a manifest, or whose
 * files do not match it, is torn and never loaded: the next older one is used.
 */
export interface CheckpointManifest<M> {
  format: 1;
  seq: number;
  createdAt: number;
  files: Array<{ name: string; bytes: number; sha256: string }>;
  meta: M;
}

export interface LoadedCheckpoint<M> {
  readonly dir: string;
  readonly manifest: CheckpointManifest<M>;
  readFile(name: string): Promise<Buffer>;
}

export interface CheckpointStoreOptions<M> {
  dir: string;
  /** The shape of the manifest's `meta`: a manifest whose meta does not parse is a corrupt checkpoint. */
  meta: z.ZodType<M>;
  keep: number;
  now(): number;
  log(msg: string): void;
}

const MANIFEST = 'manifest.json';
const NAME = /^ckpt-(\d{12})$/;

export class CheckpointStore<M> {
  private readonly manifestSchema: z.ZodType<CheckpointManifest<M>>;

  constructor(private readonly opts: CheckpointStoreOptions<M>) {
    this.manifestSchema = z.object({
      format: z.literal(1),
      seq: z.number().int().min(1),
      createdAt: z.number(),
      files: z.array(z.object({ name: z.string().min(1).refine((n) => !n.startsWith('/') && !n.split(/[\\/]/).includes('..'), 'a file name inside the checkpoint'), bytes: z.number().int().min(0), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
      meta: opts.meta,
    });
  }

  /**
   * Writes one checkpoint: `files` as given, plus whatever `writeExtra` puts into the
   * temp directory (e.g. the model's own save format). Returns its directory.
   */
  async write(meta: M, files: ReadonlyMap<string, Buffer>, writeExtra?: (tmpDir: string) => Promise<void>): Promise<{ seq: number; dir: string }> {
    await mkdir(this.opts.dir, { recursive: true });
    const seq = (await this.latestSeq()) + 1;
    const name = `ckpt-${String(seq).padStart(12, '0')}`;
    const tmp = join(this.opts.dir, `.tmp-${name}-${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    try {
      for (const [file, data] of files) await writeDurably(join(tmp, file), data);
      if (writeExtra) await writeExtra(tmp);
      const entries: CheckpointManifest<M>['files'] = [];
      for (const path of await listFiles(tmp)) {
        const data = await readFile(path);
        // Files written by writeExtra were not necessarily fsync'ed: do it here.
        await fsyncPath(path);
        entries.push({ name: relative(tmp, path), bytes: data.length, sha256: sha256(data) });
      }
      for (const dir of await listDirs(tmp)) await fsyncPath(dir);
      const manifest: CheckpointManifest<M> = { format: 1, seq, createdAt: this.opts.now(), files: entries, meta };
      await writeDurably(join(tmp, MANIFEST), Buffer.from(JSON.stringify(manifest)));
      await fsyncPath(tmp);
      const final = join(this.opts.dir, name);
      await rename(tmp, final);
      await fsyncPath(this.opts.dir);
      await this.prune();
      return { seq, dir: final };
    } catch (err) {
      await rm(tmp, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
  }

  /**
   * Fails fast (REB_CONFIG_INVALID naming --checkpoint-dir) when the directory cannot be
   * created or written: found at start, not at the first checkpoint an interval later
   * (after which nothing would ever be committed).
   */
  async assertWritable(): Promise<void> {
    const probe = join(this.opts.dir, `.tmp-probe-${process.pid}`);
    try {
      await mkdir(this.opts.dir, { recursive: true });
      await writeDurably(probe, Buffer.from('probe'));
      await rm(probe, { force: true });
    } catch (err) {
      throw new RebalancerError('REB_CONFIG_INVALID', `--checkpoint-dir ${this.opts.dir} is not writable (${(err as Error).message}); checkpoints, and with them offset commits, would fail`, { dir: this.opts.dir }, { cause: err });
    }
  }

  /**
   * The newest checkpoint that verifies, or undefined when there is none. When checkpoints
   * exist but none verifies, starting from empty state would silently forget every count:
   * that throws REB_CHECKPOINT_CORRUPT naming each checkpoint and why it failed, unless
   * `allowEmpty` (--allow-empty-restore), which says so in one WARNING line instead.
   */
  async loadLatest(options: { allowEmpty?: boolean } = {}): Promise<LoadedCheckpoint<M> | undefined> {
    return (await this.restoreNewest(async (c) => c, options))?.value;
  }

  /**
   * Restores the newest checkpoint that verifies and that `restore` accepts: a checkpoint
   * whose files match their checksums but whose content `restore` cannot use (it throws) is
   * skipped like a torn one, and the next older is tried. The rules for none left are
   * loadLatest's.
   */
  async restoreNewest<T>(restore: (c: LoadedCheckpoint<M>) => Promise<T>, options: { allowEmpty?: boolean } = {}): Promise<{ checkpoint: LoadedCheckpoint<M>; value: T } | undefined> {
    const names = (await this.names()).reverse();
    const failures: string[] = [];
    for (const name of names) {
      const dir = join(this.opts.dir, name);
      let checkpoint: LoadedCheckpoint<M>;
      try {
        checkpoint = await this.verify(dir);
      } catch (err) {
        failures.push(`${name}: ${(err as Error).message}`);
        this.opts.log(`skipping checkpoint ${dir}: ${(err as Error).message}`);
        continue;
      }
      try {
        return { checkpoint, value: await restore(checkpoint) };
      } catch (err) {
        const why = `verifies but cannot be restored (${(err as Error).message})`;
        failures.push(`${name}: ${why}`);
        this.opts.log(`skipping checkpoint ${dir}: ${why}; trying the next older one`);
      }
    }
    if (names.length === 0) return undefined;
    if (options.allowEmpty !== true) {
      throw new RebalancerError('REB_CHECKPOINT_CORRUPT', `none of the ${names.length} checkpoints in ${this.opts.dir} verifies (${failures.join('; ')}); refusing to start from empty state: fix or remove them, or pass --allow-empty-restore`, { dir: this.opts.dir, failures });
    }
    this.opts.log(`WARNING: none of the ${names.length} checkpoints in ${this.opts.dir} verifies (--allow-empty-restore): starting from EMPTY state (counts, reservoirs, model); consumption resumes from the group's committed offsets (or per --from-beginning when it has none)`);
    return undefined;
  }

  private async verify(dir: string): Promise<LoadedCheckpoint<M>> {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8'));
    } catch (err) {
      throw new RebalancerError('REB_CHECKPOINT_CORRUPT', `no readable manifest (${(err as Error).message})`, { dir });
    }
    const parsed = this.manifestSchema.safeParse(raw);
    if (!parsed.success) throw new RebalancerError('REB_CHECKPOINT_CORRUPT', `manifest has an unknown format (${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')})`, { dir });
    const manifest = parsed.data;
    for (const f of manifest.files) {
      const data = await readFile(join(dir, f.name)).catch(() => undefined);
      if (data === undefined || data.length !== f.bytes || sha256(data) !== f.sha256) {
        throw new RebalancerError('REB_CHECKPOINT_CORRUPT', `file ${f.name} is missing or fails its checksum`, { dir, file: f.name });
      }
    }
    return { dir, manifest, readFile: (name) => readFile(join(dir, name)) };
  }

  private async names(): Promise<string[]> {
    const entries = await readdir(this.opts.dir).catch(() => [] as string[]);
    return entries.filter((n) => NAME.test(n)).sort();
  }

  private async latestSeq(): Promise<number> {
    const names = await this.names();
    const last = names[names.length - 1];
    return last === undefined ? 0 : Number(NAME.exec(last)![1]);
  }

  /** Keeps the newest `keep` checkpoints and removes leftover temp directories of this process. */
  private async prune(): Promise<void> {
    const names = await this.names();
    for (const name of names.slice(0, Math.max(0, names.length - this.opts.keep))) {
      await rm(join(this.opts.dir, name), { recursive: true, force: true });
    }
    for (const name of await readdir(this.opts.dir)) {
      if (name.startsWith('.tmp-') && !name.endsWith(`-${process.pid}`)) {
        const age = this.opts.now() - (await stat(join(this.opts.dir, name))).mtimeMs;
        if (age > 60_000) await rm(join(this.opts.dir, name), { recursive: true, force: true });
      }
    }
  }
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function writeDurably(path: string, data: Buffer): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out.sort();
}

async function listDirs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      const path = join(dir, entry.name);
      out.push(path, ...(await listDirs(path)));
    }
  }
  return out;
}
