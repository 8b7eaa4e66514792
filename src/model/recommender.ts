/**
 * Serving: score a caller-supplied candidate set for a user and return the top K.
 *
 * The caller builds candidates from head items plus every category's reservoir, so tail
 * items can appear at all. Scores are the model's serving logit s (no logit adjustment,
 * no log q correction). Duplicate item ids in the candidates are listed once.
 *
 * Exposure control (optional), applied in this order:
 *   1. per-category cap: walking candidates by descending score, an item is skipped while
 *      its category already holds `maxPerCategory` slots; if the list is still short of K
 *      after all candidates, the best skipped items fill it (the cap never shrinks the list);
 *   2. tail reservation: a category is "tail" by the project's one definition (balance/tail.ts):
 *      outside `head`, the most frequent categories holding 80% of the window's events
 *      (headCategories), so a category the window has not seen is tail too. It is the split
 *      the served and interaction tail-share gauges and the backtest's tables count by, so the
 *      reservation raises exactly the figure they report. (It replaced a fixed threshold on
 *      the prior π_c, which judged each category by its own share alone, so how much of the
 *      catalogue was tail depended on the number of categories: with hundreds, even the head
 *      ones sat below a 5% threshold.)
 *      If fewer than `minTailSlots` of the K slots hold tail items, the lowest-scored non-tail
 *      items are replaced by the best-scored tail candidates not yet listed (respecting the
 *      cap), until `minTailSlots` is met or tail candidates run out. Such items are marked
 *      `reserved: true`. The final list is ordered by score.
 */
import { isTail as outsideHead } from '../balance/index.js';
import { RebalancerError } from '../errors.js';
import type { RecModel } from './neumf.js';

export interface Candidate {
  itemId: string;
  categoryId: string;
}

export interface Recommendation {
  itemId: string;
  categoryId: string;
  /** Serving logit s(user, item). */
  score: number;
  /** True when the slot was reserved for a tail category by exposure control. */
  reserved: boolean;
}

export interface ExposureControl {
  /**
   * The window's head categories, headCategories(window counts) from the balance core; every
   * other category is tail. Required when minTailSlots > 0.
   */
  head?: ReadonlySet<string>;
  /** Slots reserved for tail categories (0 = off). */
  minTailSlots?: number;
  /** At most this many slots per category (undefined = no cap). */
  maxPerCategory?: number;
}

export interface RecommendOptions {
  exposure?: ExposureControl;
}

/**
 * Serving logits of `candidates` for one user (equal to `model.scorePairs` on the same
 * pairs up to float rounding). Item-side work is cached per candidate array between
 * parameter changes, so reusing one candidate array across calls is the fast path.
 */
export function scoreCandidates(model: RecModel, userId: string, candidates: readonly Candidate[]): Float32Array {
  validate(userId, candidates, 1);
  return model.candidateScorer().score([model.users.peekRow(userId)], candidates);
}

/** Top-K recommendations for a user among `candidates`. */
export function recommend(model: RecModel, userId: string, candidates: readonly Candidate[], k: number, opts: RecommendOptions = {}): Recommendation[] {
  validate(userId, candidates, k);
  return selectTopK(model.candidateScorer().score([model.users.peekRow(userId)], candidates), candidates, k, opts.exposure);
}

/** Top-K for several users over the same candidates, scored in one forward pass. */
export function recommendBatch(model: RecModel, userIds: readonly string[], candidates: readonly Candidate[], k: number, opts: RecommendOptions = {}): Recommendation[][] {
  if (userIds.length === 0) return [];
  for (const u of userIds) validate(u, candidates, k);
  const c = candidates.length;
  const scores = model.candidateScorer().score(userIds.map((u) => model.users.peekRow(u)), candidates);
  return userIds.map((_, j) => selectTopK(scores.subarray(j * c, (j + 1) * c), candidates, k, opts.exposure));
}

