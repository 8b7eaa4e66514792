/**
 * Model sync between replicas (issue #13): the pure part. Every instance trains its own
 * replica on the users of its partitions; at an interval each publishes what it changed and
 * blends what the others published, so any instance can answer for any user.
 *
 * What is sent: the embedding rows trained since the sender's previous publish, each with
 * the number of training samples (positives and negatives) that touched it in that time,
 * and, on some publishes, the dense weights with the samples of the optimizer steps behind
 * them (rows often, dense less often, as real-time trainers push sparse rows and dense
 * parameters on separate schedules: Monolith, Liu et al., ORSUM@RecSys 2022, "parameter
 * synchronization").
 *
 * How it is blended: a sample-weighted average, per embedding row and over the dense weights
 * (model averaging weighted by samples: FedAvg, McMahan et al., AISTATS 2017; iterative
 * parameter mixing, McDonald et al., NAACL 2010):
 *
 *     v ← (w_L·v_L + n_R·v_R) / (w_L + n_R),   then w_L ← w_L + n_R
 *
 * where n_R is the sender's sample count and w_L the weight of the local value: the samples
 * the local replica trained the row on in its last published interval and since, plus the
 * remote samples already blended into the row since its last publish. With that weight, a
 * round in which every replica publishes and then blends the others' updates (in any order)
 * gives each row exactly Σ n_i·v_i / Σ n_i over the replicas that trained it, and a row only
 * one replica trained (a user of its partitions) arrives unchanged: w_L = 0 elsewhere. A
 * row the local replica did not train recently is replaced (the sender's value already holds
 * what the local replica published before). Optimizer state (Adagrad, Adam moments) stays
 * local.
 *
 * Delta mode (the alternative, `SyncMode` 'delta'): each replica sends its own change since
 * its previous publish (the current value minus a shadow copy that holds the value as last
 * published plus every remote delta added since) and adds the others' changes, as
 * asynchronous data-parallel SGD does (Downpour SGD, Dean et al., NIPS 2012): every step of
 * every replica is applied once everywhere, whatever the order of publishes. It costs a copy
 * of the parameters. Measured side by side in src/offline/sync-sim.ts.
 *
 * The streaming count features (features.ts: popularity, user affinity) are counts, not
 * weights: they merge exactly by addition (each count is the sum of every replica's own
 * contributions, as a grow-only counter CRDT: Shapiro et al., SSS 2011). So an update also
 * carries the positives the sender counted since its previous publish (user, item and
 * category rows, and how many positives ago each was counted) and the receiver counts them
 * too; without it a replica's popularity features see a third of the stream, and another
 * instance answering for a user knows nothing of that user's history.
 */
import { z } from 'zod';
import type { BatchRows } from '../model/neumf.js';
import { RebalancerError } from '../errors.js';

/** The three embedding tables in the order of an update: users, items, categories. */
export const SYNC_TABLES = ['users', 'items', 'categories'] as const;

/** Rows of one embedding table in an update, ascending. */
export interface RowBlock {
  rows: Int32Array;
  /** Samples behind each row (> 0). */
  counts: Float32Array;
  /** rows.length × width values, row after row. */
  values: Float32Array;
}

/** Positives a replica counted in its stream features: rows, and age in positives at the publish. */
export interface PositiveBlock {
  users: Int32Array;
  items: Int32Array;
  categories: Int32Array;
  ages: Float32Array;
}

/**
 * How replicas combine: 'average' sends parameter values and blends them by sample-weighted
 * averaging; 'delta' sends each replica's own change since its previous publish and adds the
 * others' (see the file comment).
 */
export type SyncMode = 'average' | 'delta';

