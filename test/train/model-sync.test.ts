/**
 * Model sync, the pure part (src/train/model-sync.ts, model-sync-codec.ts, model-sync-loop.ts):
 * the sample-weighted blend against a direct computation of the weighted mean, delta mode
 * against the sum of every replica's own change, the count features against one instance
 * that counted every positive, what is (not) sent, the wire format through 64 KiB chunks,
 * and the loop ignoring its own updates. No TensorFlow: parameters are plain arrays.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/balance/rng.js';
import { isRebalancerError } from '../../src/errors.js';
import { StreamFeatures } from '../../src/model/features.js';
import type { BatchRows } from '../../src/model/neumf.js';
import { ChunkAssembler, MAX_CHUNK_BYTES, chunkUpdate, decodeChanges, encodeChanges, updateChunks, type ModelUpdate } from '../../src/train/model-sync-codec.js';
import { ModelSync, type SyncTarget, type SyncTransport } from '../../src/train/model-sync-loop.js';
import { SyncTracker, type ModelChanges, type SyncMode, type SyncParams } from '../../src/train/model-sync.js';

const WIDTH = 4;
const ROWS: [number, number, number] = [12, 10, 3];
const DENSE = [6, 2];

/** A replica's parameters: every replica starts from the same values (the service seeds them alike). */
function params(seed = 7, features: StreamFeatures | null = null): SyncParams {
  const rng = new Rng(seed);
  const fill = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());
  return { width: WIDTH, tables: [fill(ROWS[0] * WIDTH), fill(ROWS[1] * WIDTH), fill(ROWS[2] * WIDTH)], dense: DENSE.map(fill), features };
}

interface Replica {
  p: SyncParams;
  t: SyncTracker;
}

function replica(mode: SyncMode = 'average', features: StreamFeatures | null = null): Replica {
  const p = params(7, features);
  return { p, t: new SyncTracker(p, mode) };
}

/** One optimizer step as the tracker sees it: `samples` samples of (user, item, category) rows. */
function rows(samples: Array<[number, number, number]>): BatchRows {
  return { users: Int32Array.from(samples, (s) => s[0]), items: Int32Array.from(samples, (s) => s[1]), categories: Int32Array.from(samples, (s) => s[2]), length: samples.length };
}

/** A step: counts the samples and moves their rows (and the dense weights) by random amounts, as an optimizer would. */
function train(r: Replica, samples: Array<[number, number, number]>, rng: Rng): void {
  r.t.record(rows(samples));
  for (let t = 0; t < 3; t++) {
    for (const r0 of new Set(samples.map((s) => s[t]))) for (let d = 0; d < WIDTH; d++) r.p.tables[t]![r0 * WIDTH + d]! += rng.normal();
  }
  for (const a of r.p.dense) for (let i = 0; i < a.length; i++) a[i]! += rng.normal();
}

function row(p: SyncParams, table: number, r: number): Float32Array {
  return p.tables[table]!.slice(r * WIDTH, (r + 1) * WIDTH);
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = 1e-5): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < actual.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol * Math.max(1, Math.abs(expected[i]!)), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

const mix = (parts: Array<{ n: number; v: ArrayLike<number> }>): number[] => {
  const total = parts.reduce((s, x) => s + x.n, 0);
  return Array.from({ length: parts[0]!.v.length }, (_, d) => parts.reduce((s, x) => s + x.n * x.v[d]!, 0) / total);
};

