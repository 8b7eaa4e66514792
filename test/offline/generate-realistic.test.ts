import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Rng } from '../../src/balance/rng.js';
import type { InteractionEvent } from '../../src/codec/types.js';
import { isRebalancerError } from '../../src/errors.js';
import { DEFAULT_REALISTIC, GENERATOR_PROFILES, InteractionGenerator, RealisticGenerator, createGenerator } from '../../src/offline/generate.js';
import { main } from '../../src/cli/main.js';

/** The stream as small integer columns (ids interned in order of first sight). */
interface Columns {
  n: number;
  user: Int32Array;
  item: Int32Array;
  category: Int32Array;
  positive: Uint8Array;
  time: Float64Array;
  session: Int32Array;
  itemCategory: number[];
  users: number;
  items: number;
  categoryCount: number;
}

function columns(events: Iterable<InteractionEvent>, n: number, categoryCount: number): Columns {
  const ids = { user: new Map<string, number>(), item: new Map<string, number>(), session: new Map<string, number>() };
  const intern = (m: Map<string, number>, k: string): number => {
    let v = m.get(k);
    if (v === undefined) m.set(k, (v = m.size));
    return v;
  };
  const c: Columns = {
    n,
    user: new Int32Array(n),
    item: new Int32Array(n),
    category: new Int32Array(n),
    positive: new Uint8Array(n),
    time: new Float64Array(n),
    session: new Int32Array(n),
    itemCategory: [],
    users: 0,
    items: 0,
    categoryCount,
  };
  let i = 0;
  for (const e of events) {
    c.user[i] = intern(ids.user, e.userId);
    const before = ids.item.size;
    c.item[i] = intern(ids.item, e.itemId);
    c.category[i] = Number(e.categoryId.slice(4));
    if (ids.item.size > before) c.itemCategory.push(c.category[i]!);
    c.positive[i] = e.type === 'view' ? 0 : 1;
    c.time[i] = e.eventTime;
    assert.ok(e.sessionId !== null, 'realistic events carry a session id');
    c.session[i] = intern(ids.session, e.sessionId);
    i++;
  }
  c.users = ids.user.size;
  c.items = ids.item.size;
  return c;
}

function* take(g: { next(): InteractionEvent }, n: number): Generator<InteractionEvent> {
  for (let i = 0; i < n; i++) yield g.next();
}

function median(values: ArrayLike<number>): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Least-squares slope of log(count) on log(rank) over ranks 1..m (counts sorted descending). */
function logLogSlope(counts: number[], m: number): number {
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (let r = 1; r <= m; r++) {
    const x = Math.log(r);
    const y = Math.log(counts[r - 1]!);
    sx += x; sy += y; sxx += x * x; sxy += x * y;
  }
  return (m * sxy - sx * sy) / (m * sxx - sx * sx);
}

/** Share of positives whose item the same user had an event on before. */
function repeatShare(c: Columns): number {
  const seen = new Set<number>();
  let positives = 0;
  let repeats = 0;
  for (let i = 0; i < c.n; i++) {
    const key = c.user[i]! * 4_194_304 + c.item[i]!;
    if (c.positive[i] === 1) {
      positives++;
      if (seen.has(key)) repeats++;
    }
    seen.add(key);
  }
  return repeats / positives;
}

/**
 * Prequential micro HR@10 of two scorers: each positive is ranked among 100 items drawn
 * uniformly (without replacement, excluding itself) from the items seen as positives so far,
 * ties counting half; then the scorers learn from it. `popularity` scores an item by its
 * positives so far; `category` by the user's positives so far in the item's category, ties
 * broken by popularity.
 */