/** What one replica publishes (without its identity; see model-sync-codec.ts for the envelope). */
export interface ModelChanges {
  /** 'values' (average mode) or 'deltas' (delta mode): what `values` and `dense` hold. */
  kind: 'values' | 'deltas';
  /** Values per embedding row. */
  width: number;
  tables: [RowBlock, RowBlock, RowBlock];
  /** The positives counted in the sender's stream features since its previous publish, oldest first. */
  positives: PositiveBlock;
  /** The dense parameters (the model's `dense` order), or null on a rows-only publish. */
  dense: Float32Array[] | null;
  /** Samples of the sender's optimizer steps since its previous dense publish (0 without dense). */
  denseSamples: number;
}

/** The stream features as the sync sees them (features.ts StreamFeatures). */
export interface SyncFeatures {
  /** Positives counted so far (the features' clock). */
  readonly positives: number;
  mergeRemote(users: Int32Array, items: Int32Array, categories: Int32Array, ages: Float32Array): void;
}

/** A replica's parameters as the blend sees them (a RecModel's arrays, in place). */
export interface SyncParams {
  width: number;
  tables: readonly [Float32Array, Float32Array, Float32Array];
  dense: readonly Float32Array[];
  /** Null when the model has no wide part (positives are then neither sent nor counted). */
  features: SyncFeatures | null;
}

export interface BlendReport {
  /** Average mode: rows taken over as sent (the local replica had not trained them recently). */
  replaced: number;
  /** Average mode: rows averaged with the local value. */
  averaged: number;
  /** Delta mode: rows the sender's deltas were added to. */
  added: number;
  /** True when the dense weights were averaged. */
  dense: boolean;
  /** Positives counted into the stream features. */
  positives: number;
}

const rowBlockSchema: z.ZodType<RowBlock> = z.object({ rows: z.instanceof(Int32Array), counts: z.instanceof(Float32Array), values: z.instanceof(Float32Array) });
const positiveBlockSchema: z.ZodType<PositiveBlock> = z.object({ users: z.instanceof(Int32Array), items: z.instanceof(Int32Array), categories: z.instanceof(Int32Array), ages: z.instanceof(Float32Array) });

/** Shape checks only (lengths, order, counts); `checkAgainst` checks an update against a model. */
export const modelChangesSchema: z.ZodType<ModelChanges> = z
  .object({
    kind: z.enum(['values', 'deltas']),
    width: z.number().int().min(1).max(1 << 16),
    tables: z.tuple([rowBlockSchema, rowBlockSchema, rowBlockSchema]),
    positives: positiveBlockSchema,
    dense: z.array(z.instanceof(Float32Array)).nullable(),
    denseSamples: z.number().min(0),
  })
  .superRefine((c, ctx) => {
    c.tables.forEach((b, t) => {
      const problem = blockProblem(b, c.width);
      if (problem !== null) ctx.addIssue({ code: 'custom', path: ['tables', t], message: `${SYNC_TABLES[t]}: ${problem}` });
    });
    const problem = positivesProblem(c.positives);
    if (problem !== null) ctx.addIssue({ code: 'custom', path: ['positives'], message: problem });
    if (c.dense === null && c.denseSamples !== 0) ctx.addIssue({ code: 'custom', path: ['denseSamples'], message: 'denseSamples without dense weights' });
  });

function positivesProblem(p: PositiveBlock): string | null {
  const n = p.users.length;
  if (p.items.length !== n || p.categories.length !== n || p.ages.length !== n) return 'positives: columns differ in length';
  for (let k = 0; k < n; k++) {
    if (p.users[k]! < 0 || p.items[k]! < 0 || p.categories[k]! < 0) return `positives: negative row at ${k}`;
    if (!(p.ages[k]! >= 0) || !Number.isFinite(p.ages[k]!)) return `positives: age ${p.ages[k]} at ${k} is not a number >= 0`;
  }
  return null;
}

