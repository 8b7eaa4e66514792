import { z } from 'zod';
import type { InteractionEvent } from '../codec/index.js';
import type { BucketCounts, CountTotals, CountsRecord, PartitionTotals } from '../balance/index.js';
import { RebalancerError } from '../errors.js';
import { DedupSet } from './dedup.js';

/**
 * What one input partition has taken in, owned by whichever instance the consumer group
 * assigns the partition to: its position (next offset; every offset below is counted), its
 * cumulative totals, its bucketed event-time category counts over the window, and the ids
 * of its recent events (duplicate suppression by eventId, over a span of event time).
 *
 * An event is counted iff its offset is at or beyond the position, so counting is exact
 * however often Kafka re-delivers (a group rejoin re-reads from the last commit): the
 * position, not a finite id horizon, decides. The id set only catches duplicates the
 * producer wrote twice (replays are at-least-once), which land in the same partition since
 * events are keyed by user.
 *
 * Kept in the changelog topic (state/changelog.ts) as one blob per partition, so any
 * instance can restore any partition; its counts are published to the global counts topic
 * (balance/global-window.ts). No I/O, no clock.
 */
export interface PartitionStateOptions {
  bucketWidthMs: number;
  bucketCount: number;
  /** Most ids remembered (memory bound). */
  dedupCapacity: number;
  /** Ids older than this (event time, behind the partition's newest event) are forgotten. */
  dedupHorizonMs: number;
}

/** What `admit` decided for an event at an offset. */
export type Admission = 'new' | 'duplicate' | 'behind';

type Totals = CountTotals;

const Header = z.object({
  v: z.literal(1),
  partition: z.number().int().min(0),
  position: z.number().int().min(-1),
  newest: z.number().nullable(),
  totals: z.object({
    byCategory: z.record(z.string(), z.number().int().min(0)),
    byType: z.record(z.string(), z.number().int().min(0)),
    applied: z.number().int().min(0),
    duplicates: z.number().int().min(0),
    late: z.number().int().min(0),
    lost: z.number().int().min(0),
    invalid: z.number().int().min(0),
  }),
  buckets: z.array(z.tuple([z.number().int(), z.record(z.string(), z.number().int().min(0))])),
});

export class PartitionState {
  /** Next offset: every offset below is counted (−1: none seen yet, the first delivered starts it). */
  private pos: number;
  private readonly t: Totals;
  private readonly buckets = new Map<number, Map<string, number>>();
  private readonly dirty = new Set<number>();
  private readonly evicted: number[] = [];
  private newestTime = -Infinity;
  private readonly dedup: DedupSet;

  constructor(readonly partition: number, private readonly o: PartitionStateOptions, position = -1, totals?: Totals, dedup?: DedupSet) {
    this.pos = position;
    this.t = totals ?? { byCategory: {}, byType: {}, applied: 0, duplicates: 0, late: 0, lost: 0, invalid: 0 };
    this.dedup = dedup ?? new DedupSet(o.dedupCapacity);
  }

  get position(): number {
    return this.pos;
  }

  get totals(): Readonly<Totals> {
    return this.t;
  }

  /** Ids remembered for duplicate suppression. */
  get rememberedIds(): number {
    return this.dedup.size;
  }

  /** Whether the record at `offset` is not counted yet. */
  isNew(offset: number): boolean {
    return this.pos < 0 || offset >= this.pos;
  }

  /**
   * A valid event at `offset`: `behind` (below the position: counted before, nothing to do),
   * `duplicate` (its id was seen within the horizon: counted as a duplicate), or `new`
   * (counted in the totals and its event-time bucket).
   */
  admit(e: InteractionEvent, offset: number): Admission {
    if (!this.isNew(offset)) return 'behind';
    if (e.eventTime > this.newestTime) {
      const head = this.headBucket();
      this.newestTime = e.eventTime;
      this.dedup.expireBefore(e.eventTime - this.o.dedupHorizonMs);
      if (this.headBucket() > head) this.evictOld();
    }
    if (!this.dedup.add(e.eventId, e.eventTime)) {
      this.t.duplicates++;
      return 'duplicate';
    }
    this.t.applied++;
    this.t.byCategory[e.categoryId] = (this.t.byCategory[e.categoryId] ?? 0) + 1;
    this.t.byType[e.type] = (this.t.byType[e.type] ?? 0) + 1;
    const bucket = Math.floor(e.eventTime / this.o.bucketWidthMs);
    if (bucket <= this.headBucket() - this.o.bucketCount) {
      this.t.late++;
      return 'new';
    }
    let counts = this.buckets.get(bucket);
    if (counts === undefined) {
      counts = new Map();
      this.buckets.set(bucket, counts);
    }
    counts.set(e.categoryId, (counts.get(e.categoryId) ?? 0) + 1);
    this.dirty.add(bucket);
    return 'new';
  }

  /** A record at `offset` that is not a valid event (dead-lettered): counted once, if new. */
  reject(offset: number): void {
    if (this.isNew(offset)) this.t.invalid++;
  }

  /** Offsets [from, to) were gone from the log when fetched (retention): counted as lost, once. */
  lose(from: number, to: number): void {
    const start = Math.max(from, this.pos);
    if (to > start) this.t.lost += to - start;
    this.advance(to);
  }

  /** Everything below `nextOffset` has been taken in. */
  advance(nextOffset: number): void {
    if (nextOffset > this.pos) this.pos = nextOffset;
  }

  /** Starts counting at `offset` when no position is known (a partition never seen, consumed from where the group starts). */
  startAt(offset: number): void {
    if (this.pos < 0) this.pos = offset;
  }

