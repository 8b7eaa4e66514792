import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawnCli } from '../offline/helpers.js';

/** Bad input: non-zero exit and exactly one line on stderr, naming the problem. */
const CASES: [string[], RegExp][] = [
  [['generate', '--events', 'lots', '--out', '/tmp/x.bin'], /--events must be an integer/],
  [['generate', '--events', '10'], /exactly one of --out <file> or --topic/],
  [['generate', '--skew', '0.5', '--out', '/tmp/x.bin'], /--skew must be a number in \[1/],
  [['import', '/nonexistent/log.csv', '--type-col', 'type', '--out', '/tmp/x.bin'], /cannot read \/nonexistent\/log.csv: no such file/],
  [['import', 'package.json', '--type-col', 'type', '--rating-col', 'r', '--out', '/tmp/x.bin'], /exactly one of --type-col or --rating-col/],
  [['import', 'package.json', '--type-col', 'type', '--time-unit', 'days', '--out', '/tmp/x.bin'], /--time-unit must be one of s, ms, iso/],
  [['replay', '--file', '/nonexistent.bin', '--brokers', '127.0.0.1:1', '--topic', 't'], /cannot read (event file )?\/nonexistent.bin: no such file/],
  [['replay', '--file', 'package.json', '--brokers', '127.0.0.1:1', '--topic', 't'], /is not an event file/],
  [['replay', '--file', 'x.bin', '--brokers', 'nohostport', '--topic', 't'], /--brokers must be a comma-separated list/],
  [['replay', '--file', 'x.bin', '--brokers', '127.0.0.1:1', '--topic', 't', '--speed', '-1'], /--speed must be a number/],
  [['backtest', '--file', '/nonexistent.bin'], /cannot read event file \/nonexistent.bin/],
  [['backtest', '--file', 'package.json', '--strategies', 'none,bogus'], /unknown strateg/],
];

describe('CLI bad input', () => {
  for (const [args, message] of CASES) {
    it(`rebalancer ${args.join(' ')}`, async () => {
      const r = await spawnCli(args);
      assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^rebalancer: .*\[REB_INPUT_INVALID\]$/);
      assert.match(lines[0]!, message);
    });
  }

  it('an unknown flag exits non-zero with commander\'s message', async () => {
    const r = await spawnCli(['generate', '--bogus']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unknown option '--bogus'/);
  });

  it('every verb has --help', async () => {
    for (const verb of ['generate', 'import', 'replay', 'backtest']) {
      const r = await spawnCli([verb, '--help']);
      assert.equal(r.code, 0, verb);
      assert.match(r.stdout, new RegExp(`Usage: rebalancer ${verb}`));
    }
  });
});
