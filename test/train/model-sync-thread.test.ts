/**
 * Model sync through the trainer's worker thread (TrainerThread.exportChanges / applyChanges):
 * what one replica trained reaches another's served parameters, and a blend survives a
 * worker crash (it is journaled and replayed in order with the batches).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Rng } from '../../src/balance/index.js';
import type { InteractionEvent } from '../../src/codec/index.js';
import { defaultConfig } from '../../src/config/index.js';
import type { ModelSnapshot } from '../../src/model/snapshot.js';
import { BalanceAdapter, type EventBatch } from '../../src/train/balance-adapter.js';
import { createGenerator } from '../../src/offline/generate.js';
import { limitTensorFlowThreads } from '../../src/train/tf-threads.js';
import { TrainerThread } from '../../src/train/trainer-thread.js';

limitTensorFlowThreads(process.env, 2);

const CONFIG = defaultConfig({ modelUserRows: 2048, modelItemRows: 2048, modelDim: 8, batchSize: 64, maxMicroLoss: 0, seed: 11 });

/** Composed batches of one instance's events (its own generator seed: other users, other items). */
class Feed {
  readonly balance = BalanceAdapter.create(CONFIG, new Rng(1));
  private readonly gen;
  constructor(seed: number) {
    this.gen = createGenerator({ profile: 'realistic', seed, events: 1_000_000 });
  }
  readonly prior = (c: string): number => this.balance.prior(c);
  next(t: TrainerThread): EventBatch {
    const fresh: InteractionEvent[] = [];
    while (fresh.length < CONFIG.batchSize) {
      const e = this.gen.next();
      this.balance.observe(e);
      if (t.trainsOn(e.type)) fresh.push(e);
    }
    return this.balance.compose(fresh);
  }
}

const threads: TrainerThread[] = [];
afterEach(async () => {
  await Promise.all(threads.splice(0).map((t) => t.stop().catch(() => {})));
});

async function replica(feed: Feed): Promise<TrainerThread> {
  // The same seed on every instance: the replicas start from the same parameters.
  const t = await TrainerThread.create({ config: CONFIG, rng: new Rng(CONFIG.seed), prior: feed.prior, snapshotIntervalMs: 0, log: () => {}, now: () => performance.now() });
  threads.push(t);
  return t;
}

/** Waits for a served snapshot newer than `seq` (and, if given, with at least `steps` steps). */
async function servedAfter(t: TrainerThread, seq: number, steps = 0): Promise<ModelSnapshot> {
  const until = performance.now() + 60_000;
  for (;;) {
    const s = t.servedSnapshot();
    if (s !== null && s.seq > seq && s.steps >= steps) return s;
    if (performance.now() > until) throw new Error(`no snapshot after seq ${seq} (serving ${s?.seq})`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function rowOf(table: Float32Array, r: number, width: number): Float32Array {
  return table.slice(r * width, (r + 1) * width);
}

describe('model sync through the trainer thread', () => {
  it('rows, dense weights and positives one replica trained are served by another, and the blend survives a worker crash', async () => {
    const feedA = new Feed(101);
    const feedB = new Feed(202);
    const a = await replica(feedA);
    const b = await replica(feedB);
    for (let i = 0; i < 3; i++) await a.train(feedA.next(a));
    const changes = await a.exportChanges(true);
    const width = changes.width;
    assert.ok(changes.tables[0].rows.length > 0 && changes.tables[1].rows.length > 0, 'user and item rows sent');
    assert.ok(changes.denseSamples > 0 && changes.dense !== null);
    assert.ok(changes.positives.users.length >= 3 * CONFIG.batchSize * 0.5, `${changes.positives.users.length} positives`);
    const nothing = await a.exportChanges(true);
    assert.deepEqual(nothing.tables.map((t) => t.rows.length), [0, 0, 0], 'nothing trained since: nothing sent');
    assert.equal(nothing.positives.users.length, 0);

    const seqBefore = b.servedSnapshot()!.seq;
    const report = await b.applyChanges(changes);
    const rows = changes.tables.reduce((s, t) => s + t.rows.length, 0);
    assert.equal(report.replaced, rows, 'B had trained nothing: every row is taken over');
    assert.equal(report.positives, changes.positives.users.length);
    assert.ok(report.dense);
    const served = await servedAfter(b, seqBefore);
    const fromA = await servedAfter(a, -1, a.steps);
    changes.tables[0].rows.forEach((r, i) => {
      assert.deepEqual(rowOf(served.userTable, r, width), changes.tables[0].values.slice(i * width, (i + 1) * width), `user row ${r}`);
      assert.deepEqual(rowOf(served.userTable, r, width), rowOf(fromA.userTable, r, width), `user row ${r} as A serves it`);
    });
    served.dense.forEach((d, i) => assert.deepEqual(d, fromA.dense[i]));
    const sum = (x: Float32Array): number => x.reduce((s, v) => s + v, 0);
    assert.equal(sum(served.features!.itemTotal), sum(fromA.features!.itemTotal), 'B counted A\'s positives');

    // B trains on after the blend; a crash then replays [blend, batch] in order onto the base.
    await b.train(feedB.next(b));
    const beforeCrash = await servedAfter(b, served.seq, b.steps);
    b.crash();
    const deadline = performance.now() + 60_000;
    while (b.stats().workerRestarts < 1) {
      if (performance.now() > deadline) throw new Error('the worker was not restarted');
      await new Promise((r) => setTimeout(r, 10));
    }
    const afterCrash = await servedAfter(b, beforeCrash.seq, beforeCrash.steps);
    assert.deepEqual(afterCrash.userTable, beforeCrash.userTable);
    assert.deepEqual(afterCrash.itemTable, beforeCrash.itemTable);
    afterCrash.dense.forEach((d, i) => assert.deepEqual(d, beforeCrash.dense[i]));
    assert.deepEqual(afterCrash.features!.itemTotal, beforeCrash.features!.itemTotal);
  });
});
