/**
 * A compact NeuMF-style scorer (He et al., "Neural Collaborative Filtering", WWW 2017):
 * a GMF branch (element-wise product of user and item embeddings) and an MLP branch
 * (concatenated user, item and category embeddings through ReLU layers), joined in one
 * output logit.
 *
 * Embedding tables are plain Float32Arrays indexed by hashed id (fixed size, so new users
 * and items need no vocabulary growth). A batch's rows are gathered in JS into small
 * tensors and the gradient is taken with respect to those tensors, so an optimizer step
 * costs O(batch × dim) instead of the O(rows × dim) of `tf.gather`'s dense gradient.
 * The category embedding is added to the item's GMF vector and concatenated into the MLP
 * input, so a new or rarely seen item still inherits what its category has learned.
 */
import * as tf from '@tensorflow/tfjs-node';
import type { Rng } from '../balance/index.js';
import { RebalancerError } from '../errors.js';
import { CandidateScorer } from './candidate-scorer.js';
import { resolveModelConfig, type ModelConfig } from './config.js';
import { CATEGORY_LOG_COUNT, StreamFeatures, WIDE_FEATURES } from './features.js';
import type { CollisionEstimate, HashedIdSpace } from './hash.js';
import { denseShapes, idSpaces, rowWidth, sizeOf } from './layout.js';

/** Rows of one batch in the three tables. */
export interface BatchRows {
  users: Int32Array;
  items: Int32Array;
  categories: Int32Array;
  /** Number of valid entries (arrays may be longer). */
  length: number;
}

/** Dense input of the network for a batch, gathered from the tables. */
export interface GatheredInputs {
  /** [n, gmfDim] user GMF vectors. */
  userGmf: Float32Array;
  /** [n, gmfDim] item GMF vectors plus category GMF vectors. */
  itemGmf: Float32Array;
  /** [n, 3·mlpDim] user | item | category MLP vectors. */
  mlpInput: Float32Array;
  /** [n, WIDE_FEATURES] streaming count features (empty when the model has no wide part). */
  wide: Float32Array;
  length: number;
}

export class RecModel {
  readonly config: Readonly<ModelConfig>;
  readonly users: HashedIdSpace;
  readonly items: HashedIdSpace;
  readonly categories: HashedIdSpace;
  /** Width of a table row: gmfDim GMF values then mlpDim MLP values. */
  readonly rowWidth: number;
  readonly userTable: Float32Array;
  readonly itemTable: Float32Array;
  readonly categoryTable: Float32Array;
  /** Dense parameters [W1, b1, …, WL, bL, Wout, bout] (+ [Wwide] with the wide part); shapes in `denseShapes`. */
  readonly dense: Float32Array[];
  /** Streaming count features of the wide part (null without it). */
  readonly features: StreamFeatures | null;
  readonly denseShapes: readonly (readonly number[])[];
  /**
   * Serving-time logit adjustment τ: served scores are s − τ·log(1 + recent count of the
   * item's category) (set by the trainer's adjustment controller; 0 = the raw logits).
   * Applies to `wideLogit` (the serving fast path) and `scoreServed`, never to training.
   */
  servingTau = 0;
  private denseCache: tf.Tensor[] | null = null;
  private version = 0;
  private scorer: CandidateScorer | null = null;
  private disposed = false;

