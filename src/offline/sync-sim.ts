/**
 * Offline measurement of model sync (issue #13): prequential HR@K of N replicas, each seeing
 * the events of its own users (split by a hash of userId, as Kafka partitions keyed by user
 * and split over a consumer group would), syncing every S events, against one instance that
 * sees every event; all on the same events and the same evaluation candidates, with the
 * reference rows (popularity, MF) of the backtest harness.
 *
 * Everything is the backtest's: the feed (cleaning, shared candidates, reference rows:
 * backtest-feed.ts) and one StrategyRunner per replica doing per event and batch what the
 * service does (backtest-runner.ts). The sync is the service's: SyncTracker counts each
 * replica's optimizer steps per row, its changes go through the wire codec (encode, 64 KiB
 * chunks, reassembly, decode) and are blended with `blendIntoModel`, between steps.
 *
 * Schedule: the stream goes by in ticks of `tickEvents` events. After each tick, every
 * replica that is due publishes: S events of its own seen since its last publish, or (plan
 * 'step') an optimizer step taken since; then every update published in the tick is
 * delivered to the other replicas (each blends them in publish order). So replicas that come
 * due in the same tick publish concurrently (none has the others' latest changes), as timers
 * of equal interval on separate instances do. Dense weights go with every `denseEvery`-th
 * publish of a replica. A plan without `counts` drops the positives from the updates (the
 * stream features then stay per replica: the ablation of that part of the sync).
 *
 * Per replica group the result is the union of the replicas' own evaluations (micro: all of
 * them; macro: the mean over categories). `crossMicroHr`: each evaluated positive also ranked
 * (before the tick's training) by another replica than its owner, with that replica's count
 * features: what a request for that user answered by another instance would get.
 */
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { murmur3 } from '../model/hash.js';
import { defaultConfig, type RawSettings } from '../config/index.js';
import { rankOutcome, type RankOutcome } from '../model/index.js';
import { RebalancerError } from '../errors.js';
import { ChunkAssembler, decodeChanges, updateChunks } from '../train/model-sync-codec.js';
import { blendIntoModel, syncParamsOf, trackTrainer, type ModelChanges, type SyncMode, type SyncTracker } from '../train/model-sync.js';
import { BacktestFeed } from './backtest-feed.js';
import type { EventChunk, HarnessSettings, StrategySpec } from './backtest-protocol.js';
import { StrategyRunner, StreamTables, type ChunkView } from './backtest-runner.js';
import type { TallyData } from './backtest-tally.js';
import { harnessLabelWeights } from './backtest.js';
import { createGenerator } from './generate.js';
import { strategyLayers } from './strategies.js';

export interface SyncSimOptions {
  seed: number;
  /** Events of the realistic generator profile. */
  events: number;
  /** Head/tail category share ratio of the generator (the backtest's --skew default: 100). */
  skew: number;
  instances: number;
  /** Replica groups to run, each on the same events. */
  plans: readonly SyncPlan[];
  /** Dense weights with every n-th publish (rows with every publish). */
  denseEvery: number;
  /** Run settings of every replica and of the single instance (the rest at the run defaults). */
  settings: RawSettings;
  /** Granularity of the publish points, in stream events. */
  tickEvents: number;
  /** Kafka partitions of the events topic (keyed by userId); partition p belongs to instance p mod instances. */
  partitions: number;
  k: number;
  evalCandidates: number;
  onProgress?(done: number, total: number): void;
}

/** When a replica publishes, and what. */
export interface SyncPlan {
  /** Events of its own a replica sees between publishes; 'step': after each of its optimizer steps; null: never. */
  every: number | 'step' | null;
  /** Send the positives for the other replicas' count features (default true). */
  counts?: boolean;
  /** How replicas combine (default 'average'). */
  mode?: SyncMode;
}

export const DEFAULT_SYNC_SIM: Readonly<Omit<SyncSimOptions, 'onProgress'>> = Object.freeze({
  seed: 1,
  events: 80_000,
  skew: 100,
  instances: 3,
  plans: Object.freeze([{ every: null }, { every: 10_000 }, { every: 2_000 }, { every: 500 }, { every: 100 }, { every: 'step' }, { every: 500, counts: false }, { every: 'step', mode: 'delta' }] as const satisfies readonly SyncPlan[]),
  denseEvery: 1,
  settings: {},
  tickEvents: 100,
  partitions: 12,
  k: 10,
  evalCandidates: 100,
});

