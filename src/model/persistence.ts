/**
 * Model persistence: weights, optimizer state and sampler state in a directory, atomically.
 *
 * Layout of `dir`:
 *   CURRENT              name of the live snapshot (replaced by rename, so it is never torn)
 *   snap-00000007/       one snapshot:
 *     manifest.json      format, version, model config, array layout, SHA-256 and size of each file
 *     weights.bin        model arrays (tables, dense weights, hash-occupancy bitmaps)
 *     optimizer.bin      Adagrad accumulators and Adam moments (when trainer state is saved)
 *     state.json         step, RNG and catalog state (when trainer state is saved)
 *
 * A save writes the next `snap-*` directory with the atomic directory writer
 * (storage/atomic-directory.ts: a `.tmp-*` directory, files fsynced, the manifest last,
 * renamed into place), then points CURRENT at it (write CURRENT.tmp, fsync, rename). A crash
 * at any point leaves CURRENT on the previous complete snapshot. Loading verifies every
 * file's size and checksum and rejects anything else with REB_CHECKPOINT_CORRUPT.
 * `tf.LayersModel.save('file://')` is not used: it writes in place and is not atomic.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { RebalancerError } from '../errors.js';
import { MANIFEST_FILE, replaceFileAtomically, sha256, writeDirectoryAtomically, type DigestedFile } from '../storage/atomic-directory.js';
import { modelConfigSchema, resolveModelConfig, type ModelConfig } from './config.js';
import { RecModel } from './neumf.js';
import type { CatalogState } from './negatives.js';
import type { TrainerState } from './trainer.js';
import { adjustmentStateSchema, rngStateSchema, type AdjustmentState, type RngState } from '../balance/index.js';

/** Format 2 added the wide part (count-feature tables in weights.bin, their clock in the manifest). */
export const MODEL_FORMAT = 'rebalancer-neumf/2';

interface ArrayEntry {
  name: string;
  file: string;
  dtype: 'float32' | 'uint8';
  /** Byte offset in the file. */
  offset: number;
  length: number;
}

interface ArrayPart {
  name: string;
  data: Float32Array | Uint8Array;
}

interface FileEntry {
  bytes: number;
  sha256: string;
}

export interface ModelManifest {
  format: string;
  version: string;
  savedAt: string;
  modelConfig: ModelConfig;
  arrays: ArrayEntry[];
  files: Record<string, FileEntry>;
  hasTrainerState: boolean;
  /** [positives, growth scale] of the count features (absent without a wide part). */
  featureClock?: [number, number];
}

export interface LoadedModel {
  model: RecModel;
  /** Present when the save included trainer state (warm start: pass it to IncrementalTrainer). */
  trainerState: TrainerState | null;
  version: string;
  manifest: ModelManifest;
  /** Directory of the snapshot that was loaded. */
  snapshotDir: string;
}

interface TrainerJson {
  step: number;
  rng: RngState;
  catalog: CatalogState;
  adjustment?: AdjustmentState;
  events?: number;
}

// What is read from disk is parsed, never cast: a file that does not match is REB_CHECKPOINT_CORRUPT.
const count = z.number().int().min(0);
const catalogStateSchema: z.ZodType<CatalogState> = z.object({
  capacity: count,
  ringSize: count,
  uniformShare: z.number().min(0).max(1),
  items: z.array(z.string()),
  categories: z.array(z.string()),
  ringItems: z.array(z.string()),
  ringCategories: z.array(z.string()),
  ringPos: count,
  rng: rngStateSchema,
});
const trainerJsonSchema = z.object({
  step: count,
  rng: rngStateSchema,
  catalog: catalogStateSchema,
  // Checked by adjustmentStateSchema in parseAdjustment (its own message names it).
  adjustment: z.unknown().optional(),
  events: count.optional(),
});
const manifestSchema: z.ZodType<ModelManifest> = z.object({
  format: z.string(),
  version: z.string(),
  savedAt: z.string(),
  modelConfig: modelConfigSchema,
  arrays: z.array(z.object({ name: z.string(), file: z.string(), dtype: z.enum(['float32', 'uint8']), offset: count, length: count })),
  files: z.record(z.string(), z.object({ bytes: count, sha256: z.string() })),
  hasTrainerState: z.boolean(),
  featureClock: z.tuple([z.number(), z.number()]).optional(),
});