describe('sample-weighted blend', () => {
  it('blending two replicas with counts n1, n2 gives the weighted mean, on both sides', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rng = new Rng(seed);
      const a = replica();
      const b = replica();
      const n1 = 1 + rng.int(9);
      const n2 = 1 + rng.int(9);
      // Item row 4 and category row 1 trained by both; user rows by their own replica only.
      train(a, Array.from({ length: n1 }, () => [2, 4, 1]), rng);
      train(b, Array.from({ length: n2 }, () => [7, 4, 1]), rng);
      const va = { item: row(a.p, 1, 4), dense: a.p.dense.map((d) => d.slice()) };
      const vb = { item: row(b.p, 1, 4), dense: b.p.dense.map((d) => d.slice()) };
      const fromA = a.t.take(a.p, true);
      const fromB = b.t.take(b.p, true);
      assert.deepEqual([...fromA.tables[1].counts], [n1]);
      assert.equal(fromA.denseSamples, n1);
      a.t.blend(a.p, fromB);
      b.t.blend(b.p, fromA);
      const expected = mix([{ n: n1, v: va.item }, { n: n2, v: vb.item }]);
      assertClose(row(a.p, 1, 4), expected, `seed ${seed}: item row on A`);
      assertClose(row(b.p, 1, 4), expected, `seed ${seed}: item row on B`);
      va.dense.forEach((d, i) => {
        const want = mix([{ n: n1, v: d }, { n: n2, v: vb.dense[i]! }]);
        assertClose(a.p.dense[i]!, want, `seed ${seed}: dense ${i} on A`);
        assertClose(b.p.dense[i]!, want, `seed ${seed}: dense ${i} on B`);
      });
    }
  });

  it('a round of three replicas gives Σ n_i·v_i / Σ n_i whatever order each blends the others in', () => {
    const rng = new Rng(3);
    const reps = [replica(), replica(), replica()];
    const counts = [3, 5, 8];
    reps.forEach((r, i) => train(r, Array.from({ length: counts[i]! }, () => [i, 6, 2]), rng));
    const values = reps.map((r) => row(r.p, 1, 6));
    const updates = reps.map((r) => r.t.take(r.p, true));
    const orders = [[1, 2], [2, 0], [1, 0]];
    reps.forEach((r, i) => {
      for (const j of orders[i]!) r.t.blend(r.p, updates[j]!);
    });
    const expected = mix(counts.map((n, i) => ({ n, v: values[i]! })));
    reps.forEach((r, i) => assertClose(row(r.p, 1, 6), expected, `replica ${i}`));
  });

  it('a row only the sender trained arrives as sent (a user of its partitions)', () => {
    const rng = new Rng(4);
    const a = replica();
    const b = replica();
    train(a, [[9, 0, 0], [9, 0, 0]], rng);
    const sent = row(a.p, 0, 9);
    b.t.blend(b.p, a.t.take(a.p, false));
    assert.deepEqual(row(b.p, 0, 9), sent);
  });

  it('rows not trained since the last publish are not sent, and blended rows are not sent back', () => {
    const rng = new Rng(5);
    const a = replica();
    const b = replica();
    train(a, [[1, 3, 0], [4, 3, 0], [1, 5, 0]], rng);
    const first = a.t.take(a.p, false);
    assert.deepEqual([...first.tables[0].rows], [1, 4]);
    assert.deepEqual([...first.tables[0].counts], [2, 1]);
    assert.deepEqual([...first.tables[1].rows], [3, 5]);
    assert.equal(first.dense, null);
    const again = a.t.take(a.p, true);
    assert.deepEqual(again.tables.map((t) => t.rows.length), [0, 0, 0]);
    // The dense weights go with the samples since the last publish that carried them.
    assert.equal(again.denseSamples, 3);
    assert.equal(a.t.take(a.p, true).denseSamples, 0);
    // B blends A's rows and trains one of its own: it sends only its own.
    b.t.blend(b.p, first);
    train(b, [[8, 9, 2]], rng);
    const fromB = b.t.take(b.p, false);
    assert.deepEqual(fromB.tables.map((t) => [...t.rows]), [[8], [9], [2]]);
  });

  it('an update that does not fit the model is refused and changes nothing', () => {
    const rng = new Rng(6);
    const a = replica();
    const b = replica();
    train(a, [[1, 2, 0]], rng);
    const good = a.t.take(a.p, true);
    const before = b.p.tables.map((t) => t.slice());
    const beyond: ModelChanges = { ...good, tables: [{ rows: Int32Array.of(1, 99), counts: Float32Array.of(1, 1), values: new Float32Array(2 * WIDTH) }, good.tables[1], good.tables[2]] };
    const wide: ModelChanges = { ...good, dense: [new Float32Array(7), new Float32Array(2)] };
    for (const bad of [beyond, wide, { ...good, kind: 'deltas' as const }]) {
      assert.throws(() => b.t.blend(b.p, bad), (e: unknown) => isRebalancerError(e, 'REB_MODEL_INVALID'));
      b.p.tables.forEach((t, i) => assert.deepEqual(t, before[i]));
    }
  });
});

