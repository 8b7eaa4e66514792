/**
 * Dense rows for string ids: a Map from id to row index (rows 0..size-1 in order of first
 * appearance) and growable typed arrays, so memory follows the distinct ids seen.
 */
import { RebalancerError } from '../errors.js';

export class RowIndex {
  private readonly rows = new Map<string, number>();

  get size(): number {
    return this.rows.size;
  }

  /** The id's row, or -1 if the id was never added. */
  rowOf(id: string): number {
    return this.rows.get(id) ?? -1;
  }

  /** The id's row, adding it as the next row if new. */
  add(id: string): number {
    let row = this.rows.get(id);
    if (row === undefined) {
      row = this.rows.size;
      this.rows.set(id, row);
    }
    return row;
  }
}

/** `a` if it holds at least `length` values, else a copy with the capacity doubled until it does. */
export function ensureLength(a: Float64Array<ArrayBuffer>, length: number): Float64Array<ArrayBuffer> {
  if (length <= a.length) return a;
  let capacity = Math.max(16, a.length);
  while (capacity < length) capacity *= 2;
  const b = new Float64Array(capacity);
  b.set(a);
  return b;
}

/** Throws unless `out` has room for one score per candidate. O(1): safe on the hot path. */
export function checkOut(name: string, items: readonly unknown[], out: Float64Array): void {
  if (out.length < items.length) {
    throw new RebalancerError('REB_MODEL_INVALID', `${name}.score: out has ${out.length} slots for ${items.length} candidates`, { scorer: name, slots: out.length, candidates: items.length });
  }
}
