/**
 * Streaming count features: the "wide" part of the model (Cheng et al., "Wide & Deep
 * Learning for Recommender Systems", DLRS 2016), kept as counts that move with every
 * positive instead of waiting for the embeddings to learn them.
 *
 * Why: the embeddings learn an item's popularity, a user's taste for a category and a
 * user's habit of coming back to an item only through many optimizer steps, one batch at a
 * time. On real interaction logs those three signals carry most of the ranking (a plain
 * popularity count is a strong baseline) and they change fast: new items rise and fade,
 * users come in bursts. Counts updated per positive give the model all three at once; the
 * model learns one weight per feature (how much each matters), and the embeddings learn
 * what counts cannot.
 *
 * Features of a (user, item, category) triple, all from counts of positives seen before:
 *   0  log(1 + decayed count of the item)      recent popularity (half-life in positives)
 *   1  log(1 + count of the item)              lifetime popularity
 *   2  log(1 + n_uc) − log(1 + n_u)            the user's affinity to the category (log share)
 *   3  log(1 + n_ui)                           the user's repeat interactions with the item
 *   4  log(1 + decayed count of the category)  recent popularity of the category
 * Tables are indexed by the model's hashed rows (bounded memory); (user, category) and
 * (user, item) pairs are hashed into `pairRows` slots (a collision merges two pairs' counts).
 *
 * Decay without touching every row: a stored value is count·g_t where g_t = 2^(t/H) grows
 * with the positive counter t; the decayed count is stored / g_t. When g_t grows large the
 * tables are rescaled once (exact up to float rounding).
 */
export const WIDE_FEATURES = 5;
/**
 * Index of feature 4, log(1 + recent count of the category): log π_c up to a constant, the
 * log prior serving-time logit adjustment subtracts (src/balance/adjustment.ts).
 */
export const CATEGORY_LOG_COUNT = 4;

/** The count tables (persisted with the model). */
export interface FeatureTables {
  itemRecent: Float32Array;
  itemTotal: Float32Array;
  categoryRecent: Float32Array;
  userTotal: Float32Array;
  userCategory: Float32Array;
  userItem: Float32Array;
  /** [positives seen, current growth scale g_t]. */
  clock: Float64Array;
}

const RESCALE_AT = 1e20;

/** Lengths of the count tables for the given table sizes (the clock always has 2 values). */
export function featureTableLengths(sizes: { userRows: number; itemRows: number; categoryRows: number; pairRows: number }): Readonly<Record<Exclude<keyof FeatureTables, 'clock'>, number>> {
  return {
    itemRecent: sizes.itemRows,
    itemTotal: sizes.itemRows,
    categoryRecent: sizes.categoryRows,
    userTotal: sizes.userRows,
    userCategory: sizes.pairRows,
    userItem: sizes.pairRows,
  };
}

export class StreamFeatures {
  readonly tables: FeatureTables;
  private readonly halfLife: number;
  private readonly pairMask: number;

  constructor(sizes: { userRows: number; itemRows: number; categoryRows: number; pairRows: number }, halfLife: number, tables?: FeatureTables) {
    this.halfLife = halfLife;
    this.pairMask = sizes.pairRows - 1;
    if (tables !== undefined) {
      this.tables = tables;
    } else {
      const n = featureTableLengths(sizes);
      this.tables = {
        itemRecent: new Float32Array(n.itemRecent),
        itemTotal: new Float32Array(n.itemTotal),
        categoryRecent: new Float32Array(n.categoryRecent),
        userTotal: new Float32Array(n.userTotal),
        userCategory: new Float32Array(n.userCategory),
        userItem: new Float32Array(n.userItem),
        clock: Float64Array.of(0, 1),
      };
    }
  }

