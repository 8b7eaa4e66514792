import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { RebalancerError } from '../errors.js';
import { MANIFEST_FILE, removeStaleTemps, sha256, writeDirectoryAtomically } from '../storage/atomic-directory.js';
import { nodeDurableFs } from '../storage/durable-fs.js';

/**
 * Atomic checkpoints on local disk. A checkpoint is a directory `ckpt-<seq>` holding
 * data files and a `manifest.json` listing every file with its size and SHA-256. It is
 * written by the atomic directory writer (storage/atomic-directory.ts): as
 * `.tmp-ckpt-<seq>-<pid>` (each file fsync'ed, the manifest last), then renamed into
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

const NAME = /^ckpt-(\d{12})$/;

export class CheckpointStore<M> {
  private readonly manifestSchema: z.ZodType<CheckpointManifest<M>>;

  /** Checkpoints a restore skipped (damaged, or not restorable), by directory name. */
  private readonly unusable = new Set<string>();

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
   * temp directory (e.g. the model's own save format). Returns its directory. Each file is
   * hashed and fsynced once: `files` as written; writeExtra's files at commit, except those of
   * a directory sealed by the atomic writer (a model snapshot with its manifest), adopted as
   * they are (storage/atomic-directory.ts).
   */
  async write(meta: M, files: ReadonlyMap<string, Buffer>, writeExtra?: (tmpDir: string) => Promise<void>): Promise<{ seq: number; dir: string }> {
    await mkdir(this.opts.dir, { recursive: true });
    const seq = (await this.latestSeq()) + 1;
    const final = join(this.opts.dir, `ckpt-${String(seq).padStart(12, '0')}`);
    await writeDirectoryAtomically(
      final,
      async (stage) => {
        for (const [file, data] of files) await stage.writeFile(file, data);
        if (writeExtra) await writeExtra(stage.path);
      },
      { manifest: (entries) => Buffer.from(JSON.stringify({ format: 1, seq, createdAt: this.opts.now(), files: entries.map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256 })), meta } satisfies CheckpointManifest<M>)) },
    );
    await this.prune();
    return { seq, dir: final };
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
      await nodeDurableFs.writeDurably(probe, [Buffer.from('probe')]);
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
        this.unusable.add(name);
        failures.push(`${name}: ${(err as Error).message}`);
        this.opts.log(`skipping checkpoint ${dir}: ${(err as Error).message}`);
        continue;
      }
      try {
        return { checkpoint, value: await restore(checkpoint) };
      } catch (err) {
        const why = `verifies but cannot be restored (${(err as Error).message})`;
        this.unusable.add(name);
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
      raw = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8'));
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

  /**
   * Keeps the newest `keep` usable checkpoints and removes the rest, with the ones a restore
   * skipped as damaged (they never count towards `keep`: otherwise, with keep 2, a damaged
   * ckpt-2 and the ckpt-1 restored instead, the next write would prune ckpt-1 and leave only
   * the damaged one behind the newest). Also removes other processes' temp directories older
   * than a minute.
   */
  private async prune(): Promise<void> {
    const usable = (await this.names()).filter((n) => !this.unusable.has(n));
    const kept = new Set(usable.slice(Math.max(0, usable.length - this.opts.keep)));
    for (const name of await this.names()) {
      if (kept.has(name)) continue;
      await rm(join(this.opts.dir, name), { recursive: true, force: true });
      this.unusable.delete(name);
    }
    await removeStaleTemps(this.opts.dir, this.opts.now(), 60_000);
  }
}
