/**
 * Offline prequential backtest of several strategies (sets of `rebalancer run`
 * settings) and the reference rows, side by side on the same events and the same
 * evaluation candidates, without a service or a broker.
 *
 * The main thread reads the source once (streaming: never all events in memory), cleans
 * it and draws the shared candidates (backtest-feed.ts), runs the reference rows, and
 * broadcasts chunks to worker threads (backtest-workers.ts) that each run a subset of
 * the strategies in lockstep, each doing per event and per batch what the service does
 * (backtest-runner.ts). Results do not depend on the number of workers.
 *
 * Metrics over the whole run (cumulative, every evaluation counts once):
 *  - micro HR@K / NDCG@K: mean over all evaluations (the stream's mix);
 *  - macro HR@K / NDCG@K: mean over categories of each category's mean (balanced);
 *  - AUC: micro mean of the per-evaluation AUC against the sampled candidates;
 *  - tail share of recommendations: share of the probes' top-K slots in tail categories,
 *    against the tail's share of interactions. Tail = outside the most frequent categories
 *    holding at least 1 − `tailShare` of all events (headCategories), from the final counts.
 * The time series is HR@K per interval of the stream (micro: all evaluations in the
 * interval; macro: mean over the categories evaluated in it) and cumulative up to each
 * point (its last point is the whole-run micro and macro HR@K).
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { headCategories } from '../balance/index.js';
import type { InteractionEvent } from '../codec/types.js';
import { defaultConfig, type RawSettings } from '../config/index.js';
import { RebalancerError } from '../errors.js';
import { resolveTrainerConfig } from '../model/index.js';
import { trainerConfigOf } from '../service/model-adapter.js';
import { BacktestFeed } from './backtest-feed.js';
import type { HarnessSettings, RunnerResult, StrategySpec } from './backtest-protocol.js';
import type { SeriesPoint, TallyData } from './backtest-tally.js';
import { BacktestWorkers } from './backtest-workers.js';
import { resolveStrategy, strategyLayers, type Strategy } from './strategies.js';
import { DEFAULT_BACKTEST } from './backtest-defaults.js';

export type { SeriesPoint } from './backtest-tally.js';

export interface BacktestOptions {
  /** Seed of the harness (candidates, probes, reference rows). */
  seed: number;
  k: number;
  /** Candidates each positive is ranked among. */
  evalCandidates: number;
  tailShare: number;
  /** Points of the time series. */
  seriesPoints: number;
  /** Recommendation probes over the run; each: up to `probeUsers` users × up to `probeItems` items. */
  probes: number;
  probeUsers: number;
  probeItems: number;
  /** Worker threads (at most one per strategy). */
  workers: number;
  /** Events per broadcast chunk, and chunks a worker may have queued. */
  chunkSize: number;
  queueDepth: number;
  /** Run settings the backtest's own flags set for every strategy (below the strategy's own): --seed, --batch-size. */
  harnessSettings: RawSettings;
  onProgress?(done: number, total: number): void;
}

export { DEFAULT_BACKTEST } from './backtest-defaults.js';

/** Events to backtest, read once, in order; `total` is the expected count (0 when unknown). */
export interface EventStream {
  readonly total: number;
  events(): AsyncIterable<InteractionEvent> | Iterable<InteractionEvent>;
}

export interface CategoryResult {
  hr: number;
  /** Evaluations that were hits (hr = hits / evaluated): what a confidence interval of hr is computed from. */
  hits: number;
  ndcg: number;
  auc: number;
  evaluated: number;
  interactions: number;
  recommended: number;
}

export interface RowResult {
  name: string;
  description: string;
  microHr: number;
  macroHr: number;
  microNdcg: number;
  macroNdcg: number;
  auc: number;
  evaluated: number;
  /** Evaluations that were hits (microHr = hits / evaluated). */
  hits: number;
  tailShareRecs: number;
  perCategory: Record<string, CategoryResult>;
  series: SeriesPoint[];
}

