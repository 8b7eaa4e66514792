/** The replay's progress file is validated when read back (src/offline/replay.ts, readProgressFile). */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isRebalancerError } from '../../src/errors.js';
import { readProgressFile, type SourceId } from '../../src/offline/replay.js';

const dir = mkdtempSync(join(tmpdir(), 'rebalancer-replay-progress-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const source: SourceId = { kind: 'topic', topic: 'events' };

function withFile(content: string): string {
  const path = join(dir, `p-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, content);
  return path;
}

describe('replay progress file', () => {
  it('reads back a valid file of the same replay', () => {
    const p = { version: 1, source, target: 'out', replayed: 12, partitions: { '0': 7, '1': 5 }, updatedAt: '2026-11-30T00:00:00.000Z' };
    assert.deepEqual(readProgressFile(withFile(JSON.stringify(p)), source, 'out'), p);
  });

  it('no file: undefined (a fresh replay)', () => {
    assert.equal(readProgressFile(join(dir, 'absent.json'), source, 'out'), undefined);
  });

  for (const [title, content, why] of [
    ['not JSON', '{"version": 1,', /not valid JSON/],
    ['a negative offset', JSON.stringify({ version: 1, source, target: 'out', replayed: 1, partitions: { '0': -3 }, updatedAt: 'x' }), /partitions\.0/],
    ['replayed as a string', JSON.stringify({ version: 1, source, target: 'out', replayed: '12', updatedAt: 'x' }), /replayed/],
    ['another version', JSON.stringify({ version: 2, source, target: 'out', replayed: 1, updatedAt: 'x' }), /version/],
    ['another replay', JSON.stringify({ version: 1, source: { kind: 'topic', topic: 'other' }, target: 'out', replayed: 1, updatedAt: 'x' }), /belongs to another replay/],
  ] as const) {
    it(`${title}: REB_INPUT_INVALID naming the file and what is wrong`, () => {
      const path = withFile(content);
      assert.throws(() => readProgressFile(path, source, 'out'), (err: unknown) => isRebalancerError(err, 'REB_INPUT_INVALID') && err.message.includes(path) && why.test(err.message));
    });
  }
});
