/**
 * Published parameter snapshots and a pure-JS scorer over them (issue #12).
 *
 * The trainer (tfjs-node, in a worker thread) publishes copies of the model's parameters;
 * the main thread serves `/recommendations` from the latest one without TensorFlow: this
 * module imports nothing of tfjs (only types of the model), so loading it allocates no
 * native backend and scoring never waits on a training step.
 *
 * The forward pass is RecModel's (neumf.ts `gather` + `forwardLogits`, He et al., "Neural
 * Collaborative Filtering", WWW 2017, with the wide part of Cheng et al., DLRS 2016):
 *   s = Woutᵀ[u_g ⊙ (i_g + c_g); h_L] + b_out + Wwideᵀ·wide(u, i, c),
 *   h_1 = relu(W1ᵀ[u_m; i_m; c_m] + b1),  h_l = relu(W_lᵀh_{l-1} + b_l).
 * Serving work is split as in candidate-scorer.ts: W1ᵀ[u; i; c] = W_uᵀu + [W_i; W_c]ᵀ[i; c],
 * so per (snapshot, candidate array) the item-side pre-activation P_i = [W_i; W_c]ᵀ[i_m; c_m]
 * and the GMF vectors v_i = i_g + c_g are computed once; per request the user enters as
 * one vector a = W_uᵀu_m + b1 and one q = u_g ⊙ w_g (Woutᵀ's GMF rows), and each candidate
 * costs relu(P_i + a), the later layers (skipping the zeros relu leaves), h_L·w_h + v_i·q
 * and the wide features. Sums run in Float64.
 */
import { z } from 'zod';
import { RebalancerError } from '../errors.js';
import { CandidateSetCache, emptyEntries, entriesOf, refreshEntries, setEntry, type CandidateEntries, type CandidateIds } from './candidate-sets.js';
import { modelConfigSchema, type ModelConfig } from './config.js';
import { CATEGORY_LOG_COUNT, StreamFeatures, WIDE_FEATURES, featureTableLengths, type FeatureTables } from './features.js';
import { wasmTower } from './kernels-wasm.js';
import { doubles, doublesFrom, JsTower, linear, type TowerKernel, type TowerWeights } from './kernels.js';
import { denseShapes, idSpaces, rowWidth, sizeOf, type IdSpaces } from './layout.js';
import type { RecModel } from './neumf.js';
import { selectTopK, type Candidate, type Recommendation } from './recommender.js';

export interface ModelSnapshot {
  /** Publish sequence number, monotone per publisher. */
  readonly seq: number;
  /** Trainer steps the parameters include. */
  readonly steps: number;
  /** Serving-time logit adjustment τ in use when the snapshot was taken (RecModel.servingTau). */
  readonly servingTau: number;
  readonly config: ModelConfig;
  readonly userTable: Float32Array;
  readonly itemTable: Float32Array;
  readonly categoryTable: Float32Array;
  /** [W1, b1, …, WL, bL, Wout, bout] (+ [Wwide] with the wide part), shapes from `denseShapes(config)`. */
  readonly dense: Float32Array[];
  /** The wide part's count tables (null without a wide part). */
  readonly features: FeatureTables | null;
}

/** Copies the model's parameters (the model may keep training; the snapshot never changes). */
export function takeSnapshot(model: RecModel, meta: { seq: number; steps: number }): ModelSnapshot {
  for (const key of ['seq', 'steps'] as const) {
    const v = meta[key];
    if (!Number.isSafeInteger(v) || v < 0) throw new RebalancerError('REB_MODEL_INVALID', `snapshot ${key} must be an integer >= 0, got ${v}`, { [key]: v });
  }
  const mlpLayers = [...model.config.mlpLayers];
  Object.freeze(mlpLayers);
  const t = model.features?.tables;
  const features: FeatureTables | null =
    t === undefined
      ? null
      : {
          itemRecent: t.itemRecent.slice(),
          itemTotal: t.itemTotal.slice(),
          categoryRecent: t.categoryRecent.slice(),
          userTotal: t.userTotal.slice(),
          userCategory: t.userCategory.slice(),
          userItem: t.userItem.slice(),
          clock: t.clock.slice(),
        };
  const dense = model.dense.map((d) => d.slice());
  Object.freeze(dense);
  return Object.freeze({
    seq: meta.seq,
    steps: meta.steps,
    servingTau: model.servingTau,
    config: Object.freeze({ ...model.config, mlpLayers }),
    userTable: model.userTable.slice(),
    itemTable: model.itemTable.slice(),
    categoryTable: model.categoryTable.slice(),
    dense,
    features: features === null ? null : Object.freeze(features),
  });
}

