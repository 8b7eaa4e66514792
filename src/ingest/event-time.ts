/**
 * Plausibility of an event's time relative to the stream (`--max-future-skew-ms`).
 *
 * The codec only checks that an event time is real (1970-01-01 to 2100-01-01). Whether
 * it is plausible depends on the stream: the reference here is the newest event time seen
 * on any partition (PartitionWatermarks.newest below), and one event dated far ahead of it
 * would become its partition's watermark, move the window there, evict it and make every
 * following on-time event late. So an event more than `maxFutureSkewMs` ahead of that
 * reference is rejected (dead-lettered as `future_timestamp`). Events far *behind* are not
 * judged here: the window counts them as late (`--window-lateness-ms`).
 *
 * A stream can also jump ahead for real (a quiet night, a producer restarted with a later
 * start, the gaps of a sparse historical log). A rule on the watermark alone would then
 * reject every later event for ever, since nothing would move the watermark again. So a
 * jump is believed once JUMP_CONFIRMATIONS consecutive events are all too far ahead: the
 * last of them is admitted and moves the watermark. A lone bad clock interleaved with
 * on-time events never gets that far; a real jump costs its first JUMP_CONFIRMATIONS − 1
 * events (dead-lettered with their original bytes, so they can be re-sent). The decision
 * depends only on the order of events, never on the wall clock, so replays decide alike.
 */
import { RebalancerError } from '../errors.js';

/** Consecutive too-far-ahead events after which the stream is taken to have jumped ahead. */
export const JUMP_CONFIRMATIONS = 8;

/**
 * True when `eventTime` is more than `maxFutureSkewMs` ahead of `watermark`. Before the
 * first event (watermark −Infinity) nothing is ahead; `maxFutureSkewMs` 0 disables the check.
 */
export function isTooFarAhead(eventTime: number, watermark: number, maxFutureSkewMs: number): boolean {
  return maxFutureSkewMs > 0 && watermark !== -Infinity && eventTime - watermark > maxFutureSkewMs;
}

/**
 * The stateful decision: isTooFarAhead plus the jump confirmation. One per pipeline; O(1)
 * per event, no allocation. The run of consecutive too-far-ahead events is not
 * checkpointed: after a restart a jump in progress needs its confirmations again.
 */
export class FutureSkewGuard {
  private run = 0;

  constructor(
    readonly maxFutureSkewMs: number,
    readonly confirmations: number = JUMP_CONFIRMATIONS,
  ) {}

  /** True when the event may be applied; false when it is rejected as too far ahead of `watermark`. */
  admit(eventTime: number, watermark: number): boolean {
    if (!isTooFarAhead(eventTime, watermark, this.maxFutureSkewMs)) {
      this.run = 0;
      return true;
    }
    if (++this.run >= this.confirmations) {
      this.run = 0;
      return true;
    }
    return false;
  }
}

