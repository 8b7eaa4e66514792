/**
 * Renders a backtest result: the JSON report (key names carry the actual K, e.g.
 * micro_hr10 for K = 10, micro_hr5 for K = 5) and the terminal tables.
 *
 * Timing fields — `samples_per_s` and `timing` of each strategy, and the report's own
 * `timing` — differ from run to run; every other field is a deterministic function of
 * the events, the seed and the options (whatever the number of workers).
 */
import type { SettingKey } from '../../config/index.js';
import { SETTINGS } from '../../config/index.js';
import type { BacktestResult, RowResult, StrategyResult } from '../backtest.js';

export type JsonValue = number | string | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Fields that measure time; a determinism check drops them (from each strategy and the report). */
export const TIMING_FIELDS = ['samples_per_s', 'timing'] as const;

const round = (x: number): number => Math.round(x * 1e6) / 1e6;

/** The best reference row by micro and by macro HR@K (first in order on ties). */
export function bestReferences(r: BacktestResult): { micro: RowResult | undefined; macro: RowResult | undefined } {
  let micro: RowResult | undefined;
  let macro: RowResult | undefined;
  for (const ref of r.references) {
    if (micro === undefined || ref.microHr > micro.microHr) micro = ref;
    if (macro === undefined || ref.macroHr > macro.macroHr) macro = ref;
  }
  return { micro, macro };
}

const ratio = (x: number, best: RowResult | undefined, pick: (r: RowResult) => number): number | null => {
  if (best === undefined) return null;
  const b = pick(best);
  return b > 0 ? x / b : null;
};

export function toJson(r: BacktestResult, source: string): { [key: string]: JsonValue } {
  const k = r.k;
  const best = bestReferences(r);
  return {
    k,
    seed: r.seed,
    eval_candidates: r.evalCandidates,
    events: r.events,
    dropped: { invalid: r.dropped.invalid, future_timestamp: r.dropped.future, duplicates: r.dropped.duplicates },
    source,
    categories: r.categories,
    tail_categories: r.tailCategories,
    tail_share_interactions: round(r.tailShareInteractions),
    ...(r.pretrainEvents === undefined ? {} : { pretrain_events: r.pretrainEvents }),
    best_reference: { [`micro_hr${k}`]: best.micro?.name ?? null, [`macro_hr${k}`]: best.macro?.name ?? null },
    strategies: r.strategies.map((s) => strategyJson(s, r, best)),
    references: r.references.map((x) => rowJson(x, r)),
    timing: { wall_seconds: Math.round(r.wallSeconds * 10) / 10, workers: r.workers },
  };
}

function rowJson(s: RowResult, r: BacktestResult): { [key: string]: JsonValue } {
  const k = r.k;
  const perCategory: { [key: string]: JsonValue } = {};
  for (const [c, v] of Object.entries(s.perCategory)) {
    perCategory[c] = { [`hr${k}`]: round(v.hr), hits: v.hits, [`ndcg${k}`]: round(v.ndcg), auc: round(v.auc), evaluated: v.evaluated, interactions: v.interactions, recommended: v.recommended };
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
    hits: s.hits,
    tail_share_recs: round(s.tailShareRecs),
    tail_share_interactions: round(r.tailShareInteractions),
    ...(s.coldStart === undefined ? {} : { cold_start: { events: s.coldStart.events, evaluated: s.coldStart.evaluated, [`micro_hr${k}`]: round(s.coldStart.microHr), [`macro_hr${k}`]: round(s.coldStart.macroHr) } }),
    per_category: perCategory,
    series: s.series.map((p) => ({
      events: p.events,
      [`micro_hr${k}`]: round(p.micro),
      [`macro_hr${k}`]: round(p.macro),
      evaluated: p.evaluated,
      [`cumulative_micro_hr${k}`]: round(p.cumulativeMicro),
      [`cumulative_macro_hr${k}`]: round(p.cumulativeMacro),
    })),
  };
}

/** Settings keyed by flag name without dashes (the strategy-file and `run --config` format). */
function settingsJson(s: StrategyResult): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const key of Object.keys(SETTINGS) as SettingKey[]) {
    const v = s.settings[key];
    if (v !== undefined) out[SETTINGS[key].flag.slice(2)] = v;
  }
  return out;
}

function strategyJson(s: StrategyResult, r: BacktestResult, best: ReturnType<typeof bestReferences>): { [key: string]: JsonValue } {
  const k = r.k;
  const { name, description, ...rest } = rowJson(s, r);
  const microRatio = ratio(s.microHr, best.micro, (x) => x.microHr);
  const macroRatio = ratio(s.macroHr, best.macro, (x) => x.macroHr);
  return {
    name: name!,
    description: description!,
    settings: settingsJson(s),
    ...rest,
    vs_best_reference: { [`micro_hr${k}`]: microRatio === null ? null : round(microRatio), [`macro_hr${k}`]: macroRatio === null ? null : round(macroRatio) },
    trained_samples: s.trainedSamples,
    mean_serving_tau: round(s.meanServingTau),
    samples_per_s: Math.round(s.samplesPerSecond),
    timing: { wall_seconds: Math.round(s.wallSeconds * 10) / 10 },
  };
}

