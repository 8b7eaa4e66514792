/**
 * Offline prequential backtest: the same events, seed and model for every strategy;
 * per batch of the stream, every fresh positive is first ranked by the current model
 * (test), then the model trains on the strategy's batch (train). No service, no broker.
 *
 * Metrics over the whole run (cumulative, every evaluation counts once):
 *  - micro HR@K / NDCG@K: mean over all evaluations (the stream's mix);
 *  - macro HR@K / NDCG@K: mean over categories of each category's mean (balanced);
 *  - AUC: micro mean of the per-evaluation AUC against the sampled candidates;
 *  - tail share of recommendations: top-K lists for probe users over all items seen so far,
 *    share of slots in tail categories, against the tail's share of interactions. Tail =
 *    the least frequent categories that together hold at most `tailShare` of all events.
 * The time series for the chart is the trainer's own sliding-horizon evaluator (last H
 * evaluations per category), sampled at regular points of the stream.
 */
import { performance } from 'node:perf_hooks';
import { BalanceState, EVENT_TYPE_ORDER, Rng } from '../balance/index.js';
import type { InteractionEvent } from '../codec/types.js';
import { createModel, IncrementalTrainer, rankOutcome, recommendBatch, type Candidate, type RankOutcome, type ModelConfig, type TrainerConfigInput } from '../model/index.js';
import type { Strategy } from './strategies.js';

export interface BacktestOptions {
  seed: number;
  k: number;
  /** Fresh events per step. */
  batchSize: number;
  /** Candidates each positive is ranked among. */
  evalCandidates: number;
  tailShare: number;
  /** Points of the time series per strategy. */
  seriesPoints: number;
  /** Recommendation probes per strategy (each: `probeUsers` users × all items seen). */
  probes: number;
  probeUsers: number;
  model?: Partial<ModelConfig>;
  trainer?: TrainerConfigInput;
  onProgress?(strategy: string, done: number, total: number): void;
}

export const DEFAULT_BACKTEST: Readonly<BacktestOptions> = Object.freeze({
  seed: 42,
  k: 10,
  batchSize: 256,
  evalCandidates: 100,
  tailShare: 0.2,
  seriesPoints: 50,
  probes: 50,
  probeUsers: 32,
});

export interface CategoryResult {
  hr: number;
  ndcg: number;
  auc: number;
  evaluated: number;
  interactions: number;
  recommended: number;
}

export interface SeriesPoint {
  events: number;
  micro: number;
  macro: number;
}

export interface StrategyResult {
  name: string;
  description: string;
  microHr: number;
  macroHr: number;
  microNdcg: number;
  macroNdcg: number;
  auc: number;
  evaluated: number;
  tailShareRecs: number;
  tailShareInteractions: number;
  perCategory: Record<string, CategoryResult>;
  series: SeriesPoint[];
  /** Timing (not deterministic). */
  samplesPerSecond: number;
  trainedSamples: number;
  wallSeconds: number;
}

export interface BacktestResult {
  k: number;
  seed: number;
  events: number;
  categories: string[];
  tailCategories: string[];
  strategies: StrategyResult[];
}

/** Cumulative per-category tallies of hit, NDCG and AUC; same formulas as PrequentialEvaluator. */
class Tally {
  readonly perCategory = new Map<string, { n: number; hit: number; ndcg: number; auc: number }>();
  n = 0;
  hit = 0;
  ndcg = 0;
  auc = 0;

  private readonly outcome: RankOutcome = { hit: 0, ndcg: 0, auc: 0 };

  constructor(private readonly k: number) {}

  record(categoryId: string, positiveScore: number, scores: ArrayLike<number>, from: number, to: number): void {
    if (!rankOutcome(positiveScore, scores, from, to, this.k, this.outcome)) return;
    const { hit, ndcg, auc } = this.outcome;
    let c = this.perCategory.get(categoryId);
    if (c === undefined) {
      c = { n: 0, hit: 0, ndcg: 0, auc: 0 };
      this.perCategory.set(categoryId, c);
    }
    c.n++;
    c.hit += hit;
    c.ndcg += ndcg;
    c.auc += auc;
    this.n++;
    this.hit += hit;
    this.ndcg += ndcg;
    this.auc += auc;
  }
}