/** Top-K selection over given scores (exported for tests and for callers with their own scores). */
export function selectTopK(scores: Float32Array, candidates: readonly Candidate[], k: number, exposure?: ExposureControl): Recommendation[] {
  const n = candidates.length;
  if (scores.length !== n) throw new RebalancerError('REB_MODEL_INVALID', `got ${scores.length} scores for ${n} candidates`);
  const useExposure = exposure !== undefined && ((exposure.minTailSlots ?? 0) > 0 || exposure.maxPerCategory !== undefined);
  if (!useExposure) {
    // Heap selection of 2K (room for duplicate ids), full sort only if duplicates leave fewer than K.
    const want = Math.min(n, 2 * k);
    const top = topIndices(scores, want);
    const picked = uniqueByItem(top, candidates, k);
    if (picked.length >= Math.min(k, n) || want === n) return picked.map((i) => rec(candidates[i]!, scores[i]!, false));
    return uniqueByItem(sortedIndices(scores), candidates, k).map((i) => rec(candidates[i]!, scores[i]!, false));
  }
  const order = uniqueByItem(sortedIndices(scores), candidates, n);
  const cap = exposure.maxPerCategory ?? Infinity;
  if (!(cap >= 1)) throw new RebalancerError('REB_MODEL_INVALID', `exposure.maxPerCategory must be >= 1, got ${cap}`);
  const perCat = new Map<string, number>();
  const chosen = new Set<number>();
  const take = (i: number): void => {
    chosen.add(i);
    const c = candidates[i]!.categoryId;
    perCat.set(c, (perCat.get(c) ?? 0) + 1);
  };
  const skipped: number[] = [];
  for (const i of order) {
    if (chosen.size >= k) break;
    if ((perCat.get(candidates[i]!.categoryId) ?? 0) >= cap) skipped.push(i);
    else take(i);
  }
  for (const i of skipped) {
    if (chosen.size >= k) break;
    take(i);
  }
  const reserved = new Set<number>();
  const minTail = exposure.minTailSlots ?? 0;
  const head = exposure.head;
  if (minTail > 0) {
    if (head === undefined) throw new RebalancerError('REB_MODEL_INVALID', 'exposure.minTailSlots needs exposure.head (headCategories of the window counts)');
    const isTail = (i: number): boolean => outsideHead(head, candidates[i]!.categoryId);
    let tailCount = 0;
    for (const i of chosen) if (isTail(i)) tailCount++;
    if (tailCount < minTail) {
      // Non-tail chosen items, lowest score first, are the ones to give up.
      const replaceable = [...chosen].filter((i) => !isTail(i)).sort((a, b) => scores[a]! - scores[b]!);
      for (const i of order) {
        if (tailCount >= minTail || replaceable.length === 0) break;
        if (chosen.has(i) || !isTail(i) || (perCat.get(candidates[i]!.categoryId) ?? 0) >= cap) continue;
        const out = replaceable.shift()!;
        chosen.delete(out);
        const oc = candidates[out]!.categoryId;
        perCat.set(oc, perCat.get(oc)! - 1);
        take(i);
        reserved.add(i);
        tailCount++;
      }
    }
  }
  return [...chosen].sort((a, b) => scores[b]! - scores[a]! || a - b).map((i) => rec(candidates[i]!, scores[i]!, reserved.has(i)));
}

function rec(c: Candidate, score: number, reserved: boolean): Recommendation {
  return { itemId: c.itemId, categoryId: c.categoryId, score, reserved };
}

function validate(userId: string, candidates: readonly Candidate[], k: number): void {
  if (typeof userId !== 'string') throw new RebalancerError('REB_MODEL_INVALID', 'userId must be a string', { userId });
  if (!Array.isArray(candidates) || candidates.length === 0) throw new RebalancerError('REB_MODEL_INVALID', 'the candidate set is empty: supply at least one {itemId, categoryId}');
  if (!Number.isInteger(k) || k <= 0) throw new RebalancerError('REB_MODEL_INVALID', `K must be a positive integer, got ${k}`, { k });
}

/** Indices of the `m` largest scores, descending (min-heap of size m: O(n log m)). */
function topIndices(scores: Float32Array, m: number): number[] {
  const heap = new Int32Array(m);
  let size = 0;
  const less = (a: number, b: number): boolean => scores[a]! < scores[b]! || (scores[a] === scores[b] && a > b);
  const down = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let s = i;
      if (l < size && less(heap[l]!, heap[s]!)) s = l;
      if (r < size && less(heap[r]!, heap[s]!)) s = r;
      if (s === i) return;
      const t = heap[i]!;
      heap[i] = heap[s]!;
      heap[s] = t;
      i = s;
    }
  };
  for (let i = 0; i < scores.length; i++) {
    if (size < m) {
      heap[size] = i;
      let j = size++;
      while (j > 0) {
        const p = (j - 1) >> 1;
        if (!less(heap[j]!, heap[p]!)) break;
        const t = heap[j]!;
        heap[j] = heap[p]!;
        heap[p] = t;
        j = p;
      }
    } else if (less(heap[0]!, i)) {
      heap[0] = i;
      down(0);
    }
  }
  return Array.from(heap.subarray(0, size)).sort((a, b) => scores[b]! - scores[a]! || a - b);
}

function sortedIndices(scores: Float32Array): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  return idx.sort((a, b) => scores[b]! - scores[a]! || a - b);
}

function uniqueByItem(order: readonly number[], candidates: readonly Candidate[], limit: number): number[] {
  const seen = new Set<string>();
  const out: number[] = [];
  for (const i of order) {
    if (out.length >= limit) break;
    const id = candidates[i]!.itemId;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(i);
  }
  return out;
}

/** Naive reference: full sort of all candidates (the benchmark baseline). */
export function fullSortTopK(scores: Float32Array, candidates: readonly Candidate[], k: number): Recommendation[] {
  return uniqueByItem(sortedIndices(scores), candidates, k).map((i) => rec(candidates[i]!, scores[i]!, false));
}
