/**
 * Balancing helps the tail, measured as a user would: the real backtest harness (the
 * service's BalanceAdapter, composer, weights and trainer) on the realistic generator
 * profile, the service's default settings (`service`) against no balancing (`none`), with
 * the reference rows on the same events and candidates.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runBacktest, type BacktestResult, type EventStream } from '../../src/offline/backtest.js';
import { createGenerator } from '../../src/offline/generate.js';
import { parseStrategies } from '../../src/offline/strategies.js';

const EVENTS = 40_000;

function stream(seed: number, skew: number): EventStream {
  return {
    total: EVENTS,
    *events() {
      const g = createGenerator({ profile: 'realistic', seed, events: EVENTS, skew });
      for (let i = 0; i < EVENTS; i++) yield g.next();
    },
  };
}

function row(result: BacktestResult, name: string): { micro: number; macro: number } {
  const r = [...result.strategies, ...result.references].find((x) => x.name === name);
  assert.ok(r, name);
  return { micro: r.microHr, macro: r.macroHr };
}

describe('the service default on a realistic skewed stream', () => {
  it('raises macro HR@10 over no balancing, keeps micro, and the model beats every reference row', async () => {
    const result = await runBacktest(stream(5, 1000), parseStrategies('none,service'), { seed: 5, workers: 2 });
    const none = row(result, 'none');
    const service = row(result, 'service');
    const msg = JSON.stringify({ none, service, refs: result.references.map((r) => [r.name, r.microHr, r.macroHr]) });
    // Measured at this size (seeds 5, 6, 7): macro +9% to +11% relative, micro −0.7% to −1.0%.
    // The full-size target (+15% macro, ≥ −2% micro at 100k events, 3 seeds × 2 skews) is
    // measured by scripts/backtest-tables.sh for the README; here a balancing that does
    // nothing (+0%) or costs the head too much fails.
    assert.ok(service.macro >= none.macro * 1.05, msg);
    assert.ok(service.micro >= none.micro * 0.97, msg);
    for (const ref of result.references) {
      assert.ok(none.micro > ref.microHr && service.micro > ref.microHr, `micro vs ${ref.name}: ${msg}`);
      assert.ok(none.macro > ref.macroHr && service.macro > ref.macroHr, `macro vs ${ref.name}: ${msg}`);
    }
  });
});
