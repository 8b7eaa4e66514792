import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchSignal } from '../../../src/adapters/kafka/batch-signal.js';

describe('BatchSignal (a topic reader waiting for its consumer)', () => {
  it('wait resolves true at the next notify, and only the waiter present is woken', async () => {
    const s = new BatchSignal();
    s.notify(); // nobody waits: nothing is remembered
    let woken: boolean | undefined;
    const waiting = s.wait().then((w) => { woken = w; });
    await new Promise((r) => setImmediate(r));
    assert.equal(woken, undefined, 'an earlier notify does not wake a later wait');
    s.notify();
    await waiting;
    assert.equal(woken, true);
  });

  it('with a timeout, wait resolves false when no batch comes, and a later notify is harmless', async () => {
    const s = new BatchSignal();
    const t0 = Date.now();
    assert.equal(await s.wait(30), false);
    assert.ok(Date.now() - t0 >= 25);
    s.notify();
  });

  it('a failure wakes the waiter and sticks: the first one is kept', async () => {
    const s = new BatchSignal();
    const waiting = s.wait(10_000);
    s.fail(new Error('first'));
    s.fail(new Error('second'));
    assert.equal(await waiting, true);
    assert.equal(s.failure?.message, 'first');
  });
});
