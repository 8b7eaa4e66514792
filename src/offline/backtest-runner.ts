/**
 * One strategy in a backtest, doing per event and per batch what the service does with
 * the same configuration (src/ingest/pipeline.ts, src/service/*):
 *
 *   - every valid event is observed by the balance state through the service's
 *     BalanceAdapter (views count in the window);
 *   - events the model trains on (label weight > 0) are the fresh training events; every
 *     `batchSize` of them (the service's --batch-size; the remainder at the end of the
 *     stream) are composed by the adapter (replay, undersampling, class weights), put
 *     fresh-first (`freshFirst`) and the trainer steps on them, as ModelAdapter.train does;
 *   - the model, trainer and balance state are built from the configuration by the
 *     service's own mappings (balanceConfigOf, modelConfigOf, trainerConfigOf) with the
 *     service's seeding (one Rng of --seed: the balance state, then two forks).
 *
 * Evaluation is the harness's, not the trainer's: before a batch trains, every evaluated
 * positive that arrived since the previous batch is ranked among the candidates the harness
 * drew for it (the same for every strategy and reference row), prequentially (test, then
 * train), by `IncrementalTrainer.scoreInStream`, as the service's ModelAdapter does: the
 * embeddings as of the last step, the model's streaming count features up to the positive
 * just before it.
 */
import { performance } from 'node:perf_hooks';
import { EVENT_TYPE_ORDER, Rng } from '../balance/index.js';
import { makeEvent, type InteractionEvent } from '../codec/types.js';
import { loadConfig, type ServiceConfig } from '../config/index.js';
import { initialTrainer, rankOutcome, saveModel, type IncrementalTrainer, type PreparedInit, type RankOutcome, type RecModel } from '../model/index.js';
import { RebalancerError } from '../errors.js';
import { BalanceAdapter, freshFirst } from '../train/balance-adapter.js';
import { modelConfigOf, prepareInitOf, trainerConfigOf, usesInitSource } from '../train/model-adapter.js';
import type { EventChunk, HarnessSettings, Probe, RunnerResult, StrategySpec } from './backtest-protocol.js';
import { EvalTally, topK } from './backtest-tally.js';

interface Pair {
  userId: string;
  itemId: string;
  categoryId: string;
}

const NO_EXTRA: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** A chunk decoded once per worker and shared by its runners. */
export interface ChunkView {
  start: number;
  events: InteractionEvent[];
  categories: Int32Array;
  /** Index of each event's type in EVENT_TYPE_ORDER. */
  types: Uint8Array;
  /** Per event: its position in evalAt, or −1 when it is not evaluated. */
  evalSlot: Int32Array;
  candidates: Int32Array;
  /** Probes by the chunk index they follow. */
  probes: ReadonlyMap<number, Probe>;
}

/** The dictionaries a worker keeps across chunks: category names and the candidate pool. */
export class StreamTables {
  readonly categoryNames: string[] = [];
  readonly pool: Pair[] = [];
  readonly poolCategory: number[] = [];

  decode(chunk: EventChunk): ChunkView {
    for (const c of chunk.newCategories) this.categoryNames.push(c);
    for (let i = 0; i < chunk.poolItems.length; i++) {
      const cat = chunk.poolCategories[i]!;
      this.pool.push({ userId: '', itemId: chunk.poolItems[i]!, categoryId: this.categoryNames[cat]! });
      this.poolCategory.push(cat);
    }
    const n = chunk.userIds.length;
    const events = new Array<InteractionEvent>(n);
    for (let i = 0; i < n; i++) {
      events[i] = makeEvent({
        // Nothing downstream of the state update reads the event id (dedup is the harness's).
        eventId: '',
        userId: chunk.userIds[i]!,
        itemId: chunk.itemIds[i]!,
        categoryId: this.categoryNames[chunk.categories[i]!]!,
        type: EVENT_TYPE_ORDER[chunk.types[i]!]!,
        eventTime: chunk.times[i]!,
        extra: NO_EXTRA,
      });
    }
    const evalSlot = new Int32Array(n).fill(-1);
    for (let j = 0; j < chunk.evalAt.length; j++) evalSlot[chunk.evalAt[j]!] = j;
    return { start: chunk.start, events, categories: chunk.categories, types: chunk.types, evalSlot, candidates: chunk.candidates, probes: new Map(chunk.probes.map((p) => [p.at, p])) };
  }
}