function prequential(c: Columns, seed: number): { popularity: number; category: number } {
  const rng = new Rng(seed);
  const pop = new Float64Array(c.items);
  const inCatalog = new Uint8Array(c.items);
  const catalog: number[] = [];
  const userCat = new Float64Array(c.users * c.categoryCount);
  const taken = new Set<number>();
  const candidates = new Int32Array(100);
  let evaluated = 0;
  let hitsPop = 0;
  let hitsCat = 0;
  for (let i = 0; i < c.n; i++) {
    if (c.positive[i] === 0) continue;
    const item = c.item[i]!;
    const u = c.user[i]! * c.categoryCount;
    if (catalog.length > 100) {
      taken.clear();
      for (let k = 0; k < 100;) {
        const j = catalog[rng.int(catalog.length)]!;
        if (j === item || taken.has(j)) continue;
        taken.add(j);
        candidates[k++] = j;
      }
      const p = pop[item]!;
      const s = userCat[u + c.category[i]!]! * 1e9 + p;
      let abovePop = 0, tiesPop = 0, aboveCat = 0, tiesCat = 0;
      for (let k = 0; k < 100; k++) {
        const j = candidates[k]!;
        const pj = pop[j]!;
        if (pj > p) abovePop++;
        else if (pj === p) tiesPop++;
        const sj = userCat[u + c.itemCategory[j]!]! * 1e9 + pj;
        if (sj > s) aboveCat++;
        else if (sj === s) tiesCat++;
      }
      evaluated++;
      if (abovePop + tiesPop / 2 < 10) hitsPop++;
      if (aboveCat + tiesCat / 2 < 10) hitsCat++;
    }
    pop[item]!++;
    userCat[u + c.category[i]!]!++;
    if (inCatalog[item] === 0) {
      inCatalog[item] = 1;
      catalog.push(item);
    }
  }
  return { popularity: hitsPop / evaluated, category: hitsCat / evaluated };
}

const N = 200_000;
let s: Columns;

before(() => {
  const g = createGenerator({ profile: 'realistic', seed: 7, skew: 100, events: N });
  s = columns(take(g, N), N, g.categoryIds.length);
});

