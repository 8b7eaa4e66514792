import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createServiceMetrics } from '../../src/metrics/index.js';
import type { CheckpointStore } from '../../src/state/checkpoint-store.js';
import { Checkpointer, type CheckpointMeta } from '../../src/state/checkpointer.js';
import { REJECT_REASONS } from '../../src/ingest/reasons.js';

describe('checkpoint age and zero-initialised reject series', () => {
  it('counts checkpoint age from start until the first checkpoint, then from the restored one', () => {
    let t = 1_000_000;
    const metrics = createServiceMetrics({ registry: new Registry(), collectDefault: false });
    const checkpointer = new Checkpointer({
      store: {} as CheckpointStore<CheckpointMeta>,
      capture: () => { throw new Error('not used'); },
      flushDeadLetters: async () => {},
      commit: async () => {},
      metrics,
      now: () => t,
      log: () => {},
    });
    assert.equal(checkpointer.ageSeconds(), 0);
    t += 90_000;
    assert.equal(checkpointer.ageSeconds(), 90, 'a service that never checkpointed ages like a stale one');
    checkpointer.restored(3, t - 5_000, { '0': 10 });
    assert.equal(checkpointer.ageSeconds(), 5);
  });

  it('exports every reject reason at 0 before any event is rejected', async () => {
    const registry = new Registry();
    createServiceMetrics({ registry, collectDefault: false, rejectReasons: REJECT_REASONS });
    const text = await registry.metrics();
    for (const reason of REJECT_REASONS) {
      assert.match(text, new RegExp(`rebalancer_dlq_messages_total\\{reason="${reason}"\\} 0`));
      assert.match(text, new RegExp(`rebalancer_events_invalid_total\\{reason="${reason}"\\} 0`));
    }
  });
});