export interface StrategyResult extends RowResult {
  /** The strategy's own settings (the rest are the run defaults). */
  settings: RawSettings;
  trainedSamples: number;
  /** Mean serving-time adjustment τ over the evaluated positives. */
  meanServingTau: number;
  /** Timing (not deterministic). */
  samplesPerSecond: number;
  wallSeconds: number;
}

export interface BacktestResult {
  k: number;
  seed: number;
  evalCandidates: number;
  /** Valid events backtested (stream positions). */
  events: number;
  /** Dropped as in the service: invalid, too far ahead of the watermark, duplicate ids. */
  dropped: { invalid: number; future: number; duplicates: number };
  categories: string[];
  tailCategories: string[];
  tailShareInteractions: number;
  strategies: StrategyResult[];
  references: RowResult[];
  /** Timing (not deterministic). */
  wallSeconds: number;
  workers: number;
}

/**
 * Tail categories: the ones outside the head, the most frequent categories holding at least
 * 1 − `share` of the events (the project's one definition, `headCategories`, as the metrics).
 */
export function tailCategories(counts: ReadonlyMap<string, number>, share: number): Set<string> {
  const head = headCategories(counts, 1 - share);
  return new Set([...counts.keys()].filter((c) => !head.has(c)));
}

/** The label weights the harness evaluates by: the service's defaults (views are not positives). */
export function harnessLabelWeights(): ReturnType<typeof resolveTrainerConfig>['labelWeights'] {
  return resolveTrainerConfig(trainerConfigOf(defaultConfig())).labelWeights;
}

export async function runBacktest(stream: EventStream, strategies: readonly Strategy[], options: Partial<BacktestOptions> = {}): Promise<BacktestResult> {
  const o: BacktestOptions = { ...DEFAULT_BACKTEST, ...options };
  if (strategies.length === 0) throw new RebalancerError('REB_INPUT_INVALID', 'no strategies to backtest');
  const names = new Set<string>();
  for (const s of strategies) {
    if (names.has(s.name)) throw new RebalancerError('REB_INPUT_INVALID', `strategy name ${JSON.stringify(s.name)} given twice (built-in and file strategies share one name space)`, { strategy: s.name });
    names.add(s.name);
  }
  // Validate every strategy before any thread starts.
  const specs: StrategySpec[] = strategies.map((s) => {
    resolveStrategy(s, o.harnessSettings);
    return { name: s.name, layers: strategyLayers(s, o.harnessSettings) };
  });
  const started = performance.now();
  const total = stream.total;
  const harness: HarnessSettings = { k: o.k, evalCandidates: o.evalCandidates, seriesEvery: total > 0 ? Math.max(1, Math.ceil(total / o.seriesPoints)) : 10_000 };
  const defaults = defaultConfig();
  const feed = new BacktestFeed({
    seed: o.seed,
    k: o.k,
    evalCandidates: o.evalCandidates,
    seriesEvery: harness.seriesEvery,
    probeEvery: total > 0 ? Math.max(1, Math.ceil(total / o.probes)) : 20_000,
    probeUsers: o.probeUsers,
    probeItems: o.probeItems,
    chunkSize: o.chunkSize,
    dedupHorizon: defaults.dedupHorizon,
    maxFutureSkewMs: defaults.maxFutureSkewMs,
    labelWeights: harnessLabelWeights(),
  });
  const workerCount = Math.max(1, Math.min(o.workers > 0 ? o.workers : availableParallelism(), specs.length));
  // Round-robin: worker w runs strategies w, w + W, ... (the grouping does not change any result).
  const groups: StrategySpec[][] = Array.from({ length: workerCount }, (_, w) => specs.filter((_, i) => i % workerCount === w));
  const workers = new BacktestWorkers(groups, harness, o.queueDepth, (done) => o.onProgress?.(done, Math.max(total, feed.events)));
  let results: RunnerResult[][];
  try {
    for await (const e of stream.events()) {
      const chunk = feed.add(e);
      if (chunk !== undefined) await workers.broadcast(chunk);
    }
    const last = feed.finish();
    if (last !== undefined) await workers.broadcast(last);
    if (feed.events === 0) throw new RebalancerError('REB_INPUT_INVALID', 'no valid events to backtest (check the source and the range flags)');
    results = await workers.finish(feed.events);
  } catch (err) {
    await workers.terminate();
    throw err;
  }
  const byName = new Map(results.flat().map((r) => [r.name, r]));
  return assemble(o, feed, strategies, byName, (performance.now() - started) / 1000, workerCount);
}