describe('delta mode', () => {
  it('every replica ends with the start plus every replica\'s own change, published concurrently or one after another', () => {
    for (const staggered of [false, true]) {
      const rng = new Rng(staggered ? 8 : 9);
      const reps = [replica('delta'), replica('delta'), replica('delta')];
      const start = params();
      const sum = start.tables.map((t) => t.slice());
      const denseSum = start.dense.map((d) => d.slice());
      const publish = (i: number): ModelChanges => {
        const r = reps[i]!;
        const before = r.p.tables.map((t) => t.slice());
        const denseBefore = r.p.dense.map((d) => d.slice());
        train(r, [[i, 4, 1], [i + 3, 4, 2]], rng);
        // Its own change (blends happened before `before`, so this is the step alone).
        r.p.tables.forEach((t, k) => t.forEach((v, j) => (sum[k]![j]! += v - before[k]![j]!)));
        r.p.dense.forEach((d, k) => d.forEach((v, j) => (denseSum[k]![j]! += v - denseBefore[k]![j]!)));
        return r.t.take(r.p, true);
      };
      if (staggered) {
        // Each replica blends what was published before it trains and publishes.
        const sent: ModelChanges[] = [];
        reps.forEach((r, i) => {
          for (const u of sent) r.t.blend(r.p, u);
          sent.push(publish(i));
        });
        reps.forEach((r, i) => sent.forEach((u, j) => j > i && r.t.blend(r.p, u)));
      } else {
        const sent = reps.map((_, i) => publish(i));
        reps.forEach((r, i) => sent.forEach((u, j) => j !== i && r.t.blend(r.p, u)));
      }
      reps.forEach((r, i) => {
        r.p.tables.forEach((t, k) => assertClose(t, sum[k]!, `${staggered ? 'staggered' : 'concurrent'}: replica ${i} table ${k}`, 1e-5));
        r.p.dense.forEach((d, k) => assertClose(d, denseSum[k]!, `replica ${i} dense ${k}`, 1e-5));
      });
    }
  });
});

describe('count features', () => {
  it('after a sync each replica counts every positive as one instance that saw them all', () => {
    const sizes = { userRows: ROWS[0], itemRows: ROWS[1], categoryRows: ROWS[2], pairRows: 64 };
    const single = new StreamFeatures(sizes, 50);
    const reps = [replica('average', new StreamFeatures(sizes, 50)), replica('average', new StreamFeatures(sizes, 50))];
    const rng = new Rng(10);
    for (let k = 0; k < 40; k++) {
      const r = reps[k % 2]!;
      const u = 2 * rng.int(6) + (k % 2);
      const i = rng.int(ROWS[1]);
      const c = rng.int(ROWS[2]);
      const f = r.p.features as StreamFeatures;
      r.t.recordPositive(u, i, c, f.positives);
      f.observe(u, i, c);
      single.observe(u, i, c);
    }
    const [a, b] = reps as [Replica, Replica];
    const fromA = a.t.take(a.p, false);
    const fromB = b.t.take(b.p, false);
    assert.equal(fromA.positives.users.length, 20);
    a.t.blend(a.p, fromB);
    b.t.blend(b.p, fromA);
    for (const r of reps) {
      const t = (r.p.features as StreamFeatures).tables;
      assert.deepEqual(t.itemTotal, single.tables.itemTotal);
      assert.deepEqual(t.userTotal, single.tables.userTotal);
      assert.deepEqual(t.userCategory, single.tables.userCategory);
      assert.deepEqual(t.userItem, single.tables.userItem);
      assert.equal(t.clock[0], 40);
      // Recent counts decay by position in the stream: the interleaving differs, the scale does not.
      const recent = (x: StreamFeatures): number => x.tables.itemRecent.reduce((s, v) => s + v, 0) / x.tables.clock[1]!;
      assert.ok(Math.abs(recent(r.p.features as StreamFeatures) - recent(single)) / recent(single) < 0.05);
    }
  });
});