describe('generate --profile realistic', () => {
  it('has heavy-tailed user activity: the top 1% of users make ≥ 15% of events, the median user ≤ 25', () => {
    const perUser = new Float64Array(s.users);
    for (let i = 0; i < s.n; i++) perUser[s.user[i]!]!++;
    const sorted = Float64Array.from(perUser).sort().reverse();
    const top = Math.ceil(s.users / 100);
    let topEvents = 0;
    for (let i = 0; i < top; i++) topEvents += sorted[i]!;
    assert.ok(topEvents / s.n >= 0.15, `top 1% share ${(topEvents / s.n).toFixed(3)}`);
    const med = median(perUser);
    assert.ok(med <= 25, `median user ${med} events`);
    assert.ok(sorted[0]! >= 1_000, `most active user ${sorted[0]} events`);
    assert.ok(sorted[0]! >= 50 * med, 'a few users make orders of magnitude more events than the median');
  });

  it('has Zipf-like item popularity in each big category: log-log rank/count slope in [-1.3, -0.5]', () => {
    const counts = new Float64Array(s.items);
    const total = new Float64Array(s.categoryCount);
    for (let i = 0; i < s.n; i++) {
      counts[s.item[i]!]!++;
      total[s.category[i]!]!++;
    }
    const big = [...total.keys()].sort((a, b) => total[b]! - total[a]!).slice(0, 3);
    for (const c of big) {
      const inC = [...counts.keys()].filter((j) => s.itemCategory[j] === c).map((j) => counts[j]!).sort((a, b) => b - a);
      assert.ok(inC.length >= 1_000, `category ${c}: ${inC.length} items`);
      const slope = logLogSlope(inC, 1_000);
      assert.ok(slope >= -1.3 && slope <= -0.5, `category ${c}: slope ${slope.toFixed(2)}`);
      // Heavy head: the top 1% of the category's items take ≥ 10% of its events.
      const head = inC.slice(0, Math.ceil(inC.length / 100)).reduce((a, x) => a + x, 0);
      assert.ok(head / total[c]! >= 0.1, `category ${c}: top-1% items share ${(head / total[c]!).toFixed(3)}`);
    }
  });

  it('keeps new items arriving all run long, each rising after its arrival and then fading', () => {
    const first = new Int32Array(s.items).fill(-1);
    for (let i = 0; i < s.n; i++) if (first[s.item[i]!] === -1) first[s.item[i]!] = i;
    const decile = new Float64Array(10);
    for (let j = 0; j < s.items; j++) decile[Math.floor((10 * first[j]!) / s.n)]!++;
    let late = 0;
    for (let d = 5; d < 10; d++) late += decile[d]!;
    assert.ok(late / s.items >= 0.3, `items first seen in the second half: ${(late / s.items).toFixed(3)}`);
    for (let d = 1; d < 10; d++) assert.ok(decile[d]! >= 0.04 * s.items, `decile ${d}: ${decile[d]} new items`);
    // Pooled activity by age (events since first seen, bins of θ/2) of the items with ≥ 50
    // events first seen between 2θ (after the starting catalogue's items have shown up) and
    // 0.4·n (so each is followed for ≥ 8θ): it rises after arrival, then fades.
    const theta = DEFAULT_REALISTIC.itemPeakEvents;
    const bin = theta / 2;
    const count = new Float64Array(s.items);
    for (let i = 0; i < s.n; i++) count[s.item[i]!]!++;
    const profile = new Float64Array(16);
    for (let i = 0; i < s.n; i++) {
      const j = s.item[i]!;
      const f = first[j]!;
      if (f < 2 * theta || f >= 0.4 * s.n || count[j]! < 50) continue;
      const b = Math.floor((i - f) / bin);
      if (b < profile.length) profile[b]!++;
    }
    const shape = [...profile].map(Math.round).join(', ');
    const peak = Math.max(...profile);
    assert.ok(profile[1]! >= 1.05 * profile[0]!, `rises after arrival: ${shape}`);
    assert.ok(profile.indexOf(peak) <= 3, `peaks within 2θ: ${shape}`);
    const old = profile.slice(12).reduce((a, x) => a + x, 0) / 4;
    assert.ok(old < 0.1 * peak, `fades by 6–8θ: ${shape}`);
    const within4 = profile.slice(0, 8).reduce((a, x) => a + x, 0) / profile.reduce((a, x) => a + x, 0);
    assert.ok(within4 >= 0.8, `share of an item's first 8θ of events in its first 4θ: ${within4.toFixed(2)}`);
  });

  it('groups a user\'s events into sessions: gaps within ≪ gaps between, sessions interleave, categories stay', () => {
    const lastAt = new Map<number, number>();
    const within: number[] = [];
    const between: number[] = [];
    const length = new Map<number, number>();
    let consecutive = 0;
    let sameCategory = 0;
    const lastCat = new Map<number, number>();
    for (let i = 0; i < s.n; i++) {
      const u = s.user[i]!;
      const sess = s.session[i]!;
      length.set(sess, (length.get(sess) ?? 0) + 1);
      const prev = lastAt.get(u);
      if (prev !== undefined) {
        if (s.session[prev] === sess) {
          within.push(s.time[i]! - s.time[prev]!);
          consecutive++;
          if (lastCat.get(u) === s.category[i]) sameCategory++;
        } else {
          between.push(s.time[i]! - s.time[prev]!);
        }
      }
      lastAt.set(u, i);
      lastCat.set(u, s.category[i]!);
    }
    const inGap = median(within);
    const outGap = median(between);
    assert.ok(outGap >= 100 * inGap, `median gap within a session ${inGap} ms, between sessions ${outGap} ms`);
    const meanLength = s.n / length.size;
    assert.ok(Math.abs(meanLength - DEFAULT_REALISTIC.sessionEvents) < 0.5, `mean session length ${meanLength.toFixed(2)}`);
    // A user's sessions never overlap much, but different users' do: count events whose
    // predecessor in the stream belongs to another session that is still going on.
    const lastIndex = new Map<number, number>();
    for (let i = 0; i < s.n; i++) lastIndex.set(s.session[i]!, i);
    let interleaved = 0;
    for (let i = 1; i < s.n; i++) if (s.session[i] !== s.session[i - 1] && lastIndex.get(s.session[i - 1]!)! > i) interleaved++;
    assert.ok(interleaved / s.n > 0.02, `interleaved events ${(interleaved / s.n).toFixed(3)}`);
    // Same category for consecutive events of a session, far above chance (Σ share²).
    const total = new Float64Array(s.categoryCount);
    for (let i = 0; i < s.n; i++) total[s.category[i]!]!++;
    let chance = 0;
    for (const t of total) chance += (t / s.n) ** 2;
    const stay = sameCategory / consecutive;
    assert.ok(stay >= 0.85 && stay >= chance + 0.3, `same category ${stay.toFixed(3)} (chance ${chance.toFixed(3)})`);
  });

  it('repeats: the share of positives on items the user had before is the setting ± 0.02', () => {
    assert.ok(Math.abs(repeatShare(s) - DEFAULT_REALISTIC.repeatShare) <= 0.02, `repeat share ${repeatShare(s).toFixed(3)}`);
    for (const target of [0.05, 0.3]) {
      const g = createGenerator({ profile: 'realistic', seed: 3, events: 100_000, repeatShare: target });
      const measured = repeatShare(columns(take(g, 100_000), 100_000, g.categoryIds.length));
      assert.ok(Math.abs(measured - target) <= 0.02, `target ${target}: measured ${measured.toFixed(3)}`);
    }
  });

  it('has the --skew head/tail ratio of events: 10 within 5%, 5000 within 20% (300k events)', () => {
    const ratio = (skew: number, n: number): number => {
      const g = createGenerator({ profile: 'realistic', seed: 11, skew, events: n });
      const counts = new Float64Array(g.categoryIds.length);
      for (let i = 0; i < n; i++) counts[Number(g.next().categoryId.slice(4))]!++;
      assert.ok(Math.abs(g.categoryShares[0]! / g.categoryShares[counts.length - 1]! - skew) < 1e-6 * skew);
      return counts[0]! / counts[counts.length - 1]!;
    };
    const r10 = ratio(10, 100_000);
    assert.ok(Math.abs(r10 / 10 - 1) <= 0.05, `skew 10: ${r10.toFixed(2)}`);
    const r5000 = ratio(5000, 300_000);
    assert.ok(Math.abs(r5000 / 5000 - 1) <= 0.2, `skew 5000: ${r5000.toFixed(0)}`);
  });

  it('is learnable but not easy: popularity HR@10 in [25%, 50%], the user-category scorer ≥ 2 points above it', () => {
    const r = prequential(s, 1);
    assert.ok(r.popularity >= 0.25 && r.popularity <= 0.5, `popularity ${(100 * r.popularity).toFixed(1)}%`);
    assert.ok(r.category >= r.popularity + 0.02, `category ${(100 * r.category).toFixed(1)}% vs popularity ${(100 * r.popularity).toFixed(1)}%`);
    // The simple profile is far easier for the same scorer.
    const g = new InteractionGenerator({ seed: 7, events: 100_000 });
    const simple = prequential(columnsOfSimple(g, 100_000), 1);
    assert.ok(simple.popularity >= r.popularity + 0.15, `simple ${(100 * simple.popularity).toFixed(1)}%`);
  });

  it('mixes event types views > clicks > add-to-cart > purchases, with unique ids and times in order', () => {
    const g = createGenerator({ profile: 'realistic', seed: 5, events: 50_000 });
    const types = new Map<string, number>();
    const ids = new Set<string>();
    let last = -Infinity;
    let lastSeq = 0;
    for (let i = 0; i < 50_000; i++) {
      const e = g.next();
      types.set(e.type, (types.get(e.type) ?? 0) + 1);
      assert.ok(e.eventTime >= last, `event ${i} goes back in time`);
      last = e.eventTime;
      const seq = Number(e.eventId.split('-').pop());
      assert.equal(seq, lastSeq + 1, 'ids count up in stream order');
      lastSeq = seq;
      ids.add(e.eventId);
      assert.ok(e.price !== null && e.price > 0);
    }
    assert.equal(ids.size, 50_000);
    const t = (k: string): number => types.get(k) ?? 0;
    assert.ok(t('view') > t('click') && t('click') > t('add_to_cart') && t('add_to_cart') > t('purchase') && t('purchase') > 0, JSON.stringify([...types]));
    assert.ok(Math.abs(t('purchase') / 50_000 - 0.05) < 0.01);
  });

  it('reproduces a seed exactly and differs for another seed', () => {
    const run = (seed: number): InteractionEvent[] => [...take(createGenerator({ profile: 'realistic', seed, events: 20_000 }), 20_000)];
    const a = run(3);
    assert.deepEqual(a, run(3));
    const b = run(4);
    assert.notDeepEqual(a.map((e) => e.itemId), b.map((e) => e.itemId));
  });

  it('keeps its state bounded: open sessions stay few, items grow only with arrivals', () => {
    const g = new RealisticGenerator({ seed: 2, events: 100_000 });
    const atStart = g.itemsCreated;
    let maxOpen = 0;
    for (let i = 0; i < 300_000; i++) {
      g.next();
      if ((i & 1023) === 0) maxOpen = Math.max(maxOpen, g.openSessions);
    }
    assert.ok(maxOpen <= 100, `open sessions ${maxOpen}`);
    const arrived = g.itemsCreated - atStart;
    const expected = 300_000 * DEFAULT_REALISTIC.newItemsPerEvent;
    assert.ok(Math.abs(arrived / expected - 1) < 0.05, `${arrived} items arrived, expected ≈ ${expected}`);
  });

  it('rejects bad settings with REB_INPUT_INVALID naming the setting', () => {
    const bad: [Record<string, number>, RegExp][] = [
      [{ repeatShare: 1.5 }, /--repeat-share/],
      [{ sessionEvents: 0.5 }, /--session-events/],
      [{ meanGapMs: 10, sessionGapMs: 1e6 }, /--session-gap-ms/],
      [{ skew: 0.5 }, /--skew/],
    ];
    for (const [options, message] of bad) {
      assert.throws(() => createGenerator({ profile: 'realistic', ...options }), (err: unknown) => isRebalancerError(err, 'REB_INPUT_INVALID') && message.test(err.message));
    }
  });
});

