/**
 * Small dense-layer kernels in plain JS for the snapshot scorer (snapshot.ts): double sums,
 * several independent accumulators per loop (so additions do not wait on each other) and
 * no unpredictable branch in the ReLU. No tfjs.
 *
 * Operands are plain arrays built by `doubles` / `ints`, not typed arrays. V8 keeps such an
 * array in one elements kind (packed doubles, or packed small integers for indices), so
 * every load in a kernel sees one kind, and, unlike a typed-array load, needs no check for a
 * detached buffer: V8 adds that check to every typed-array access in the process once any
 * ArrayBuffer has been transferred, which the main thread does when it posts training
 * batches to the worker. Measured on this machine (2,000 candidates, layers 64-32-16): the
 * hidden layers took 2.5 ms on Float64Arrays, 3.2 ms after one transfer, 2.2 ms on plain
 * arrays either way.
 */

/** n zeros in a packed-doubles array (pushing a non-integer first fixes the elements kind; fill keeps it). */
export function doubles(n: number): number[] {
  const a: number[] = [];
  for (let i = 0; i < n; i++) a.push(0.5);
  return a.fill(0);
}

/** A packed-doubles copy of `src`. */
export function doublesFrom(src: ArrayLike<number>): number[] {
  const a = doubles(src.length);
  for (let i = 0; i < src.length; i++) a[i] = src[i]!;
  return a;
}

/**
 * n zeros in a packed small-integer array (indices and offsets). Store only small integers
 * in these: one stored double turns the kind of every array later made here to doubles.
 */
export function ints(n: number): number[] {
  const a: number[] = [];
  for (let i = 0; i < n; i++) a.push(0);
  return a;
}

/**
 * out[o + j] = Σ_{d<k} x_d·W[d, j] for W [k, width] row-major starting at `wo`: a dense
 * matrix-vector product, eight outputs at a time (independent sums, each x_d read once per
 * eight weights), then one.
 */
export function linear(x: readonly number[], k: number, w: readonly number[], wo: number, width: number, out: number[], o: number): void {
  let j = 0;
  for (; j + 8 <= width; j += 8) {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let s4 = 0;
    let s5 = 0;
    let s6 = 0;
    let s7 = 0;
    for (let d = 0; d < k; d++) {
      const v = x[d]!;
      const r = wo + d * width + j;
      s0 += v * w[r]!;
      s1 += v * w[r + 1]!;
      s2 += v * w[r + 2]!;
      s3 += v * w[r + 3]!;
      s4 += v * w[r + 4]!;
      s5 += v * w[r + 5]!;
      s6 += v * w[r + 6]!;
      s7 += v * w[r + 7]!;
    }
    out[o + j] = s0;
    out[o + j + 1] = s1;
    out[o + j + 2] = s2;
    out[o + j + 3] = s3;
    out[o + j + 4] = s4;
    out[o + j + 5] = s5;
    out[o + j + 6] = s6;
    out[o + j + 7] = s7;
  }
  for (; j < width; j++) {
    let s = 0;
    for (let d = 0; d < k; d++) s += x[d]! * w[wo + d * width + j]!;
    out[o + j] = s;
  }
}

/**
 * One hidden layer after the first on a sparse input (the non-zero activations `val` at
 * `idx`, `nnz` of them): out_j = relu(b_j + Σ_t val_t·W[idx_t, j]) for W [·, width]
 * row-major, written as a sparse list (outIdx, outVal); returns its length. Eight outputs
 * at a time so that each input value is read once per eight weights and the eight sums
 * are independent (no add-latency chain); then four, then one.
 */
export function sparseReluLayer(idx: readonly number[], val: readonly number[], nnz: number, w: readonly number[], b: readonly number[], width: number, outIdx: number[], outVal: number[], off: number[]): number {
  for (let t = 0; t < nnz; t++) off[t] = idx[t]! * width;
  let n = 0;
  let j = 0;
  for (; j + 8 <= width; j += 8) {
    let s0 = b[j]!;
    let s1 = b[j + 1]!;
    let s2 = b[j + 2]!;
    let s3 = b[j + 3]!;
    let s4 = b[j + 4]!;
    let s5 = b[j + 5]!;
    let s6 = b[j + 6]!;
    let s7 = b[j + 7]!;
    for (let t = 0; t < nnz; t++) {
      const v = val[t]!;
      const o = off[t]! + j;
      s0 += v * w[o]!;
      s1 += v * w[o + 1]!;
      s2 += v * w[o + 2]!;
      s3 += v * w[o + 3]!;
      s4 += v * w[o + 4]!;
      s5 += v * w[o + 5]!;
      s6 += v * w[o + 6]!;
      s7 += v * w[o + 7]!;
    }
    n = push(outIdx, outVal, n, j, s0);
    n = push(outIdx, outVal, n, j + 1, s1);
    n = push(outIdx, outVal, n, j + 2, s2);
    n = push(outIdx, outVal, n, j + 3, s3);
    n = push(outIdx, outVal, n, j + 4, s4);
    n = push(outIdx, outVal, n, j + 5, s5);
    n = push(outIdx, outVal, n, j + 6, s6);
    n = push(outIdx, outVal, n, j + 7, s7);
  }
  for (; j + 4 <= width; j += 4) {
    let s0 = b[j]!;
    let s1 = b[j + 1]!;
    let s2 = b[j + 2]!;
    let s3 = b[j + 3]!;
    for (let t = 0; t < nnz; t++) {
      const v = val[t]!;
      const o = off[t]! + j;
      s0 += v * w[o]!;
      s1 += v * w[o + 1]!;
      s2 += v * w[o + 2]!;
      s3 += v * w[o + 3]!;
    }
    n = push(outIdx, outVal, n, j, s0);
    n = push(outIdx, outVal, n, j + 1, s1);
    n = push(outIdx, outVal, n, j + 2, s2);
    n = push(outIdx, outVal, n, j + 3, s3);
  }
  for (; j < width; j++) {
    let s = b[j]!;
    for (let t = 0; t < nnz; t++) s += val[t]! * w[off[t]! + j]!;
    n = push(outIdx, outVal, n, j, s);
  }
  return n;
}