export interface SimRow {
  name: string;
  instances: number;
  /** Events of its own a replica sees between publishes ('step': after each step; null: no sync, and the single instance). */
  syncEvery: number | 'step' | null;
  /** Whether updates carried the positives for the count features. */
  counts: boolean;
  mode: SyncMode;
  microHr: number;
  macroHr: number;
  evaluated: number;
  /** HR@K of the same positives ranked by another replica than the owner (the single instance: = microHr). */
  crossMicroHr: number;
  publishes: number;
  /** Bytes on the wire (chunks with their headers), and rows sent, over all publishes. */
  bytes: number;
  chunks: number;
  rows: number;
  /** Training, evaluation and sync time of the row (not deterministic). */
  seconds: number;
}

export interface SyncSimResult {
  seed: number;
  events: number;
  rows: SimRow[];
  references: Array<Pick<SimRow, 'name' | 'microHr' | 'macroHr' | 'evaluated'>>;
}

/** A result as another thread sends it. */
export const syncSimResultSchema: z.ZodType<SyncSimResult> = z.object({
  seed: z.number(),
  events: z.number(),
  rows: z.array(
    z.object({
      name: z.string(),
      instances: z.number(),
      syncEvery: z.union([z.number(), z.literal('step'), z.null()]),
      counts: z.boolean(),
      mode: z.enum(['average', 'delta']),
      microHr: z.number(),
      macroHr: z.number(),
      evaluated: z.number(),
      crossMicroHr: z.number(),
      publishes: z.number(),
      bytes: z.number(),
      chunks: z.number(),
      rows: z.number(),
      seconds: z.number(),
    }),
  ),
  references: z.array(z.object({ name: z.string(), microHr: z.number(), macroHr: z.number(), evaluated: z.number() })),
});

/** A plan as another thread sends it. */
export const syncPlanSchema: z.ZodType<SyncPlan> = z.object({
  every: z.union([z.number().int().min(1), z.literal('step'), z.null()]),
  counts: z.boolean().optional(),
  mode: z.enum(['average', 'delta']).optional(),
});

/** Salt of the user → partition hash (Kafka's partitioner hashes the key; any fixed hash splits users alike). */
const PARTITION_SEED = 0x5eed_9a27;

interface Replica {
  runner: StrategyRunner;
  tracker: SyncTracker;
  since: number;
  publishes: number;
  seq: number;
  assembler: ChunkAssembler;
}

/** N replicas (or the single instance) syncing by one plan. */
class ReplicaGroup {
  readonly replicas: Replica[];
  readonly syncEvery: number | 'step' | null;
  readonly counts: boolean;
  readonly mode: SyncMode;
  bytes = 0;
  chunks = 0;
  rows = 0;
  publishes = 0;
  seconds = 0;
  private readonly cross = { n: 0, hit: 0 };
  private readonly outcome: RankOutcome = { hit: 0, ndcg: 0, auc: 0 };

  constructor(spec: StrategySpec, harness: HarnessSettings, tables: StreamTables, n: number, plan: SyncPlan, private readonly o: SyncSimOptions) {
    this.syncEvery = plan.every;
    this.counts = plan.counts ?? true;
    this.mode = plan.mode ?? 'average';
    this.replicas = Array.from({ length: n }, () => {
      const runner = new StrategyRunner(spec, harness, tables);
      const tracker = trackTrainer(runner.trainer, this.mode);
      return { runner, tracker, since: 0, publishes: 0, seq: 0, assembler: new ChunkAssembler() };
    });
  }

  get crossMicroHr(): number {
    return this.cross.n > 0 ? this.cross.hit / this.cross.n : 0;
  }

  tick(parts: readonly ChunkView[], tables: StreamTables): void {
    const t0 = performance.now();
    const n = this.replicas.length;
    if (n > 1) this.rankCross(parts, tables);
    this.replicas.forEach((r, i) => {
      r.runner.process(parts[i]!);
      r.since += parts[i]!.events.length;
    });
    const s = this.syncEvery;
    if (s !== null) {
      const published: { from: number; changes: ModelChanges }[] = [];
      this.replicas.forEach((r, i) => {
        if (s === 'step' ? r.tracker.pending.rows === 0 : r.since < s) return;
        r.since = 0;
        published.push({ from: i, changes: this.publish(r, i) });
      });
      for (const u of published) {
        this.replicas.forEach((r, j) => {
          if (j !== u.from) blendIntoModel(r.runner.trainer.model, r.tracker, u.changes);
        });
      }
    }
    this.seconds += (performance.now() - t0) / 1000;
  }

  finish(events: number): { tally: TallyData } {
    const tallies = this.replicas.map((r) => r.runner.finish(events).tally);
    for (const r of this.replicas) r.runner.dispose();
    return { tally: mergeTallies(tallies) };
  }

