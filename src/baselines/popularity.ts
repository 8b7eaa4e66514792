/**
 * Popularity references: an item's score is its count of positives so far, plain or
 * exponentially decayed by the number of positives since (not by wall time, so the
 * half-life means the same on any log's time scale).
 *
 * Ties: equal counts give exactly equal scores, and the scorer adds no tie-break of its
 * own; the harness's rankOutcome counts a tied candidate as half a place above the positive
 * (the expected rank under a uniformly random tie-break). Items never seen score 0.
 */
import { checkOut, ensureLength, RowIndex } from './rows.js';
import type { ReferenceConfig } from './options.js';
import type { ReferenceEvent, ReferenceScorer, ScoredItem } from './types.js';

/** score(i) = number of positives of item i so far. O(1) per observe, O(1) per candidate. */
export class PopularityScorer implements ReferenceScorer {
  readonly name = 'popularity';
  readonly description = 'positives per item so far (all history, same for every user)';
  private readonly labelWeights: ReferenceConfig['labelWeights'];
  private readonly items = new RowIndex();
  private counts = new Float64Array(0);

  /** `config` as resolved by resolveReferenceOptions. */
  constructor(config: Pick<ReferenceConfig, 'labelWeights'>) {
    this.labelWeights = config.labelWeights;
  }

  observe(e: ReferenceEvent): void {
    if (!(this.labelWeights[e.type] > 0)) return;
    const row = this.items.add(e.itemId);
    this.counts = ensureLength(this.counts, row + 1);
    this.counts[row]!++;
  }

  score(_userId: string, items: readonly ScoredItem[], out: Float64Array): void {
    checkOut(this.name, items, out);
    for (let k = 0; k < items.length; k++) {
      const row = this.items.rowOf(items[k]!.itemId);
      out[k] = row < 0 ? 0 : this.counts[row]!;
    }
  }
}

/** Renormalise once the global scale reaches 2^900 (stored sums stay below 2^900·(1.5·H + 1) < 2^1023 for H ≤ 1e12). */
const RENORMALISE_EXPONENT = 900;

/**
 * score(i) = Σ over i's positives of 2^(−a/H), a = positives observed after that one (any
 * item), H = decayHalfLife. Equivalently n_i ← n_i·2^(−1/H) for every item at each
 * positive, then +1 for its item.
 *
 * O(1) per observe with a global growing scale (the forward-decay trick, Cormode et al.,
 * ICDE 2009): the k-th positive adds g_k = 2^(k/H) to its item's stored sum v_i, and
 * score(i) = v_i / g_now. When log2 g reaches 900, every v_i is divided by g and counting
 * restarts at 1: O(items) once per 900·H positives, so amortised O(items / (900·H)).
 */
export class DecayedPopularityScorer implements ReferenceScorer {
  readonly name = 'popularity_decayed';
  readonly description: string;
  private readonly labelWeights: ReferenceConfig['labelWeights'];
  private readonly halfLife: number;
  private readonly items = new RowIndex();
  private sums = new Float64Array(0);
  /** Positives since the last renormalisation; the scale is 2^(sinceRenormalise / H). */
  private sinceRenormalise = 0;
  private scale = 1;

  /** `config` as resolved by resolveReferenceOptions. */
  constructor(config: Pick<ReferenceConfig, 'labelWeights' | 'decayHalfLife'>) {
    this.labelWeights = config.labelWeights;
    this.halfLife = config.decayHalfLife;
    this.description = `positives per item, halved every ${config.decayHalfLife} positives (recency-weighted popularity)`;
  }

  observe(e: ReferenceEvent): void {
    if (!(this.labelWeights[e.type] > 0)) return;
    const row = this.items.add(e.itemId);
    this.sums = ensureLength(this.sums, row + 1);
    if ((this.sinceRenormalise + 1) / this.halfLife > RENORMALISE_EXPONENT) this.renormalise();
    this.sinceRenormalise++;
    this.scale = Math.pow(2, this.sinceRenormalise / this.halfLife);
    this.sums[row]! += this.scale;
  }

  score(_userId: string, items: readonly ScoredItem[], out: Float64Array): void {
    checkOut(this.name, items, out);
    const inv = 1 / this.scale;
    for (let k = 0; k < items.length; k++) {
      const row = this.items.rowOf(items[k]!.itemId);
      out[k] = row < 0 ? 0 : this.sums[row]! * inv;
    }
  }

  /** Re-expresses every stored sum relative to the latest positive (scale 1). */
  private renormalise(): void {
    const inv = 1 / this.scale;
    const n = this.items.size;
    for (let r = 0; r < n; r++) this.sums[r]! *= inv;
    this.sinceRenormalise = 0;
    this.scale = 1;
  }
}