  /** Records one positive (in stream order, after it was scored). */
  observe(user: number, item: number, category: number): void {
    const t = this.tables;
    const g = t.clock[1]!;
    t.itemRecent[item]! += g;
    t.itemTotal[item]! += 1;
    t.categoryRecent[category]! += g;
    t.userTotal[user]! += 1;
    t.userCategory[this.pair(user, category, 0x2545f491)]! += 1;
    t.userItem[this.pair(user, item, 0x68e31da4)]! += 1;
    t.clock[0]! += 1;
    const next = g * Math.pow(2, 1 / this.halfLife);
    if (next > RESCALE_AT) {
      for (const a of [t.itemRecent, t.categoryRecent]) for (let i = 0; i < a.length; i++) a[i]! /= next;
      t.clock[1] = 1;
    } else {
      t.clock[1] = next;
    }
  }

  /**
   * Counts positives another replica observed (model sync, src/train/model-sync.ts): the
   * clock first moves on by their number (recent popularity decays in positives of the whole
   * stream), then each is counted as `observe` counts one, its recent counts aged by ages[k]
   * positives (how long before the sender published it was observed there).
   */
  mergeRemote(users: Int32Array, items: Int32Array, categories: Int32Array, ages: Float32Array): void {
    const n = users.length;
    if (n === 0) return;
    const t = this.tables;
    let g = t.clock[1]! * Math.pow(2, n / this.halfLife);
    if (g > RESCALE_AT) {
      for (const a of [t.itemRecent, t.categoryRecent]) for (let i = 0; i < a.length; i++) a[i]! /= g;
      g = 1;
    }
    t.clock[1] = g;
    t.clock[0]! += n;
    for (let k = 0; k < n; k++) {
      const user = users[k]!;
      const item = items[k]!;
      const category = categories[k]!;
      const w = g * Math.pow(2, -ages[k]! / this.halfLife);
      t.itemRecent[item]! += w;
      t.itemTotal[item]! += 1;
      t.categoryRecent[category]! += w;
      t.userTotal[user]! += 1;
      t.userCategory[this.pair(user, category, 0x2545f491)]! += 1;
      t.userItem[this.pair(user, item, 0x68e31da4)]! += 1;
    }
  }

  /**
   * Writes the features of (user, item, category) at out[o..o+WIDE_FEATURES). `self` > 0
   * removes that many of the triple's own positives from the counts: a replayed positive
   * is already in them, and must look as it did before it was counted.
   */
  fill(user: number, item: number, category: number, out: Float32Array, o: number, self = 0): void {
    this.fillItem(item, category, out, o, self);
    out[o + 2] = this.userCategory(user, category, self);
    out[o + 3] = this.userItem(user, item, self);
  }

  /**
   * The features that do not depend on the user (0, 1 and 4) at out[o + f]; 2 and 3 are left
   * as they are. Serving computes these once per candidate and snapshot, and the user's two
   * per request (`userCategory`, `userItem`).
   */
  fillItem(item: number, category: number, out: Float32Array, o: number, self = 0): void {
    const t = this.tables;
    const g = t.clock[1]!;
    out[o] = Math.log1p(Math.max(0, t.itemRecent[item]! / g - self));
    out[o + 1] = Math.log1p(Math.max(0, t.itemTotal[item]! - self));
    out[o + 4] = Math.log1p(Math.max(0, t.categoryRecent[category]! / g - self));
  }

  /** Feature 2: the user's log share of the category. */
  userCategory(user: number, category: number, self = 0): number {
    const t = this.tables;
    const nu = Math.max(0, t.userTotal[user]! - self);
    const nuc = Math.max(0, t.userCategory[this.pair(user, category, 0x2545f491)]! - self);
    return Math.log1p(nuc) - Math.log1p(nu);
  }

  /** Feature 3: the user's repeat interactions with the item. */
  userItem(user: number, item: number, self = 0): number {
    return Math.log1p(Math.max(0, this.tables.userItem[this.pair(user, item, 0x68e31da4)]! - self));
  }

  /** Positives recorded so far. */
  get positives(): number {
    return this.tables.clock[0]!;
  }

  private pair(a: number, b: number, salt: number): number {
    let h = Math.imul(a ^ salt, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b);
    h ^= h >>> 15;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 13;
    return h & this.pairMask;
  }
}
