/**
 * Serving-time logit adjustment with a strength that steers itself to a micro-accuracy
 * budget.
 *
 * Post-hoc logit adjustment (Menon et al., "Long-tail learning via logit adjustment",
 * ICLR 2021, §4) ranks by s(u, i) − τ·log π_c(i): the learned logit minus τ times the log
 * prior of the item's category, so tail items move up by how rare their category is. The
 * model is trained as it is (no weights, no resampling needed); only the ranking changes.
 *
 * Because only the ranking changes, the effect of every τ is measurable on the rankings the
 * service already computes: each prequentially evaluated positive was scored among its
 * candidates, and re-ranking those scores under another τ costs no model work. The
 * controller keeps, for a grid of τ values, decayed hit@K tallies overall (micro) and per
 * category (macro) of exactly those re-rankings, and serves the τ with the best macro
 * HR@K among the ones whose micro HR@K is at least (1 − maxMicroLoss) times the micro
 * HR@K of τ = 0, i.e. of the unadjusted model. The budget is a promise about the model's
 * own unadjusted ranking, measured on the live stream, not a tuning constant.
 *
 * Pure: no clock, no I/O. Decay is per evaluation (half-life in evaluations) with the
 * growth-scale trick (add g_t, g_t = 2^(t/H), rescale when it grows large), so a record
 * touches only its own category.
 */

import { z } from 'zod';

/** The τ values the controller compares (τ = 0 first: the unadjusted model). */
export const ADJUSTMENT_GRID: readonly number[] = Object.freeze([0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1]);

export interface AdjustmentConfig {
  /** Largest relative micro HR@K loss against τ = 0 the controller may spend (0 = never adjust). */
  maxMicroLoss: number;
  /** K of hit@K. */
  k: number;
  /** Half-life of the tallies, in evaluations. */
  halfLife: number;
  /** Evaluations (decayed weight) before the first τ other than 0 is chosen. */
  warmup: number;
  /** Re-choose τ every this many evaluations. */
  every: number;
}

/**
 * Half-life 2,000 evaluations: the cost of a τ changes as the model learns (early on, with
 * weak embeddings, the category prior carries more of the ranking and adjusting it costs
 * more), so the figures must follow the model; measured on the realistic profile (seeds
 * 11–12, skews 250 and 5000), a 2,000 half-life spent about half the budget and a 20,000
 * one about a tenth (it kept weighing the early, costlier rankings).
 */
export const DEFAULT_ADJUSTMENT_CONFIG: Readonly<AdjustmentConfig> = Object.freeze({ maxMicroLoss: 0.02, k: 10, halfLife: 2_000, warmup: 1_000, every: 64 });

/** Plain-data state (persisted with the trainer). */
export interface AdjustmentState {
  tau: number;
  records: number;
  /** Growth scale g_t. */
  scale: number;
  /** Σ g per category, and Σ g·hit per category × grid (row-major, grid-wide). */
  categories: string[];
  counts: number[];
  hits: number[];
}

/** Validates a persisted state (the hit tallies are categories × grid, row-major). */
export const adjustmentStateSchema: z.ZodType<AdjustmentState> = z
  .object({
    tau: z.number().min(0),
    records: z.number().int().min(0),
    scale: z.number().positive(),
    categories: z.array(z.string()),
    counts: z.array(z.number().min(0)),
    hits: z.array(z.number().min(0)),
  })
  .refine(
    (s) => s.counts.length === s.categories.length && s.hits.length === s.categories.length * ADJUSTMENT_GRID.length,
    'counts and hits must match the categories and the τ grid',
  );

/** The figures behind a choice: micro and macro HR@K per grid τ (decayed). */
export interface AdjustmentFigures {
  tau: number;
  grid: readonly number[];
  micro: number[];
  macro: number[];
  /** Effective evaluations in the tallies (Σ g / g_t). */
  weight: number;
}

const RESCALE_AT = 1e100;

export class AdjustmentController {
  readonly config: Readonly<AdjustmentConfig>;
  private tauNow = 0;
  private records = 0;
  private scale = 1;
  private readonly growth: number;
  private readonly index = new Map<string, number>();
  private readonly names: string[] = [];
  private counts: number[] = [];
  /** Per category, one Float64Array over the grid. */
  private hits: Float64Array[] = [];
  private readonly above = new Int32Array(ADJUSTMENT_GRID.length);