/**
 * Per-partition event-time watermarks, and the alignment of partitions read at different
 * event times.
 *
 * A consumer catching up reads its partitions unevenly: kafkajs hands over one partition's
 * fetched batch (thousands of records, hours of event time in a replayed log) before the
 * next partition's. A single watermark (the newest event time applied) then runs ahead with
 * whichever partition was read first, the window evicts the hours the other partitions have
 * not been read up to yet, and their events all count as late.
 *
 * So the watermark is kept per partition and combined by the minimum: a watermark is a
 * bound on the event times still to come (Akidau et al., "The Dataflow Model", VLDB 2015),
 * and a stage reading several inputs can promise only the least of theirs (MillWheel's low
 * watermark, Akidau et al., VLDB 2013: min over its inputs). Flink does the same per Kafka
 * partition (docs: "Generating Watermarks", sections "Watermark Strategies and the Kafka
 * Connector" and "Dealing With Idle Sources"; WatermarkStrategy#withIdleness):
 *
 *   watermark_p = max event time delivered by partition p − allowed lateness
 *   watermark   = min over the assigned partitions still to deliver of watermark_p
 *
 * The window's head follows the *frontier* F = watermark + allowed lateness = min over those
 * partitions of their newest event time, never going back. An event newer than F (from a
 * partition read ahead) is held, in event-time order, and applied once F reaches it; an
 * event older than F − lateness is late. Events of the slowest partition pass straight
 * through, and nothing is judged late because another partition was read first.
 *
 * "Still to deliver":
 * - every assigned partition holds F at its newest event time (−Infinity before its first
 *   event: otherwise the first partition of the first fetch would run ahead alone, which
 *   is the catch-up this is about) until it is idle (Flink's `withIdleness`): no event for
 *   `idleTimeoutMs` of processing time. Processing time comes from the caller (the
 *   pipeline's injected clock), never from a clock read here.
 * - a partition the consumer reports a backlog for (records between its position and the
 *   log end, after each fetched batch) is never idle: it will deliver, however long the
 *   pipeline takes to get to it. (A caught-up partition is not released at once, as Beam's
 *   KafkaIO treats a partition with no backlog: a consumer reading a topic that is being
 *   replayed into is caught up between produce requests, and its fetch returns as soon as
 *   the first partition of a request has data, before the others; the idleness timeout
 *   covers that.)
 * If no partition holds F, F moves to the newest event time seen. A partition that stopped
 * holding and delivers again takes part again, but F never goes back: its events older
 * than F − lateness are late, as in Flink.
 * - Revoked partitions leave the minimum at once (PartitionWatermarks.assign).
 * - Bounded memory (Flink's watermark alignment pauses splits that run ahead; here the
 *   budget is the consumer's in-flight bound): when more than `maxHeld` events are held,
 *   the oldest are applied and F moves up to them ("forced"; a slow partition's events
 *   older than F − lateness then count as late, and rebalancer_watermark_forced_events_total
 *   says so).
 * - While the consumer is paused for backpressure no partition can deliver, so that time
 *   does not count towards idleness (EventTimeAlignment.pause/resume): otherwise a pause
 *   longer than the timeout would declare every partition idle and release what waits for
 *   the slowest one.
 * - `idleTimeoutMs` 0 turns the alignment off: F is the newest event time of any partition
 *   (the single watermark, as before).
 */

/**
 * Default idleness timeout (ms), `--partition-idle-ms`: how long a partition without backlog
 * (caught up, or empty) may hold the window after its last event or its assignment. So
 * also how long the last events of a finished replay wait for the slower partitions.
 */
export const DEFAULT_PARTITION_IDLE_MS = 5_000;

interface PartitionClock {
  /** Newest event time delivered (−Infinity before the first event). */
  max: number;
  /** Processing time of the last delivery (of the assignment before the first), ms. */
  lastActive: number;
  /** Records between the consumer's position and the log end, as last reported; undefined when unknown. */
  backlog: number | undefined;
}

/**
 * Watermarks per partition and their minimum. O(1) per event; O(partitions) per chunk and
 * per refresh. Not checkpointed: after a restart the frontier starts at the restored
 * window's head and each partition re-establishes its own from what it delivers.
 */
export class PartitionWatermarks {
  private readonly clocks = new Map<number, PartitionClock>();
  /** The assignment; undefined until the first (then every partition that delivers takes part). */
  private assigned: ReadonlySet<number> | undefined;
  private front: number;
  private newestSeen: number;
  /** The chunk being admitted: its partition's clock (undefined when it takes no part), and the min over the other partitions holding F. */
  private current: PartitionClock | undefined;
  private othersMin = Infinity;
  private othersHolding = false;

  constructor(
    readonly allowedLatenessMs: number,
    readonly idleTimeoutMs: number,
    /** The frontier to start from (the restored window's head; −Infinity when fresh). */
    start = -Infinity,
  ) {
    this.front = start;
    this.newestSeen = start;
  }

  /** F: the head of the window (min over the assigned partitions holding it of their newest event time; never decreases). */
  get frontier(): number {
    return this.front;
  }

