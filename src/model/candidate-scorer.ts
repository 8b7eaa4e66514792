/**
 * Serving fast path: the logits of one candidate set for one or a few users, with the
 * item-side work done once per candidate set and parameter version.
 *
 * NeuMF's first MLP layer on the concatenation [u; i; c] splits by blocks of W1:
 *   W1ᵀ[u; i; c] + b1 = [W_i; W_c]ᵀ[i; c] + (W_uᵀu + b1),
 * so the candidates' item-side input X = [I | C] ([n, 2m]) is shared by every user and the
 * user enters as one bias vector, never copied per candidate. The GMF branch's
 * contribution w_gᵀ(u_g ⊙ v) equals vᵀ(u_g ⊙ w_g): a matrix-vector product V·q.
 *
 * Biases ride on a constant-1 column (affine layers as linear maps on [x, 1]): X⁺ = [X | 1],
 * the first-layer weight per user is [[W_i; W_c], 0]; [W_uᵀu + b1, 1]] and every later
 * layer [[W_l, 0]; [b_l, 1]], so the ones column survives each relu and every layer is
 * one matMul and one relu, with no broadcast bias add (on tfjs-node a fused matMul is
 * three ops, and a broadcast add over [n, h] costs about as much as the matMul). Several
 * users side by side widen the first weight to [2m+1, U·(h1+1)]. Per call:
 *   h = relu(X⁺·W1⁺_u);  h = relu(h·W_l⁺) per hidden layer;  s = h·[w_h; b_out] + V·q,
 * i.e. two small uploads and under ten ops.
 *
 * Cache: candidate sets are keyed by array identity (a small LRU); on every hit the ids
 * are compared with the remembered ones (pointer-fast for the same strings), so an array
 * edited in place is rehashed where it changed. X⁺ and V are gathered again when the
 * model's `parameterVersion` moves (every training step bumps it), and the augmented
 * weights are rebuilt; a rebuild is a gather and an upload, no TF work. Tensor count is
 * bounded: two per cached set plus one per layer, all freed by `dispose`.
 */
import * as tf from '@tensorflow/tfjs-node';
import type { ModelConfig } from './config.js';
import { WIDE_FEATURES } from './features.js';
import { CandidateSetCache, entriesOf, refreshEntries, type CandidateEntries, type CandidateIds } from './candidate-sets.js';


/**
 * What the scorer reads of a model: its shape, parameter version, tables and dense weights,
 * the hashed id spaces' non-recording lookup, and the wide part's logit. RecModel (neumf.ts)
 * satisfies it structurally, so this file does not depend on the model that owns a scorer.
 */
export interface ScorableModel {
  readonly config: Readonly<Pick<ModelConfig, 'gmfDim' | 'mlpDim' | 'mlpLayers'>>;
  /** Bumped on every parameter change: caches built at another version are stale. */
  readonly parameterVersion: number;
  /** Width of a table row: gmfDim GMF values, then mlpDim MLP values. */
  readonly rowWidth: number;
  readonly userTable: Float32Array;
  readonly itemTable: Float32Array;
  readonly categoryTable: Float32Array;
  /** [W1, b1, …, WL, bL, Wout, bout, …]: row-major weights and biases. */
  readonly dense: readonly Float32Array[];
  readonly items: { peekRow(id: string): number };
  readonly categories: { peekRow(id: string): number };
  /** The wide part's count features; null without a wide part (then `wideLogit` is not called). */
  readonly features: object | null;
  /** The wide part's contribution to the logit of (user, item, category) rows. */
  wideLogit(user: number, item: number, category: number, scratch: Float32Array): number;
}

/** Candidate sets kept (each holds [n, 2m+1] + [n, g] floats on the TF side). */
const MAX_CACHED_SETS = 4;

interface CandidateSet extends CandidateEntries {
  /** Gathered values behind `input` and `gmf` (tfjs reads them at the first upload; rewritten only after disposing those). */
  readonly inputValues: Float32Array;
  readonly gmfValues: Float32Array;
  /** Parameter version the tensors were built at (-1: none). */
  version: number;
  /** [n, 2m+1]: item MLP vector, category MLP vector, 1. */
  input: tf.Tensor2D | null;
  /** [n, g]: item + category GMF vectors. */
  gmf: tf.Tensor2D | null;
}

export class CandidateScorer {
  private readonly model: ScorableModel;
  private readonly sets = new CandidateSetCache<CandidateSet>(MAX_CACHED_SETS, disposeTensors);
  /** [[W_l, 0]; [b_l, 1]] per hidden layer after the first, then [w_h; b_out]; at `weightsVersion`. */
  private weights: tf.Tensor2D[] = [];
  private weightsVersion = -1;
  /** Per-call buffers: first-layer weight [2m+1, U·(h1+1)] and qᵀ [g, U], reused while U stays the same. */
  private firstLayer = new Float32Array(0);
  private gmfWeights = new Float32Array(0);
  private readonly acc: Float64Array;
  private readonly wideScratch = new Float32Array(WIDE_FEATURES);

