import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stableMerge } from '../../src/serve/recommender.js';
import type { CandidateItem } from '../../src/ports/index.js';

const item = (id: number, category = `c${id % 3}`): CandidateItem => ({ itemId: `i${id}`, categoryId: category });
const ids = (xs: readonly CandidateItem[]): string[] => xs.map((x) => `${x.itemId}/${x.categoryId}`).sort();

describe('stableMerge (candidate slots kept across refreshes)', () => {
  it('a re-ranked set of the same items changes no slot and keeps the array', () => {
    const current = Array.from({ length: 1_000 }, (_, i) => item(i));
    const before = current.slice();
    // One item rising from the bottom to the top shifts every rank by one.
    const fresh = [current[999]!, ...current.slice(0, 999)].map((c) => ({ ...c }));
    const out = stableMerge(current, fresh);
    assert.equal(out, current, 'updated in place');
    assert.deepEqual(out, before, 'no slot changed');
  });

  it('departures are replaced by arrivals in their slots; everything else stays; the result holds exactly the fresh items', () => {
    const current = Array.from({ length: 100 }, (_, i) => item(i));
    const fresh = [...current.filter((_, i) => i % 10 !== 0), ...Array.from({ length: 10 }, (_, k) => item(1_000 + k))].reverse();
    const out = stableMerge(current.slice(), fresh);
    assert.deepEqual(ids(out), ids(fresh));
    let changed = 0;
    for (let i = 0; i < 100; i++) if (out[i]!.itemId !== current[i]!.itemId) changed++;
    assert.equal(changed, 10, 'only the ten departed slots changed');
  });

  it('an item whose category changed is a departure and an arrival', () => {
    const current = [item(1, 'a'), item(2, 'a')];
    const out = stableMerge(current.slice(), [item(1, 'b'), item(2, 'a')]);
    assert.deepEqual(ids(out), ['i1/b', 'i2/a']);
  });

  it('a new size gives a new array with exactly the fresh items', () => {
    const current = Array.from({ length: 10 }, (_, i) => item(i));
    const grown = stableMerge(current, [...current, item(50)]);
    assert.notEqual(grown, current);
    assert.deepEqual(ids(grown), ids([...current, item(50)]));
    const shrunk = stableMerge(current, current.slice(3));
    assert.deepEqual(ids(shrunk), ids(current.slice(3)));
    assert.deepEqual(stableMerge([], [item(1)]), [item(1)]);
  });
});
