import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, imbalanceStats, type ImbalanceStats } from '../../src/balance/index.js';
import { ImbalanceTracker } from '../../src/balance/stats.js';

function assertClose(got: ImbalanceStats, want: ImbalanceStats, where: string): void {
  assert.equal(got.categories, want.categories, `${where}: categories`);
  for (const key of ['total', 'imbalanceRatio', 'entropy', 'normalizedEntropy', 'gini', 'effectiveNumberOfSamples', 'effectiveCategories', 'maxShare', 'minShare'] as const) {
    const a = got[key];
    const b = want[key];
    assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${where}: ${key} ${a} vs ${b}`);
  }
}

test('the incremental tracker equals imbalanceStats while the counts drift, jump, churn and grow', () => {
  const rng = new Rng(17);
  const tracker = new ImbalanceTracker();
  let length = 5;
  const counts = new Float64Array(4000);
  for (let s = 0; s < length; s++) counts[s] = rng.int(50);
  for (let step = 0; step < 600; step++) {
    const phase = Math.floor(step / 100);
    if (phase === 1 && length < 4000) length = Math.min(4000, length + rng.int(80)); // new slots
    const changes = phase === 2 ? length : 1 + rng.int(20);
    for (let k = 0; k < changes; k++) {
      const s = rng.int(length);
      if (phase === 2) counts[s] = rng.int(1000); // reshuffled: over the insertion budget
      else if (phase === 4) counts[s] = rng.next() * 100; // non-integer (decayed-mode) counts
      else counts[s] = Math.max(0, counts[s]! + rng.int(9) - 3 + (rng.next() < 0.05 ? 500 : 0));
      if (rng.next() < 0.02) counts[s] = 0; // released slot
    }
    const beta = phase === 5 ? 0.99 : 0.999;
    assertClose(tracker.compute(counts, length, beta), imbalanceStats(counts, length, beta), `step ${step}`);
  }
});

test('the tracker reads the same figures whatever its history', () => {
  const rng = new Rng(5);
  const counts = new Float64Array(300);
  const warm = new ImbalanceTracker();
  for (let step = 0; step < 50; step++) {
    for (let s = 0; s < 300; s++) counts[s] = Math.max(0, counts[s]! + rng.int(7) - 2);
    warm.compute(counts, 300, 0.999);
  }
  assert.deepEqual(warm.compute(counts, 300, 0.999), new ImbalanceTracker().compute(counts, 300, 0.999));
  assert.deepEqual(warm.compute(counts, 120, 0.999), new ImbalanceTracker().compute(counts, 120, 0.999), 'a shorter vector');
  assert.deepEqual(new ImbalanceTracker().compute(new Float64Array(4), 4, 0.999), imbalanceStats(new Float64Array(4), 4, 0.999));
  const one = new ImbalanceTracker().compute(Float64Array.of(0, 7, 0), 3, 0.9);
  assert.equal(one.entropy, 0);
  assert.equal(one.normalizedEntropy, 1);
});
