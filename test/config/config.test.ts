import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SETTINGS, defaultConfig, flagToOptionKey, loadConfig } from '../../src/config/index.js';
import { RebalancerError } from '../../src/errors.js';
import { BalanceState, Rng } from '../../src/balance/index.js';
import { balanceConfigOf } from '../../src/service/balance-adapter.js';

function configError(fn: () => unknown): RebalancerError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RebalancerError, `expected a RebalancerError, got ${String(err)}`);
    assert.equal(err.code, 'REB_CONFIG_INVALID');
    return err;
  }
  assert.fail('expected loadConfig to throw');
}

describe('config', () => {
  it('defaults are valid and typed', () => {
    const c = defaultConfig();
    assert.deepEqual(c.brokers, ['127.0.0.1:9092']);
    assert.equal(c.batchSize, 256);
    assert.equal(c.train, true);
    assert.deepEqual(c.recTriggerTypes, ['purchase', 'click']);
    assert.equal(c.weightPolicy, 'effective_number');
  });

  it('flags win over env, env over defaults', () => {
    const c = loadConfig({ flags: { batchSize: '64' }, env: { REBALANCER_BATCH_SIZE: '32', REBALANCER_TOPIC: 'events-x', REBALANCER_TRAIN: 'false' } });
    assert.equal(c.batchSize, 64);
    assert.equal(c.topic, 'events-x');
    assert.equal(c.train, false);
  });

  it('names the flag, the env var and the expected form of a bad value', () => {
    const err = configError(() => loadConfig({ env: { REBALANCER_BATCH_SIZE: 'lots' } }));
    assert.match(err.message, /--batch-size \/ REBALANCER_BATCH_SIZE: got "lots" \(from env\), expected an integer in \[1, 65536\]/);
  });

  it('reports every bad setting once, one line each', () => {
    const err = configError(() => loadConfig({ flags: { httpPort: '70000', weightPolicy: 'magic', brokers: 'no-port' } }));
    const lines = err.message.split('\n').slice(1);
    assert.equal(lines.length, 3);
    assert.ok(lines.some((l) => l.includes('--http-port / REBALANCER_HTTP_PORT') && l.includes('[0, 65535]')));
    assert.ok(lines.some((l) => l.includes('--weight-policy') && l.includes('none, inverse_frequency, sqrt_inverse, effective_number')));
    assert.ok(lines.some((l) => l.includes('--brokers') && l.includes('host:port')));
    const problems = err.details.problems as Array<{ setting: string }>;
    assert.deepEqual(problems.map((p) => p.setting).sort(), ['brokers', 'httpPort', 'weightPolicy']);
  });

  it('rejects negative, fractional and empty numbers', () => {
    for (const bad of ['-1', '1.5', '', ' ', '1e3']) {
      const err = configError(() => loadConfig({ flags: { batchSize: bad } }));
      assert.match(err.message, /--batch-size/);
    }
  });

  it('rejects unknown event types in the trigger list and bad booleans', () => {
    const err = configError(() => loadConfig({ flags: { recTriggerTypes: 'purchase,like', train: 'maybe' } }));
    assert.match(err.message, /--rec-trigger-types/);
    assert.match(err.message, /--train \/ REBALANCER_TRAIN: got "maybe"/);
  });

  it('replays the trainable event types by default; --replay-event-types takes a non-empty list of distinct types', () => {
    assert.deepEqual(defaultConfig().replayEventTypes, ['click', 'add_to_cart', 'purchase']);
    assert.deepEqual(loadConfig({ env: { REBALANCER_REPLAY_EVENT_TYPES: ' purchase , click ' } }).replayEventTypes, ['purchase', 'click']);
    assert.deepEqual(loadConfig({ flags: { replayEventTypes: 'view,click,add_to_cart,purchase' } }).replayEventTypes, ['view', 'click', 'add_to_cart', 'purchase']);
    for (const bad of ['', ' , ', 'click,like', 'click,click', 'Purchase']) {
      const err = configError(() => loadConfig({ flags: { replayEventTypes: bad } }));
      assert.match(err.message, new RegExp(`--replay-event-types / REBALANCER_REPLAY_EVENT_TYPES: got ${JSON.stringify(JSON.stringify(bad)).slice(1, -1)} \\(from flag\\), expected a non-empty comma-separated list of distinct event types from view, click, add_to_cart, purchase$`, 'm'));
    }
    // The service hands the setting to the balance core, which accepts it.
    const balance = balanceConfigOf(loadConfig({ flags: { replayEventTypes: 'purchase,click' } }));
    assert.deepEqual(balance.replayEventTypes, ['purchase', 'click']);
    assert.deepEqual(new BalanceState(balance, new Rng(1)).config.replayEventTypes, ['click', 'purchase']);
  });

  it('keeps weight bounds around 1 so the normalised weights stay reachable', () => {
    const err = configError(() => loadConfig({ flags: { weightMin: '2', weightMax: '0.5' } }));
    assert.match(err.message, /--weight-min \/ REBALANCER_WEIGHT_MIN: got "2" \(from flag\), expected a number in \(0, 1\]/);
    assert.match(err.message, /--weight-max \/ REBALANCER_WEIGHT_MAX: got "0.5" \(from flag\), expected a number >= 1/);
  });

  it('every setting has a unique flag and env var matching its key', () => {
    const flags = new Set<string>();
    const envs = new Set<string>();
    for (const [key, spec] of Object.entries(SETTINGS)) {
      assert.equal(flagToOptionKey(spec.flag), key);
      assert.match(spec.env, /^REBALANCER_[A-Z0-9_]+$/);
      assert.ok(!flags.has(spec.flag) && !envs.has(spec.env));
      flags.add(spec.flag);
      envs.add(spec.env);
    }
  });
});
