import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BalanceState, EVENT_TYPE_ORDER, Rng, SOURCE_FRESH, type BalanceConfig, type BalanceSnapshot } from '../../src/balance/index.js';
import type { EventType } from '../../src/codec/types.js';
import { RebalancerError } from '../../src/errors.js';
import { createGenerator } from '../../src/offline/generate.js';
import type { TestEvent } from './helpers.js';

const TRAINABLE: readonly EventType[] = ['click', 'add_to_cart', 'purchase'];
const BUCKETS = 20;
const WIDTH = 1_000;
const BASE: Partial<BalanceConfig> = { bucketCount: BUCKETS, bucketWidthMs: WIDTH, reservoirSize: 16, replayMemorySize: 200, refreshEveryEvents: 256 };

/**
 * In event-time order (no late events): the `simple` generator's stream (seeded from `rng`),
 * 25 categories with head/tail share ratio 25, and no conversion boost for preferred items,
 * so the type mix is the production one (views 55%).
 */
function events(rng: Rng, n: number, start = 1_000_000, firstId = 0): TestEvent[] {
  const g = createGenerator({ seed: rng.nextUint32(), events: n, categories: 25, skew: 25, users: 500, itemAffinity: 0, startTime: start, meanGapMs: 3.5 });
  return Array.from({ length: n }, (_, i) => {
    const e = g.next();
    return { id: firstId + i, categoryId: e.categoryId, type: e.type, eventTime: e.eventTime };
  });
}

/** Window counts recomputed from scratch: events whose bucket is within the last B buckets of the watermark. */
function naiveCounts(all: readonly TestEvent[]): Map<string, Map<EventType, number>> {
  const watermark = Math.max(...all.map((e) => e.eventTime));
  const head = Math.floor(watermark / WIDTH);
  const out = new Map<string, Map<EventType, number>>();
  for (const e of all) {
    if (Math.floor(e.eventTime / WIDTH) <= head - BUCKETS) continue;
    let m = out.get(e.categoryId);
    if (m === undefined) {
      m = new Map();
      out.set(e.categoryId, m);
    }
    m.set(e.type, (m.get(e.type) ?? 0) + 1);
  }
  return out;
}

function storedTypes(st: BalanceState<TestEvent>): Set<EventType> {
  const types = new Set<EventType>();
  for (const e of st.replayMemory()) types.add(e.type);
  for (const c of st.categories()) for (const e of st.reservoir(c)) types.add(e.type);
  return types;
}

function freshTrainable(rng: Rng, n: number, t: number, firstId: number): TestEvent[] {
  return events(rng, n * 3, t, firstId)
    .filter((e) => e.type !== 'view')
    .slice(0, n);
}

test('replayEventTypes: views count in the window but are never stored nor replayed', () => {
  const st = new BalanceState<TestEvent>({ ...BASE, replayEventTypes: TRAINABLE, syntheticFraction: 0.2 }, new Rng(1));
  const all = new BalanceState<TestEvent>(BASE, new Rng(1));
  const rng = new Rng(7);
  const stream = events(rng, 60_000);
  let replayed = 0;
  let replayedViewsWithAllTypes = 0;
  for (let i = 0; i < stream.length; i++) {
    const e = stream[i]!;
    assert.equal(st.observe(e), 'accepted', 'a view is accepted (counted) like any event');
    all.observe(e);
    if (i % 1_000 === 999) {
      const fresh = freshTrainable(rng, 64, e.eventTime, 1e9 + i);
      const b = st.composeBatch(fresh, 128, { interpolate: (a, c) => ({ ...a, id: -1 - c.id }) });
      b.items.forEach((item, j) => {
        if (b.sources[j] !== SOURCE_FRESH) {
          replayed++;
          assert.notEqual(item.type, 'view', `replayed/synthetic sample ${item.id} is a view`);
        }
      });
      const bAll = all.composeBatch(fresh, 128);
      bAll.items.forEach((item, j) => {
        if (bAll.sources[j] !== SOURCE_FRESH && item.type === 'view') replayedViewsWithAllTypes++;
      });
    }
  }
  assert.ok(replayed > 1_000, `the composer replayed (${replayed})`);
  assert.ok(replayedViewsWithAllTypes > 0, 'with the default (all types) views are replayed: the check above is not vacuous');

  // Nothing stored is a view; everything else is stored.
  assert.deepEqual([...storedTypes(st)].sort(), [...TRAINABLE].sort());
  assert.ok(storedTypes(all).has('view'));
  assert.equal(st.replayMemory().length, 200, 'the replay memory filled up with trainable events');

  // Window counts include the views and equal a naive recount (and the all-types state's).
  const naive = naiveCounts(stream);
  assert.deepEqual(st.categories().sort(), [...naive.keys()].sort());
  let total = 0;
  let views = 0;
  for (const [c, byType] of naive) {
    let n = 0;
    for (const t of EVENT_TYPE_ORDER) {
      const k = byType.get(t) ?? 0;
      assert.equal(st.typeCount(c, t), k, `${c}/${t}`);
      n += k;
    }
    assert.equal(st.count(c), n, c);
    total += n;
    views += byType.get('view') ?? 0;
  }
  assert.equal(st.total(), total);
  assert.ok(views / total > 0.5, `views are counted (${views}/${total})`);
  assert.deepEqual(st.stats(), all.stats());
  assert.deepEqual(st.categoryStats(), all.categoryStats(), 'counts, shares, priors, weights and type counts do not depend on the replayed types');
  assert.deepEqual(st.counters(), all.counters());
});

