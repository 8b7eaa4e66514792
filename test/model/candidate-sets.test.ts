/**
 * The candidate-set cache both scorers keep (src/model/candidate-sets.ts): keyed by array
 * identity, least recently used dropped beyond capacity (and handed to `dropped` to free),
 * a set of another length replaced, lookups that do or do not count as a use; and the
 * entries' refresh after an in-place edit, which re-reads only the ids that differ.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CandidateSetCache, emptyEntries, entriesOf, refreshEntries, type CandidateEntries, type CandidateIds } from '../../src/model/candidate-sets.js';

/** Rows that count their lookups: item "i7" is row 7, category "c3" row 103. */
function countingLookup(): { lookup: { items: { peekRow(id: string): number }; categories: { peekRow(id: string): number } }; peeks: string[] } {
  const peeks: string[] = [];
  return {
    peeks,
    lookup: {
      items: { peekRow: (id) => (peeks.push(id), Number(id.slice(1))) },
      categories: { peekRow: (id) => (peeks.push(id), 100 + Number(id.slice(1))) },
    },
  };
}

function candidates(...pairs: [number, number][]): CandidateIds[] {
  return pairs.map(([i, c]) => ({ itemId: `i${i}`, categoryId: `c${c}` }));
}

describe('CandidateSetCache', () => {
  it('keeps `capacity` sets and drops the least recently used, a touching lookup counting as a use and an untouched one not', () => {
    const dropped: CandidateEntries[] = [];
    const cache = new CandidateSetCache<CandidateEntries>(2, (s) => dropped.push(s));
    const [a, b, c, d] = [candidates([1, 1]), candidates([2, 2]), candidates([3, 3]), candidates([4, 4])];
    const [sa, sb, sc, sd] = [emptyEntries(1), emptyEntries(1), emptyEntries(1), emptyEntries(1)];
    cache.insert(a, sa);
    cache.insert(b, sb);
    assert.equal(cache.lookup(a, true), sa); // a is now the most recent
    cache.insert(c, sc); // drops b
    assert.deepEqual(dropped, [sb]);
    assert.equal(cache.lookup(b, true), undefined);
    assert.equal(cache.lookup(a, false), sa); // found, but still older than c
    cache.insert(d, sd); // drops a
    assert.deepEqual(dropped, [sb, sa]);
    assert.equal(cache.lookup(a, false), undefined);
    assert.equal(cache.lookup(c, false), sc);
    assert.equal(cache.lookup(d, false), sd);
  });

  it('keys by identity: an equal array is another key', () => {
    const cache = new CandidateSetCache<CandidateEntries>(4);
    const a = candidates([1, 1], [2, 2]);
    cache.insert(a, emptyEntries(2));
    assert.equal(cache.lookup(candidates([1, 1], [2, 2]), true), undefined);
    assert.notEqual(cache.lookup(a, true), undefined);
  });

  it('a set of another length than its array is stale: not found, dropped when replaced', () => {
    const dropped: CandidateEntries[] = [];
    const cache = new CandidateSetCache<CandidateEntries>(4, (s) => dropped.push(s));
    const a = candidates([1, 1], [2, 2]);
    const old = emptyEntries(2);
    cache.insert(a, old);
    a.push({ itemId: 'i3', categoryId: 'c3' });
    assert.equal(cache.lookup(a, true), undefined);
    const fresh = emptyEntries(3);
    cache.insert(a, fresh);
    assert.deepEqual(dropped, [old]);
    assert.equal(cache.lookup(a, true), fresh);
  });

  it('clear drops every set', () => {
    const dropped: CandidateEntries[] = [];
    const cache = new CandidateSetCache<CandidateEntries>(4, (s) => dropped.push(s));
    const sets = [emptyEntries(1), emptyEntries(1)];
    const arrays = [candidates([1, 1]), candidates([2, 2])];
    sets.forEach((s, i) => cache.insert(arrays[i]!, s));
    cache.clear();
    assert.deepEqual(dropped, sets);
    assert.equal(cache.lookup(arrays[0]!, false), undefined);
  });
});

describe('candidate entries', () => {
  it('entriesOf takes every id and its row', () => {
    const { lookup } = countingLookup();
    const e = entriesOf(candidates([5, 1], [9, 2]), lookup);
    assert.deepEqual([e.length, e.itemIds, e.categoryIds, [...e.itemRows], [...e.categoryRows]], [2, ['i5', 'i9'], ['c1', 'c2'], [5, 9], [101, 102]]);
  });

  it('refreshEntries re-reads only the ids that differ and reports each changed entry once', () => {
    const { lookup, peeks } = countingLookup();
    const array = candidates([1, 1], [2, 2], [3, 3]);
    const e = entriesOf(array, lookup);
    peeks.length = 0;
    assert.equal(refreshEntries(e, array, lookup), false);
    assert.deepEqual(peeks, []);
    array[0] = { itemId: 'i7', categoryId: 'c1' };
    array[2] = { itemId: 'i8', categoryId: 'c4' };
    const changed: number[] = [];
    assert.equal(refreshEntries(e, array, lookup, (i) => changed.push(i)), true);
    assert.deepEqual(changed, [0, 2]);
    assert.deepEqual(peeks, ['i7', 'i8', 'c4']);
    assert.deepEqual([e.itemIds, e.categoryIds, [...e.itemRows], [...e.categoryRows]], [['i7', 'i2', 'i8'], ['c1', 'c2', 'c4'], [7, 2, 8], [101, 102, 104]]);
  });
});
