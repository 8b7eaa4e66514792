/**
 * The `realistic` synthetic profile: a stream shaped like a real e-commerce log, where a
 * popularity count is a strong baseline and personal taste adds a few points on top.
 *
 *  - Categories: events follow the power law of baseShares(C, skew) (head/tail share ratio
 *    `skew`): a session's first category is drawn from it, and so is an in-session switch
 *    (probability 1 − sessionStay per event); both draws are steered toward the target counts
 *    so that the realized ratio holds even for a tail of a few dozen events (steerCategories).
 *  - Users: activity weights w_u = exp(activitySigma · N(0,1)), log-normal (Limpert, Stahel,
 *    Abbt, BioScience 2001), so a few users make thousands of events and the median user a
 *    handful. Each user has `favouritesPerUser` favourite categories, drawn ∝ √share without
 *    repeats (the head is not everyone's favourite), and one latent style in [0, styles).
 *  - Sessions: starts are a Poisson process of rate 1/(meanGapMs · sessionEvents), so events
 *    are meanGapMs apart on average. A session draws its category c, then its user ∝ w_u
 *    among the fans of c with probability `loyalty`, else among all users (a user already in
 *    a session is re-drawn, up to 4 times). Its length is geometric with mean sessionEvents;
 *    the gaps between its events are log-normal with median sessionGapMs (σ = 1). Sessions
 *    overlap in time and are merged in time order by a binary heap on next-event time.
 *  - Items arrive as a Poisson process of `newItemsPerEvent` per event (the event count is
 *    the clock of item dynamics), in category c with probability ∝ √share_c (catalogues are
 *    less skewed than traffic), with a style uniform in [0, styles) and an appeal
 *    q ~ Pareto(appealAlpha, x_m = 1), capped at 1000, so rank–frequency within a category is
 *    Zipf-like (slope ≈ −1/α in the head). Popularity at age a (events since arrival) is
 *    q · f(a/θ), f(x) = x·e^{1−x}: a gamma (shape 2) curve rising from 0 to its peak at
 *    θ = itemPeakEvents, then decaying; items are retired at 8θ (f = 0.7% of the peak). The
 *    run starts with the items that arrived in the 8θ events before it (steady state).
 *    Weights are recomputed every ⌈θ/20⌉ events.
 *  - Each event's item: with the repeat probability, one of the user's last 16 items in the
 *    current category; else a fresh pick ∝ popularity, from the user's style with probability
 *    `styleAffinity`, else from the whole category. A fresh pick the user has had before
 *    (an approximate set of (user, item) pairs, SeenPairs) is re-drawn: 3 times ∝ popularity,
 *    then 3 times uniformly over the category's live items (heavy users explore the tail).
 *    The repeat probability solves "share of positives on items the user had before =
 *    repeatShare" from running estimates, plus an integral term on the repeats behind target.
 *  - Event types: views 55%, clicks 30%, add-to-cart 10%, purchases 5%, independent of the
 *    item. Events carry their session id; event ids count up in stream order.
 *
 * Every random choice comes from one seeded Rng, so a seed reproduces the stream exactly.
 * Memory: O(users) (16 recent items each), O(items) (which keep arriving, ≈ 40 bytes each
 * plus the id string), the open sessions (a few) and a fixed-size SeenPairs filter (≤ 16 MB);
 * nothing else grows with the number of events.
 */
import { Rng } from '../balance/index.js';
import { makeEvent, type InteractionEvent } from '../codec/types.js';
import { RebalancerError } from '../errors.js';
import { TYPE_MIX, TYPES, baseShares, categoryId, cumulativeOf, itemId, pick } from './generate-common.js';