  /** The replica's changes through the wire format and back, as another instance would receive them. */
  private publish(r: Replica, i: number): ModelChanges {
    const changes = r.tracker.take(syncParamsOf(r.runner.trainer.model), r.publishes % this.o.denseEvery === 0);
    if (!this.counts) changes.positives = { users: new Int32Array(0), items: new Int32Array(0), categories: new Int32Array(0), ages: new Float32Array(0) };
    r.publishes++;
    this.publishes++;
    const chunks = updateChunks({ instanceId: `replica-${i}`, seq: r.seq++, createdAt: 0, changes });
    const receiver = r.assembler;
    let body: Uint8Array | null = null;
    for (const c of chunks) {
      this.bytes += c.byteLength;
      const got = receiver.add(c);
      if (got.kind === 'complete') body = got.body;
    }
    this.chunks += chunks.length;
    if (body === null) throw new RebalancerError('REB_DECODE_INVALID', 'model update did not reassemble');
    const decoded = decodeChanges(body);
    for (const b of decoded.tables) this.rows += b.rows.length;
    return decoded;
  }

  /** Ranks each evaluated positive of the tick by the next replica after its owner, as served. */
  private rankCross(parts: readonly ChunkView[], tables: StreamTables): void {
    const n = this.replicas.length;
    const nCand = this.o.evalCandidates;
    const group = nCand + 1;
    parts.forEach((part, owner) => {
      const pairs: { userId: string; itemId: string; categoryId: string }[] = [];
      for (let e = 0; e < part.events.length; e++) {
        const slot = part.evalSlot[e]!;
        if (slot < 0) continue;
        const ev = part.events[e]!;
        pairs.push({ userId: ev.userId, itemId: ev.itemId, categoryId: ev.categoryId });
        for (let j = 0; j < nCand; j++) {
          const item = tables.pool[part.candidates[slot * nCand + j]!]!;
          pairs.push({ userId: ev.userId, itemId: item.itemId, categoryId: item.categoryId });
        }
      }
      if (pairs.length === 0) return;
      const scores = this.replicas[(owner + 1) % n]!.runner.trainer.model.scoreServed(pairs);
      for (let base = 0; base < scores.length; base += group) {
        if (!rankOutcome(scores[base]!, scores, base + 1, base + group, this.o.k, this.outcome)) continue;
        this.cross.n++;
        this.cross.hit += this.outcome.hit;
      }
    });
  }
}

/** The tallies of the replicas as one (their evaluations are disjoint). */
export function mergeTallies(tallies: readonly TallyData[]): TallyData {
  const c = Math.max(0, ...tallies.map((t) => t.catN.length));
  const sum = (pick: (t: TallyData) => number[]): number[] => Array.from({ length: c }, (_, i) => tallies.reduce((s, t) => s + (pick(t)[i] ?? 0), 0));
  return {
    n: tallies.reduce((s, t) => s + t.n, 0),
    hit: tallies.reduce((s, t) => s + t.hit, 0),
    ndcg: tallies.reduce((s, t) => s + t.ndcg, 0),
    auc: tallies.reduce((s, t) => s + t.auc, 0),
    catN: sum((t) => t.catN),
    catHit: sum((t) => t.catHit),
    catNdcg: sum((t) => t.catNdcg),
    catAuc: sum((t) => t.catAuc),
    recommended: sum((t) => t.recommended),
    recSlots: tallies.reduce((s, t) => s + t.recSlots, 0),
    series: [],
  };
}

/** Micro HR@K (all evaluations) and macro HR@K (mean over the categories evaluated), as the backtest reports them. */
export function hitRates(t: TallyData): { micro: number; macro: number } {
  let macro = 0;
  let cats = 0;
  t.catN.forEach((n, i) => {
    if (n > 0) {
      macro += t.catHit[i]! / n;
      cats++;
    }
  });
  return { micro: t.n > 0 ? t.hit / t.n : 0, macro: cats > 0 ? macro / cats : 0 };
}

/** The chunk's events of each instance's users, in stream order (evaluation slots and candidates kept). */
export function splitByUser(view: ChunkView, owner: (userId: string) => number, instances: number): ChunkView[] {
  const picks: number[][] = Array.from({ length: instances }, () => []);
  for (let i = 0; i < view.events.length; i++) picks[owner(view.events[i]!.userId)]!.push(i);
  return picks.map((idx) => ({
    start: view.start,
    events: idx.map((i) => view.events[i]!),
    categories: Int32Array.from(idx, (i) => view.categories[i]!),
    types: Uint8Array.from(idx, (i) => view.types[i]!),
    evalSlot: Int32Array.from(idx, (i) => view.evalSlot[i]!),
    candidates: view.candidates,
    probes: new Map(),
  }));
}

