/**
 * The backtest's main-thread half: it sees every event of the source once, in order,
 * and turns the stream into the chunks the strategy workers replay.
 *
 *  - Cleaning as in the service's `clean` step: invalid events (validateEvent), events too
 *    far ahead of the watermark (FutureSkewGuard, --max-future-skew-ms) and duplicate event
 *    ids (within the de-dup horizon) are dropped, with the service's default settings;
 *    every other event is a stream position.
 *  - Evaluated positives: events of a type with label weight > 0 (the service's default
 *    label weights), once at least `evalCandidates` other items have been seen as
 *    positives. Each is ranked, by every strategy and reference row alike, among the same
 *    `evalCandidates` items drawn uniformly without replacement from the items seen as
 *    positives before it (the candidate pool), by a sampler seeded from --seed and used
 *    for nothing else.
 *  - Probes (tail share of recommendations): after every `probeEvery` events, the first
 *    `probeUsers` distinct users of the evaluated positives since the previous probe get a
 *    top-K among up to `probeItems` items drawn uniformly from the pool (all of it when
 *    smaller), the same for every row.
 *  - Reference rows (src/baselines) run here: each evaluated positive is scored before
 *    the scorers observe it, and every event is observed in stream order.
 *
 * Memory is bounded by the number of distinct items seen as positives (the pool), the
 * categories and the reference scorers' rows (distinct users and items), never by the
 * number of events.
 */
import { EVENT_TYPE_ORDER, Rng } from '../balance/index.js';
import { createReferenceScorers, type ReferenceScorer, type ScoredItem } from '../baselines/index.js';
import { validateEvent, type EventType, type InteractionEvent } from '../codec/index.js';
import { rankOutcome, type RankOutcome } from '../model/index.js';
import { DedupSet } from '../ingest/dedup.js';
import { FutureSkewGuard } from '../ingest/event-time.js';
import type { EventChunk, Probe } from './backtest-protocol.js';
import { EvalTally, topK } from './backtest-tally.js';

export interface FeedOptions {
  seed: number;
  k: number;
  evalCandidates: number;
  seriesEvery: number;
  probeEvery: number;
  probeUsers: number;
  probeItems: number;
  chunkSize: number;
  dedupHorizon: number;
  maxFutureSkewMs: number;
  labelWeights: Readonly<Record<EventType, number>>;
}

/** Salts of the harness's own random streams (independent of every strategy's). */
const CANDIDATE_SALT = 0x0c4d1da7;
const PROBE_SALT = 0x09f0be5;
const REFERENCE_SALT = 0x7efe7e4c;

/**
 * Items seen as positives, in order of first sight, with uniform sampling without
 * replacement by a partial Fisher–Yates shuffle (Durstenfeld, CACM 1964) of a persistent
 * permutation: the first m slots after m swaps are a uniform m-subset in random order,
 * whatever order the permutation was in.
 */
export class CandidatePool {
  readonly items: ScoredItem[] = [];
  readonly categories: number[] = [];
  private readonly index = new Map<string, number>();
  private perm = new Int32Array(1024);

  get size(): number {
    return this.items.length;
  }

  indexOf(itemId: string): number {
    return this.index.get(itemId) ?? -1;
  }

  add(itemId: string, categoryId: string, category: number): number {
    const i = this.items.length;
    this.index.set(itemId, i);
    this.items.push({ itemId, categoryId });
    this.categories.push(category);
    if (i === this.perm.length) {
      const p = new Int32Array(2 * i);
      p.set(this.perm);
      this.perm = p;
    }
    this.perm[i] = i;
    return i;
  }

  /**
   * Writes n distinct pool indices other than `exclude` (−1: none) to out[offset, offset + n),
   * uniform among such n-subsets. Requires at least n items other than `exclude`.
   * With an exclusion, n + 1 are drawn: if `exclude` is among them it is dropped (the rest
   * is a uniform n-subset of the others), else the last drawn is (likewise uniform).
   */
  draw(n: number, exclude: number, rng: Rng, out: Int32Array, offset: number): void {
    const size = this.items.length;
    const m = exclude >= 0 ? n + 1 : n;
    const perm = this.perm;
    let w = 0;
    for (let i = 0; i < m; i++) {
      const j = i + rng.int(size - i);
      const t = perm[i]!;
      perm[i] = perm[j]!;
      perm[j] = t;
      if (perm[i] !== exclude && w < n) out[offset + w++] = perm[i]!;
    }
  }
}

