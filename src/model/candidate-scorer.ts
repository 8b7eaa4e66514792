/**
 * Serving fast path: the logits of one candidate set for one or a few users, with the
 * item-side work done once per candidate set and parameter version.
 *
 * NeuMF's first MLP layer on the concatenation [u; i; c] splits by blocks of W1:
 *   W1ᵀ[u; i; c] + b1 = W_uᵀu + (W_iᵀi + W_cᵀc + b1),
 * so the item-side projection P = I·W_i + C·W_c + b1 ([n, h1]) is shared by every user and
 * the user term is one row vector broadcast over the candidates. The GMF branch's
 * contribution w_gᵀ(u_g ⊙ v) equals vᵀ(u_g ⊙ w_g), a matrix-vector product V·q.
 *
 * Biases ride on a constant-1 column (affine layers as linear maps on [h, 1]): P carries a
 * last column of ones, which relu keeps at 1, and every hidden weight is augmented to
 * [[W, 0], [b, 1]], so each layer is one matMul and one relu with no broadcast bias add
 * (on tfjs-node a fused matMul is three ops and a broadcast add over [n, h] costs as much
 * as the matMul). Per call:
 *   h = relu(P⁺ + [W_uᵀu, 0]);  h = relu(h·W_l⁺) for each hidden layer;  s = h·[w_h; b_out] + V·q,
 * i.e. two small uploads and about ten ops, with no per-candidate copy of the user.
 *
 * Cache: candidate sets are keyed by array identity (a small LRU); on every hit the ids
 * are compared with the remembered ones (pointer-fast for the same strings), so an array
 * edited in place is rehashed where it changed. P and V are rebuilt when the model's
 * `parameterVersion` moves (every training step bumps it), and so are the augmented
 * weights. Tensor count is bounded: two per cached set plus one per layer, all freed by
 * `dispose`.
 */
import * as tf from '@tensorflow/tfjs-node';
import type { RecModel } from './neumf.js';

/** What the scorer reads from a candidate. */
export interface CandidateIds {
  readonly itemId: string;
  readonly categoryId: string;
}

/** Candidate sets kept (each holds [n, h1+1] + [n, g] floats on the TF side). */
const MAX_CACHED_SETS = 4;

interface CandidateSet {
  readonly length: number;
  readonly itemIds: string[];
  readonly categoryIds: string[];
  readonly itemRows: Int32Array;
  readonly categoryRows: Int32Array;
  /** Parameter version the tensors were built at (-1: none). */
  version: number;
  /** [n, h1+1]: item-side first-layer projection I·W_i + C·W_c + b1, then a column of ones. */
  projection: tf.Tensor2D | null;
  /** [n, g]: item + category GMF vectors. */
  gmf: tf.Tensor2D | null;
}

export class CandidateScorer {
  private readonly model: RecModel;
  private readonly sets = new Map<readonly CandidateIds[], CandidateSet>();
  /**
   * Augmented weights at `weightsVersion`: [0] = [[W_i; W_c], 0], [b1, 1]] for the item side,
   * then [[W_l, 0], [b_l, 1]] per hidden layer after the first, last [w_h; b_out].
   */
  private weights: tf.Tensor2D[] = [];
  private weightsVersion = -1;
  /** Per-call user buffers ([U, h1+1] and [U, g]), reused while U stays the same. */
  private userBias = new Float32Array(0);
  private userGmf = new Float32Array(0);
  private readonly acc: Float64Array;
  /** Item-side MLP input scratch ([n, 2m+1], last column 1) for rebuilding a projection. */
  private itemInput = new Float32Array(0);

  constructor(model: RecModel) {
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
    if (set.version !== version) this.buildItemSide(set, version);
    this.fillUserSide(userRows);
    const { gmfDim: g, mlpLayers } = this.model.config;
    const h1 = mlpLayers[0]! + 1;
    const projection = set.projection!;
    const gmf = set.gmf!;
    const weights = this.weights;
    const logits = tf.tidy(() => {
      const b = tf.tensor2d(this.userBias, [users, h1]);
      const q = tf.tensor2d(this.userGmf, [users, g]);
      let h: tf.Tensor2D =
        users === 1 ? tf.relu(tf.add<tf.Tensor2D>(projection, b)) : tf.reshape<tf.Rank.R2>(tf.relu(tf.add(tf.reshape(projection, [1, n, h1]), tf.reshape(b, [users, 1, h1]))), [users * n, h1]);
      for (let l = 1; l < weights.length; l++) {
        const z = tf.matMul<tf.Tensor2D>(h, weights[l]!);
        h = l < weights.length - 1 ? tf.relu(z) : z;
      }
      // [U, n]: MLP part with the output bias (reshaped from [U·n, 1]) plus V·q (GMF part).
      return tf.add(tf.reshape(h, [users, n]), tf.matMul(q, gmf, false, true));
    });
    const out = logits.dataSync() as Float32Array;
    logits.dispose();
    return out;
  }

  /** Frees every cached tensor (the scorer stays usable and rebuilds on demand). */
  dispose(): void {
    for (const set of this.sets.values()) disposeTensors(set);
    this.sets.clear();
    for (const t of this.weights) t.dispose();
    this.weights = [];
    this.weightsVersion = -1;
  }

