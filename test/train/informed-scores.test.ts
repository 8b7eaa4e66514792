/**
 * Informed undersampling in the service's terms: the balance adapter hands the composer each
 * fresh event's loss −log σ(s) under the model, so an undersampled category keeps its
 * lowest-logit events; it scores nothing with --undersampling uniform or ρ = 1; and the
 * trainer thread's snapshots are scored from a copy that outlives the transfer of the
 * original to the serving thread, at most one copy per interval.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng, SOURCE_FRESH } from '../../src/balance/index.js';
import { makeEvent, type InteractionEvent } from '../../src/codec/types.js';
import { loadConfig, type RawSettings } from '../../src/config/index.js';
import { createModel, IncrementalTrainer, takeSnapshot, type Interaction, type RecModel } from '../../src/model/index.js';
import { snapshotTransferList } from '../../src/model/snapshot.js';
import { BalanceAdapter, positiveLoss, type FreshScorer } from '../../src/train/balance-adapter.js';
import { SnapshotFreshScorer } from '../../src/train/informed-scores.js';

function event(rng: Rng, i: number, categoryId: string): InteractionEvent {
  return makeEvent({ eventId: `e${i}`, userId: `u${rng.int(50)}`, itemId: `${categoryId}-i${rng.int(100)}`, categoryId, type: 'click', eventTime: 1_000_000 + i });
}

/** An adapter warmed on 5,000 clicks of c0 70%, c1 20%, c2 10%, and 128 fresh events of the same mix (observed). */
function warmed(values: RawSettings): { adapter: BalanceAdapter; fresh: InteractionEvent[] } {
  const config = loadConfig({ layers: [{ source: 'override', origin: 'test', values: { batchSize: '128', weightPolicy: 'none', ...values } }] });
  const adapter = BalanceAdapter.create(config, new Rng(config.seed));
  const rng = new Rng(3);
  const category = (): string => {
    const u = rng.next();
    return u < 0.7 ? 'c0' : u < 0.9 ? 'c1' : 'c2';
  };
  for (let i = 0; i < 5_000; i++) adapter.observe(event(rng, i, category()));
  const fresh = Array.from({ length: 128 }, (_, i) => event(rng, 5_000 + i, category()));
  for (const e of fresh) adapter.observe(e);
  return { adapter, fresh };
}

/** Logits in (−6, 6), distinct, fixed per event id. */
function logitsOf(events: readonly InteractionEvent[]): Float32Array {
  return Float32Array.from(events, (e) => Math.fround(Math.sin(Number(e.eventId.slice(1)) * 12.9898) * 6));
}

function calledScorer(): { scorer: FreshScorer; calls: (readonly InteractionEvent[])[] } {
  const calls: (readonly InteractionEvent[])[] = [];
  return { calls, scorer: (events) => (calls.push(events), logitsOf(events)) };
}

function freshIds(batch: { items: readonly InteractionEvent[]; sources: Uint8Array }, categoryId: string): string[] {
  return batch.items.filter((e, i) => batch.sources[i] === SOURCE_FRESH && e.categoryId === categoryId).map((e) => e.eventId).sort();
}

