/**
 * HR@K per category with 95% Wilson score intervals (wilson.ts), one band per category and
 * one dot with an error bar per row in it. Categories go by their share of the events, head
 * first, so the head/tail contrast reads top to bottom; two bands above pool the head and
 * the tail (hits and evaluations summed). Past `maxCategories` bands the smaller categories
 * of the head and of the tail are pooled, so the panel stays legible with thousands of them.
 */
import type { BacktestResult } from '../backtest.js';
import { escapeXml, percent, svgLine, svgNumber, svgOpen, svgText, textWidth, tickPercent, ticks } from './chart-svg.js';
import { marker, rowLabel, type ChartRow, type Panel } from './chart-style.js';
import { wilsonInterval, type Interval } from './wilson.js';

export interface BandValue {
  hits: number;
  n: number;
  /** hits / n (0 when n = 0). */
  hr: number;
  ci: Interval;
}

export interface CategoryBand {
  /** Shown name (long names cut), and the full name. */
  label: string;
  name: string;
  /** Share of the stream's events, categories in the band, and whether all of them are tail ones. */
  share: number;
  categories: number;
  tail: boolean;
  pooled: boolean;
  /** One per chart row, in the rows' order. */
  values: BandValue[];
}

export interface CategoryBands {
  /** Head pooled and tail pooled (empty when either is empty). */
  pooled: CategoryBand[];
  head: CategoryBand[];
  tail: CategoryBand[];
  headCategories: number;
  tailCategories: number;
}

const MAX_NAME = 30;

function cut(name: string): string {
  const chars = [...name];
  return chars.length <= MAX_NAME ? name : `${chars.slice(0, MAX_NAME - 1).join('')}…`;
}

function band(r: BacktestResult, rows: readonly ChartRow[], names: readonly string[], label: string, tail: ReadonlySet<string>, pooled: boolean): CategoryBand {
  let interactions = 0;
  for (const c of names) interactions += rows[0]?.row.perCategory[c]?.interactions ?? 0;
  const values = rows.map((row): BandValue => {
    let hits = 0;
    let n = 0;
    for (const c of names) {
      const v = row.row.perCategory[c];
      if (v === undefined) continue;
      hits += v.hits;
      n += v.evaluated;
    }
    return { hits, n, hr: n > 0 ? hits / n : 0, ci: wilsonInterval(hits, n) };
  });
  return {
    label: pooled ? label : cut(label),
    name: label,
    share: interactions / Math.max(1, r.events),
    categories: names.length,
    tail: names.length > 0 && names.every((c) => tail.has(c)),
    pooled,
    values,
  };
}

/**
 * The bands of the panel: pooled head and tail, then the head and the tail categories by
 * share of events. Past `maxCategories` bands, at least a third of them go to the head and
 * the rest to the tail (so the tail stays visible however large the head), and what does not
 * fit of either is pooled into one last band of its group.
 */
export function categoryBands(r: BacktestResult, rows: readonly ChartRow[], maxCategories = 40): CategoryBands {
  const first = rows[0]?.row;
  const interactions = (c: string): number => first?.perCategory[c]?.interactions ?? 0;
  const sorted = [...r.categories].sort((a, b) => interactions(b) - interactions(a) || (a < b ? -1 : a > b ? 1 : 0));
  const tail = new Set(r.tailCategories);
  const headNames = sorted.filter((c) => !tail.has(c));
  const tailNames = sorted.filter((c) => tail.has(c));
  let headShown = headNames.length;
  let tailShown = tailNames.length;
  if (headShown + tailShown > maxCategories) {
    headShown = Math.min(headNames.length, Math.max(Math.floor(maxCategories / 3), maxCategories - tailNames.length));
    tailShown = Math.min(tailNames.length, maxCategories - headShown);
    // A pooled band takes the place of one category.
    if (headShown < headNames.length) headShown--;
    if (tailShown < tailNames.length) tailShown--;
  }
  const one = (c: string): CategoryBand => band(r, rows, [c], c, tail, false);
  const group = (names: string[], shown: number, pooledLabel: (m: number) => string): CategoryBand[] => {
    const bands = names.slice(0, shown).map(one);
    const rest = names.slice(shown);
    if (rest.length > 0) bands.push(band(r, rows, rest, pooledLabel(rest.length), tail, true));
    return bands;
  };
  const pooled = headNames.length > 0 && tailNames.length > 0 ? [band(r, rows, headNames, 'head, pooled', tail, true), band(r, rows, tailNames, 'tail, pooled', tail, true)] : [];
  return {
    pooled,
    head: group(headNames, headShown, (m) => `${m} more head categories, pooled`),
    tail: group(tailNames, tailShown, (m) => `the ${m} smallest, pooled`),
    headCategories: headNames.length,
    tailCategories: tailNames.length,
  };
}

