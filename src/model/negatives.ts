/**
 * The item catalog the samplers draw from, with exact sampling probabilities.
 *
 * Memory is bounded: at most `capacity` catalog items (when full, a new item replaces a
 * uniformly chosen slot) and a ring of the last `ringSize` positives. Negatives are drawn
 * from the mixture q(i) = u·[i ∈ catalog]/|catalog| + (1 − u)·count_ring(i)/|ring| — uniform
 * over known items with probability u, "recently popular" (unigram over the ring)
 * otherwise — and q(i) is what the sampled-negative correction (Yi et al., RecSys 2019)
 * subtracts in log space.
 */
import { Rng, type RngState } from '../balance/index.js';

export interface CatalogItem {
  itemId: string;
  categoryId: string;
}

export interface CatalogState {
  capacity: number;
  ringSize: number;
  uniformShare: number;
  items: string[];
  categories: string[];
  ringItems: string[];
  ringCategories: string[];
  ringPos: number;
  rng: RngState;
}

export class ItemCatalog {
  readonly capacity: number;
  readonly ringSize: number;
  readonly uniformShare: number;
  private readonly rng: Rng;
  private readonly itemIds: string[] = [];
  private readonly categoryIds: string[] = [];
  private readonly slotOf = new Map<string, number>();
  private readonly ringItems: string[] = [];
  private readonly ringCategories: string[] = [];
  private ringPos = 0;
  private readonly ringCount = new Map<string, number>();
  /** Catalog items per category (the categories the catalog holds now). */
  private readonly categoryItems = new Map<string, number>();

  constructor(capacity: number, ringSize: number, uniformShare: number, rng: Rng) {
    this.capacity = capacity;
    this.ringSize = ringSize;
    this.uniformShare = uniformShare;
    this.rng = rng;
  }

  get size(): number {
    return this.itemIds.length;
  }

  /** Records a positive: the item joins the catalog (if new) and the popularity ring. */
  observe(itemId: string, categoryId: string): void {
    const slot = this.slotOf.get(itemId);
    if (slot === undefined) {
      if (this.itemIds.length < this.capacity) {
        this.slotOf.set(itemId, this.itemIds.length);
        this.itemIds.push(itemId);
        this.categoryIds.push(categoryId);
      } else {
        const victim = this.rng.int(this.capacity);
        this.slotOf.delete(this.itemIds[victim]!);
        this.countCategory(this.categoryIds[victim]!, -1);
        this.itemIds[victim] = itemId;
        this.categoryIds[victim] = categoryId;
        this.slotOf.set(itemId, victim);
      }
      this.countCategory(categoryId, 1);
    } else if (this.categoryIds[slot] !== categoryId) {
      this.countCategory(this.categoryIds[slot]!, -1);
      this.categoryIds[slot] = categoryId;
      this.countCategory(categoryId, 1);
    }
    if (this.ringItems.length < this.ringSize) {
      this.ringItems.push(itemId);
      this.ringCategories.push(categoryId);
    } else {
      const old = this.ringItems[this.ringPos]!;
      const c = this.ringCount.get(old)! - 1;
      if (c === 0) this.ringCount.delete(old);
      else this.ringCount.set(old, c);
      this.ringItems[this.ringPos] = itemId;
      this.ringCategories[this.ringPos] = categoryId;
      this.ringPos = (this.ringPos + 1) % this.ringSize;
    }
    this.ringCount.set(itemId, (this.ringCount.get(itemId) ?? 0) + 1);
  }

  /** The categories of the catalog's items (each once; a live view). */
  categories(): IterableIterator<string> {
    return this.categoryItems.keys();
  }

  private countCategory(categoryId: string, delta: number): void {
    const n = (this.categoryItems.get(categoryId) ?? 0) + delta;
    if (n === 0) this.categoryItems.delete(categoryId);
    else this.categoryItems.set(categoryId, n);
  }

  /** Probability that one `sampleNegative` draw (before rejection of the positive) returns the item. */
  probability(itemId: string): number {
    const n = this.itemIds.length;
    const r = this.ringItems.length;
    if (n === 0 && r === 0) return 0;
    const inCatalog = this.slotOf.has(itemId) ? 1 : 0;
    if (r === 0) return n === 0 ? 0 : inCatalog / n;
    const ringShare = (this.ringCount.get(itemId) ?? 0) / r;
    if (n === 0) return ringShare;
    return (this.uniformShare * inCatalog) / n + (1 - this.uniformShare) * ringShare;
  }

  /** A negative for a positive of `excludeItemId` (accidental hits are redrawn), or null if none. */
  sampleNegative(excludeItemId: string): CatalogItem | null {
    for (let attempt = 0; attempt < 8; attempt++) {
      const useUniform = this.ringItems.length === 0 || (this.itemIds.length > 0 && this.rng.next() < this.uniformShare);
      let itemId: string;
      let categoryId: string;
      if (useUniform) {
        if (this.itemIds.length === 0) return null;
        const s = this.rng.int(this.itemIds.length);
        itemId = this.itemIds[s]!;
        categoryId = this.categoryIds[s]!;
      } else {
        const s = this.rng.int(this.ringItems.length);
        itemId = this.ringItems[s]!;
        categoryId = this.ringCategories[s]!;
      }
      if (itemId !== excludeItemId) return { itemId, categoryId };
    }
    return null;
  }

  /** Up to `n` distinct catalog items drawn uniformly without `excludeItemId` (evaluation candidates). */
  sampleUniform(n: number, excludeItemId: string, out: CatalogItem[] = []): CatalogItem[] {
    out.length = 0;
    const size = this.itemIds.length;
    const available = this.slotOf.has(excludeItemId) ? size - 1 : size;
    const want = Math.min(n, available);
    if (want <= 0) return out;
    const taken = new Set<number>();
    const excludeSlot = this.slotOf.get(excludeItemId);
    while (out.length < want) {
      const s = this.rng.int(size);
      if (s === excludeSlot || taken.has(s)) continue;
      taken.add(s);
      out.push({ itemId: this.itemIds[s]!, categoryId: this.categoryIds[s]! });
    }
    return out;
  }

  exportState(): CatalogState {
    return {
      capacity: this.capacity,
      ringSize: this.ringSize,
      uniformShare: this.uniformShare,
      items: [...this.itemIds],
      categories: [...this.categoryIds],
      ringItems: [...this.ringItems],
      ringCategories: [...this.ringCategories],
      ringPos: this.ringPos,
      rng: this.rng.state(),
    };
  }

  static fromState(state: CatalogState): ItemCatalog {
    const c = new ItemCatalog(state.capacity, state.ringSize, state.uniformShare, Rng.fromState(state.rng));
    for (let i = 0; i < state.items.length; i++) {
      c.slotOf.set(state.items[i]!, i);
      c.itemIds.push(state.items[i]!);
      c.categoryIds.push(state.categories[i]!);
      c.countCategory(state.categories[i]!, 1);
    }
    for (let i = 0; i < state.ringItems.length; i++) {
      c.ringItems.push(state.ringItems[i]!);
      c.ringCategories.push(state.ringCategories[i]!);
      c.ringCount.set(state.ringItems[i]!, (c.ringCount.get(state.ringItems[i]!) ?? 0) + 1);
    }
    c.ringPos = state.ringPos;
    return c;
  }
}
