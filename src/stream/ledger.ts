import type { EventType } from '../codec/index.js';

export interface LedgerSnapshot {
  /** Next offset to read per partition: everything below is reflected in the state. */
  positions: Record<string, number>;
  byCategory: Record<string, number>;
  byType: Record<string, number>;
  applied: number;
  invalid: number;
  duplicates: number;
  late: number;
}

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

  advance(partition: number, nextOffset: number): void {
    const current = this.positions.get(partition);
    if (current === undefined || nextOffset > current) this.positions.set(partition, nextOffset);
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
    };
  }

  static restore(s: LedgerSnapshot): IngestLedger {
    const l = new IngestLedger();
    for (const [p, o] of Object.entries(s.positions)) l.positions.set(Number(p), o);
    for (const [c, n] of Object.entries(s.byCategory)) l.byCategory.set(c, n);
    for (const [t, n] of Object.entries(s.byType)) l.byType.set(t, n);
    l.applied = s.applied;
    l.invalid = s.invalid;
    l.duplicates = s.duplicates;
    l.late = s.late;
    return l;
  }
}
