/**
 * The model-sync measurement (src/offline/sync-sim.ts): its single instance is exactly the
 * backtest's `service` row on the same events (it reuses the harness, it does not imitate
 * it), every user's events go to one replica in stream order, every positive is evaluated
 * once by its owner, and the replica tallies merge into the figures the backtest reports.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeEvent, type InteractionEvent } from '../../src/codec/types.js';
import { runBacktest, type EventStream } from '../../src/offline/backtest.js';
import type { ChunkView } from '../../src/offline/backtest-runner.js';
import { createGenerator } from '../../src/offline/generate.js';
import { STRATEGIES } from '../../src/offline/strategies.js';
import { hitRates, mergeTallies, runSyncSim, splitByUser } from '../../src/offline/sync-sim.js';
import type { TallyData } from '../../src/offline/backtest-tally.js';

const EVENTS = 4_000;
const SEED = 5;

describe('sync simulation', () => {
  it('the single instance is the backtest\'s service row; replicas evaluate the same positives; sync changes their figures', async () => {
    const sim = runSyncSim({ seed: SEED, events: EVENTS, plans: [{ every: null }, { every: 'step' }] });
    const stream: EventStream = {
      total: EVENTS,
      *events() {
        const g = createGenerator({ profile: 'realistic', seed: SEED, events: EVENTS, skew: 100 });
        for (let i = 0; i < EVENTS; i++) yield g.next();
      },
    };
    const service = STRATEGIES.find((s) => s.name === 'service')!;
    // No probes: their draws from the candidate pool would change the candidates.
    const bt = await runBacktest(stream, [service], { seed: SEED, probes: 0, workers: 1, harnessSettings: { seed: String(SEED) } });
    const [single, off, step] = sim.rows as [(typeof sim.rows)[0], (typeof sim.rows)[0], (typeof sim.rows)[0]];
    assert.ok(single.evaluated > 500, `${single.evaluated} evaluated`);
    assert.equal(single.evaluated, bt.strategies[0]!.evaluated);
    assert.equal(single.microHr, bt.strategies[0]!.microHr);
    // The same per-category means, summed in another order.
    assert.ok(Math.abs(single.macroHr - bt.strategies[0]!.macroHr) < 1e-12);
    for (const r of bt.references) assert.equal(sim.references.find((x) => x.name === `${r.name} (ref)`)!.microHr, r.microHr);
    assert.equal(off.evaluated, single.evaluated);
    assert.equal(step.evaluated, single.evaluated);
    assert.equal(off.publishes, 0);
    assert.ok(step.publishes > 0 && step.bytes > 0 && step.rows > 0);
    assert.notEqual(step.microHr, off.microHr);
  });

  it('splitting by user keeps each user on one part, in stream order, with its evaluation slots', () => {
    const users = ['u1', 'u2', 'u3', 'u4', 'u5'];
    const events: InteractionEvent[] = Array.from({ length: 40 }, (_, i) =>
      makeEvent({ eventId: `e${i}`, userId: users[(i * 7) % users.length]!, itemId: `i${i}`, categoryId: 'c', type: 'click', eventTime: i, extra: {} }),
    );
    const view: ChunkView = {
      start: 0,
      events,
      categories: Int32Array.from(events, (_, i) => i % 3),
      types: new Uint8Array(events.length),
      evalSlot: Int32Array.from(events, (_, i) => (i % 4 === 0 ? i / 4 : -1)),
      candidates: new Int32Array(0),
      probes: new Map(),
    };
    const owner = (u: string): number => Number(u.slice(1)) % 2;
    const parts = splitByUser(view, owner, 2);
    assert.equal(parts[0]!.events.length + parts[1]!.events.length, events.length);
    parts.forEach((p, k) => {
      assert.ok(p.events.every((e) => owner(e.userId) === k));
      const idx = p.events.map((e) => events.indexOf(e));
      assert.deepEqual(idx, [...idx].sort((a, b) => a - b));
      idx.forEach((i, j) => {
        assert.equal(p.evalSlot[j], view.evalSlot[i]);
        assert.equal(p.categories[j], view.categories[i]);
      });
    });
  });

  it('merged tallies give micro over all evaluations and macro over categories', () => {
    const t = (catN: number[], catHit: number[]): TallyData => ({
      n: catN.reduce((s, x) => s + x, 0),
      hit: catHit.reduce((s, x) => s + x, 0),
      ndcg: 0,
      auc: 0,
      catN,
      catHit,
      catNdcg: catN.map(() => 0),
      catAuc: catN.map(() => 0),
      recommended: catN.map(() => 0),
      recSlots: 0,
      series: [],
    });
    const merged = mergeTallies([t([10, 0], [5, 0]), t([10, 4, 2], [1, 4, 0])]);
    assert.deepEqual(merged.catN, [20, 4, 2]);
    const hr = hitRates(merged);
    assert.equal(hr.micro, 10 / 26);
    assert.equal(hr.macro, (6 / 20 + 1 + 0) / 3);
  });
});