/** Appends (j, s) to a sparse activation list when relu(s) > 0, without a branch; returns the new length. */
function push(outIdx: number[], outVal: number[], n: number, j: number, s: number): number {
  outIdx[n] = j;
  outVal[n] = s;
  return n + +(s > 0);
}

/**
 * The MLP tower's weights after the first layer: widths [h1, …, hL], layers 2..L (W_l
 * [h_{l-1}, h_l] row-major and b_l), Wout's MLP rows [hL] and b_out.
 */
export interface TowerWeights {
  readonly widths: readonly number[];
  readonly hiddenW: readonly Float32Array[];
  readonly hiddenB: readonly Float32Array[];
  readonly outMlp: Float32Array;
  readonly outBias: number;
}

/**
 * For candidates 0..n-1, from candidate i's first-layer pre-activation P_i (row i of `pre`,
 * [n, h1]) and the user part a: out_i = b_out + w_hᵀh_L with h_1 = relu(P_i + a) and
 * h_l = relu(W_lᵀh_{l-1} + b_l), the zeros relu leaves skipped. Implemented here in JS and
 * in kernels-wasm.ts with WebAssembly SIMD; both compute every sum in the same order
 * (bit-identical results).
 */
export interface TowerKernel {
  readonly kind: 'js' | 'wasm';
  towers(pre: Float64Array, n: number, userPre: readonly number[], out: Float64Array): void;
}

/** The tower in plain JS (`sparseReluLayer`), on plain arrays. */
export class JsTower implements TowerKernel {
  readonly kind = 'js';
  private readonly widths: number[];
  private readonly hiddenW: number[][];
  private readonly hiddenB: number[][];
  private readonly outMlp: number[];
  private readonly outBias: number;
  // Two (index, value) lists of the non-zero activations, and row offsets.
  private readonly idxA: number[];
  private readonly valA: number[];
  private readonly idxB: number[];
  private readonly valB: number[];
  private readonly offsets: number[];

  constructor(weights: TowerWeights) {
    this.widths = [...weights.widths];
    this.hiddenW = weights.hiddenW.map(doublesFrom);
    this.hiddenB = weights.hiddenB.map(doublesFrom);
    this.outMlp = doublesFrom(weights.outMlp);
    this.outBias = weights.outBias;
    const widest = Math.max(...this.widths);
    this.idxA = ints(widest);
    this.valA = doubles(widest);
    this.idxB = ints(widest);
    this.valB = doubles(widest);
    this.offsets = ints(widest);
  }

  towers(pre: Float64Array, n: number, userPre: readonly number[], out: Float64Array): void {
    const h1 = this.widths[0]!;
    for (let i = 0; i < n; i++) out[i] = this.tower(pre, i * h1, userPre);
  }

  private tower(pre: Float64Array, po: number, userPre: readonly number[]): number {
    const { widths, hiddenW, hiddenB, idxA, valA, idxB, valB, offsets, outMlp } = this;
    // Layer 1: relu(P_i + a), kept as the list of its non-zero entries (written
    // unconditionally and counted by the comparison: no unpredictable branch).
    const h1 = widths[0]!;
    let nnz = 0;
    for (let j = 0; j < h1; j++) {
      const z = pre[po + j]! + userPre[j]!;
      idxA[nnz] = j;
      valA[nnz] = z;
      nnz += +(z > 0);
    }
    let idx = idxA;
    let val = valA;
    for (let l = 0; l < hiddenW.length; l++) {
      const toB = idx === idxA;
      const outIdx = toB ? idxB : idxA;
      const outVal = toB ? valB : valA;
      nnz = sparseReluLayer(idx, val, nnz, hiddenW[l]!, hiddenB[l]!, widths[l + 1]!, outIdx, outVal, offsets);
      idx = outIdx;
      val = outVal;
    }
    let s = this.outBias;
    for (let t = 0; t < nnz; t++) s += val[t]! * outMlp[idx[t]!]!;
    return s;
  }
}