describe('informed undersampling in the service', () => {
  it('positiveLoss is −log σ(s), finite at extreme logits and decreasing', () => {
    for (const s of [-8, -1, -0.1, 0, 0.3, 2, 9]) assert.ok(Math.abs(positiveLoss(s) + Math.log(1 / (1 + Math.exp(-s)))) < 1e-12, `s = ${s}`);
    assert.ok(Math.abs(positiveLoss(-1_000) - 1_000) < 1e-9);
    assert.equal(positiveLoss(1_000), 0);
    for (let s = -20; s < 20; s += 0.5) assert.ok(positiveLoss(s) > positiveLoss(s + 0.5));
  });

  it('with --undersampling informed the majority keeps its highest-loss (lowest-logit) fresh events', () => {
    const { adapter, fresh } = warmed({ undersampling: 'informed', targetMixRho: '0' });
    const { scorer, calls } = calledScorer();
    adapter.scoreWith(scorer);
    const batch = adapter.compose(fresh);
    assert.equal(calls.length, 1);
    assert.equal(calls[0], fresh, 'the scorer gets the fresh events');
    const kept = freshIds(batch, 'c0');
    const all = fresh.filter((e) => e.categoryId === 'c0');
    assert.ok(kept.length > 0 && kept.length < all.length, `c0 undersampled: kept ${kept.length} of ${all.length}`);
    const logits = logitsOf(all);
    const lowest = all
      .map((e, i) => ({ id: e.eventId, s: logits[i]! }))
      .sort((a, b) => a.s - b.s)
      .slice(0, kept.length)
      .map((x) => x.id)
      .sort();
    assert.deepEqual(kept, lowest);
    assert.deepEqual(adapter.undersampledBatches(), { informed: 1, uniform: 0 });
  });

  it('until a model can score (null), batches are undersampled uniformly', () => {
    const a = warmed({ undersampling: 'informed', targetMixRho: '0' });
    const b = warmed({ undersampling: 'uniform', targetMixRho: '0' });
    a.adapter.scoreWith(() => null);
    const x = a.adapter.compose(a.fresh);
    const y = b.adapter.compose(b.fresh);
    assert.deepEqual(x.items.map((e) => e.eventId), y.items.map((e) => e.eventId));
    assert.deepEqual(a.adapter.undersampledBatches(), { informed: 0, uniform: 1 });
  });

  it('scores nothing with --undersampling uniform, or at ρ = 1 (nothing is undersampled), and composes as without a scorer', () => {
    for (const values of [{ undersampling: 'uniform', targetMixRho: '0' }, { undersampling: 'informed', targetMixRho: '1' }]) {
      const a = warmed(values);
      const b = warmed(values);
      const { scorer, calls } = calledScorer();
      a.adapter.scoreWith(scorer);
      const x = a.adapter.compose(a.fresh);
      const y = b.adapter.compose(b.fresh);
      assert.equal(calls.length, 0, JSON.stringify(values));
      assert.deepEqual(x.items.map((e) => e.eventId), y.items.map((e) => e.eventId));
      assert.deepEqual(Array.from(x.weights), Array.from(y.weights));
    }
  });
});

describe('SnapshotFreshScorer', () => {
  function trained(seed: number): RecModel {
    const rng = new Rng(seed);
    const model = createModel({ userRows: 256, itemRows: 512, categoryRows: 16, gmfDim: 8, mlpDim: 8, mlpLayers: [16, 8], wideFeatures: true }, rng.fork());
    const t = new IncrementalTrainer(model, { negativesPerPositive: 2, evalCandidates: 10, evalMaxPerStep: 4 }, rng.fork());
    for (let s = 0; s < 4; s++) {
      const positives: Interaction[] = Array.from({ length: 32 }, () => {
        const c = rng.int(3);
        return { userId: `u${rng.int(50)}`, itemId: `c${c}-i${rng.int(100)}`, categoryId: `c${c}`, type: 'click' as const };
      });
      t.step(positives, new Float32Array(32).fill(1), () => 0.3);
    }
    return model;
  }

  it('scores the raw logits of a copy that outlives the transfer of the original; one copy per interval', () => {
    const model = trained(5);
    model.servingTau = 0.7; // served scores differ from the raw logits; the loss is on the raw ones
    const rng = new Rng(8);
    const events = Array.from({ length: 60 }, (_, i) => event(rng, i, `c${rng.int(3)}`));
    let now = 0;
    const s = new SnapshotFreshScorer(2_000, () => now);
    assert.equal(s.score(events), null, 'nothing to score with before the first snapshot');
    const first = takeSnapshot(model, { seq: 1, steps: 4 });
    s.offer(first);
    // The serving thread takes the original's buffers.
    structuredClone(first, { transfer: snapshotTransferList(first) });
    assert.equal(first.userTable.length, 0, 'the original was transferred');
    const raw = model.scorePairs(events);
    const got = s.score(events)!;
    for (let i = 0; i < events.length; i++) assert.ok(Math.abs(got[i]! - raw[i]!) <= 1e-5 * Math.max(1, Math.abs(raw[i]!)), `event ${i}: ${got[i]} vs raw ${raw[i]}`);
    // A different model's snapshot within the interval is not copied; after it, it is.
    const other = trained(6);
    now = 1_999;
    s.offer(takeSnapshot(other, { seq: 2, steps: 8 }));
    assert.deepEqual(Array.from(s.score(events)!), Array.from(got));
    now = 2_000;
    s.offer(takeSnapshot(other, { seq: 3, steps: 8 }));
    const otherRaw = other.scorePairs(events);
    const moved = s.score(events)!;
    for (let i = 0; i < events.length; i++) assert.ok(Math.abs(moved[i]! - otherRaw[i]!) <= 1e-5 * Math.max(1, Math.abs(otherRaw[i]!)));
    model.dispose();
    other.dispose();
  });
});
