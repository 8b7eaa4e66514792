/**
 * The backtest's measure of warm start (issue #16): with --pretrain-events P, the built-in
 * `warm_start` is exactly "train `none` on the first P events, save the model, then run
 * `none` with --init-from that model on the events after them" (two backtests by hand:
 * --save-models, then a strategy with init-from), every row is measured on the events after P,
 * and the report shows the cold-start window. Without --pretrain-events it starts cold.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isRebalancerError } from '../../src/errors.js';
import { formatTables, toJson } from '../../src/offline/report/backtest-report.js';
import { PRETRAINED, runBacktest, type BacktestResult, type EventStream } from '../../src/offline/backtest.js';
import { createGenerator } from '../../src/offline/generate.js';
import { parseStrategies, type Strategy } from '../../src/offline/strategies.js';
import { tempDir } from './helpers.js';

/** Events [from, to) of one generated stream (the simple profile, as the backtest tests use). */
function slice(from: number, to: number, seed = 3): EventStream {
  return {
    total: to - from,
    *events() {
      const g = createGenerator({ profile: 'simple', seed, events: 8_000, skew: 100 });
      for (let i = 0; i < to; i++) {
        const e = g.next();
        if (i >= from) yield e;
      }
    },
  };
}

/** Small tables keep the saved models small; every strategy runs them (harness settings). */
const OPTIONS = { workers: 1, seed: 9, coldStartEvents: 1_000, harnessSettings: { modelUserRows: '4096', modelItemRows: '4096' } };

const MEASURED = ['microHr', 'macroHr', 'microNdcg', 'auc', 'evaluated', 'perCategory', 'series', 'trainedSamples', 'coldStart'] as const;

function figures(result: BacktestResult, name: string): Record<string, unknown> {
  const s = result.strategies.find((x) => x.name === name) ?? result.references.find((x) => x.name === name);
  assert.ok(s, `row ${name}`);
  return Object.fromEntries(MEASURED.filter((k) => k in s).map((k) => [k, (s as unknown as Record<string, unknown>)[k]]));
}

describe('backtest --pretrain-events (warm start)', () => {
  const [none, warmStart] = parseStrategies('none,warm_start') as [Strategy, Strategy];

  it('warm_start is `none` started (--init-from) from the model none trained on the first P events; every row is measured after them', async () => {
    assert.equal(warmStart.settings.initFrom, PRETRAINED);
    const P = 3_000;
    const N = 6_000;
    const auto = await runBacktest(slice(0, N), [none, warmStart], { ...OPTIONS, pretrainEvents: P });
    assert.equal(auto.events, N - P);
    assert.equal(auto.pretrainEvents, P);

    // By hand: a backtest of the first P events saving its model, then one of the rest starting from it.
    const dir = tempDir('warm-start-models');
    const pre: Strategy = { ...warmStart, settings: { ...warmStart.settings, initFrom: '' } };
    await runBacktest(slice(0, P), [pre], { ...OPTIONS, saveModelsDir: dir });
    assert.ok(existsSync(join(dir, 'warm_start', 'CURRENT')), 'the saved model directory');
    const fromDir: Strategy = { ...warmStart, settings: { ...warmStart.settings, initFrom: join(dir, 'warm_start') } };
    const byHand = await runBacktest(slice(P, N), [none, fromDir], OPTIONS);

    assert.deepEqual(figures(auto, 'warm_start'), figures(byHand, 'warm_start'));
    assert.deepEqual(figures(auto, 'none'), figures(byHand, 'none'), 'none is measured on the same events after P');
    for (const ref of auto.references) assert.deepEqual(figures(auto, ref.name), figures(byHand, ref.name), `reference ${ref.name}`);
    // The pre-trained model matters (else the equalities above say nothing about it).
    assert.notDeepEqual(figures(auto, 'warm_start'), figures(auto, 'none'));
    // The report keeps the placeholder as the strategy's setting, and shows the cold-start window.
    assert.equal(auto.strategies[1]!.settings.initFrom, PRETRAINED);
    const cold = auto.strategies[0]!.coldStart!;
    assert.ok(cold.events >= 1_000 && cold.events < N - P && cold.evaluated > 0, JSON.stringify(cold));
    const series = auto.strategies[0]!.series.find((p) => p.events === cold.events)!;
    assert.equal(cold.microHr, series.cumulativeMicro);
    assert.match(formatTables(auto), /Cold start \(%\): every row measured on the 3000 events after the 3000 that pre-trained/);
    const json = toJson(auto, 'test');
    assert.equal(json.pretrain_events, P);
    assert.ok('cold_start' in (json.strategies as Record<string, unknown>[])[1]!);
    rmSync(dir, { recursive: true, force: true });
  });

  it('without --pretrain-events, warm_start starts cold: exactly none', async () => {
    const result = await runBacktest(slice(0, 3_000), [none, warmStart], OPTIONS);
    assert.equal(result.pretrainEvents, 0);
    assert.deepEqual(figures(result, 'warm_start'), figures(result, 'none'));
    assert.doesNotMatch(formatTables(result), /Cold start/);
  });

  it('rejects --pretrain-events that leaves no event to measure', async () => {
    await assert.rejects(runBacktest(slice(0, 500), [none, warmStart], { ...OPTIONS, pretrainEvents: 500 }), (e: unknown) => isRebalancerError(e, 'REB_INPUT_INVALID') && /leaves no events to backtest|no valid events/.test(e.message));
    await assert.rejects(runBacktest(slice(0, 500), [none, warmStart], { ...OPTIONS, pretrainEvents: 800 }), (e: unknown) => isRebalancerError(e, 'REB_INPUT_INVALID') && /--pretrain-events 800 leaves no events to backtest: the source has 500/.test(e.message));
  });
});
