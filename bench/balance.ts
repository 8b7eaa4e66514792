/**
 * Balance-core benchmarks: per-event state updates (window + per-category reservoir +
 * CBRS, with periodic stats) and batch composition, each against a naive implementation
 * measured in the same run, plus heap growth over a long run.
 */
import { BalanceState, Rng } from '../src/balance/index.js';
import type { EventType } from '../src/codec/types.js';
import { baseShares, cumulativeOf, pick } from '../src/offline/generate-common.js';
import { opsPerSecond, result, type Benchmark, type BenchResult } from './harness.js';

interface BenchEvent {
  categoryId: string;
  type: EventType;
  eventTime: number;
  itemId: number;
}

const TYPES: readonly EventType[] = ['view', 'view', 'view', 'view', 'view', 'view', 'click', 'click', 'add_to_cart', 'purchase'];

/**
 * Zipf(1) categories (realistic head/tail skew), one pre-built event object per pool entry.
 * The category draw is the generators' (generate.ts: baseShares with skew = C is Zipf(1));
 * the pool is built here, not by createGenerator, because its events are mutable bench
 * objects re-timed by the Feeder, and 100,000 categories lie past the generator's range.
 */
function makePool(categories: number, size: number, seed: number): BenchEvent[] {
  const rng = new Rng(seed);
  const cumulative = cumulativeOf(baseShares(categories, categories));
  const names = Array.from({ length: categories }, (_, i) => `cat-${i}`);
  const pool: BenchEvent[] = [];
  for (let i = 0; i < size; i++) {
    // Every category appears at least once per pool pass so the tracked set really is `categories`.
    const drawn = pick(cumulative, rng.next());
    const cat = i < categories && size >= 2 * categories ? i : drawn;
    pool.push({ categoryId: names[cat]!, type: TYPES[rng.int(TYPES.length)]!, eventTime: 0, itemId: i });
  }
  return pool;
}

/** Event time: 1 ms per event with up to 2 s of out-of-order jitter (inside the 5 min lateness). */
class Feeder {
  private t = 1_700_000_000_000;
  private i = 0;
  private readonly mask: number;
  private readonly jitter: Int32Array;
  constructor(private readonly pool: BenchEvent[]) {
    this.mask = pool.length - 1;
    const rng = new Rng(99);
    this.jitter = new Int32Array(pool.length);
    for (let j = 0; j < pool.length; j++) this.jitter[j] = rng.next() < 0.1 ? rng.int(2000) : 0;
  }
  next(): BenchEvent {
    const j = this.i++ & this.mask;
    const e = this.pool[j]!;
    this.t += 1;
    e.eventTime = this.t - this.jitter[j]!;
    return e;
  }
}

/** The naive rival: Map<string, number[]> bucket counts per category, evicted by scanning every category; Algorithm R reservoirs in a Map. */
class NaiveBalance {
  private readonly buckets = new Map<string, number[]>();
  private readonly reservoirs = new Map<string, { items: BenchEvent[]; seen: number }>();
  private head = -1;
  constructor(
    private readonly bucketCount: number,
    private readonly width: number,
    private readonly k: number,
    private readonly rng: Rng,
  ) {}
  observe(e: BenchEvent): void {
    const b = Math.floor(e.eventTime / this.width);
    if (b > this.head) {
      if (this.head >= 0) {
        for (let h = this.head + 1; h <= Math.min(b, this.head + this.bucketCount); h++) {
          for (const [id, arr] of this.buckets) {
            arr[h % this.bucketCount] = 0;
            if (arr.every((x) => x === 0)) {
              this.buckets.delete(id);
              this.reservoirs.delete(id);
            }
          }
        }
      }
      this.head = b;
    }
    if (b <= this.head - this.bucketCount) return;
    let arr = this.buckets.get(e.categoryId);
    if (arr === undefined) {
      arr = new Array<number>(this.bucketCount).fill(0);
      this.buckets.set(e.categoryId, arr);
    }
    arr[b % this.bucketCount]!++;
    let r = this.reservoirs.get(e.categoryId);
    if (r === undefined) {
      r = { items: [], seen: 0 };
      this.reservoirs.set(e.categoryId, r);
    }
    r.seen++;
    if (r.items.length < this.k) r.items.push(e);
    else {
      const j = this.rng.int(r.seen);
      if (j < this.k) r.items[j] = e;
    }
  }
  counts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [id, arr] of this.buckets) out.set(id, arr.reduce((a, b) => a + b, 0));
    return out;
  }
  stats(): number {
    const values = [...this.counts().values()].sort((a, b) => a - b);
    const total = values.reduce((a, b) => a + b, 0);
    let g = 0;
    values.forEach((v, i) => (g += (2 * (i + 1) - values.length - 1) * v));
    return g / (values.length * total);
  }
  reservoir(id: string): BenchEvent[] {
    return this.reservoirs.get(id)?.items ?? [];
  }
}