  /** F − allowed lateness: events older than this are late. */
  get watermark(): number {
    return this.front - this.allowedLatenessMs;
  }

  /** Newest event time seen on any partition (what --max-future-skew-ms is judged against). */
  get newest(): number {
    return this.newestSeen;
  }

  /**
   * The consumer's assignment (each group join). Partitions new to it hold F from `now`
   * until they deliver or turn idle; partitions no longer in it leave the minimum.
   */
  assign(partitions: readonly number[], now: number): void {
    const next = new Set(partitions);
    for (const p of [...this.clocks.keys()]) if (!next.has(p)) this.clocks.delete(p);
    for (const p of next) if (!this.clocks.has(p)) this.clocks.set(p, { max: -Infinity, lastActive: now, backlog: undefined });
    this.assigned = next;
  }

  /** The consumer's backlog of `partition` (0 = caught up); ignored for a partition not taking part. */
  backlog(partition: number, records: number): void {
    const c = this.clocks.get(partition);
    if (c !== undefined) c.backlog = records;
  }

  /** The partitions taking part, with their newest event time and whether they hold the frontier at `now`. */
  partitions(now: number): Array<{ partition: number; newest: number; backlog: number | undefined; holding: boolean }> {
    return [...this.clocks].map(([partition, c]) => ({ partition, newest: c.max, backlog: c.backlog, holding: this.isHolding(c, now) })).sort((a, b) => a.partition - b.partition);
  }

  /**
   * Starts a delivery of `partition` at processing time `now` (call it only for a chunk
   * with at least one event to observe): the partition is not idle, and the minimum over
   * the others is taken once here so that `observe` is O(1).
   */
  beginChunk(partition: number, now: number): void {
    const takesPart = this.assigned === undefined || this.assigned.has(partition);
    let clock = this.clocks.get(partition);
    if (clock === undefined && takesPart) {
      clock = { max: -Infinity, lastActive: now, backlog: undefined };
      this.clocks.set(partition, clock);
    }
    if (clock !== undefined) clock.lastActive = now;
    this.current = clock;
    let min = Infinity;
    let any = false;
    for (const [p, c] of this.clocks) {
      if (p === partition || !this.isHolding(c, now)) continue;
      any = true;
      if (c.max < min) min = c.max;
    }
    this.othersMin = min;
    this.othersHolding = any;
  }

  /** One event of the chunk begun last; returns F after it. */
  observe(eventTime: number): number {
    if (eventTime > this.newestSeen) this.newestSeen = eventTime;
    const c = this.current;
    if (c !== undefined && eventTime > c.max) c.max = eventTime;
    let candidate: number;
    if (this.idleTimeoutMs === 0) candidate = this.newestSeen;
    else if (c !== undefined) candidate = c.max < this.othersMin ? c.max : this.othersMin;
    else candidate = this.othersHolding ? this.othersMin : this.newestSeen;
    if (candidate > this.front) this.front = candidate;
    return this.front;
  }

  /** Re-evaluates which partitions hold F at `now` (after a delivery, on a timer, a backlog report or an assignment change); returns F. */
  refresh(now: number): number {
    let candidate = this.newestSeen;
    if (this.idleTimeoutMs > 0) {
      // Nothing is known yet about the partitions (a restart restoring held events, before
      // the consumer's first assignment and delivery): F stays. Falling back to the newest
      // event time here would release the restored events at once and make the slower
      // partitions' backlog late.
      if (this.assigned === undefined && this.clocks.size === 0) return this.front;
      let min = Infinity;
      for (const c of this.clocks.values()) if (this.isHolding(c, now) && c.max < min) min = c.max;
      // No partition holds it: nothing else is waiting, the newest event time seen is the bound.
      if (min !== Infinity) candidate = min;
    }
    if (candidate > this.front) this.front = candidate;
    return this.front;
  }

  /** An event time seen outside a delivery (a restored held event): counts for `newest` only. */
  saw(eventTime: number): void {
    if (eventTime > this.newestSeen) this.newestSeen = eventTime;
  }

