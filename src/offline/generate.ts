/**
 * Synthetic interaction streams, in two profiles (GENERATOR_PROFILES, createGenerator):
 * `simple` (this file, InteractionGenerator) and `realistic` (generate-realistic.ts).
 *
 * The `simple` profile: a stream with structure a recommender can learn easily:
 *
 *  - Categories: base shares follow a power law z_c ∝ (c+1)^-s with s = ln(skew)/ln(C),
 *    so the head/tail share ratio z_0 / z_{C-1} is exactly `skew`.
 *  - Drift: category c's popularity is multiplied by exp(drift · a_c · (2p − 1)), where
 *    p ∈ [0, 1] is the progress through the run and a_c ~ U[-1, 1] (seeded). Categories
 *    trend up or down; the run's midpoint has the base shares. drift = 0 keeps shares fixed.
 *  - Users: each has `favouritesPerUser` favourite categories drawn ∝ base share, and in
 *    each favourite a few preferred items. An event draws its category from the (drifting)
 *    category mix first, then, with probability `loyalty`, a fan of that category as the
 *    user (else any user). So the category marginal is exact and still users are
 *    predictable: a fan picks one of their preferred items with probability `itemAffinity`.
 *  - Items: popularity within a category is Zipf (exponent 1); non-preferred picks follow it.
 *  - Event types: views > clicks > add_to_cart > purchases; a preferred item converts
 *    (add_to_cart, purchase) twice as often, which is what a purchase-weighted label rewards.
 *  - Time: exponential gaps with mean `meanGapMs` from `startTime`.
 *
 * Every random choice comes from one seeded Rng, so a seed reproduces the stream exactly.
 */
import { Rng } from '../balance/index.js';
import { makeEvent, type EventType, type InteractionEvent } from '../codec/types.js';
import { RebalancerError } from '../errors.js';
import { TYPE_MIX, TYPES, baseShares, categoryId, cumulativeOf, itemId, pick } from './generate-common.js';
import { RealisticGenerator, type RealisticOptions } from './generate-realistic.js';

export { baseShares, categoryId, itemId } from './generate-common.js';
export { DEFAULT_REALISTIC, EVENTS_PER_USER, RealisticGenerator, resolveRealisticOptions, validateRealisticOptions, type RealisticOptions } from './generate-realistic.js';

/** The generator profiles, the default of the `generate` verb first. */
export const GENERATOR_PROFILES = ['realistic', 'simple'] as const;
export type GeneratorProfile = (typeof GENERATOR_PROFILES)[number];

/** One line per profile (for --help). */
export const GENERATOR_PROFILE_HELP: Readonly<Record<GeneratorProfile, string>> = Object.freeze({
  realistic: 'log-like: heavy-tailed users, sessions, Zipf items arriving and fading, repeats; popularity is a strong baseline',
  simple: 'easy to learn: fixed users with 3 favourite categories and preferred items, Zipf items, optional drift',
});

/** What every profile's generator offers. */
export interface SyntheticGenerator {
  readonly profile: GeneratorProfile;
  readonly categoryIds: readonly string[];
  /** Target share of events per category, head (categoryIds[0]) first. */
  readonly categoryShares: Float64Array;
  next(): InteractionEvent;
}

/** Options of createGenerator: a profile and that profile's options (any subset; defaults fill the rest). */
export type GeneratorSpec =
  | ({ profile?: 'simple' } & Partial<GeneratorOptions>)
  | ({ profile: 'realistic' } & Partial<RealisticOptions>);

/**
 * A generator of the given profile (default `simple`, so existing callers keep their stream).
 * Options are validated here (REB_INPUT_INVALID naming the setting).
 */
export function createGenerator(spec: GeneratorSpec = {}): SyntheticGenerator {
  // The profile key is split off so that the generators' options hold only their own settings.
  if (spec.profile === 'realistic') {
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    const { profile, ...options } = spec;
    return new RealisticGenerator(options);
  }
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { profile, ...options } = spec;
  return new InteractionGenerator(options);
}

export interface GeneratorOptions {
  seed: number;
  /** Events in the run (drift is spread over this many). */
  events: number;
  categories: number;
  /** Ratio of the head category's base share to the tail category's. */
  skew: number;
  /** Strength of category popularity drift over the run (0 = none; 1 ≈ up to ×e^±1). */
  drift: number;
  users: number;
  itemsPerCategory: number;
  favouritesPerUser: number;
  preferredItemsPerFavourite: number;
  /** Probability that an event's user is a fan of the event's category. */
  loyalty: number;
  /** Probability that a fan picks one of their preferred items. */
  itemAffinity: number;
  startTime: number;
  meanGapMs: number;
}

export const DEFAULT_GENERATOR: Readonly<GeneratorOptions> = Object.freeze({
  seed: 42,
  events: 100_000,
  categories: 20,
  skew: 100,
  drift: 0,
  users: 5_000,
  itemsPerCategory: 200,
  favouritesPerUser: 3,
  preferredItemsPerFavourite: 5,
  loyalty: 0.85,
  itemAffinity: 0.7,
  startTime: Date.UTC(2026, 0, 1),
  meanGapMs: 50,
});

