/**
 * Class-balanced reservoir sampling (CBRS), Chrysakis & Moens, "Online Continual
 * Learning from Imbalanced Data", ICML 2020, Algorithm 1. Memory of total size M:
 *
 *   while memory is not full: store the item;
 *   else if the item's class c is not "full": replace a uniformly random stored item of
 *        the largest class (ties broken uniformly) with it;
 *   else: with probability m_c/n_c replace a uniformly random stored item of class c,
 *
 * where m_c = items of c in memory, n_c = items of c seen in the stream, and a class is
 * "full" once it is, or has been, the largest in memory (the paper's definition), counted
 * from the moment the memory first fills: were the filling phase counted too, the first
 * class seen (largest at step 1) would be frozen at whatever it held when memory filled.
 *
 * O(1) per item: the classes are kept in an array ordered by m_c (descending) with the
 * start and size of each equal-count group, so "the largest classes" is the first group
 * and a ±1 change of one count is one swap. Each class keeps a bag of its memory
 * positions for uniform picks. Classes with no item in memory are forgotten (so state is
 * bounded by M classes); a class that comes back starts again with n_c = 0, not full.
 *
 * Full classes skip instead of drawing per item (the idea of Algorithm L, by thinning):
 * item j of a full class is stored with probability q_j = m_c(j)/j, independently of the
 * other items, and m_c never grows once c is full, so from item n on q_j ≤ r = m_c/n.
 * Candidates are drawn as a Bernoulli(r) process (geometric gaps ⌊log U / log(1−r)⌋) and
 * a candidate j is kept with probability q_j/r, so item j is stored with probability
 * r·q_j/r = q_j exactly, while non-candidates cost one comparison and no random number.
 * After each candidate the bound is tightened to r = m_c/(j+1) (Lewis & Shedler, "Simulation
 * of nonhomogeneous Poisson processes by thinning", 1979, for the discrete case).
 */
import { requireInt, invalid } from './config.js';
import type { Rng } from './rng.js';

export interface ReplayMemorySnapshot<T> {
  readonly capacity: number;
  readonly items: readonly T[];
  /**
   * Per class index (null = free): id, n_c, full flag, bag of memory positions, and for a
   * full class the next candidate item number and its bound r (absent or 0: not drawn yet).
   */
  readonly classes: readonly ({ readonly id: string; readonly seen: number; readonly full: boolean; readonly bag: readonly number[]; readonly next?: number; readonly rate?: number } | null)[];
  readonly freeClasses: readonly number[];
  readonly order: readonly number[];
}

export class ClassBalancedMemory<T> {
  readonly capacity: number;
  private readonly rng: Rng;
  private items: T[] = [];
  /** Position of each memory item in its class's bag. */
  private readonly posInBag: Int32Array;
  private readonly classById = new Map<string, number>();
  private classIds: (string | undefined)[] = [];
  private bags: number[][] = [];
  private readonly seen: Float64Array;
  private readonly full: Uint8Array;
  /** Full classes: item number n_c of the next candidate (0 = none drawn) and its bound r. */
  private readonly nextCandidate: Float64Array;
  private readonly candidateRate: Float64Array;
  /** Cache of caller keys (window slots) → class index, and its inverse; −1 = unbound. */
  private classOfKey = new Int32Array(0);
  private readonly keyOfClass: Int32Array;
  private freeClasses: number[] = [];
  private nextClass = 0;
  /** Active classes sorted by m_c descending; orderPos is the inverse permutation. */
  private readonly order: Int32Array;
  private readonly orderPos: Int32Array;
  private activeClasses = 0;
  /** For each count v ≥ 1: first index in `order` of the classes with m_c = v, and how many. */
  private readonly groupStart: Int32Array;
  private readonly groupSize: Int32Array;