  /** Moves F up to `eventTime` (held events applied early because the buffer was full, or the end of the stream). */
  raiseTo(eventTime: number): void {
    if (eventTime > this.front) this.front = eventTime;
    if (eventTime > this.newestSeen) this.newestSeen = eventTime;
  }

  /** A partition with backlog holds; one without (or not known) until it is idle. */
  private isHolding(c: PartitionClock, now: number): boolean {
    return (c.backlog !== undefined && c.backlog > 0) || now - c.lastActive < this.idleTimeoutMs;
  }
}

/** An event waiting for the frontier, with the partition it came from. */
export interface HeldEvent<T> {
  readonly event: T;
  readonly partition: number;
}

interface HeapEntry<T> extends HeldEvent<T> {
  readonly time: number;
  /** Arrival order: equal times leave in the order they came. */
  readonly seq: number;
}

/** A binary min-heap of held events by (event time, arrival). O(log n) push and pop. */
export class HeldEvents<T extends { readonly eventTime: number }> {
  private readonly heap: HeapEntry<T>[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Event time of the oldest held event (Infinity when none). */
  get oldest(): number {
    return this.heap.length > 0 ? this.heap[0]!.time : Infinity;
  }

  push(event: T, partition: number): void {
    const h = this.heap;
    const entry: HeapEntry<T> = { event, partition, time: event.eventTime, seq: this.seq++ };
    let i = h.length;
    h.push(entry);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, h[parent]!)) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = entry;
  }

  /** Removes and returns the oldest held event (undefined when none). */
  pop(): HeldEvent<T> | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && before(h[r]!, h[l]!) ? r : l;
      if (!before(h[child]!, last)) break;
      h[i] = h[child]!;
      i = child;
    }
    h[i] = last;
    return top;
  }

  /** The held events, oldest first (a copy, for a checkpoint). */
  snapshot(): HeldEvent<T>[] {
    return [...this.heap].sort((a, b) => (before(a, b) ? -1 : 1)).map(({ event, partition }) => ({ event, partition }));
  }
}

function before<T>(a: HeapEntry<T>, b: HeapEntry<T>): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

export interface AlignmentOptions<T> {
  /** The window's allowed lateness (ms): only for reporting the watermark (the window applies it). */
  allowedLatenessMs: number;
  /** Processing time after which a partition that delivered nothing stops holding the window (ms; 0 = no alignment). */
  idleTimeoutMs: number;
  /** Most events held before the oldest are applied early (keep it within the consumer's in-flight bound). */
  maxHeld: number;
  /** The restored window's head (ms); −Infinity when fresh. */
  start?: number;
  /** Held events of the restored checkpoint (never in flight at the source). */
  restored?: readonly HeldEvent<T>[];
}

/** What to apply now: events in order and the partition of each. */
export interface Released<T> {
  readonly events: T[];
  readonly partitions: number[];
}

/**
 * The pipeline's event-time gate: admits each chunk's clean events, holds those ahead of
 * the frontier and releases them in event-time order as it advances. The caller applies
 * what comes out, in order, then moves the window's head to `frontier`.
 */
export class EventTimeAlignment<T extends { readonly eventTime: number }> {
  readonly watermarks: PartitionWatermarks;
  private readonly held = new HeldEvents<T>();
  /** Restored held events not applied yet: they were never in flight at the source, so never released to it. */
  private readonly restored = new Set<T>();
  private forcedCount = 0;
  /** Processing time spent paused (backpressure) before the current pause, and when the current one began. */
  private pausedTotal = 0;
  private pausedSince: number | undefined;
  private wake: (() => void) | undefined;

  constructor(readonly options: AlignmentOptions<T>) {
    if (!(options.maxHeld >= 1)) throw new RebalancerError('REB_ARGUMENT_INVALID', `maxHeld must be at least 1, got ${options.maxHeld}`);
    this.watermarks = new PartitionWatermarks(options.allowedLatenessMs, options.idleTimeoutMs, options.start ?? -Infinity);
    for (const h of options.restored ?? []) {
      this.held.push(h.event, h.partition);
      this.restored.add(h.event);
      this.watermarks.saw(h.event.eventTime);
    }
  }