export interface RealisticOptions {
  seed: number;
  /** Planned events: sizes the default user count (events / 25) and the seen-pairs filter; the stream is stationary and can run past it. */
  events: number;
  categories: number;
  /** Ratio of the head category's share of events to the tail category's. */
  skew: number;
  users: number;
  /** σ of the log-normal user activity weights (0 = every user equally active). */
  activitySigma: number;
  favouritesPerUser: number;
  /** Probability that a session's user is a fan of the session's first category. */
  loyalty: number;
  /** Latent styles: each item has one, each user prefers one. */
  styles: number;
  /** Probability that a fresh item pick comes from the user's style. */
  styleAffinity: number;
  /** Mean new items per event (Poisson arrivals). */
  newItemsPerEvent: number;
  /** Age (in events) at which an item's popularity peaks; it is retired at 8×. */
  itemPeakEvents: number;
  /** Pareto tail index of item appeal (rank–frequency slope ≈ −1/α). */
  appealAlpha: number;
  /** Mean events per session (geometric, ≥ 1). */
  sessionEvents: number;
  /** Probability that the next event of a session stays in its category. */
  sessionStay: number;
  /** Target share of positives (click, add_to_cart, purchase) on items the user had an event on before. */
  repeatShare: number;
  startTime: number;
  /** Mean event-time gap between consecutive events of the stream. */
  meanGapMs: number;
  /** Median gap between consecutive events of one session. */
  sessionGapMs: number;
}

/** Events per user when `users` is not given. */
export const EVENTS_PER_USER = 25;
/** Recent items remembered per user (the pool repeats come from). */
const HISTORY = 16;
/** Items older than this many θ are retired (f(8) = 8e^-7 ≈ 0.7% of the peak). */
const RETIRE_AT = 8;
/** Largest item appeal (the Pareto draw is capped here; P(q > 1000) = 0.1% at α = 1). */
const APPEAL_CAP = 1_000;
/** Events between updates of the steered category mix (steerCategories); at least the category count, so the cost per event stays O(1). */
const STEER_EVERY = 16;
/** Added to the repeat-try probability per repeat behind target (integral control). */
const REPEAT_GAIN = 0.02;

export const DEFAULT_REALISTIC: Readonly<RealisticOptions> = Object.freeze({
  seed: 42,
  events: 100_000,
  categories: 20,
  skew: 100,
  users: 100_000 / EVENTS_PER_USER,
  activitySigma: 1.7,
  favouritesPerUser: 2,
  loyalty: 0.95,
  styles: 8,
  styleAffinity: 0.5,
  newItemsPerEvent: 0.08,
  itemPeakEvents: 15_000,
  appealAlpha: 1.0,
  sessionEvents: 5,
  sessionStay: 0.9,
  repeatShare: 0.15,
  startTime: Date.UTC(2026, 0, 1),
  meanGapMs: 12_000,
  sessionGapMs: 30_000,
});

/** Options merged onto the defaults; users defaults to events / EVENTS_PER_USER (at least 10). */
export function resolveRealisticOptions(options: Partial<RealisticOptions>): RealisticOptions {
  const o: RealisticOptions = { ...DEFAULT_REALISTIC, ...options };
  if (options.users === undefined) o.users = Math.max(10, Math.round(o.events / EVENTS_PER_USER));
  return o;
}