function blockProblem(b: RowBlock, width: number): string | null {
  const n = b.rows.length;
  if (b.counts.length !== n) return `${b.counts.length} counts for ${n} rows`;
  if (b.values.length !== n * width) return `${b.values.length} values for ${n} rows of ${width}`;
  for (let i = 0; i < n; i++) {
    if (b.rows[i]! < 0 || (i > 0 && b.rows[i]! <= b.rows[i - 1]!)) return `row indices must be non-negative and strictly ascending (at ${i})`;
    const c = b.counts[i]!;
    if (!(c > 0) || !Number.isFinite(c)) return `count ${c} of row ${b.rows[i]} is not a positive number`;
  }
  for (let i = 0; i < b.values.length; i++) if (!Number.isFinite(b.values[i]!)) return `value ${i} is not finite`;
  return null;
}

/** Throws REB_MODEL_INVALID unless the changes fit the parameters (width, table sizes, dense shapes). */
export function checkAgainst(params: SyncParams, c: ModelChanges): void {
  const bad = (message: string): never => {
    throw new RebalancerError('REB_MODEL_INVALID', `model update does not fit this model: ${message}`);
  };
  if (c.width !== params.width) bad(`rows of ${c.width} values, this model's have ${params.width}`);
  c.tables.forEach((b, t) => {
    const problem = blockProblem(b, c.width);
    if (problem !== null) bad(`${SYNC_TABLES[t]}: ${problem}`);
    const rows = params.tables[t]!.length / params.width;
    const last = b.rows.length > 0 ? b.rows[b.rows.length - 1]! : -1;
    if (last >= rows) bad(`${SYNC_TABLES[t]} row ${last} is beyond the table's ${rows} rows`);
  });
  const problem = positivesProblem(c.positives);
  if (problem !== null) bad(problem);
  const p = c.positives;
  [p.users, p.items, p.categories].forEach((a, t) => {
    const rows = params.tables[t]!.length / params.width;
    for (let k = 0; k < a.length; k++) if (a[k]! >= rows) bad(`positives: ${SYNC_TABLES[t]} row ${a[k]} is beyond the table's ${rows} rows`);
  });
  if (c.dense !== null) {
    if (c.dense.length !== params.dense.length) bad(`${c.dense.length} dense arrays, this model has ${params.dense.length}`);
    c.dense.forEach((d, i) => {
      if (d.length !== params.dense[i]!.length) bad(`dense array ${i} has ${d.length} values, this model's has ${params.dense[i]!.length}`);
      for (let j = 0; j < d.length; j++) if (!Number.isFinite(d[j]!)) bad(`dense array ${i} value ${j} is not finite`);
    });
    if (!(c.denseSamples >= 0) || !Number.isFinite(c.denseSamples)) bad(`denseSamples ${c.denseSamples}`);
  }
}

/** Positives counted since the last publish: rows and the features' clock when counted. */
class PositiveLog {
  users = new Int32Array(256);
  items = new Int32Array(256);
  categories = new Int32Array(256);
  at = new Float64Array(256);
  length = 0;

  push(user: number, item: number, category: number, at: number): void {
    if (this.length === this.users.length) {
      const grow = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
        const b = make(2 * a.length);
        b.set(a);
        return b;
      };
      this.users = grow(this.users, (n) => new Int32Array(n));
      this.items = grow(this.items, (n) => new Int32Array(n));
      this.categories = grow(this.categories, (n) => new Int32Array(n));
      this.at = grow(this.at, (n) => new Float64Array(n));
    }
    const k = this.length++;
    this.users[k] = user;
    this.items[k] = item;
    this.categories[k] = category;
    this.at[k] = at;
  }

  /** The block to send (ages relative to `now`), and empties the log. */
  take(now: number): PositiveBlock {
    const n = this.length;
    const ages = new Float32Array(n);
    for (let k = 0; k < n; k++) ages[k] = Math.max(0, now - this.at[k]!);
    const out = { users: this.users.slice(0, n), items: this.items.slice(0, n), categories: this.categories.slice(0, n), ages };
    this.length = 0;
    return out;
  }
}