interface ReferenceRow {
  scorer: ReferenceScorer;
  tally: EvalTally;
}

export class BacktestFeed {
  readonly categoryNames: string[] = [];
  /** Valid events per category index. */
  readonly interactions: number[] = [];
  readonly pool = new CandidatePool();
  /** Valid, de-duplicated events so far (stream positions). */
  events = 0;
  invalid = 0;
  /** Rejected as too far ahead of the watermark. */
  future = 0;
  duplicates = 0;
  evaluated = 0;
  private readonly categoryIndex = new Map<string, number>();
  private readonly dedup: DedupSet;
  private readonly timeGuard: FutureSkewGuard;
  private watermark = -Infinity;
  private readonly candidateRng: Rng;
  private readonly probeRng: Rng;
  private readonly references: ReferenceRow[];
  private readonly trains: readonly boolean[];
  private readonly typeIndex: ReadonlyMap<string, number>;
  private readonly outcome: RankOutcome = { hit: 0, ndcg: 0, auc: 0 };
  private readonly refItems: ScoredItem[];
  private readonly positive: { itemId: string; categoryId: string } = { itemId: '', categoryId: '' };
  private readonly refScores: Float64Array;
  private readonly top: Int32Array;
  private probeUsers = new Set<string>();
  // The chunk being built.
  private seq = 0;
  private chunkStart = 0;
  private newCategories: string[] = [];
  private userIds: string[] = [];
  private itemIds: string[] = [];
  private readonly categories: Int32Array;
  private readonly types: Uint8Array;
  private readonly times: Float64Array;
  private poolItems: string[] = [];
  private poolCategories: number[] = [];
  private evalAt: number[] = [];
  private readonly candidates: Int32Array;
  private probes: Probe[] = [];

  constructor(private readonly o: FeedOptions) {
    this.dedup = new DedupSet(o.dedupHorizon);
    this.timeGuard = new FutureSkewGuard(o.maxFutureSkewMs);
    this.candidateRng = new Rng((o.seed ^ CANDIDATE_SALT) >>> 0);
    this.probeRng = new Rng((o.seed ^ PROBE_SALT) >>> 0);
    this.references = createReferenceScorers({ labelWeights: o.labelWeights }, new Rng((o.seed ^ REFERENCE_SALT) >>> 0)).map((scorer) => ({ scorer, tally: new EvalTally() }));
    this.trains = EVENT_TYPE_ORDER.map((t) => o.labelWeights[t] > 0);
    this.typeIndex = new Map(EVENT_TYPE_ORDER.map((t, i) => [t, i]));
    this.refItems = new Array<ScoredItem>(o.evalCandidates + 1).fill(this.positive);
    this.refScores = new Float64Array(Math.max(o.evalCandidates + 1, o.probeItems));
    this.top = new Int32Array(o.k);
    this.categories = new Int32Array(o.chunkSize);
    this.types = new Uint8Array(o.chunkSize);
    this.times = new Float64Array(o.chunkSize);
    this.candidates = new Int32Array(o.chunkSize * o.evalCandidates);
  }

  /** Takes one event; returns a full chunk to broadcast when one is ready. */
  add(e: InteractionEvent): EventChunk | undefined {
    if (validateEvent(e) !== undefined) {
      this.invalid++;
      return undefined;
    }
    if (!this.timeGuard.admit(e.eventTime, this.watermark)) {
      this.future++;
      return undefined;
    }
    if (!this.dedup.add(e.eventId)) {
      this.duplicates++;
      return undefined;
    }
    if (e.eventTime > this.watermark) this.watermark = e.eventTime;
    const o = this.o;
    const at = this.userIds.length;
    const category = this.categoryOf(e.categoryId);
    const type = this.typeIndex.get(e.type)!;
    this.interactions[category]!++;
    this.userIds.push(e.userId);
    this.itemIds.push(e.itemId);
    this.categories[at] = category;
    this.types[at] = type;
    this.times[at] = e.eventTime;
    if (this.trains[type]) {
      let inPool = this.pool.indexOf(e.itemId);
      if (this.pool.size - (inPool >= 0 ? 1 : 0) >= o.evalCandidates) {
        const slot = this.evalAt.length;
        this.evalAt.push(at);
        this.pool.draw(o.evalCandidates, inPool, this.candidateRng, this.candidates, slot * o.evalCandidates);
        this.evaluateReferences(e, category, slot);
        this.evaluated++;
        if (this.probeUsers.size < o.probeUsers) this.probeUsers.add(e.userId);
      }
      if (inPool < 0) {
        inPool = this.pool.add(e.itemId, e.categoryId, category);
        this.poolItems.push(e.itemId);
        this.poolCategories.push(category);
      }
    }
    for (const r of this.references) r.scorer.observe(e);
    const position = ++this.events;
    if (position % o.probeEvery === 0) this.probe(at);
    if (position % o.seriesEvery === 0) for (const r of this.references) r.tally.seriesPoint(position);
    return this.userIds.length >= o.chunkSize ? this.takeChunk() : undefined;
  }

