/**
 * The backtest report's pure parts: the Wilson interval against published values, the
 * layout helpers against their contracts over random inputs, and the rendered page of a
 * synthetic result (every text inside its SVG, lines ending at the legend's values, one
 * interval per row and category, reference rows drawn apart).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../../src/balance/index.js';
import { isRebalancerError } from '../../../src/errors.js';
import { renderChart } from '../../../src/offline/report/chart.js';
import { categoryBands } from '../../../src/offline/report/chart-categories.js';
import { overTimeLines } from '../../../src/offline/report/chart-over-time.js';
import { formatCount, inside, niceStep, overlaps, placePointLabels, spread, textBox, ticks, type Anchor, type Box } from '../../../src/offline/report/chart-svg.js';
import { chartRows, REFERENCE_COLORS, STRATEGY_COLORS } from '../../../src/offline/report/chart-style.js';
import { wilsonInterval, Z_95 } from '../../../src/offline/report/wilson.js';
import { cats, LARGE, SMALL, synthetic } from './chart-fixtures.js';

// ---------------------------------------------------------------------------------------------
// Reading the SVG back.

interface SvgBlock {
  width: number;
  height: number;
  body: string;
}

function svgBlocks(html: string): SvgBlock[] {
  const out: SvgBlock[] = [];
  for (const m of html.matchAll(/<svg [^>]*width="([\d.]+)" height="([\d.]+)" viewBox="0 0 ([\d.]+) ([\d.]+)"[^>]*>([\s\S]*?)<\/svg>/g)) {
    assert.equal(m[1], m[3], 'width = viewBox width (no scaling)');
    assert.equal(m[2], m[4], 'height = viewBox height');
    out.push({ width: Number(m[3]), height: Number(m[4]), body: m[5]! });
  }
  return out;
}

interface SvgTextEl {
  x: number;
  y: number;
  size: number;
  anchor: Anchor;
  bold: boolean;
  text: string;
}

const unescape = (s: string): string => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

function texts(body: string): SvgTextEl[] {
  const out: SvgTextEl[] = [];
  for (const m of body.matchAll(/<text x="(-?[\d.]+)" y="(-?[\d.]+)" font-size="([\d.]+)" text-anchor="(start|middle|end)"( font-weight="bold")?(?: fill="[^"]*")?>([^<]*)<\/text>/g)) {
    out.push({ x: Number(m[1]), y: Number(m[2]), size: Number(m[3]), anchor: m[4] as Anchor, bold: m[5] !== undefined, text: unescape(m[6]!) });
  }
  assert.equal(out.length, (body.match(/<text /g) ?? []).length, 'every <text> has the attribute layout svgText writes');
  return out;
}

function assertTextsInside(html: string): number {
  let count = 0;
  for (const svg of svgBlocks(html)) {
    const view: Box = { x: 0, y: 0, w: svg.width, h: svg.height };
    for (const t of texts(svg.body)) {
      const box = textBox(t.x, t.y, t.text, { size: t.size, anchor: t.anchor, bold: t.bold });
      assert.ok(inside(box, view), `"${t.text}" (${JSON.stringify(box)}) inside the ${svg.width}×${svg.height} viewBox`);
      count++;
    }
  }
  return count;
}

/** The over-time panels: their polylines (last point, stroke, dashed) and their y scale read off the tick labels. */
function overTimePanels(html: string): { title: string; lines: { name: string; lastY: number; dashed: boolean; stroke: string }[]; valueAt(y: number): number; unitsPerPx: number; endLabels: Map<string, number> }[] {
  return svgBlocks(html)
    .filter((s) => s.body.includes('<polyline'))
    .map((s) => {
      const ts = texts(s.body);
      const yTicks = ts.filter((t) => t.anchor === 'end' && /^\d+(\.\d+)?%$/.test(t.text)).map((t) => ({ v: Number(t.text.slice(0, -1)) / 100, y: t.y - 4 }));
      assert.ok(yTicks.length >= 3, 'y tick labels');
      const a = yTicks[0]!;
      const b = yTicks[yTicks.length - 1]!;
      const unitsPerPx = (b.v - a.v) / (a.y - b.y);
      const lines = [...s.body.matchAll(/<polyline fill="none" stroke="([^"]+)" stroke-width="2"( stroke-dasharray="[^"]+")? points="([^"]*)"><title>([^<]*)<\/title>/g)].map((m) => {
        const pts = m[3]!.split(' ');
        return { name: unescape(m[4]!), lastY: Number(pts[pts.length - 1]!.split(',')[1]), dashed: m[2] !== undefined, stroke: m[1]! };
      });
      const endLabels = new Map<string, number>();
      for (const t of ts) {
        const m = /^(\d+\.\d)% (.+)$/.exec(t.text);
        if (m) endLabels.set(m[2]!, Number(m[1]) / 100);
      }
      return { title: ts[0]!.text, lines, valueAt: (y: number) => a.v + (a.y - y) * unitsPerPx, unitsPerPx, endLabels };
    });
}

