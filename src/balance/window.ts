/**
 * Sliding per-category window on event time.
 *
 * B buckets of width Δ form a ring; an event at time t lands in bucket ⌊t/Δ⌋ and the
 * window holds buckets (head−B, head] where head = ⌊watermark/Δ⌋ and the watermark is
 * the largest event time seen. Counts are kept per category slot and per event type.
 * Buckets leaving the window are evicted in O(categories touched in that bucket), using
 * a per-bucket list of touched slots, so advancing time never scans every category.
 *
 * Categories are interned into integer slots (typed arrays, no per-event allocation).
 * A slot whose window count reaches 0 is released and reused, so memory follows the
 * categories active in the window, never all categories ever seen. At most
 * maxCategories slots exist; events of further new categories are counted as overflow.
 *
 * Decayed variant (windowMode 'decayed'): n_c ← n_c·e^{-λΔt} + 1. Stored scaled as
 * v_c = Σ e^{λ(t_i − t0)} so one add costs one exp and out-of-order events decay by their
 * own age; read as v_c·e^{-λ(watermark − t0)}. t0 is rebased before the exponent can
 * overflow. The bucket ring still decides when a category is forgotten (no event for B·Δ).
 *
 * Memory: B × capacity × 20 bytes (4 Uint32 type counts + 1 Int32 touched entry per
 * bucket and slot); capacity doubles on demand up to maxCategories.
 */
import type { EventType } from '../codec/types.js';
import { EVENT_TYPE_ORDER, requireInt, requireNumber, invalid, type BalanceConfig } from './config.js';

/** Event types in index order (defined in config.ts); the compile-time check below keeps it in step with EventType. */
export { EVENT_TYPE_ORDER };
type AssertNever<T extends never> = T;
/** Fails to compile if codec's EventType gains a member the window does not count. */
export type EventTypeOrderIsComplete = AssertNever<Exclude<EventType, (typeof EVENT_TYPE_ORDER)[number]>>;
export const TYPE_COUNT = EVENT_TYPE_ORDER.length;

/** Index of an event type in EVENT_TYPE_ORDER, or -1 for anything else. */
export function eventTypeIndex(type: unknown): number {
  switch (type) {
    case 'view':
      return 0;
    case 'click':
      return 1;
    case 'add_to_cart':
      return 2;
    case 'purchase':
      return 3;
    default:
      return -1;
  }
}

/** Negative results of CategoryWindow.add (a non-negative result is the category's slot). */
export const ADD_LATE = -1;
export const ADD_OVERFLOW = -2;
export const ADD_REJECTED = -3;

/** Largest accepted event time (ECMAScript's maximum Date, ms). */
export const MAX_EVENT_TIME_MS = 8.64e15;
/** Rebase the decayed counts before λ(watermark − t0) exceeds this (e^60 ≈ 1e26, far from overflow). */
const REBASE_EXPONENT = 60;

/** The window's part of the balance configuration (documented there). */
export type WindowOptions = Pick<BalanceConfig, 'bucketCount' | 'bucketWidthMs' | 'allowedLatenessMs' | 'maxCategories' | 'windowMode' | 'decayHalfLifeMs'>;

export interface WindowHooks {
  /** A category's window count reached 0 and its slot is being recycled. */
  onRelease?(slot: number, categoryId: string): void;
  /** Slot capacity grew; per-slot arrays elsewhere must grow to at least this. */
  onGrow?(capacity: number): void;
}

export interface WindowCounters {
  /** Events counted into the window. */
  readonly added: number;
  /** Events older than the allowed lateness (or older than the window): counted here, not added. */
  readonly late: number;
  /** Events of a new category while maxCategories slots were in use. */
  readonly overflow: number;
  /** Events with an empty/non-string category, unknown type, or NaN/negative/infinite time. */
  readonly rejected: number;
  /** Category slots recycled after their window count reached 0. */
  readonly released: number;
}

export interface WindowSnapshot {
  readonly watermark: number | null;
  readonly head: number;
  readonly t0: number;
  readonly capacity: number;
  readonly nextUnused: number;
  /** Category id per slot below nextUnused (null = free). */
  readonly ids: readonly (string | null)[];
  readonly free: readonly number[];
  /** Per ring position, touched slots in order as [slot, view, click, add_to_cart, purchase, ...]. */
  readonly buckets: readonly (readonly number[])[];
  readonly decay: readonly number[];
  readonly decayTotal: number;
  readonly counters: WindowCounters;
}

const INITIAL_CAPACITY = 64;

export class CategoryWindow {
  readonly bucketCount: number;
  readonly bucketWidthMs: number;
  readonly allowedLatenessMs: number;
  readonly maxCategories: number;
  readonly decayed: boolean;
  /** λ per ms of the decayed count. */
  readonly lambda: number;