  constructor(model: ScorableModel) {
    this.model = model;
    this.acc = new Float64Array(model.config.mlpLayers[0]!);
  }

  /**
   * Logits of `candidates` for each user row, user-major ([users.length × n]); equal to
   * `scoreGathered` on the expanded pairs up to float rounding.
   */
  score(userRows: readonly number[], candidates: readonly CandidateIds[]): Float32Array {
    const n = candidates.length;
    const users = userRows.length;
    if (n === 0 || users === 0) return new Float32Array(0);
    const version = this.model.parameterVersion;
    if (this.weightsVersion !== version) this.buildWeights(version);
    const set = this.candidateSet(candidates);
    if (set.version !== version) this.gatherItemSide(set, version);
    this.fillUserSide(userRows);
    const { gmfDim: g, mlpDim: m, mlpLayers } = this.model.config;
    const h1 = mlpLayers[0]! + 1;
    const input = set.input!;
    const gmf = set.gmf!;
    const weights = this.weights;
    const logits = tf.tidy(() => {
      const w1 = tf.tensor2d(this.firstLayer, [2 * m + 1, users * h1]);
      const q = tf.tensor2d(this.gmfWeights, [g, users]);
      // [n, U·(h1+1)] viewed as [n·U, h1+1]: rows candidate-major, user-minor.
      let h: tf.Tensor2D = tf.relu(tf.matMul<tf.Tensor2D>(input, w1));
      if (users > 1) h = tf.reshape(h, [n * users, h1]);
      for (let l = 0; l < weights.length; l++) {
        const z = tf.matMul<tf.Tensor2D>(h, weights[l]!);
        h = l < weights.length - 1 ? tf.relu(z) : z;
      }
      // [n, U]: MLP part with the output bias plus V·q (GMF part).
      return tf.add(users > 1 ? tf.reshape(h, [n, users]) : h, tf.matMul(gmf, q));
    });
    const out = logits.dataSync() as Float32Array;
    logits.dispose();
    const byUser = users === 1 ? out : new Float32Array(n * users);
    if (users > 1) for (let i = 0; i < n; i++) for (let k = 0; k < users; k++) byUser[k * n + i] = out[i * users + k]!;
    // The wide part (streaming counts, see features.ts) is a few multiply-adds per pair, in JS.
    if (this.model.features !== null) {
      const scratch = this.wideScratch;
      for (let k = 0; k < users; k++) {
        const u = userRows[k]!;
        for (let i = 0; i < n; i++) byUser[k * n + i]! += this.model.wideLogit(u, set.itemRows[i]!, set.categoryRows[i]!, scratch);
      }
    }
    return byUser;
  }

  /** Frees every cached tensor (the scorer stays usable and rebuilds on demand). */
  dispose(): void {
    this.sets.clear();
    for (const t of this.weights) t.dispose();
    this.weights = [];
    this.weightsVersion = -1;
  }

  /** The cached set for `candidates`, hashed rows up to date with its current ids. */
  private candidateSet(candidates: readonly CandidateIds[]): CandidateSet {
    const cached = this.sets.lookup(candidates, true);
    if (cached !== undefined) {
      // Same array, possibly edited in place: rehash what differs, gather again if anything did.
      if (refreshEntries(cached, candidates, this.model)) disposeTensors(cached);
      return cached;
    }
    const n = candidates.length;
    const { gmfDim: g, mlpDim: m } = this.model.config;
    const { itemIds, categoryIds, itemRows, categoryRows } = entriesOf(candidates, this.model);
    // Spelled out, not spread: a spread object is slower to read field by field (measured on the snapshot scorer).
    const set: CandidateSet = { length: n, itemIds, categoryIds, itemRows, categoryRows, inputValues: new Float32Array(n * (2 * m + 1)), gmfValues: new Float32Array(n * g), version: -1, input: null, gmf: null };
    this.sets.insert(candidates, set);
    return set;
  }