const TITLE_SIZE = 15;
const LABEL_SIZE = 12;
const TICK_SIZE = 11;
const HEADER_H = 24;

function stats(b: CategoryBand): string {
  const n = b.values[0]?.n ?? 0;
  const count = b.pooled ? `${b.categories} cat. · ` : '';
  return `${count}${percent(b.share, 1)} of events · n = ${n.toLocaleString('en-US')}`;
}

/** The rows' markers and names, wrapped to the width; `baseline` is the last line's. */
function legendOf(rows: readonly ChartRow[], width: number, labelLeft: number): { parts: string[]; baseline: number } {
  const parts: string[] = [];
  let lx = labelLeft;
  let ly = 70;
  for (const c of rows) {
    const w = 16 + textWidth(rowLabel(c), LABEL_SIZE) + 22;
    if (lx + w > width - 8 && lx > labelLeft) {
      lx = labelLeft;
      ly += 20;
    }
    parts.push(`${svgLine(lx, ly - 4, lx + 14, ly - 4, c.style.color, ' stroke-width="1.6"')}${marker(c.style, lx + 7, ly - 4, 4)}`);
    parts.push(svgText(lx + 18, ly, rowLabel(c), { size: LABEL_SIZE, fill: '#222' }));
    lx += w;
  }
  return { parts, baseline: ly };
}

interface BandGroup {
  header: string;
  bands: CategoryBand[];
}

/** The pooled, head and tail groups with their headers (empty groups left out). */
function bandGroups(r: BacktestResult, bands: CategoryBands): BandGroup[] {
  return [
    { header: 'Head and tail, pooled (hits and evaluations summed)', bands: bands.pooled },
    { header: `Head: ${bands.headCategories} categor${bands.headCategories === 1 ? 'y' : 'ies'}, ${percent(1 - r.tailShareInteractions, 1)} of events`, bands: bands.head },
    { header: `Tail: ${bands.tailCategories} categor${bands.tailCategories === 1 ? 'y' : 'ies'}, ${percent(r.tailShareInteractions, 1)} of events (shaded)`, bands: bands.tail },
  ].filter((g) => g.bands.length > 0);
}

/** The top of each group header and each band, stacked from `top`. */
function placeBands(groups: readonly BandGroup[], top: number, bandH: number): { placed: { band: CategoryBand; top: number }[]; headers: { text: string; top: number }[] } {
  let yCursor = top;
  const placed: { band: CategoryBand; top: number }[] = [];
  const headers: { text: string; top: number }[] = [];
  for (const g of groups) {
    headers.push({ text: g.header, top: yCursor });
    yCursor += HEADER_H;
    for (const b of g.bands) {
      placed.push({ band: b, top: yCursor });
      yCursor += bandH;
    }
  }
  return { placed, headers };
}

/** One row's dot (hit rate) and error bar (its Wilson interval) in a band, at height `y`, with a tooltip. */
function intervalMark(c: ChartRow, b: CategoryBand, v: BandValue, y: number, x: (v: number) => number, cap: number, r0: number): string {
  const tip = `${rowLabel(c)}, ${b.name}: ${(100 * v.hr).toFixed(1)}% (${v.hits}/${v.n}), 95% CI ${(100 * v.ci.lo).toFixed(1)}–${(100 * v.ci.hi).toFixed(1)}%`;
  return `<g><title>${escapeXml(tip)}</title>${svgLine(x(v.ci.lo), y, x(v.ci.hi), y, c.style.color, ' stroke-width="1.5"')}${svgLine(x(v.ci.lo), y - cap / 2, x(v.ci.lo), y + cap / 2, c.style.color)}${svgLine(x(v.ci.hi), y - cap / 2, x(v.ci.hi), y + cap / 2, c.style.color)}${marker(c.style, x(v.hr), y, r0)}</g>`;
}

