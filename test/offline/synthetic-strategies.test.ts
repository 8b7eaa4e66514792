/**
 * The synthetic-sample strategies (issue #16): `latent_smote` and `generative_oversampling`
 * are `replay` with --synthetic set and half of the replay slots synthetic, are part of
 * `--strategies all`, and backtest deterministically for a seed, to other numbers than
 * `replay` (the synthetic samples are trained).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runBacktest, type BacktestResult, type EventStream } from '../../src/offline/backtest.js';
import { createGenerator } from '../../src/offline/generate.js';
import { parseStrategies, resolveStrategy } from '../../src/offline/strategies.js';

function generated(events: number, seed = 3): EventStream {
  return {
    total: events,
    *events() {
      const g = createGenerator({ profile: 'realistic', seed, events });
      for (let i = 0; i < events; i++) yield g.next();
    },
  };
}

const MEASURED = ['microHr', 'macroHr', 'microNdcg', 'auc', 'evaluated', 'tailShareRecs', 'perCategory', 'series', 'trainedSamples'] as const;

function figures(result: BacktestResult, name: string): Record<string, unknown> {
  const s = result.strategies.find((x) => x.name === name);
  assert.ok(s, `strategy ${name}`);
  return Object.fromEntries(MEASURED.map((k) => [k, s[k]]));
}

describe('synthetic-sample strategies', () => {
  it('are `replay` with --synthetic latent_smote / gaussian and --synthetic-fraction 0.5, and are in --strategies all', () => {
    const all = parseStrategies('all').map((s) => s.name);
    assert.ok(all.includes('latent_smote') && all.includes('generative_oversampling'), all.join(','));
    const [replay, smote, gaussian] = parseStrategies('replay,latent_smote,generative_oversampling').map((s) => resolveStrategy(s));
    assert.deepEqual(smote, { ...replay, synthetic: 'latent_smote', syntheticFraction: 0.5 });
    assert.deepEqual(gaussian, { ...replay, synthetic: 'gaussian', syntheticFraction: 0.5 });
    assert.equal(replay!.synthetic, 'off');
  });

  it('backtest deterministically for a seed, to other numbers than replay', async () => {
    const strategies = parseStrategies('replay,latent_smote,generative_oversampling');
    const options = { workers: 1, seed: 4, harnessSettings: { modelUserRows: '4096', modelItemRows: '4096' } };
    const a = await runBacktest(generated(5_000), strategies, options);
    const b = await runBacktest(generated(5_000), strategies, options);
    for (const name of ['latent_smote', 'generative_oversampling']) {
      assert.deepEqual(figures(a, name), figures(b, name), `${name}: same seed, same numbers`);
      assert.notDeepEqual(figures(a, name), figures(a, 'replay'), `${name} trains another model than replay`);
      assert.ok(a.strategies.find((s) => s.name === name)!.evaluated > 1_000);
    }
  });
});