/** The ArrayBuffers of a snapshot, for postMessage's transfer list (each buffer once). */
export function snapshotTransferList(s: ModelSnapshot): ArrayBuffer[] {
  const views: ArrayBufferView[] = [s.userTable, s.itemTable, s.categoryTable, ...s.dense];
  const f = s.features;
  if (f !== null) views.push(f.itemRecent, f.itemTotal, f.categoryRecent, f.userTotal, f.userCategory, f.userItem, f.clock);
  const buffers = new Set<ArrayBuffer>();
  // A SharedArrayBuffer is shared, not transferred: it stays out of the list.
  for (const v of views) if (v.buffer instanceof ArrayBuffer) buffers.add(v.buffer);
  return [...buffers];
}

interface LayoutProblem {
  path: (string | number)[];
  message: string;
}

/** Where a snapshot's arrays disagree with its config (empty when consistent). O(arrays), reads no values but the clock. */
function layoutProblems(s: ModelSnapshot): LayoutProblem[] {
  const c = s.config;
  const problems: LayoutProblem[] = [];
  const expect = (path: (string | number)[], actual: number, expected: number, what: string): void => {
    if (actual !== expected) problems.push({ path, message: `${path.join('.')} has ${actual} values, expected ${expected} (${what})` });
  };
  const w = rowWidth(c);
  expect(['userTable'], s.userTable.length, c.userRows * w, 'userRows · (gmfDim + mlpDim)');
  expect(['itemTable'], s.itemTable.length, c.itemRows * w, 'itemRows · (gmfDim + mlpDim)');
  expect(['categoryTable'], s.categoryTable.length, c.categoryRows * w, 'categoryRows · (gmfDim + mlpDim)');
  const shapes = denseShapes(c);
  if (s.dense.length !== shapes.length) {
    problems.push({ path: ['dense'], message: `dense has ${s.dense.length} arrays, expected ${shapes.length} for mlpLayers ${JSON.stringify(c.mlpLayers)} and wideFeatures ${c.wideFeatures}` });
  } else {
    shapes.forEach((shape, i) => expect(['dense', i], s.dense[i]!.length, sizeOf(shape), `shape [${shape.join(', ')}]`));
  }
  const f = s.features;
  if (c.wideFeatures !== (f !== null)) {
    problems.push({ path: ['features'], message: c.wideFeatures ? 'features is null but config.wideFeatures is true' : 'features is present but config.wideFeatures is false' });
  } else if (f !== null) {
    const lengths = featureTableLengths(c);
    for (const key of Object.keys(lengths) as (keyof typeof lengths)[]) expect(['features', key], f[key].length, lengths[key], 'from the table sizes in config');
    expect(['features', 'clock'], f.clock.length, 2, '[positives, growth scale]');
    if (f.clock.length === 2 && !(f.clock[0]! >= 0 && Number.isFinite(f.clock[0]) && f.clock[1]! >= 1 && Number.isFinite(f.clock[1]))) {
      problems.push({ path: ['features', 'clock'], message: `features.clock must be [positives >= 0, growth scale >= 1], got [${f.clock[0]}, ${f.clock[1]}]` });
    }
  }
  return problems;
}

const float32 = z.instanceof(Float32Array);


const featureTablesSchema: z.ZodType<FeatureTables> = z.object({
  itemRecent: float32,
  itemTotal: float32,
  categoryRecent: float32,
  userTotal: float32,
  userCategory: float32,
  userItem: float32,
  clock: z.instanceof(Float64Array),
});

