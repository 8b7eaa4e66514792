/**
 * Remembers the last `capacity` event ids to drop duplicates within a bounded horizon.
 * A ring of ids plus a Set: insert and lookup are O(1), memory is fixed; when the ring
 * is full the oldest id is forgotten (so a duplicate older than the horizon passes).
 * The snapshot (ids, oldest first) is part of the checkpoint, so events re-read after
 * a crash are still recognised.
 */
export class DedupSet {
  private readonly ring: Array<string | undefined>;
  private readonly members = new Set<string>();
  private next = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`DedupSet capacity must be a positive integer, got ${capacity}`);
    this.ring = new Array<string | undefined>(capacity).fill(undefined);
  }

  get size(): number {
    return this.members.size;
  }

  has(id: string): boolean {
    return this.members.has(id);
  }

  /** Records `id`; returns false when it was already present (a duplicate). */
  add(id: string): boolean {
    if (this.members.has(id)) return false;
    const evicted = this.ring[this.next];
    if (evicted !== undefined) this.members.delete(evicted);
    this.ring[this.next] = id;
    this.members.add(id);
    this.next = (this.next + 1) % this.capacity;
    return true;
  }

  /** Ids oldest first. */
  snapshot(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.capacity; i++) {
      const id = this.ring[(this.next + i) % this.capacity];
      if (id !== undefined) out.push(id);
    }
    return out;
  }

  /** Replays a snapshot (oldest first); with a smaller capacity only the newest ids stay. */
  static restore(capacity: number, ids: readonly string[]): DedupSet {
    const set = new DedupSet(capacity);
    for (const id of ids) set.add(id);
    return set;
  }
}
