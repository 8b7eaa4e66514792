/**
 * The Checkpointer's at-least-once ordering, with fakes for its dependencies and a real
 * CheckpointStore in a temp directory: capture, then the dead letters flushed, then the
 * checkpoint (model included) on disk, then beforeCommit, and only then the commit; a step
 * that fails commits nothing; overlapping triggers (calls or timer ticks) never interleave.
 * checkpointer-age.test.ts covers the age metric, checkpointer-skip.test.ts the idle skip.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it, mock } from 'node:test';
import { Registry } from 'prom-client';
import { createServiceMetrics } from '../../src/metrics/index.js';
import { CheckpointStore } from '../../src/state/checkpoint-store.js';
import { Checkpointer, checkpointMetaSchema, type CheckpointContent, type CheckpointMeta, type CheckpointerOptions } from '../../src/state/checkpointer.js';
import { settle, until } from '../helpers/turns.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}

function deferred(): Deferred {
  let resolve: () => void = () => {};
  let reject: (err: Error) => void = () => {};
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** One Checkpointer over a real store; every step appends to `steps`. */
class Harness {
  readonly steps: string[] = [];
  readonly commits: Array<Record<string, number>> = [];
  readonly logs: string[] = [];
  readonly registry = new Registry();
  readonly store: CheckpointStore<CheckpointMeta>;
  readonly checkpointer: Checkpointer;
  /** The live position, read by capture (a checkpoint holds what it was at capture). */
  position = 10;
  private captures = 0;
  flush: () => Promise<void> = async () => {};
  writeModel: ((tmp: string) => Promise<void>) | undefined;
  beforeCommit: (() => Promise<void>) | undefined;
  commitPositions: ReadonlyMap<number, number> | undefined;
  commitFails: Error | undefined;

  constructor(extra: Partial<CheckpointerOptions> = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'rebalancer-ckpt-order-'));
    dirs.push(dir);
    this.store = new CheckpointStore({ dir, keep: 10, meta: checkpointMetaSchema, now: () => 5_000, log: (m) => this.logs.push(m) });
    this.checkpointer = new Checkpointer({
      store: this.store,
      capture: () => this.capture(),
      flushDeadLetters: async () => {
        this.steps.push(`flush#${this.captures}`);
        await this.flush();
        this.steps.push(`flushed#${this.captures}`);
      },
      commit: async (positions) => {
        const c = Object.fromEntries([...positions].map(([p, o]) => [String(p), o]));
        this.steps.push(`commit ${JSON.stringify(c)}`);
        if (this.commitFails) throw this.commitFails;
        this.commits.push(c);
      },
      metrics: createServiceMetrics({ registry: this.registry, collectDefault: false }),
      now: () => 5_000,
      log: (m) => this.logs.push(m),
      ...extra,
    });
  }

  private capture(): CheckpointContent {
    const n = ++this.captures;
    this.steps.push(`capture#${n} p0=${this.position}`);
    const writeModel = this.writeModel;
    const beforeCommit = this.beforeCommit;
    return {
      meta: { topic: 'events', positions: { '0': this.position }, modelVersion: `v${n}` },
      files: new Map([['state.bin', Buffer.from(`state at ${this.position}`)]]),
      writeModel: async (tmp) => {
        this.steps.push(`model#${n}`);
        await writeFile(join(tmp, 'model.bin'), `model ${n}`);
        await writeModel?.(tmp);
      },
      ...(beforeCommit === undefined ? {} : { beforeCommit: async () => {
        this.steps.push(`beforeCommit#${n}`);
        await beforeCommit();
      } }),
      ...(this.commitPositions === undefined ? {} : { commitPositions: this.commitPositions }),
    };
  }

  /** The newest checkpoint on disk: its model version and position of partition 0. */
  async onDisk(): Promise<{ seq: number; modelVersion: string | null; p0: number | undefined } | undefined> {
    const c = await this.store.loadLatest();
    return c === undefined ? undefined : { seq: c.manifest.seq, modelVersion: c.manifest.meta.modelVersion, p0: c.manifest.meta.positions['0'] };
  }

  async metric(name: string): Promise<number> {
    const line = (await this.registry.metrics()).split('\n').find((l) => l.startsWith(`${name} `));
    return Number(line?.split(' ')[1]);
  }
}

