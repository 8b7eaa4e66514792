import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(import.meta.dirname, '..');

function run(cmd: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim().split('\n').slice(-30).join('\n') };
}

describe('static checks', () => {
  it('the whole tree type-checks under strict TypeScript', () => {
    const r = run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json', '--noEmit']);
    assert.equal(r.status, 0, r.output);
  });

  it('eslint passes (no any in src, pure balance/ and codec/)', () => {
    const r = run(join(ROOT, 'node_modules', '.bin', 'eslint'), ['.']);
    assert.equal(r.status, 0, r.output);
  });
});

describe('the pure core\'s lint rule', () => {
  // Each snippet, put in src/balance/ and in src/codec/, must be refused by eslint (stdin, --stdin-filename).
  const impure: Array<[string, string]> = [
    ["import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n", 'node:fs'],
    ["import { execFile } from 'node:child_process';\nexport const x = execFile;\n", 'child_process'],
    ["import { getHeapStatistics } from 'node:v8';\nexport const x = getHeapStatistics;\n", 'v8'],
    ["import { createHash } from 'node:crypto';\nexport const x = createHash;\n", 'crypto'],
    ["import { startService } from '../service/index.js';\nexport const x = startService;\n", 'service/'],
    ["import { SETTINGS } from '../config/index.js';\nexport const x = SETTINGS;\n", 'config/'],
    ["import { startLocalKafka } from '../kafka/local-broker.js';\nexport const x = startLocalKafka;\n", 'kafka/'],
    ["import { csvRows } from '../tools/csv.js';\nexport const x = csvRows;\n", 'tools/'],
    ['export const x = (): string | undefined => process.env.HOME;\n', 'process'],
    ['export const x = (f: () => void): unknown => setTimeout(f, 1);\n', 'timers'],
    ['export const x = (): number => performance.now();\n', 'performance'],
    ['export const x = (): number => Date.now();\n', 'Date.now'],
    ['export const x = (): Date => new Date();\n', 'new Date()'],
    ['export const x = (): number => Math.random();\n', 'Math.random'],
  ];
  for (const dir of ['balance', 'codec']) {
    it(`refuses I/O, clocks, timers, process and the upper layers in src/${dir}/`, () => {
      for (const [code, what] of impure) {
        const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'eslint'), ['--stdin', '--stdin-filename', join(ROOT, 'src', dir, 'lint-probe.ts')], { cwd: ROOT, input: code, encoding: 'utf8' });
        assert.equal(r.status, 1, `${what} in src/${dir}/ passed the lint:\n${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /no-restricted-(imports|globals|properties|syntax)/, what);
      }
      // And a pure module passes.
      const ok = spawnSync(join(ROOT, 'node_modules', '.bin', 'eslint'), ['--stdin', '--stdin-filename', join(ROOT, 'src', dir, 'lint-probe.ts')], { cwd: ROOT, input: "import { RebalancerError } from '../errors.js';\nexport const x = (n: number): number => { if (n < 0) throw new RebalancerError('REB_ARGUMENT_INVALID', 'n'); return n * 2; };\n", encoding: 'utf8' });
      assert.equal(ok.status, 0, `${ok.stdout}${ok.stderr}`);
    });
  }
});

describe('the balance core\'s public API', () => {
  it('is the only way in from outside the core (a deep import of balance/rng.js is refused, balance/index.js passes)', () => {
    const lint = (code: string): ReturnType<typeof spawnSync> => spawnSync(join(ROOT, 'node_modules', '.bin', 'eslint'), ['--stdin', '--stdin-filename', join(ROOT, 'src', 'model', 'lint-probe.ts')], { cwd: ROOT, input: code, encoding: 'utf8' });
    const deep = lint("import { Rng } from '../balance/rng.js';\nexport const x = Rng;\n");
    assert.equal(deep.status, 1, String(deep.stdout));
    assert.match(String(deep.stdout), /import the balance core from \.\.\/balance\/index\.js/);
    assert.equal(lint("import { Rng } from '../balance/index.js';\nexport const x = Rng;\n").status, 0);
  });
});