describe('wire format', () => {
  function bigUpdate(seed: number, n: number): ModelChanges {
    const rng = new Rng(seed);
    const width = 32;
    const pick = (rows: number, k: number): Int32Array => Int32Array.from(new Set(Array.from({ length: k }, () => rng.int(rows)))).sort();
    const block = (rows: Int32Array): ModelChanges['tables'][0] => ({ rows, counts: Float32Array.from(rows, () => 1 + rng.int(50)), values: Float32Array.from({ length: rows.length * width }, () => rng.normal()) });
    const p = 30;
    return {
      kind: 'values',
      width,
      tables: [block(pick(65_536, n)), block(pick(65_536, n)), block(pick(1024, 20))],
      positives: { users: Int32Array.from({ length: p }, () => rng.int(65_536)), items: Int32Array.from({ length: p }, () => rng.int(65_536)), categories: Int32Array.from({ length: p }, () => rng.int(1024)), ages: Float32Array.from({ length: p }, () => rng.int(500)) },
      dense: [Float32Array.from({ length: 3072 }, () => rng.normal()), Float32Array.from({ length: 64 }, () => rng.normal())],
      denseSamples: 1280,
    };
  }

  it('an update round-trips through 64 KiB chunks, interleaved with another sender\'s, with repeated chunks', () => {
    const a: ModelUpdate = { instanceId: 'instance-a', seq: 4, createdAt: 1_700_000_000_123, changes: bigUpdate(1, 2000) };
    const b: ModelUpdate = { instanceId: 'instance-b', seq: 0, createdAt: 1_700_000_000_456, changes: { ...bigUpdate(2, 500), dense: null, denseSamples: 0, kind: 'deltas' } };
    const ca = updateChunks(a);
    const cb = updateChunks(b);
    assert.ok(ca.length >= 5, `${ca.length} chunks`);
    for (const c of [...ca, ...cb]) assert.ok(c.byteLength <= MAX_CHUNK_BYTES, `chunk of ${c.byteLength} bytes`);
    const assembler = new ChunkAssembler();
    const got: ModelUpdate[] = [];
    const order = [...ca.flatMap((c, i) => (i < cb.length ? [c, cb[i]!] : [c])), ca[1]!];
    for (const c of order) {
      const out = assembler.add(c);
      if (out.kind === 'complete') got.push({ instanceId: out.instanceId, seq: out.seq, createdAt: out.createdAt, changes: decodeChanges(out.body) });
    }
    assert.deepEqual(got.map((u) => u.instanceId).sort(), ['instance-a', 'instance-b']);
    assert.deepEqual(got.find((u) => u.instanceId === 'instance-a'), a);
    assert.deepEqual(got.find((u) => u.instanceId === 'instance-b'), b);
  });

  it('a newer update abandons an unfinished older one; an older one after a newer is stale; a restarted sender is heard again', () => {
    const body = encodeChanges(bigUpdate(3, 300));
    const assembler = new ChunkAssembler();
    const old = chunkUpdate({ instanceId: 'x', seq: 1, createdAt: 10 }, body, 4096);
    const next = chunkUpdate({ instanceId: 'x', seq: 2, createdAt: 20 }, body, 4096);
    assert.equal(assembler.add(old[0]!).kind, 'partial');
    const kinds = next.map((c) => assembler.add(c).kind);
    assert.equal(kinds.at(-1), 'complete');
    assert.equal(assembler.abandoned, 1);
    assert.equal(assembler.add(old[1]!).kind, 'stale');
    const restarted = chunkUpdate({ instanceId: 'x', seq: 0, createdAt: 30 }, body, 4096);
    assert.equal(restarted.map((c) => assembler.add(c).kind).at(-1), 'complete');
  });

  it('malformed bodies and chunks are REB_DECODE_INVALID', () => {
    const body = encodeChanges(bigUpdate(4, 50));
    const invalid = (e: unknown): boolean => isRebalancerError(e, 'REB_DECODE_INVALID');
    assert.throws(() => decodeChanges(body.subarray(0, body.length - 3)), invalid);
    assert.throws(() => decodeChanges(Uint8Array.from([...body, 0])), invalid);
    const badMagic = body.slice();
    badMagic[0] = 0;
    assert.throws(() => decodeChanges(badMagic), invalid);
    const chunks = chunkUpdate({ instanceId: 'y', seq: 1, createdAt: 1 }, body, 1024);
    assert.throws(() => new ChunkAssembler().add(chunks[0]!.subarray(0, 10)), invalid);
    // A chunk claiming another body size than its update's first chunk.
    const other = chunkUpdate({ instanceId: 'y', seq: 1, createdAt: 1 }, body.subarray(0, body.length - 4), 1024);
    const assembler = new ChunkAssembler();
    assembler.add(chunks[0]!);
    assert.throws(() => assembler.add(other[1]!), invalid);
  });
});