  /** `rng` initialises the weights; `null` leaves them zero (to be filled by a loader). */
  constructor(config: ModelConfig, rng: Rng | null) {
    this.config = Object.freeze({ ...config, mlpLayers: [...config.mlpLayers] });
    const spaces = idSpaces(config);
    this.users = spaces.users;
    this.items = spaces.items;
    this.categories = spaces.categories;
    this.rowWidth = rowWidth(config);
    this.userTable = normalArray(config.userRows * this.rowWidth, config.embeddingInitStd, rng);
    this.itemTable = normalArray(config.itemRows * this.rowWidth, config.embeddingInitStd, rng);
    this.categoryTable = normalArray(config.categoryRows * this.rowWidth, config.embeddingInitStd, rng);
    const shapes = denseShapes(config);
    const layers = config.mlpLayers.length;
    // He initialisation for the ReLU layers' weights, 1/fan-in for the output weights; biases
    // and the wide part's weights (one per count feature: the model learns how much each
    // signal matters) start at 0.
    this.dense = shapes.map((shape, i) => {
      const fanIn = shape[0]!;
      if (i < 2 * layers && i % 2 === 0) return normalArray(sizeOf(shape), Math.sqrt(2 / fanIn), rng);
      if (i === 2 * layers) return normalArray(sizeOf(shape), Math.sqrt(1 / fanIn), rng);
      return new Float32Array(sizeOf(shape));
    });
    this.denseShapes = shapes;
    this.features = config.wideFeatures ? new StreamFeatures(config, config.popularityHalfLife) : null;
  }

  /** Dense parameters as tensors, uploaded once per change (owned by the model; do not dispose). */
  denseTensors(): tf.Tensor[] {
    this.assertLive();
    if (this.denseCache === null) {
      this.denseCache = this.dense.map((values, i) => tf.tensor(values.slice(), this.denseShapes[i] as number[], 'float32'));
    }
    return this.denseCache;
  }

  /**
   * Call after changing `dense` or the embedding tables in place (the trainer does, once per
   * step): the next forward pass uploads the new values, and serving caches derived from the
   * parameters are rebuilt.
   */
  denseChanged(): void {
    this.version++;
    if (this.denseCache !== null) {
      for (const t of this.denseCache) t.dispose();
      this.denseCache = null;
    }
  }

  /** Counter bumped by `denseChanged`: derived caches built at another version are stale. */
  get parameterVersion(): number {
    return this.version;
  }

  /** The serving fast path for candidate sets (caches item-side work; owned by the model). */
  candidateScorer(): CandidateScorer {
    this.assertLive();
    return (this.scorer ??= new CandidateScorer(this));
  }

  /**
   * The wide part's contribution to the logit of (user, item, category) rows: Σ_f w_f·x_f
   * (0 without a wide part). The serving fast path adds it to the deep part's logits.
   */
  wideLogit(user: number, item: number, category: number, scratch: Float32Array): number {
    const features = this.features;
    if (features === null) return 0;
    features.fill(user, item, category, scratch, 0);
    const w = this.dense[this.dense.length - 1]!;
    let s = -this.servingTau * scratch[CATEGORY_LOG_COUNT]!;
    for (let f = 0; f < WIDE_FEATURES; f++) s += w[f]! * scratch[f]!;
    return s;
  }

  /** Rows of ids, recording them for the collision estimate (training path). */
  rowsOf(userIds: readonly string[], itemIds: readonly string[], categoryIds: readonly string[], out: BatchRows): void {
    const n = out.length;
    for (let i = 0; i < n; i++) {
      out.users[i] = this.users.row(userIds[i]!);
      out.items[i] = this.items.row(itemIds[i]!);
      out.categories[i] = this.categories.row(categoryIds[i]!);
    }
  }

  /** Copies a batch's rows out of the tables into the network's input layout. */
  gather(rows: BatchRows): GatheredInputs {
    const { gmfDim: g, mlpDim: m } = this.config;
    const w = this.rowWidth;
    const n = rows.length;
    const userGmf = new Float32Array(n * g);
    const itemGmf = new Float32Array(n * g);
    const mlpInput = new Float32Array(n * 3 * m);
    const features = this.features;
    const wide = new Float32Array(features === null ? 0 : n * WIDE_FEATURES);
    if (features !== null) for (let s = 0; s < n; s++) features.fill(rows.users[s]!, rows.items[s]!, rows.categories[s]!, wide, s * WIDE_FEATURES);
    const ut = this.userTable;
    const it = this.itemTable;
    const ct = this.categoryTable;
    for (let s = 0; s < n; s++) {
      const uo = rows.users[s]! * w;
      const io = rows.items[s]! * w;
      const co = rows.categories[s]! * w;
      const go = s * g;
      for (let d = 0; d < g; d++) {
        userGmf[go + d] = ut[uo + d]!;
        itemGmf[go + d] = it[io + d]! + ct[co + d]!;
      }
      const mo = s * 3 * m;
      for (let d = 0; d < m; d++) {
        mlpInput[mo + d] = ut[uo + g + d]!;
        mlpInput[mo + m + d] = it[io + g + d]!;
        mlpInput[mo + 2 * m + d] = ct[co + g + d]!;
      }
    }
    return { userGmf, itemGmf, mlpInput, wide, length: n };
  }