describe('checkpointer: the order of its steps', { timeout: 20_000 }, () => {
  it('captures, flushes dead letters, writes the checkpoint (model inside), runs beforeCommit, and only then commits what is on disk', async () => {
    const h = new Harness();
    const seenAtCommit: Array<Awaited<ReturnType<Harness['onDisk']>>> = [];
    h.beforeCommit = async () => {
      seenAtCommit.push(await h.onDisk());
    };
    await h.checkpointer.checkpoint();
    assert.deepEqual(h.steps, ['capture#1 p0=10', 'flush#1', 'flushed#1', 'model#1', 'beforeCommit#1', 'commit {"0":10}']);
    assert.deepEqual(seenAtCommit, [{ seq: 1, modelVersion: 'v1', p0: 10 }], 'before the commit, the checkpoint holding those offsets verifies on disk');
    const loaded = await h.store.loadLatest();
    assert.equal((await loaded!.readFile('model.bin')).toString(), 'model 1');
    assert.deepEqual(h.checkpointer.committedOffsets, { '0': 10 });
    assert.equal(h.checkpointer.lastSequence, 1);
    assert.equal(h.checkpointer.lastCheckpointAt, 5_000);
    assert.equal(await h.metric('rebalancer_checkpoints_total'), 1);
  });

  it('commits the positions captured, not those reached while the checkpoint was being written', async () => {
    const h = new Harness();
    h.flush = async () => {
      h.position = 99; // events keep arriving meanwhile
    };
    h.writeModel = async () => {
      h.position = 150;
    };
    await h.checkpointer.checkpoint();
    assert.deepEqual(h.commits, [{ '0': 10 }]);
    assert.deepEqual(await h.onDisk(), { seq: 1, modelVersion: 'v1', p0: 10 });
  });

  it('commits commitPositions when given (the owned partitions), the checkpoint keeping meta.positions; committedOffsets keeps the other partitions', async () => {
    const h = new Harness();
    await h.checkpointer.checkpoint();
    h.commitPositions = new Map([[3, 7], [4, 8]]);
    await h.checkpointer.checkpoint();
    assert.deepEqual(h.commits, [{ '0': 10 }, { '3': 7, '4': 8 }]);
    assert.deepEqual(h.checkpointer.committedOffsets, { '0': 10, '3': 7, '4': 8 });
    assert.deepEqual(await h.onDisk(), { seq: 2, modelVersion: 'v2', p0: 10 });
  });

  it('writes nothing and commits nothing until the dead letters of the captured offsets are acknowledged', async () => {
    const h = new Harness();
    const dlq = deferred();
    h.flush = () => dlq.promise;
    const run = h.checkpointer.checkpoint();
    await settle();
    assert.deepEqual(h.steps, ['capture#1 p0=10', 'flush#1']);
    assert.equal(await h.onDisk(), undefined, 'no checkpoint on disk');
    dlq.resolve();
    await run;
    assert.deepEqual(h.steps.slice(2), ['flushed#1', 'model#1', 'commit {"0":10}']);
  });
});

describe('checkpointer: a failed step commits nothing', { timeout: 20_000 }, () => {
  const failures: Array<{ title: string; arm(h: Harness): void; onDisk: boolean; lastStep: string }> = [
    { title: 'the dead letters fail to flush', arm: (h) => (h.flush = async () => Promise.reject(new Error('dlq down'))), onDisk: false, lastStep: 'flush#2' },
    { title: 'the model save fails', arm: (h) => (h.writeModel = async () => Promise.reject(new Error('model save failed'))), onDisk: false, lastStep: 'model#2' },
    { title: 'beforeCommit (the changelog) fails', arm: (h) => (h.beforeCommit = async () => Promise.reject(new Error('changelog write failed'))), onDisk: true, lastStep: 'beforeCommit#2' },
  ];
  for (const f of failures) {
    it(`${f.title}: checkpoint() rejects, no commit, the committed offsets stay; the next checkpoint commits`, async () => {
      const h = new Harness();
      await h.checkpointer.checkpoint();
      h.position = 20;
      f.arm(h);
      await assert.rejects(h.checkpointer.checkpoint(), /dlq down|model save failed|changelog write failed/);
      assert.equal(h.steps.at(-1), f.lastStep, h.steps.join(' → '));
      assert.ok(!h.steps.some((s) => s.startsWith('commit {"0":20}')), 'offsets 20 never committed');
      assert.deepEqual(h.commits, [{ '0': 10 }]);
      assert.deepEqual(h.checkpointer.committedOffsets, { '0': 10 });
      // The checkpoint on disk: still the first one, or (beforeCommit failed) the second, uncommitted.
      assert.deepEqual(await h.onDisk(), f.onDisk ? { seq: 2, modelVersion: 'v2', p0: 20 } : { seq: 1, modelVersion: 'v1', p0: 10 });
      assert.equal(await h.metric('rebalancer_checkpoints_total'), f.onDisk ? 2 : 1);

      h.flush = async () => {};
      h.writeModel = undefined;
      h.beforeCommit = undefined;
      await h.checkpointer.checkpoint();
      assert.deepEqual(h.commits, [{ '0': 10 }, { '0': 20 }]);
      assert.deepEqual(h.checkpointer.committedOffsets, { '0': 20 });
    });
  }

  it('a failed commit is logged, not thrown: the checkpoint stands, committedOffsets stay, and the next one commits again', async () => {
    const h = new Harness();
    h.commitFails = new Error('not the group leader');
    await h.checkpointer.checkpoint();
    assert.deepEqual(h.checkpointer.committedOffsets, {});
    assert.deepEqual(h.logs, ['offset commit after checkpoint 1 failed: not the group leader']);
    assert.equal(h.checkpointer.lastSequence, 1);
    h.commitFails = undefined;
    h.position = 12;
    await h.checkpointer.checkpoint();
    assert.deepEqual(h.commits, [{ '0': 12 }]);
    assert.deepEqual(h.checkpointer.committedOffsets, { '0': 12 });
  });
});