const CHUNK = 65_536;

function updatesBench(categories: number, quick: boolean, log: (m: string) => void): BenchResult {
  const poolSize = categories > 10_000 ? 1 << 19 : 1 << 16;
  const pool = makePool(categories, poolSize, categories);
  const minMs = quick ? 400 : 2000;

  const state = new BalanceState<BenchEvent>({}, new Rng(1));
  const feed = new Feeder(pool);
  // Stats as the service computes them: every max(1,024, C) events (keeps O(C log C) amortised O(log C)).
  let sinceStats = 0;
  let sink = 0;
  const runOurs = (): number => {
    const every = Math.max(1024, state.categoryCount());
    for (let i = 0; i < CHUNK; i++) {
      state.observe(feed.next());
      if (++sinceStats >= every) {
        sink += state.stats().gini;
        sinceStats = 0;
      }
    }
    return CHUNK;
  };
  // Warm-up: fill the window's first pass and let V8 optimise.
  for (let i = 0; i < (quick ? 2 : 8); i++) runOurs();
  const ours = opsPerSecond(runOurs, minMs);

  const naive = new NaiveBalance(60, 60_000, 64, new Rng(1));
  const naiveFeed = new Feeder(pool);
  let naiveSince = 0;
  const runNaive = (): number => {
    for (let i = 0; i < CHUNK; i++) {
      naive.observe(naiveFeed.next());
      if (++naiveSince >= 1024) {
        sink += naive.stats();
        naiveSince = 0;
      }
    }
    return CHUNK;
  };
  runNaive();
  const base = opsPerSecond(runNaive, minMs);
  log(`balance.updates.${categories}: ${ours.toFixed(0)} ev/s vs naive ${base.toFixed(0)} ev/s (sink ${sink.toFixed(1)}, tracked ${state.categoryCount()})`);
  return result(
    `balance.updates.${categories}`,
    ours,
    'events/s',
    { name: 'naive Map<string,number[]> window (scan-all eviction) + Map Algorithm R reservoirs, no CBRS, stats every 1,024', value: base },
    `per event: window add + per-category reservoir (Algorithm L) + CBRS offer (M=4096); stats every max(1024, C) events; weights auto-refresh every max(1024, C); Zipf(1) over ${categories} categories, 1 ms/event, 10% up to 2 s out of order; defaults 60x60 s window; target ≥ 5M ev/s at 1,000 categories${quick ? '; quick run' : ''}`,
  );
}

function naiveCompose(naive: NaiveBalance, fresh: BenchEvent[], batchSize: number, rho: number, rng: Rng): BenchEvent[] {
  const counts = naive.counts();
  let total = 0;
  for (const n of counts.values()) total += n;
  const priors = new Map<string, number>();
  const q = new Map<string, number>();
  let qSum = 0;
  for (const [id, n] of counts) {
    const p = (n + 1) / (total + counts.size);
    priors.set(id, p);
    const v = Math.pow(p, rho);
    q.set(id, v);
    qSum += v;
  }
  const batch: BenchEvent[] = [];
  const kept = new Map<string, number>();
  for (const e of fresh) {
    const a = (((q.get(e.categoryId) ?? 0) / qSum) * batchSize) / fresh.length / (priors.get(e.categoryId) ?? 1);
    if (rng.next() < a) {
      batch.push(e);
      kept.set(e.categoryId, (kept.get(e.categoryId) ?? 0) + 1);
    }
  }
  const ids = [...q.keys()];
  const short = ids.map((id) => Math.max(0, (q.get(id)! / qSum) * batchSize - (kept.get(id) ?? 0)));
  const sum = short.reduce((a, b) => a + b, 0);
  while (batch.length < batchSize && sum > 0) {
    let u = rng.next() * sum;
    let i = 0;
    while (i < ids.length - 1 && u >= short[i]!) u -= short[i++]!;
    const r = naive.reservoir(ids[i]!);
    if (r.length > 0) batch.push(r[rng.int(r.length)]!);
    else break;
  }
  return batch;
}