test('replayEventTypes: only a purchase-only memory when only purchases are replayed; a view-only category has an empty reservoir', () => {
  const st = new BalanceState<TestEvent>({ ...BASE, replayEventTypes: ['purchase'] }, new Rng(3));
  for (const e of events(new Rng(4), 5_000)) st.observe(e);
  for (let i = 0; i < 50; i++) st.observe({ id: 1e6 + i, categoryId: 'views-only', type: 'view', eventTime: 1_020_000 });
  assert.deepEqual([...storedTypes(st)], ['purchase']);
  assert.equal(st.count('views-only'), 50);
  assert.deepEqual(st.reservoir('views-only'), []);
  // The composer gives the view-only category its share but has nothing to replay for it: the slots fall back on fresh events.
  const b = st.composeBatch(freshTrainable(new Rng(5), 32, 1_020_000, 2e6), 64);
  for (let j = 0; j < b.items.length; j++) if (b.sources[j] !== SOURCE_FRESH) assert.equal(b.items[j]!.type, 'purchase');
  assert.equal(b.report.byCategory.get('views-only')?.replay ?? 0, 0);
});

test('replayEventTypes is validated at construction and normalised to the canonical order', () => {
  const cases: [unknown, RegExp][] = [
    [[], /^replayEventTypes must be a non-empty array of distinct event types from view, click, add_to_cart, purchase, got \[\]$/],
    ['click,purchase', /^replayEventTypes must be a non-empty array of distinct event types from view, click, add_to_cart, purchase, got "click,purchase"$/],
    [undefined, /^replayEventTypes must be a non-empty array/],
    [null, /^replayEventTypes must be a non-empty array/],
    [['click', 'like'], /^replayEventTypes\[1\] must be one of view, click, add_to_cart, purchase, got "like"$/],
    [['Click'], /^replayEventTypes\[0\] must be one of view, click, add_to_cart, purchase, got "Click"$/],
    [['click', 3], /^replayEventTypes\[1\] must be one of .*, got 3$/],
    [['click', 'purchase', 'click'], /^replayEventTypes\[2\] must be a type not listed before .*, got "click"$/],
  ];
  for (const [value, message] of cases) {
    assert.throws(
      () => new BalanceState({ replayEventTypes: value as EventType[] }, new Rng(1)),
      (err: unknown) => err instanceof RebalancerError && err.code === 'REB_BALANCE_INVALID' && message.test(err.message),
      `${JSON.stringify(value)} → ${message}`,
    );
  }
  assert.deepEqual(new BalanceState({}, new Rng(1)).config.replayEventTypes, ['view', 'click', 'add_to_cart', 'purchase']);
  const st = new BalanceState({ replayEventTypes: ['purchase', 'click'] }, new Rng(1));
  assert.deepEqual(st.config.replayEventTypes, ['click', 'purchase']);
  assert.ok(Object.isFrozen(st.config.replayEventTypes));
});

function drive(st: BalanceState<TestEvent>, rng: Rng, start: number, n: number): unknown[] {
  const out: unknown[] = [];
  const stream = events(rng, n, start, start);
  for (let i = 0; i < stream.length; i++) {
    out.push(st.observe(stream[i]!));
    if (i % 500 === 499) {
      const b = st.composeBatch(freshTrainable(rng, 48, stream[i]!.eventTime, 1e9 + start + i), 64);
      out.push(b.items.map((x) => x.id), Array.from(b.weights), Array.from(b.sources), b.report.unfilled);
    }
  }
  out.push(st.counters(), [...st.replayCounts()], st.replayMemory().map((x) => x.id), st.categories().map((c) => [c, st.reservoir(c).map((x) => x.id)]));
  return out;
}

test('replayEventTypes: a restored snapshot behaves identically', () => {
  const a = new BalanceState<TestEvent>({ ...BASE, replayEventTypes: TRAINABLE }, new Rng(1));
  drive(a, new Rng(2), 1_000_000, 20_000);
  const snap = JSON.parse(JSON.stringify(a.snapshot())) as BalanceSnapshot<TestEvent>;
  assert.deepEqual(snap.config.replayEventTypes, TRAINABLE);
  const b = BalanceState.restore<TestEvent>(snap);
  const c = BalanceState.restore<TestEvent>(snap, { replayEventTypes: ['click', 'add_to_cart', 'purchase'] });
  assert.deepEqual(b.config.replayEventTypes, TRAINABLE, 'the snapshot carries the setting');
  assert.deepEqual(b.snapshot(), a.snapshot());
  const outA = drive(a, new Rng(3), 2_000_000, 20_000);
  assert.deepEqual(drive(b, new Rng(3), 2_000_000, 20_000), outA);
  assert.deepEqual(drive(c, new Rng(3), 2_000_000, 20_000), outA);
  assert.ok(!storedTypes(b).has('view'));
});