/** A growable list of row indices. */
class RowList {
  items = new Int32Array(64);
  length = 0;

  push(r: number): void {
    if (this.length === this.items.length) {
      const a = new Int32Array(2 * this.length);
      a.set(this.items);
      this.items = a;
    }
    this.items[this.length++] = r;
  }

  /** The rows, ascending (a copy). */
  sorted(): Int32Array {
    return this.items.slice(0, this.length).sort();
  }
}

/** Per-row sample counts of one table (see the file comment for `own` and `weight`). */
class TableCounts {
  /** Samples trained on the row since the last publish. */
  readonly own: Float64Array;
  /** The local value's blend weight. */
  readonly weight: Float64Array;
  ownRows = new RowList();
  weightRows = new RowList();

  constructor(rows: number) {
    this.own = new Float64Array(rows);
    this.weight = new Float64Array(rows);
  }

  train(r: number): void {
    if (this.own[r] === 0) this.ownRows.push(r);
    this.own[r]! += 1;
    this.addWeight(r, 1);
  }

  addWeight(r: number, n: number): void {
    if (this.weight[r] === 0) this.weightRows.push(r);
    this.weight[r]! += n;
  }

  /** The block of rows trained since the last publish; afterwards their weight is what was sent. */
  take(table: Float32Array, width: number): RowBlock {
    const rows = this.ownRows.sorted();
    const n = rows.length;
    const counts = new Float32Array(n);
    const values = new Float32Array(n * width);
    for (let i = 0; i < n; i++) {
      const r = rows[i]!;
      counts[i] = this.own[r]!;
      values.set(table.subarray(r * width, (r + 1) * width), i * width);
    }
    const old = this.weightRows;
    for (let i = 0; i < old.length; i++) this.weight[old.items[i]!] = 0;
    this.weightRows = new RowList();
    for (let i = 0; i < n; i++) {
      const r = rows[i]!;
      this.addWeight(r, this.own[r]!);
      this.own[r] = 0;
    }
    this.ownRows = new RowList();
    return { rows, counts, values };
  }
}

/**
 * The sync state of one replica: which rows its optimizer steps touched since its last
 * publish and how often, and the blend weights. Feed it every step's rows (`record`), take
 * an update to publish (`take`), blend the others' (`blend`).
 */
export class SyncTracker {
  readonly mode: SyncMode;
  private readonly tables: [TableCounts, TableCounts, TableCounts];
  private denseOwn = 0;
  private denseWeight = 0;
  private readonly positiveLog = new PositiveLog();
  /** Delta mode: the parameters as last published plus every remote delta added since. */
  private readonly shadow: { tables: Float32Array[]; dense: Float32Array[] } | null;

  /** `params`: the replica's parameters now (their shapes; in delta mode, the base of the first deltas). */
  constructor(params: SyncParams, mode: SyncMode = 'average') {
    const rows = (t: Float32Array): number => t.length / params.width;
    this.mode = mode;
    this.tables = [new TableCounts(rows(params.tables[0])), new TableCounts(rows(params.tables[1])), new TableCounts(rows(params.tables[2]))];
    this.shadow = mode === 'delta' ? { tables: params.tables.map((t) => t.slice()), dense: params.dense.map((d) => d.slice()) } : null;
  }

  /** Counts one optimizer step's samples (the first `rows.length` entries). */
  record(rows: BatchRows): void {
    const n = rows.length;
    const [u, i, c] = this.tables;
    for (let s = 0; s < n; s++) {
      u.train(rows.users[s]!);
      i.train(rows.items[s]!);
      c.train(rows.categories[s]!);
    }
    this.denseOwn += n;
    this.denseWeight += n;
  }

  /** Logs a fresh positive about to enter the stream features; `at`: the features' clock (positives counted) then. */
  recordPositive(user: number, item: number, category: number, at: number): void {
    this.positiveLog.push(user, item, category, at);
  }