/**
 * The embedded demo's stream (`npm start`: the synthetic producer, which adds the corrupt
 * payloads) and the broker tests' skewed stream: the `simple` profile with 2,000 users,
 * 20 categories of 50 items, head/tail share ratio 100, events 10 ms apart. Callers spread it
 * into createGenerator and add a seed (and their own start time or gap).
 */
export const EMBEDDED_STREAM: Readonly<Partial<GeneratorOptions>> = Object.freeze({
  categories: 20,
  skew: 100,
  users: 2_000,
  itemsPerCategory: 50,
  meanGapMs: 10,
});

/** How often shares are recomputed under drift (cheap: C exponentials). */
const DRIFT_REFRESH_EVENTS = 1_000;

export function validateGeneratorOptions(o: GeneratorOptions): void {
  const bad = (name: string, expected: string, got: unknown): never => {
    throw new RebalancerError('REB_INPUT_INVALID', `--${name} must be ${expected}, got ${String(got)}`, { setting: name });
  };
  const int = (name: string, v: number, min: number, max: number): void => {
    if (!Number.isInteger(v) || v < min || v > max) bad(name, `an integer in [${min}, ${max}]`, v);
  };
  int('seed', o.seed, 0, 2 ** 32 - 1);
  int('events', o.events, 1, 1e9);
  int('categories', o.categories, 2, 10_000);
  int('users', o.users, 1, 10_000_000);
  int('items-per-category', o.itemsPerCategory, 1, 1_000_000);
  int('favourites-per-user', o.favouritesPerUser, 1, o.categories);
  int('preferred-items', o.preferredItemsPerFavourite, 1, o.itemsPerCategory);
  if (!(o.skew >= 1 && Number.isFinite(o.skew))) bad('skew', 'a number >= 1', o.skew);
  if (!(o.drift >= 0 && o.drift <= 10)) bad('drift', 'a number in [0, 10]', o.drift);
  if (!(o.loyalty >= 0 && o.loyalty <= 1)) bad('loyalty', 'in [0, 1]', o.loyalty);
  if (!(o.itemAffinity >= 0 && o.itemAffinity <= 1)) bad('item-affinity', 'in [0, 1]', o.itemAffinity);
  if (!(o.meanGapMs >= 0 && Number.isFinite(o.meanGapMs))) bad('mean-gap-ms', 'a number >= 0', o.meanGapMs);
  if (!Number.isFinite(o.startTime)) bad('start', 'a timestamp', o.startTime);
}

export class InteractionGenerator implements SyntheticGenerator {
  readonly profile = 'simple' as const;
  readonly options: Readonly<GeneratorOptions>;
  readonly categoryIds: readonly string[];
  readonly baseShares: Float64Array;
  private readonly rng: Rng;
  private readonly trend: Float64Array;
  private readonly cumulative: Float64Array;
  private readonly itemCumulative: Float64Array;
  /** fans[c] = users with c among their favourites. */
  private readonly fans: Int32Array[];
  /** preferred[u * F + f] = category; items in preferredItems[(u * F + f) * P + j]. */
  private readonly favourites: Int32Array;
  private readonly preferredItems: Int32Array;
  private readonly itemPrice: Float64Array;
  private readonly itemIds: string[][];
  private readonly userIds: string[];
  private time: number;
  private seq = 0;

  constructor(options: Partial<GeneratorOptions> = {}) {
    const o: GeneratorOptions = { ...DEFAULT_GENERATOR, ...options };
    validateGeneratorOptions(o);
    this.options = Object.freeze(o);
    this.rng = new Rng(o.seed);
    const C = o.categories;
    this.categoryIds = Array.from({ length: C }, (_, c) => categoryId(c));
    this.baseShares = baseShares(C, o.skew);
    this.trend = new Float64Array(C);
    for (let c = 0; c < C; c++) this.trend[c] = 2 * this.rng.next() - 1;
    this.cumulative = new Float64Array(C);
    this.refreshShares(0);

    // Zipf(1) item popularity within a category, shared by all categories.
    const I = o.itemsPerCategory;
    this.itemCumulative = new Float64Array(I);
    let acc = 0;
    for (let i = 0; i < I; i++) acc += 1 / (i + 1);
    let run = 0;
    for (let i = 0; i < I; i++) this.itemCumulative[i] = run += 1 / (i + 1) / acc;

    // Favourite categories ∝ base share, without repeats within a user.
    const F = o.favouritesPerUser;
    const P = o.preferredItemsPerFavourite;
    this.favourites = new Int32Array(o.users * F);
    this.preferredItems = new Int32Array(o.users * F * P);
    const fanLists: number[][] = Array.from({ length: C }, () => []);
    const baseCumulative = cumulativeOf(this.baseShares);
    for (let u = 0; u < o.users; u++) {
      for (let f = 0; f < F; f++) {
        let c = pick(baseCumulative, this.rng.next());
        for (let tries = 0; this.isFavourite(u, f, c) && tries < 50; tries++) c = pick(baseCumulative, this.rng.next());
        if (this.isFavourite(u, f, c)) c = this.firstNonFavourite(u, f);
        this.favourites[u * F + f] = c;
        fanLists[c]!.push(u);
        for (let j = 0; j < P; j++) this.preferredItems[(u * F + f) * P + j] = pick(this.itemCumulative, this.rng.next());
      }
    }
    // A category without fans would have no learnable users; give it one at random.
    for (let c = 0; c < C; c++) if (fanLists[c]!.length === 0) fanLists[c]!.push(this.rng.int(o.users));
    this.fans = fanLists.map((l) => Int32Array.from(l));

    this.itemPrice = new Float64Array(C * I);
    for (let c = 0; c < C; c++) {
      const mu = Math.log(5 + 95 * this.rng.next());
      for (let i = 0; i < I; i++) this.itemPrice[c * I + i] = Math.round(Math.exp(mu + 0.5 * this.rng.normal()) * 100) / 100;
    }
    // Id strings built once: events share them instead of allocating per event.
    this.itemIds = Array.from({ length: C }, (_, c) => Array.from({ length: I }, (_, i) => itemId(c, i)));
    this.userIds = Array.from({ length: o.users }, (_, u) => `user-${u}`);
    this.time = o.startTime;
  }

