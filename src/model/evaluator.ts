/**
 * Prequential ("test, then train") evaluation: each fresh positive is ranked by the
 * current model among sampled candidate items before the model learns from it.
 *
 * For a positive ranked r (0-based: r candidates scored strictly higher, ties count half)
 * among N sampled candidates: hit@K = [r < K], NDCG@K = [r < K]/log2(r + 2) (one relevant
 * item, so IDCG = 1), AUC = (candidates scored below + ½·ties)/N. Each category keeps its
 * last H evaluations in a ring buffer with running sums; macro (balanced) = mean over
 * categories with at least one evaluation in their horizon. Micro averages come from one
 * more ring of the last H evaluations over all categories, so they keep the stream's mix
 * (per-category rings would weight a rare category as much as a frequent one once both
 * are full).
 */
import { RebalancerError } from '../errors.js';

export interface CategoryEval {
  hitRate: number;
  ndcg: number;
  auc: number;
  /** Evaluations in the horizon. */
  count: number;
}

export interface EvalSummary {
  microHitRate: number;
  macroHitRate: number;
  microNdcg: number;
  macroNdcg: number;
  /** Micro AUC. */
  auc: number;
  macroAuc: number;
  /** Evaluations in the overall (micro) horizon. */
  count: number;
  /** Evaluations recorded since creation. */
  totalEvaluated: number;
  perCategory: Record<string, CategoryEval>;
}

/** One ring buffer of evaluations with its running sums (EvaluatorState). */
export interface RingState {
  hits: Float32Array;
  ndcg: Float32Array;
  auc: Float32Array;
  size: number;
  pos: number;
  sumHit: number;
  sumNdcg: number;
  sumAuc: number;
}

/** The evaluator's tallies: per category in first-seen order, and overall. */
export interface EvaluatorState {
  k: number;
  horizon: number;
  total: number;
  overall: RingState;
  categories: Array<{ categoryId: string; ring: RingState }>;
}

class CategoryRing {
  readonly hits: Float32Array;
  readonly ndcg: Float32Array;
  readonly auc: Float32Array;
  size = 0;
  pos = 0;
  sumHit = 0;
  sumNdcg = 0;
  sumAuc = 0;

  constructor(horizon: number) {
    this.hits = new Float32Array(horizon);
    this.ndcg = new Float32Array(horizon);
    this.auc = new Float32Array(horizon);
  }

  push(hit: number, ndcg: number, auc: number): void {
    const h = this.hits.length;
    if (this.size === h) {
      this.sumHit -= this.hits[this.pos]!;
      this.sumNdcg -= this.ndcg[this.pos]!;
      this.sumAuc -= this.auc[this.pos]!;
    } else {
      this.size++;
    }
    this.hits[this.pos] = hit;
    this.ndcg[this.pos] = ndcg;
    this.auc[this.pos] = auc;
    this.sumHit += hit;
    this.sumNdcg += ndcg;
    this.sumAuc += auc;
    this.pos = (this.pos + 1) % h;
  }
}

export interface RankOutcome {
  hit: number;
  ndcg: number;
  auc: number;
}

/**
 * Hit@K, NDCG@K and AUC of one positive ranked among sampled candidates
 * (`candidateScores[from, to)`); ties count half. Writes into `out` (no allocation)
 * and returns false when there are no candidates.
 */
export function rankOutcome(positiveScore: number, candidateScores: ArrayLike<number>, from: number, to: number, k: number, out: RankOutcome): boolean {
  const n = to - from;
  if (n <= 0) return false;
  let above = 0;
  let ties = 0;
  for (let i = from; i < to; i++) {
    const s = candidateScores[i]!;
    if (s > positiveScore) above++;
    else if (s === positiveScore) ties++;
  }
  const rank = above + ties / 2;
  out.hit = rank < k ? 1 : 0;
  out.ndcg = out.hit === 1 ? 1 / Math.log2(rank + 2) : 0;
  out.auc = (n - above - ties / 2) / n;
  return true;
}

export class PrequentialEvaluator {
  readonly k: number;
  readonly horizon: number;
  private readonly rings = new Map<string, CategoryRing>();
  private overall: CategoryRing;
  private total = 0;

