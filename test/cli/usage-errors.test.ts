/**
 * Usage errors commander finds (unknown option or command, missing option value, surplus
 * argument) end like every other bad input (README, CLI): one line
 * `rebalancer: <message> [REB_INPUT_INVALID]` on stderr, nothing on stdout, exit code 2,
 * with commander's "did you mean" suggestion when it has one. Run with the real CLI in a
 * child process.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawnCli } from '../offline/helpers.js';

const CASES: { args: string[]; message: RegExp; suggestion?: string }[] = [
  { args: ['generate', '--evnts', '10'], message: /unknown option '--evnts'/, suggestion: '--events' },
  { args: ['run', '--weight-polcy', 'none'], message: /unknown option '--weight-polcy'/, suggestion: '--weight-policy' },
  { args: ['backtest', '--zzz'], message: /unknown option '--zzz'/ },
  { args: ['run', '--batch-size'], message: /option '--batch-size <value>' argument missing/ },
  { args: ['replay', '--topic'], message: /option '--topic <name>' argument missing/ },
  { args: ['rnu'], message: /unknown command 'rnu'/, suggestion: 'run' },
  { args: ['generate', 'surplus'], message: /too many arguments for 'generate'/ },
  { args: ['import'], message: /missing required argument 'log'/ },
];

describe('CLI usage errors go through the error catalogue', () => {
  for (const c of CASES) {
    it(`rebalancer ${c.args.join(' ')}: one line, REB_INPUT_INVALID, exit 2${c.suggestion !== undefined ? `, suggests ${c.suggestion}` : ''}`, async () => {
      const r = await spawnCli(c.args);
      assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      const line = lines[0]!;
      assert.match(line, /^rebalancer: .* \[REB_INPUT_INVALID\]$/);
      assert.match(line, c.message);
      assert.doesNotMatch(line, /error:/, 'commander\'s own prefix is not kept');
      if (c.suggestion !== undefined) assert.ok(line.includes(`(did you mean ${c.suggestion}?)`), line);
      else assert.doesNotMatch(line, /did you mean/);
      const verb = c.args[0] === 'rnu' ? '' : ` ${c.args[0]}`;
      assert.ok(line.includes(`see \`rebalancer${verb} --help\``), line);
    });
  }

  it('help is still an answer: --help and `help <verb>` exit 0 on stdout', async () => {
    for (const args of [['run', '--help'], ['help', 'generate']]) {
      const r = await spawnCli(args);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, /^Usage: rebalancer (run|generate)/);
    }
  });
});
