/**
 * Approximate most-frequent items of the stream with bounded memory: exact counts in a
 * map until it holds 2×capacity items, then only the `capacity` most counted are kept
 * (amortised O(log n) per add). Counts of survivors are halved at each prune so the
 * ranking follows recent popularity. Supplies the head of the recommendation candidates.
 */
import { RebalancerError } from '../errors.js';
export interface PopularItem {
  itemId: string;
  categoryId: string;
  count: number;
}

export class PopularItems {
  private readonly items = new Map<string, PopularItem>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RebalancerError('REB_ARGUMENT_INVALID', `PopularItems capacity must be a positive integer, got ${capacity}`);
  }

  add(itemId: string, categoryId: string): void {
    const item = this.items.get(itemId);
    if (item !== undefined) {
      item.count++;
      return;
    }
    this.items.set(itemId, { itemId, categoryId, count: 1 });
    if (this.items.size >= 2 * this.capacity) this.prune();
  }

  /** The n most counted items, most counted first. */
  top(n: number): PopularItem[] {
    if (n <= 0) return [];
    return [...this.items.values()].sort((a, b) => b.count - a.count || (a.itemId < b.itemId ? -1 : 1)).slice(0, n);
  }

  snapshot(): { capacity: number; items: PopularItem[] } {
    return { capacity: this.capacity, items: [...this.items.values()].map((i) => ({ ...i })) };
  }

  static restore(s: { capacity: number; items: PopularItem[] }): PopularItems {
    const p = new PopularItems(s.capacity);
    for (const i of s.items) p.items.set(i.itemId, { ...i });
    return p;
  }

  private prune(): void {
    const keep = this.top(this.capacity);
    this.items.clear();
    for (const i of keep) this.items.set(i.itemId, { ...i, count: Math.ceil(i.count / 2) });
  }
}
