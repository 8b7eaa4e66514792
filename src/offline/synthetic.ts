import { Rng } from '../balance/index.js';
import { makeEvent, type EventType, type InteractionEvent } from '../codec/types.js';

export interface SyntheticOptions {
  seed: number;
  categories: number;
  /** Ratio of the most to the least frequent category's share (Zipf-like). */
  skew: number;
  users: number;
  itemsPerCategory: number;
  /** Event time of the first event (ms) and mean gap between events (ms). */
  startTime: number;
  meanGapMs: number;
}

export const DEFAULT_SYNTHETIC: SyntheticOptions = {
  seed: 42,
  categories: 20,
  skew: 100,
  users: 2_000,
  itemsPerCategory: 50,
  startTime: Date.UTC(2026, 0, 1),
  meanGapMs: 10,
};

/**
 * A seeded synthetic interaction stream: category shares follow a power law whose
 * max/min ratio is `skew`; each user prefers a few categories; purchases are rarer
 * than clicks, clicks rarer than views.
 */
export class SyntheticStream {
  readonly categoryIds: string[];
  readonly shares: Float64Array;
  private readonly cumulative: Float64Array;
  private readonly rng: Rng;
  private readonly userFavourite: Int32Array;
  private time: number;
  private seq = 0;

  constructor(private readonly opts: SyntheticOptions = DEFAULT_SYNTHETIC) {
    this.rng = new Rng(opts.seed);
    const c = opts.categories;
    this.categoryIds = Array.from({ length: c }, (_, i) => `cat-${String(i).padStart(3, '0')}`);
    // share_i ∝ (i+1)^-s with s chosen so that share_0 / share_{c-1} = skew.
    const s = c > 1 ? Math.log(opts.skew) / Math.log(c) : 0;
    this.shares = new Float64Array(c);
    let total = 0;
    for (let i = 0; i < c; i++) total += this.shares[i] = Math.pow(i + 1, -s);
    this.cumulative = new Float64Array(c);
    let acc = 0;
    for (let i = 0; i < c; i++) {
      this.shares[i]! /= total;
      acc += this.shares[i]!;
      this.cumulative[i] = acc;
    }
    this.userFavourite = new Int32Array(opts.users);
    for (let u = 0; u < opts.users; u++) this.userFavourite[u] = this.sampleCategory();
    this.time = opts.startTime;
  }

  private sampleCategory(): number {
    const x = this.rng.next();
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  next(): InteractionEvent {
    const user = this.rng.int(this.opts.users);
    const category = this.sampleCategory();
    // Users mostly pick items of their category that match their taste.
    const item = (user * 7 + (this.rng.next() < 0.7 ? 0 : this.rng.int(this.opts.itemsPerCategory))) % this.opts.itemsPerCategory;
    const r = this.rng.next();
    const type: EventType = r < 0.6 ? 'view' : r < 0.9 ? 'click' : r < 0.97 ? 'add_to_cart' : 'purchase';
    this.time += Math.round(-Math.log(1 - this.rng.next()) * this.opts.meanGapMs);
    this.seq++;
    return makeEvent({
      eventId: `evt-${this.opts.seed}-${this.seq}`,
      userId: `user-${user}`,
      itemId: `item-${category}-${item}`,
      categoryId: this.categoryIds[category]!,
      type,
      eventTime: this.time,
    });
  }
}