  /** Records for the global counts topic: changed buckets, evicted buckets and the totals; clears the change set. */
  takeRecords(): CountsRecord[] {
    const out: CountsRecord[] = [];
    for (const b of this.evicted) out.push({ kind: 'evict', partition: this.partition, bucket: b });
    this.evicted.length = 0;
    for (const b of this.dirty) {
      const counts = this.buckets.get(b);
      if (counts !== undefined) out.push(this.bucketRecord(b, counts));
    }
    this.dirty.clear();
    out.push(this.totalsRecord());
    return out;
  }

  /** Every bucket and the totals (after a restore, so the topic holds this owner's view). */
  allRecords(): CountsRecord[] {
    this.dirty.clear();
    this.evicted.length = 0;
    const out: CountsRecord[] = [...this.buckets].map(([b, counts]) => this.bucketRecord(b, counts));
    out.push(this.totalsRecord());
    return out;
  }

  totalsRecord(): PartitionTotals {
    return { kind: 'totals', partition: this.partition, position: this.pos, ...structuredClone(this.t) };
  }

  /** The blob the changelog keeps: a length-prefixed JSON header, then the remembered ids (16 bytes each). */
  toBlob(): Buffer {
    const header = Buffer.from(
      JSON.stringify({
        v: 1,
        partition: this.partition,
        position: this.pos,
        newest: Number.isFinite(this.newestTime) ? this.newestTime : null,
        totals: this.t,
        buckets: [...this.buckets].map(([b, counts]) => [b, Object.fromEntries(counts)]),
      }),
    );
    const length = Buffer.alloc(4);
    length.writeUInt32BE(header.length);
    return Buffer.concat([length, header, this.dedup.toBytes()]);
  }

  /** Rebuilds from toBlob(); a blob that does not parse is REB_CHECKPOINT_CORRUPT. */
  static fromBlob(blob: Buffer, o: PartitionStateOptions): PartitionState {
    if (blob.length < 4) throw corrupt('shorter than its length prefix');
    const length = blob.readUInt32BE(0);
    if (4 + length > blob.length) throw corrupt(`its header length ${length} runs past the blob (${blob.length} bytes)`);
    let raw: unknown;
    try {
      raw = JSON.parse(blob.subarray(4, 4 + length).toString('utf8'));
    } catch (err) {
      throw corrupt(`its header is not JSON (${(err as Error).message})`);
    }
    const h = Header.safeParse(raw);
    if (!h.success) throw corrupt(`its header does not match the schema: ${h.error.message}`);
    const state = new PartitionState(h.data.partition, o, h.data.position, h.data.totals, DedupSet.fromBytes(o.dedupCapacity, blob.subarray(4 + length)));
    state.newestTime = h.data.newest ?? -Infinity;
    for (const [b, counts] of h.data.buckets) state.buckets.set(b, new Map(Object.entries(counts)));
    return state;
  }

  private headBucket(): number {
    return Number.isFinite(this.newestTime) ? Math.floor(this.newestTime / this.o.bucketWidthMs) : -Infinity;
  }

  private evictOld(): void {
    const first = this.headBucket() - this.o.bucketCount + 1;
    for (const b of this.buckets.keys()) {
      if (b < first) {
        this.buckets.delete(b);
        this.dirty.delete(b);
        this.evicted.push(b);
      }
    }
  }

  private bucketRecord(bucket: number, counts: Map<string, number>): BucketCounts {
    return { kind: 'bucket', partition: this.partition, bucket, position: this.pos, counts: Object.fromEntries(counts) };
  }
}

function corrupt(why: string): RebalancerError {
  return new RebalancerError('REB_CHECKPOINT_CORRUPT', `a partition state blob is unreadable: ${why}`);
}

/**
 * The partitions this instance owns now. A partition is created when first seen (fresh) or
 * installed from its changelog blob when assigned; dropped when revoked (its new owner
 * restores it from the changelog).
 */
export class PartitionStates {
  private readonly owned = new Map<number, PartitionState>();

  /**
   * `autoCreate`: a partition seen without an installed state gets a fresh one (no ownership
   * layer, e.g. a single consumer in tests). The service installs states on assignment and
   * leaves this off, so records of a partition just revoked are not counted here.
   */
  constructor(readonly options: PartitionStateOptions, readonly autoCreate = false) {}

  get(partition: number): PartitionState | undefined {
    return this.owned.get(partition);
  }

  /** The partition's state if owned (created when `autoCreate`), else undefined. */
  forRecords(partition: number): PartitionState | undefined {
    return this.owned.get(partition) ?? (this.autoCreate ? this.ensure(partition) : undefined);
  }

  /** The partition's state, a fresh one if none is installed yet. */
  ensure(partition: number): PartitionState {
    let s = this.owned.get(partition);
    if (s === undefined) {
      s = new PartitionState(partition, this.options);
      this.owned.set(partition, s);
    }
    return s;
  }

  install(state: PartitionState): void {
    this.owned.set(state.partition, state);
  }

  drop(partition: number): void {
    this.owned.delete(partition);
  }

  partitions(): number[] {
    return [...this.owned.keys()].sort((a, b) => a - b);
  }

  /** Positions of the owned partitions that have one. */
  positions(): Map<number, number> {
    const out = new Map<number, number>();
    for (const [p, s] of this.owned) if (s.position >= 0) out.set(p, s.position);
    return out;
  }

  all(): PartitionState[] {
    return [...this.owned.values()];
  }
}
