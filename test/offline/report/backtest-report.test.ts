/**
 * The backtest report end to end: a real small backtest through the CLI (`--json`,
 * `--chart`), its per-category hits and cumulative series, and the HTML page in a real
 * headless Chromium (test/helpers/browser.ts) at 1200 px: no console errors, no text outside
 * its SVG (also on a synthetic stress page), no horizontal scrolling, line ends equal to the
 * table. With UPDATE_SCREENSHOTS=1 the screenshot is written to the README's docs/img/backtest-report.png.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { REPO_ROOT } from '../../../dev/local-broker.js';
import { renderChart } from '../../../src/offline/report/chart.js';
import { withPage } from '../../helpers/browser.js';
import { LARGE, synthetic } from './chart-fixtures.js';
import { cli, tempDir } from '../helpers.js';

type Json = Record<string, unknown>;

interface RowJson {
  name: string;
  micro_hr10: number;
  macro_hr10: number;
  evaluated: number;
  hits: number;
  per_category: Record<string, { hr10: number; hits: number; evaluated: number }>;
  series: { events: number; evaluated: number; cumulative_micro_hr10: number; cumulative_macro_hr10: number }[];
}

const SCREENSHOT = join(REPO_ROOT, 'docs', 'img', 'backtest-report.png');

/**
 * What the browser laid out: texts outside their SVG (page coordinates, 0.5 px tolerance), the
 * over-time panels' end labels by row, the summary table's cells by row, the page's width.
 */
async function readLayout(page: Page): Promise<{ outside: string[]; checked: number; endLabels: Map<string, string>[]; table: Map<string, { name: string; micro: string; macro: string }>; scrollWidth: number }> {
  const svgs = await page.$$eval('svg', (els) => els.map((svg) => {
    const b = svg.getBoundingClientRect();
    const texts = [...svg.querySelectorAll('text')].map((t) => {
      const tb = t.getBoundingClientRect();
      return { text: t.textContent ?? '', box: [tb.left, tb.top, tb.right, tb.bottom] };
    });
    return { box: [b.left, b.top, b.right, b.bottom], lines: svg.querySelector('polyline') !== null, texts };
  }));
  const tableRows = await page.$$eval('table.summary tbody tr', (trs) => trs.map((tr) => ({
    name: tr.querySelector('td.name')?.textContent ?? '',
    micro: tr.querySelector('[data-metric="micro"]')?.textContent ?? '',
    macro: tr.querySelector('[data-metric="macro"]')?.textContent ?? '',
  })));
  const scrollWidth = await page.$eval('html', (e) => e.scrollWidth);
  const outside: string[] = [];
  let checked = 0;
  for (const svg of svgs) {
    const [l, t, r, b] = svg.box as [number, number, number, number];
    for (const text of svg.texts) {
      const [tl, tt, tr, tb] = text.box as [number, number, number, number];
      checked++;
      if (tr - tl <= 0 || tl < l - 0.5 || tr > r + 0.5 || tt < t - 0.5 || tb > b + 0.5) outside.push(`"${text.text}": [${tl - l}, ${tt - t}, ${tr - r}, ${tb - b}] from the SVG's edges`);
    }
  }
  // Each over-time panel's end labels ("52.3% none"), by row.
  const endLabels = svgs.filter((svg) => svg.lines).map((svg) => new Map(svg.texts.flatMap((t): [string, string][] => {
    const m = /^(\d+\.\d%) (.+)$/.exec(t.text);
    return m ? [[m[2]!, m[1]!]] : [];
  })));
  const table = new Map(tableRows.map((row) => [row.name, row]));
  return { outside, checked, endLabels, table, scrollWidth };
}