  private hooks: WindowHooks;
  private cap = 0;
  private readonly slotById = new Map<string, number>();
  private ids: (string | undefined)[] = [];
  private free: number[] = [];
  private nextUnused = 0;
  private bucketCounts: Uint32Array[] = [];
  private bucketTouched: Int32Array[] = [];
  private readonly touchedLen: Int32Array;
  private slotCounts = new Float64Array(0);
  private slotTypeCounts = new Float64Array(0);
  private decay = new Float64Array(0);
  private decayTotal = 0;
  private t0 = 0;
  private exactTotal = 0;
  private activeCount = 0;
  private head = 0;
  private wm = -Infinity;

  private nAdded = 0;
  private nLate = 0;
  private nOverflow = 0;
  private nRejected = 0;
  private nReleased = 0;

  constructor(options: WindowOptions, hooks: WindowHooks = {}) {
    this.bucketCount = requireInt('bucketCount', options.bucketCount, 1, 1_000_000);
    this.bucketWidthMs = requireInt('bucketWidthMs', options.bucketWidthMs, 1);
    this.allowedLatenessMs = requireNumber('allowedLatenessMs', options.allowedLatenessMs, 0, Infinity, false, true);
    this.maxCategories = requireInt('maxCategories', options.maxCategories, 1, 10_000_000);
    if (options.windowMode !== 'sliding' && options.windowMode !== 'decayed') throw invalid('windowMode', "'sliding' or 'decayed'", options.windowMode);
    this.decayed = options.windowMode === 'decayed';
    this.lambda = Math.LN2 / requireNumber('decayHalfLifeMs', options.decayHalfLifeMs, 0, Infinity, true, true);
    this.hooks = hooks;
    this.touchedLen = new Int32Array(this.bucketCount);
    for (let b = 0; b < this.bucketCount; b++) {
      this.bucketCounts.push(new Uint32Array(0));
      this.bucketTouched.push(new Int32Array(0));
    }
    this.resize(Math.min(INITIAL_CAPACITY, this.maxCategories));
  }

  setHooks(hooks: WindowHooks): void {
    this.hooks = hooks;
  }

  /**
   * Counts one event. Returns the category's slot (≥ 0), or ADD_LATE / ADD_OVERFLOW /
   * ADD_REJECTED; every negative outcome is also counted. O(1) amortised.
   */
  add(categoryId: string, type: EventType, eventTime: number): number {
    const ty = eventTypeIndex(type);
    if (ty < 0 || typeof categoryId !== 'string' || categoryId.length === 0 || typeof eventTime !== 'number' || !(eventTime >= 0) || eventTime > MAX_EVENT_TIME_MS) {
      this.nRejected++;
      return ADD_REJECTED;
    }
    let bucket: number;
    if (eventTime > this.wm) {
      bucket = this.advance(eventTime);
    } else if (eventTime < this.wm - this.allowedLatenessMs) {
      this.nLate++;
      return ADD_LATE;
    } else {
      bucket = Math.floor(eventTime / this.bucketWidthMs);
      if (bucket <= this.head - this.bucketCount) {
        // Within the lateness bound but its bucket has already left the window.
        this.nLate++;
        return ADD_LATE;
      }
    }
    let slot = this.slotById.get(categoryId);
    if (slot === undefined) {
      slot = this.allocate(categoryId);
      if (slot < 0) {
        this.nOverflow++;
        return ADD_OVERFLOW;
      }
    }
    const ring = bucket % this.bucketCount;
    const counts = this.bucketCounts[ring]!;
    const base = slot * TYPE_COUNT;
    if ((counts[base]! | counts[base + 1]! | counts[base + 2]! | counts[base + 3]!) === 0) {
      this.bucketTouched[ring]![this.touchedLen[ring]!++] = slot;
    }
    counts[base + ty]!++;
    this.slotTypeCounts[base + ty]!++;
    this.slotCounts[slot]!++;
    this.exactTotal++;
    if (this.decayed) {
      const v = Math.exp(this.lambda * (eventTime - this.t0));
      this.decay[slot]! += v;
      this.decayTotal += v;
    }
    this.nAdded++;
    return slot;
  }

  /** Moves the watermark forward without an event (e.g. from an idle partition's clock), evicting old buckets. */
  advanceTo(eventTime: number): void {
    if (typeof eventTime !== 'number' || !(eventTime >= 0) || eventTime > MAX_EVENT_TIME_MS) throw invalid('advanceTo(eventTime)', `a time in ms in [0, ${MAX_EVENT_TIME_MS}]`, eventTime);
    if (eventTime > this.wm) this.advance(eventTime);
  }

  /** Largest event time seen (−Infinity before the first event). */
  get watermark(): number {
    return this.wm;
  }

  /** Categories currently in the window (C). */
  get size(): number {
    return this.activeCount;
  }

