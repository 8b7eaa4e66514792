import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InteractionEvent } from '../../src/codec/index.js';
import { isRebalancerError } from '../../src/errors.js';
import { PartitionState, PartitionStates } from '../../src/ingest/partition-state.js';

const OPTIONS = { bucketWidthMs: 60_000, bucketCount: 3, dedupCapacity: 1_000, dedupHorizonMs: 120_000 };

function ev(id: string, categoryId: string, eventTime: number): InteractionEvent {
  return { eventId: id, userId: 'u', itemId: 'i', categoryId, type: 'click', eventTime } as InteractionEvent;
}

describe('PartitionState', () => {
  it('counts an offset iff it is at or beyond the position, so a re-delivery after a rebalance counts nothing twice', () => {
    const s = new PartitionState(0, OPTIONS, 10);
    assert.equal(s.admit(ev('a', 'x', 1_000), 9), 'behind');
    assert.equal(s.admit(ev('b', 'x', 1_000), 10), 'new');
    s.advance(11);
    // The same record delivered again (same offset): behind, even though a fresh id set would pass it.
    const restored = PartitionState.fromBlob(s.toBlob(), OPTIONS);
    assert.equal(restored.admit(ev('b', 'x', 1_000), 10), 'behind');
    assert.equal(restored.totals.applied, 1);
    assert.equal(restored.position, 11);
  });

  it('drops a repeated eventId at a new offset (a producer-side duplicate) within the time horizon, and passes it after', () => {
    const s = new PartitionState(0, OPTIONS);
    assert.equal(s.admit(ev('a', 'x', 0), 0), 'new');
    assert.equal(s.admit(ev('a', 'x', 0), 1), 'duplicate');
    assert.equal(s.totals.duplicates, 1);
    // Event time moves past the horizon: the old id is forgotten.
    assert.equal(s.admit(ev('b', 'x', 130_000), 2), 'new');
    assert.equal(s.rememberedIds, 1, 'the id older than the horizon was forgotten');
    assert.equal(s.admit(ev('a', 'x', 130_001), 3), 'new');
  });

  it('survives the blob round trip with totals, buckets and remembered ids', () => {
    const s = new PartitionState(4, OPTIONS);
    for (let i = 0; i < 50; i++) s.admit(ev(`e${i}`, i % 3 === 0 ? 'x' : 'y', i * 1_000), i);
    s.advance(50);
    const r = PartitionState.fromBlob(s.toBlob(), OPTIONS);
    assert.deepEqual(r.totals, s.totals);
    assert.deepEqual(r.allRecords(), s.allRecords());
    assert.equal(r.admit(ev('e7', 'x', 50_000), 50), 'duplicate', 'the id set came along');
  });

  it('refuses a damaged blob with REB_CHECKPOINT_CORRUPT', () => {
    const blob = new PartitionState(0, OPTIONS, 5).toBlob();
    blob[6] = 0x7b ^ 0xff;
    assert.throws(() => PartitionState.fromBlob(blob, OPTIONS), (err) => isRebalancerError(err, 'REB_CHECKPOINT_CORRUPT'));
    assert.throws(() => PartitionState.fromBlob(Buffer.alloc(2), OPTIONS), (err) => isRebalancerError(err, 'REB_CHECKPOINT_CORRUPT'));
  });

  it('publishes only changed buckets, evictions of buckets that left the window, and the totals', () => {
    const s = new PartitionState(1, OPTIONS);
    s.admit(ev('a', 'x', 0), 0);
    s.admit(ev('b', 'x', 60_000), 1);
    s.advance(2);
    const first = s.takeRecords();
    assert.deepEqual(first.map((r) => r.kind === 'totals' ? 'totals' : `${r.kind}:${r.bucket}`).sort(), ['bucket:0', 'bucket:1', 'totals']);
    s.admit(ev('c', 'y', 180_000), 2);
    s.advance(3);
    const second = s.takeRecords();
    assert.deepEqual(second.map((r) => r.kind === 'totals' ? 'totals' : `${r.kind}:${r.bucket}`).sort(), ['bucket:3', 'evict:0', 'totals']);
    const totals = second.find((r) => r.kind === 'totals');
    assert.ok(totals?.kind === 'totals' && totals.position === 3 && totals.applied === 3);
  });

  it('counts an event of a bucket older than the window in the totals and as late, not in a bucket', () => {
    const s = new PartitionState(0, OPTIONS);
    s.admit(ev('a', 'x', 600_000), 0);
    assert.equal(s.admit(ev('b', 'x', 0), 1), 'new');
    assert.equal(s.totals.late, 1);
    assert.equal(s.totals.byCategory.x, 2);
    assert.equal(s.allRecords().filter((r) => r.kind === 'bucket').length, 1);
  });
});

describe('PartitionStates', () => {
  it('counts records of a partition it does not own only with autoCreate', () => {
    assert.equal(new PartitionStates(OPTIONS).forRecords(3), undefined);
    assert.ok(new PartitionStates(OPTIONS, true).forRecords(3) instanceof PartitionState);
  });
});