/** zod schema validating a snapshot received by message (typed arrays, sizes consistent with config). */
export const modelSnapshotSchema: z.ZodType<ModelSnapshot> = z
  .object({
    seq: z.number().int().min(0),
    steps: z.number().int().min(0),
    servingTau: z.number().min(0),
    config: modelConfigSchema,
    userTable: float32,
    itemTable: float32,
    categoryTable: float32,
    dense: z.array(float32),
    features: featureTablesSchema.nullable(),
  })
  .superRefine((s, ctx) => {
    for (const p of layoutProblems(s)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
  });

/**
 * Whether a model has no history of a user (a cold start): true when the wide part's count
 * table holds no positive (click, add-to-cart, purchase) for the user's hashed row, so the
 * user's embedding rows have never trained and their personal features are zero: the
 * ranking is the item side's alone. Views do not count (the model does not train on them).
 * Users share hashed rows, so an unknown user in a row another user trained is not flagged
 * (probability about the occupied share of --model-user-rows). null when the model has no
 * wide part (--wide-features false): it keeps no per-user count to tell.
 */
export function isColdStart(features: StreamFeatures | null, userRow: number): boolean | null {
  return features === null ? null : !(features.tables.userTotal[userRow]! > 0);
}

/** Candidate sets kept per scorer (each holds n·(h1 + gmfDim) doubles). */
const MAX_CACHED_SETS = 4;
/** Category-side first-layer products kept per scorer (h1 doubles each); the cache starts over beyond this. */
const MAX_CACHED_CATEGORIES = 4096;

interface CandidateSet extends CandidateEntries {
  /**
   * [n, h1]: [W_i; W_c]ᵀ[i_m; c_m] (no bias: the bias rides with the user part), and
   * [n, gmfDim]: i_g + c_g, rounded to float32 as `RecModel.gather` does. Typed arrays, unlike
   * the kernels' operands (see kernels.ts): made on every new candidate array, where a
   * plain array of this size costs milliseconds to build; read once per candidate per request.
   */
  readonly pre: Float64Array;
  readonly gmf: Float64Array;
  /** [n]: the wide part's user-independent terms Σ_{f ∈ 0,1,4} w_f·x_f (τ shift included). */
  readonly wideItem: Float64Array;
  /** Entries [0, filled) are gathered (`prepare` fills a set in slices). */
  filled: number;
}

/**
 * Forward pass over one snapshot without tfjs and without native tensors: JS, with the MLP
 * tower after the first layer on WebAssembly SIMD where the runtime has it (bit-identical).
 */
export class SnapshotScorer {
  readonly snapshot: ModelSnapshot;
  private readonly ids: IdSpaces;
  private readonly features: StreamFeatures | null;
  private readonly g: number;
  private readonly m: number;
  private readonly w: number;
  private readonly widths: readonly number[];
  /** W1's user rows [m, h1] and item + category rows [2m, h1], b1 [h1]. */
  private readonly w1User: number[];
  private readonly w1Item: number[];
  private readonly b1: number[];
  /** Layers 2..L, Wout's MLP rows and b_out: the per-candidate tower (WebAssembly SIMD where available). */
  private readonly tower: TowerKernel;
  /** Wout's GMF rows [g]; Wwide [WIDE_FEATURES] (empty without a wide part). */
  private readonly outGmf: number[];
  private readonly wideW: number[];
  private readonly sets = new CandidateSetCache<CandidateSet>(MAX_CACHED_SETS);
  /** W_cᵀc_m per category row. */
  private readonly categoryParts = new Map<number, number[]>();
  // Per-request scratch: user part a, q = u_g ⊙ w_g.
  private readonly userPre: number[];
  private readonly q: number[];
  /** The tower's output per candidate (grown to the largest candidate array). */
  private towerOut = new Float64Array(0);
  /** One MLP embedding (m values), and W_iᵀ of one item (h1 values). */
  private readonly mlpInput: number[];
  private readonly itemPart: number[];
  private readonly wideScratch = new Float32Array(WIDE_FEATURES);
  /** Per request: w_2·x_2 of the user by category row. */
  private readonly userCategoryTerm = new Map<number, number>();

  /**
   * `options.kernel`: 'auto' (default) runs the tower on WebAssembly SIMD when the runtime
   * has it, else in JS; 'js' forces the JS kernels (a test and benchmark hook).
   */
  constructor(snapshot: ModelSnapshot, options: { kernel?: 'auto' | 'js' } = {}) {
    const problems = layoutProblems(snapshot);
    if (problems.length > 0) throw new RebalancerError('REB_MODEL_INVALID', `inconsistent model snapshot: ${problems.map((p) => p.message).join('; ')}`, { seq: snapshot.seq });
    this.snapshot = snapshot;
    const c = snapshot.config;
    this.ids = idSpaces(c);
    this.features = snapshot.features === null ? null : new StreamFeatures(c, c.popularityHalfLife, snapshot.features);
    this.g = c.gmfDim;
    this.m = c.mlpDim;
    this.w = rowWidth(c);
    this.widths = [...c.mlpLayers];
    const layers = this.widths.length;
    const h1 = this.widths[0]!;
    const d = snapshot.dense;
    this.w1User = doublesFrom(d[0]!.subarray(0, this.m * h1));
    this.w1Item = doublesFrom(d[0]!.subarray(this.m * h1));
    this.b1 = doublesFrom(d[1]!);
    const towerWeights: TowerWeights = {
      widths: this.widths,
      hiddenW: Array.from({ length: layers - 1 }, (_, l) => d[2 * l + 2]!),
      hiddenB: Array.from({ length: layers - 1 }, (_, l) => d[2 * l + 3]!),
      outMlp: d[2 * layers]!.subarray(this.g),
      outBias: d[2 * layers + 1]![0]!,
    };
    this.tower = (options.kernel === 'js' ? null : wasmTower(towerWeights)) ?? new JsTower(towerWeights);
    this.outGmf = doublesFrom(d[2 * layers]!.subarray(0, this.g));
    this.wideW = c.wideFeatures ? doublesFrom(d[2 * layers + 2]!) : [];
    // Served scores: the adjustment −τ·log(1 + recent category count) is a shift of that feature's weight.
    if (c.wideFeatures) this.wideW[CATEGORY_LOG_COUNT] = this.wideW[CATEGORY_LOG_COUNT]! - snapshot.servingTau;
    this.userPre = doubles(h1);
    this.q = doubles(this.g);
    this.mlpInput = doubles(this.m);
    this.itemPart = doubles(h1);
  }

  /** Which kernels run the MLP tower: 'wasm' (WebAssembly SIMD, kernels-wasm.ts) or 'js' (kernels.ts); the scores are the same. */
  get kernel(): 'js' | 'wasm' {
    return this.tower.kind;
  }

  /** Scores as served of (userId, candidate) for each candidate: equal to `RecModel.scoreServed` (`scorePairs` minus the serving-time adjustment) on the model the snapshot was taken from. */
  score(userId: string, candidates: readonly CandidateIds[]): Float32Array {
    const n = candidates.length;
    const out = new Float32Array(n);
    if (n === 0) return out;
    const set = this.candidateSet(candidates);
    const user = this.ids.users.peekRow(userId);
    this.fillUserSide(user);
    const { g, userPre, q } = this;
    const { pre, gmf, itemRows, categoryRows } = set;
    // b_out + w_hᵀh_L per candidate, from relu(P_i + a) through the hidden layers.
    if (this.towerOut.length < n) this.towerOut = new Float64Array(n);
    const towerOut = this.towerOut;
    this.tower.towers(pre, n, userPre, towerOut);
    const features = this.features;
    const wideW = this.wideW;
    const wideItem = set.wideItem;
    // The user's terms of the wide part (StreamFeatures' own formulas on the snapshot's count
    // tables): feature 2 once per category of the request, feature 3 per candidate.
    const byCategory = this.userCategoryTerm;
    byCategory.clear();
    for (let i = 0; i < n; i++) {
      let s = towerOut[i]!;
      const go = i * g;
      for (let k = 0; k < g; k++) s += gmf[go + k]! * q[k]!;
      if (features !== null) {
        const c = categoryRows[i]!;
        let uc = byCategory.get(c);
        if (uc === undefined) {
          uc = wideW[2]! * features.userCategory(user, c);
          byCategory.set(c, uc);
        }
        s += wideItem[i]! + uc + wideW[3]! * features.userItem(user, itemRows[i]!);
      }
      out[i] = s;
    }
    return out;
  }

  /** Whether the snapshot's model has no history of the user (`isColdStart`). */
  coldStart(userId: string): boolean | null {
    return isColdStart(this.features, this.ids.users.peekRow(userId));
  }

  /** Top-k by score (duplicate item ids listed once), k clipped to candidates.length. */
  recommend(userId: string, candidates: readonly Candidate[], k: number): Recommendation[] {
    if (!Number.isInteger(k) || k <= 0) throw new RebalancerError('REB_MODEL_INVALID', `K must be a positive integer, got ${k}`, { k });
    const kk = Math.min(k, candidates.length);
    if (kk === 0) return [];
    return selectTopK(this.score(userId, candidates), candidates, kk);
  }

  /** a = W_uᵀu_m + b1 and q = u_g ⊙ w_g for the user in row `user`. */
  private fillUserSide(user: number): void {
    const { g, m, w1User, b1, userPre, q, outGmf, mlpInput } = this;
    const ut = this.snapshot.userTable;
    const uo = user * this.w;
    const h1 = this.widths[0]!;
    for (let d = 0; d < m; d++) mlpInput[d] = ut[uo + g + d]!;
    linear(mlpInput, m, w1User, 0, h1, userPre, 0);
    for (let j = 0; j < h1; j++) userPre[j] += b1[j]!;
    for (let d = 0; d < g; d++) q[d] = ut[uo + d]! * outGmf[d]!;
  }

  /**
   * Gathers the item side of up to `budget` more entries of `candidates` (the set a later
   * `score` on the same array uses). Returns true once the whole set is ready. Lets a caller
   * warm a new snapshot's scorer in slices, between requests, before serving from it.
   */
  prepare(candidates: readonly CandidateIds[], budget: number): boolean {
    const set = this.sets.lookup(candidates, false) ?? this.newSet(candidates, false);
    const end = Math.min(set.length, set.filled + Math.max(1, budget));
    for (let i = set.filled; i < end; i++) this.gatherEntry(set, i, candidates[i]!);
    set.filled = end;
    return set.filled === set.length;
  }

  /** A new cached set for `candidates`: every entry gathered, or (`gathered` false) none yet. */
  private newSet(candidates: readonly CandidateIds[], gathered: boolean): CandidateSet {
    const n = candidates.length;
    const { itemIds, categoryIds, itemRows, categoryRows } = gathered ? entriesOf(candidates, this.ids) : emptyEntries(n);
    // Spelled out, not spread: the scorer reads a spread object's fields ~10% slower per entry (measured).
    const set: CandidateSet = {
      length: n,
      itemIds,
      categoryIds,
      itemRows,
      categoryRows,
      pre: new Float64Array(n * this.widths[0]!),
      gmf: new Float64Array(n * this.g),
      wideItem: new Float64Array(n),
      filled: gathered ? n : 0,
    };
    if (gathered) for (let i = 0; i < n; i++) this.gatherItemSide(set, i);
    this.sets.insert(candidates, set);
    return set;
  }

  private gatherEntry(set: CandidateSet, i: number, c: CandidateIds): void {
    setEntry(set, i, c, this.ids);
    this.gatherItemSide(set, i);
  }

  /** The cached item side of `candidates` (keyed by array identity), brought up to date with its current ids. */
  private candidateSet(candidates: readonly CandidateIds[]): CandidateSet {
    const set = this.sets.lookup(candidates, true);
    if (set === undefined) return this.newSet(candidates, true);
    // Finish a set `prepare` left partly gathered.
    for (let i = set.filled; i < set.length; i++) this.gatherEntry(set, i, candidates[i]!);
    set.filled = set.length;
    // The same array may have been edited in place: recompute the entries whose ids differ.
    refreshEntries(set, candidates, this.ids, (i) => this.gatherItemSide(set, i));
    return set;
  }

  /** P_i = W_iᵀi_m + W_cᵀc_m and v_i = i_g + c_g for entry `i` of `set`. */
  private gatherItemSide(set: CandidateSet, i: number): void {
    const { g, m, w, w1Item, mlpInput } = this;
    const h1 = this.widths[0]!;
    const it = this.snapshot.itemTable;
    const ct = this.snapshot.categoryTable;
    const io = set.itemRows[i]! * w;
    const categoryRow = set.categoryRows[i]!;
    const co = categoryRow * w;
    const go = i * g;
    for (let d = 0; d < g; d++) set.gmf[go + d] = Math.fround(it[io + d]! + ct[co + d]!);
    // Rows 0..m-1 of w1Item are the item's MLP weights; the category's (rows m..2m-1) are
    // shared by every item of the category, so their product is kept per category row.
    for (let d = 0; d < m; d++) mlpInput[d] = it[io + g + d]!;
    const itemPart = this.itemPart;
    linear(mlpInput, m, w1Item, 0, h1, itemPart, 0);
    const c = this.categoryPart(categoryRow);
    const pre = set.pre;
    const po = i * h1;
    for (let j = 0; j < h1; j++) pre[po + j] = itemPart[j]! + c[j]!;
    const features = this.features;
    if (features !== null) {
      const x = this.wideScratch;
      features.fillItem(set.itemRows[i]!, categoryRow, x, 0);
      const wideW = this.wideW;
      set.wideItem[i] = wideW[0]! * x[0]! + wideW[1]! * x[1]! + wideW[CATEGORY_LOG_COUNT]! * x[CATEGORY_LOG_COUNT]!;
    }
  }

  /** W_cᵀc_m for the category in table row `row` (cached: categories are few and shared). */
  private categoryPart(row: number): number[] {
    let part = this.categoryParts.get(row);
    if (part === undefined) {
      const { g, m, w } = this;
      const h1 = this.widths[0]!;
      const ct = this.snapshot.categoryTable;
      for (let d = 0; d < m; d++) this.mlpInput[d] = ct[row * w + g + d]!;
      part = doubles(h1);
      linear(this.mlpInput, m, this.w1Item, m * h1, h1, part, 0);
      if (this.categoryParts.size >= MAX_CACHED_CATEGORIES) this.categoryParts.clear();
      this.categoryParts.set(row, part);
    }
    return part;
  }
}