  get frontier(): number {
    return this.watermarks.frontier;
  }

  get heldCount(): number {
    return this.held.size;
  }

  /** Events applied before the frontier reached them because more than maxHeld were held. */
  get forced(): number {
    return this.forcedCount;
  }

  assign(partitions: readonly number[], now: number): void {
    this.watermarks.assign(partitions, this.idleClock(now));
    this.wake?.();
  }

  /** The consumer's backlog of `partition` after a fetched batch (0 = caught up): a partition with backlog is never idle. */
  backlog(partition: number, records: number): void {
    this.watermarks.backlog(partition, records);
  }

  /** Called when an assignment may have moved the frontier (the pipeline then calls `release`). */
  onWake(wake: (() => void) | undefined): void {
    this.wake = wake;
  }

  /** The consumer paused for backpressure: idleness stops accruing until `resume`. */
  pause(now: number): void {
    this.pausedSince ??= now;
  }

  resume(now: number): void {
    if (this.pausedSince === undefined) return;
    this.pausedTotal += Math.max(0, now - this.pausedSince);
    this.pausedSince = undefined;
  }

  /** The clean events of one chunk of `partition`, delivered at processing time `now`. */
  admit(partition: number, events: readonly T[], now: number): Released<T> {
    const out: Released<T> = { events: [], partitions: [] };
    const clock = this.idleClock(now);
    if (events.length > 0) {
      const wm = this.watermarks;
      const held = this.held;
      wm.beginChunk(partition, clock);
      for (const e of events) {
        const front = wm.observe(e.eventTime);
        if (held.size === 0 && e.eventTime <= front) {
          out.events.push(e);
          out.partitions.push(partition);
          continue;
        }
        held.push(e, partition);
        this.releaseUpTo(front, out);
      }
    }
    this.releaseUpTo(this.watermarks.refresh(clock), out);
    this.enforceBound(out);
    return out;
  }

  /** No delivery: idleness may have moved the frontier (call it from a timer while events are held). */
  release(now: number): Released<T> {
    const out: Released<T> = { events: [], partitions: [] };
    this.releaseUpTo(this.watermarks.refresh(this.idleClock(now)), out);
    return out;
  }

  /** Processing time with the consumer's pauses taken out (it stands still during one). */
  private idleClock(now: number): number {
    return (this.pausedSince ?? now) - this.pausedTotal;
  }

  /** The end of the stream: everything held, in event-time order; the frontier moves to the newest event time. */
  flush(): Released<T> {
    const out: Released<T> = { events: [], partitions: [] };
    this.watermarks.raiseTo(this.watermarks.newest);
    this.releaseUpTo(Infinity, out);
    return out;
  }

  /** True (once) when `event` came from the restored checkpoint's held events: never in flight, never to be released to the source. */
  takeRestored(event: T): boolean {
    return this.restored.size > 0 && this.restored.delete(event);
  }

  /** The held events, oldest first (for a checkpoint, taken with the state and the offsets). */
  snapshot(): HeldEvent<T>[] {
    return this.held.snapshot();
  }

  private releaseUpTo(front: number, out: Released<T>): void {
    const held = this.held;
    while (held.size > 0 && held.oldest <= front) {
      const h = held.pop()!;
      out.events.push(h.event);
      out.partitions.push(h.partition);
    }
  }

  private enforceBound(out: Released<T>): void {
    const held = this.held;
    while (held.size > this.options.maxHeld) {
      const h = held.pop()!;
      this.watermarks.raiseTo(h.event.eventTime);
      out.events.push(h.event);
      out.partitions.push(h.partition);
      this.forcedCount++;
    }
    this.releaseUpTo(this.watermarks.frontier, out);
  }
}