  constructor(capacity: number, rng: Rng) {
    this.capacity = requireInt('replayMemorySize', capacity, 1, 100_000_000);
    this.rng = rng;
    // At most M classes can hold items, plus one being admitted.
    const maxClasses = this.capacity + 1;
    this.posInBag = new Int32Array(this.capacity);
    this.seen = new Float64Array(maxClasses);
    this.full = new Uint8Array(maxClasses);
    this.nextCandidate = new Float64Array(maxClasses);
    this.candidateRate = new Float64Array(maxClasses);
    this.keyOfClass = new Int32Array(maxClasses).fill(-1);
    this.order = new Int32Array(maxClasses);
    this.orderPos = new Int32Array(maxClasses);
    this.groupStart = new Int32Array(this.capacity + 2);
    this.groupSize = new Int32Array(this.capacity + 2);
  }

  /** Offers one stream item; returns true when it was stored. */
  offer(categoryId: string, item: T): boolean {
    let c = this.classById.get(categoryId);
    if (c === undefined) c = this.newClass(categoryId);
    return this.offerClass(c, item);
  }

  /**
   * offer() for a caller that interns category ids into small integer keys (the window's
   * slots): the key → class binding is cached, so the id is looked up only when the key is
   * new. The caller must call forgetKey(key) before the key is given to another category.
   */
  offerKeyed(key: number, categoryId: string, item: T): boolean {
    let c = key < this.classOfKey.length ? this.classOfKey[key]! : -1;
    if (c < 0) {
      c = this.classById.get(categoryId) ?? this.newClass(categoryId);
      this.bindKey(key, c);
    }
    return this.offerClass(c, item);
  }

  /** The key no longer names the category it was bound to. */
  forgetKey(key: number): void {
    if (key >= this.classOfKey.length) return;
    const c = this.classOfKey[key]!;
    if (c >= 0) {
      this.keyOfClass[c] = -1;
      this.classOfKey[key] = -1;
    }
  }

  private offerClass(c: number, item: T): boolean {
    const n = ++this.seen[c]!;
    if (this.full[c] === 1) {
      // Between candidates: one comparison, no random number.
      if (n < this.nextCandidate[c]!) return false;
      return this.candidate(c, n, item);
    }
    const items = this.items;
    if (items.length < this.capacity) {
      const idx = items.length;
      items.push(item);
      this.addToBag(c, idx);
      this.increment(c);
      if (items.length === this.capacity) this.markLargestFull();
      return true;
    }
    const largest = this.order[this.rng.int(this.groupSize[this.bags[this.order[0]!]!.length]!)]!;
    const bag = this.bags[largest]!;
    const idx = bag[this.rng.int(bag.length)]!;
    this.removeFromBag(largest, idx);
    items[idx] = item;
    this.addToBag(c, idx);
    // Increment before decrement so the transient state never marks a class full.
    this.increment(c);
    this.decrement(largest);
    return true;
  }

  /**
   * Item n of full class c, at or past its candidate: store it with probability m_c/n
   * (thinning of the Bernoulli(r) candidates), then draw the next candidate.
   */
  private candidate(c: number, n: number, item: T): boolean {
    const bag = this.bags[c]!;
    const m = bag.length;
    let stored = false;
    if (n > this.nextCandidate[c]!) {
      // No candidate drawn since c became full: start the candidate process at item n.
      this.drawCandidate(c, n, m);
      if (n < this.nextCandidate[c]!) return false;
    }
    // P(keep) = (m/n)/r.
    if (this.rng.next() * n * this.candidateRate[c]! < m) {
      this.items[bag[this.rng.int(m)]!] = item;
      stored = true;
    }
    this.drawCandidate(c, n + 1, m);
    return stored;
  }

  /** Next candidate at or after item `from`: Bernoulli(r) gaps with r = m/from ≥ every later m_c(j)/j. */
  private drawCandidate(c: number, from: number, m: number): void {
    const r = m / from;
    this.candidateRate[c] = r;
    this.nextCandidate[c] = r >= 1 ? from : from + Math.floor(Math.log((this.rng.nextUint32() + 0.5) / 4294967296) / Math.log1p(-r));
  }

  get size(): number {
    return this.items.length;
  }

