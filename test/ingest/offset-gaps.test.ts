/**
 * The gap rule (OffsetGapWatch) and the ledger's account of lost offsets, without a
 * broker. test/ingest/retention-gap.test.ts runs the same rule against a real one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IngestLedger } from '../../src/ingest/ledger.js';
import { OffsetGapWatch } from '../../src/ingest/source.js';

describe('OffsetGapWatch', () => {
  it('reports a first batch beyond the restored position, once', () => {
    const positions = new Map([[0, 10]]);
    const watch = new OffsetGapWatch(positions);
    watch.assign([0]);
    assert.equal(watch.batchStart(0, 40), 10, 'records 10..39 are missing');
    // kafkajs fetching the same offset again (a stale batch, a rejoin) is not a second gap.
    assert.equal(watch.batchStart(0, 40), undefined);
    watch.batchTaken(0, 59);
    assert.equal(watch.batchStart(0, 60), undefined, 'contiguous batches are no gap');
  });

  it('reports a gap in the middle of the stream (a lagging consumer overtaken by retention)', () => {
    const positions = new Map<number, number>();
    const watch = new OffsetGapWatch(positions);
    watch.assign([0]);
    assert.equal(watch.batchStart(0, 0), undefined, 'a fresh group expects nothing');
    watch.batchTaken(0, 31);
    positions.set(0, 32);
    assert.equal(watch.batchStart(0, 150), 32);
  });

  it('counts nothing for re-delivery below the position (a rejoin restarts at the committed offset)', () => {
    const positions = new Map([[0, 100]]);
    const watch = new OffsetGapWatch(positions);
    watch.assign([0]);
    assert.equal(watch.batchStart(0, 50), undefined);
    watch.batchTaken(0, 99);
    assert.equal(watch.batchStart(0, 100), undefined);
  });

  it('takes control records (trailing a batch, or a batch of their own) as read', () => {
    // Data 0..9, commit marker 10, data 11..20: the pipeline applies 0..9 only.
    const positions = new Map([[0, 10]]);
    const watch = new OffsetGapWatch(positions);
    watch.assign([0]);
    assert.equal(watch.batchStart(0, 0), undefined);
    watch.batchTaken(0, 10);
    assert.equal(watch.batchStart(0, 11), undefined, 'the marker at 10 is no lost record');
  });

  it('does not check a partition gained from another member until its first batch', () => {
    const positions = new Map([[0, 10], [1, 5]]);
    const watch = new OffsetGapWatch(positions);
    watch.assign([0]);
    watch.assign([0, 1]);
    assert.equal(watch.batchStart(1, 500), undefined, 'another member may have advanced partition 1');
    watch.batchTaken(1, 509);
    assert.equal(watch.batchStart(1, 530), 510, 'checked from then on');
    // Partition 0 was held throughout: still checked against its position.
    assert.equal(watch.batchStart(0, 12), 10);
  });

  it('forgets what it took of a partition that was revoked', () => {
    const positions = new Map<number, number>();
    const watch = new OffsetGapWatch(positions);
    watch.assign([0, 1]);
    watch.batchTaken(1, 99);
    watch.assign([0]);
    watch.assign([0, 1]);
    assert.equal(watch.batchStart(1, 400), undefined);
  });
});

describe('IngestLedger.lose', () => {
  it('counts the lost offsets and moves the position past them in one step', () => {
    const ledger = new IngestLedger();
    ledger.advance(0, 10);
    ledger.lose(0, 10, 40);
    assert.equal(ledger.lost, 30);
    assert.equal(ledger.positions.get(0), 40);
    const restored = IngestLedger.restore(ledger.snapshot());
    assert.equal(restored.lost, 30);
    assert.equal(restored.positions.get(0), 40);
  });

  it('restores a checkpoint written before `lost` existed with 0', () => {
    const restored = IngestLedger.restore({ positions: { 0: 7 }, byCategory: {}, byType: {}, applied: 7, invalid: 0, duplicates: 0, late: 0 });
    assert.equal(restored.lost, 0);
    assert.equal(restored.snapshot().lost, 0);
  });
});