  /** Base (run-midpoint) category shares; drift moves them over the run. */
  get categoryShares(): Float64Array {
    return this.baseShares;
  }

  /** Category shares in effect at progress p ∈ [0, 1]. */
  sharesAt(p: number): Float64Array {
    const C = this.options.categories;
    const out = new Float64Array(C);
    let total = 0;
    for (let c = 0; c < C; c++) total += out[c] = this.baseShares[c]! * Math.exp(this.options.drift * this.trend[c]! * (2 * p - 1));
    for (let c = 0; c < C; c++) out[c]! /= total;
    return out;
  }

  next(): InteractionEvent {
    const o = this.options;
    if (o.drift > 0 && this.seq % DRIFT_REFRESH_EVENTS === 0) this.refreshShares(this.seq / Math.max(1, o.events - 1));
    const rng = this.rng;
    const c = pick(this.cumulative, rng.next());
    let user: number;
    let item: number;
    let preferred = false;
    if (rng.next() < o.loyalty) {
      const fans = this.fans[c]!;
      user = fans[rng.int(fans.length)]!;
      const f = this.favouriteSlot(user, c);
      if (f >= 0 && rng.next() < o.itemAffinity) {
        const P = o.preferredItemsPerFavourite;
        item = this.preferredItems[(user * o.favouritesPerUser + f) * P + rng.int(P)]!;
        preferred = true;
      } else {
        item = pick(this.itemCumulative, rng.next());
      }
    } else {
      user = rng.int(o.users);
      item = pick(this.itemCumulative, rng.next());
    }
    const type = this.pickType(preferred, rng.next());
    if (o.meanGapMs > 0) this.time += Math.round(-Math.log(1 - rng.next()) * o.meanGapMs);
    this.seq++;
    return makeEvent({
      eventId: `gen-${o.seed}-${this.seq}`,
      userId: this.userIds[user]!,
      itemId: this.itemIds[c]![item]!,
      categoryId: this.categoryIds[c]!,
      type,
      eventTime: this.time,
      price: this.itemPrice[c * o.itemsPerCategory + item]!,
    });
  }

  private pickType(preferred: boolean, r: number): EventType {
    // Preferred items convert twice as often; views absorb the difference.
    const boost = preferred ? 2 : 1;
    const atc = TYPE_MIX[2] * boost;
    const buy = TYPE_MIX[3] * boost;
    const click = TYPE_MIX[1];
    if (r < buy) return TYPES[3]!;
    if (r < buy + atc) return TYPES[2]!;
    if (r < buy + atc + click) return TYPES[1]!;
    return TYPES[0]!;
  }

  private refreshShares(p: number): void {
    const shares = this.options.drift > 0 ? this.sharesAt(p) : this.baseShares;
    let acc = 0;
    for (let c = 0; c < shares.length; c++) this.cumulative[c] = acc += shares[c]!;
    this.cumulative[shares.length - 1] = 1;
  }

  private favouriteSlot(user: number, c: number): number {
    const F = this.options.favouritesPerUser;
    for (let f = 0; f < F; f++) if (this.favourites[user * F + f] === c) return f;
    return -1;
  }

  private isFavourite(user: number, upto: number, c: number): boolean {
    const F = this.options.favouritesPerUser;
    for (let f = 0; f < upto; f++) if (this.favourites[user * F + f] === c) return true;
    return false;
  }

  private firstNonFavourite(user: number, upto: number): number {
    for (let c = 0; c < this.options.categories; c++) if (!this.isFavourite(user, upto, c)) return c;
    return 0;
  }
}