export function validateRealisticOptions(o: RealisticOptions): void {
  const bad = (name: string, expected: string, got: unknown): never => {
    throw new RebalancerError('REB_INPUT_INVALID', `--${name} must be ${expected}, got ${String(got)}`, { setting: name });
  };
  const int = (name: string, v: number, min: number, max: number): void => {
    if (!Number.isInteger(v) || v < min || v > max) bad(name, `an integer in [${min}, ${max}]`, v);
  };
  const num = (name: string, v: number, min: number, max: number): void => {
    if (!(v >= min && v <= max)) bad(name, `a number in [${min}, ${max}]`, v);
  };
  int('seed', o.seed, 0, 2 ** 32 - 1);
  int('events', o.events, 1, 1e9);
  int('categories', o.categories, 2, 10_000);
  int('users', o.users, 1, 10_000_000);
  int('favourites-per-user', o.favouritesPerUser, 1, o.categories);
  int('styles', o.styles, 1, 256);
  if (!(o.skew >= 1 && Number.isFinite(o.skew))) bad('skew', 'a number >= 1', o.skew);
  num('activity-sigma', o.activitySigma, 0, 5);
  num('loyalty', o.loyalty, 0, 1);
  num('style-affinity', o.styleAffinity, 0, 1);
  num('new-items-per-event', o.newItemsPerEvent, 0.0001, 10);
  num('item-peak-events', o.itemPeakEvents, 1, 1e9);
  num('appeal-alpha', o.appealAlpha, 0.5, 10);
  num('session-events', o.sessionEvents, 1, 1_000);
  num('session-stay', o.sessionStay, 0, 1);
  num('repeat-share', o.repeatShare, 0, 0.9);
  // Session starts must advance time, and sessions must not outlast many start gaps, or
  // open sessions (memory) would pile up: at most ≈ 1000 × 1.65 are open at once.
  num('mean-gap-ms', o.meanGapMs, 0.001, 1e9);
  num('session-gap-ms', o.sessionGapMs, 0, 1e9);
  if (o.sessionGapMs > 1_000 * o.meanGapMs) bad('session-gap-ms', `at most 1000 × --mean-gap-ms (${1_000 * o.meanGapMs}) so that sessions do not pile up`, o.sessionGapMs);
  if (!Number.isFinite(o.startTime)) bad('start', 'a timestamp', o.startTime);
}

/** Item lifecycle f(x) = x·e^{1−x} (gamma shape 2, peak 1 at x = 1). */
function lifecycle(x: number): number {
  return x * Math.exp(1 - x);
}

export class RealisticGenerator {
  readonly profile = 'realistic' as const;
  readonly options: Readonly<RealisticOptions>;
  readonly categoryIds: readonly string[];
  /** Target share of events per category (head first). */
  readonly categoryShares: Float64Array;
  private readonly rng: Rng;
  private readonly categoryCumulative: Float64Array;
  private readonly categoryEvents: Float64Array;
  /** Per category: probability that a session's next event stays in it (steered). */
  private readonly stay: Float64Array;
  /** ∝ √share: the category mix of new items and of users' favourites. */
  private readonly rootShareCumulative: Float64Array;
  private readonly priceMu: Float64Array;
  private readonly typeCumulative: Float64Array;

  // Users.
  private readonly userIds: string[];
  private readonly userStyle: Int32Array;
  private readonly allUsersCumulative: Float64Array;
  private readonly fans: Int32Array[];
  private readonly fansCumulative: Float64Array[];
  private readonly history: Int32Array;
  private readonly historyNext: Int32Array;
  private readonly seen: SeenPairs;
  private readonly busy: Uint8Array;

  // Items (growable arrays indexed by item number).
  private itemCount = 0;
  private itemCategory = new Int32Array(1024);
  private itemAppeal = new Float64Array(1024);
  private itemBorn = new Float64Array(1024);
  private itemPrice = new Float64Array(1024);
  private readonly itemIds: string[] = [];
  private readonly perCategoryItems: Int32Array;
  private nextArrival: number;
  // Live items per (category, style) list l = c · styles + s, with cumulative weights as of the last refresh.
  private readonly listItems: Int32Array[];
  private readonly listLength: Int32Array;
  private readonly listSampled: Int32Array;
  private readonly listCumulative: Float64Array[];
  private readonly listTotal: Float64Array;
  private readonly refreshEvery: number;
  private readonly steerEvery: number;
  private nextRefresh = 0;

