/**
 * Micro or macro HR@K over the stream, one line per row. The lines are cumulative (every
 * evaluation from the start of the stream up to each point: `SeriesPoint.cumulativeMicro`,
 * `cumulativeMacro`), the same quantity as the whole-run figures of the report's table, so
 * each line ends at its row's whole-run value; that value is written at the end of the line.
 */
import type { BacktestResult } from '../backtest.js';
import { escapeXml, formatCount, niceDomain, niceStep, percent, spread, svgLine, svgNumber, svgOpen, svgText, textWidth, tickPercent, ticks } from './chart-svg.js';
import { dashAttr, marker, rowLabel, type ChartRow, type Panel } from './chart-style.js';

export type Metric = 'micro' | 'macro';

export interface LinePoint {
  events: number;
  value: number;
}

export interface OverTimeLine {
  row: ChartRow;
  points: LinePoint[];
  /** The row's whole-run HR@K (the table's figure), written at the end of the line. */
  end: number;
}

/** Each row's cumulative HR@K at each series point from its first evaluation on, and its whole-run value. */
export function overTimeLines(rows: readonly ChartRow[], metric: Metric): OverTimeLine[] {
  return rows.map((c) => ({
    row: c,
    points: c.row.series.filter((p) => p.evaluated > 0).map((p) => ({ events: p.events, value: metric === 'micro' ? p.cumulativeMicro : p.cumulativeMacro })),
    end: metric === 'micro' ? c.row.microHr : c.row.macroHr,
  }));
}

/** The top of the y axis shared by the micro and macro panels (so the two compare at a glance). */
export function sharedYMax(lines: readonly OverTimeLine[]): number {
  let top = 0;
  for (const l of lines) {
    top = Math.max(top, l.end);
    for (const p of l.points) top = Math.max(top, p.value);
  }
  return Math.min(1, niceDomain(0, Math.max(top, 0.01), 5).hi);
}

const TICK_SIZE = 11;
const LABEL_SIZE = 12;
/** Vertical distance between two end labels. */
const LABEL_GAP = 14;

/** The text at the end of a line: the whole-run value, then the row. */
export function endLabel(l: OverTimeLine): string {
  return `${percent(l.end, 1)} ${rowLabel(l.row)}`;
}

export function overTimePanel(r: BacktestResult, lines: readonly OverTimeLine[], metric: Metric, yMax: number, width = 560, height = 380): Panel {
  const k = r.k;
  const xMax = Math.max(1, r.events);
  const yStep = niceStep(yMax, 5);
  const yTicks = ticks(0, yMax, yStep);
  const xTicks = ticks(0, xMax, niceStep(xMax, 5));
  const labels = lines.map(endLabel);
  const left = 14 + Math.max(...yTicks.map((v) => textWidth(tickPercent(v), TICK_SIZE)));
  const labelWidth = Math.max(0, ...labels.map((s) => textWidth(s, LABEL_SIZE)));
  const lastTick = textWidth(formatCount(xTicks[xTicks.length - 1] ?? xMax), TICK_SIZE);
  const right = Math.max(16 + labelWidth + 4, lastTick / 2 + 6);
  const top = 62;
  const bottom = 48;
  const pw = width - left - right;
  const ph = height - top - bottom;
  const x = (v: number): number => left + (v / xMax) * pw;
  const y = (v: number): number => top + ph - (Math.min(v, yMax) / yMax) * ph;
  const parts: string[] = [svgOpen(width, height, `${metric} HR@${k} over the stream, cumulative`)];
  parts.push(svgText(16, 22, `${metric === 'micro' ? 'Micro' : 'Macro'} HR@${k} over the stream`, { size: 15, bold: true }));
  parts.push(svgText(16, 42, `cumulative from the first event; each line ends at its whole-run value`, { size: LABEL_SIZE, fill: '#555' }));
  for (const v of yTicks) {
    parts.push(svgLine(left, y(v), left + pw, y(v), '#e5e5e5'));
    parts.push(svgText(left - 6, y(v) + 4, tickPercent(v), { size: TICK_SIZE, anchor: 'end', fill: '#444' }));
  }
  for (const v of xTicks) {
    parts.push(svgLine(x(v), top + ph, x(v), top + ph + 4, '#888'));
    parts.push(svgText(x(v), top + ph + 16, formatCount(v), { size: TICK_SIZE, anchor: 'middle', fill: '#444' }));
  }
  parts.push(svgText(left + pw, height - 8, 'events →', { size: LABEL_SIZE, anchor: 'end', fill: '#333' }));
  parts.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  // References first, strategies on top.
  const drawOrder = [...lines.filter((l) => l.row.reference), ...lines.filter((l) => !l.row.reference)];
  for (const l of drawOrder) {
    const pts = l.points.map((p) => `${svgNumber(x(p.events))},${svgNumber(y(p.value))}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${l.row.style.color}" stroke-width="2"${dashAttr(l.row.style)} points="${pts}"><title>${escapeXml(rowLabel(l.row))}</title></polyline>`);
  }
  // Direct labels at the line ends, spread apart vertically, with a leader to each end.
  const ends = lines.map((l) => y(l.end));
  const lo = top + 6;
  const hi = top + ph + 4;
  const at = spread(ends, Math.min(LABEL_GAP, (hi - lo) / Math.max(1, lines.length - 1)), lo, hi);
  const labelX = left + pw + 16;
  lines.forEach((l, i) => {
    const last = l.points[l.points.length - 1];
    const ex = last === undefined ? left + pw : x(last.events);
    parts.push(svgLine(ex, ends[i]!, labelX - 3, at[i]!, l.row.style.color, ' stroke-width="1"'));
    parts.push(marker(l.row.style, ex, ends[i]!, 3.5));
    parts.push(svgText(labelX, at[i]! + 4, labels[i]!, { size: LABEL_SIZE, fill: '#222' }));
  });
  parts.push('</svg>');
  return { svg: parts.join('\n'), width, height };
}
