import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createServiceMetrics } from '../../src/metrics/index.js';
import type { CheckpointStore } from '../../src/state/checkpoint-store.js';
import { Checkpointer, type CheckpointMeta } from '../../src/state/checkpointer.js';

describe('checkpointer on an idle service', () => {
  it('skips a checkpoint whose fingerprint equals the last written one (its age restarts), writes again once anything changed', async () => {
    let t = 1_000_000;
    let fingerprint = 'p0=10|applied=10';
    let writes = 0;
    let captures = 0;
    const commits: Array<Record<string, number>> = [];
    const store = { write: async () => ({ seq: ++writes, dir: `/tmp/ckpt-${writes}` }) } as unknown as CheckpointStore<CheckpointMeta>;
    const checkpointer = new Checkpointer({
      store,
      capture: () => {
        captures++;
        return { meta: { topic: 't', positions: { '0': 10 }, modelVersion: null }, files: new Map() };
      },
      flushDeadLetters: async () => {},
      commit: async (positions) => {
        commits.push(Object.fromEntries([...positions].map(([p, o]) => [String(p), o])));
      },
      fingerprint: () => fingerprint,
      metrics: createServiceMetrics({ registry: new Registry(), collectDefault: false }),
      now: () => t,
      log: () => {},
    });
    await checkpointer.checkpoint();
    assert.deepEqual([writes, captures, commits.length], [1, 1, 1]);
    t += 60_000;
    assert.equal(checkpointer.ageSeconds(), 60);
    await checkpointer.checkpoint();
    assert.deepEqual([writes, captures, commits.length], [1, 1, 1], 'nothing changed: no capture (no model save), no write, no commit');
    assert.equal(checkpointer.ageSeconds(), 0, 'the last checkpoint is current');
    fingerprint = 'p0=11|applied=11';
    await checkpointer.checkpoint();
    assert.deepEqual([writes, captures, commits.length], [2, 2, 2]);
  });
});