/** Tail categories: the least frequent ones that together hold at most `share` of the events. */
export function tailCategories(counts: ReadonlyMap<string, number>, share: number): Set<string> {
  const total = [...counts.values()].reduce((s, x) => s + x, 0);
  const ascending = [...counts].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
  const tail = new Set<string>();
  let acc = 0;
  for (const [c, n] of ascending) {
    if (acc + n > share * total) break;
    acc += n;
    tail.add(c);
  }
  return tail;
}

export function runBacktest(events: readonly InteractionEvent[], strategies: readonly Strategy[], options: Partial<BacktestOptions> = {}): BacktestResult {
  const o: BacktestOptions = { ...DEFAULT_BACKTEST, ...options };
  const counts = new Map<string, number>();
  for (const e of events) counts.set(e.categoryId, (counts.get(e.categoryId) ?? 0) + 1);
  const categories = [...counts.keys()].sort();
  const tail = tailCategories(counts, o.tailShare);
  let tailInteractions = 0;
  for (const c of tail) tailInteractions += counts.get(c)!;
  const results = strategies.map((s) => runStrategy(events, s, o, counts, tail, tailInteractions / Math.max(1, events.length)));
  return { k: o.k, seed: o.seed, events: events.length, categories, tailCategories: [...tail].sort(), strategies: results };
}