export class StrategyRunner {
  readonly name: string;
  readonly config: ServiceConfig;
  private readonly balance: BalanceAdapter;
  private readonly model: RecModel;
  /** The strategy's trainer (model sync in src/offline/sync-sim.ts counts its steps and blends into its model). */
  readonly trainer: IncrementalTrainer;
  private readonly trains: readonly boolean[];
  private readonly prior: (categoryId: string) => number;
  private readonly tally = new EvalTally();
  private readonly outcome: RankOutcome = { hit: 0, ndcg: 0, auc: 0 };
  private readonly top: Int32Array;
  private fresh: InteractionEvent[] = [];
  /** Evaluated positives waiting for the next batch: the event, its category, its candidates. */
  private pendingEvents: InteractionEvent[] = [];
  private pendingCategories: number[] = [];
  private pendingCandidates: Int32Array[] = [];
  private pendingOffsets: number[] = [];
  /** Index of each pending positive in `fresh`. */
  private pendingIndex: number[] = [];
  private served = new Float32Array(0);
  private tauSum = 0;
  private evaluations = 0;
  private trainedSamples = 0;
  private trainMs = 0;
  /**
   * Stream position of a series point not yet closed (0: none). A point is closed when the
   * next event arrives, or at the end after the remainder batch is evaluated, so the last
   * point counts every evaluation and its cumulative figures are the whole-run ones.
   */
  private openPoint = 0;
  private readonly started = performance.now();

  /** A runner whose model starts from the strategy's warm-start sources (--init-from, --item-embeddings), read first. */
  static async create(spec: StrategySpec, harness: HarnessSettings, tables: StreamTables): Promise<StrategyRunner> {
    return new StrategyRunner(spec, harness, tables, await prepareInitOf(loadConfig({ layers: spec.layers })));
  }

  /** `init`: the warm-start sources read by prepareInitOf (needed when the strategy sets them; see `create`). */
  constructor(spec: StrategySpec, private readonly harness: HarnessSettings, private readonly tables: StreamTables, init: PreparedInit | null = null) {
    this.name = spec.name;
    this.config = loadConfig({ layers: spec.layers });
    const config = this.config;
    if (init === null && usesInitSource(config)) throw new RebalancerError('REB_INPUT_INVALID', `strategy ${JSON.stringify(spec.name)} sets --init-from / --item-embeddings: its runner must read them first (StrategyRunner.create)`);
    // As startService: one Rng of the seed; the balance state takes it, the model and trainer forks
    // (ModelAdapter.create: from the warm-start sources when the strategy sets them).
    const rng = new Rng(config.seed);
    this.balance = BalanceAdapter.create(config, rng);
    const modelRng = rng.fork();
    this.trainer = initialTrainer(init, modelConfigOf(config), trainerConfigOf(config), modelRng, rng.fork());
    this.model = this.trainer.model;
    const labelWeights = this.trainer.config.labelWeights;
    this.trains = EVENT_TYPE_ORDER.map((t) => labelWeights[t] > 0);
    this.prior = (c) => this.balance.prior(c);
    // --undersampling informed: the composer ranks fresh events by the loss of the model as it is before the step.
    if (config.undersampling === 'informed') this.balance.scoreWith((events) => this.model.scorePairs(events));
    this.top = new Int32Array(harness.k);
  }

  process(view: ChunkView): void {
    const { events, evalSlot } = view;
    const batchSize = this.config.batchSize;
    const every = this.harness.seriesEvery;
    const nCand = this.harness.evalCandidates;
    for (let i = 0; i < events.length; i++) {
      if (this.openPoint > 0) {
        this.tally.seriesPoint(this.openPoint);
        this.openPoint = 0;
      }
      const e = events[i]!;
      this.balance.observe(e);
      const slot = evalSlot[i]!;
      const trains = this.trains[view.types[i]!]!;
      if (slot >= 0 && trains) {
        this.pendingIndex.push(this.fresh.length);
        this.pendingEvents.push(e);
        this.pendingCategories.push(view.categories[i]!);
        this.pendingCandidates.push(view.candidates);
        this.pendingOffsets.push(slot * nCand);
      }
      if (trains) {
        this.fresh.push(e);
        if (this.fresh.length >= batchSize) this.flush();
      }
      const probe = view.probes.get(i);
      if (probe !== undefined) this.probe(probe);
      const position = view.start + i + 1;
      if (position % every === 0) this.openPoint = position;
    }
  }

