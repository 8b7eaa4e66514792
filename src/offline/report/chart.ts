/**
 * The backtest report (`backtest --chart FILE`): one self-contained HTML page, inline SVG,
 * no scripts and no external assets, laid out for a 1200 px wide window:
 *
 *  - a table of the rows' whole-run figures (the legend: each row's line and marker),
 *    micro HR@K with its 95% Wilson interval;
 *  - the micro-vs-macro trade-off, one point per row (chart-tradeoff.ts);
 *  - micro and macro HR@K over the stream, cumulative, each line ending at the table's
 *    whole-run value (chart-over-time.ts);
 *  - HR@K per category with 95% Wilson intervals, head to tail (chart-categories.ts).
 *
 * Every panel is a pure function of the BacktestResult; so is this page.
 */
import type { BacktestResult } from '../backtest.js';
import { categoryPanel } from './chart-categories.js';
import { overTimeLines, overTimePanel, sharedYMax } from './chart-over-time.js';
import { escapeXml, percent } from './chart-svg.js';
import { chartRows, rowLabel, swatch, type ChartRow } from './chart-style.js';
import { tradeOffPanel } from './chart-tradeoff.js';
import { wilsonInterval } from './wilson.js';

/** Widest content of the page: fits a 1200 px window with its margins. */
export const PAGE_WIDTH = 1140;

function summaryTable(r: BacktestResult, rows: readonly ChartRow[]): string {
  const k = r.k;
  const body = rows.map((c, i) => {
    const s = c.row;
    const ci = wilsonInterval(s.hits, s.evaluated);
    return `<tr${c.reference ? ' class="reference"' : ''}><td class="key">${i + 1}</td><td class="swatch">${swatch(c.style)}</td><td class="name" title="${escapeXml(s.description)}">${escapeXml(rowLabel(c))}</td>`
      + `<td class="num" data-metric="micro">${percent(s.microHr, 1)}</td><td class="num ci">${(100 * ci.lo).toFixed(1)}–${(100 * ci.hi).toFixed(1)}</td>`
      + `<td class="num" data-metric="macro">${percent(s.macroHr, 1)}</td><td class="num">${percent(s.tailShareRecs, 1)}</td></tr>`;
  });
  return `<table class="summary">
<caption>Whole run: the legend (the over-time lines end at these values)</caption>
<thead><tr><th class="key" title="the key the trade-off plot uses where a name does not fit">#</th><th></th><th>row</th><th class="num">micro HR@${k}</th><th class="num">95% CI, %</th><th class="num">macro HR@${k}</th><th class="num" title="share of the probes' top-${k} slots in tail categories">tail % of recs</th></tr></thead>
<tbody>
${body.join('\n')}
</tbody>
</table>`;
}

/** How many positives each row ranked (the same for every row: one set of positives and candidates). */
function evaluatedNote(rows: readonly ChartRow[]): string {
  const counts = [...new Set(rows.map((c) => c.row.evaluated))];
  const list = counts.map((n) => n.toLocaleString('en-US')).join(', ');
  return counts.length === 1 ? `${list} positives evaluated by every row.` : `Positives evaluated: ${list} (rows differ).`;
}

export function renderChart(r: BacktestResult, title: string): string {
  const rows = chartRows(r);
  const micro = overTimeLines(rows, 'micro');
  const macro = overTimeLines(rows, 'macro');
  const yMax = sharedYMax([...micro, ...macro]);
  const half = (PAGE_WIDTH - 20) / 2;
  const tradeOff = tradeOffPanel(r, rows, half);
  const microPanel = overTimePanel(r, micro, 'micro', yMax, half);
  const macroPanel = overTimePanel(r, macro, 'macro', yMax, half);
  const categories = categoryPanel(r, rows, PAGE_WIDTH);
  const dropped = r.dropped.invalid + r.dropped.future + r.dropped.duplicates;
  const k = r.k;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeXml(title)}</title>
<style>
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:24px auto;max-width:${PAGE_WIDTH}px;padding:0 12px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 6px}
p.note{color:#444;font-size:14px;line-height:1.45;margin:4px 0 10px;max-width:${PAGE_WIDTH}px}
.row{display:flex;flex-wrap:wrap;gap:20px;align-items:flex-start;margin:14px 0}
svg{max-width:100%;height:auto;display:block}
td svg{display:inline-block;vertical-align:middle;max-width:none;width:40px;height:14px}
table.summary{border-collapse:collapse;font-size:13px}
.side{flex:1 1 0;min-width:0}
table.summary caption{text-align:left;font-weight:bold;font-size:15px;padding:4px 0 8px}
table.summary th,table.summary td{padding:4px 6px;border-bottom:1px solid #e3e3e3;text-align:left;white-space:nowrap}
table.summary th{font-size:12px;color:#444;font-weight:600;white-space:normal;vertical-align:bottom}
table.summary .num{text-align:right;font-variant-numeric:tabular-nums;width:1%}
table.summary td.name{white-space:normal;overflow-wrap:anywhere}
table.summary .key{color:#777;font-size:12px;text-align:right;padding-right:0;width:1%}
table.summary .swatch{width:1%}
table.summary .ci{color:#555}
table.summary tr.reference td{color:#444}
</style>
</head><body>
<h1>${escapeXml(title)}</h1>
<p class="note">${r.events.toLocaleString('en-US')} events${dropped > 0 ? ` (${dropped.toLocaleString('en-US')} dropped as the service would)` : ''}, seed ${r.seed}. Prequential: each positive is ranked, before any row learns from it, among the same ${r.evalCandidates} sampled candidates by every row; a hit is a rank within the top ${k}. <b>Micro</b> HR@${k}: share of all evaluated positives that were hits (the stream's mix, dominated by the head). <b>Macro</b> HR@${k}: mean over categories of each category's HR@${k} (every category counts equally). Tail: ${r.tailCategories.length} of ${r.categories.length} categories, ${percent(r.tailShareInteractions, 1)} of events. Strategies: solid lines, filled markers; reference rows: dashed grey lines, hollow markers.</p>
<div class="row">${tradeOff.svg}
<div class="side">${summaryTable(r, rows)}
<p class="note">${evaluatedNote(rows)} Intervals: 95% Wilson score interval of hits / evaluations. Every row ranks the same positives against the same candidates (paired), so two rows' difference is more certain than their overlapping intervals suggest. Trade-off plot: up and to the right is better; on the dotted diagonal macro equals micro, above it the categories fare better on average than the stream's mix.</p></div></div>
<div class="row">${microPanel.svg}
${macroPanel.svg}</div>
<div class="row">${categories.svg}</div>
</body></html>
`;
}