  // Sessions: slots with their state, a min-heap of slots by next-event time.
  private slotUser = new Int32Array(64);
  private slotCategory = new Int32Array(64);
  private slotLeft = new Int32Array(64);
  private slotTime = new Float64Array(64);
  private slotEmitted = new Int32Array(64);
  private slotSession: string[] = [];
  private freeSlots: number[] = [];
  private slotCount = 0;
  private heap = new Int32Array(64);
  private heapSize = 0;
  private nextStart = 0;
  private sessions = 0;
  private readonly sessionGapMean: number;
  private readonly geometricLog: number;

  // Repeat control.
  private repeatTries = 0;
  private repeatFound = 0;
  private freshPicks = 0;
  private positives = 0;
  private repeats = 0;
  private freshSeen = 0;
  private seq = 0;

  constructor(options: Partial<RealisticOptions> = {}) {
    const o = resolveRealisticOptions(options);
    validateRealisticOptions(o);
    this.options = Object.freeze(o);
    const rng = (this.rng = new Rng(o.seed));
    const C = o.categories;
    const S = o.styles;
    this.categoryIds = Array.from({ length: C }, (_, c) => categoryId(c));
    this.categoryShares = baseShares(C, o.skew);
    this.categoryCumulative = cumulativeOf(this.categoryShares);
    this.categoryEvents = new Float64Array(C);
    this.stay = new Float64Array(C).fill(o.sessionStay);
    this.rootShareCumulative = cumulativeOf(normalised(this.categoryShares.map(Math.sqrt)));
    this.priceMu = new Float64Array(C);
    for (let c = 0; c < C; c++) this.priceMu[c] = Math.log(5 + 95 * rng.next());
    this.typeCumulative = cumulativeOf(Float64Array.from(TYPE_MIX));

    // Users: activity, style, favourites (∝ √share, no repeats), fan lists.
    const U = o.users;
    this.userIds = Array.from({ length: U }, (_, u) => `user-${u}`);
    this.userStyle = new Int32Array(U);
    const weight = new Float64Array(U);
    for (let u = 0; u < U; u++) {
      weight[u] = Math.exp(o.activitySigma * rng.normal());
      this.userStyle[u] = rng.int(S);
    }
    this.allUsersCumulative = cumulativeOf(normalised(weight));
    const fanLists: number[][] = Array.from({ length: C }, () => []);
    const favourites = new Int32Array(o.favouritesPerUser);
    for (let u = 0; u < U; u++) {
      for (let f = 0; f < o.favouritesPerUser; f++) {
        let c = pick(this.rootShareCumulative, rng.next());
        for (let tries = 0; favourites.subarray(0, f).includes(c) && tries < 50; tries++) c = pick(this.rootShareCumulative, rng.next());
        while (favourites.subarray(0, f).includes(c)) c = (c + 1) % C;
        favourites[f] = c;
        fanLists[c]!.push(u);
      }
    }
    // A category without fans gets one at random, so its sessions still have loyal users.
    for (let c = 0; c < C; c++) if (fanLists[c]!.length === 0) fanLists[c]!.push(rng.int(U));
    this.fans = fanLists.map((l) => Int32Array.from(l));
    this.fansCumulative = this.fans.map((list) => cumulativeOf(normalised(Float64Array.from(list, (u) => weight[u]!))));
    this.history = new Int32Array(U * HISTORY).fill(-1);
    this.historyNext = new Int32Array(U);
    this.seen = new SeenPairs(o.events);
    this.busy = new Uint8Array(U);

    // Items: lists per (category, style), then the steady-state catalogue of the last 8θ events.
    this.perCategoryItems = new Int32Array(C);
    this.listItems = Array.from({ length: C * S }, () => new Int32Array(16));
    this.listCumulative = Array.from({ length: C * S }, () => new Float64Array(16));
    this.listLength = new Int32Array(C * S);
    this.listSampled = new Int32Array(C * S);
    this.listTotal = new Float64Array(C * S);
    const span = RETIRE_AT * o.itemPeakEvents;
    for (let born = -this.arrivalGap(); born > -span; born -= this.arrivalGap()) this.addItem(pick(this.rootShareCumulative, rng.next()), born);
    this.nextArrival = this.arrivalGap();
    this.refreshEvery = Math.max(1, Math.ceil(o.itemPeakEvents / 20));
    this.steerEvery = Math.max(STEER_EVERY, C);

    this.sessionGapMean = o.meanGapMs * o.sessionEvents;
    this.geometricLog = o.sessionEvents > 1 ? Math.log(1 - 1 / o.sessionEvents) : Number.NEGATIVE_INFINITY;
  }

