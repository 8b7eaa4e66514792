import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { withoutTiming, type JsonValue } from '../../src/tools/backtest-report.js';
import { tailCategories } from '../../src/tools/backtest.js';
import { parseStrategies } from '../../src/tools/strategies.js';
import { cli, tempDir } from './tools-helpers.js';

type Report = { [key: string]: JsonValue };
type StrategyJson = Record<string, number | string | Record<string, unknown>>;

function readReport(path: string): Report {
  return JSON.parse(readFileSync(path, 'utf8')) as Report;
}

function strategy(report: Report, name: string): StrategyJson {
  const s = (report.strategies as StrategyJson[]).find((x) => x.name === name);
  assert.ok(s, `strategy ${name} in the report`);
  return s;
}

describe('backtest', () => {
  it('gives identical JSON (minus timing fields) for two runs with one seed, with K in the key names', async () => {
    const dir = tempDir('backtest-det');
    const file = join(dir, 'events.bin');
    await cli('generate', '--out', file, '--events', '6000', '--seed', '5');
    const run = async (name: string): Promise<Report> => {
      await cli('backtest', '--file', file, '--strategies', 'none,weights+replay,focal,logit_adjust', '--k', '5', '--seed', '9', '--json', join(dir, `${name}.json`), '--chart', join(dir, `${name}.html`));
      return readReport(join(dir, `${name}.json`));
    };
    const a = await run('a');
    const b = await run('b');
    assert.deepEqual(withoutTiming(a), withoutTiming(b));
    assert.deepEqual((a.strategies as StrategyJson[]).map((s) => s.name), ['none', 'weights_replay', 'focal', 'logit_adjust']);
    const none = strategy(a, 'none');
    for (const key of ['micro_hr5', 'macro_hr5', 'micro_ndcg5', 'macro_ndcg5', 'auc', 'tail_share_recs', 'tail_share_interactions', 'samples_per_s', 'per_category']) {
      assert.ok(key in none, `key ${key}`);
    }
    assert.ok(!('micro_hr10' in none));
    assert.ok((none.evaluated as number) > 1000, 'positives were evaluated');
    assert.ok((none.samples_per_s as number) > 0);
    const perCat = none.per_category as Record<string, Record<string, number>>;
    assert.ok(Object.keys(perCat).length === 20 && 'hr5' in perCat['cat-000']!);
    // Strategies differ (the comparison is not trivially the same run four times).
    assert.notEqual(none.macro_hr5, strategy(a, 'weights_replay').macro_hr5);
    const html = readFileSync(join(dir, 'a.html'), 'utf8');
    assert.match(html, /<svg[\s\S]*<polyline[\s\S]*<\/svg>/);
    assert.equal((html.match(/<polyline/g) ?? []).length, 8, 'micro and macro line per strategy');
    assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'self-contained');
  });

  it('weights + replay beats none on macro HR@10 on 20,000 skewed generated events, micro within 3 points', async () => {
    const dir = tempDir('backtest-gain');
    const json = join(dir, 'r.json');
    await cli('backtest', '--generate', '20000', '--skew', '100', '--seed', '42', '--strategies', 'none,weights_replay', '--json', json);
    const r = readReport(json);
    const none = strategy(r, 'none');
    const wr = strategy(r, 'weights_replay');
    const macroGain = (wr.macro_hr10 as number) - (none.macro_hr10 as number);
    const microLoss = (none.micro_hr10 as number) - (wr.micro_hr10 as number);
    assert.ok(macroGain > MACRO_MARGIN, `macro HR@10 gain ${macroGain.toFixed(4)} (none ${none.macro_hr10}, weights_replay ${wr.macro_hr10})`);
    assert.ok(microLoss < 0.03, `micro HR@10 loss ${microLoss.toFixed(4)} (none ${none.micro_hr10}, weights_replay ${wr.micro_hr10})`);
  });

  it('parses strategy lists and defines the tail by cumulative share', () => {
    assert.deepEqual(parseStrategies('none,weights+replay,none').map((s) => s.name), ['none', 'weights_replay']);
    assert.equal(parseStrategies('all').length, 8);
    assert.throws(() => parseStrategies('none,bogus'), /unknown strategy "bogus"/);
    const counts = new Map([['a', 70], ['b', 15], ['c', 10], ['d', 5]]);
    assert.deepEqual([...tailCategories(counts, 0.2)].sort(), ['c', 'd']);
    assert.deepEqual([...tailCategories(counts, 0.1)].sort(), ['d']);
  });
});

/**
 * Observed at seed 42: macro 14.78% → 17.53% (+2.75 points), micro 42.26% → 42.01% (−0.25).
 * The margin keeps ~1.2 points of slack (the 200,000-event run gains ~8 points).
 */
const MACRO_MARGIN = 0.015;
