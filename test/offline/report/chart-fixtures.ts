/**
 * Synthetic backtest results for the report's tests: Zipf category sizes, per-row hit rates,
 * per-interval series values that do not end at the whole-run figures and cumulative ones
 * that do (what the harness guarantees; test/offline/report/backtest-report.test.ts checks it on a
 * real run).
 */
import { Rng } from '../../../src/balance/index.js';
import type { BacktestResult, CategoryResult, RowResult, SeriesPoint, StrategyResult } from '../../../src/offline/backtest.js';

export interface SyntheticSpec {
  strategies: string[];
  references: string[];
  categories: string[];
  events: number;
  seed: number;
}

function syntheticRow(name: string, spec: SyntheticSpec, rng: Rng, base: number): RowResult {
  const weights = spec.categories.map((_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const perCategory: Record<string, CategoryResult> = {};
  let hits = 0;
  let evaluated = 0;
  let macro = 0;
  let evaluatedCategories = 0;
  spec.categories.forEach((c, i) => {
    const interactions = Math.max(1, Math.round((spec.events * weights[i]!) / total));
    const n = Math.round(0.4 * interactions);
    const p = Math.min(0.98, Math.max(0.02, base + 0.3 * (rng.next() - 0.5)));
    let h = 0;
    for (let j = 0; j < n; j++) if (rng.next() < p) h++;
    perCategory[c] = { hr: n > 0 ? h / n : 0, hits: h, ndcg: 0, auc: 0.5, evaluated: n, interactions, recommended: 0 };
    hits += h;
    evaluated += n;
    if (n > 0) {
      macro += h / n;
      evaluatedCategories++;
    }
  });
  const microHr = hits / Math.max(1, evaluated);
  const macroHr = evaluatedCategories > 0 ? macro / evaluatedCategories : 0;
  const points = 50;
  const series: SeriesPoint[] = Array.from({ length: points }, (_, i) => {
    const f = (i + 1) / points;
    // Noisy early, converging to the whole-run figures at the last point (exactly).
    const wobble = (1 - f) * 0.2 * (rng.next() - 0.5);
    // Per interval: noisy around the whole-run figures, at the last point too (a line of these would not end at the legend).
    return {
      events: Math.round(f * spec.events),
      micro: Math.min(1, Math.max(0, microHr + 0.04 + 0.1 * rng.next())),
      macro: Math.min(1, Math.max(0, macroHr - 0.04 - 0.1 * rng.next())),
      evaluated: i === 0 ? 0 : Math.round(f * evaluated),
      cumulativeMicro: i === points - 1 ? microHr : Math.min(1, Math.max(0, microHr + wobble)),
      cumulativeMacro: i === points - 1 ? macroHr : Math.min(1, Math.max(0, macroHr - wobble)),
    };
  });
  return { name, description: `${name} row`, microHr, macroHr, microNdcg: 0, macroNdcg: 0, auc: 0.5, evaluated, hits, tailShareRecs: 0.1, perCategory, series };
}

export function synthetic(spec: SyntheticSpec): BacktestResult {
  const rng = new Rng(spec.seed);
  const strategies: StrategyResult[] = spec.strategies.map((name, i) => ({
    ...syntheticRow(name, spec, rng, 0.5 + 0.02 * i),
    settings: {},
    trainedSamples: 0,
    meanServingTau: 0,
    samplesPerSecond: 0,
    wallSeconds: 0,
  }));
  const references = spec.references.map((name, i) => syntheticRow(name, spec, rng, 0.1 + 0.03 * i));
  const head = Math.max(1, Math.ceil(spec.categories.length / 4));
  const tail = spec.categories.slice(head);
  const first = strategies[0]!;
  const tailEvents = tail.reduce((s, c) => s + first.perCategory[c]!.interactions, 0);
  return {
    k: 10,
    seed: spec.seed,
    evalCandidates: 100,
    events: spec.events,
    dropped: { invalid: 0, future: 0, duplicates: 0 },
    categories: [...spec.categories].sort(),
    tailCategories: [...tail].sort(),
    tailShareInteractions: tailEvents / spec.events,
    strategies,
    references,
    wallSeconds: 0,
    workers: 1,
  };
}

export const cats = (n: number, prefix = 'cat-'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, '0')}`);
export const SMALL: SyntheticSpec = { strategies: ['none', 'weights_replay'], references: ['popularity', 'popularity_decayed', 'mf'], categories: cats(20), events: 20_000, seed: 1 };
/** Long names, more strategies than the palette has colours, more categories than the panel shows, millions of events. */
export const LARGE: SyntheticSpec = {
  strategies: Array.from({ length: 12 }, (_, i) => `a-rather-long-strategy-name-number-${i}`),
  references: ['popularity', 'popularity_decayed', 'mf'],
  categories: cats(300, 'electronics/audio/headphones/over-ear/wireless-'),
  events: 2_500_000,
  seed: 2,
};