  next(): InteractionEvent {
    const o = this.options;
    const rng = this.rng;
    const seq = this.seq;
    while (this.nextArrival <= seq) {
      this.addItem(pick(this.rootShareCumulative, rng.next()), this.nextArrival);
      this.nextArrival += this.arrivalGap();
    }
    if (seq >= this.nextRefresh) {
      this.refresh(seq);
      this.nextRefresh = seq + this.refreshEvery;
    }
    if (seq % this.steerEvery === 0 && seq > 0) this.steerCategories(seq);
    const slot = this.heapSize > 0 && this.slotTime[this.heap[0]!]! <= this.nextStart ? this.heapPop() : this.startSession();
    const user = this.slotUser[slot]!;
    let c = this.slotCategory[slot]!;
    if (this.slotEmitted[slot]! > 0 && rng.next() >= this.stay[c]!) {
      c = pick(this.categoryCumulative, rng.next());
      this.slotCategory[slot] = c;
    }
    this.categoryEvents[c]!++;
    const type = TYPES[pick(this.typeCumulative, rng.next())]!;
    const item = this.chooseItem(user, c, type !== 'view', seq);
    const time = this.slotTime[slot]!;
    const sessionId = this.slotSession[slot]!;
    this.slotEmitted[slot]!++;
    if (--this.slotLeft[slot]! > 0) {
      this.slotTime[slot] = time + o.sessionGapMs * Math.exp(rng.normal());
      this.heapPush(slot);
    } else {
      this.busy[user] = 0;
      this.freeSlots.push(slot);
    }
    this.seq++;
    return makeEvent({
      eventId: `genr-${o.seed}-${this.seq}`,
      userId: this.userIds[user]!,
      itemId: this.itemIds[item]!,
      categoryId: this.categoryIds[c]!,
      type,
      eventTime: o.startTime + Math.round(time),
      price: this.itemPrice[item]!,
      sessionId,
    });
  }

  /** Items created so far (including the catalogue present at the start). */
  get itemsCreated(): number {
    return this.itemCount;
  }

  /** Sessions with events still to come (the only per-stream state besides users and items). */
  get openSessions(): number {
    return this.heapSize;
  }

  private arrivalGap(): number {
    return -Math.log(1 - this.rng.next()) / this.options.newItemsPerEvent;
  }

  private chooseItem(user: number, c: number, positive: boolean, seq: number): number {
    const rng = this.rng;
    // P(repeat) = a·f + (1 − a·f)·k for a deliberate try with probability a, f = P(the history
    // holds an item of c), k = P(a fresh pick was seen anyway); a solves P(repeat) = repeatShare,
    // plus an integral term on the repeats behind target so far (estimates drift as users age).
    const target = this.options.repeatShare;
    const f = (this.repeatFound + 1) / (this.repeatTries + 1);
    const k = this.freshSeen / (this.freshPicks + 1);
    const a = (target - k) / (f * (1 - k)) + REPEAT_GAIN * (target * this.positives - this.repeats);
    if (positive) this.positives++;
    if (rng.next() < a) {
      const item = this.historyItemIn(user, c);
      if (positive) {
        this.repeatTries++;
        if (item >= 0) this.repeatFound++;
      }
      if (item >= 0) {
        if (positive) this.repeats++;
        return item;
      }
    }
    let item = this.freshItem(user, c, seq);
    // A user who has had the popular items re-draws ∝ popularity, then uniformly over the
    // category's live items (the long tail a heavy user explores).
    for (let tries = 0; tries < 3 && this.seen.has(user, item); tries++) item = this.freshItem(user, c, seq);
    for (let tries = 0; tries < 3 && this.seen.has(user, item); tries++) item = this.anyItemIn(c, seq);
    if (positive) {
      this.freshPicks++;
      if (this.seen.has(user, item)) {
        this.freshSeen++;
        this.repeats++;
      }
    }
    this.seen.add(user, item);
    const h = user * HISTORY;
    this.history[h + this.historyNext[user]!] = item;
    this.historyNext[user] = (this.historyNext[user]! + 1) % HISTORY;
    return item;
  }

