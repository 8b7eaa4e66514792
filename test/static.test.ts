import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';

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

/** The project's eslint, in process (loaded once): the rule ids reported for `code` as if it were the file at `path`. */
const eslint = new ESLint({ cwd: ROOT });
async function lintAs(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, path) });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

describe('the pure core\'s lint rule', () => {
  // Each snippet, put in src/balance/ and in src/codec/, must be refused by eslint.
  const impure: Array<[string, string]> = [
    ["import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n", 'node:fs'],
    ["import { execFile } from 'node:child_process';\nexport const x = execFile;\n", 'child_process'],
    ["import { getHeapStatistics } from 'node:v8';\nexport const x = getHeapStatistics;\n", 'v8'],
    ["import { createHash } from 'node:crypto';\nexport const x = createHash;\n", 'crypto'],
    ["import { startService } from '../service/index.js';\nexport const x = startService;\n", 'service/'],
    ["import { SETTINGS } from '../config/index.js';\nexport const x = SETTINGS;\n", 'config/'],
    ["import { startLocalKafka } from '../../dev/local-broker.js';\nexport const x = startLocalKafka;\n", 'dev/'],
    ["import { csvRows } from '../adapters/csv.js';\nexport const x = csvRows;\n", 'adapters/'],
    ["import { DLQ_HEADERS } from '../ingest/dlq.js';\nexport const x = DLQ_HEADERS;\n", 'ingest/'],
    ['export const x = (): string | undefined => process.env.HOME;\n', 'process'],
    ['export const x = (f: () => void): unknown => setTimeout(f, 1);\n', 'timers'],
    ['export const x = (): number => performance.now();\n', 'performance'],
    ['export const x = (): number => Date.now();\n', 'Date.now'],
    ['export const x = (): Date => new Date();\n', 'new Date()'],
    ['export const x = (): number => Math.random();\n', 'Math.random'],
  ];
  for (const dir of ['balance', 'codec']) {
    it(`refuses I/O, clocks, timers, process and the upper layers in src/${dir}/`, async () => {
      for (const [code, what] of impure) {
        const messages = await lintAs(`src/${dir}/lint-probe.ts`, code);
        assert.ok(messages.some((m) => /^no-restricted-(imports|globals|properties|syntax):/.test(m)), `${what} in src/${dir}/ passed the lint: ${messages.join('; ')}`);
      }
      // And a pure module passes.
      assert.deepEqual(await lintAs(`src/${dir}/lint-probe.ts`, "import { RebalancerError } from '../errors.js';\nexport const x = (n: number): number => { if (n < 0) throw new RebalancerError('REB_ARGUMENT_INVALID', 'n'); return n * 2; };\n"), []);
    });
  }
});

describe('the balance core\'s public API', () => {
  it('is the only way in from outside the core (a deep import of balance/rng.js is refused, balance/index.js passes)', async () => {
    const deep = await lintAs('src/model/lint-probe.ts', "import { Rng } from '../balance/rng.js';\nexport const x = Rng;\n");
    assert.ok(deep.some((m) => m.includes('import the balance core from balance/index.js')), deep.join('; '));
    assert.deepEqual(await lintAs('src/model/lint-probe.ts', "import { Rng } from '../balance/index.js';\nexport const x = Rng;\n"), []);
  });
});

describe('the layers\' lint rule (scripts/layers.json)', () => {
  // [file, import, refused?]
  const probes: Array<[string, string, boolean]> = [
    ['src/model/lint-probe.ts', '../train/index.js', true],
    ['src/serve/lint-probe.ts', '../service/index.js', true],
    ['src/ingest/lint-probe.ts', '../train/balance-adapter.js', true],
    ['src/adapters/kafka/lint-probe.ts', '../sink.js', true],
    ['src/offline/report/lint-probe.ts', '../../cli/flags.js', true],
    ['src/http/lint-probe.ts', '../model/index.js', true],
    ['src/adapters/kafka/lint-probe.ts', '../../http/server.js', true],
    ['src/cli/lint-probe.ts', '../../dev/local-broker.js', true],
    ['src/errors-probe.ts', './service/index.js', true],
    ['src/cli/lint-probe.ts', '../service/index.js', false],
    ['src/offline/report/lint-probe.ts', '../backtest.js', false],
    ['src/adapters/lint-probe.ts', './kafka/client.js', false],
    ['src/train/lint-probe.ts', '../state/checkpoint-layout.js', false],
  ];
  for (const [file, target, refused] of probes) {
    it(`${refused ? 'refuses' : 'allows'} ${target} in ${file.replace('/lint-probe.ts', '/')}`, async () => {
      const messages = await lintAs(file, `import * as m from '${target}';\nexport const x = m;\n`);
      if (refused) assert.ok(messages.some((m) => /^no-restricted-imports: .*(may not import|dev\/ is development support)/.test(m)), messages.join('; ') || 'no message');
      else assert.deepEqual(messages, []);
    });
  }
});