/**
 * Saves the model (and optionally the trainer's state, from `trainer.exportState()`) as a
 * new snapshot under `dir`; keeps the `keep` newest snapshots. Returns the snapshot path.
 */
export async function saveModel(model: RecModel, trainerState: TrainerState | null, dir: string, version: string, opts: { keep?: number } = {}): Promise<string> {
  if (typeof version !== 'string' || version.length === 0) throw new RebalancerError('REB_MODEL_INVALID', 'saveModel needs a non-empty version string');
  const keep = opts.keep ?? 2;
  await fs.mkdir(dir, { recursive: true });
  const existing = await listSnapshots(dir);
  const seq = existing.length === 0 ? 1 : existing[existing.length - 1]!.seq + 1;
  const name = `snap-${String(seq).padStart(8, '0')}`;
  const final = path.join(dir, name);
  const arrays: ArrayEntry[] = [];
  await writeDirectoryAtomically(
    final,
    async (stage) => {
      await stage.writeFile('weights.bin', packArrays('weights.bin', weightParts(model), arrays));
      if (trainerState === null) return;
      await stage.writeFile('optimizer.bin', packArrays('optimizer.bin', optimizerParts(trainerState), arrays));
      const json: TrainerJson = { step: trainerState.step, rng: trainerState.rng, catalog: trainerState.catalog, ...(trainerState.adjustment ? { adjustment: trainerState.adjustment } : {}), events: trainerState.events ?? 0 };
      await stage.writeFile('state.json', Buffer.from(JSON.stringify(json)));
    },
    // The manifest is written last: a snapshot without one is torn by definition.
    { manifest: (files) => Buffer.from(JSON.stringify(manifestOf(model, trainerState !== null, version, arrays, files), null, 1)) },
  );
  await replaceFileAtomically(dir, 'CURRENT', Buffer.from(`${name}\n`));
  for (const old of existing.slice(0, Math.max(0, existing.length + 1 - keep))) {
    await fs.rm(path.join(dir, old.name), { recursive: true, force: true });
  }
  return final;
}

function manifestOf(model: RecModel, hasTrainerState: boolean, version: string, arrays: ArrayEntry[], files: readonly DigestedFile[]): ModelManifest {
  return {
    format: MODEL_FORMAT,
    version,
    savedAt: new Date().toISOString(),
    modelConfig: { ...model.config, mlpLayers: [...model.config.mlpLayers] },
    arrays,
    files: Object.fromEntries(files.map((f) => [f.name, { bytes: f.bytes, sha256: f.sha256 }])),
    hasTrainerState,
    ...(model.features === null ? {} : { featureClock: [model.features.tables.clock[0]!, model.features.tables.clock[1]!] as [number, number] }),
  };
}

/** The arrays of weights.bin, in file order. */
function weightParts(model: RecModel): ArrayPart[] {
  return [
    { name: 'userTable', data: model.userTable },
    { name: 'itemTable', data: model.itemTable },
    { name: 'categoryTable', data: model.categoryTable },
    ...model.dense.map((d, i) => ({ name: `dense${i}`, data: d })),
    { name: 'userOccupancy', data: model.users.occupancy() },
    { name: 'itemOccupancy', data: model.items.occupancy() },
    { name: 'categoryOccupancy', data: model.categories.occupancy() },
    ...featureParts(model),
  ];
}

/** The arrays of optimizer.bin, in file order. */
function optimizerParts(state: TrainerState): ArrayPart[] {
  return [
    ...state.embeddingAccumulators.map((a, i) => ({ name: `embeddingAccumulator${i}`, data: a })),
    ...state.denseFirstMoments.map((a, i) => ({ name: `denseFirstMoment${i}`, data: a })),
    ...state.denseSecondMoments.map((a, i) => ({ name: `denseSecondMoment${i}`, data: a })),
  ];
}

/**
 * Loads the snapshot CURRENT points at (or `dir` itself when it is a snapshot). Throws
 * REB_CHECKPOINT_CORRUPT when there is no complete, checksum-valid snapshot.
 */