  /** A uniformly chosen item of category c among the user's recent items, or -1. */
  private historyItemIn(user: number, c: number): number {
    const h = user * HISTORY;
    let seen = 0;
    let chosen = -1;
    for (let j = 0; j < HISTORY; j++) {
      const item = this.history[h + j]!;
      // Reservoir sampling of size 1 over the matches (one pass, no allocation).
      if (item >= 0 && this.itemCategory[item] === c && this.rng.int(++seen) === 0) chosen = item;
    }
    return chosen;
  }

  private freshItem(user: number, c: number, seq: number): number {
    const rng = this.rng;
    const S = this.options.styles;
    const base = c * S;
    let l = base + this.userStyle[user]!;
    if (!(this.listTotal[l]! > 0 && rng.next() < this.options.styleAffinity)) {
      let total = 0;
      for (let s = 0; s < S; s++) total += this.listTotal[base + s]!;
      if (!(total > 0)) return this.anyItemIn(c, seq);
      let x = rng.next() * total;
      l = base;
      for (let s = 0; s < S - 1; s++, l++) {
        x -= this.listTotal[l]!;
        if (x < 0 && this.listTotal[l]! > 0) break;
      }
      while (!(this.listTotal[l]! > 0)) l--;
    }
    const n = this.listSampled[l]!;
    const cum = this.listCumulative[l]!;
    return this.listItems[l]![pick(cum, rng.next() * cum[n - 1]!, n)]!;
  }

  /** A uniformly chosen live item of c (a new one if c has none): the re-draw of a heavy user, or c has no weight yet. */
  private anyItemIn(c: number, seq: number): number {
    const S = this.options.styles;
    let live = 0;
    for (let s = 0; s < S; s++) live += this.listLength[c * S + s]!;
    if (live === 0) return this.addItem(c, seq);
    let j = this.rng.int(live);
    let l = c * S;
    while (j >= this.listLength[l]!) j -= this.listLength[l++]!;
    return this.listItems[l]![j]!;
  }

  private addItem(c: number, born: number): number {
    const rng = this.rng;
    const i = this.itemCount++;
    if (i === this.itemCategory.length) this.growItems();
    const s = rng.int(this.options.styles);
    this.itemCategory[i] = c;
    // Pareto(α, 1) by inversion: q = (1 − u)^(−1/α), capped so one item cannot take over a category.
    this.itemAppeal[i] = Math.min(APPEAL_CAP, Math.pow(1 - rng.next(), -1 / this.options.appealAlpha));
    this.itemBorn[i] = born;
    this.itemPrice[i] = Math.round(Math.exp(this.priceMu[c]! + 0.5 * rng.normal()) * 100) / 100;
    this.itemIds.push(itemId(c, this.perCategoryItems[c]!++));
    const l = c * this.options.styles + s;
    if (this.listLength[l] === this.listItems[l]!.length) {
      const bigger = new Int32Array(this.listItems[l]!.length * 2);
      bigger.set(this.listItems[l]!);
      this.listItems[l] = bigger;
      // Keep the weights of the entries sampled since the last refresh.
      const cum = new Float64Array(bigger.length);
      cum.set(this.listCumulative[l]!.subarray(0, this.listSampled[l]!));
      this.listCumulative[l] = cum;
    }
    this.listItems[l]![this.listLength[l]!++] = i;
    return i;
  }