  /** Stored items (live view; do not mutate). */
  contents(): readonly T[] {
    return this.items;
  }

  /** m_c: items of a category in memory. */
  countOf(categoryId: string): number {
    const c = this.classById.get(categoryId);
    return c === undefined ? 0 : this.bags[c]!.length;
  }

  /** m_c for every class in memory. */
  counts(): Map<string, number> {
    const out = new Map<string, number>();
    for (let i = 0; i < this.activeClasses; i++) {
      const c = this.order[i]!;
      out.set(this.classIds[c]!, this.bags[c]!.length);
    }
    return out;
  }

  /** A uniformly random stored item of the category, or undefined when it has none. */
  sample(categoryId: string): T | undefined {
    const c = this.classById.get(categoryId);
    if (c === undefined) return undefined;
    const bag = this.bags[c]!;
    return this.items[bag[this.rng.int(bag.length)]!];
  }

  isFull(categoryId: string): boolean {
    const c = this.classById.get(categoryId);
    return c !== undefined && this.full[c] === 1;
  }

  /**
   * A memory holding only the items `keep` accepts (used when a restore narrows the replayed
   * event types), or this memory itself when it keeps them all. The survivors are re-admitted
   * in memory order into a new memory of the same capacity and Rng, so, as after a fresh
   * start, n_c = m_c, no class is full and the memory fills again before it replaces; no
   * random numbers are drawn. Key bindings (offerKeyed) are rebuilt lazily by the next offers.
   */
  filtered(keep: (item: T) => boolean): ClassBalancedMemory<T> {
    const n = this.items.length;
    const kept = new Uint8Array(n);
    let dropped = 0;
    for (let i = 0; i < n; i++) {
      if (keep(this.items[i]!)) kept[i] = 1;
      else dropped++;
    }
    if (dropped === 0) return this;
    const classOf = new Int32Array(n);
    for (let c = 0; c < this.nextClass; c++) {
      if (this.classIds[c] === undefined) continue;
      for (const idx of this.bags[c]!) classOf[idx] = c;
    }
    const m = new ClassBalancedMemory<T>(this.capacity, this.rng);
    for (let i = 0; i < n; i++) if (kept[i] === 1) m.offer(this.classIds[classOf[i]!]!, this.items[i]!);
    return m;
  }

  snapshot(): ReplayMemorySnapshot<T> {
    const classes: ReplayMemorySnapshot<T>['classes'][number][] = [];
    for (let c = 0; c < this.nextClass; c++) {
      const id = this.classIds[c];
      classes.push(id === undefined ? null : { id, seen: this.seen[c]!, full: this.full[c] === 1, bag: [...this.bags[c]!], next: this.nextCandidate[c]!, rate: this.candidateRate[c]! });
    }
    return { capacity: this.capacity, items: [...this.items], classes, freeClasses: [...this.freeClasses], order: Array.from(this.order.subarray(0, this.activeClasses)) };
  }

  static restore<T>(snap: ReplayMemorySnapshot<T>, rng: Rng): ClassBalancedMemory<T> {
    const m = new ClassBalancedMemory<T>(snap.capacity, rng);
    if (snap.items.length > m.capacity) throw invalid('snapshot.replay.items', `at most ${m.capacity} items`, snap.items.length);
    m.items = [...snap.items];
    m.nextClass = snap.classes.length;
    m.freeClasses = [...snap.freeClasses];
    snap.classes.forEach((cls, c) => {
      m.bags[c] = [];
      if (cls === null) return;
      m.classIds[c] = cls.id;
      m.classById.set(cls.id, c);
      m.seen[c] = cls.seen;
      m.full[c] = cls.full ? 1 : 0;
      m.nextCandidate[c] = cls.next ?? 0;
      m.candidateRate[c] = cls.rate ?? 0;
      m.bags[c] = [...cls.bag];
      cls.bag.forEach((idx, p) => (m.posInBag[idx] = p));
    });
    m.activeClasses = snap.order.length;
    snap.order.forEach((c, i) => {
      m.order[i] = c;
      m.orderPos[c] = i;
      const v = m.bags[c]!.length;
      if (m.groupSize[v] === 0) m.groupStart[v] = i;
      m.groupSize[v]!++;
    });
    return m;
  }

