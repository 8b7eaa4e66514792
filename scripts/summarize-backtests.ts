/**
 * Summarises backtest JSON reports (scripts/backtest-tables.sh) into the README's tables:
 * per skew, each row's micro and macro HR@10 averaged over seeds (with the range), the
 * tail share of recommendations, and a check per run of the service default's target
 * against `none` (macro ≥ +15% relative, micro ≥ −2% relative) and of every strategy
 * against the best reference row, and each strategy's training samples/s (mean over seeds).
 *   node --import tsx scripts/summarize-backtests.ts FILE.json...
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const ColdStart = z.object({ events: z.number(), evaluated: z.number(), micro_hr10: z.number(), macro_hr10: z.number() });
const Row = z.object({ name: z.string(), micro_hr10: z.number(), macro_hr10: z.number(), tail_share_recs: z.number(), samples_per_s: z.number().nullable().optional(), cold_start: ColdStart.optional() });
const Report = z.object({
  seed: z.number(),
  source: z.string(),
  tail_share_interactions: z.number(),
  strategies: z.array(Row),
  references: z.array(Row),
});
type Report = z.infer<typeof Report>;

const reports = process.argv.slice(2).map((f) => ({ file: f, report: Report.parse(JSON.parse(readFileSync(f, 'utf8'))) }));
const skewOf = (r: Report): string => /skew=(\d+(\.\d+)?)/.exec(r.source)?.[1] ?? '?';
const bySkew = new Map<string, Report[]>();
for (const { report } of reports) bySkew.set(skewOf(report), [...(bySkew.get(skewOf(report)) ?? []), report]);

const pct = (x: number): string => (100 * x).toFixed(1);
for (const [skew, runs] of [...bySkew].sort((a, b) => Number(a[0]) - Number(b[0]))) {
  const seeds = runs.map((r) => r.seed).sort((a, b) => a - b);
  console.log(`\n#### Skew ${skew}:1, seeds ${seeds.join(', ')} (mean, min–max over seeds)\n`);
  console.log('| row | micro HR@10 | macro HR@10 | tail % of recs | micro ×best ref | macro ×best ref | training samples/s |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  const names = [...runs[0]!.strategies.map((s) => s.name), ...runs[0]!.references.map((s) => s.name)];
  for (const name of names) {
    const rows = runs.map((r) => [...r.strategies, ...r.references].find((x) => x.name === name)!);
    const isRef = runs[0]!.references.some((x) => x.name === name);
    const stat = (f: (x: z.infer<typeof Row>) => number): string => {
      const v = rows.map(f);
      const mean = v.reduce((s, x) => s + x, 0) / v.length;
      return `${pct(mean)} (${pct(Math.min(...v))}–${pct(Math.max(...v))})`;
    };
    const ratio = (key: 'micro_hr10' | 'macro_hr10'): string => {
      if (isRef) return '';
      const v = runs.map((r, i) => rows[i]![key] / Math.max(...r.references.map((x) => x[key])));
      return `${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)}`;
    };
    // Throughput varies with the machine's load: the mean over seeds, rounded to thousands.
    const speeds = rows.flatMap((x) => (x.samples_per_s === undefined || x.samples_per_s === null || isRef ? [] : [x.samples_per_s]));
    const speed = speeds.length === 0 ? '' : `${Math.round(speeds.reduce((a, b) => a + b, 0) / speeds.length / 1000)}k`;
    console.log(`| ${isRef ? `*${name}* (reference)` : name} | ${stat((x) => x.micro_hr10)} | ${stat((x) => x.macro_hr10)} | ${stat((x) => x.tail_share_recs)} | ${ratio('micro_hr10')} | ${ratio('macro_hr10')} | ${speed} |`);
  }
  console.log(`\nTail share of interactions: ${runs.map((r) => pct(r.tail_share_interactions)).join(', ')}%.`);
  // Warm start (--pretrain-events): the cold-start window, its HR@10 against `none` started cold.
  for (const r of runs) {
    const warm = r.strategies.find((x) => x.name === 'warm_start')?.cold_start;
    const cold = r.strategies.find((x) => x.name === 'none')?.cold_start;
    if (warm !== undefined && cold !== undefined) console.log(`- seed ${r.seed}, first ${warm.events} measured events (${warm.evaluated} evaluations): warm_start micro ${pct(warm.micro_hr10)} / macro ${pct(warm.macro_hr10)} vs none micro ${pct(cold.micro_hr10)} / macro ${pct(cold.macro_hr10)}`);
  }
  for (const r of runs) {
    const none = r.strategies.find((s) => s.name === 'none')!;
    const svc = r.strategies.find((s) => s.name === 'service')!;
    const dMacro = svc.macro_hr10 / none.macro_hr10 - 1;
    const dMicro = svc.micro_hr10 / none.micro_hr10 - 1;
    const bestMicro = Math.max(...r.references.map((x) => x.micro_hr10));
    const bestMacro = Math.max(...r.references.map((x) => x.macro_hr10));
    const hitRates = dMacro >= 0.15 && dMicro >= -0.02;
    // Toward the interaction share: the tail's share of recommendations moves in its direction;
    // `closer` also asks that it ends nearer to it than `none` (not past it by more).
    const gap = (x: number): number => x - r.tail_share_interactions;
    const toward = Math.sign(svc.tail_share_recs - none.tail_share_recs) === Math.sign(-gap(none.tail_share_recs));
    const closer = Math.abs(gap(svc.tail_share_recs)) < Math.abs(gap(none.tail_share_recs));
    const ok = hitRates && toward;
    const tail = toward ? (closer ? 'toward it, closer' : `toward it, past it: distance ${pct(Math.abs(gap(none.tail_share_recs)))} → ${pct(Math.abs(gap(svc.tail_share_recs)))} points`) : 'AWAY from it';
    console.log(`- seed ${r.seed}: service vs none: macro ${dMacro >= 0 ? '+' : ''}${pct(dMacro)}%, micro ${dMicro >= 0 ? '+' : ''}${pct(dMicro)}%, tail recs ${pct(none.tail_share_recs)}% → ${pct(svc.tail_share_recs)}% (interactions ${pct(r.tail_share_interactions)}%: ${tail}): target ${ok ? 'met' : 'MISSED'}; service ×best ref: micro ${(svc.micro_hr10 / bestMicro).toFixed(2)}, macro ${(svc.macro_hr10 / bestMacro).toFixed(2)}`);
  }
}