test('replayEventTypes: a restore that drops a type purges its stored items, deterministically', () => {
  const a = new BalanceState<TestEvent>(BASE, new Rng(1));
  drive(a, new Rng(2), 1_000_000, 20_000);
  assert.ok(storedTypes(a).has('view'));
  const snap = JSON.parse(JSON.stringify(a.snapshot())) as BalanceSnapshot<TestEvent>;
  const b = BalanceState.restore<TestEvent>(snap, { replayEventTypes: TRAINABLE });
  const c = BalanceState.restore<TestEvent>(snap, { replayEventTypes: TRAINABLE });
  assert.deepEqual([...storedTypes(b)].sort(), [...TRAINABLE].sort(), 'views purged, the rest kept');
  // What survives is exactly the non-view part of what was stored, in order.
  assert.deepEqual(b.replayMemory().map((x) => x.id), a.replayMemory().filter((x) => x.type !== 'view').map((x) => x.id));
  for (const cat of a.categories()) assert.deepEqual(b.reservoir(cat).map((x) => x.id), a.reservoir(cat).filter((x) => x.type !== 'view').map((x) => x.id), cat);
  // The window, weights and rng are untouched by the purge.
  assert.deepEqual(b.categoryStats(), a.categoryStats());
  assert.deepEqual(b.snapshot().rng, a.snapshot().rng);
  const outB = drive(b, new Rng(3), 2_000_000, 20_000);
  assert.deepEqual(drive(c, new Rng(3), 2_000_000, 20_000), outB, 'two restores of one snapshot with one config behave identically');
  assert.ok(!storedTypes(b).has('view'), 'no view is stored after the restore');
  assert.equal(b.replayMemory().length, 200, 'the memory filled up again');
  // Restoring that state again round-trips with its own (narrowed) setting.
  const d = BalanceState.restore<TestEvent>(JSON.parse(JSON.stringify(b.snapshot())) as BalanceSnapshot<TestEvent>);
  assert.deepEqual(d.snapshot(), b.snapshot());
});

test('replayEventTypes: a snapshot without the setting (older build) restores as all types; widening is allowed', () => {
  const a = new BalanceState<TestEvent>(BASE, new Rng(1));
  drive(a, new Rng(2), 1_000_000, 5_000);
  // As written by a build without the setting.
  const olderConfig: { -readonly [K in keyof BalanceConfig]?: BalanceConfig[K] } = { ...a.snapshot().config };
  delete olderConfig.replayEventTypes;
  const snap = JSON.parse(JSON.stringify({ ...a.snapshot(), config: olderConfig })) as BalanceSnapshot<TestEvent>;
  assert.ok(!('replayEventTypes' in snap.config));
  const old = BalanceState.restore<TestEvent>(snap);
  assert.deepEqual(old.config.replayEventTypes, EVENT_TYPE_ORDER);
  assert.deepEqual(drive(old, new Rng(3), 2_000_000, 5_000), drive(a, new Rng(3), 2_000_000, 5_000));
  const narrowed = BalanceState.restore<TestEvent>(snap, { replayEventTypes: TRAINABLE });
  assert.ok(!storedTypes(narrowed).has('view'), 'an old snapshot restored with the trainable types is purged of views');

  const p = new BalanceState<TestEvent>({ ...BASE, replayEventTypes: ['purchase'] }, new Rng(1));
  drive(p, new Rng(2), 1_000_000, 5_000);
  const widened = BalanceState.restore<TestEvent>(p.snapshot(), { replayEventTypes: TRAINABLE });
  assert.deepEqual(widened.replayMemory(), p.replayMemory(), 'widening keeps what is stored');
  drive(widened, new Rng(3), 2_000_000, 5_000);
  assert.deepEqual([...storedTypes(widened)].sort(), [...TRAINABLE].sort());
  assert.throws(() => BalanceState.restore(p.snapshot(), { replayEventTypes: [] }), { code: 'REB_BALANCE_INVALID', message: /^replayEventTypes must be a non-empty array/ });
  const bad = { ...p.snapshot(), config: { ...p.snapshot().config, replayEventTypes: ['like'] as unknown as EventType[] } };
  assert.throws(() => BalanceState.restore(bad, { replayEventTypes: TRAINABLE }), { code: 'REB_BALANCE_INVALID', message: /^snapshot\.config\.replayEventTypes\[0\] must be one of/ });
});