  /** The cached set for `candidates`, hashed rows up to date with its current ids. */
  private candidateSet(candidates: readonly CandidateIds[]): CandidateSet {
    const n = candidates.length;
    const { items, categories } = this.model;
    let set = this.sets.get(candidates);
    if (set !== undefined && set.length === n) {
      // LRU: move to the back.
      this.sets.delete(candidates);
      this.sets.set(candidates, set);
      // Same array, possibly edited in place: rehash what differs (equal strings are usually the same pointer).
      let changed = false;
      for (let i = 0; i < n; i++) {
        const c = candidates[i]!;
        if (c.itemId !== set.itemIds[i]) {
          set.itemIds[i] = c.itemId;
          set.itemRows[i] = items.peekRow(c.itemId);
          changed = true;
        }
        if (c.categoryId !== set.categoryIds[i]) {
          set.categoryIds[i] = c.categoryId;
          set.categoryRows[i] = categories.peekRow(c.categoryId);
          changed = true;
        }
      }
      if (changed) disposeTensors(set);
      return set;
    }
    if (set !== undefined) disposeTensors(set);
    this.sets.delete(candidates);
    const itemIds = new Array<string>(n);
    const categoryIds = new Array<string>(n);
    const itemRows = new Int32Array(n);
    const categoryRows = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = candidates[i]!;
      itemIds[i] = c.itemId;
      categoryIds[i] = c.categoryId;
      itemRows[i] = items.peekRow(c.itemId);
      categoryRows[i] = categories.peekRow(c.categoryId);
    }
    set = { length: n, itemIds, categoryIds, itemRows, categoryRows, version: -1, projection: null, gmf: null };
    this.sets.set(candidates, set);
    if (this.sets.size > MAX_CACHED_SETS) {
      const oldest = this.sets.keys().next().value!;
      disposeTensors(this.sets.get(oldest)!);
      this.sets.delete(oldest);
    }
    return set;
  }

  /** Gathers the set's item and category rows and computes P⁺ and V at `version`. */
  private buildItemSide(set: CandidateSet, version: number): void {
    disposeTensors(set);
    const model = this.model;
    const { gmfDim: g, mlpDim: m } = model.config;
    const w = model.rowWidth;
    const n = set.length;
    const it = model.itemTable;
    const ct = model.categoryTable;
    const xw = 2 * m + 1;
    if (this.itemInput.length !== n * xw) this.itemInput = new Float32Array(n * xw);
    const x = this.itemInput;
    // Owned by the tensor (tfjs may hold the array until its first upload): not reused.
    const v = new Float32Array(n * g);
    for (let s = 0; s < n; s++) {
      const io = set.itemRows[s]! * w;
      const co = set.categoryRows[s]! * w;
      const vo = s * g;
      for (let d = 0; d < g; d++) v[vo + d] = it[io + d]! + ct[co + d]!;
      const xo = s * xw;
      for (let d = 0; d < m; d++) {
        x[xo + d] = it[io + g + d]!;
        x[xo + m + d] = ct[co + g + d]!;
      }
      x[xo + 2 * m] = 1;
    }
    // The matMul runs now, so TF has copied the scratch `x` before the next build overwrites it.
    set.projection = tf.tidy(() => tf.matMul<tf.Tensor2D>(tf.tensor2d(x, [n, xw]), this.weights[0]!));
    set.gmf = tf.tensor2d(v, [n, g]);
    set.version = version;
  }

  /** Uploads the augmented weights (see `weights`) built from `model.dense` at `version`. */
  private buildWeights(version: number): void {
    for (const t of this.weights) t.dispose();
    const { gmfDim: g, mlpDim: m, mlpLayers } = this.model.config;
    const dense = this.model.dense;
    const layers = mlpLayers.length;
    const weights: tf.Tensor2D[] = [];
    // Item side of the first layer: W1 rows m..3m-1 (item, category), then b1; a unit column keeps the ones.
    weights.push(augmented(dense[0]!.subarray(m * mlpLayers[0]!), dense[1]!, 2 * m, mlpLayers[0]!, true));
    for (let l = 1; l < layers; l++) weights.push(augmented(dense[2 * l]!, dense[2 * l + 1]!, mlpLayers[l - 1]!, mlpLayers[l]!, true));
    // Output: the MLP rows of W_out (after the g GMF rows), then b_out.
    weights.push(augmented(dense[2 * layers]!.subarray(g), dense[2 * layers + 1]!, mlpLayers[layers - 1]!, 1, false));
    this.weights = weights;
    this.weightsVersion = version;
  }

  /** b_u = [W_uᵀ u_mlp, 0] per user ([U, h1+1]) and q = u_g ⊙ w_g per user ([U, g]). */
  private fillUserSide(userRows: readonly number[]): void {
    const model = this.model;
    const { gmfDim: g, mlpDim: m, mlpLayers } = model.config;
    const h1 = mlpLayers[0]!;
    const users = userRows.length;
    if (this.userBias.length !== users * (h1 + 1)) this.userBias = new Float32Array(users * (h1 + 1));
    if (this.userGmf.length !== users * g) this.userGmf = new Float32Array(users * g);
    const w1 = model.dense[0]!;
    const wOut = model.dense[2 * mlpLayers.length]!;
    const ut = model.userTable;
    const w = model.rowWidth;
    const acc = this.acc;
    for (let k = 0; k < users; k++) {
      const uo = userRows[k]! * w;
      acc.fill(0);
      // W1 is [3m, h1] row-major; rows 0..m-1 take the user's MLP vector.
      for (let d = 0; d < m; d++) {
        const ud = ut[uo + g + d]!;
        const ro = d * h1;
        for (let j = 0; j < h1; j++) acc[j] += ud * w1[ro + j]!;
      }
      const bo = k * (h1 + 1);
      for (let j = 0; j < h1; j++) this.userBias[bo + j] = acc[j]!;
      // The ones column: P⁺ holds 1 there, relu(1 + 0) = 1.
      this.userBias[bo + h1] = 0;
      const qo = k * g;
      for (let d = 0; d < g; d++) this.userGmf[qo + d] = ut[uo + d]! * wOut[d]!;
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
  set.projection?.dispose();
  set.gmf?.dispose();
  set.projection = null;
  set.gmf = null;
  set.version = -1;
}