  /** Logits for a gathered batch (tensor op count is constant per call). */
  scoreGathered(inputs: GatheredInputs): Float32Array {
    this.assertLive();
    const n = inputs.length;
    if (n === 0) return new Float32Array(0);
    const { gmfDim: g, mlpDim: m } = this.config;
    const dense = this.denseTensors();
    const logits = tf.tidy(() => {
      const u = tf.tensor2d(inputs.userGmf, [n, g]);
      const v = tf.tensor2d(inputs.itemGmf, [n, g]);
      const x = tf.tensor2d(inputs.mlpInput, [n, 3 * m]);
      const f = this.features === null ? null : tf.tensor2d(inputs.wide, [n, WIDE_FEATURES]);
      return forwardLogits(u, v, x, dense, f);
    });
    const out = logits.dataSync() as Float32Array;
    logits.dispose();
    return out;
  }

  /** Logits s(user, item) for pairs (serving: no logit adjustment, no log q correction). */
  scorePairs(pairs: readonly { userId: string; itemId: string; categoryId: string }[]): Float32Array {
    return this.scoreGathered(this.gather(this.rowsOfPairs(pairs)));
  }

  /** Scores as served: `scorePairs` minus the serving-time adjustment τ·log(1 + recent category count). */
  scoreServed(pairs: readonly { userId: string; itemId: string; categoryId: string }[]): Float32Array {
    const n = pairs.length;
    const rows = this.rowsOfPairs(pairs);
    const inputs = this.gather(rows);
    const scores = this.scoreGathered(inputs);
    const tau = this.servingTau;
    if (tau !== 0 && this.features !== null) for (let i = 0; i < n; i++) scores[i]! -= tau * inputs.wide[i * WIDE_FEATURES + CATEGORY_LOG_COUNT]!;
    return scores;
  }

  /** Table rows of (user, item, category) pairs, without recording them (serving path). */
  private rowsOfPairs(pairs: readonly { userId: string; itemId: string; categoryId: string }[]): BatchRows {
    const n = pairs.length;
    const rows: BatchRows = { users: new Int32Array(n), items: new Int32Array(n), categories: new Int32Array(n), length: n };
    for (let i = 0; i < n; i++) {
      const p = pairs[i]!;
      rows.users[i] = this.users.peekRow(p.userId);
      rows.items[i] = this.items.peekRow(p.itemId);
      rows.categories[i] = this.categories.peekRow(p.categoryId);
    }
    return rows;
  }

  /**
   * The item's latent vector (item GMF + category GMF, then item MLP and category MLP
   * values): the hook for the balance core's synthetic-minority interpolation.
   */
  itemEmbedding(itemId: string, categoryId: string): Float32Array {
    const { gmfDim: g, mlpDim: m } = this.config;
    const w = this.rowWidth;
    const io = this.items.peekRow(itemId) * w;
    const co = this.categories.peekRow(categoryId) * w;
    const out = new Float32Array(g + 2 * m);
    for (let d = 0; d < g; d++) out[d] = this.itemTable[io + d]! + this.categoryTable[co + d]!;
    for (let d = 0; d < m; d++) {
      out[g + d] = this.itemTable[io + g + d]!;
      out[g + m + d] = this.categoryTable[co + g + d]!;
    }
    return out;
  }