export async function loadModel(dir: string): Promise<LoadedModel> {
  const snapDir = await snapshotDirOf(dir);
  const manifest = await readManifest(snapDir);
  const contents = await readVerifiedFiles(snapDir, manifest);
  let config: ModelConfig;
  try {
    config = resolveModelConfig(manifest.modelConfig);
  } catch (err) {
    corrupt(snapDir, 'manifest.json has an invalid model config', err);
  }
  const arrays = new SavedArrays(snapDir, manifest, contents);
  const model = new RecModel(config, null);
  arrays.fill('userTable', model.userTable);
  arrays.fill('itemTable', model.itemTable);
  arrays.fill('categoryTable', model.categoryTable);
  model.dense.forEach((d, i) => arrays.fill(`dense${i}`, d));
  if (model.features !== null) {
    for (const part of featureParts(model)) arrays.fill(part.name, part.data);
    const clock = manifest.featureClock;
    if (!Array.isArray(clock) || clock.length !== 2 || !(clock[0] >= 0) || !(clock[1] >= 1)) corrupt(snapDir, 'manifest.json has no valid featureClock for the wide part');
    model.features.tables.clock.set(clock);
  }
  model.users.restoreOccupancy(arrays.occupancy('userOccupancy'));
  model.items.restoreOccupancy(arrays.occupancy('itemOccupancy'));
  model.categories.restoreOccupancy(arrays.occupancy('categoryOccupancy'));
  const trainerState = manifest.hasTrainerState ? restoreTrainerState(snapDir, contents, arrays, model) : null;
  return { model, trainerState, version: manifest.version, manifest, snapshotDir: snapDir };
}

/** The snapshot CURRENT names, or `dir` itself without a CURRENT. */
async function snapshotDirOf(dir: string): Promise<string> {
  const current = await readOptional(path.join(dir, 'CURRENT'));
  if (current === null) return dir;
  const name = current.toString('utf8').trim();
  if (!/^snap-\d{8}$/.test(name)) corrupt(dir, `CURRENT names no snapshot (${JSON.stringify(name)})`);
  return path.join(dir, name);
}

/** The snapshot's manifest, of this format and parsed. */
async function readManifest(snapDir: string): Promise<ModelManifest> {
  const manifestBytes = await readOptional(path.join(snapDir, MANIFEST_FILE));
  if (manifestBytes === null) corrupt(snapDir, 'manifest.json is missing (torn or absent save)');
  const rawManifest = parseJson(manifestBytes, snapDir, 'manifest.json');
  const format = typeof rawManifest === 'object' && rawManifest !== null && 'format' in rawManifest ? rawManifest.format : undefined;
  if (format !== MODEL_FORMAT) corrupt(snapDir, `unknown format ${JSON.stringify(format)} (expected ${MODEL_FORMAT})`);
  return parseWith(manifestSchema, rawManifest, snapDir, 'manifest.json');
}

/** Every file the manifest lists, checked against its size and SHA-256. */
async function readVerifiedFiles(snapDir: string, manifest: ModelManifest): Promise<Map<string, Buffer>> {
  const contents = new Map<string, Buffer>();
  for (const [file, entry] of Object.entries(manifest.files)) {
    const data = await readOptional(path.join(snapDir, file));
    if (data === null) corrupt(snapDir, `${file} is missing`);
    if (data.length !== entry.bytes) corrupt(snapDir, `${file} has ${data.length} bytes, manifest says ${entry.bytes}`);
    if (sha256(data) !== entry.sha256) corrupt(snapDir, `${file} fails its SHA-256 checksum`);
    contents.set(file, data);
  }
  return contents;
}

/** The manifest's arrays, copied out of the verified files. */
class SavedArrays {
  private readonly arrays = new Map<string, Float32Array | Uint8Array>();

  constructor(
    private readonly snapDir: string,
    manifest: ModelManifest,
    contents: ReadonlyMap<string, Buffer>,
  ) {
    for (const a of manifest.arrays) {
      const buf = contents.get(a.file);
      if (buf === undefined) corrupt(snapDir, `array ${a.name} refers to unlisted file ${a.file}`);
      const bytesPer = a.dtype === 'float32' ? 4 : 1;
      if (a.offset < 0 || a.offset + a.length * bytesPer > buf.length) corrupt(snapDir, `array ${a.name} lies outside ${a.file}`);
      const copy = new Uint8Array(buf.subarray(a.offset, a.offset + a.length * bytesPer));
      this.arrays.set(a.name, a.dtype === 'float32' ? new Float32Array(copy.buffer) : copy);
    }
  }

  /** Copies the float32 array `name` into `target` (same length, else REB_CHECKPOINT_CORRUPT). */
  fill(name: string, target: Float32Array): void {
    const src = this.arrays.get(name);
    if (!(src instanceof Float32Array) || src.length !== target.length) corrupt(this.snapDir, `array ${name} is missing or has the wrong size`);
    target.set(src);
  }

