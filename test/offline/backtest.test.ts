import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Rng } from '../../src/balance/index.js';
import { REFERENCE_SCORER_NAMES } from '../../src/baselines/index.js';
import { loadRunConfig } from '../../src/config/file.js';
import { SETTINGS, type SettingKey } from '../../src/config/index.js';
import { RebalancerError } from '../../src/errors.js';
import { CandidatePool } from '../../src/offline/backtest-feed.js';
import { withoutTiming, type JsonValue } from '../../src/offline/report/backtest-report.js';
import { tailCategories } from '../../src/balance/index.js';
import { harnessLabelWeights, runBacktest, type BacktestResult, type EventStream } from '../../src/offline/backtest.js';
import { createGenerator } from '../../src/offline/generate.js';
import { STRATEGIES, parseStrategies, readStrategyFile, resolveStrategy, type Strategy } from '../../src/offline/strategies.js';
import { cli, tempDir } from './helpers.js';

type Report = { [key: string]: JsonValue };
type RowJson = Record<string, number | string | Record<string, unknown>>;

function readReport(path: string): Report {
  return JSON.parse(readFileSync(path, 'utf8')) as Report;
}

function row(report: Report, list: 'strategies' | 'references', name: string): RowJson {
  const s = (report[list] as RowJson[]).find((x) => x.name === name);
  assert.ok(s, `${name} in the report's ${list}`);
  return s;
}

/** A generated stream of the stable `simple` profile, produced lazily like the CLI's. */
function generated(events: number, seed = 3): EventStream {
  return {
    total: events,
    *events() {
      const g = createGenerator({ profile: 'simple', seed, events, skew: 100 });
      for (let i = 0; i < events; i++) yield g.next();
    },
  };
}

/** Everything a strategy row measured (not its name, description, settings or timing). */
const MEASURED = ['microHr', 'macroHr', 'microNdcg', 'macroNdcg', 'auc', 'evaluated', 'tailShareRecs', 'perCategory', 'series', 'trainedSamples'] as const;

function strategyFigures(result: BacktestResult, name: string): Record<string, unknown> {
  const s = result.strategies.find((x) => x.name === name);
  assert.ok(s, `strategy ${name}`);
  return Object.fromEntries(MEASURED.map((key) => [key, s[key]]));
}

