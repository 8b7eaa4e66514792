/**
 * How each row of a backtest is drawn, the same in every panel of the report: strategies in
 * the Okabe–Ito colour-blind-safe qualitative palette (M. Okabe and K. Ito, "Color Universal
 * Design", 2008; B. Wong, Nature Methods 8:441, 2011) with solid lines and filled markers;
 * reference rows in greys with their own dash pattern and hollow marker shape, so a
 * reference never reads as a strategy, even in greyscale.
 */
import type { BacktestResult, RowResult } from '../backtest.js';
import { svgNumber as n } from './chart-svg.js';

/** Okabe–Ito, most distinct on white first (the yellow last). */
export const STRATEGY_COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'] as const;
export const REFERENCE_COLORS = ['#4D4D4D', '#7A7A7A', '#999999'] as const;
export const REFERENCE_DASHES = ['7 3', '2 2', '9 3 2 3'] as const;

export type MarkerShape = 'circle' | 'triangle' | 'square' | 'diamond' | 'triangle-down';
const REFERENCE_MARKERS: readonly MarkerShape[] = ['square', 'diamond', 'triangle-down'];

export interface RowStyle {
  color: string;
  /** stroke-dasharray of its lines ('' for solid). */
  dash: string;
  marker: MarkerShape;
  hollow: boolean;
}

export interface ChartRow {
  row: RowResult;
  reference: boolean;
  style: RowStyle;
}

/**
 * Strategies, then reference rows, each with its style. Past eight strategies the colours
 * repeat with triangles instead of circles (the direct labels still tell them apart).
 */
export function chartRows(r: BacktestResult): ChartRow[] {
  return [
    ...r.strategies.map((row, i): ChartRow => ({
      row,
      reference: false,
      style: { color: STRATEGY_COLORS[i % STRATEGY_COLORS.length]!, dash: '', marker: i < STRATEGY_COLORS.length ? 'circle' : 'triangle', hollow: false },
    })),
    ...r.references.map((row, i): ChartRow => ({
      row,
      reference: true,
      style: { color: REFERENCE_COLORS[i % REFERENCE_COLORS.length]!, dash: REFERENCE_DASHES[i % REFERENCE_DASHES.length]!, marker: REFERENCE_MARKERS[i % REFERENCE_MARKERS.length]!, hollow: true },
    })),
  ];
}

/** The name a row is labelled with in every panel and the table ("(ref)" marks a reference row). */
export function rowLabel(c: ChartRow): string {
  return c.reference ? `${c.row.name} (ref)` : c.row.name;
}

/** A drawn panel: one <svg> element of this size. */
export interface Panel {
  svg: string;
  width: number;
  height: number;
}

/** The dash attribute of a row's lines ('' when solid). */
export function dashAttr(s: RowStyle): string {
  return s.dash === '' ? '' : ` stroke-dasharray="${s.dash}"`;
}

/** A marker of radius r centred on (x, y). */
export function marker(s: RowStyle, x: number, y: number, r: number): string {
  const paint = s.hollow ? `fill="#fff" stroke="${s.color}" stroke-width="1.6"` : `fill="${s.color}" stroke="#fff" stroke-width="1"`;
  switch (s.marker) {
    case 'circle':
      return `<circle cx="${n(x)}" cy="${n(y)}" r="${r}" ${paint}/>`;
    case 'square':
      return `<rect x="${n(x - 0.85 * r)}" y="${n(y - 0.85 * r)}" width="${n(1.7 * r)}" height="${n(1.7 * r)}" ${paint}/>`;
    case 'diamond':
      return `<path d="M${n(x)} ${n(y - r)}L${n(x + r)} ${n(y)}L${n(x)} ${n(y + r)}L${n(x - r)} ${n(y)}Z" ${paint}/>`;
    case 'triangle':
      return `<path d="M${n(x)} ${n(y - r)}L${n(x + 0.9 * r)} ${n(y + 0.65 * r)}L${n(x - 0.9 * r)} ${n(y + 0.65 * r)}Z" ${paint}/>`;
    case 'triangle-down':
      return `<path d="M${n(x)} ${n(y + r)}L${n(x + 0.9 * r)} ${n(y - 0.65 * r)}L${n(x - 0.9 * r)} ${n(y - 0.65 * r)}Z" ${paint}/>`;
  }
}

/** A legend swatch: a short line in the row's stroke and dash with its marker. */
export function swatch(s: RowStyle, width = 40, height = 14): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" aria-hidden="true"><line x1="1" y1="${height / 2}" x2="${width - 1}" y2="${height / 2}" stroke="${s.color}" stroke-width="2"${dashAttr(s)}/>${marker(s, width / 2, height / 2, 4.5)}</svg>`;
}
