/**
 * Per-category uniform reservoirs, one per window slot, by Algorithm L
 * (Kim-Hung Li, "Reservoir-sampling algorithms of time complexity O(n(1 + log(N/n)))",
 * ACM TOMS 20(4), 1994). After the first k items it draws how many items to skip
 * (geometric with parameter W), so a skipped item costs one comparison and no random
 * number, unlike Algorithm R (Vitter 1985), which draws one per item. Each stored item is a
 * uniform sample without replacement of the category's events offered so far.
 *
 *   W ← exp(log(u)/k);  next ← i + ⌊log(u')/log(1−W)⌋ + 1
 *   on item number next: replace a uniform random position; W ← W·exp(log(u)/k); draw next again
 */
import { requireInt, invalid } from './config.js';
import type { Rng } from './rng.js';

export interface ReservoirBankSnapshot<T> {
  readonly capacityPerSlot: number;
  readonly slots: readonly ({ readonly items: readonly T[]; readonly seen: number; readonly next: number; readonly w: number } | null)[];
}

/** Uniform double strictly inside (0, 1), so log() is finite. */
export function openUnit(rng: Rng): number {
  return (rng.nextUint32() + 0.5) / 4294967296;
}

export class ReservoirBank<T> {
  readonly k: number;
  private items: (T[] | undefined)[] = [];
  private seen = new Float64Array(0);
  private nextIndex = new Float64Array(0);
  private w = new Float64Array(0);
  private readonly rng: Rng;

  constructor(capacityPerSlot: number, slots: number, rng: Rng) {
    this.k = requireInt('reservoirSize', capacityPerSlot, 1, 1_000_000);
    this.rng = rng;
    this.ensureSlots(slots);
  }

  ensureSlots(slots: number): void {
    if (slots <= this.seen.length) return;
    this.seen = growTo(this.seen, slots);
    this.nextIndex = growTo(this.nextIndex, slots);
    this.w = growTo(this.w, slots);
  }

  /** Offers the category's next event. O(1); most calls after the fill touch no random numbers. */
  offer(slot: number, item: T): void {
    const n = ++this.seen[slot]!;
    const k = this.k;
    if (n <= k) {
      let arr = this.items[slot];
      if (arr === undefined) {
        arr = [];
        this.items[slot] = arr;
      }
      arr.push(item);
      if (n === k) {
        this.w[slot] = Math.exp(Math.log(openUnit(this.rng)) / k);
        this.nextIndex[slot] = n + this.skip(this.w[slot]!) + 1;
      }
      return;
    }
    if (n === this.nextIndex[slot]) {
      this.items[slot]![this.rng.int(k)] = item;
      const w = this.w[slot]! * Math.exp(Math.log(openUnit(this.rng)) / k);
      this.w[slot] = w;
      this.nextIndex[slot] = n + this.skip(w) + 1;
    }
  }

  /** Items currently held for a slot (live view; do not mutate). */
  itemsAt(slot: number): readonly T[] {
    return this.items[slot] ?? EMPTY;
  }

  sizeAt(slot: number): number {
    return this.items[slot]?.length ?? 0;
  }

  /** Events offered to the slot since it was (re)assigned. */
  seenAt(slot: number): number {
    return this.seen[slot] ?? 0;
  }

  /** Forgets a recycled slot; keeps the array so a reused slot does not allocate again. */
  clear(slot: number): void {
    const arr = this.items[slot];
    if (arr !== undefined) arr.length = 0;
    this.seen[slot] = 0;
    this.nextIndex[slot] = 0;
    this.w[slot] = 0;
  }

  /**
   * Drops every stored item `keep` rejects (used when a restore narrows the replayed event
   * types). A slot that lost items starts its sample again from the survivors (seen = their
   * number, still filling): they are a uniform sample of the kept items offered so far, but
   * from here on they stand for only themselves, not for all the events they were drawn
   * from. Slots that lost nothing are untouched. O(stored items); no random numbers.
   * Returns the number of items dropped.
   */
  retain(keep: (item: T) => boolean): number {
    let dropped = 0;
    for (let s = 0; s < this.items.length; s++) {
      const arr = this.items[s];
      if (arr === undefined || arr.length === 0) continue;
      let n = 0;
      for (let i = 0; i < arr.length; i++) {
        const item = arr[i]!;
        if (keep(item)) arr[n++] = item;
      }
      if (n === arr.length) continue;
      dropped += arr.length - n;
      arr.length = n;
      this.seen[s] = n;
      this.nextIndex[s] = 0;
      this.w[s] = 0;
    }
    return dropped;
  }

  snapshot(slotLimit: number): ReservoirBankSnapshot<T> {
    const slots: ReservoirBankSnapshot<T>['slots'][number][] = [];
    for (let s = 0; s < slotLimit; s++) {
      const arr = this.items[s];
      slots.push(arr === undefined || this.seen[s] === 0 ? null : { items: [...arr], seen: this.seen[s]!, next: this.nextIndex[s]!, w: this.w[s]! });
    }
    return { capacityPerSlot: this.k, slots };
  }

  static restore<T>(snap: ReservoirBankSnapshot<T>, capacity: number, rng: Rng): ReservoirBank<T> {
    const bank = new ReservoirBank<T>(snap.capacityPerSlot, Math.max(capacity, snap.slots.length), rng);
    snap.slots.forEach((s, slot) => {
      if (s === null) return;
      if (s.items.length > bank.k) throw invalid(`snapshot.reservoirs.slots[${slot}].items`, `at most ${bank.k} items`, s.items.length);
      bank.items[slot] = [...s.items];
      bank.seen[slot] = s.seen;
      bank.nextIndex[slot] = s.next;
      bank.w[slot] = s.w;
    });
    return bank;
  }

  private skip(w: number): number {
    return Math.floor(Math.log(openUnit(this.rng)) / Math.log1p(-w));
  }
}

const EMPTY: readonly never[] = Object.freeze([]);

function growTo(a: Float64Array, length: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(length);
  b.set(a);
  return b;
}