describe('checkpointer: overlapping triggers do not interleave', { timeout: 20_000 }, () => {
  afterEach(() => mock.timers.reset());

  it('calls made while one runs wait for it, then run one after another, each whole', async () => {
    const h = new Harness();
    const gates = [deferred(), deferred(), deferred()];
    let flushes = 0;
    h.flush = () => gates[flushes++]!.promise;
    const first = h.checkpointer.checkpoint();
    await settle();
    h.position = 11;
    const second = h.checkpointer.checkpoint();
    h.position = 12;
    const third = h.checkpointer.checkpoint();
    await settle();
    assert.deepEqual(h.steps, ['capture#1 p0=10', 'flush#1'], 'the others capture nothing while the first runs');
    gates[0]!.resolve();
    await first;
    await until('the second capture', () => h.steps.length > 5);
    gates[1]!.resolve();
    gates[2]!.resolve();
    await Promise.all([second, third]);
    const run = (n: number, p: number): string[] => [`capture#${n} p0=${p}`, `flush#${n}`, `flushed#${n}`, `model#${n}`, `commit {"0":${p}}`];
    assert.deepEqual(h.steps, [...run(1, 10), ...run(2, 12), ...run(3, 12)]);
    assert.deepEqual(await h.onDisk(), { seq: 3, modelVersion: 'v3', p0: 12 });
  });

  it('a call waiting behind a failing one still runs', async () => {
    const h = new Harness();
    const gate = deferred();
    h.flush = () => gate.promise;
    const failing = h.checkpointer.checkpoint();
    await settle();
    const next = h.checkpointer.checkpoint();
    h.flush = async () => {};
    gate.reject(new Error('dlq down'));
    await assert.rejects(failing, /dlq down/);
    await next;
    assert.deepEqual(h.commits, [{ '0': 10 }]);
    assert.equal(h.steps.filter((s) => s.startsWith('capture')).length, 2);
  });

  it('timer ticks during a running checkpoint start none (no catch-up burst after), and a failure is reported then cleared', async () => {
    mock.timers.enable({ apis: ['setInterval'] });
    const h = new Harness();
    const gate = deferred();
    h.flush = () => gate.promise;
    h.checkpointer.start(1_000);
    try {
      mock.timers.tick(1_000);
      await settle();
      assert.deepEqual(h.steps, ['capture#1 p0=10', 'flush#1']);
      mock.timers.tick(5_000); // five ticks while the first is stuck on the dead letters
      await settle();
      assert.equal(h.steps.filter((s) => s.startsWith('capture')).length, 1);
      gate.reject(new Error('dlq down'));
      await until('the failure recorded', () => h.checkpointer.lastFailure !== undefined);
      assert.equal(h.checkpointer.lastFailure, 'dlq down');
      assert.deepEqual(h.logs, ['checkpoint failed: dlq down']);
      assert.deepEqual(h.commits, []);
      await settle();
      assert.equal(h.steps.filter((s) => s.startsWith('capture')).length, 1, 'the skipped ticks are not replayed');

      h.flush = async () => {};
      mock.timers.tick(1_000);
      await until('the next tick commits', () => h.commits.length === 1);
      await settle();
      assert.equal(h.checkpointer.lastFailure, undefined, 'cleared by a success');
      assert.equal(h.steps.filter((s) => s.startsWith('capture')).length, 2);
      h.checkpointer.stopTimer();
      mock.timers.tick(10_000);
      await settle();
      assert.equal(h.steps.filter((s) => s.startsWith('capture')).length, 2, 'stopTimer stops the ticks');
    } finally {
      h.checkpointer.stopTimer();
    }
  });
});
