import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deserialize, serialize } from 'node:v8';
import { Rng } from '../../src/balance/rng.js';
import { DedupSet } from '../../src/ingest/dedup.js';
import { isRebalancerError } from '../../src/errors.js';

/** Naive reference: the last `capacity` distinct ids, oldest first (Set + array FIFO). */
class NaiveDedup {
  readonly members = new Set<string>();
  readonly fifo: string[] = [];
  constructor(readonly capacity: number) {}

  add(id: string): boolean {
    if (this.members.has(id)) return false;
    this.fifo.push(id);
    this.members.add(id);
    if (this.fifo.length > this.capacity) this.members.delete(this.fifo.shift()!);
    return true;
  }
}

function assertSameMembers(d: DedupSet, reference: NaiveDedup, universe: readonly string[], context: string): void {
  assert.equal(d.size, reference.members.size, `${context}: size`);
  for (const id of universe) assert.equal(d.has(id), reference.members.has(id), `${context}: has(${id})`);
}

describe('DedupSet', () => {
  it('drops a repeated id and keeps distinct ones', () => {
    const d = new DedupSet(4);
    assert.equal(d.add('a'), true);
    assert.equal(d.add('b'), true);
    assert.equal(d.add('a'), false);
    assert.equal(d.size, 2);
    assert.equal(d.has('b'), true);
    assert.equal(d.has('c'), false);
  });

  it('forgets the oldest id beyond its capacity', () => {
    const d = new DedupSet(3);
    for (const id of ['a', 'b', 'c', 'd']) d.add(id);
    assert.equal(d.has('a'), false);
    assert.equal(d.size, 3);
    assert.equal(d.add('a'), true, 'an id older than the horizon passes again');
    assert.equal(d.has('b'), false, 'b was the oldest when a came back');
    assert.equal(d.has('c') && d.has('d') && d.has('a'), true);
  });

  it('a duplicate does not refresh its position (eviction is by first arrival)', () => {
    const d = new DedupSet(2);
    d.add('a');
    d.add('b');
    assert.equal(d.add('a'), false);
    d.add('c');
    assert.equal(d.has('a'), false);
    assert.equal(d.has('b'), true);
  });

  it('matches a naive reference (Set + FIFO) over random inputs with repeats, step by step', () => {
    const rng = new Rng(7);
    for (const capacity of [1, 2, 3, 5, 17, 100, 1_000]) {
      const d = new DedupSet(capacity);
      const reference = new NaiveDedup(capacity);
      const universeSize = capacity * 3;
      const universe = Array.from({ length: universeSize }, (_, i) => `e${i}`);
      const steps = Math.max(3_000, capacity * 20);
      for (let i = 0; i < steps; i++) {
        const id = universe[rng.int(universeSize)]!;
        assert.equal(d.add(id), reference.add(id), `capacity ${capacity}, step ${i}, id ${id}`);
        assert.equal(d.size, reference.members.size);
        if (capacity <= 100 || i % 997 === 0) assertSameMembers(d, reference, universe, `capacity ${capacity}, step ${i}`);
      }
      assertSameMembers(d, reference, universe, `capacity ${capacity}, end`);
    }
  });

  it('matches the reference on realistic ids (sequential, empty-ish, non-ASCII) with bursts of re-reads', () => {
    const rng = new Rng(11);
    const capacity = 500;
    const d = new DedupSet(capacity);
    const reference = new NaiveDedup(capacity);
    const universe: string[] = ['', 'x', 'é', '\u{1F600}', 'a\u0000b'];
    for (let i = 0; i < 2_000; i++) universe.push(`evt-99-${i}`);
    let seq = 0;
    for (let step = 0; step < 20_000; step++) {
      // Mostly new ids in order; sometimes re-read a recent stretch (as after a crash).
      const id = rng.next() < 0.8 ? universe[seq++ % universe.length]! : universe[Math.max(0, (seq % universe.length) - 1 - rng.int(800))]!;
      assert.equal(d.add(id), reference.add(id), `step ${step}, id ${JSON.stringify(id)}`);
    }
    assertSameMembers(d, reference, universe, 'end');
  });

  it('no false positives over a million distinct sequential ids; forgets exactly the old ones', () => {
    const capacity = 200_000;
    const d = new DedupSet(capacity);
    const total = 1_000_000;
    for (let i = 0; i < total; i++) assert.equal(d.add(`evt-99-${i}`), true, `evt-99-${i}`);
    assert.equal(d.size, capacity);
    for (let i = total - capacity; i < total; i++) assert.equal(d.has(`evt-99-${i}`), true);
    for (let i = 0; i < total - capacity; i += 7) assert.equal(d.has(`evt-99-${i}`), false);
  });

  it('snapshot and restore give the same members and the same eviction order', () => {
    const rng = new Rng(3);
    const capacity = 50;
    const d = new DedupSet(capacity);
    const reference = new NaiveDedup(capacity);
    const universe = Array.from({ length: 200 }, (_, i) => `e${i}`);
    for (let i = 0; i < 1_000; i++) {
      const id = universe[rng.int(universe.length)]!;
      d.add(id);
      reference.add(id);
    }
    const snap = d.snapshot();
    const restored = DedupSet.restore(capacity, snap);
    assert.deepEqual(restored.snapshot(), snap);
    assertSameMembers(restored, reference, universe, 'restored');
    // The restored set keeps evicting in the original arrival order.
    for (let i = 0; i < 1_000; i++) {
      const id = universe[rng.int(universe.length)]!;
      assert.equal(restored.add(id), reference.add(id), `after restore, step ${i}`);
    }
    assertSameMembers(restored, reference, universe, 'restored, continued');
    // Also through v8 serialisation, as the checkpoint stores it.
    assert.deepEqual(DedupSet.restore(capacity, deserialize(serialize(snap)) as string[]).snapshot(), snap);
  });

  it('restores into a smaller capacity keeping only the newest ids', () => {
    const d = new DedupSet(10);
    for (let i = 0; i < 25; i++) d.add(`e${i}`);
    const smaller = DedupSet.restore(3, d.snapshot());
    const reference = new NaiveDedup(3);
    for (const id of ['e22', 'e23', 'e24']) reference.add(id);
    const universe = Array.from({ length: 25 }, (_, i) => `e${i}`);
    assertSameMembers(smaller, reference, universe, 'smaller');
    assert.equal(smaller.add('e25'), true);
    assert.equal(smaller.has('e22'), false, 'e22 was the oldest kept');
  });

  it('restores the earlier format (ids, oldest first) by hashing them', () => {
    const ids = Array.from({ length: 12 }, (_, i) => `evt-1-${i}`);
    const d = DedupSet.restore(10, ids);
    const reference = new NaiveDedup(10);
    for (const id of ids) reference.add(id);
    assertSameMembers(d, reference, ids, 'old format');
    const fresh = new DedupSet(10);
    for (const id of ids) fresh.add(id);
    assert.deepEqual(d.snapshot(), fresh.snapshot());
    assert.deepEqual(DedupSet.restore(10, []).size, 0);
  });

  it('rejects a non-positive capacity', () => {
    assert.throws(() => new DedupSet(0), (e: unknown) => isRebalancerError(e, 'REB_ARGUMENT_INVALID'));
    assert.throws(() => new DedupSet(1.5), (e: unknown) => isRebalancerError(e, 'REB_ARGUMENT_INVALID'));
  });
});