/** The summary table's figure of each row: micro or macro, as printed. */
function tableValues(html: string, metric: 'micro' | 'macro'): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of html.matchAll(/<tr[^>]*><td class="key">\d+<\/td><td class="swatch"><svg[\s\S]*?<\/svg><\/td><td class="name"[^>]*>([^<]*)<\/td>([\s\S]*?)<\/tr>/g)) {
    const cell = new RegExp(`data-metric="${metric}">([\\d.]+)%<`).exec(m[2]!);
    assert.ok(cell, `${metric} cell of ${m[1]}`);
    out.set(unescape(m[1]!), Number(cell[1]) / 100);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

describe('Wilson score interval', () => {
  it('matches published values (Newcombe 1998, Table I, method 3) and 42 of 100', () => {
    const cases: [number, number, number, number][] = [
      [81, 263, 0.2553, 0.3662],
      [15, 148, 0.0624, 0.1605],
      [0, 20, 0, 0.1611],
      [1, 29, 0.0061, 0.1718],
      [42, 100, 0.328, 0.5179],
    ];
    for (const [hits, n, lo, hi] of cases) {
      const ci = wilsonInterval(hits, n);
      assert.ok(Math.abs(ci.lo - lo) < 5e-5 && Math.abs(ci.hi - hi) < 5e-5, `${hits}/${n}: [${ci.lo.toFixed(5)}, ${ci.hi.toFixed(5)}] vs [${lo}, ${hi}]`);
    }
    assert.ok(Math.abs(Z_95 - 1.959964) < 1e-6);
  });

  it('stays in [0, 1], contains the estimate, mirrors at n − hits, narrows with n; n = 0 gives [0, 1]; bad counts are refused', () => {
    for (const n of [1, 5, 37, 100, 1000]) {
      for (let hits = 0; hits <= n; hits += Math.max(1, Math.floor(n / 13))) {
        const ci = wilsonInterval(hits, n);
        const mirror = wilsonInterval(n - hits, n);
        assert.ok(ci.lo >= 0 && ci.hi <= 1 && ci.lo <= hits / n && hits / n <= ci.hi, `${hits}/${n}`);
        assert.ok(Math.abs(ci.lo - (1 - mirror.hi)) < 1e-12 && Math.abs(ci.hi - (1 - mirror.lo)) < 1e-12, `${hits}/${n} mirrors`);
      }
    }
    const narrower = wilsonInterval(420, 1000);
    const wider = wilsonInterval(42, 100);
    assert.ok(narrower.hi - narrower.lo < wider.hi - wider.lo);
    assert.deepEqual(wilsonInterval(0, 0), { lo: 0, hi: 1 });
    for (const [h, n] of [[5, 4], [-1, 3], [1.5, 3], [1, Number.NaN]] as const) assert.throws(() => wilsonInterval(h, n), (e: unknown) => isRebalancerError(e, 'REB_INPUT_INVALID'));
  });

  it('covers the true rate with probability close to 95% (exact binomial sum, n = 100 and 40)', () => {
    for (const [n, p] of [[100, 0.42], [40, 0.1], [40, 0.7]] as const) {
      let coverage = 0;
      let logPmf = n * Math.log(1 - p); // k = 0
      for (let k = 0; k <= n; k++) {
        if (k > 0) logPmf += Math.log((n - k + 1) / k) + Math.log(p / (1 - p));
        const ci = wilsonInterval(k, n);
        if (ci.lo <= p && p <= ci.hi) coverage += Math.exp(logPmf);
      }
      assert.ok(coverage > 0.92 && coverage < 0.975, `n ${n}, p ${p}: coverage ${coverage.toFixed(4)}`);
    }
  });
});

describe('chart layout helpers', () => {
  it('spread keeps the order of the wishes, the gap and the bounds, and leaves spaced labels where they are', () => {
    const rng = new Rng(11);
    for (let trial = 0; trial < 300; trial++) {
      const count = 1 + rng.int(12);
      const gap = 10 + rng.int(6);
      const lo = rng.int(50);
      const hi = lo + count * gap + rng.int(300);
      const desired = Array.from({ length: count }, () => lo - 20 + rng.next() * (hi - lo + 40));
      const pos = spread(desired, gap, lo, hi);
      const order = desired.map((d, i) => [d, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, i]) => i);
      for (let j = 0; j < count; j++) {
        const p = pos[order[j]!]!;
        assert.ok(p >= lo - 1e-9 && p <= hi + 1e-9, `in bounds: ${p} in [${lo}, ${hi}]`);
        if (j > 0) assert.ok(p - pos[order[j - 1]!]! >= gap - 1e-9, 'gap kept, order kept');
      }
    }
    assert.deepEqual(spread([10, 50, 30], 14, 0, 100), [10, 50, 30], 'already spaced: unmoved');
    assert.deepEqual(spread([50, 50], 14, 0, 100), [50, 64]);
  });

  it('placePointLabels puts labels inside the bounds, clear of every marker and of each other, falling back to a short form where a name does not fit', () => {
    const rng = new Rng(5);
    const bounds: Box = { x: 0, y: 0, w: 500, h: 400 };
    for (let trial = 0; trial < 50; trial++) {
      // A tight cluster plus scattered points: the hard case of the trade-off plot.
      const points = Array.from({ length: 8 + rng.int(5) }, (_, i) => ({
        x: i < 5 ? 240 + rng.next() * 20 : 20 + rng.next() * 460,
        y: i < 5 ? 190 + rng.next() * 20 : 20 + rng.next() * 360,
        r: 6,
        sizes: [{ w: 40 + rng.int(90), h: 15 }],
      }));
      const placed = placePointLabels(points, bounds);
      placed.forEach((p, i) => {
        assert.ok(inside(p.box, bounds), 'inside');
        if (p.crowded) return;
        for (let j = 0; j < points.length; j++) {
          const q = points[j]!;
          assert.ok(!overlaps(p.box, { x: q.x - q.r, y: q.y - q.r, w: 2 * q.r, h: 2 * q.r }), `label ${i} clear of marker ${j}`);
          if (j < i) assert.ok(!overlaps(p.box, placed[j]!.box), `label ${i} clear of label ${j}`);
        }
      });
      assert.ok(placed.filter((p) => p.crowded).length === 0, `trial ${trial}: every label found a free place`);
    }
    // Twelve points in a 40 px cluster with 220 px names in a 300 × 200 box: some fall back to their short form, none overlap.
    const cluster = Array.from({ length: 12 }, () => ({ x: 130 + rng.next() * 40, y: 80 + rng.next() * 40, r: 6, sizes: [{ w: 220, h: 15 }, { w: 16, h: 15 }] }));
    const dense = placePointLabels(cluster, { x: 0, y: 0, w: 300, h: 200 });
    assert.ok(dense.some((p) => p.form === 1) && dense.some((p) => p.form === 0), `forms used: ${dense.map((p) => p.form).join('')}`);
    dense.forEach((p, i) => {
      assert.ok(!p.crowded, `label ${i} placed`);
      assert.equal(p.box.w, cluster[i]!.sizes[p.form]!.w);
      for (let j = 0; j < i; j++) assert.ok(!overlaps(p.box, dense[j]!.box), `label ${i} clear of label ${j}`);
    });
  });

  it('ticks are nice multiples; counts are short', () => {
    assert.deepEqual(ticks(0, 6_000, niceStep(6_000, 5)), [0, 2_000, 4_000, 6_000]);
    assert.deepEqual(ticks(0, 5_000, niceStep(5_000, 5)), [0, 1_000, 2_000, 3_000, 4_000, 5_000]);
    assert.deepEqual(ticks(0, 0.8, niceStep(0.8, 5)), [0, 0.2, 0.4, 0.6, 0.8]);
    assert.deepEqual(ticks(0.1, 0.6, niceStep(0.5, 5)), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
    assert.equal(niceStep(0.05, 5), 0.01);
    assert.deepEqual([5_000, 20_000, 1_500_000, 2_500_000].map(formatCount), ['5,000', '20k', '1.5M', '2.5M']);
  });
});

describe('backtest report page', () => {
  it('is self-contained: no scripts, no external assets', () => {
    const html = renderChart(synthetic(SMALL), 'Backtest: <synthetic> & "quoted"');
    assert.doesNotMatch(html, /<script|<link|<img|@import|url\(|https?:\/\/(?!www\.w3\.org\/2000\/svg")/);
    assert.match(html, /<title>Backtest: &lt;synthetic&gt; &amp; &quot;quoted&quot;<\/title>/);
  });

  for (const [name, spec] of [['5 rows, 20 categories', SMALL], ['15 rows with long names, 300 long-named categories, 2.5M events', LARGE]] as const) {
    it(`keeps every SVG text element inside its viewBox (${name})`, () => {
      const html = renderChart(synthetic(spec), 'Backtest');
      const n = assertTextsInside(html);
      assert.ok(n > 50, `${n} texts checked`);
    });
  }

  it('draws cumulative lines that end at the legend: last point = whole-run value = end label = table cell, micro and macro', () => {
    const r = synthetic(SMALL);
    const html = renderChart(r, 'Backtest');
    const panels = overTimePanels(html);
    assert.equal(panels.length, 2, 'micro and macro panels');
    const rows = chartRows(r);
    for (const [panel, metric] of [[panels[0]!, 'micro'], [panels[1]!, 'macro']] as const) {
      assert.match(panel.title, new RegExp(`^${metric === 'micro' ? 'Micro' : 'Macro'} HR@10`));
      const table = tableValues(html, metric);
      assert.equal(panel.lines.length, rows.length, 'one line per row');
      assert.equal(table.size, rows.length, 'one table row per row');
      for (const line of panel.lines) {
        const c = rows.find((x) => (x.reference ? `${x.row.name} (ref)` : x.row.name) === line.name);
        assert.ok(c, line.name);
        const whole = metric === 'micro' ? c.row.microHr : c.row.macroHr;
        const drawn = panel.valueAt(line.lastY);
        // Coordinates are written to 0.1 px; the table to 0.1%.
        assert.ok(Math.abs(drawn - whole) <= 0.06 * panel.unitsPerPx + 1e-9, `${metric} ${line.name}: line ends at ${drawn}, whole run ${whole}`);
        assert.ok(Math.abs(table.get(line.name)! - whole) <= 0.0005 + 1e-12, `${line.name}: table ${table.get(line.name)} vs ${whole}`);
        assert.equal(panel.endLabels.get(line.name), table.get(line.name), `${line.name}: end label = table`);
      }
      // The data the lines are drawn from: cumulative points whose last value is the whole-run figure.
      for (const l of overTimeLines(rows, metric)) assert.equal(l.points[l.points.length - 1]!.value, l.end);
    }
  });

  it('gives strategies distinct Okabe–Ito colours and reference rows dashed grey lines and hollow markers', () => {
    assert.equal(new Set(STRATEGY_COLORS).size, STRATEGY_COLORS.length);
    const r = synthetic({ ...SMALL, strategies: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'] });
    const [micro] = overTimePanels(renderChart(r, 'Backtest'));
    const strategies = micro!.lines.filter((l) => !l.name.endsWith('(ref)'));
    const references = micro!.lines.filter((l) => l.name.endsWith('(ref)'));
    assert.equal(new Set(strategies.map((l) => l.stroke)).size, 8, 'eight strategies, eight colours');
    assert.ok(strategies.every((l) => !l.dashed && (STRATEGY_COLORS as readonly string[]).includes(l.stroke)));
    assert.ok(references.length === 3 && references.every((l) => l.dashed && (REFERENCE_COLORS as readonly string[]).includes(l.stroke)));
    const styles = chartRows(r).filter((c) => c.reference).map((c) => c.style);
    assert.equal(new Set(styles.map((s) => s.marker)).size, 3, 'each reference row its own marker shape');
    assert.equal(new Set(styles.map((s) => s.dash)).size, 3, 'and its own dash pattern');
    assert.ok(styles.every((s) => s.hollow) && chartRows(r).filter((c) => !c.reference).every((c) => !c.style.hollow && c.style.marker === 'circle'));
  });

  it('plots one labelled point per row in the trade-off (x micro, y macro), reference rows hollow', () => {
    const r = synthetic(SMALL);
    const svg = svgBlocks(renderChart(r, 'Backtest')).find((s) => s.body.includes('Trade-off'))!;
    const labels = texts(svg.body).map((t) => t.text);
    for (const c of chartRows(r)) assert.ok(labels.includes(c.reference ? `${c.row.name} (ref)` : c.row.name), `label of ${c.row.name}`);
    const markers = [...svg.body.matchAll(/<g><title>([^<]*): micro ([\d.]+)%, macro ([\d.]+)%<\/title>(<[^>]*>)<\/g>/g)];
    assert.equal(markers.length, 5);
    for (const m of markers) {
      const row = chartRows(r).find((c) => (c.reference ? `${c.row.name} (ref)` : c.row.name) === m[1])!.row;
      assert.equal(Number(m[2]), Number((100 * row.microHr).toFixed(2)));
      assert.equal(Number(m[3]), Number((100 * row.macroHr).toFixed(2)));
      assert.equal(m[4]!.includes('fill="#fff"'), m[1]!.endsWith('(ref)'), `${m[1]}: hollow iff reference`);
    }
  });

  it('per category: Wilson intervals of hits / evaluations, head by share then tail, pooled bands summing hits and evaluations, small categories pooled past the cap', () => {
    const r = synthetic(SMALL);
    const rows = chartRows(r);
    const bands = categoryBands(r, rows);
    assert.equal(bands.head.length + bands.tail.length, 20);
    const shares = [...bands.head, ...bands.tail].map((b) => b.share);
    assert.deepEqual(bands.head.map((b) => b.name), cats(5));
    assert.deepEqual(bands.tail.map((b) => b.name), cats(20).slice(5));
    for (let i = 1; i < bands.head.length; i++) assert.ok(shares[i - 1]! >= shares[i]!, 'head by share, descending');
    assert.ok(bands.tail.every((b) => b.tail) && bands.head.every((b) => !b.tail));
    for (const b of [...bands.head, ...bands.tail]) {
      rows.forEach((c, j) => {
        const v = c.row.perCategory[b.name]!;
        assert.deepEqual(b.values[j]!.ci, wilsonInterval(v.hits, v.evaluated));
        assert.equal(b.values[j]!.hr, v.hits / v.evaluated);
      });
    }
    const [head, tail] = bands.pooled;
    rows.forEach((c, j) => {
      const sum = (names: string[], f: 'hits' | 'evaluated'): number => names.reduce((s, n) => s + c.row.perCategory[n]![f], 0);
      assert.equal(head!.values[j]!.hits, sum(cats(5), 'hits'));
      assert.equal(tail!.values[j]!.n, sum(cats(20).slice(5), 'evaluated'));
      assert.equal(head!.values[j]!.hits + tail!.values[j]!.hits, c.row.hits, 'head + tail = the row');
    });
    // Drawn: one error bar (tooltip with hits/n and the interval) per row and band.
    const html = renderChart(r, 'Backtest');
    const tips = [...html.matchAll(/<title>([^<]*), (cat-\d+|head, pooled|tail, pooled): ([\d.]+)% \((\d+)\/(\d+)\), 95% CI ([\d.]+)–([\d.]+)%<\/title>/g)];
    assert.equal(tips.length, rows.length * 22);
    for (const t of tips) {
      const ci = wilsonInterval(Number(t[4]), Number(t[5]));
      assert.equal(t[6], (100 * ci.lo).toFixed(1));
      assert.equal(t[7], (100 * ci.hi).toFixed(1));
    }
    // Past the cap (75 head, 225 tail categories, 40 bands): 12 head + 1 pooled, 26 tail + 1 pooled.
    const large = synthetic(LARGE);
    const capped = categoryBands(large, chartRows(large), 40);
    assert.deepEqual([capped.headCategories, capped.tailCategories], [75, 225]);
    assert.deepEqual([capped.head.length, capped.tail.length], [13, 27]);
    const moreHead = capped.head[12]!;
    const smallest = capped.tail[26]!;
    assert.ok(moreHead.pooled && !moreHead.tail && moreHead.categories === 63 && moreHead.label === '63 more head categories, pooled');
    assert.ok(smallest.pooled && smallest.tail && smallest.categories === 199 && smallest.label === 'the 199 smallest, pooled');
    const shown = [...capped.head, ...capped.tail].reduce((s, b) => s + b.categories, 0);
    assert.equal(shown, 300, 'every category in exactly one band');
    // A small tail next to a large head: the head takes the room the tail does not need.
    const headHeavy = synthetic({ ...LARGE, strategies: ['x'], categories: cats(52) });
    const hh = categoryBands({ ...headHeavy, tailCategories: cats(52).slice(50) }, chartRows(headHeavy), 40);
    assert.deepEqual([hh.head.length, hh.tail.length], [38, 2]);
  });
});