export function categoryPanel(r: BacktestResult, rows: readonly ChartRow[], width = 1140, maxCategories = 40): Panel {
  const k = r.k;
  const bands = categoryBands(r, rows, maxCategories);
  const all = [...bands.pooled, ...bands.head, ...bands.tail];
  const rowStep = Math.max(5, Math.min(8, Math.floor(40 / Math.max(1, rows.length))));
  const bandH = Math.max(22, rows.length * rowStep + 10);
  const nameW = Math.max(...all.map((b) => textWidth(b.label, LABEL_SIZE, b.pooled)), 40);
  const statsW = Math.max(...all.map((b) => textWidth(stats(b), TICK_SIZE)), 40);
  const labelLeft = 16;
  const statsRight = labelLeft + nameW + 14 + statsW;
  const plotLeft = statsRight + 18;
  const plotRight = width - 4 - textWidth('100%', TICK_SIZE) / 2 - 8;
  const x = (v: number): number => plotLeft + v * (plotRight - plotLeft);
  const legend = legendOf(rows, width, labelLeft);
  const axisTop = legend.baseline + 26;
  const plotTop = axisTop + 8;
  const groups = bandGroups(r, bands);
  const plotHeight = groups.reduce((h, g) => h + HEADER_H + g.bands.length * bandH, 0);
  const plotBottom = plotTop + plotHeight;
  const height = plotBottom + 40;
  const xTicks = ticks(0, 1, 0.1);
  const parts: string[] = [svgOpen(width, height, `HR@${k} per category with 95% Wilson intervals`)];
  parts.push(svgText(16, 22, `HR@${k} per category, with 95% confidence intervals`, { size: TITLE_SIZE, bold: true }));
  parts.push(svgText(16, 42, `dot: hits / evaluations (n); bar: 95% Wilson score interval (Wilson 1927); categories by share of events, head first`, { size: LABEL_SIZE, fill: '#555' }));
  parts.push(...legend.parts);
  const { placed, headers } = placeBands(groups, plotTop, bandH);
  // Tail bands shaded, behind everything.
  for (const p of placed) if (p.band.tail && !p.band.pooled) parts.push(`<rect x="8" y="${svgNumber(p.top)}" width="${width - 16}" height="${bandH}" fill="#f1f1f1"/>`);
  for (const v of xTicks) {
    parts.push(svgLine(x(v), plotTop, x(v), plotBottom, v === 0 || v === 1 ? '#999' : '#e3e3e3'));
    parts.push(svgText(x(v), axisTop, tickPercent(v), { size: TICK_SIZE, anchor: 'middle', fill: '#444' }));
    parts.push(svgText(x(v), plotBottom + 16, tickPercent(v), { size: TICK_SIZE, anchor: 'middle', fill: '#444' }));
  }
  parts.push(svgText(plotRight, plotBottom + 34, `HR@${k} →`, { size: LABEL_SIZE, anchor: 'end', fill: '#333' }));
  for (const h of headers) {
    parts.push(svgLine(8, h.top + 0.5, width - 8, h.top + 0.5, '#888'));
    parts.push(svgText(labelLeft, h.top + 17, h.text, { size: LABEL_SIZE, bold: true, fill: '#222' }));
  }
  const cap = Math.min(5, rowStep - 1);
  const r0 = Math.min(3.6, rowStep / 2);
  for (const { band: b, top } of placed) {
    parts.push(svgLine(8, top + bandH - 0.5, width - 8, top + bandH - 0.5, '#e3e3e3'));
    const mid = top + bandH / 2;
    parts.push(`<g><title>${escapeXml(b.name)}</title>${svgText(labelLeft, mid + 4, b.label, { size: LABEL_SIZE, bold: b.pooled, fill: '#222' })}</g>`);
    parts.push(svgText(statsRight, mid + 4, stats(b), { size: TICK_SIZE, anchor: 'end', fill: '#555' }));
    b.values.forEach((v, j) => {
      if (v.n > 0) parts.push(intervalMark(rows[j]!, b, v, top + 5 + (j + 0.5) * rowStep, x, cap, r0));
    });
  }
  parts.push('</svg>');
  return { svg: parts.join('\n'), width, height };
}