function validate(o: SyncSimOptions): void {
  const bad = (setting: string, expected: string, got: unknown): never => {
    throw new RebalancerError('REB_INPUT_INVALID', `sync simulation: ${setting} must be ${expected}, got ${JSON.stringify(got)}`, { setting, got });
  };
  const int = (name: string, v: number, min: number, max: number): void => {
    if (!Number.isInteger(v) || v < min || v > max) bad(name, `an integer in [${min}, ${max}]`, v);
  };
  int('events', o.events, 1, 1e8);
  int('instances', o.instances, 2, 64);
  int('partitions', o.partitions, o.instances, 10_000);
  int('tickEvents', o.tickEvents, 1, 1e6);
  int('denseEvery', o.denseEvery, 1, 1e6);
  int('k', o.k, 1, o.evalCandidates);
  int('evalCandidates', o.evalCandidates, 1, 100_000);
  for (const p of o.plans) if (typeof p.every === 'number') int('plans[].every', p.every, 1, 1e9);
  if (!(o.skew >= 1)) bad('skew', 'a number >= 1', o.skew);
}

export function runSyncSim(options: Partial<SyncSimOptions> = {}): SyncSimResult {
  const o: SyncSimOptions = { ...DEFAULT_SYNC_SIM, ...options };
  validate(o);
  const defaults = defaultConfig();
  const feed = new BacktestFeed({
    seed: o.seed,
    k: o.k,
    evalCandidates: o.evalCandidates,
    seriesEvery: o.events + 1,
    probeEvery: o.events + 1,
    probeUsers: 0,
    probeItems: o.evalCandidates,
    chunkSize: o.tickEvents,
    dedupHorizon: defaults.dedupHorizon,
    maxFutureSkewMs: defaults.maxFutureSkewMs,
    labelWeights: harnessLabelWeights(),
  });
  const harness: HarnessSettings = { k: o.k, evalCandidates: o.evalCandidates, seriesEvery: o.events + 1 };
  const spec: StrategySpec = { name: 'service', layers: strategyLayers({ name: 'service', description: '', settings: o.settings, origin: 'sync simulation' }, { seed: String(o.seed) }) };
  const tables = new StreamTables();
  const single = new ReplicaGroup(spec, harness, tables, 1, { every: null }, o);
  const groups = o.plans.map((p) => new ReplicaGroup(spec, harness, tables, o.instances, p, o));
  const owner = (userId: string): number => (murmur3(userId, PARTITION_SEED) % o.partitions) % o.instances;
  const step = (chunk: EventChunk | undefined): void => {
    if (chunk === undefined) return;
    const view = tables.decode(chunk);
    single.tick([view], tables);
    const parts = splitByUser(view, owner, o.instances);
    for (const g of groups) g.tick(parts, tables);
    o.onProgress?.(chunk.start + chunk.userIds.length, o.events);
  };
  const generator = createGenerator({ profile: 'realistic', seed: o.seed, events: o.events, skew: o.skew });
  for (let i = 0; i < o.events; i++) step(feed.add(generator.next()));
  step(feed.finish());
  const row = (name: string, g: ReplicaGroup): SimRow => {
    const { tally } = g.finish(feed.events);
    const hr = hitRates(tally);
    const single = g.replicas.length === 1;
    return {
      name,
      instances: g.replicas.length,
      syncEvery: g.syncEvery,
      counts: g.counts && g.syncEvery !== null,
      mode: g.mode,
      microHr: hr.micro,
      macroHr: hr.macro,
      evaluated: tally.n,
      crossMicroHr: single ? hr.micro : g.crossMicroHr,
      publishes: g.publishes,
      bytes: g.bytes,
      chunks: g.chunks,
      rows: g.rows,
      seconds: g.seconds,
    };
  };
  const name = (g: ReplicaGroup): string => {
    const every = g.syncEvery === null ? 'sync off' : g.syncEvery === 'step' ? 'sync after every step' : `sync every ${g.syncEvery}`;
    const sync = g.syncEvery === null ? '' : `${g.mode === 'delta' ? ', deltas' : ''}${g.counts ? '' : ', no counts'}`;
    return `${o.instances} instances, ${every}${sync}`;
  };
  const rows = [row('1 instance', single), ...groups.map((g) => row(name(g), g))];
  const references = feed.referenceTallies().map((r) => {
    const t = r.tally.data();
    const hr = hitRates(t);
    return { name: `${r.name} (ref)`, microHr: hr.micro, macroHr: hr.macro, evaluated: t.n };
  });
  return { seed: o.seed, events: feed.events, rows, references };
}