  /** Slot capacity currently allocated (grows by doubling up to maxCategories). */
  get capacity(): number {
    return this.cap;
  }

  /** One past the highest slot ever used; iterate slots in [0, slotLimit). */
  get slotLimit(): number {
    return this.nextUnused;
  }

  get counters(): WindowCounters {
    return { added: this.nAdded, late: this.nLate, overflow: this.nOverflow, rejected: this.nRejected, released: this.nReleased };
  }

  slotOf(categoryId: string): number {
    return this.slotById.get(categoryId) ?? -1;
  }

  idAt(slot: number): string | undefined {
    return this.ids[slot];
  }

  /** N: exact window total in sliding mode, decayed total in decayed mode. */
  total(): number {
    return this.decayed ? this.decayTotal * this.decayFactor() : this.exactTotal;
  }

  /** n_c of a slot (mode-dependent); 0 for a free slot. */
  countAt(slot: number): number {
    return this.decayed ? this.decay[slot]! * this.decayFactor() : this.slotCounts[slot]!;
  }

  count(categoryId: string): number {
    const slot = this.slotById.get(categoryId);
    return slot === undefined ? 0 : this.countAt(slot);
  }

  /** Exact (undecayed) window count of one event type for a category. */
  typeCount(categoryId: string, type: EventType): number {
    const slot = this.slotById.get(categoryId);
    const ty = eventTypeIndex(type);
    return slot === undefined || ty < 0 ? 0 : this.slotTypeCounts[slot * TYPE_COUNT + ty]!;
  }

  /** Exact (undecayed) window count of a category, whatever the mode. */
  exactCount(categoryId: string): number {
    const slot = this.slotById.get(categoryId);
    return slot === undefined ? 0 : this.slotCounts[slot]!;
  }

  /** Writes n_c for every slot in [0, slotLimit) into out (0 for free slots); returns slotLimit. */
  fillCounts(out: Float64Array): number {
    const limit = this.nextUnused;
    if (this.decayed) {
      const f = this.decayFactor();
      for (let s = 0; s < limit; s++) out[s] = this.ids[s] === undefined ? 0 : this.decay[s]! * f;
    } else {
      out.set(this.slotCounts.subarray(0, limit));
    }
    return limit;
  }

  /** Categories currently in the window, in slot order. */
  categories(): string[] {
    const out: string[] = [];
    for (let s = 0; s < this.nextUnused; s++) {
      const id = this.ids[s];
      if (id !== undefined) out.push(id);
    }
    return out;
  }

  snapshot(): WindowSnapshot {
    const buckets: number[][] = [];
    for (let r = 0; r < this.bucketCount; r++) {
      const entries: number[] = [];
      const counts = this.bucketCounts[r]!;
      const touched = this.bucketTouched[r]!;
      for (let i = 0; i < this.touchedLen[r]!; i++) {
        const slot = touched[i]!;
        const base = slot * TYPE_COUNT;
        entries.push(slot, counts[base]!, counts[base + 1]!, counts[base + 2]!, counts[base + 3]!);
      }
      buckets.push(entries);
    }
    const ids: (string | null)[] = [];
    for (let s = 0; s < this.nextUnused; s++) ids.push(this.ids[s] ?? null);
    return {
      watermark: Number.isFinite(this.wm) ? this.wm : null,
      head: this.head,
      t0: this.t0,
      capacity: this.cap,
      nextUnused: this.nextUnused,
      ids,
      free: [...this.free],
      buckets,
      decay: Array.from(this.decay.subarray(0, this.nextUnused)),
      decayTotal: this.decayTotal,
      counters: this.counters,
    };
  }

  /** Rebuilds a window from a snapshot taken with the same options. Hooks are not called. */
  static restore(options: WindowOptions, snap: WindowSnapshot, hooks: WindowHooks = {}): CategoryWindow {
    const w = new CategoryWindow(options);
    if (snap.buckets.length !== w.bucketCount) throw invalid('snapshot.window.buckets', `an array of ${w.bucketCount} buckets (bucketCount)`, snap.buckets.length);
    if (snap.capacity > w.maxCategories) throw invalid('snapshot.window.capacity', `≤ maxCategories (${w.maxCategories})`, snap.capacity);
    w.resize(snap.capacity);
    w.wm = snap.watermark ?? -Infinity;
    w.head = snap.head;
    w.t0 = snap.t0;
    w.nextUnused = snap.nextUnused;
    w.free = [...snap.free];
    for (let s = 0; s < snap.ids.length; s++) {
      const id = snap.ids[s];
      if (id !== null && id !== undefined) {
        w.ids[s] = id;
        w.slotById.set(id, s);
        w.activeCount++;
      }
    }
    for (let r = 0; r < w.bucketCount; r++) {
      const entries = snap.buckets[r]!;
      const counts = w.bucketCounts[r]!;
      for (let i = 0; i < entries.length; i += 1 + TYPE_COUNT) {
        const slot = entries[i]!;
        w.bucketTouched[r]![w.touchedLen[r]!++] = slot;
        for (let ty = 0; ty < TYPE_COUNT; ty++) {
          const c = entries[i + 1 + ty]!;
          counts[slot * TYPE_COUNT + ty] = c;
          w.slotTypeCounts[slot * TYPE_COUNT + ty]! += c;
          w.slotCounts[slot]! += c;
          w.exactTotal += c;
        }
      }
    }
    w.decay.set(snap.decay);
    w.decayTotal = snap.decayTotal;
    w.nAdded = snap.counters.added;
    w.nLate = snap.counters.late;
    w.nOverflow = snap.counters.overflow;
    w.nRejected = snap.counters.rejected;
    w.nReleased = snap.counters.released;
    w.hooks = hooks;
    return w;
  }

