/**
 * A synthetic interaction stream with known user preferences and a 100:1 category skew,
 * plus a tiny in-test balancer (class weights + minority replay) for the model tests.
 *
 * Users fall in G taste groups (user index mod G). In category c, group g likes a block of
 * `likedPerGroup` items (the block is rotated per category so tastes differ across
 * categories); an event picks the category by the skew, a user uniformly, and an item from
 * the user's liked block with probability `affinity`, else uniformly in the category.
 */
import { Rng } from '../../src/balance/rng.js';
import type { Interaction } from '../../src/model/index.js';

export interface StreamSpec {
  categories: Array<{ id: string; share: number }>;
  itemsPerCategory: number;
  users: number;
  groups: number;
  affinity: number;
}

export const SKEWED_SPEC: StreamSpec = {
  // 100:1 between the head and each tail category.
  categories: [
    { id: 'head', share: 100 },
    { id: 'tail1', share: 1 },
    { id: 'tail2', share: 1 },
    { id: 'tail3', share: 1 },
  ],
  itemsPerCategory: 40,
  users: 400,
  groups: 8,
  affinity: 0.9,
};

export class SyntheticStream {
  private readonly rng: Rng;
  private readonly cumulative: number[];
  readonly prior: Map<string, number>;

  constructor(
    readonly spec: StreamSpec,
    seed: number,
  ) {
    this.rng = new Rng(seed);
    const total = spec.categories.reduce((s, c) => s + c.share, 0);
    let acc = 0;
    this.cumulative = spec.categories.map((c) => (acc += c.share / total));
    this.prior = new Map(spec.categories.map((c) => [c.id, c.share / total]));
  }

  next(): Interaction {
    const s = this.spec;
    const x = this.rng.next();
    let ci = this.cumulative.findIndex((c) => x < c);
    if (ci < 0) ci = s.categories.length - 1;
    const user = this.rng.int(s.users);
    const group = user % s.groups;
    const block = s.itemsPerCategory / s.groups;
    let item: number;
    if (this.rng.next() < s.affinity) {
      const rotated = (group + ci * 3) % s.groups;
      item = rotated * block + this.rng.int(block);
    } else {
      item = this.rng.int(s.itemsPerCategory);
    }
    const cat = s.categories[ci]!.id;
    return { userId: `u${user}`, itemId: `${cat}-i${item}`, categoryId: cat, type: this.rng.next() < 0.1 ? 'purchase' : 'click' };
  }

  batch(n: number): Interaction[] {
    return Array.from({ length: n }, () => this.next());
  }
}

/**
 * Tiny balancer: class weights w_c ∝ π_c^{-1/2} normalised so that Σ π_c w_c = 1 and
 * clipped to [0.1, 10], and replay of `replayPerStep` minority events drawn uniformly over
 * minority categories (share < threshold) from per-category reservoirs (Algorithm R).
 */
export class TinyBalancer {
  private readonly reservoirs = new Map<string, { items: Interaction[]; seen: number }>();
  private readonly weights = new Map<string, number>();

  constructor(
    private readonly prior: Map<string, number>,
    private readonly rng: Rng,
    private readonly replayPerStep: number,
    private readonly capacity = 256,
    private readonly threshold = 0.1,
    private readonly batchMixWeights = false,
    private readonly mixExponent = 0.5,
  ) {
    let norm = 0;
    for (const p of prior.values()) norm += p * Math.pow(p, -0.5);
    for (const [c, p] of prior) this.weights.set(c, Math.min(10, Math.max(0.1, Math.pow(p, -0.5) / norm)));
  }

  weightOf(categoryId: string): number {
    return this.weights.get(categoryId) ?? 1;
  }

  /** Fresh events first, then replayed minority events; weights per positive. */
  compose(fresh: readonly Interaction[]): { positives: Interaction[]; weights: Float32Array } {
    for (const e of fresh) {
      if ((this.prior.get(e.categoryId) ?? 0) >= this.threshold) continue;
      let r = this.reservoirs.get(e.categoryId);
      if (r === undefined) this.reservoirs.set(e.categoryId, (r = { items: [], seen: 0 }));
      r.seen++;
      if (r.items.length < this.capacity) r.items.push(e);
      else {
        const j = this.rng.int(r.seen);
        if (j < this.capacity) r.items[j] = e;
      }
    }
    const positives = [...fresh];
    const cats = [...this.reservoirs.values()].filter((r) => r.items.length > 0);
    for (let i = 0; i < this.replayPerStep && cats.length > 0; i++) {
      const r = cats[this.rng.int(cats.length)]!;
      positives.push(r.items[this.rng.int(r.items.length)]!);
    }
    if (this.batchMixWeights) {
      // Square-root inverse of the composed batch's own mix, normalised to mean 1: replay
      // already moved the mix towards the tail, the weights finish the job gently.
      const counts = new Map<string, number>();
      for (const p of positives) counts.set(p.categoryId, (counts.get(p.categoryId) ?? 0) + 1);
      const raw = positives.map((p) => Math.pow(counts.get(p.categoryId)! / positives.length, -this.mixExponent));
      const mean = raw.reduce((a, b) => a + b, 0) / raw.length;
      return { positives, weights: Float32Array.from(raw, (r) => r / mean) };
    }
    const weights = Float32Array.from(positives, (p) => this.weightOf(p.categoryId));
    return { positives, weights };
  }
}