describe('the sync loop', () => {
  /** A transport that hands every published update to every started loop, the publisher's own included (as a topic does). */
  class Bus {
    readonly listeners: Array<(u: ModelUpdate, bytes: number) => void> = [];
    transport(): SyncTransport {
      return {
        start: (onUpdate) => {
          this.listeners.push(onUpdate);
          return Promise.resolve();
        },
        publish: (u) => {
          const bytes = encodeChanges(u.changes).byteLength;
          for (const l of this.listeners) l(u, bytes);
          return Promise.resolve({ bytes, chunks: 1 });
        },
        stop: () => Promise.resolve(),
      };
    }
  }

  class Target implements SyncTarget {
    readonly r = replica();
    applied: ModelChanges[] = [];
    exportChanges(dense: boolean): Promise<ModelChanges> {
      return Promise.resolve(this.r.t.take(this.r.p, dense));
    }
    applyChanges(changes: ModelChanges): Promise<ReturnType<SyncTracker['blend']>> {
      this.applied.push(changes);
      return Promise.resolve(this.r.t.blend(this.r.p, changes));
    }
  }

  it('a replica\'s own update is ignored; the others\' are blended; nothing trained means nothing sent', async () => {
    const bus = new Bus();
    let now = 1000;
    const loops = ['a', 'b'].map((id) => new ModelSync({ instanceId: id, transport: bus.transport(), intervalMs: 0, denseEvery: 2, now: () => now, log: () => {} }));
    const targets = [new Target(), new Target()];
    loops.forEach((l, i) => l.attach(targets[i]!));
    await Promise.all(loops.map((l) => l.start()));
    train(targets[0]!.r, [[1, 2, 0]], new Rng(11));
    await loops[0]!.publishNow();
    await loops[1]!.publishNow();
    await new Promise((r) => setImmediate(r));
    now += 2500;
    assert.equal(targets[0]!.applied.length, 0, 'a did not blend its own update');
    assert.equal(targets[1]!.applied.length, 1);
    assert.deepEqual(row(targets[1]!.r.p, 0, 1), row(targets[0]!.r.p, 0, 1));
    const [sa, sb] = loops.map((l) => l.stats());
    assert.equal(sa!.updatesSent, 1);
    assert.equal(sa!.updatesReceived, 0);
    assert.equal(sb!.updatesSkipped, 1);
    assert.equal(sb!.updatesReceived, 1);
    assert.equal(sb!.updatesApplied, 1);
    assert.equal(sb!.lastBlendAgeSeconds, 2.5);
    assert.ok(sa!.bytesSent > 0 && sa!.bytesSent === sb!.bytesReceived);
    // denseEvery 2: the first publish carried the dense weights, the second does not.
    train(targets[0]!.r, [[1, 2, 0]], new Rng(12));
    await loops[0]!.publishNow();
    await new Promise((r) => setImmediate(r));
    assert.notEqual(targets[1]!.applied[0]!.dense, null);
    assert.equal(targets[1]!.applied[1]!.dense, null);
    await Promise.all(loops.map((l) => l.stop()));
  });
});