  /**
   * Steers the category mix toward its target counts. With z_c = (share_c · seq − events of
   * c so far) / max(2, √(share_c · seq)), clamped to ±6, category draws (session starts and
   * switches) use weights share_c · 2^z_c, and a session in a category that is ahead (z_c < 0)
   * stays in it with probability sessionStay^(2^−z_c): a category one standard deviation
   * behind is drawn twice as often, one ahead half as often and left sooner. Without this,
   * runs of a category within sessions make the head/tail ratio of a 100k-event run at skew
   * 5000 (≈ 16 tail events in a handful of sessions) land anywhere in ×0.6–×2.3 of the target.
   */
  private steerCategories(seq: number): void {
    const shares = this.categoryShares;
    const stay = this.options.sessionStay;
    const cum = this.categoryCumulative;
    let acc = 0;
    for (let c = 0; c < shares.length; c++) {
      const expected = shares[c]! * seq;
      const z = Math.max(-6, Math.min(6, (expected - this.categoryEvents[c]!) / Math.max(2, Math.sqrt(expected))));
      cum[c] = acc += shares[c]! * Math.pow(2, z);
      this.stay[c] = z < 0 ? Math.pow(stay, Math.pow(2, -z)) : stay;
    }
    for (let c = 0; c < shares.length; c++) cum[c]! /= acc;
    cum[shares.length - 1] = 1;
  }

  /** Drops retired items and recomputes each list's cumulative popularity at event `seq`. */
  private refresh(seq: number): void {
    const theta = this.options.itemPeakEvents;
    const retire = RETIRE_AT * theta;
    for (let l = 0; l < this.listItems.length; l++) {
      const items = this.listItems[l]!;
      const n = this.listLength[l]!;
      if (this.listCumulative[l]!.length < items.length) this.listCumulative[l] = new Float64Array(items.length);
      const cum = this.listCumulative[l]!;
      let kept = 0;
      let acc = 0;
      for (let j = 0; j < n; j++) {
        const i = items[j]!;
        const age = seq - this.itemBorn[i]!;
        if (age > retire) continue;
        items[kept] = i;
        cum[kept++] = acc += age > 0 ? this.itemAppeal[i]! * lifecycle(age / theta) : 0;
      }
      this.listLength[l] = kept;
      this.listSampled[l] = kept;
      this.listTotal[l] = acc;
    }
  }

  private growItems(): void {
    const n = this.itemCategory.length * 2;
    const grow = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.itemCategory = grow(this.itemCategory, (k) => new Int32Array(k));
    this.itemAppeal = grow(this.itemAppeal, (k) => new Float64Array(k));
    this.itemBorn = grow(this.itemBorn, (k) => new Float64Array(k));
    this.itemPrice = grow(this.itemPrice, (k) => new Float64Array(k));
  }

  /** Opens a session at the next start time and returns its slot (its first event is due now). */
  private startSession(): number {
    const o = this.options;
    const rng = this.rng;
    const time = this.nextStart;
    this.nextStart += -Math.log(1 - rng.next()) * this.sessionGapMean;
    const c = pick(this.categoryCumulative, rng.next());
    let user = this.pickUser(c);
    for (let tries = 0; tries < 4 && this.busy[user] === 1; tries++) user = this.pickUser(c);
    this.busy[user] = 1;
    const length = 1 + Math.floor(Math.log(1 - rng.next()) / this.geometricLog);
    const slot = this.freeSlots.length > 0 ? this.freeSlots.pop()! : this.newSlot();
    this.slotUser[slot] = user;
    this.slotCategory[slot] = c;
    this.slotLeft[slot] = length;
    this.slotTime[slot] = time;
    this.slotEmitted[slot] = 0;
    this.slotSession[slot] = `s-${o.seed}-${++this.sessions}`;
    return slot;
  }