  /** A hash-occupancy bitmap (empty when absent). */
  occupancy(name: string): Uint8Array {
    const src = this.arrays.get(name);
    return src instanceof Uint8Array ? src : new Uint8Array(0);
  }
}

/** The trainer state of a save that has one: state.json, and the optimizer moments shaped like the model. */
function restoreTrainerState(snapDir: string, contents: ReadonlyMap<string, Buffer>, arrays: SavedArrays, model: RecModel): TrainerState {
  const stateBytes = contents.get('state.json');
  if (stateBytes === undefined) corrupt(snapDir, 'state.json is not listed in the manifest');
  const json = parseWith(trainerJsonSchema, parseJson(stateBytes, snapDir, 'state.json'), snapDir, 'state.json');
  const f32 = (name: string, like: Float32Array): Float32Array => {
    const a = new Float32Array(like.length);
    arrays.fill(name, a);
    return a;
  };
  return {
    step: json.step,
    rng: json.rng,
    catalog: json.catalog,
    ...(json.adjustment === undefined ? {} : { adjustment: parseAdjustment(json.adjustment, snapDir) }),
    events: json.events ?? 0,
    embeddingAccumulators: [f32('embeddingAccumulator0', model.userTable), f32('embeddingAccumulator1', model.itemTable), f32('embeddingAccumulator2', model.categoryTable)],
    denseFirstMoments: model.dense.map((d, i) => f32(`denseFirstMoment${i}`, d)),
    denseSecondMoments: model.dense.map((d, i) => f32(`denseSecondMoment${i}`, d)),
  };
}

/** The wide part's count tables, by name (none without a wide part). */
function featureParts(model: RecModel): Array<{ name: string; data: Float32Array }> {
  const t = model.features?.tables;
  if (t === undefined) return [];
  return [
    { name: 'featureItemRecent', data: t.itemRecent },
    { name: 'featureItemTotal', data: t.itemTotal },
    { name: 'featureCategoryRecent', data: t.categoryRecent },
    { name: 'featureUserTotal', data: t.userTotal },
    { name: 'featureUserCategory', data: t.userCategory },
    { name: 'featureUserItem', data: t.userItem },
  ];
}

function parseAdjustment(raw: unknown, snapDir: string): AdjustmentState {
  const parsed = adjustmentStateSchema.safeParse(raw);
  return parsed.success ? parsed.data : corrupt(snapDir, `state.json: adjustment state is malformed (${parsed.error.issues[0]?.message ?? 'invalid'})`);
}

function parseJson(bytes: Buffer, snapDir: string, file: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (err) {
    return corrupt(snapDir, `${file} is not valid JSON`, err);
  }
}

function parseWith<T>(schema: z.ZodType<T>, raw: unknown, snapDir: string, file: string): T {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  return corrupt(snapDir, `${file} is malformed at ${issue?.path.map(String).join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
}

function corrupt(where: string, why: string, cause?: unknown): never {
  throw new RebalancerError('REB_CHECKPOINT_CORRUPT', `model checkpoint ${where} rejected: ${why}`, { path: where }, cause === undefined ? undefined : { cause });
}

async function listSnapshots(dir: string): Promise<Array<{ name: string; seq: number }>> {
  const names = await fs.readdir(dir);
  return names
    .filter((n) => /^snap-\d{8}$/.test(n))
    .map((n) => ({ name: n, seq: Number(n.slice(5)) }))
    .sort((a, b) => a.seq - b.seq);
}

/**
 * The chunks of a binary file holding `parts` one after another, recording each array's
 * place in `arrays`; float32 arrays start on 4-byte boundaries (zero padding) so they can be
 * viewed without copying. The chunks are views of the arrays, not copies.
 */
function packArrays(file: string, parts: readonly ArrayPart[], arrays: ArrayEntry[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const p of parts) {
    const pad = p.data instanceof Float32Array ? (4 - (offset % 4)) % 4 : 0;
    if (pad > 0) {
      chunks.push(new Uint8Array(pad));
      offset += pad;
    }
    arrays.push({ name: p.name, file, dtype: p.data instanceof Float32Array ? 'float32' : 'uint8', offset, length: p.data.length });
    chunks.push(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength));
    offset += p.data.byteLength;
  }
  return chunks;
}

async function readOptional(file: string): Promise<Buffer | null> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
