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
 */
import { requireInt, invalid } from './config.js';
import type { Rng } from './rng.js';

export interface ReplayMemorySnapshot<T> {
  readonly capacity: number;
  readonly items: readonly T[];
  /** Per class index (null = free): id, n_c, full flag, bag of memory positions. */
  readonly classes: readonly ({ readonly id: string; readonly seen: number; readonly full: boolean; readonly bag: readonly number[] } | null)[];
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
    this.order = new Int32Array(maxClasses);
    this.orderPos = new Int32Array(maxClasses);
    this.groupStart = new Int32Array(this.capacity + 2);
    this.groupSize = new Int32Array(this.capacity + 2);
  }

  /** Offers one stream item; returns true when it was stored. */
  offer(categoryId: string, item: T): boolean {
    let c = this.classById.get(categoryId);
    if (c === undefined) c = this.newClass(categoryId);
    const n = ++this.seen[c]!;
    const items = this.items;
    if (items.length < this.capacity) {
      const idx = items.length;
      items.push(item);
      this.addToBag(c, idx);
      this.increment(c);
      if (items.length === this.capacity) this.markLargestFull();
      return true;
    }
    if (this.full[c] === 0) {
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
    const bag = this.bags[c]!;
    if (this.rng.next() * n < bag.length) {
      items[bag[this.rng.int(bag.length)]!] = item;
      return true;
    }
    return false;
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

  snapshot(): ReplayMemorySnapshot<T> {
    const classes: ReplayMemorySnapshot<T>['classes'][number][] = [];
    for (let c = 0; c < this.nextClass; c++) {
      const id = this.classIds[c];
      classes.push(id === undefined ? null : { id, seen: this.seen[c]!, full: this.full[c] === 1, bag: [...this.bags[c]!] });
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
    if (this.bags[c] === undefined) this.bags[c] = [];
    return c;
  }

  private dropClass(c: number): void {
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
