/**
 * Fast deterministic string hashing for the hashed embedding tables (the "hashing
 * trick": fixed-size tables, so a new user or item needs no vocabulary growth).
 *
 * MurmurHash3 x86_32 (Austin Appleby, public domain) over the UTF-16 code units of the
 * string, seeded. No crypto: this runs per id on the hot path.
 */
export function murmur3(key: string, seed: number): number {
  let h = seed >>> 0;
  const len = key.length;
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let i = 0;
  // Two UTF-16 code units (32 bits) per block.
  for (; i + 1 < len; i += 2) {
    let k = (key.charCodeAt(i) & 0xffff) | ((key.charCodeAt(i + 1) & 0xffff) << 16);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < len) {
    let k = key.charCodeAt(i) & 0xffff;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= len * 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Row of `id` in a table of `rows` rows. */
export function bucketOf(id: string, seed: number, rows: number): number {
  return murmur3(id, seed) % rows;
}

export interface CollisionEstimate {
  /** Table rows. */
  rows: number;
  /** Rows hit by at least one id so far. */
  occupiedRows: number;
  /** Estimated distinct ids hashed so far (linear counting, Whang et al. 1990). */
  estimatedDistinctIds: number;
  /** Estimated share of distinct ids that landed in a row another id already held (1 − k/n). */
  collisionRate: number;
}

/**
 * A hashed id space with a bounded-memory collision estimate: one bit-ish byte per row
 * marks occupied rows; linear counting turns the occupied count into an estimate of the
 * distinct ids seen, n ≈ −m·ln(1 − k/m), and the share of ids that landed in a row already
 * held by another id is then 1 − k/n (each occupied row has exactly one "first" id).
 */
export class HashedIdSpace {
  readonly rows: number;
  readonly seed: number;
  private readonly occupied: Uint8Array;
  private occupiedCount = 0;

  constructor(rows: number, seed: number) {
    this.rows = rows;
    this.seed = seed >>> 0;
    this.occupied = new Uint8Array(rows);
  }

  /** Row of `id`; marks it occupied for the collision estimate. */
  row(id: string): number {
    const r = murmur3(id, this.seed) % this.rows;
    if (this.occupied[r] === 0) {
      this.occupied[r] = 1;
      this.occupiedCount++;
    }
    return r;
  }

  /** Row of `id` without recording it (serving path). */
  peekRow(id: string): number {
    return murmur3(id, this.seed) % this.rows;
  }

  collisions(): CollisionEstimate {
    const m = this.rows;
    const k = this.occupiedCount;
    // Linear counting saturates when every row is taken; cap at k·ln(m) then.
    const n = k >= m ? m * Math.log(m) : k === 0 ? 0 : -m * Math.log(1 - k / m);
    const distinct = Math.max(k, n);
    return { rows: m, occupiedRows: k, estimatedDistinctIds: distinct, collisionRate: distinct === 0 ? 0 : 1 - k / distinct };
  }

  /** Occupancy bitmap, for persistence. */
  occupancy(): Uint8Array {
    return this.occupied;
  }

  restoreOccupancy(bits: Uint8Array): void {
    if (bits.length !== this.rows) return;
    this.occupied.set(bits);
    let k = 0;
    for (let i = 0; i < bits.length; i++) if (bits[i] !== 0) k++;
    this.occupiedCount = k;
  }
}