  /**
   * End of the stream: the remainder batch (as the service's rebatch emits on completion),
   * then the last series point at `events` (the open one, if the stream ended on a point).
   */
  finish(events: number): RunnerResult {
    this.flush();
    this.openPoint = 0;
    if (this.tally.lastSeriesPosition < events) this.tally.seriesPoint(events);
    return {
      name: this.name,
      tally: this.tally.data(),
      trainedSamples: this.trainedSamples,
      meanServingTau: this.evaluations > 0 ? this.tauSum / this.evaluations : 0,
      trainSeconds: this.trainMs / 1000,
      wallSeconds: (performance.now() - this.started) / 1000,
    };
  }

  /** Saves the model and trainer state into `dir` (saveModel's layout: what `run --init-from DIR` reads). */
  async saveModel(dir: string): Promise<void> {
    await saveModel(this.model, this.trainer.exportState(), dir, `backtest-${this.name}`, { keep: 1 });
  }

  dispose(): void {
    this.model.dispose();
  }

  /** Test (rank the pending positives), then train on the composed batch. */
  private flush(): void {
    this.evaluatePending();
    const fresh = this.fresh;
    if (fresh.length === 0) return;
    this.fresh = [];
    if (!this.config.train) return;
    const { items, weights, freshCount } = freshFirst(this.balance.compose(fresh));
    if (items.length === 0) return;
    const t0 = performance.now();
    const report = this.trainer.step(items, weights, this.prior, { freshCount });
    this.trainMs += performance.now() - t0;
    this.trainedSamples += report.trainedSamples;
  }

  private evaluatePending(): void {
    const m = this.pendingEvents.length;
    const fresh = this.fresh;
    const nCand = this.harness.evalCandidates;
    const group = nCand + 1;
    const pool = this.tables.pool;
    const queries = new Array<{ index: number; candidates: Pair[] }>(m);
    for (let e = 0; e < m; e++) {
      const cands = this.pendingCandidates[e]!;
      const off = this.pendingOffsets[e]!;
      const candidates = new Array<Pair>(nCand);
      for (let j = 0; j < nCand; j++) candidates[j] = pool[cands[off + j]!]!;
      queries[e] = { index: this.pendingIndex[e]!, candidates };
    }
    // As the service's ModelAdapter: every fresh positive in stream order, each ranked with
    // the embeddings of the last step and the streaming counts of every positive before it
    // (the trainer counts them on the way, undersampled or not).
    // Ranked as served: with the serving-time adjustment τ in use at that point; then the raw
    // ranking feeds the adjustment controller, as the trainer's own evaluation does.
    const logPrior = new Float32Array(m * group);
    const scores = this.trainer.scoreInStream(fresh, fresh.length, queries, logPrior);
    const served = this.served.length === group ? this.served : (this.served = new Float32Array(group));
    for (let e = 0; e < m; e++) {
      const base = e * group;
      this.trainer.servedScores(scores, logPrior, base, base + group, served);
      this.tauSum += this.trainer.adjustment.tau;
      this.evaluations++;
      if (rankOutcome(served[0]!, served, 1, group, this.harness.k, this.outcome)) this.tally.record(this.pendingCategories[e]!, this.outcome);
      this.trainer.recordAdjustment(this.pendingEvents[e]!.categoryId, scores, logPrior, base, base + group);
    }
    this.pendingEvents = [];
    this.pendingCategories = [];
    this.pendingCandidates = [];
    this.pendingOffsets = [];
    this.pendingIndex = [];
  }

  /** Top-K of the probe's items for each probe user, as served by the model as it is now; tallies their categories. */
  private probe(probe: Probe): void {
    const pool = this.tables.pool;
    const items = probe.items;
    const n = items.length;
    const pairs = new Array<Pair>(probe.users.length * n);
    probe.users.forEach((userId, u) => {
      for (let j = 0; j < n; j++) {
        const item = pool[items[j]!]!;
        pairs[u * n + j] = { userId, itemId: item.itemId, categoryId: item.categoryId };
      }
    });
    const scores = this.model.scoreServed(pairs);
    for (let u = 0; u < probe.users.length; u++) {
      const got = topK(scores, u * n, (u + 1) * n, this.harness.k, this.top);
      for (let r = 0; r < got; r++) this.tally.recordRecommended(this.tables.poolCategory[items[this.top[r]! - u * n]!]!);
    }
  }
}