describe('backtest strategies are run settings', () => {
  it('--strategies service resolves to exactly the run defaults (both read from the SETTINGS table)', () => {
    const fromTable: Record<string, unknown> = {};
    for (const key of Object.keys(SETTINGS) as SettingKey[]) fromTable[key] = SETTINGS[key].schema.parse(SETTINGS[key].default);
    const [service] = parseStrategies('service');
    assert.deepEqual(service!.settings, {});
    assert.deepEqual(resolveStrategy(service!), fromTable);
    assert.deepEqual(loadRunConfig({ flags: {}, env: {} }).config, fromTable, 'rebalancer run without flags');
    // The backtest's own --seed / --batch-size are the strategies' defaults; a strategy's own setting wins.
    assert.equal(resolveStrategy(service!, { seed: '9', batchSize: '64' }).batchSize, 64);
    assert.equal(resolveStrategy({ ...service!, settings: { batchSize: '32' } }, { batchSize: '64' }).batchSize, 32);
  });

  it('built-ins are named settings objects with the names and values of run; all includes service', () => {
    assert.deepEqual(parseStrategies('all').map((s) => s.name), STRATEGIES.map((s) => s.name));
    assert.ok(parseStrategies('all').some((s) => s.name === 'service'));
    for (const policy of ['inverse_frequency', 'sqrt_inverse', 'effective_number'] as const) {
      const s = resolveStrategy(parseStrategies(policy)[0]!);
      assert.equal(s.weightPolicy, policy, 'the strategy is named after the run value');
      assert.equal(s.targetMixRho, 1);
    }
    const none = resolveStrategy(parseStrategies('none')[0]!);
    assert.equal(none.weightPolicy, 'none');
    assert.equal(none.targetMixRho, 1, 'ρ = 1: no resampling');
    assert.equal(resolveStrategy(parseStrategies('focal')[0]!).loss, 'focal');
    assert.equal(resolveStrategy(parseStrategies('logit_adjust')[0]!).logitAdjustTau, 1);
    const wr = resolveStrategy(parseStrategies('weights_replay')[0]!);
    assert.deepEqual([wr.weightPolicy, wr.targetMixRho, wr.weightMin, wr.weightMax], ['sqrt_inverse', 0.9, 0.9, 1.1]);
    // Old names still parse, to the new ones.
    assert.deepEqual(parseStrategies('inverse,weights+replay,none,inverse_frequency').map((s) => s.name), ['inverse_frequency', 'weights_replay', 'none']);
    assert.throws(() => parseStrategies('none,bogus'), /unknown strategy "bogus"/);
  });

  it('a bad strategy file names the file, the strategy and the setting; so does a bad value, before any thread starts', async () => {
    const dir = tempDir('backtest-bad');
    const file = join(dir, 'mine.yaml');
    writeFileSync(file, 'ok: {weight-policy: none}\nwrong: {weight-policy: sqrt, batch-size: 0}\n');
    const strategies = readStrategyFile(file);
    await assert.rejects(runBacktest(generated(100), strategies), (err: RebalancerError) => {
      assert.equal(err.code, 'REB_CONFIG_INVALID');
      assert.match(err.message, new RegExp(`--weight-policy / REBALANCER_WEIGHT_POLICY: got "sqrt" \\(from strategy "wrong" in ${file.replace(/[.\\/]/g, '\\$&')}\\)`));
      assert.match(err.message, /--batch-size \/ REBALANCER_BATCH_SIZE: got "0" \(from strategy "wrong"/);
      return true;
    });
    writeFileSync(file, 'ok: {weight-policy: none, mix: 1}\n');
    assert.throws(() => readStrategyFile(file), (err: RebalancerError) => err.code === 'REB_CONFIG_INVALID' && err.message.startsWith(`${file}: strategy "ok": unknown setting "mix"`));
    await assert.rejects(cli('backtest', '--generate', '100', '--strategy-file', file), /exited 2/);
  });
});

describe('backtest harness', () => {
  it('a strategy file (YAML map or JSON object) backtests the same numbers as the equivalent built-in strategy', async () => {
    const dir = tempDir('backtest-file');
    const yaml = join(dir, 'mine.yaml');
    writeFileSync(yaml, 'mild:\n  weight-policy: sqrt_inverse\n  targetMixRho: 0.9\n  weight-min: 0.9\n  weightMax: 1.1\n');
    const json = join(dir, 'replay-again.json');
    writeFileSync(json, JSON.stringify({ 'weight-policy': 'none', 'target-mix-rho': 0.3 }));
    // With 2 workers (round-robin), each file strategy runs in the other worker than its built-in twin:
    // equal numbers also show that both workers see the same events and candidates.
    const strategies = [...parseStrategies('weights_replay,replay'), ...readStrategyFile(json), ...readStrategyFile(yaml)];
    assert.deepEqual(strategies.map((s) => s.name), ['weights_replay', 'replay', 'replay-again', 'mild']);
    const result = await runBacktest(generated(6_000), strategies, { workers: 2 });
    assert.ok(result.strategies[0]!.evaluated > 1_000);
    assert.deepEqual(strategyFigures(result, 'mild'), strategyFigures(result, 'weights_replay'));
    assert.deepEqual(strategyFigures(result, 'replay-again'), strategyFigures(result, 'replay'));
    assert.notDeepEqual(strategyFigures(result, 'replay'), strategyFigures(result, 'weights_replay'), 'different settings, different numbers');
  });

  it('trains as the service batches: label-weighted events only, --batch-size fresh events per step, a final partial batch padded by replay', async () => {
    const n = 5_000;
    let positives = 0;
    const labels = harnessLabelWeights();
    for (const e of generated(n).events() as Iterable<{ type: keyof typeof labels }>) if (labels[e.type] > 0) positives++;
    assert.ok(positives > 1_000 && positives < n, `${positives} positives (views are not training events)`);
    const own = (name: string, settings: Partial<Record<SettingKey, string>>): Strategy => ({ name, description: name, settings, origin: 'built-in' });
    const result = await runBacktest(generated(n), [own('b100', { weightPolicy: 'none', targetMixRho: '1', batchSize: '100' }), own('b256', { weightPolicy: 'none', targetMixRho: '1' }), own('off', { train: 'false' })], { workers: 1 });
    const negatives = 1 + Number(SETTINGS.negatives.default);
    const trained = (name: string): number => result.strategies.find((s) => s.name === name)!.trainedSamples;
    assert.equal(trained('b100'), negatives * 100 * Math.ceil(positives / 100));
    assert.equal(trained('b256'), negatives * 256 * Math.ceil(positives / 256));
    assert.equal(trained('off'), 0, '--train false: the model is evaluated, never trained');
  });

  it('gives identical JSON (minus timing) with --workers 1 and 2 and across runs; reference rows rank the same positives on the same candidates', async () => {
    const dir = tempDir('backtest-det');
    const file = join(dir, 'events.bin');
    await cli('generate', '--out', file, '--events', '5000', '--seed', '5');
    const run = async (name: string, workers: string): Promise<Report> => {
      await cli('backtest', '--file', file, '--strategies', 'none,weights+replay,focal,logit_adjust', '--k', '5', '--seed', '9', '--workers', workers, '--json', join(dir, `${name}.json`), '--chart', join(dir, `${name}.html`));
      return readReport(join(dir, `${name}.json`));
    };
    const a = await run('a', '1');
    const b = await run('b', '2');
    const c = await run('c', '2');
    assert.deepEqual(withoutTiming(a), withoutTiming(b), 'workers 1 vs 2');
    assert.deepEqual(withoutTiming(b), withoutTiming(c), 'two runs with one seed');
    assert.deepEqual((a.timing as Record<string, number>).workers, 1);
    assert.deepEqual((b.timing as Record<string, number>).workers, 2);
    assert.deepEqual((a.strategies as RowJson[]).map((s) => s.name), ['none', 'weights_replay', 'focal', 'logit_adjust']);
    const none = row(a, 'strategies', 'none');
    for (const key of ['micro_hr5', 'macro_hr5', 'micro_ndcg5', 'macro_ndcg5', 'auc', 'tail_share_recs', 'tail_share_interactions', 'samples_per_s', 'per_category', 'settings', 'vs_best_reference']) {
      assert.ok(key in none, `key ${key}`);
    }
    assert.ok(!('micro_hr10' in none));
    assert.deepEqual(none.settings, { 'weight-policy': 'none', 'target-mix-rho': '1', 'max-micro-loss': '0' });
    const evaluated = none.evaluated as number;
    assert.ok(evaluated > 1000, 'positives were evaluated');
    // Reference rows: all three, on exactly the positives every strategy ranked (per category too).
    assert.deepEqual((a.references as RowJson[]).map((r) => r.name), [...REFERENCE_SCORER_NAMES]);
    const perCategoryEvaluated = (r: RowJson): Record<string, unknown> => Object.fromEntries(Object.entries(r.per_category as Record<string, Record<string, number>>).map(([c, v]) => [c, v.evaluated]));
    for (const r of [...(a.strategies as RowJson[]), ...(a.references as RowJson[])]) {
      assert.equal(r.evaluated, evaluated, `${r.name as string} evaluated`);
      assert.deepEqual(perCategoryEvaluated(r), perCategoryEvaluated(none), `${r.name as string} per category`);
    }
    // The ratio to the best reference row is the quotient of the two HR figures.
    const bestMicro = row(a, 'references', (a.best_reference as Record<string, string>).micro_hr5!);
    assert.ok(Math.abs((none.vs_best_reference as Record<string, number>).micro_hr5! - (none.micro_hr5 as number) / (bestMicro.micro_hr5 as number)) < 1e-5);
    // Strategies differ (the comparison is not trivially the same run four times).
    assert.notEqual(none.macro_hr5, row(a, 'strategies', 'weights_replay').macro_hr5);
    const html = readFileSync(join(dir, 'a.html'), 'utf8');
    assert.equal((html.match(/<polyline/g) ?? []).length, 2 * (4 + 3), 'micro and macro line per strategy and reference row');
    assert.equal((html.match(/<polyline[^>]*stroke-dasharray/g) ?? []).length, 2 * 3, 'reference rows dashed');
    assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'self-contained');
  });

  it('weights + replay beats none on macro HR@10 on 20,000 skewed generated events, micro within 3 points', async () => {
    const dir = tempDir('backtest-gain');
    const json = join(dir, 'r.json');
    await cli('backtest', '--generate', '20000', '--profile', 'simple', '--skew', '100', '--seed', '42', '--strategies', 'none,weights_replay', '--json', json);
    const r = readReport(json);
    const none = row(r, 'strategies', 'none');
    const wr = row(r, 'strategies', 'weights_replay');
    const macroGain = (wr.macro_hr10 as number) - (none.macro_hr10 as number);
    const microLoss = (none.micro_hr10 as number) - (wr.micro_hr10 as number);
    assert.ok(macroGain > MACRO_MARGIN, `macro HR@10 gain ${macroGain.toFixed(4)} (none ${none.macro_hr10}, weights_replay ${wr.macro_hr10})`);
    assert.ok(microLoss < 0.03, `micro HR@10 loss ${microLoss.toFixed(4)} (none ${none.micro_hr10}, weights_replay ${wr.micro_hr10})`);
  });

  it('draws evaluation candidates uniformly without replacement, never the positive itself', () => {
    const pool = new CandidatePool();
    const size = 12;
    for (let i = 0; i < size; i++) pool.add(`item-${i}`, 'c', 0);
    const rng = new Rng(17);
    const out = new Int32Array(5);
    const counts = new Array<number>(size).fill(0);
    const draws = 20_000;
    for (let d = 0; d < draws; d++) {
      pool.draw(5, 3, rng, out, 0);
      assert.equal(new Set(out).size, 5, 'distinct');
      assert.ok(!out.includes(3), 'the positive is excluded');
      for (const i of out) counts[i]!++;
    }
    assert.equal(counts[3], 0);
    // Each of the 11 others is expected in 5/11 of the draws; χ² with 10 degrees of freedom, p = 0.001 → 29.59.
    const expected = (draws * 5) / (size - 1);
    const chi2 = counts.reduce((s, c, i) => (i === 3 ? s : s + (c - expected) ** 2 / expected), 0);
    assert.ok(chi2 < 29.59, `χ² ${chi2.toFixed(2)}`);
  });

  it('defines the tail by cumulative share', () => {
    const counts = new Map([['a', 70], ['b', 15], ['c', 10], ['d', 5]]);
    assert.deepEqual([...tailCategories(counts, 0.2)].sort(), ['c', 'd']);
    assert.deepEqual([...tailCategories(counts, 0.1)].sort(), ['d']);
  });
});

/**
 * Observed at seed 42 (simple profile): macro 28.11% → 31.31% (+3.2 points), micro 48.18% → 47.49% (−0.7).
 * The margin keeps ~1.7 points of slack.
 */
const MACRO_MARGIN = 0.015;