  /** Rows trained since the last publish, samples since the last dense publish, positives since the last publish. */
  get pending(): { rows: number; denseSamples: number; positives: number } {
    return { rows: this.tables.reduce((s, t) => s + t.ownRows.length, 0), denseSamples: this.denseOwn, positives: this.positiveLog.length };
  }

  /** The changes to publish now (copies), with the dense weights when `dense`; resets the counts. */
  take(params: SyncParams, dense: boolean): ModelChanges {
    const w = params.width;
    const tables: [RowBlock, RowBlock, RowBlock] = [
      this.tables[0].take(params.tables[0], w),
      this.tables[1].take(params.tables[1], w),
      this.tables[2].take(params.tables[2], w),
    ];
    const shadow = this.shadow;
    if (shadow !== null) tables.forEach((b, t) => toDeltas(b.values, b.rows, shadow.tables[t]!, w));
    const kind = this.mode === 'delta' ? 'deltas' : 'values';
    const positives = this.positiveLog.take(params.features?.positives ?? 0);
    if (!dense) return { kind, width: w, tables, positives, dense: null, denseSamples: 0 };
    const denseSamples = this.denseOwn;
    this.denseWeight = denseSamples;
    this.denseOwn = 0;
    const denseValues = params.dense.map((d) => d.slice());
    if (shadow !== null) denseValues.forEach((d, i) => toDeltas(d, null, shadow.dense[i]!, d.length));
    return { kind, width: w, tables, positives, dense: denseValues, denseSamples };
  }

  /** Blends another replica's changes into `params` in place (checked first: nothing changes on an error). */
  blend(params: SyncParams, c: ModelChanges): BlendReport {
    checkAgainst(params, c);
    const expected = this.mode === 'delta' ? 'deltas' : 'values';
    if (c.kind !== expected) throw new RebalancerError('REB_MODEL_INVALID', `model update carries ${c.kind}, this replica syncs in ${this.mode} mode (every instance must use the same mode)`);
    const w = params.width;
    const report: BlendReport = { replaced: 0, averaged: 0, added: 0, dense: false, positives: 0 };
    const shadow = this.shadow;
    if (shadow !== null) {
      c.tables.forEach((b, t) => {
        addRows(params.tables[t]!, shadow.tables[t]!, b, w);
        report.added += b.rows.length;
      });
      if (c.dense !== null) {
        c.dense.forEach((d, i) => {
          addRange(params.dense[i]!, 0, d, 0, d.length);
          addRange(shadow.dense[i]!, 0, d, 0, d.length);
        });
        report.dense = true;
      }
      this.mergePositives(params, c, report);
      return report;
    }
    c.tables.forEach((b, t) => {
      const counts = this.tables[t]!;
      const table = params.tables[t]!;
      for (let i = 0; i < b.rows.length; i++) {
        const r = b.rows[i]!;
        const n = b.counts[i]!;
        const local = counts.weight[r]!;
        if (mix(table, r * w, b.values, i * w, w, local, n)) report.averaged++;
        else report.replaced++;
        counts.addWeight(r, n);
      }
    });
    if (c.dense !== null && c.denseSamples > 0) {
      const local = this.denseWeight;
      c.dense.forEach((d, i) => mix(params.dense[i]!, 0, d, 0, d.length, local, c.denseSamples));
      this.denseWeight += c.denseSamples;
      report.dense = true;
    }
    this.mergePositives(params, c, report);
    return report;
  }

  private mergePositives(params: SyncParams, c: ModelChanges, report: BlendReport): void {
    const p = c.positives;
    if (params.features === null || p.users.length === 0) return;
    params.features.mergeRemote(p.users, p.items, p.categories, p.ages);
    report.positives = p.users.length;
  }
}

