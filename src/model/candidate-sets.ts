/**
 * The candidate-set cache of both scorers (CandidateScorer on tfjs, SnapshotScorer in JS):
 * sets keyed by the candidate array's identity in a small LRU, each remembering the ids it
 * was gathered from and their hashed rows, so that an array edited in place is gathered
 * again only where it changed. What a set holds beyond ids and rows (tensors, first-layer
 * products) is the scorer's; so is what it frees when a set leaves the cache.
 * No tfjs here: the snapshot scorer loads without it.
 */

/** What a scorer reads from a candidate. */
export interface CandidateIds {
  readonly itemId: string;
  readonly categoryId: string;
}

/** The hashed id spaces' non-recording lookup (a model's or a snapshot's). */
export interface CandidateRowLookup {
  readonly items: { peekRow(id: string): number };
  readonly categories: { peekRow(id: string): number };
}

/** What every cached set holds: the candidates' ids as last seen and their hashed rows. */
export interface CandidateEntries {
  readonly length: number;
  readonly itemIds: string[];
  readonly categoryIds: string[];
  readonly itemRows: Int32Array;
  readonly categoryRows: Int32Array;
}

/** Entries for `n` candidates, none filled yet (`setEntry` fills them). */
export function emptyEntries(n: number): CandidateEntries {
  return { length: n, itemIds: new Array<string>(n), categoryIds: new Array<string>(n), itemRows: new Int32Array(n), categoryRows: new Int32Array(n) };
}

/** Entries of `candidates`, every id and row filled. */
export function entriesOf(candidates: readonly CandidateIds[], lookup: CandidateRowLookup): CandidateEntries {
  const n = candidates.length;
  const itemIds = candidates.map((c) => c.itemId);
  const categoryIds = candidates.map((c) => c.categoryId);
  const itemRows = new Int32Array(n);
  const categoryRows = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    itemRows[i] = lookup.items.peekRow(itemIds[i]!);
    categoryRows[i] = lookup.categories.peekRow(categoryIds[i]!);
  }
  return { length: n, itemIds, categoryIds, itemRows, categoryRows };
}

/** Entry `i` takes the ids of `c` and their rows. */
export function setEntry(entries: CandidateEntries, i: number, c: CandidateIds, lookup: CandidateRowLookup): void {
  entries.itemIds[i] = c.itemId;
  entries.categoryIds[i] = c.categoryId;
  entries.itemRows[i] = lookup.items.peekRow(c.itemId);
  entries.categoryRows[i] = lookup.categories.peekRow(c.categoryId);
}

function unchanged(): void {}

/**
 * Brings filled `entries` up to date with `candidates`, the same array possibly edited in
 * place: an id that differs is taken with its row (equal strings are usually the same
 * pointer, so this is a fast scan), and `changed(i)` is called for each entry that did.
 * Returns whether any entry changed.
 */
export function refreshEntries(entries: CandidateEntries, candidates: readonly CandidateIds[], lookup: CandidateRowLookup, changed: (i: number) => void = unchanged): boolean {
  let any = false;
  for (let i = 0; i < entries.length; i++) {
    const c = candidates[i]!;
    const itemChanged = c.itemId !== entries.itemIds[i];
    const categoryChanged = c.categoryId !== entries.categoryIds[i];
    if (itemChanged) {
      entries.itemIds[i] = c.itemId;
      entries.itemRows[i] = lookup.items.peekRow(c.itemId);
    }
    if (categoryChanged) {
      entries.categoryIds[i] = c.categoryId;
      entries.categoryRows[i] = lookup.categories.peekRow(c.categoryId);
    }
    if (itemChanged || categoryChanged) {
      any = true;
      changed(i);
    }
  }
  return any;
}

/** Sets keyed by candidate-array identity, least recently used dropped beyond `capacity`; `dropped` frees what a set holds. */
export class CandidateSetCache<S extends CandidateEntries> {
  private readonly sets = new Map<readonly CandidateIds[], S>();

  constructor(private readonly capacity: number, private readonly dropped: (set: S) => void = () => {}) {}

  /**
   * The set cached for this very array when it has the array's length (a set of another
   * length is stale: `insert` replaces it), else undefined. `touch`: mark it most recently used.
   */
  lookup(candidates: readonly CandidateIds[], touch: boolean): S | undefined {
    const set = this.sets.get(candidates);
    if (set === undefined || set.length !== candidates.length) return undefined;
    if (touch) {
      this.sets.delete(candidates);
      this.sets.set(candidates, set);
    }
    return set;
  }

  /** Caches `set` as the most recently used for `candidates`, dropping a stale set of the array and then the least recently used beyond capacity. */
  insert(candidates: readonly CandidateIds[], set: S): void {
    const stale = this.sets.get(candidates);
    if (stale !== undefined && stale !== set) this.dropped(stale);
    this.sets.delete(candidates);
    this.sets.set(candidates, set);
    if (this.sets.size > this.capacity) {
      const oldest = this.sets.keys().next().value!;
      this.dropped(this.sets.get(oldest)!);
      this.sets.delete(oldest);
    }
  }

  /** Drops every set. */
  clear(): void {
    for (const set of this.sets.values()) this.dropped(set);
    this.sets.clear();
  }
}
