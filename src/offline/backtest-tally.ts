/**
 * What a backtest row (a strategy or a reference scorer) accumulates while the stream
 * goes by: sums of hit@K, NDCG@K and AUC (from the model package's `rankOutcome`) per
 * category index and overall, the categories of its probe recommendations, and a time
 * series of micro and macro HR@K per interval of the stream and cumulative up to each
 * point (the last cumulative point is the whole-run figure). Plain sums only: every
 * per-category figure, the tail and the macro averages are derived at the end (figures.ts
 * of the harness), so nothing needs a first pass over the events.
 */
import { z } from 'zod';
import type { RankOutcome } from '../model/index.js';

export interface SeriesPoint {
  /** Stream position (valid events so far) at the end of the interval. */
  events: number;
  /** HR@K of the evaluations in the interval: all of them (micro), mean over categories (macro). */
  micro: number;
  macro: number;
  /** Evaluations from the start of the stream to this point. */
  evaluated: number;
  /**
   * HR@K of every evaluation from the start of the stream to this point: micro over all of
   * them, macro the mean over the categories evaluated so far of each one's HR@K. At the
   * last point these are the row's whole-run micro and macro HR@K (0 before the first evaluation).
   */
  cumulativeMicro: number;
  cumulativeMacro: number;
}

/** A tally as plain data (what a worker sends back). */
export interface TallyData {
  n: number;
  hit: number;
  ndcg: number;
  auc: number;
  /** Per category index. */
  catN: number[];
  catHit: number[];
  catNdcg: number[];
  catAuc: number[];
  /** Probe recommendation slots per category index. */
  recommended: number[];
  recSlots: number;
  series: SeriesPoint[];
}

export const tallyDataSchema: z.ZodType<TallyData> = z.object({
  n: z.number(),
  hit: z.number(),
  ndcg: z.number(),
  auc: z.number(),
  catN: z.array(z.number()),
  catHit: z.array(z.number()),
  catNdcg: z.array(z.number()),
  catAuc: z.array(z.number()),
  recommended: z.array(z.number()),
  recSlots: z.number(),
  series: z.array(z.object({ events: z.number(), micro: z.number(), macro: z.number(), evaluated: z.number(), cumulativeMicro: z.number(), cumulativeMacro: z.number() })),
});

function grown(a: Float64Array<ArrayBuffer>, length: number): Float64Array<ArrayBuffer> {
  if (length <= a.length) return a;
  const b = new Float64Array(Math.max(length, 2 * a.length, 16));
  b.set(a);
  return b;
}

export class EvalTally {
  n = 0;
  hit = 0;
  ndcg = 0;
  auc = 0;
  recSlots = 0;
  private catN = new Float64Array(0);
  private catHit = new Float64Array(0);
  private catNdcg = new Float64Array(0);
  private catAuc = new Float64Array(0);
  private recommended = new Float64Array(0);
  /** Current interval: per category count and hits, the categories touched, overall sums. */
  private intN = new Float64Array(0);
  private intHit = new Float64Array(0);
  private touched: number[] = [];
  private intTotal = 0;
  private intHits = 0;
  private categories = 0;
  private readonly series: SeriesPoint[] = [];

  private ensure(category: number): void {
    if (category < this.categories) return;
    this.categories = category + 1;
    this.catN = grown(this.catN, this.categories);
    this.catHit = grown(this.catHit, this.categories);
    this.catNdcg = grown(this.catNdcg, this.categories);
    this.catAuc = grown(this.catAuc, this.categories);
    this.recommended = grown(this.recommended, this.categories);
    this.intN = grown(this.intN, this.categories);
    this.intHit = grown(this.intHit, this.categories);
  }

  record(category: number, o: Readonly<RankOutcome>): void {
    this.ensure(category);
    this.n++;
    this.hit += o.hit;
    this.ndcg += o.ndcg;
    this.auc += o.auc;
    this.catN[category]!++;
    this.catHit[category]! += o.hit;
    this.catNdcg[category]! += o.ndcg;
    this.catAuc[category]! += o.auc;
    if (this.intN[category] === 0) this.touched.push(category);
    this.intN[category]!++;
    this.intHit[category]! += o.hit;
    this.intTotal++;
    this.intHits += o.hit;
  }

  /** One slot of a probe recommendation fell in this category. */
  recordRecommended(category: number): void {
    this.ensure(category);
    this.recommended[category]!++;
    this.recSlots++;
  }

  /** Closes the interval ending at stream position `events` (a point even when it had no evaluations). */
  seriesPoint(events: number): void {
    let macro = 0;
    for (const c of this.touched) {
      macro += this.intHit[c]! / this.intN[c]!;
      this.intN[c] = 0;
      this.intHit[c] = 0;
    }
    const cats = this.touched.length;
    // Cumulative macro: O(categories) per point, a few dozen points per run.
    let cumulativeMacro = 0;
    let evaluatedCategories = 0;
    for (let c = 0; c < this.categories; c++) {
      const n = this.catN[c]!;
      if (n === 0) continue;
      cumulativeMacro += this.catHit[c]! / n;
      evaluatedCategories++;
    }
    this.series.push({
      events,
      micro: this.intTotal > 0 ? this.intHits / this.intTotal : 0,
      macro: cats > 0 ? macro / cats : 0,
      evaluated: this.n,
      cumulativeMicro: this.n > 0 ? this.hit / this.n : 0,
      cumulativeMacro: evaluatedCategories > 0 ? cumulativeMacro / evaluatedCategories : 0,
    });
    this.touched = [];
    this.intTotal = 0;
    this.intHits = 0;
  }

  get lastSeriesPosition(): number {
    return this.series.length > 0 ? this.series[this.series.length - 1]!.events : 0;
  }

  data(): TallyData {
    const c = this.categories;
    const list = (a: Float64Array): number[] => Array.from(a.subarray(0, c));
    return {
      n: this.n,
      hit: this.hit,
      ndcg: this.ndcg,
      auc: this.auc,
      catN: list(this.catN),
      catHit: list(this.catHit),
      catNdcg: list(this.catNdcg),
      catAuc: list(this.catAuc),
      recommended: list(this.recommended),
      recSlots: this.recSlots,
      series: this.series.map((p) => ({ ...p })),
    };
  }
}

/**
 * Indices of the k highest of scores[from, to) into out[0, k') (k' = min(k, to − from)),
 * best first; ties go to the lower index. Returns k'. O((to − from)·k), fine for small K.
 */
export function topK(scores: ArrayLike<number>, from: number, to: number, k: number, out: Int32Array): number {
  let m = 0;
  for (let i = from; i < to; i++) {
    const s = scores[i]!;
    if (m === k && !(s > scores[out[m - 1]!]!)) continue;
    let j = m < k ? m++ : m - 1;
    while (j > 0 && s > scores[out[j - 1]!]!) {
      out[j] = out[j - 1]!;
      j--;
    }
    out[j] = i;
  }
  return m;
}