function assemble(o: BacktestOptions, feed: BacktestFeed, strategies: readonly Strategy[], byName: ReadonlyMap<string, RunnerResult>, wallSeconds: number, workers: number): BacktestResult {
  const names = feed.categoryNames;
  const counts = new Map(names.map((c, i) => [c, feed.interactions[i]!]));
  const tail = tailCategories(counts, o.tailShare);
  let tailInteractions = 0;
  for (const c of tail) tailInteractions += counts.get(c)!;
  const figures = (name: string, description: string, t: TallyData): RowResult => rowFigures(name, description, t, names, feed.interactions, tail);
  return {
    k: o.k,
    seed: o.seed,
    evalCandidates: o.evalCandidates,
    events: feed.events,
    dropped: { invalid: feed.invalid, future: feed.future, duplicates: feed.duplicates },
    categories: [...names].sort(),
    tailCategories: [...tail].sort(),
    tailShareInteractions: tailInteractions / Math.max(1, feed.events),
    strategies: strategies.map((s) => {
      const r = byName.get(s.name)!;
      return {
        ...figures(s.name, s.description, r.tally),
        settings: { ...s.settings },
        trainedSamples: r.trainedSamples,
        meanServingTau: r.meanServingTau,
        samplesPerSecond: r.trainSeconds > 0 ? r.trainedSamples / r.trainSeconds : 0,
        wallSeconds: r.wallSeconds,
      };
    }),
    references: feed.referenceTallies().map((r) => figures(r.name, r.description, r.tally.data())),
    wallSeconds,
    workers,
  };
}

function rowFigures(name: string, description: string, t: TallyData, categories: readonly string[], interactions: readonly number[], tail: ReadonlySet<string>): RowResult {
  const perCategory: Record<string, CategoryResult> = {};
  let macroHr = 0;
  let macroNdcg = 0;
  let evaluatedCategories = 0;
  let tailSlots = 0;
  const order = categories.map((c, i) => [c, i] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [c, i] of order) {
    const n = t.catN[i] ?? 0;
    const recommended = t.recommended[i] ?? 0;
    perCategory[c] = {
      hr: n > 0 ? t.catHit[i]! / n : 0,
      hits: t.catHit[i] ?? 0,
      ndcg: n > 0 ? t.catNdcg[i]! / n : 0,
      auc: n > 0 ? t.catAuc[i]! / n : 0,
      evaluated: n,
      interactions: interactions[i]!,
      recommended,
    };
    if (tail.has(c)) tailSlots += recommended;
    if (n > 0) {
      macroHr += t.catHit[i]! / n;
      macroNdcg += t.catNdcg[i]! / n;
      evaluatedCategories++;
    }
  }
  const n = Math.max(1, t.n);
  return {
    name,
    description,
    microHr: t.hit / n,
    macroHr: evaluatedCategories > 0 ? macroHr / evaluatedCategories : 0,
    microNdcg: t.ndcg / n,
    macroNdcg: evaluatedCategories > 0 ? macroNdcg / evaluatedCategories : 0,
    auc: t.auc / n,
    evaluated: t.n,
    hits: t.hit,
    tailShareRecs: t.recSlots > 0 ? tailSlots / t.recSlots : 0,
    perCategory,
    series: t.series,
  };
}

export { settingsLine } from './strategies.js';