  /** Gathers the set's item and category rows into X⁺ and V at `version`. */
  private gatherItemSide(set: CandidateSet, version: number): void {
    disposeTensors(set);
    const model = this.model;
    const { gmfDim: g, mlpDim: m } = model.config;
    const w = model.rowWidth;
    const n = set.length;
    const it = model.itemTable;
    const ct = model.categoryTable;
    const xw = 2 * m + 1;
    const x = set.inputValues;
    const v = set.gmfValues;
    const itemRows = set.itemRows;
    const categoryRows = set.categoryRows;
    let xo = 0;
    let vo = 0;
    for (let s = 0; s < n; s++) {
      let io = itemRows[s]! * w;
      let co = categoryRows[s]! * w;
      for (let d = 0; d < g; d++) v[vo++] = it[io++]! + ct[co++]!;
      for (let d = 0; d < m; d++) x[xo++] = it[io++]!;
      for (let d = 0; d < m; d++) x[xo++] = ct[co++]!;
      x[xo++] = 1;
    }
    set.input = tf.tensor2d(x, [n, xw]);
    set.gmf = tf.tensor2d(v, [n, g]);
    set.version = version;
  }

  /** Uploads the augmented weights of the layers after the first, from `model.dense` at `version`. */
  private buildWeights(version: number): void {
    for (const t of this.weights) t.dispose();
    const { gmfDim: g, mlpLayers } = this.model.config;
    const dense = this.model.dense;
    const layers = mlpLayers.length;
    const weights: tf.Tensor2D[] = [];
    for (let l = 1; l < layers; l++) weights.push(augmented(dense[2 * l]!, dense[2 * l + 1]!, mlpLayers[l - 1]!, mlpLayers[l]!, true));
    // Output: the MLP rows of W_out (after the g GMF rows), then b_out.
    weights.push(augmented(dense[2 * layers]!.subarray(g), dense[2 * layers + 1]!, mlpLayers[layers - 1]!, 1, false));
    this.weights = weights;
    this.weightsVersion = version;
  }

  /**
   * Per user k: block k of the first-layer weight, [[W_i; W_c], 0]; [W_uᵀu_k + b1, 1]]
   * ([2m+1, h1+1]), and column k of qᵀ, u_g ⊙ w_g ([g]).
   */
  private fillUserSide(userRows: readonly number[]): void {
    const model = this.model;
    const { gmfDim: g, mlpDim: m, mlpLayers } = model.config;
    const h1 = mlpLayers[0]!;
    const users = userRows.length;
    const stride = users * (h1 + 1);
    if (this.firstLayer.length !== (2 * m + 1) * stride) this.firstLayer = new Float32Array((2 * m + 1) * stride);
    if (this.gmfWeights.length !== g * users) this.gmfWeights = new Float32Array(g * users);
    const first = this.firstLayer;
    // W1 is [3m, h1] row-major: rows 0..m-1 user, m..2m-1 item, 2m..3m-1 category.
    const w1 = model.dense[0]!;
    const b1 = model.dense[1]!;
    const wOut = model.dense[2 * mlpLayers.length]!;
    const ut = model.userTable;
    const w = model.rowWidth;
    const acc = this.acc;
    const last = 2 * m * stride;
    for (let k = 0; k < users; k++) {
      const col = k * (h1 + 1);
      for (let r = 0; r < 2 * m; r++) {
        const o = r * stride + col;
        first.set(w1.subarray((m + r) * h1, (m + r + 1) * h1), o);
        first[o + h1] = 0;
      }
      const uo = userRows[k]! * w;
      for (let j = 0; j < h1; j++) acc[j] = b1[j]!;
      for (let d = 0; d < m; d++) {
        const ud = ut[uo + g + d]!;
        const ro = d * h1;
        for (let j = 0; j < h1; j++) acc[j] += ud * w1[ro + j]!;
      }
      for (let j = 0; j < h1; j++) first[last + col + j] = acc[j]!;
      first[last + col + h1] = 1;
      for (let d = 0; d < g; d++) this.gmfWeights[d * users + k] = ut[uo + d]! * wOut[d]!;
    }
  }
}

/**
 * [[W, 0], [b, 1]] ([rows+1, cols+1]) for W [rows, cols] row-major and bias b [cols], so that
 * [h, 1]·W⁺ = [h·W + b, 1]; without the unit column ([rows+1, cols]) when `keepOnes` is false.
 */
function augmented(weight: Float32Array, bias: Float32Array, rows: number, cols: number, keepOnes: boolean): tf.Tensor2D {
  const outCols = keepOnes ? cols + 1 : cols;
  const a = new Float32Array((rows + 1) * outCols);
  for (let r = 0; r < rows; r++) a.set(weight.subarray(r * cols, (r + 1) * cols), r * outCols);
  a.set(bias.subarray(0, cols), rows * outCols);
  if (keepOnes) a[(rows + 1) * outCols - 1] = 1;
  return tf.tensor2d(a, [rows + 1, outCols]);
}

function disposeTensors(set: CandidateSet): void {
  set.input?.dispose();
  set.gmf?.dispose();
  set.input = null;
  set.gmf = null;
  set.version = -1;
}