  /** The user's row (GMF values then MLP values), a copy. */
  userEmbedding(userId: string): Float32Array {
    const o = this.users.peekRow(userId) * this.rowWidth;
    return this.userTable.slice(o, o + this.rowWidth);
  }

  /** Collision estimates of the three hashed tables for the ids seen in training. */
  collisionStats(): { users: CollisionEstimate; items: CollisionEstimate; categories: CollisionEstimate } {
    return { users: this.users.collisions(), items: this.items.collisions(), categories: this.categories.collisions() };
  }

  /** Number of trainable parameters. */
  parameterCount(): number {
    return this.userTable.length + this.itemTable.length + this.categoryTable.length + this.dense.reduce((s, d) => s + d.length, 0);
  }

  dispose(): void {
    this.scorer?.dispose();
    this.scorer = null;
    this.denseChanged();
    this.disposed = true;
  }

  private assertLive(): void {
    if (this.disposed) throw new RebalancerError('REB_MODEL_INVALID', 'the model has been disposed');
  }
}

/**
 * The network on gathered inputs. `dense` = [W1, b1, …, WL, bL, Wout, bout], then Wwide
 * when `wide` (the [n, WIDE_FEATURES] count features) is given: logit += wide·Wwide.
 * Fused matMul+bias+ReLU keeps the op (and tensor) count per layer at one.
 */
export function forwardLogits(userGmf: tf.Tensor, itemGmf: tf.Tensor, mlpInput: tf.Tensor, dense: readonly tf.Tensor[], wide: tf.Tensor2D | null = null): tf.Tensor1D {
  const deep = wide === null ? dense.length : dense.length - 1;
  const joined = forwardJoined(userGmf, itemGmf, mlpInput, dense.slice(0, deep - 2));
  let out = tf.fused.matMul({ a: joined, b: dense[deep - 2] as tf.Tensor2D, bias: dense[deep - 1] });
  if (wide !== null) out = tf.add(out, tf.matMul(wide, dense[deep] as tf.Tensor2D));
  return tf.reshape(out, [-1]) as tf.Tensor1D;
}

/**
 * The output layer's input: [GMF user ⊙ item, last hidden layer], through the hidden layers
 * `hidden` = [W1, b1, …, WL, bL] (online bagging puts its K output heads on it).
 */
export function forwardJoined(userGmf: tf.Tensor, itemGmf: tf.Tensor, mlpInput: tf.Tensor, hidden: readonly tf.Tensor[]): tf.Tensor2D {
  const gmf = tf.mul(userGmf, itemGmf);
  let h = mlpInput as tf.Tensor2D;
  for (let l = 0; l < hidden.length / 2; l++) {
    h = tf.fused.matMul({ a: h, b: hidden[2 * l] as tf.Tensor2D, bias: hidden[2 * l + 1], activation: 'relu' }) as tf.Tensor2D;
  }
  return tf.concat2d([gmf as tf.Tensor2D, h], 1);
}

/** Creates the model. Throws REB_MODEL_BACKEND unless the native TensorFlow backend is active. */
export function createModel(config: Partial<ModelConfig>, rng: Rng): RecModel {
  assertNativeBackend();
  return new RecModel(resolveModelConfig(config), rng);
}

/** The native backend is the tested path; the pure-JS backend must never be a silent fallback. */
export function assertNativeBackend(): void {
  const backend = tf.getBackend();
  if (backend !== 'tensorflow') {
    throw new RebalancerError('REB_MODEL_BACKEND', `the native TensorFlow backend is required, but tfjs is running on '${backend}'`, { backend });
  }
}

function normalArray(n: number, std: number, rng: Rng | null): Float32Array {
  const a = new Float32Array(n);
  if (std === 0 || rng === null) return a;
  for (let i = 0; i < n; i++) a[i] = rng.normal() * std;
  return a;
}
