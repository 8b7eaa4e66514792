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