/** values (rows of `width`, or one range when `rows` is null) ← values − base; base ← the old values. */
function toDeltas(values: Float32Array, rows: Int32Array | null, base: Float32Array, width: number): void {
  const n = rows === null ? 1 : rows.length;
  for (let i = 0; i < n; i++) {
    const o = rows === null ? 0 : rows[i]! * width;
    const vo = i * width;
    for (let d = 0; d < width; d++) {
      const v = values[vo + d]!;
      values[vo + d] = v - base[o + d]!;
      base[o + d] = v;
    }
  }
}

/** Adds a block's row deltas to the table and to the shadow (a remote delta is not this replica's own). */
function addRows(table: Float32Array, shadow: Float32Array, b: RowBlock, width: number): void {
  for (let i = 0; i < b.rows.length; i++) {
    addRange(table, b.rows[i]! * width, b.values, i * width, width);
    addRange(shadow, b.rows[i]! * width, b.values, i * width, width);
  }
}

function addRange(target: Float32Array, to: number, source: Float32Array, from: number, len: number): void {
  for (let d = 0; d < len; d++) target[to + d]! += source[from + d]!;
}

/**
 * target[to, to + len) ← (wL·target + nR·source[from, from + len)) / (wL + nR); a copy
 * when wL = 0. Returns true when it averaged.
 */
function mix(target: Float32Array, to: number, source: Float32Array, from: number, len: number, wL: number, nR: number): boolean {
  if (wL <= 0) {
    target.set(source.subarray(from, from + len), to);
    return false;
  }
  const a = wL / (wL + nR);
  const b = nR / (wL + nR);
  for (let d = 0; d < len; d++) target[to + d] = a * target[to + d]! + b * source[from + d]!;
  return true;
}

/** The parts of a RecModel the sync reads and writes. */
export interface SyncableModel {
  readonly rowWidth: number;
  readonly userTable: Float32Array;
  readonly itemTable: Float32Array;
  readonly categoryTable: Float32Array;
  readonly dense: readonly Float32Array[];
  readonly features: SyncFeatures | null;
  /** Invalidates the model's caches of its parameters (RecModel.denseChanged). */
  denseChanged(): void;
}

/** The trainer hooks the sync follows (IncrementalTrainer has them). */
export interface SyncableTrainer {
  readonly model: SyncableModel;
  observeSteps(listener: ((rows: BatchRows) => void) | null): void;
  observePositives(listener: ((user: number, item: number, category: number) => void) | null): void;
}

/** A tracker fed by the trainer's steps and fresh positives. */
export function trackTrainer(trainer: SyncableTrainer, mode: SyncMode = 'average'): SyncTracker {
  const model = trainer.model;
  const tracker = new SyncTracker(syncParamsOf(model), mode);
  trainer.observeSteps((r) => tracker.record(r));
  const features = model.features;
  if (features !== null) trainer.observePositives((u, i, c) => tracker.recordPositive(u, i, c, features.positives));
  return tracker;
}

/** A model's parameters for the tracker (the arrays themselves: blending writes into the model). */
export function syncParamsOf(model: SyncableModel): SyncParams {
  return { width: model.rowWidth, tables: [model.userTable, model.itemTable, model.categoryTable], dense: model.dense, features: model.features };
}

/** Blends `changes` into the model in place and invalidates its parameter caches. */
export function blendIntoModel(model: SyncableModel, tracker: SyncTracker, changes: ModelChanges): BlendReport {
  const report = tracker.blend(syncParamsOf(model), changes);
  model.denseChanged();
  return report;
}

/** Bytes of the parameter values and counts in the changes (for metrics). */
export function changesSize(c: ModelChanges): { rows: number; values: number; positives: number } {
  let rows = 0;
  let values = 0;
  for (const b of c.tables) {
    rows += b.rows.length;
    values += b.values.length;
  }
  for (const d of c.dense ?? []) values += d.length;
  return { rows, values, positives: c.positives.users.length };
}
