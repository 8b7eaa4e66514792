/**
 * `rebalancer run --help` states every setting's allowed values or range (the settings
 * table's `expected`), and leaves out the test hooks, which are still accepted.
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
    const listed = Object.values(SETTINGS).filter((s) => !s.hidden);
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

  it('hides the test hooks: --train-delay-ms is a hidden setting and not in the help', () => {
    const hidden = Object.values(SETTINGS).filter((s) => s.hidden);
    assert.deepEqual(hidden.map((s) => s.flag), ['--train-delay-ms']);
    for (const spec of hidden) {
      assert.ok(!help.includes(spec.flag), `${spec.flag} is not in --help`);
      assert.ok(!help.includes(spec.env), `${spec.env} is not in --help`);
    }
    assert.doesNotMatch(help, /test hook/i);
  });

  it('still accepts --train-delay-ms: a bad value is a configuration error naming it, not an unknown option', async () => {
    const r = await spawnCli(['run', '--train-delay-ms', 'soon']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--train-delay-ms \/ REBALANCER_TRAIN_DELAY_MS: got "soon" \(from flag\), expected an integer in \[0, 3600000\]/);
    assert.match(r.stderr, /\[REB_CONFIG_INVALID\]/);
    assert.doesNotMatch(r.stderr, /unknown option/);
  });
});
