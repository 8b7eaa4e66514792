/**
 * `rebalancer run --help` states every setting's allowed values or range (the settings
 * table's `expected`); test hooks are no settings (ServiceOptions.testHooks), so neither the
 * help nor the parser knows them.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { SETTINGS } from '../../src/config/index.js';
import { spawnCli } from '../offline/helpers.js';

/** Help text with line wrapping undone (commander wraps to the terminal width). */
const flat = (s: string): string => s.replace(/\s+/g, ' ');

describe('rebalancer run --help', () => {
  let help = '';
  before(async () => {
    const r = await spawnCli(['run', '--help']);
    assert.equal(r.code, 0, r.stderr);
    help = flat(r.stdout);
  });

  it('lists each setting with its allowed values or range, default and variable', () => {
    const listed = Object.values(SETTINGS);
    assert.ok(listed.length > 50, `${listed.length} settings`);
    for (const spec of listed) {
      const at = help.indexOf(` ${spec.flag} <value> `);
      assert.ok(at >= 0, `${spec.flag} is listed`);
      // The text up to the next option is this setting's.
      const rest = help.slice(at + spec.flag.length + 1);
      const next = /\s(--[a-z0-9-]+ <[a-z]+>|-h, --help)\s/.exec(rest);
      const text = rest.slice(0, next === null ? undefined : next.index);
      assert.ok(text.includes(flat(spec.expected)), `${spec.flag}: allowed values "${spec.expected}" in: ${text}`);
      assert.ok(text.includes(`default: ${spec.default || '""'}`), `${spec.flag}: default in: ${text}`);
      assert.ok(text.includes(spec.env), `${spec.flag}: ${spec.env} in: ${text}`);
    }
    assert.ok(help.includes('one of none, inverse_frequency, sqrt_inverse, effective_number'), 'the weight policies are spelled out');
  });

  it('has no test hooks among the settings: no train delay by flag or variable', () => {
    const all = Object.values(SETTINGS).flatMap((s) => [s.flag, s.env]);
    assert.ok(all.includes('--batch-size') && all.includes('REBALANCER_BATCH_SIZE'), 'flags and variables are read from the table');
    assert.ok(!all.includes('--train-delay-ms'), '--train-delay-ms is no setting');
    assert.ok(!all.includes('REBALANCER_TRAIN_DELAY_MS'), 'REBALANCER_TRAIN_DELAY_MS is no setting');
    assert.doesNotMatch(help, /test hook|train-delay/i);
  });

  it('refuses --train-delay-ms as an unknown option: a usage error, not a configuration error', async () => {
    const r = await spawnCli(['run', '--train-delay-ms', '5']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^rebalancer: unknown option '--train-delay-ms'.* \[REB_INPUT_INVALID\]$/m);
    assert.doesNotMatch(r.stderr, /REB_CONFIG_INVALID/);
  });
});
