/**
 * SVG building blocks of the backtest report, pure functions of their arguments: escaping,
 * text extents (so margins and labels are laid out from the labels' own lengths), axis
 * ticks, number formats and two label-placement helpers.
 *
 * Every chart text goes through `svgText` with the font of `SVG_FONT`, whose advance widths
 * `textWidth` knows (DejaVu Sans, measured in Chromium; Verdana, the fallback, is about as
 * wide), so a label's box is known before the browser draws it.
 */

/** The charts' font: DejaVu Sans (Linux), else Verdana (macOS, Windows): both wide, one set of widths. */
export const SVG_FONT = "'DejaVu Sans', Verdana, sans-serif";

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Advance widths of DejaVu Sans in hundredths of an em, characters 32 (space) to 126 (~), regular and bold. */
const WIDTHS = [
  32, 40, 46, 84, 64, 95, 78, 27, 39, 39, 50, 84, 32, 36, 32, 34, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 34, 34, 84, 84, 84, 53, 100, 68, 69, 70, 77, 63, 58, 77, 75, 29, 29, 66, 56, 86, 75, 79,
  60, 79, 69, 63, 61, 73, 68, 99, 69, 61, 69, 39, 34, 39, 84, 50, 50, 61, 63, 55, 63, 62, 35, 63, 63, 28, 28, 58, 28, 97, 63, 61, 63, 63, 41, 52, 39, 63, 59, 82, 59, 59, 52, 64, 34, 64, 84,
];
const BOLD_WIDTHS = [
  35, 46, 52, 84, 70, 100, 87, 31, 46, 46, 52, 84, 38, 42, 38, 37, 70, 70, 70, 70, 70, 70, 70, 70, 70, 70, 40, 40, 84, 84, 84, 58, 100, 77, 76, 73, 83, 68, 68, 82, 84, 37, 37, 77, 64, 100, 84, 85,
  73, 85, 77, 72, 68, 81, 77, 110, 77, 72, 73, 46, 37, 46, 84, 50, 50, 67, 72, 59, 72, 68, 44, 72, 71, 34, 34, 67, 34, 104, 71, 69, 72, 72, 49, 60, 48, 71, 65, 92, 65, 65, 58, 71, 37, 71, 84,
];
/** Other characters the report writes (·, –, ≥, →), at most this wide; anything else counts as a full em. */
const OTHER_WIDTHS: Readonly<Record<string, number>> = { '·': 32, '–': 50, '—': 100, '≥': 84, '≤': 84, '→': 84, '↑': 84, '×': 84, '…': 100 };

/** Width in px of `s` at `size` px (an upper estimate for characters outside the table). */
export function textWidth(s: string, size: number, bold = false): number {
  const table = bold ? BOLD_WIDTHS : WIDTHS;
  let w = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    w += c >= 32 && c <= 126 ? table[c - 32]! : (OTHER_WIDTHS[ch] ?? 100) * (bold ? 1.1 : 1);
  }
  return (w * size) / 100;
}

/** Extent above and below the baseline of a line of text, as fractions of the font size (DejaVu Sans: 0.93 / 0.24). */
export const ASCENT = 0.95;
export const DESCENT = 0.25;

export type Anchor = 'start' | 'middle' | 'end';

export interface TextOptions {
  size: number;
  anchor?: Anchor;
  bold?: boolean;
  fill?: string;
}

/** A box: top-left corner, width, height. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The box a text at (x, baseline y) takes. */
export function textBox(x: number, y: number, s: string, o: TextOptions): Box {
  const w = textWidth(s, o.size, o.bold);
  const left = o.anchor === 'end' ? x - w : o.anchor === 'middle' ? x - w / 2 : x;
  return { x: left, y: y - ASCENT * o.size, w, h: (ASCENT + DESCENT) * o.size };
}

/** A coordinate as written: to 0.1 px. */
export function svgNumber(v: number): string {
  return String(Math.round(v * 10) / 10);
}
const num = svgNumber;

/** One <text> element; attributes always in this order: x, y, font-size, text-anchor, font-weight, fill. */
export function svgText(x: number, y: number, s: string, o: TextOptions): string {
  return `<text x="${num(x)}" y="${num(y)}" font-size="${o.size}" text-anchor="${o.anchor ?? 'start'}"${o.bold === true ? ' font-weight="bold"' : ''}${o.fill !== undefined ? ` fill="${o.fill}"` : ''}>${escapeXml(s)}</text>`;
}

export function svgLine(x1: number, y1: number, x2: number, y2: number, stroke: string, extra = ''): string {
  return `<line x1="${num(x1)}" y1="${num(y1)}" x2="${num(x2)}" y2="${num(y2)}" stroke="${stroke}"${extra}/>`;
}

export function svgOpen(width: number, height: number, label: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${SVG_FONT}" role="img" aria-label="${escapeXml(label)}">`;
}

export function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

export function inside(inner: Box, outer: Box): boolean {
  return inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.w <= outer.x + outer.w && inner.y + inner.h <= outer.y + outer.h;
}

/** A tick step of 1, 2, 2.5 or 5 × 10^k giving about `count` intervals over `span`. */
export function niceStep(span: number, count: number): number {
  if (!(span > 0)) return 1;
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5]) if (m * mag >= raw * (1 - 1e-9)) return m * mag;
  return 10 * mag;
}

/** Multiples of `step` in [lo, hi] (free of accumulated rounding). */
export function ticks(lo: number, hi: number, step: number): number[] {
  const out: number[] = [];
  const first = Math.ceil(lo / step - 1e-9);
  const last = Math.floor(hi / step + 1e-9);
  for (let i = first; i <= last; i++) out.push(Number((i * step).toPrecision(12)));
  return out;
}

