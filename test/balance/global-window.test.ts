import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GlobalWindow, shareDivergence, type CountsRecord } from '../../src/balance/index.js';

const bucket = (partition: number, b: number, position: number, counts: Record<string, number>): CountsRecord => ({ kind: 'bucket', partition, bucket: b, position, counts });
const totals = (partition: number, position: number, byCategory: Record<string, number>): CountsRecord => ({
  kind: 'totals', partition, position, byCategory, byType: {}, applied: Object.values(byCategory).reduce((a, b) => a + b, 0), duplicates: 0, late: 0, lost: 0, invalid: 0,
});

describe('GlobalWindow', () => {
  it('merges partitions by summing their buckets in the window, idempotently', () => {
    const g = new GlobalWindow(2);
    const records = [bucket(0, 10, 5, { a: 3 }), bucket(1, 10, 7, { a: 1, b: 2 }), bucket(1, 11, 9, { b: 4 })];
    for (const r of records) g.apply(r);
    for (const r of records) g.apply(r);
    assert.equal(g.count('a'), 4);
    assert.equal(g.count('b'), 6);
    assert.equal(g.total(), 10);
    assert.equal(g.categories(), 2);
  });

  it('keeps the record of the furthest position per key: a late record of an earlier owner cannot move counts back', () => {
    const g = new GlobalWindow(5);
    g.apply(bucket(0, 1, 100, { a: 10 }));
    assert.equal(g.apply(bucket(0, 1, 60, { a: 6 })), false);
    assert.equal(g.count('a'), 10);
    assert.equal(g.records.ignored, 1);
    g.apply(totals(0, 100, { a: 10 }));
    assert.equal(g.apply(totals(0, 60, { a: 6 })), false);
    assert.equal(g.totals().byCategory.a, 10);
  });

  it('slides: buckets older than the newest minus the window leave, and evictions remove theirs', () => {
    const g = new GlobalWindow(2);
    g.apply(bucket(0, 1, 1, { a: 1 }));
    g.apply(bucket(1, 2, 1, { a: 2 }));
    assert.equal(g.total(), 3);
    g.apply(bucket(0, 3, 2, { a: 4 }));
    assert.equal(g.total(), 6, 'bucket 1 left the window [2, 3]');
    g.apply({ kind: 'evict', partition: 1, bucket: 2 });
    assert.equal(g.total(), 4);
  });

  it('sums the totals over partitions and reports each one\'s position', () => {
    const g = new GlobalWindow(3);
    g.apply(totals(0, 10, { a: 7, b: 3 }));
    g.apply(totals(2, 4, { b: 4 }));
    assert.deepEqual(g.totals().byCategory, { a: 7, b: 7 });
    assert.equal(g.totals().applied, 14);
    assert.deepEqual(g.positions(), { 0: 10, 2: 4 });
  });

  it('share divergence is 0 for the same mix and 1 for disjoint ones', () => {
    assert.equal(shareDivergence(new Map([['a', 1], ['b', 1]]), new Map([['a', 5], ['b', 5]])), 0);
    assert.equal(shareDivergence(new Map([['a', 1]]), new Map([['b', 1]])), 1);
  });
});