function runStrategy(events: readonly InteractionEvent[], strategy: Strategy, o: BacktestOptions, counts: ReadonlyMap<string, number>, tail: ReadonlySet<string>, tailShareInteractions: number): StrategyResult {
  const wallStart = performance.now();
  // Same seeds for every strategy: identical initial model, samplers and balance state.
  const model = createModel(o.model ?? {}, new Rng(o.seed));
  const trainer = new IncrementalTrainer(model, {
    ...o.trainer,
    loss: { ...o.trainer?.loss, ...strategy.loss },
    evalK: o.k,
    evalCandidates: o.evalCandidates,
    // Every fresh positive is evaluated, so every strategy is scored on the same events.
    evalMaxPerStep: 1 << 20,
  }, new Rng(o.seed ^ 0x1234567));
  const labelWeights = trainer.config.labelWeights;
  // As in the service (--replay-event-types): replay only the types the model trains on.
  // Only those are observed below anyway, so this changes no result today; it keeps the
  // replay buffers right should the backtest's window also count views, as the service's does.
  const trainable = EVENT_TYPE_ORDER.filter((t) => labelWeights[t] > 0);
  const balance = new BalanceState<InteractionEvent>({ ...(trainable.length > 0 ? { replayEventTypes: trainable } : {}), ...strategy.balance, weightPolicy: strategy.weightPolicy }, new Rng(o.seed ^ 0x7654321));
  const tally = new Tally(o.k);
  // Tap the trainer's evaluator: it keeps its sliding horizon (for the series), and the
  // tally sees the very same rankings for the cumulative figures.
  const evaluator = trainer.evaluator;
  const record = evaluator.record.bind(evaluator);
  evaluator.record = (categoryId, positiveScore, scores, from, to) => {
    record(categoryId, positiveScore, scores, from, to);
    tally.record(categoryId, positiveScore, scores, from, to);
  };
  const prior = (c: string): number => balance.prior(c);

  const candidates: Candidate[] = [];
  const seenItems = new Set<string>();
  const recommended = new Map<string, number>();
  let recSlots = 0;
  let tailSlots = 0;
  const series: SeriesPoint[] = [];
  const seriesEvery = Math.max(o.batchSize, Math.floor(events.length / Math.max(1, o.seriesPoints)));
  const probeEvery = Math.max(o.batchSize, Math.floor(events.length / Math.max(1, o.probes)));
  let nextSeries = seriesEvery;
  let nextProbe = probeEvery;
  let trainMs = 0;
  let trainedSamples = 0;

  try {
    for (let start = 0; start < events.length; start += o.batchSize) {
      const end = Math.min(events.length, start + o.batchSize);
      const positives: InteractionEvent[] = [];
      for (let i = start; i < end; i++) {
        const e = events[i]!;
        if (!seenItems.has(e.itemId)) {
          seenItems.add(e.itemId);
          candidates.push({ itemId: e.itemId, categoryId: e.categoryId });
        }
        if (labelWeights[e.type] > 0) {
          positives.push(e);
          balance.observe(e);
        }
      }
      trainer.evaluate(positives);
      let batch: readonly InteractionEvent[] = positives;
      let weights: Float32Array;
      if (strategy.replay && positives.length > 0) {
        const composed = balance.composeBatch(positives, positives.length);
        batch = composed.items;
        weights = composed.weights;
      } else {
        weights = new Float32Array(positives.length);
        for (let i = 0; i < positives.length; i++) weights[i] = balance.weightOf(positives[i]!.categoryId);
      }
      const t0 = performance.now();
      const report = trainer.step(batch, weights, prior);
      trainMs += performance.now() - t0;
      trainedSamples += report.trainedSamples;

      if (end >= nextProbe || end === events.length) {
        nextProbe += probeEvery;
        // Probe users: the first distinct users of this batch (deterministic).
        const users: string[] = [];
        for (const p of positives) if (!users.includes(p.userId) && users.length < o.probeUsers) users.push(p.userId);
        if (users.length > 0 && candidates.length >= o.k) {
          for (const list of recommendBatch(model, users, candidates, o.k)) {
            for (const r of list) {
              recommended.set(r.categoryId, (recommended.get(r.categoryId) ?? 0) + 1);
              recSlots++;
              if (tail.has(r.categoryId)) tailSlots++;
            }
          }
        }
      }
      if (end >= nextSeries || end === events.length) {
        nextSeries += seriesEvery;
        const s = evaluator.snapshot();
        series.push({ events: end, micro: s.microHitRate, macro: s.macroHitRate });
      }
      o.onProgress?.(strategy.name, end, events.length);
    }
  } finally {
    model.dispose();
  }

  const perCategory: Record<string, CategoryResult> = {};
  let macroHr = 0;
  let macroNdcg = 0;
  let evaluatedCategories = 0;
  for (const c of [...counts.keys()].sort()) {
    const t = tally.perCategory.get(c);
    const n = t?.n ?? 0;
    perCategory[c] = {
      hr: n > 0 ? t!.hit / n : 0,
      ndcg: n > 0 ? t!.ndcg / n : 0,
      auc: n > 0 ? t!.auc / n : 0,
      evaluated: n,
      interactions: counts.get(c)!,
      recommended: recommended.get(c) ?? 0,
    };
    if (n > 0) {
      macroHr += t!.hit / n;
      macroNdcg += t!.ndcg / n;
      evaluatedCategories++;
    }
  }
  const n = Math.max(1, tally.n);
  return {
    name: strategy.name,
    description: strategy.description,
    microHr: tally.hit / n,
    macroHr: evaluatedCategories > 0 ? macroHr / evaluatedCategories : 0,
    microNdcg: tally.ndcg / n,
    macroNdcg: evaluatedCategories > 0 ? macroNdcg / evaluatedCategories : 0,
    auc: tally.auc / n,
    evaluated: tally.n,
    tailShareRecs: recSlots > 0 ? tailSlots / recSlots : 0,
    tailShareInteractions,
    perCategory,
    series,
    samplesPerSecond: trainMs > 0 ? trainedSamples / (trainMs / 1000) : 0,
    trainedSamples,
    wallSeconds: (performance.now() - wallStart) / 1000,
  };
}
