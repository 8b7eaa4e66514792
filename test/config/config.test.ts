import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CONFIG_FILE_ENV, loadRunConfig, readNamedSettingsFile, readSettingsFile } from '../../src/config/file.js';
import { SETTINGS, defaultConfig, flagToOptionKey, loadConfig } from '../../src/config/index.js';
import { RebalancerError } from '../../src/errors.js';
import { BalanceState, Rng } from '../../src/balance/index.js';
import { balanceConfigOf } from '../../src/train/balance-adapter.js';

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
    assert.equal(c.weightPolicy, 'none');
    assert.equal(c.maxMicroLoss, 0.02);
    assert.equal(c.trainerThread, true);
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

function settingsDir(): string {
  return mkdtempSync(join(tmpdir(), 'config-file-'));
}

function write(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('settings files (run --config, backtest --strategy-file)', () => {
  const flags = { weightPolicy: 'sqrt_inverse', targetMixRho: '0.9', batchSize: '128', replayEventTypes: 'click,purchase', train: 'false', weightMin: '0.5' };

  it('run --config FILE (YAML or JSON, camelCase or flag-name keys) resolves the same ServiceConfig as the equivalent flags', () => {
    const dir = settingsDir();
    const yaml = write(dir, 'deploy.yaml', 'weight-policy: sqrt_inverse\ntargetMixRho: 0.9\nbatch-size: 128\nreplay-event-types: [click, purchase]\ntrain: false\nweight-min: 0.5\n');
    const json = write(dir, 'deploy.json', JSON.stringify({ weightPolicy: 'sqrt_inverse', 'target-mix-rho': '0.9', batchSize: 128, replayEventTypes: 'click,purchase', train: 'false', '--weight-min': 0.5 }));
    const expected = loadRunConfig({ flags, env: {} }).config;
    assert.notDeepEqual(expected, defaultConfig(), 'the flags change the configuration');
    assert.deepEqual(loadRunConfig({ flags: {}, env: {}, configFile: yaml }).config, expected);
    assert.deepEqual(loadRunConfig({ flags: {}, env: {}, configFile: json }).config, expected);
    // The file can also come from the environment.
    assert.deepEqual(loadRunConfig({ flags: {}, env: { [CONFIG_FILE_ENV]: yaml } }).config, expected);
    // An empty file is the defaults.
    assert.deepEqual(loadRunConfig({ flags: {}, env: {}, configFile: write(dir, 'empty.yaml', '') }).config, defaultConfig());
  });

  it('precedence: flags over env over the file over the defaults', () => {
    const dir = settingsDir();
    const file = write(dir, 'c.yaml', 'batch-size: 64\ntopic: from-file\nweight-policy: none\nseed: 7\n');
    const c = loadRunConfig({ flags: { batchSize: '16' }, env: { REBALANCER_BATCH_SIZE: '32', REBALANCER_TOPIC: 'from-env' }, configFile: file }).config;
    assert.equal(c.batchSize, 16);
    assert.equal(c.topic, 'from-env');
    assert.equal(c.weightPolicy, 'none');
    assert.equal(c.seed, 7);
    assert.equal(c.windowBuckets, 60);
    // The explicit values are those of the three sources, not the defaults.
    assert.deepEqual(loadRunConfig({ flags: {}, env: {}, configFile: file }).explicit, { batchSize: '64', topic: 'from-file', weightPolicy: 'none', seed: '7' });
  });

  it('errors name the file, the strategy and the setting', () => {
    const dir = settingsDir();
    const unknown = write(dir, 'unknown.yaml', 'weight-policy: none\nweigth-max: 3\n');
    assert.throws(() => readSettingsFile(unknown), (err: RebalancerError) => err.code === 'REB_CONFIG_INVALID' && err.message.includes(unknown) && err.message.includes('"weigth-max"'));
    const badValue = write(dir, 'bad.json', JSON.stringify({ 'weight-policy': 'magic' }));
    const err = configError(() => loadRunConfig({ flags: {}, env: {}, configFile: badValue }));
    assert.match(err.message, new RegExp(`--weight-policy / REBALANCER_WEIGHT_POLICY: got "magic" \\(from file ${badValue.replace(/[.\\/]/g, '\\$&')}\\)`));
    const nested = write(dir, 'nested.yaml', 'weight-policy: {a: 1}\n');
    assert.throws(() => readSettingsFile(nested), /nested\.yaml: setting "weight-policy" \(--weight-policy\): got an object/);
    const broken = write(dir, 'broken.yaml', 'weight-policy: [none\n');
    assert.throws(() => readSettingsFile(broken), (e: RebalancerError) => e.code === 'REB_CONFIG_INVALID' && e.message.includes(`settings file ${broken} is not valid YAML`));
    assert.throws(() => readSettingsFile(join(dir, 'missing.yaml')), /cannot read settings file .*missing\.yaml/);
    assert.throws(() => readSettingsFile(write(dir, 'list.yaml', '- a\n- b\n')), /expected one settings object, got a list/);
    const twice = write(dir, 'twice.json', JSON.stringify({ batchSize: 1, 'batch-size': 2 }));
    assert.throws(() => readSettingsFile(twice), /--batch-size given twice/);
    // A strategy map: the strategy is named too.
    const map = write(dir, 'strategies.yaml', 'good: {weight-policy: none}\nbad: {target-mix: 0.5}\n');
    assert.throws(() => readNamedSettingsFile(map), (e: RebalancerError) => e.code === 'REB_CONFIG_INVALID' && e.message.includes(`${map}: strategy "bad": unknown setting "target-mix"`));
    const mixed = write(dir, 'mixed.yaml', 'good: {weight-policy: none}\nseed: 3\n');
    assert.throws(() => readNamedSettingsFile(mixed), /"seed" holds a value while other keys hold settings objects/);
  });

  it('a strategy file is one settings object (named after the file) or a map of named ones', () => {
    const dir = settingsDir();
    assert.deepEqual(readNamedSettingsFile(write(dir, 'mild-weights.yml', 'weight-policy: sqrt_inverse\n')), [{ name: 'mild-weights', settings: { weightPolicy: 'sqrt_inverse' } }]);
    assert.deepEqual(readNamedSettingsFile(write(dir, 'two.json', JSON.stringify({ a: { loss: 'focal' }, b: {} }))), [{ name: 'a', settings: { loss: 'focal' } }, { name: 'b', settings: {} }]);
  });
});