  constructor(config: Partial<AdjustmentConfig> = {}, state?: AdjustmentState) {
    this.config = Object.freeze({ ...DEFAULT_ADJUSTMENT_CONFIG, ...config });
    this.growth = Math.pow(2, 1 / this.config.halfLife);
    if (state !== undefined) {
      adjustmentStateSchema.parse(state);
      this.tauNow = this.config.maxMicroLoss > 0 ? state.tau : 0;
      this.records = state.records;
      this.scale = state.scale;
      const g = ADJUSTMENT_GRID.length;
      state.categories.forEach((name, c) => {
        this.index.set(name, c);
        this.names.push(name);
        this.counts.push(state.counts[c]!);
        this.hits.push(Float64Array.from(state.hits.slice(c * g, (c + 1) * g)));
      });
    }
  }

  /** The τ to serve with now. */
  get tau(): number {
    return this.tauNow;
  }

  /**
   * One evaluated positive: scores[base] is its logit, scores[base+1, end) its candidates';
   * logPrior[r] the log prior (up to a constant) of row r's category. Tallies hit@K of the
   * ranking under every grid τ; every `every` records, re-chooses τ.
   */
  record(categoryId: string, scores: ArrayLike<number>, logPrior: ArrayLike<number>, base: number, end: number): void {
    const grid = ADJUSTMENT_GRID;
    const above = this.above;
    above.fill(0);
    const s0 = scores[base]!;
    const p0 = logPrior[base]!;
    for (let r = base + 1; r < end; r++) {
      const ds = scores[r]! - s0;
      const dp = logPrior[r]! - p0;
      // Candidate r ranks above the positive under τ when ds − τ·dp > 0.
      for (let j = 0; j < grid.length; j++) if (ds - grid[j]! * dp > 0) above[j]!++;
    }
    let c = this.index.get(categoryId);
    if (c === undefined) {
      c = this.names.length;
      this.index.set(categoryId, c);
      this.names.push(categoryId);
      this.counts.push(0);
      this.hits.push(new Float64Array(grid.length));
    }
    const g = this.scale;
    this.counts[c]! += g;
    const h = this.hits[c]!;
    for (let j = 0; j < grid.length; j++) if (above[j]! < this.config.k) h[j]! += g;

    this.records++;
    const next = g * this.growth;
    if (next > RESCALE_AT) this.rescale(next);
    else this.scale = next;
    if (this.records % this.config.every === 0) this.choose();
  }

  /** Decayed micro and macro HR@K per grid τ, and the τ in use. */
  figures(): AdjustmentFigures {
    const grid = ADJUSTMENT_GRID;
    const micro = new Array<number>(grid.length).fill(0);
    const macro = new Array<number>(grid.length).fill(0);
    let total = 0;
    let cats = 0;
    // A category counts in the macro average while its decayed weight is at least half an
    // evaluation (it had one within about a half-life).
    const g = this.scale;
    for (let c = 0; c < this.names.length; c++) {
      const n = this.counts[c]!;
      total += n;
      const h = this.hits[c]!;
      for (let j = 0; j < grid.length; j++) micro[j]! += h[j]!;
      if (n < 0.5 * g) continue;
      cats++;
      for (let j = 0; j < grid.length; j++) macro[j]! += h[j]! / n;
    }
    for (let j = 0; j < grid.length; j++) {
      micro[j] = total > 0 ? micro[j]! / total : 0;
      macro[j] = cats > 0 ? macro[j]! / cats : 0;
    }
    return { tau: this.tauNow, grid, micro, macro, weight: total / g };
  }

  state(): AdjustmentState {
    const g = ADJUSTMENT_GRID.length;
    const hits = new Array<number>(this.names.length * g);
    this.hits.forEach((h, c) => {
      for (let j = 0; j < g; j++) hits[c * g + j] = h[j]!;
    });
    return {
      tau: this.tauNow,
      records: this.records,
      scale: this.scale,
      categories: [...this.names],
      counts: [...this.counts],
      hits,
    };
  }

  private choose(): void {
    if (this.config.maxMicroLoss <= 0) {
      this.tauNow = 0;
      return;
    }
    const f = this.figures();
    if (f.weight < this.config.warmup) return;
    const floor = (1 - this.config.maxMicroLoss) * f.micro[0]!;
    let best = 0;
    for (let j = 1; j < f.grid.length; j++) {
      if (f.micro[j]! >= floor && f.macro[j]! > f.macro[best]!) best = j;
    }
    this.tauNow = f.grid[best]!;
  }

  private rescale(next: number): void {
    this.counts = this.counts.map((n) => n / next);
    for (const h of this.hits) for (let j = 0; j < h.length; j++) h[j]! /= next;
    this.scale = 1;
  }
}