  private newClass(id: string): number {
    const c = this.freeClasses.length > 0 ? this.freeClasses.pop()! : this.nextClass++;
    this.classIds[c] = id;
    this.classById.set(id, c);
    this.seen[c] = 0;
    this.full[c] = 0;
    this.nextCandidate[c] = 0;
    this.candidateRate[c] = 0;
    if (this.bags[c] === undefined) this.bags[c] = [];
    return c;
  }

  private bindKey(key: number, c: number): void {
    if (key >= this.classOfKey.length) {
      const grown = new Int32Array(Math.max(key + 1, this.classOfKey.length * 2, 64)).fill(-1);
      grown.set(this.classOfKey);
      this.classOfKey = grown;
    }
    this.classOfKey[key] = c;
    this.keyOfClass[c] = key;
  }

  private dropClass(c: number): void {
    const key = this.keyOfClass[c]!;
    if (key >= 0) {
      this.classOfKey[key] = -1;
      this.keyOfClass[c] = -1;
    }
    this.classById.delete(this.classIds[c]!);
    this.classIds[c] = undefined;
    this.seen[c] = 0;
    this.full[c] = 0;
    this.freeClasses.push(c);
  }

  private addToBag(c: number, idx: number): void {
    const bag = this.bags[c]!;
    this.posInBag[idx] = bag.length;
    bag.push(idx);
  }

  private removeFromBag(c: number, idx: number): void {
    const bag = this.bags[c]!;
    const p = this.posInBag[idx]!;
    const last = bag.pop()!;
    if (last !== idx) {
      bag[p] = last;
      this.posInBag[last] = p;
    }
  }

  private swap(i: number, j: number): void {
    if (i === j) return;
    const a = this.order[i]!;
    const b = this.order[j]!;
    this.order[i] = b;
    this.order[j] = a;
    this.orderPos[b] = i;
    this.orderPos[a] = j;
  }

  /** Class c's count went from v−1 to v (already in its bag). */
  private increment(c: number): void {
    const v = this.bags[c]!.length;
    if (v === 1) {
      const i = this.activeClasses++;
      this.order[i] = c;
      this.orderPos[c] = i;
      if (this.groupSize[1] === 0) this.groupStart[1] = i;
      this.groupSize[1]!++;
    } else {
      const first = this.groupStart[v - 1]!;
      this.swap(this.orderPos[c]!, first);
      this.groupStart[v - 1]!++;
      this.groupSize[v - 1]!--;
      if (this.groupSize[v] === 0) this.groupStart[v] = first;
      this.groupSize[v]!++;
    }
    if (this.items.length === this.capacity && v >= this.bags[this.order[0]!]!.length) this.full[c] = 1;
  }

  /** The classes tied for the largest count become full. */
  private markLargestFull(): void {
    const size = this.groupSize[this.bags[this.order[0]!]!.length]!;
    for (let i = 0; i < size; i++) this.full[this.order[i]!] = 1;
  }

  /** Class c's count went from v+1 to v (already removed from its bag). */
  private decrement(c: number): void {
    const v = this.bags[c]!.length;
    const wasSoleLargest = this.orderPos[c] === 0 && this.groupSize[v + 1] === 1;
    const last = this.groupStart[v + 1]! + this.groupSize[v + 1]! - 1;
    this.swap(this.orderPos[c]!, last);
    this.groupSize[v + 1]!--;
    if (v === 0) {
      // c sits at the very end (every other class has m ≥ 1): drop it.
      this.activeClasses--;
      this.dropClass(c);
      return;
    }
    this.groupStart[v] = last;
    this.groupSize[v]!++;
    // The next group is now the largest: its classes become full (amortised: the largest
    // count only falls once the memory is full, at most M times in all).
    if (wasSoleLargest && this.items.length === this.capacity) this.markLargestFull();
  }
}
