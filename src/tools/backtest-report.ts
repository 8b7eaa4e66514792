/**
 * Renders a backtest result: the JSON report (key names carry the actual K, e.g.
 * micro_hr10 for K = 10, micro_hr5 for K = 5) and the terminal tables.
 *
 * Timing fields — `samples_per_s` and everything under `timing` — differ from run to run;
 * every other field is a deterministic function of the events, the seed and the options.
 */
import type { BacktestResult, StrategyResult } from './backtest.js';

export type JsonValue = number | string | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Fields that measure time; a determinism check drops them. */
export const TIMING_FIELDS = ['samples_per_s', 'timing'] as const;

const round = (x: number): number => Math.round(x * 1e6) / 1e6;

export function toJson(r: BacktestResult, source: string): { [key: string]: JsonValue } {
  const k = r.k;
  return {
    k,
    seed: r.seed,
    events: r.events,
    source,
    categories: r.categories,
    tail_categories: r.tailCategories,
    strategies: r.strategies.map((s) => strategyJson(s, k)),
  };
}

function strategyJson(s: StrategyResult, k: number): { [key: string]: JsonValue } {
  const perCategory: { [key: string]: JsonValue } = {};
  for (const [c, v] of Object.entries(s.perCategory)) {
    perCategory[c] = { [`hr${k}`]: round(v.hr), [`ndcg${k}`]: round(v.ndcg), auc: round(v.auc), evaluated: v.evaluated, interactions: v.interactions, recommended: v.recommended };
  }
  return {
    name: s.name,
    description: s.description,
    [`micro_hr${k}`]: round(s.microHr),
    [`macro_hr${k}`]: round(s.macroHr),
    [`micro_ndcg${k}`]: round(s.microNdcg),
    [`macro_ndcg${k}`]: round(s.macroNdcg),
    auc: round(s.auc),
    evaluated: s.evaluated,
    tail_share_recs: round(s.tailShareRecs),
    tail_share_interactions: round(s.tailShareInteractions),
    trained_samples: s.trainedSamples,
    samples_per_s: Math.round(s.samplesPerSecond),
    per_category: perCategory,
    series: s.series.map((p) => ({ events: p.events, [`micro_hr${k}`]: round(p.micro), [`macro_hr${k}`]: round(p.macro) })),
    timing: { wall_seconds: Math.round(s.wallSeconds * 10) / 10 },
  };
}

/** The JSON without its timing fields (what two runs with one seed must agree on). */
export function withoutTiming(report: { [key: string]: JsonValue }): { [key: string]: JsonValue } {
  const copy = JSON.parse(JSON.stringify(report)) as { strategies: { [key: string]: JsonValue }[] };
  for (const s of copy.strategies) for (const f of TIMING_FIELDS) delete s[f];
  return copy as unknown as { [key: string]: JsonValue };
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const pct = (x: number): string => (100 * x).toFixed(2);

export function formatTables(r: BacktestResult): string {
  const k = r.k;
  const main = table(
    ['strategy', `micro HR@${k}`, `macro HR@${k}`, `micro NDCG@${k}`, `macro NDCG@${k}`, 'AUC', 'tail % recs', 'tail % inter.', 'samples/s'],
    r.strategies.map((s) => [s.name, pct(s.microHr), pct(s.macroHr), pct(s.microNdcg), pct(s.macroNdcg), s.auc.toFixed(4), pct(s.tailShareRecs), pct(s.tailShareInteractions), Math.round(s.samplesPerSecond).toString()]),
  );
  // Per-category HR@K, categories by interactions (head first), tail ones marked.
  const first = r.strategies[0];
  if (first === undefined) return main;
  const cats = Object.entries(first.perCategory).sort((a, b) => b[1].interactions - a[1].interactions).map(([c]) => c);
  const tail = new Set(r.tailCategories);
  const per = table(
    ['category', 'events', 'evals', ...r.strategies.map((s) => s.name)],
    cats.map((c) => [`${c}${tail.has(c) ? ' (tail)' : ''}`, String(first.perCategory[c]!.interactions), String(first.perCategory[c]!.evaluated), ...r.strategies.map((s) => pct(s.perCategory[c]?.hr ?? 0))]),
  );
  return `${main}\n\nHR@${k} per category (%):\n${per}\n\n(HR/NDCG in %, cumulative over ${r.events} events; macro = mean over categories; tail = the least frequent categories holding at most the tail share of events)`;
}