/** The JSON without its timing fields (what two runs with one seed must agree on, with any number of workers). */
export function withoutTiming(report: { [key: string]: JsonValue }): { [key: string]: JsonValue } {
  const copy = JSON.parse(JSON.stringify(report)) as { timing?: unknown; strategies: { [key: string]: JsonValue }[] };
  delete copy.timing;
  for (const s of copy.strategies) for (const f of TIMING_FIELDS) delete s[f];
  return copy as unknown as { [key: string]: JsonValue };
}

function table(header: string[], rows: (string[] | null)[]): string {
  const real = rows.filter((r): r is string[] => r !== null);
  const widths = header.map((h, i) => Math.max(h.length, ...real.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...rows.map((r) => (r === null ? rule : line(r)))].join('\n');
}

const pct = (x: number): string => (100 * x).toFixed(2);
const times = (x: number | null): string => (x === null ? '-' : `${x.toFixed(2)}x`);

export function formatTables(r: BacktestResult): string {
  const k = r.k;
  const best = bestReferences(r);
  const rows: (string[] | null)[] = r.strategies.map((s) => [
    s.name,
    pct(s.microHr),
    times(ratio(s.microHr, best.micro, (x) => x.microHr)),
    pct(s.macroHr),
    times(ratio(s.macroHr, best.macro, (x) => x.macroHr)),
    pct(s.microNdcg),
    pct(s.macroNdcg),
    s.auc.toFixed(4),
    pct(s.tailShareRecs),
    pct(r.tailShareInteractions),
    s.meanServingTau.toFixed(3),
    Math.round(s.samplesPerSecond).toString(),
  ]);
  if (r.references.length > 0) rows.push(null);
  for (const x of r.references) {
    rows.push([`${x.name} (ref)`, pct(x.microHr), x === best.micro ? 'best' : '', pct(x.macroHr), x === best.macro ? 'best' : '', pct(x.microNdcg), pct(x.macroNdcg), x.auc.toFixed(4), pct(x.tailShareRecs), pct(r.tailShareInteractions), '-', '-']);
  }
  const main = table(['strategy', `micro HR@${k}`, '×ref', `macro HR@${k}`, '×ref', `micro NDCG@${k}`, `macro NDCG@${k}`, 'AUC', 'tail % recs', 'tail % inter.', 'τ served', 'samples/s'], rows);
  // Per-category HR@K, categories by interactions (head first), tail ones marked.
  const all: RowResult[] = [...r.strategies, ...r.references];
  const first = all[0];
  if (first === undefined) return main;
  const cats = Object.entries(first.perCategory).sort((a, b) => b[1].interactions - a[1].interactions || (a[0] < b[0] ? -1 : 1)).map(([c]) => c);
  const tail = new Set(r.tailCategories);
  const per = table(
    ['category', 'events', 'evals', ...r.strategies.map((s) => s.name), ...r.references.map((x) => `${x.name} (ref)`)],
    cats.map((c) => [`${c}${tail.has(c) ? ' (tail)' : ''}`, String(first.perCategory[c]!.interactions), String(first.perCategory[c]!.evaluated), ...all.map((s) => pct(s.perCategory[c]?.hr ?? 0))]),
  );
  const cold = coldStartTable(r);
  const dropped = r.dropped.invalid + r.dropped.future + r.dropped.duplicates;
  const notes = [
    ...(r.strategies.every((s) => s.evaluated === 0) ? [`no positive was evaluated: ranking starts once ${r.evalCandidates} items have been seen as positives (--eval-candidates)`] : []),
    `HR/NDCG in %, cumulative over ${r.events} events${dropped > 0 ? ` (${r.dropped.invalid} invalid, ${r.dropped.future} too far ahead, ${r.dropped.duplicates} duplicates dropped as the service would)` : ''}; every row ranks each positive among the same ${r.evalCandidates} candidates.`,
    `×ref: the strategy's HR@${k} divided by the best reference row's (micro: ${best.micro?.name ?? '-'}, macro: ${best.macro?.name ?? '-'}); below 1 the reference does better.`,
    'macro = mean over categories; tail = outside the most frequent categories holding at least 1 − the tail share of events.',
    'τ served: mean serving-time logit adjustment over the evaluated positives (--max-micro-loss; rows are ranked as served).',
  ];
  return `${main}\n\nHR@${k} per category (%):\n${per}${cold}\n\n(${notes.join('\n ')})`;
}

/** With --pretrain-events: HR@K over the cold-start window next to the whole run (warm start, issue #16). */
function coldStartTable(r: BacktestResult): string {
  const k = r.k;
  const rows = [...r.strategies, ...r.references.map((x) => ({ ...x, name: `${x.name} (ref)` }))];
  const window = rows[0]?.coldStart;
  if (r.pretrainEvents === undefined || r.pretrainEvents === 0 || window === undefined) return '';
  const t = table(
    ['row', `micro HR@${k} first ${window.events}`, 'evals', `macro HR@${k} first ${window.events}`, `micro HR@${k} all`, `macro HR@${k} all`],
    rows.map((x) => [x.name, pct(x.coldStart?.microHr ?? 0), String(x.coldStart?.evaluated ?? 0), pct(x.coldStart?.macroHr ?? 0), pct(x.microHr), pct(x.macroHr)]),
  );
  return `\n\nCold start (%): every row measured on the ${r.events} events after the ${r.pretrainEvents} that pre-trained the @pretrained strategies:\n${t}`;
}
