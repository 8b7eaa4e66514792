import type { CountTotals } from '../balance/index.js';
import type { EventType } from '../codec/index.js';

export interface LedgerSnapshot extends CountTotals {
  /** Next offset to read per partition: everything below is reflected in the state. */
  positions: Record<string, number>;
}

/** A snapshot as checkpoints store it: those written before `lost` existed lack it. */
export type StoredLedgerSnapshot = Omit<LedgerSnapshot, 'lost'> & { lost?: number };

/**
 * What the pipeline has taken in, since the first start (restored from checkpoints):
 * the position per partition that the balance state reflects, and cumulative counts.
 * Positions advance synchronously with the state update, so a snapshot of both taken
 * together is consistent: replaying from `positions` re-applies nothing and skips
 * nothing.
 */
export class IngestLedger {
  readonly positions = new Map<number, number>();
  readonly byCategory = new Map<string, number>();
  readonly byType = new Map<string, number>();
  applied = 0;
  invalid = 0;
  duplicates = 0;
  late = 0;
  lost = 0;

  advance(partition: number, nextOffset: number): void {
    const current = this.positions.get(partition);
    if (current === undefined || nextOffset > current) this.positions.set(partition, nextOffset);
  }

  /**
   * The records of `partition` in [from, to) were gone from the log when fetched (see
   * OffsetGapWatch in source.ts): counts them as lost and moves the position past them in
   * the same step, so a checkpoint holds either neither or both, and a restart from it
   * does not count the same gap twice.
   */
  lose(partition: number, from: number, to: number): void {
    if (to <= from) return;
    this.lost += to - from;
    this.advance(partition, to);
  }

  /** One applied event of this category (also counts it in `applied`). */
  countCategory(categoryId: string): void {
    this.applied++;
    this.byCategory.set(categoryId, (this.byCategory.get(categoryId) ?? 0) + 1);
  }

  /** `n` applied events of this type (already counted in `applied` by countCategory); once per chunk. */
  countType(type: EventType, n: number): void {
    this.byType.set(type, (this.byType.get(type) ?? 0) + n);
  }

  snapshot(): LedgerSnapshot {
    return {
      positions: Object.fromEntries([...this.positions].map(([p, o]) => [String(p), o])),
      byCategory: Object.fromEntries(this.byCategory),
      byType: Object.fromEntries(this.byType),
      applied: this.applied,
      invalid: this.invalid,
      duplicates: this.duplicates,
      late: this.late,
      lost: this.lost,
    };
  }

  static restore(s: StoredLedgerSnapshot): IngestLedger {
    const l = new IngestLedger();
    for (const [p, o] of Object.entries(s.positions)) l.positions.set(Number(p), o);
    for (const [c, n] of Object.entries(s.byCategory)) l.byCategory.set(c, n);
    for (const [t, n] of Object.entries(s.byType)) l.byType.set(t, n);
    l.applied = s.applied;
    l.invalid = s.invalid;
    l.duplicates = s.duplicates;
    l.late = s.late;
    l.lost = s.lost ?? 0;
    return l;
  }
}
