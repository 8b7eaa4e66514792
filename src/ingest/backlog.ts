import type { InteractionEvent } from '../codec/index.js';

/**
 * Events applied to the balance state and bound for training that the model has not been
 * handed yet (in the re-batcher or queued for a step), in stream order.
 *
 * A checkpoint captures the state (and offsets) at one instant and queues the model's save
 * behind the steps already handed over, so the saved model has trained exactly the events
 * up to those offsets minus this backlog. The checkpoint stores the backlog; on restore the
 * pipeline trains it first (without applying it to the state again), so every event is
 * trained once: none twice, none never.
 */
export class TrainBacklog {
  private chunks: (readonly InteractionEvent[])[] = [];
  /** Index of the first live event in chunks[0]. */
  private head = 0;
  private count = 0;

  /** Events bound for training, in stream order. The array is kept as it is (not copied): do not change it afterwards. */
  push(events: readonly InteractionEvent[]): void {
    if (events.length === 0) return;
    this.chunks.push(events);
    this.count += events.length;
  }

  /** The oldest `n` events were handed to the model. */
  take(n: number): void {
    let left = Math.min(n, this.count);
    this.count -= left;
    while (left > 0) {
      const first = this.chunks[0]!;
      const avail = first.length - this.head;
      if (left < avail) {
        this.head += left;
        return;
      }
      left -= avail;
      this.chunks.shift();
      this.head = 0;
    }
  }

  get size(): number {
    return this.count;
  }

  /** A copy of the backlog, oldest first. */
  snapshot(): InteractionEvent[] {
    const out: InteractionEvent[] = [];
    this.chunks.forEach((c, i) => {
      for (let j = i === 0 ? this.head : 0; j < c.length; j++) out.push(c[j]!);
    });
    return out;
  }
}