  private readonly outcome: RankOutcome = { hit: 0, ndcg: 0, auc: 0 };

  constructor(k: number, horizon: number) {
    this.k = k;
    this.horizon = horizon;
    this.overall = new CategoryRing(horizon);
  }

  /**
   * Records one evaluation from the positive's score and its candidates' scores
   * (`candidateScores[from, to)`).
   */
  record(categoryId: string, positiveScore: number, candidateScores: ArrayLike<number>, from: number, to: number): void {
    if (!rankOutcome(positiveScore, candidateScores, from, to, this.k, this.outcome)) return;
    const { hit, ndcg, auc } = this.outcome;
    let ring = this.rings.get(categoryId);
    if (ring === undefined) {
      ring = new CategoryRing(this.horizon);
      this.rings.set(categoryId, ring);
    }
    ring.push(hit, ndcg, auc);
    this.overall.push(hit, ndcg, auc);
    this.total++;
  }

  snapshot(): EvalSummary {
    let macroHit = 0;
    let macroNdcg = 0;
    let macroAuc = 0;
    let categories = 0;
    const perCategory: Record<string, CategoryEval> = {};
    for (const [c, r] of this.rings) {
      if (r.size === 0) continue;
      const e: CategoryEval = { hitRate: r.sumHit / r.size, ndcg: r.sumNdcg / r.size, auc: r.sumAuc / r.size, count: r.size };
      perCategory[c] = e;
      macroHit += e.hitRate;
      macroNdcg += e.ndcg;
      macroAuc += e.auc;
      categories++;
    }
    const o = this.overall;
    const count = o.size;
    const micro = (s: number): number => (count === 0 ? 0 : s / count);
    const macro = (s: number): number => (categories === 0 ? 0 : s / categories);
    return {
      microHitRate: micro(o.sumHit),
      macroHitRate: macro(macroHit),
      microNdcg: micro(o.sumNdcg),
      macroNdcg: macro(macroNdcg),
      auc: micro(o.sumAuc),
      macroAuc: macro(macroAuc),
      count,
      totalEvaluated: this.total,
      perCategory,
    };
  }

  /** A copy of the tallies (to hand the evaluator over to another thread: src/train/). */
  exportState(): EvaluatorState {
    const copy = (r: CategoryRing): RingState => ({ hits: r.hits.slice(), ndcg: r.ndcg.slice(), auc: r.auc.slice(), size: r.size, pos: r.pos, sumHit: r.sumHit, sumNdcg: r.sumNdcg, sumAuc: r.sumAuc });
    return { k: this.k, horizon: this.horizon, total: this.total, overall: copy(this.overall), categories: [...this.rings].map(([categoryId, r]) => ({ categoryId, ring: copy(r) })) };
  }

  /**
   * Replaces the tallies with exported ones (same K and horizon), keeping the categories'
   * order and the running sums as they were, so later summaries equal the exporter's.
   */
  restoreState(s: EvaluatorState): void {
    const h = this.horizon;
    const bad = (r: RingState): boolean => r.hits.length !== h || r.ndcg.length !== h || r.auc.length !== h || !(r.size >= 0 && r.size <= h) || !(r.pos >= 0 && r.pos < h);
    if (s.k !== this.k || s.horizon !== h || bad(s.overall) || s.categories.some((c) => bad(c.ring))) {
      throw new RebalancerError('REB_MODEL_INVALID', `evaluator state (K ${s.k}, horizon ${s.horizon}) does not match this evaluator (K ${this.k}, horizon ${h})`);
    }
    const ring = (r: RingState): CategoryRing => {
      const out = new CategoryRing(h);
      out.hits.set(r.hits);
      out.ndcg.set(r.ndcg);
      out.auc.set(r.auc);
      out.size = r.size;
      out.pos = r.pos;
      out.sumHit = r.sumHit;
      out.sumNdcg = r.sumNdcg;
      out.sumAuc = r.sumAuc;
      return out;
    };
    this.rings.clear();
    for (const c of s.categories) this.rings.set(c.categoryId, ring(c.ring));
    this.overall = ring(s.overall);
    this.total = s.total;
  }

  reset(): void {
    this.rings.clear();
    this.overall = new CategoryRing(this.horizon);
    this.total = 0;
  }
}