  private pickUser(c: number): number {
    const rng = this.rng;
    if (rng.next() < this.options.loyalty) {
      const fans = this.fans[c]!;
      return fans[pick(this.fansCumulative[c]!, rng.next())]!;
    }
    return pick(this.allUsersCumulative, rng.next());
  }

  private newSlot(): number {
    const slot = this.slotCount++;
    if (slot === this.slotUser.length) {
      const n = slot * 2;
      const i32 = (a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
        const b = new Int32Array(n);
        b.set(a);
        return b;
      };
      this.slotUser = i32(this.slotUser);
      this.slotCategory = i32(this.slotCategory);
      this.slotLeft = i32(this.slotLeft);
      this.slotEmitted = i32(this.slotEmitted);
      this.heap = i32(this.heap);
      const t = new Float64Array(n);
      t.set(this.slotTime);
      this.slotTime = t;
    }
    this.slotSession.push('');
    return slot;
  }

  private heapPush(slot: number): void {
    const heap = this.heap;
    const time = this.slotTime;
    let i = this.heapSize++;
    const t = time[slot]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (time[heap[parent]!]! <= t) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = slot;
  }

  private heapPop(): number {
    const heap = this.heap;
    const time = this.slotTime;
    const top = heap[0]!;
    const last = heap[--this.heapSize]!;
    const n = this.heapSize;
    const t = time[last]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && time[heap[child + 1]!]! < time[heap[child]!]!) child++;
      if (time[heap[child]!]! >= t) break;
      heap[i] = heap[child]!;
      i = child;
    }
    if (n > 0) heap[i] = last;
    return top;
  }
}

function normalised(weights: Float64Array): Float64Array {
  let total = 0;
  for (let i = 0; i < weights.length; i++) total += weights[i]!;
  const out = new Float64Array(weights.length);
  for (let i = 0; i < weights.length; i++) out[i] = weights[i]! / total;
  return out;
}

/**
 * An approximate set of (user, item) pairs: a blocked Bloom filter with one 32-bit word per
 * key and two bits in it (Bloom, CACM 1970; Putze, Sanders, Singler, WEA 2007), so a lookup
 * is one memory access. Sized from the planned events (≥ 2 words per event, between 2^16
 * and 2^22 words, at most 16 MB); a run makes ≈ 0.85 distinct pairs per event, so at the
 * planned size a false "seen" has probability ≈ 0.1%, and 1.4% after 10M events in the
 * largest size. A false "seen" only costs a re-draw (and is counted as a repeat, which the
 * repeat control compensates); a miss cannot happen.
 */
class SeenPairs {
  private readonly words: Uint32Array;
  private readonly mask: number;

  constructor(plannedEvents: number) {
    let n = 1 << 16;
    while (n < 2 * plannedEvents && n < 1 << 22) n <<= 1;
    this.words = new Uint32Array(n);
    this.mask = n - 1;
  }

  add(user: number, item: number): void {
    const h = mix(user, item);
    this.words[h & this.mask]! |= bits(h);
  }

  has(user: number, item: number): boolean {
    const h = mix(user, item);
    const b = bits(h);
    return (this.words[h & this.mask]! & b) === b;
  }
}

/** MurmurHash3's 32-bit finaliser over the two ids (Appleby, 2011). */
function mix(user: number, item: number): number {
  let h = Math.imul(user, 0x9e3779b1) ^ Math.imul(item + 0x7f4a7c15, 0x85ebca77);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Two bit positions from the hash's top 10 bits (the word index uses at most the low 22),
 * as an int32 mask: `word & mask` is int32 too, so has() compares like with like.
 */
function bits(h: number): number {
  return (1 << ((h >>> 22) & 31)) | (1 << (h >>> 27));
}
