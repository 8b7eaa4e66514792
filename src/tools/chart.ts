/**
 * A self-contained HTML page (inline SVG, no scripts) with two panels: micro and macro
 * hit-rate@K over the stream, one solid line per strategy and one dashed grey line per
 * reference row, from the backtest's series.
 */
import type { BacktestResult, RowResult } from './backtest.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
const REFERENCE_COLORS = ['#444444', '#888888', '#bbbbbb'];
const W = 560;
const H = 340;
const M = { left: 56, right: 16, top: 28, bottom: 44 };

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const step = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= v) return m * step;
  return 10 * step;
}

function panel(r: BacktestResult, metric: 'micro' | 'macro', yMax: number): string {
  const xMax = Math.max(1, r.events);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (v: number): number => M.left + (v / xMax) * pw;
  const y = (v: number): number => M.top + ph - (v / yMax) * ph;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${metric} hit-rate over time">`);
  parts.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-weight="bold">${metric} HR@${r.k}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${M.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11">${(100 * v).toFixed(0)}%</text>`);
    const xv = (xMax * i) / 5;
    parts.push(`<text x="${x(xv).toFixed(1)}" y="${H - M.bottom + 16}" text-anchor="middle" font-size="11">${Math.round(xv).toLocaleString('en-US')}</text>`);
  }
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 8}" text-anchor="middle" font-size="12">events</text>`);
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  const line = (s: RowResult, color: string, dash: string): void => {
    const pts = s.series.map((p) => `${x(p.events).toFixed(1)},${y(Math.min(yMax, p[metric])).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8"${dash} points="${pts}"><title>${escapeXml(s.name)}</title></polyline>`);
  };
  r.strategies.forEach((s, i) => line(s, COLORS[i % COLORS.length]!, ''));
  r.references.forEach((s, i) => line(s, REFERENCE_COLORS[i % REFERENCE_COLORS.length]!, ' stroke-dasharray="6 4"'));
  parts.push('</svg>');
  return parts.join('\n');
}

export function renderChart(r: BacktestResult, title: string): string {
  let top = 0;
  for (const s of [...r.strategies, ...r.references]) for (const p of s.series) top = Math.max(top, p.micro, p.macro);
  const yMax = Math.min(1, niceMax(top));
  const entry = (s: RowResult, color: string, style: string, suffix: string): string =>
    `<span style="margin-right:16px"><span style="display:inline-block;width:14px;height:0;border-top:3px ${style} ${color};vertical-align:middle"></span> ${escapeXml(s.name)}${suffix} (micro ${(100 * s.microHr).toFixed(1)}%, macro ${(100 * s.macroHr).toFixed(1)}%)</span>`;
  const legend = [
    ...r.strategies.map((s, i) => entry(s, COLORS[i % COLORS.length]!, 'solid', '')),
    ...r.references.map((s, i) => entry(s, REFERENCE_COLORS[i % REFERENCE_COLORS.length]!, 'dashed', ' (reference)')),
  ].join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}svg{font-family:inherit;margin-right:12px}.note{color:#666;font-size:13px}</style>
</head><body>
<h2>${escapeXml(title)}</h2>
<p class="note">Prequential hit-rate@${r.k} over the stream, per interval of ${r.strategies[0]?.series[0]?.events.toLocaleString('en-US') ?? '-'} events, every row on the same positives and the same ${r.evalCandidates} candidates each. Micro keeps the stream's mix; macro averages the categories evaluated in the interval equally. Dashed: reference rows. ${r.events.toLocaleString('en-US')} events, seed ${r.seed}.</p>
<div>${legend}</div>
<div>${panel(r, 'micro', yMax)}${panel(r, 'macro', yMax)}</div>
</body></html>
`;
}