/** [lo, hi] widened to multiples of a nice step giving about `count` intervals. */
export function niceDomain(lo: number, hi: number, count: number): { lo: number; hi: number; step: number } {
  const step = niceStep(hi - lo, count);
  return { lo: Number((Math.floor(lo / step + 1e-9) * step).toPrecision(12)), hi: Number((Math.ceil(hi / step - 1e-9) * step).toPrecision(12)), step };
}

/** A share as a percentage with `digits` decimals: 0.4217 → "42.2%". */
export function percent(x: number, digits = 1): string {
  return `${(100 * x).toFixed(digits)}%`;
}

/** An axis tick of a share: as few decimals as the value needs ("2.5%", "40%"). */
export function tickPercent(x: number): string {
  return `${Number((100 * x).toFixed(2))}%`;
}

/** An event count as an axis label: 5,000; 20k; 1.5M. */
export function formatCount(n: number): string {
  if (Math.abs(n) < 10_000) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) < 1_000_000) return `${Number((n / 1_000).toFixed(1))}k`;
  return `${Number((n / 1_000_000).toFixed(2))}M`;
}

/**
 * Positions for labels wanted at `desired` (one axis), at least `gap` apart, in [lo, hi] when
 * they fit, each as close to its wish as that allows, in the order of the wishes (ties by
 * index). Two passes: push down from the top, then up from the bottom.
 */
export function spread(desired: readonly number[], gap: number, lo: number, hi: number): number[] {
  const order = desired.map((d, i) => [d, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, i]) => i);
  const pos = new Array<number>(desired.length);
  let prev = -Infinity;
  for (const i of order) {
    pos[i] = Math.max(desired[i]!, prev + gap, lo);
    prev = pos[i]!;
  }
  let next = Infinity;
  for (let j = order.length - 1; j >= 0; j--) {
    const i = order[j]!;
    pos[i] = Math.min(pos[i]!, next - gap, hi);
    next = pos[i]!;
  }
  return pos;
}

export interface PointLabel {
  /** The point (centre of its marker) and the marker's radius. */
  x: number;
  y: number;
  r: number;
  /** Sizes of the label's forms, preferred first (e.g. the name, then a short key). */
  sizes: readonly { w: number; h: number }[];
}

export interface PlacedLabel {
  /** Top-left corner of the label's box. */
  box: Box;
  /** Which of the label's forms was placed. */
  form: number;
  /** Whether the label sits away from its point (draw a leader line). */
  leader: boolean;
  /** Whether it overlaps something (no free place was found for any form). */
  crowded: boolean;
}

const DIRECTIONS: readonly (readonly [number, number])[] = [
  [1, 0], [-1, 0], [0, -1], [0, 1], [0.71, -0.71], [0.71, 0.71], [-0.71, -0.71], [-0.71, 0.71],
  [0.87, -0.5], [0.87, 0.5], [-0.87, -0.5], [-0.87, 0.5], [0.5, -0.87], [0.5, 0.87], [-0.5, -0.87], [-0.5, 0.87],
];
const RINGS = [4, 14, 26, 40, 56, 76];

/**
 * Direct labels for scatter points, greedily in the given order: each label takes the first
 * place, nearest ring first, around its point that stays inside `bounds` and clear of every
 * marker and every label placed before it (the usual greedy point-feature labelling, e.g.
 * Christensen, Marks and Shieber, ACM TOG 14(3), 1995), trying its forms in order. Beyond the
 * first ring a leader line is drawn; with no free place for any form, the last form goes to
 * the right of its point, clamped into bounds.
 */
export function placePointLabels(points: readonly PointLabel[], bounds: Box): PlacedLabel[] {
  const markers: Box[] = points.map((p) => ({ x: p.x - p.r - 1, y: p.y - p.r - 1, w: 2 * p.r + 2, h: 2 * p.r + 2 }));
  const placed: Box[] = [];
  const out: PlacedLabel[] = [];
  const free = (box: Box): boolean => inside(box, bounds) && !markers.some((m) => overlaps(box, m)) && !placed.some((b) => overlaps(box, b));
  for (const p of points) {
    let found: PlacedLabel | undefined;
    for (let form = 0; form < p.sizes.length && found === undefined; form++) {
      const { w, h } = p.sizes[form]!;
      for (let ring = 0; ring < RINGS.length && found === undefined; ring++) {
        const d = p.r + RINGS[ring]!;
        for (const [dx, dy] of ring === 0 ? DIRECTIONS.slice(0, 8) : DIRECTIONS) {
          // The box touches the circle of radius d around the point in direction (dx, dy).
          const cx = p.x + dx * d;
          const cy = p.y + dy * d;
          const box: Box = { x: dx > 0.1 ? cx : dx < -0.1 ? cx - w : cx - w / 2, y: dy > 0.1 ? cy : dy < -0.1 ? cy - h : cy - h / 2, w, h };
          if (!free(box)) continue;
          found = { box, form, leader: ring > 0, crowded: false };
          break;
        }
      }
    }
    if (found === undefined) {
      const form = p.sizes.length - 1;
      const { w, h } = p.sizes[form]!;
      const x = Math.min(Math.max(p.x + p.r + 4, bounds.x), bounds.x + bounds.w - w);
      const y = Math.min(Math.max(p.y - h / 2, bounds.y), bounds.y + bounds.h - h);
      found = { box: { x, y, w, h }, form, leader: false, crowded: true };
    }
    placed.push(found.box);
    out.push(found);
  }
  return out;
}