describe('backtest report', () => {
  it('on a real backtest: hits per category, cumulative series ending at the whole-run figures, a page that renders cleanly at 1200 px (screenshot)', async () => {
    const dir = tempDir('backtest-report');
    const json = join(dir, 'report.json');
    const html = join(dir, 'report.html');
    // 5,000 events, 50 series points: the stream ends exactly on a series point, after which the
    // remainder batch is still evaluated; the last point must count it.
    await cli('backtest', '--generate', '5000', '--strategies', 'none,weights_replay', '--seed', '3', '--workers', '2', '--json', json, '--chart', html);
    const report = JSON.parse(readFileSync(json, 'utf8')) as Json;
    const rows = [...(report.strategies as RowJson[]), ...(report.references as RowJson[])];
    assert.equal(rows.length, 5, 'two strategies and three reference rows');
    for (const r of rows) {
      assert.ok(r.evaluated > 1_000, `${r.name}: ${r.evaluated} evaluated`);
      // Hits per category: integers that add up to the row and give its HR.
      let hits = 0;
      let evaluated = 0;
      for (const [c, v] of Object.entries(r.per_category)) {
        assert.ok(Number.isInteger(v.hits) && v.hits >= 0 && v.hits <= v.evaluated, `${r.name} ${c}: ${v.hits} of ${v.evaluated}`);
        if (v.evaluated > 0) assert.ok(Math.abs(v.hr10 - v.hits / v.evaluated) < 1e-6);
        hits += v.hits;
        evaluated += v.evaluated;
      }
      assert.equal(hits, r.hits, `${r.name}: category hits sum to the row's`);
      assert.equal(evaluated, r.evaluated);
      assert.ok(Math.abs(r.micro_hr10 - r.hits / r.evaluated) < 1e-6);
      // The series ends at the stream's end with every evaluation counted: its cumulative figures are the whole-run ones.
      const last = r.series[r.series.length - 1]!;
      assert.equal(last.events, report.events);
      assert.equal(last.evaluated, r.evaluated, `${r.name}: the last point counts every evaluation`);
      assert.ok(Math.abs(last.cumulative_micro_hr10 - r.micro_hr10) <= 1.5e-6, `${r.name}: cumulative micro ${last.cumulative_micro_hr10} vs ${r.micro_hr10}`);
      assert.ok(Math.abs(last.cumulative_macro_hr10 - r.macro_hr10) <= 1.5e-6, `${r.name}: cumulative macro ${last.cumulative_macro_hr10} vs ${r.macro_hr10}`);
      for (let i = 1; i < r.series.length; i++) assert.ok(r.series[i]!.evaluated >= r.series[i - 1]!.evaluated, 'cumulative counts never fall');
    }

    const stress = join(dir, 'stress.html');
    writeFileSync(stress, renderChart(synthetic(LARGE), 'Backtest: synthetic stress case'));
    mkdirSync(join(REPO_ROOT, 'docs', 'img'), { recursive: true });
    await withPage(async ({ page, errors }) => {
      // First a stress page: 15 rows with long names, 300 long-named categories, 2.5M events (the estimated text widths hold in the real font).
      await page.goto(pathToFileURL(stress).href);
      const stressed = await readLayout(page);
      assert.deepEqual(stressed.outside, [], 'stress page: every text inside its SVG');
      assert.ok(stressed.checked > 200 && stressed.scrollWidth <= 1200, `stress page: ${stressed.checked} texts, ${stressed.scrollWidth} px wide`);
      await page.goto(pathToFileURL(html).href);
      const layout = await readLayout(page);
      assert.deepEqual(errors, [], 'no console or page errors');
      assert.deepEqual(layout.outside, [], 'every text inside its SVG');
      assert.ok(layout.checked > 100, `${layout.checked} texts checked`);
      assert.ok(layout.scrollWidth <= 1200, `no horizontal scrolling at 1200 px (${layout.scrollWidth})`);
      assert.equal(layout.endLabels.length, 2, 'micro and macro over time');
      const names = [...layout.table.keys()];
      assert.deepEqual(names, ['none', 'weights_replay', 'popularity (ref)', 'popularity_decayed (ref)', 'mf (ref)']);
      for (const name of names) {
        assert.equal(layout.endLabels[0]!.get(name), layout.table.get(name)!.micro, `${name}: the micro line ends at the table's value`);
        assert.equal(layout.endLabels[1]!.get(name), layout.table.get(name)!.macro, `${name}: the macro line ends at the table's value`);
      }
      const row = (n: string): RowJson => rows.find((r) => r.name === n.replace(' (ref)', ''))!;
      for (const name of names) assert.equal(layout.table.get(name)!.micro, `${(100 * row(name).micro_hr10).toFixed(1)}%`, `${name}: table = JSON`);
      // The README's copy is rewritten only on request (UPDATE_SCREENSHOTS=1), so a test run
      // never changes tracked files; the screenshot itself is taken and checked every time.
      const png = await page.screenshot({ fullPage: true, ...(process.env.UPDATE_SCREENSHOTS === '1' ? { path: SCREENSHOT } : {}) });
      assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
      assert.equal(png.readUInt32BE(16), 1200, 'screenshot 1200 px wide');
    }, { width: 1200, height: 900 });
  });
});
