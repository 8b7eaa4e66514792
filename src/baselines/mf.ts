/**
 * Online biased matrix factorisation for implicit feedback, trained by one SGD pass over
 * the stream (the "reference" the design asks for; cf. River's reco.BiasedMF used online).
 *
 * Model (Koren, Bell, Volinsky, IEEE Computer 2009, with a logistic link for implicit
 * feedback): ŷ(u, i) = μ + b_u + b_i + p_u·q_i, P(positive) = σ(ŷ). μ and b_u do not
 * change the ranking of items for one user; score() still returns the full logit.
 *
 * Per positive event (u, i): one SGD step on (u, i, label 1), then `negatives` steps on
 * (u, j, label 0) with j drawn uniformly from the other items seen so far (one draw each,
 * no rejection; none while i is the only item), each step on the then-current parameters.
 * One step, with g = σ(ŷ) − label (gradient of the log loss w.r.t. ŷ), η/λ the factors'
 * learning rate and L2 coefficient, η_b/λ_b the biases', using the pre-step values on the right:
 *   μ ← μ − η_b·g
 *   b_u ← b_u − η_b·(g + λ_b·b_u)      b_i ← b_i − η_b·(g + λ_b·b_i)
 *   p_u ← p_u − η·(g·q_i + λ·p_u)      q_i ← q_i − η·(g·p_u + λ·q_i)
 * Rows are created on first sight with factors ~ N(0, initStd²) from the seeded Rng, biases 0.
 *
 * Cost O(factors × (1 + negatives)) per observe; memory O(factors × (users + items)) in
 * growable Float64Arrays, one row per distinct id (Map from id to row).
 */
import type { Rng } from '../balance/index.js';
import type { MfConfig, ReferenceConfig } from './options.js';
import { checkOut, ensureLength, RowIndex } from './rows.js';
import type { ReferenceEvent, ReferenceScorer, ScoredItem } from './types.js';

/** A copy of one row's parameters (for inspection and tests). */
export interface MfRow {
  readonly bias: number;
  readonly factors: Float64Array;
}

export class OnlineBiasedMf implements ReferenceScorer {
  readonly name = 'mf';
  readonly description: string;
  readonly config: MfConfig;
  private readonly labelWeights: ReferenceConfig['labelWeights'];
  private readonly rng: Rng;
  private readonly users = new RowIndex();
  private readonly items = new RowIndex();
  private userBias = new Float64Array(0);
  private userFactors = new Float64Array(0);
  private itemBias = new Float64Array(0);
  private itemFactors = new Float64Array(0);
  private mu = 0;

  /** `config` as resolved by resolveReferenceOptions; `rng` is used by this scorer alone. */
  constructor(config: Pick<ReferenceConfig, 'labelWeights' | 'mf'>, rng: Rng) {
    this.config = config.mf;
    this.labelWeights = config.labelWeights;
    this.rng = rng;
    const m = config.mf;
    this.description = `online biased MF: ${m.factors} factors, ${m.negatives} uniform negatives/positive, logistic loss, SGD (lr ${m.learningRate}, bias lr ${m.biasLearningRate})`;
  }

  get globalBias(): number {
    return this.mu;
  }

  /** The user's bias and factors (a copy), or undefined for a user never seen in a positive. */
  userRow(userId: string): MfRow | undefined {
    return copyRow(this.users.rowOf(userId), this.userBias, this.userFactors, this.config.factors);
  }

  /** The item's bias and factors (a copy), or undefined for an item never seen in a positive. */
  itemRow(itemId: string): MfRow | undefined {
    return copyRow(this.items.rowOf(itemId), this.itemBias, this.itemFactors, this.config.factors);
  }

  observe(e: ReferenceEvent): void {
    if (!(this.labelWeights[e.type] > 0)) return;
    const u = this.addUser(e.userId);
    const i = this.addItem(e.itemId);
    this.step(u, i, 1);
    const others = this.items.size - 1;
    if (others === 0) return;
    for (let k = 0; k < this.config.negatives; k++) {
      let j = this.rng.int(others);
      if (j >= i) j++;
      this.step(u, j, 0);
    }
  }

  score(userId: string, items: readonly ScoredItem[], out: Float64Array): void {
    checkOut(this.name, items, out);
    const F = this.config.factors;
    const u = this.users.rowOf(userId);
    const base = this.mu + (u < 0 ? 0 : this.userBias[u]!);
    const pu = u * F;
    const P = this.userFactors;
    const Q = this.itemFactors;
    for (let k = 0; k < items.length; k++) {
      const i = this.items.rowOf(items[k]!.itemId);
      if (i < 0) {
        out[k] = base;
        continue;
      }
      let s = base + this.itemBias[i]!;
      if (u >= 0) {
        const qi = i * F;
        for (let f = 0; f < F; f++) s += P[pu + f]! * Q[qi + f]!;
      }
      out[k] = s;
    }
  }

  private step(u: number, i: number, label: number): void {
    const F = this.config.factors;
    const { learningRate: lr, regularisation: reg, biasLearningRate: blr, biasRegularisation: breg } = this.config;
    const P = this.userFactors;
    const Q = this.itemFactors;
    const pu = u * F;
    const qi = i * F;
    let z = this.mu + this.userBias[u]! + this.itemBias[i]!;
    for (let f = 0; f < F; f++) z += P[pu + f]! * Q[qi + f]!;
    const g = sigmoid(z) - label;
    this.mu -= blr * g;
    this.userBias[u]! -= blr * (g + breg * this.userBias[u]!);
    this.itemBias[i]! -= blr * (g + breg * this.itemBias[i]!);
    for (let f = 0; f < F; f++) {
      const p = P[pu + f]!;
      const q = Q[qi + f]!;
      P[pu + f] = p - lr * (g * q + reg * p);
      Q[qi + f] = q - lr * (g * p + reg * q);
    }
  }

  private addUser(id: string): number {
    const before = this.users.size;
    const row = this.users.add(id);
    if (row === before) {
      this.userBias = ensureLength(this.userBias, row + 1);
      this.userFactors = ensureLength(this.userFactors, (row + 1) * this.config.factors);
      this.initFactors(this.userFactors, row);
    }
    return row;
  }

  private addItem(id: string): number {
    const before = this.items.size;
    const row = this.items.add(id);
    if (row === before) {
      this.itemBias = ensureLength(this.itemBias, row + 1);
      this.itemFactors = ensureLength(this.itemFactors, (row + 1) * this.config.factors);
      this.initFactors(this.itemFactors, row);
    }
    return row;
  }

  private initFactors(a: Float64Array, row: number): void {
    const F = this.config.factors;
    const std = this.config.initStd;
    for (let f = 0; f < F; f++) a[row * F + f] = std * this.rng.normal();
  }
}

/** Logistic function, written to avoid exp overflow for large |z|. */
function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

function copyRow(row: number, bias: Float64Array, factors: Float64Array, F: number): MfRow | undefined {
  if (row < 0) return undefined;
  return { bias: bias[row]!, factors: factors.slice(row * F, (row + 1) * F) };
}