  /** The last, partial chunk (undefined when empty); closes the reference rows' series. */
  finish(): EventChunk | undefined {
    for (const r of this.references) if (r.tally.lastSeriesPosition < this.events) r.tally.seriesPoint(this.events);
    return this.userIds.length > 0 ? this.takeChunk() : undefined;
  }

  referenceTallies(): { name: string; description: string; tally: EvalTally }[] {
    return this.references.map((r) => ({ name: r.scorer.name, description: r.scorer.description, tally: r.tally }));
  }

  private categoryOf(id: string): number {
    let c = this.categoryIndex.get(id);
    if (c === undefined) {
      c = this.categoryNames.length;
      this.categoryIndex.set(id, c);
      this.categoryNames.push(id);
      this.interactions.push(0);
      this.newCategories.push(id);
    }
    return c;
  }

  private evaluateReferences(e: InteractionEvent, category: number, slot: number): void {
    const n = this.o.evalCandidates;
    const items = this.refItems;
    this.positive.itemId = e.itemId;
    this.positive.categoryId = e.categoryId;
    const base = slot * n;
    for (let j = 0; j < n; j++) items[j + 1] = this.pool.items[this.candidates[base + j]!]!;
    const out = this.refScores;
    for (const r of this.references) {
      r.scorer.score(e.userId, items, out);
      if (rankOutcome(out[0]!, out, 1, n + 1, this.o.k, this.outcome)) r.tally.record(category, this.outcome);
    }
  }

  private probe(at: number): void {
    const o = this.o;
    if (this.probeUsers.size === 0 || this.pool.size < o.k) return;
    const size = Math.min(this.pool.size, o.probeItems);
    const items = new Int32Array(size);
    if (size === this.pool.size) for (let i = 0; i < size; i++) items[i] = i;
    else this.pool.draw(size, -1, this.probeRng, items, 0);
    const users = [...this.probeUsers];
    this.probeUsers = new Set();
    this.probes.push({ at, users, items });
    const scored = Array.from(items, (i) => this.pool.items[i]!);
    const out = this.refScores;
    for (const r of this.references) {
      for (const user of users) {
        r.scorer.score(user, scored, out);
        const got = topK(out, 0, size, o.k, this.top);
        for (let j = 0; j < got; j++) r.tally.recordRecommended(this.pool.categories[items[this.top[j]!]!]!);
      }
    }
  }

  private takeChunk(): EventChunk {
    const n = this.userIds.length;
    const chunk: EventChunk = {
      type: 'chunk',
      seq: this.seq++,
      start: this.chunkStart,
      newCategories: this.newCategories,
      userIds: this.userIds,
      itemIds: this.itemIds,
      categories: this.categories.slice(0, n),
      types: this.types.slice(0, n),
      times: this.times.slice(0, n),
      poolItems: this.poolItems,
      poolCategories: Int32Array.from(this.poolCategories),
      evalAt: Int32Array.from(this.evalAt),
      candidates: this.candidates.slice(0, this.evalAt.length * this.o.evalCandidates),
      probes: this.probes,
    };
    this.chunkStart += n;
    this.newCategories = [];
    this.userIds = [];
    this.itemIds = [];
    this.poolItems = [];
    this.poolCategories = [];
    this.evalAt = [];
    this.probes = [];
    return chunk;
  }
}
