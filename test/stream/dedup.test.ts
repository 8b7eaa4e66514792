import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/balance/rng.js';
import { DedupSet } from '../../src/stream/dedup.js';

describe('DedupSet', () => {
  it('drops a repeated id and keeps distinct ones', () => {
    const d = new DedupSet(4);
    assert.equal(d.add('a'), true);
    assert.equal(d.add('b'), true);
    assert.equal(d.add('a'), false);
    assert.equal(d.size, 2);
  });

  it('forgets the oldest id beyond its capacity', () => {
    const d = new DedupSet(3);
    for (const id of ['a', 'b', 'c', 'd']) d.add(id);
    assert.equal(d.has('a'), false);
    assert.equal(d.size, 3);
    assert.equal(d.add('a'), true, 'an id older than the horizon passes again');
    assert.deepEqual(d.snapshot(), ['c', 'd', 'a']);
  });

  it('matches a naive reference (last-N list) over random inputs', () => {
    const rng = new Rng(7);
    for (const capacity of [1, 2, 5, 17, 100]) {
      const d = new DedupSet(capacity);
      const reference: string[] = [];
      for (let i = 0; i < 3_000; i++) {
        const id = `e${rng.int(capacity * 3)}`;
        const expectedNew = !reference.includes(id);
        assert.equal(d.add(id), expectedNew, `capacity ${capacity}, step ${i}`);
        if (expectedNew) {
          reference.push(id);
          if (reference.length > capacity) reference.shift();
        }
        assert.equal(d.size, reference.length);
      }
      assert.deepEqual(d.snapshot(), reference);
    }
  });

  it('restores from a snapshot, also into a smaller capacity', () => {
    const d = new DedupSet(10);
    for (let i = 0; i < 25; i++) d.add(`e${i}`);
    const same = DedupSet.restore(10, d.snapshot());
    assert.deepEqual(same.snapshot(), d.snapshot());
    assert.equal(same.add('e24'), false);
    const smaller = DedupSet.restore(3, d.snapshot());
    assert.deepEqual(smaller.snapshot(), ['e22', 'e23', 'e24']);
  });

  it('rejects a non-positive capacity', () => {
    assert.throws(() => new DedupSet(0), RangeError);
  });
});