function composeBench(quick: boolean, log: (m: string) => void): BenchResult {
  const categories = 1000;
  const batchSize = 1024;
  const pool = makePool(categories, 1 << 16, 7);
  const state = new BalanceState<BenchEvent>({}, new Rng(3));
  const naive = new NaiveBalance(60, 60_000, 64, new Rng(3));
  const feed = new Feeder(pool);
  for (let i = 0; i < 300_000; i++) {
    const e = feed.next();
    state.observe(e);
    naive.observe(e);
  }
  const fresh: BenchEvent[] = [];
  for (let i = 0; i < batchSize; i++) fresh.push({ ...feed.next() });
  const minMs = quick ? 400 : 2000;
  let sink = 0;
  const ours = opsPerSecond(() => {
    sink += state.composeBatch(fresh, batchSize).report.size;
    return 1;
  }, minMs);
  const rng = new Rng(4);
  const base = opsPerSecond(() => {
    sink += naiveCompose(naive, fresh, batchSize, 0.3, rng).length;
    return 1;
  }, minMs);
  log(`balance.compose.1024: ${ours.toFixed(0)}/s vs naive ${base.toFixed(0)}/s (sink ${sink})`);
  return result('balance.compose.1024', ours, 'batches/s', { name: 'naive composer: Maps of priors rebuilt per batch, linear-scan weighted draws', value: base }, `batch 1,024 from 1,024 fresh events, ${categories} Zipf(1) categories, ρ=0.3, replay from per-category reservoirs; ${((ours * batchSize) / 1e6).toFixed(2)}M samples/s${quick ? '; quick run' : ''}`);
}

function heapBench(quick: boolean, log: (m: string) => void): BenchResult {
  const gc = (globalThis as { gc?: () => void }).gc;
  const events = quick ? 5_000_000 : 50_000_000;
  const pool = makePool(1000, 1 << 16, 11);
  const state = new BalanceState<BenchEvent>({}, new Rng(5));
  const feed = new Feeder(pool);
  let sink = 0;
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) {
      state.observe(feed.next());
      if ((i & 1023) === 1023) sink += state.stats().gini;
    }
  };
  run(4_000_000); // past the first full window (3.6M events), so every structure is at size
  gc?.();
  const before = process.memoryUsage().heapUsed;
  run(events);
  gc?.();
  const after = process.memoryUsage().heapUsed;
  log(`balance.heap_growth: ${after - before} bytes over ${events} events (gc ${gc ? 'on' : 'off'}, sink ${sink.toFixed(1)})`);
  return result(
    quick ? 'balance.heap_growth_5m' : 'balance.heap_growth_50m',
    after - before,
    'bytes',
    undefined,
    `heapUsed after − before ${events.toLocaleString('en')} events (1,000 categories, stats every 1,024), ${gc ? 'after global.gc()' : 'WITHOUT --expose-gc: not meaningful'}${quick ? '; quick mode runs 5M events, not 50M' : ''}`,
  );
}

export const benchmarks: Benchmark[] = [
  {
    name: 'balance',
    async run(ctx) {
      const out: BenchResult[] = [];
      for (const c of [10, 1000, 100_000]) out.push(updatesBench(c, ctx.quick, ctx.log));
      out.push(composeBench(ctx.quick, ctx.log));
      out.push(heapBench(ctx.quick, ctx.log));
      return out;
    },
  },
];
