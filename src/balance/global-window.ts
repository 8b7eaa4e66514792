/**
 * The global category window: the merge of every input partition's bucketed counts, as
 * their owners publish them (one record per partition and event-time bucket, plus one of
 * cumulative totals per partition). Records carry absolute counts and the partition
 * position they reflect, so merging is idempotent and order-free: a record replaces the
 * one held for the same key only when its position is at least as far, so a late or
 * re-delivered record of an earlier owner cannot move a partition's counts back.
 *
 * Pure: no I/O, no clock. The instance derives its priors and class weights from here, so
 * every instance weights by the same (global) distribution whatever partitions it owns.
 */

/** Events per category of one partition in one event-time bucket ⌊t/Δ⌋, as of `position`. */
export interface BucketCounts {
  readonly kind: 'bucket';
  readonly partition: number;
  readonly bucket: number;
  /** Next offset of the partition these counts reflect. */
  readonly position: number;
  readonly counts: Readonly<Record<string, number>>;
}

/** Cumulative counts of what was taken in (per partition, or summed over partitions). */
export interface CountTotals {
  byCategory: Record<string, number>;
  byType: Record<string, number>;
  applied: number;
  duplicates: number;
  late: number;
  lost: number;
  invalid: number;
}

/** What a partition has taken in since its first offset, as of `position`. */
export interface PartitionTotals extends CountTotals {
  readonly kind: 'totals';
  readonly partition: number;
  readonly position: number;
}

/** A bucket the owner no longer keeps (older than the window). */
export interface BucketEvicted {
  readonly kind: 'evict';
  readonly partition: number;
  readonly bucket: number;
}

export type CountsRecord = BucketCounts | PartitionTotals | BucketEvicted;

/** The merged totals of every partition heard of. */
export interface GlobalTotals extends CountTotals {
  partitions: number;
}

export class GlobalWindow {
  private readonly buckets = new Map<number, Map<number, BucketCounts>>();
  private readonly totalsByPartition = new Map<number, PartitionTotals>();
  private head = -Infinity;
  private cache: { counts: Map<string, number>; total: number } | undefined;
  private applied = 0;
  private ignored = 0;

  /** `bucketCount`: buckets in the window (the newest bucket heard of and the ones before it). */
  constructor(private readonly bucketCount: number) {}

  /** Merges one record; false when it was ignored (older than what is held for its key). */
  apply(r: CountsRecord): boolean {
    if (r.kind === 'totals') {
      const held = this.totalsByPartition.get(r.partition);
      if (held !== undefined && held.position > r.position) return this.ignore();
      this.totalsByPartition.set(r.partition, r);
      this.applied++;
      return true;
    }
    let byBucket = this.buckets.get(r.partition);
    if (r.kind === 'evict') {
      byBucket?.delete(r.bucket);
      this.cache = undefined;
      this.applied++;
      return true;
    }
    if (byBucket === undefined) {
      byBucket = new Map();
      this.buckets.set(r.partition, byBucket);
    }
    const held = byBucket.get(r.bucket);
    if (held !== undefined && held.position > r.position) return this.ignore();
    byBucket.set(r.bucket, r);
    if (r.bucket > this.head) this.evictBefore(r.bucket - this.bucketCount + 1, r.bucket);
    this.cache = undefined;
    this.applied++;
    return true;
  }

  /** Records merged and records ignored as older than the held ones. */
  get records(): { applied: number; ignored: number } {
    return { applied: this.applied, ignored: this.ignored };
  }

  /** The newest bucket index heard of (−Infinity before the first record). */
  get headBucket(): number {
    return this.head;
  }

  /** Partitions with totals. */
  partitions(): number[] {
    return [...this.totalsByPartition.keys()].sort((a, b) => a - b);
  }

  /** n_c over the window's buckets of every partition. */
  counts(): ReadonlyMap<string, number> {
    return this.merged().counts;
  }

  count(categoryId: string): number {
    return this.merged().counts.get(categoryId) ?? 0;
  }

  /** N over the window. */
  total(): number {
    return this.merged().total;
  }

  /** C: categories with events in the window. */
  categories(): number {
    return this.merged().counts.size;
  }

  /** Cumulative totals summed over partitions (exact: each partition's owner counts by offset). */
  totals(): GlobalTotals {
    const out: GlobalTotals = { byCategory: {}, byType: {}, applied: 0, duplicates: 0, late: 0, lost: 0, invalid: 0, partitions: this.totalsByPartition.size };
    for (const t of this.totalsByPartition.values()) {
      for (const [c, n] of Object.entries(t.byCategory)) out.byCategory[c] = (out.byCategory[c] ?? 0) + n;
      for (const [ty, n] of Object.entries(t.byType)) out.byType[ty] = (out.byType[ty] ?? 0) + n;
      out.applied += t.applied;
      out.duplicates += t.duplicates;
      out.late += t.late;
      out.lost += t.lost;
      out.invalid += t.invalid;
    }
    return out;
  }

  /** Per-partition positions the totals reflect. */
  positions(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [p, t] of this.totalsByPartition) out[String(p)] = t.position;
    return out;
  }

  private ignore(): false {
    this.ignored++;
    return false;
  }

  private evictBefore(first: number, head: number): void {
    this.head = head;
    for (const byBucket of this.buckets.values()) {
      for (const b of byBucket.keys()) if (b < first) byBucket.delete(b);
    }
  }

  private merged(): { counts: Map<string, number>; total: number } {
    if (this.cache !== undefined) return this.cache;
    const counts = new Map<string, number>();
    let total = 0;
    const first = this.head - this.bucketCount + 1;
    for (const byBucket of this.buckets.values()) {
      for (const r of byBucket.values()) {
        if (r.bucket < first) continue;
        for (const [c, n] of Object.entries(r.counts)) {
          if (!(n > 0)) continue;
          counts.set(c, (counts.get(c) ?? 0) + n);
          total += n;
        }
      }
    }
    this.cache = { counts, total };
    return this.cache;
  }
}

/** Share divergence between two count maps: total variation distance ½ Σ |p_c − q_c| (0 = same mix, 1 = disjoint). */
export function shareDivergence(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): number {
  let ta = 0;
  let tb = 0;
  for (const n of a.values()) ta += n;
  for (const n of b.values()) tb += n;
  if (ta === 0 || tb === 0) return 0;
  let sum = 0;
  const keys = new Set([...a.keys(), ...b.keys()]);
  for (const k of keys) sum += Math.abs((a.get(k) ?? 0) / ta - (b.get(k) ?? 0) / tb);
  return sum / 2;
}
