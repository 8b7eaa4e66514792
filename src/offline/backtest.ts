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
 *
 * Warm start (issue #16): with `pretrainEvents` P > 0, the first P events of the source only
 * pre-train: every strategy whose `init-from` is the placeholder PRETRAINED ("@pretrained";
 * the built-in `warm_start`) is first run on them with its own settings (init-from cleared),
 * its final model saved to a temporary directory; then every row (strategies and reference
 * rows) is measured on the events after them, the @pretrained strategies starting from that
 * model (`run --init-from DIR`). So `warm_start` against `none` is the cold-start benefit of
 * yesterday's model on today's traffic; the cold-start window (the first `coldStartEvents`
 * measured events, rounded up to a series point) shows it where it matters. With P = 0 the
 * placeholder means no saved model: such a strategy starts cold (as its settings without it).
 * Two backtests in a row do the same by hand: `--save-models DIR` on the first, a strategy
 * file with `init-from: DIR/<name>` on the second.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { tailCategories } from '../balance/index.js';
import type { InteractionEvent } from '../codec/types.js';
import { defaultConfig, type RawSettings } from '../config/index.js';
import { RebalancerError } from '../errors.js';
import { resolveTrainerConfig } from '../model/index.js';
import { trainerConfigOf } from '../train/model-adapter.js';
import { BacktestFeed } from './backtest-feed.js';
import type { HarnessSettings, RunnerResult, StrategySpec } from './backtest-protocol.js';
import type { SeriesPoint, TallyData } from './backtest-tally.js';
import { BacktestWorkers } from './backtest-workers.js';
import { resolveStrategy, strategyLayers, type Strategy } from './strategies.js';
import { DEFAULT_BACKTEST, type BacktestOptions } from './backtest-defaults.js';

export type { SeriesPoint } from './backtest-tally.js';

export type { BacktestOptions } from './backtest-defaults.js';

/** `init-from` of a backtest strategy: the model its own settings trained on the --pretrain-events events. */
export const PRETRAINED = '@pretrained';

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
  /** HR@K over the cold-start window (the series point at or after `coldStartEvents`); set by runBacktest. */
  coldStart?: ColdStartFigures;
}

/** A row's figures over the first `events` measured events (its cumulative series point there). */
export interface ColdStartFigures {
  events: number;
  evaluated: number;
  microHr: number;
  macroHr: number;
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
  /** Events of the source before `events` that only pre-trained the @pretrained strategies (0: none). */
  pretrainEvents?: number;
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
  for (const s of strategies) resolveStrategy(s, o.harnessSettings);
  if (!(Number.isSafeInteger(o.pretrainEvents) && o.pretrainEvents >= 0)) throw new RebalancerError('REB_INPUT_INVALID', `pretrainEvents must be an integer >= 0, got ${o.pretrainEvents}`);
  const pretrained = strategies.filter(usesPretrained);
  if (o.pretrainEvents === 0) {
    const result = await measure(stream, strategies, strategies.map((s) => (usesPretrained(s) ? withInitFrom(s, '') : s)), o);
    return { ...result, pretrainEvents: 0 };
  }
  const P = o.pretrainEvents;
  const source = eventIterator(stream);
  const tmp = pretrained.length > 0 ? await mkdtemp(join(tmpdir(), 'rebalancer-pretrain-')) : '';
  const modelDir = (s: Strategy): string => join(tmp, dirNameOf(s.name));
  try {
    let read = 0;
    const head: EventStream = {
      total: P,
      async *events() {
        while (read < P) {
          const next = await source.next();
          if (next.done === true) return;
          read++;
          yield next.value;
        }
      },
    };
    if (pretrained.length > 0) {
      await measure(head, pretrained, pretrained.map((s) => withInitFrom(s, '')), { ...o, saveModelsDir: '', onProgress: (done) => o.onProgress?.(done, Math.max(stream.total, P)) }, pretrained.map(modelDir));
    } else {
      // No strategy starts from a pre-trained model: the first P events are skipped alike for every row.
      while (read < P && (await source.next()).done !== true) read++;
    }
    if (read < P) throw new RebalancerError('REB_INPUT_INVALID', `--pretrain-events ${P} leaves no events to backtest: the source has ${read}`);
    const rest: EventStream = {
      total: Math.max(0, stream.total - P),
      async *events() {
        for (;;) {
          const next = await source.next();
          if (next.done === true) return;
          yield next.value;
        }
      },
    };
    const run = strategies.map((s) => (usesPretrained(s) ? withInitFrom(s, modelDir(s)) : s));
    const result = await measure(rest, strategies, run, { ...o, onProgress: (done, total) => o.onProgress?.(P + done, P + total) });
    return { ...result, pretrainEvents: P };
  } finally {
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });
  }
}

function usesPretrained(s: Strategy): boolean {
  return s.settings.initFrom === PRETRAINED;
}

function withInitFrom(s: Strategy, dir: string): Strategy {
  return { ...s, settings: { ...s.settings, initFrom: dir } };
}

/** A directory name for a strategy's saved model (its name, other characters as '_'). */
export function dirNameOf(strategy: string): string {
  return strategy.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || '_';
}

/** One iterator over the stream's events, so that two phases can read it in turn. */
function eventIterator(stream: EventStream): AsyncIterator<InteractionEvent> {
  const events = stream.events();
  if (Symbol.asyncIterator in events) return events[Symbol.asyncIterator]();
  const it = events[Symbol.iterator]();
  return { next: () => Promise.resolve(it.next()) };
}

/**
 * One backtest pass: `run` are the strategies as run (warm-start placeholders resolved),
 * `strategies` as reported. `saveTo[i]`, when given, receives strategy i's final model.
 */
async function measure(stream: EventStream, strategies: readonly Strategy[], run: readonly Strategy[], o: BacktestOptions, saveTo?: readonly string[]): Promise<BacktestResult> {
  const specs: StrategySpec[] = run.map((s, i) => {
    const dir = saveTo?.[i] ?? (o.saveModelsDir === '' ? undefined : join(o.saveModelsDir, dirNameOf(s.name)));
    return { name: s.name, layers: strategyLayers(s, o.harnessSettings), ...(dir === undefined ? {} : { saveModelTo: dir }) };
  });
  const dirs = specs.map((s) => s.saveModelTo).filter((d): d is string => d !== undefined);
  if (new Set(dirs).size !== dirs.length) throw new RebalancerError('REB_INPUT_INVALID', `two strategies would save their models into one directory (${dirs.join(', ')}): give them names that differ in [A-Za-z0-9._-]`);
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
  const figures = (name: string, description: string, t: TallyData): RowResult => ({ ...rowFigures(name, description, t, names, feed.interactions, tail), coldStart: coldStartOf(t.series, o.coldStartEvents) });
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

/** The cumulative figures at the first series point at or after `window` (the last point when the stream is shorter). */
export function coldStartOf(series: readonly SeriesPoint[], window: number): ColdStartFigures {
  const p = series.find((x) => x.events >= window) ?? series[series.length - 1];
  return p === undefined ? { events: 0, evaluated: 0, microHr: 0, macroHr: 0 } : { events: p.events, evaluated: p.evaluated, microHr: p.cumulativeMicro, macroHr: p.cumulativeMacro };
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
