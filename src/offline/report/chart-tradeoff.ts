/**
 * The micro-vs-macro trade-off of a backtest: one point per row (x = micro HR@K, y = macro
 * HR@K, whole run), strategies as filled markers, reference rows as hollow grey ones, each
 * labelled directly. The dotted diagonal is macro = micro: above it, categories do better on
 * average than the stream's mix (the tail is served well); up and to the right is better on both.
 */
import type { BacktestResult } from '../backtest.js';
import { escapeXml, niceDomain, placePointLabels, svgLine, svgOpen, svgText, textBox, textWidth, tickPercent, ticks, type Box, type PointLabel } from './chart-svg.js';
import { marker, rowLabel, type ChartRow, type Panel } from './chart-style.js';

const LABEL_SIZE = 12;
const TICK_SIZE = 11;

/** The domain of one axis over the rows' values: padded, within [0, 1], nice ticks. */
function axisDomain(values: readonly number[]): { lo: number; hi: number; step: number } {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const pad = Math.max(0.01, 0.08 * (hi - lo));
  const d = niceDomain(Math.max(0, lo - pad), Math.min(1, hi + pad), 5);
  return { lo: Math.max(0, d.lo), hi: Math.min(1, d.hi), step: d.step };
}

export function tradeOffPanel(r: BacktestResult, rows: readonly ChartRow[], width = 560, height = 470): Panel {
  const k = r.k;
  const xd = axisDomain(rows.map((c) => c.row.microHr));
  const yd = axisDomain(rows.map((c) => c.row.macroHr));
  const xTicks = ticks(xd.lo, xd.hi, xd.step);
  const yTicks = ticks(yd.lo, yd.hi, yd.step);
  const left = 14 + Math.max(...yTicks.map((v) => textWidth(tickPercent(v), TICK_SIZE)));
  const right = Math.max(16, textWidth(tickPercent(xTicks[xTicks.length - 1] ?? 1), TICK_SIZE) / 2 + 6);
  const top = 62;
  const bottom = 48;
  const pw = width - left - right;
  const ph = height - top - bottom;
  const x = (v: number): number => left + ((v - xd.lo) / (xd.hi - xd.lo)) * pw;
  const y = (v: number): number => top + ph - ((v - yd.lo) / (yd.hi - yd.lo)) * ph;
  const parts: string[] = [svgOpen(width, height, `micro versus macro HR@${k} per row`)];
  parts.push(svgText(16, 22, `Trade-off: micro vs macro HR@${k}, whole run`, { size: 15, bold: true }));
  parts.push(svgText(left, 46, `↑ macro HR@${k} (every category counts equally)`, { size: LABEL_SIZE, fill: '#333' }));
  for (const v of yTicks) {
    parts.push(svgLine(left, y(v), left + pw, y(v), '#e5e5e5'));
    parts.push(svgText(left - 6, y(v) + 4, tickPercent(v), { size: TICK_SIZE, anchor: 'end', fill: '#444' }));
  }
  for (const v of xTicks) {
    parts.push(svgLine(x(v), top, x(v), top + ph, '#e5e5e5'));
    parts.push(svgText(x(v), top + ph + 16, tickPercent(v), { size: TICK_SIZE, anchor: 'middle', fill: '#444' }));
  }
  parts.push(svgText(left + pw, height - 8, `micro HR@${k} (the stream's mix) →`, { size: LABEL_SIZE, anchor: 'end', fill: '#333' }));
  // macro = micro, where it crosses the plot.
  const a = Math.max(xd.lo, yd.lo);
  const b = Math.min(xd.hi, yd.hi);
  if (a < b) parts.push(svgLine(x(a), y(a), x(b), y(b), '#999', ' stroke-dasharray="1 3"'));
  parts.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  // Strategies label first (they get the nearest places); markers drawn references first, strategies on top.
  const radius = (c: ChartRow): number => (c.reference ? 5.5 : 6);
  const order = [...rows.filter((c) => !c.reference), ...rows.filter((c) => c.reference)];
  // Each label: the row's name, else its key (the table's # column) where the name does not fit.
  const forms = (c: ChartRow): string[] => [rowLabel(c), String(rows.indexOf(c) + 1)];
  const wanted: PointLabel[] = order.map((c) => ({ x: x(c.row.microHr), y: y(c.row.macroHr), r: radius(c), sizes: forms(c).map((f) => ({ w: textWidth(f, LABEL_SIZE) + 2, h: 15 })) }));
  const bounds: Box = { x: left + 2, y: top + 2, w: pw - 4, h: ph - 4 };
  const placed = placePointLabels(wanted, bounds);
  order.forEach((c, i) => {
    const p = wanted[i]!;
    const box = placed[i]!.box;
    if (placed[i]!.leader) {
      const lx = Math.min(Math.max(p.x, box.x), box.x + box.w);
      const ly = Math.min(Math.max(p.y, box.y), box.y + box.h);
      parts.push(svgLine(p.x, p.y, lx, ly, c.style.color, ' stroke-width="1"'));
    }
  });
  for (const c of [...order].reverse()) parts.push(`<g><title>${escapeXml(rowLabel(c))}: micro ${(100 * c.row.microHr).toFixed(2)}%, macro ${(100 * c.row.macroHr).toFixed(2)}%</title>${marker(c.style, x(c.row.microHr), y(c.row.macroHr), radius(c))}</g>`);
  order.forEach((c, i) => {
    const { box, form } = placed[i]!;
    const label = forms(c)[form]!;
    // Baseline so that the text box (textBox) sits in the placed box.
    const t = textBox(0, 0, label, { size: LABEL_SIZE });
    parts.push(svgText(box.x + 1, box.y + (box.h - t.h) / 2 - t.y, label, { size: LABEL_SIZE, bold: form > 0, fill: '#222' }));
  });
  parts.push('</svg>');
  return { svg: parts.join('\n'), width, height };
}