  private decayFactor(): number {
    return Number.isFinite(this.wm) ? Math.exp(-this.lambda * (this.wm - this.t0)) : 1;
  }

  /** Moves the watermark to eventTime (> watermark); returns eventTime's bucket, the new head. */
  private advance(eventTime: number): number {
    const newHead = Math.floor(eventTime / this.bucketWidthMs);
    if (!Number.isFinite(this.wm)) {
      this.head = newHead;
      this.t0 = eventTime;
    } else if (newHead > this.head) {
      const steps = Math.min(newHead - this.head, this.bucketCount);
      for (let i = 1; i <= steps; i++) this.evict((this.head + i) % this.bucketCount);
      this.head = newHead;
    }
    this.wm = eventTime;
    if (this.decayed && this.lambda * (eventTime - this.t0) > REBASE_EXPONENT) this.rebase(eventTime);
    return newHead;
  }

  /** Rescales the decayed counts to a new reference time t0 (keeps e^{λ(t−t0)} finite). */
  private rebase(newT0: number): void {
    const f = Math.exp(-this.lambda * (newT0 - this.t0));
    let total = 0;
    for (let s = 0; s < this.nextUnused; s++) {
      const v = this.decay[s]! * f;
      this.decay[s] = v;
      total += v;
    }
    this.decayTotal = total;
    this.t0 = newT0;
  }

  private evict(ring: number): void {
    const counts = this.bucketCounts[ring]!;
    const touched = this.bucketTouched[ring]!;
    const len = this.touchedLen[ring]!;
    for (let i = 0; i < len; i++) {
      const slot = touched[i]!;
      const base = slot * TYPE_COUNT;
      let sum = 0;
      for (let ty = 0; ty < TYPE_COUNT; ty++) {
        const c = counts[base + ty]!;
        this.slotTypeCounts[base + ty]! -= c;
        sum += c;
        counts[base + ty] = 0;
      }
      this.slotCounts[slot]! -= sum;
      this.exactTotal -= sum;
      if (this.slotCounts[slot] === 0) this.release(slot);
    }
    this.touchedLen[ring] = 0;
  }

  private release(slot: number): void {
    const id = this.ids[slot]!;
    this.slotById.delete(id);
    this.ids[slot] = undefined;
    this.free.push(slot);
    this.activeCount--;
    this.nReleased++;
    if (this.decayed) {
      this.decayTotal -= this.decay[slot]!;
      if (this.activeCount === 0) this.decayTotal = 0;
      this.decay[slot] = 0;
    }
    this.hooks.onRelease?.(slot, id);
  }

  private allocate(categoryId: string): number {
    let slot: number;
    if (this.free.length > 0) {
      slot = this.free.pop()!;
    } else {
      if (this.nextUnused === this.cap) {
        if (this.cap >= this.maxCategories) return -1;
        this.resize(Math.min(this.cap * 2, this.maxCategories));
        this.hooks.onGrow?.(this.cap);
      }
      slot = this.nextUnused++;
    }
    this.ids[slot] = categoryId;
    this.slotById.set(categoryId, slot);
    this.activeCount++;
    return slot;
  }

  private resize(capacity: number): void {
    if (capacity <= this.cap) return;
    for (let r = 0; r < this.bucketCount; r++) {
      const counts = new Uint32Array(capacity * TYPE_COUNT);
      counts.set(this.bucketCounts[r]!);
      this.bucketCounts[r] = counts;
      const touched = new Int32Array(capacity);
      touched.set(this.bucketTouched[r]!);
      this.bucketTouched[r] = touched;
    }
    this.slotCounts = grow(this.slotCounts, capacity);
    this.slotTypeCounts = grow(this.slotTypeCounts, capacity * TYPE_COUNT);
    this.decay = grow(this.decay, capacity);
    this.cap = capacity;
  }
}

function grow(a: Float64Array, length: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(length);
  b.set(a);
  return b;
}