describe('createGenerator and the CLI profiles', () => {
  it('defaults to the simple profile (the stream existing callers had) and lists both profiles', () => {
    assert.deepEqual([...GENERATOR_PROFILES], ['realistic', 'simple']);
    const a = createGenerator({ seed: 9, events: 1_000 });
    const b = new InteractionGenerator({ seed: 9, events: 1_000 });
    assert.equal(a.profile, 'simple');
    assert.deepEqual([...take(a, 1_000)], [...take(b, 1_000)]);
    assert.equal(createGenerator({ profile: 'realistic' }).profile, 'realistic');
  });

  it('rejects a flag of the other profile, naming it, and lists the profiles in --help', async () => {
    const run = async (args: string[]): Promise<{ code: number | undefined; err: string; out: string }> => {
      const before = process.exitCode;
      const errors: string[] = [];
      let out = '';
      const origError = console.error;
      const origWrite = process.stdout.write.bind(process.stdout);
      console.error = (...a: unknown[]) => { errors.push(a.join(' ')); };
      process.stdout.write = ((chunk: string | Uint8Array) => { out += String(chunk); return true; }) as typeof process.stdout.write;
      try {
        await main(['node', 'rebalancer', ...args]);
      } finally {
        console.error = origError;
        process.stdout.write = origWrite;
      }
      const code = process.exitCode;
      process.exitCode = before;
      return { code: typeof code === 'number' ? code : undefined, err: errors.join('\n'), out };
    };
    const drift = await run(['generate', '--drift', '1', '--out', '/tmp/never.bin', '--quiet']);
    assert.equal(drift.code, 2);
    assert.match(drift.err, /--drift applies only to --profile simple, not realistic \[REB_INPUT_INVALID\]/);
    const repeat = await run(['generate', '--profile', 'simple', '--repeat-share', '0.2', '--out', '/tmp/never.bin', '--quiet']);
    assert.equal(repeat.code, 2);
    assert.match(repeat.err, /--repeat-share applies only to --profile realistic, not simple/);
    const bogus = await run(['generate', '--profile', 'bogus', '--out', '/tmp/never.bin', '--quiet']);
    assert.match(bogus.err, /--profile must be one of realistic, simple/);
    const help = await run(['generate', '--help']);
    assert.match(help.out, /Profiles:\n {2}realistic {2}.+\n {2}simple {5}.+\n/);
    assert.match(help.out, /--drift <d> +simple only/);
    assert.match(help.out, /--repeat-share <r> +realistic only/);
  });
});

function columnsOfSimple(g: InteractionGenerator, n: number): Columns {
  // The simple profile has no sessions: give each event its own, so columns() accepts it.
  let k = 0;
  const events = (function* (): Generator<InteractionEvent> {
    for (let i = 0; i < n; i++) yield { ...g.next(), sessionId: `e${k++}` };
  })();
  return columns(events, n, g.categoryIds.length);
}
