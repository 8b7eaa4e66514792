import { Observable, Subject } from 'rxjs';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { z } from 'zod';
import { RebalancerError } from '../errors.js';

/** A slice of one partition's fetched batch, in offset order. */
export interface RecordChunk {
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly KafkaMessage[];
  /** Sum of value sizes: what the chunk holds in memory. */
  readonly bytes: number;
}

export interface SourceOptions {
  kafka: Kafka;
  topic: string;
  groupId: string;
  fromBeginning: boolean;
  sessionTimeoutMs: number;
  /** Pause fetching when this many events are in flight (consumed, not yet released). */
  maxInFlight: number;
  maxInFlightBytes: number;
  /** Bytes per fetch response (a quarter per partition): kafkajs decodes a response in one synchronous stretch. */
  fetchMaxBytes: number;
  /** Offsets to start at per partition (from the restored checkpoint); earlier records are skipped. */
  startOffsets: ReadonlyMap<number, number>;
  /** Called when the consumer is dead (non-retriable crash, restart loop, unexpected stop). */
  onDead(err: RebalancerError): void;
  onCrash?(err: Error, willRestart: boolean): void;
  onPauseChange?(paused: boolean): void;
  onLag?(topic: string, partition: number, lag: number): void;
  onAssigned?(partitions: number[]): void;
  /**
   * Partition ownership (stream/partition-state.ts): awaited before a partition's first batch
   * after each assignment; resolves to the offset its state is counted up to (records below
   * are skipped; a fetch position beyond it is moved back to it), or undefined when the
   * partition has no state yet. When given, it replaces `startOffsets`.
   */
  preparePartition?(partition: number): Promise<number | undefined>;
  /** The counted next offset per partition for the gap check (default: startOffsets). */
  positions?: { get(partition: number): number | undefined };
  /** A rebalance started (this member still owns its partitions until it rejoins). */
  onRebalancing?(): void;
  /**
   * A partition skipped offsets: the records in [expected, actual) were no longer in the log
   * when fetched (see OffsetGapWatch). Called before any record at or after `actual` is
   * handed downstream; the source has logged it.
   */
  onLost?(gap: OffsetGap): void;
  log(msg: string): void;
  /** Restarts within this window count towards a restart loop. */
  restartLoopWindowMs?: number;
  restartLoopLimit?: number;
  now(): number;
}

/** Offsets a partition skipped between what the service had and what the broker delivered. */
export interface OffsetGap {
  readonly topic: string;
  readonly partition: number;
  /** The next offset the service expected: every offset below it was applied or held no data. */
  readonly expected: number;
  /** The first offset the broker delivered. */
  readonly actual: number;
  /** actual − expected. */
  readonly lost: number;
}

/**
 * Detects records skipped because they were gone from the log when the consumer reached
 * them. When retention (or deleteRecords) moves a partition's log start past the consumer's
 * position, the fetch fails with OFFSET_OUT_OF_RANGE and kafkajs silently resets to the
 * log start (or the end, with fromBeginning false): the first batch after that starts
 * beyond the expected offset. That happens at the first fetch after a restart (the
 * restored position is older than the log start) and mid-run (a lagging consumer
 * overtaken by retention), so every batch is checked: its first offset against the
 * partition's expected next offset, max(applied position, end of the last batch taken).
 *
 * Batches are seen through kafkajs's START_BATCH_PROCESS event, whose first and last
 * offsets include transaction control records and aborted records, and which also
 * fires for batches holding nothing else; so commit markers and aborted transactions,
 * the other source of offset gaps, never count as lost.
 *
 * Limitations: on a compacted topic (cleanup.policy=compact) the cleaner removes records
 * and leaves real gaps, which this counts as lost: the events topic must use delete
 * retention (the broker's default, which the topic the service creates has). A partition this member gains from another
 * member after its first assignment is not checked until its first batch (the other
 * member may have advanced it), so a loss at that moment is not counted.
 */
export class OffsetGapWatch {
  private readonly taken = new Map<number, number>();
  private readonly unchecked = new Set<number>();
  private assigned: ReadonlySet<number> | undefined;

  /** `positions`: the applied next offset per partition, kept current by the pipeline (the partitions' or the ledger's). */
  constructor(private readonly positions: { get(partition: number): number | undefined }) {}

  /** A new assignment (each group join). */
  assign(partitions: readonly number[]): void {
    const next = new Set(partitions);
    if (this.assigned !== undefined) {
      for (const p of next) if (!this.assigned.has(p)) this.unchecked.add(p);
    }
    for (const p of [...this.taken.keys()]) if (!next.has(p)) this.taken.delete(p);
    for (const p of [...this.unchecked]) if (!next.has(p)) this.unchecked.delete(p);
    this.assigned = next;
  }

  /**
   * A fetched batch of `partition` starts at `first`: the offset expected instead when
   * records before `first` are missing, else undefined. After a gap the offsets below
   * `first` count as accounted for, so the same gap is reported once.
   */
  batchStart(partition: number, first: number): number | undefined {
    if (this.unchecked.delete(partition)) return undefined;
    const applied = this.positions.get(partition);
    const taken = this.taken.get(partition);
    const expected = applied === undefined ? taken : taken === undefined ? applied : Math.max(applied, taken);
    if (expected === undefined || first <= expected) return undefined;
    this.taken.set(partition, first);
    return expected;
  }

  /** Every offset of `partition` up to `last` was taken (handed downstream, or held no data). */
  batchTaken(partition: number, last: number): void {
    const current = this.taken.get(partition);
    if (current === undefined || last + 1 > current) this.taken.set(partition, last + 1);
  }
}

/** kafkajs's START_BATCH_PROCESS payload, as far as the gap check reads it (firstOffset is null for a batch of only compacted-away offsets, though typed string). */
const BatchStart = z.object({ topic: z.string(), partition: z.number().int().min(0), firstOffset: z.string().nullable(), lastOffset: z.string(), batchSize: z.number().int().min(0) });

/** Largest chunk handed to the pipeline at once: bounds the work done between heartbeats. */
const CHUNK_MESSAGES = 1_000;
const HEARTBEAT_WHILE_PAUSED_MS = 1_000;
/** How long after a STOP a CRASH may come (kafkajs disconnects from the cluster in between). */
const STOP_CRASH_GRACE_MS = 10_000;

/**
 * A kafkajs consumer-group member exposed as an Observable of record chunks, with real
 * backpressure. Every chunk handed downstream is "in flight" until the pipeline calls
 * `release`. When the in-flight count or bytes reach their bound the consumer pauses
 * the topic (no further fetches) and the current `eachBatch` waits, heart-beating, until
 * the pipeline has drained below half the bound; then it resumes. So the memory held
 * is bounded by maxInFlight plus one chunk, with no queue in between.
 *
 * Offsets are never committed here: `autoCommit` is off, and the service commits only
 * offsets covered by a checkpoint on disk (see src/state/).
 */
export class KafkaSource {
  private readonly subject = new Subject<RecordChunk>();
  private readonly consumer: Consumer;
  private inFlight = 0;
  private inFlightBytes = 0;
  private pausedNow = false;
  private pauseCount = 0;
  private waiters: Array<() => void> = [];
  private stopping = false;
  private dead: RebalancerError | undefined;
  private up = false;
  private crashes = 0;
  /** When the cluster last answered (fetch or heartbeat), ms; undefined before the first. */
  private contactAt: number | undefined;
  private readonly recentRestarts: number[] = [];
  private assigned: number[] = [];
  private readonly lag = new Map<number, number>();
  private readonly gaps: OffsetGapWatch;
  /** Partitions whose first batch of this assignment was checked against their restored position (moved back at most once: again would loop when retention deleted the records). */
  private readonly prepared = new Set<number>();

  constructor(private readonly opts: SourceOptions) {
    this.gaps = new OffsetGapWatch(opts.positions ?? opts.startOffsets);
    this.consumer = opts.kafka.consumer({
      groupId: opts.groupId,
      sessionTimeout: opts.sessionTimeoutMs,
      heartbeatInterval: Math.max(500, Math.floor(opts.sessionTimeoutMs / 10)),
      // kafkajs decodes a whole fetch response in one synchronous stretch on the main thread,
      // which also serves /recommendations: see --fetch-max-bytes.
      maxBytesPerPartition: Math.max(65_536, Math.floor(opts.fetchMaxBytes / 4)),
      maxBytes: opts.fetchMaxBytes,
      // Never restarted by kafkajs once shutting down or dead (a restart racing disconnect() keeps retrying in the background).
      retry: { retries: 8, restartOnFailure: () => Promise.resolve(!this.stopping && this.dead === undefined) },
    });
    this.watchHealth();
    this.watchGaps();
  }

  /** The chunks, in order per partition. Completes when the source stops. */
  get records$(): Observable<RecordChunk> {
    return this.subject.asObservable();
  }

  get isUp(): boolean {
    return this.up;
  }

  /** Milliseconds since the cluster last answered a fetch or a heartbeat (0 before the consumer started). */
  silenceMs(): number {
    return this.contactAt === undefined ? 0 : Math.max(0, this.opts.now() - this.contactAt);
  }

  get deadReason(): RebalancerError | undefined {
    return this.dead;
  }

  get paused(): boolean {
    return this.pausedNow;
  }

  /** How many times the consumer paused for backpressure. */
  get pauses(): number {
    return this.pauseCount;
  }

  get crashCount(): number {
    return this.crashes;
  }

  get assignedPartitions(): readonly number[] {
    return this.assigned;
  }

  get inFlightEvents(): number {
    return this.inFlight;
  }

  get lagByPartition(): ReadonlyMap<number, number> {
    return this.lag;
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.opts.topic, fromBeginning: this.opts.fromBeginning });
    await this.consumer.run({
      autoCommit: false,
      // Offsets are resolved as chunks are handed on (handleBatch): a batch left early (a
      // rebalance, a seek, a shutdown, a consumer kafkajs restarts) is fetched again from the
      // first record not handed on, instead of being skipped.
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.handleBatch(payload),
    });
    // Seek restored partitions; kafkajs applies a seek when (and if) the partition is
    // assigned to this member. handleBatch also skips anything below the start offset,
    // so a fetch racing the seek cannot re-deliver checkpointed records.
    if (this.opts.preparePartition === undefined) {
      for (const [partition, offset] of this.opts.startOffsets) {
        this.consumer.seek({ topic: this.opts.topic, partition, offset: String(offset) });
      }
    }
    this.up = true;
  }

  /** The pipeline is done with `count` events of `bytes` bytes. */
  release(count: number, bytes: number): void {
    this.inFlight -= count;
    this.inFlightBytes -= bytes;
    if (this.pausedNow && this.inFlight <= this.opts.maxInFlight / 2 && this.inFlightBytes <= this.opts.maxInFlightBytes / 2) {
      this.resume();
    }
  }

  /** Commits next-offsets per partition (only partitions still assigned are accepted by Kafka). */
  async commit(offsets: ReadonlyMap<number, number>): Promise<void> {
    if (offsets.size === 0 || this.dead) return;
    await this.consumer.commitOffsets([...offsets].map(([partition, offset]) => ({ topic: this.opts.topic, partition, offset: String(offset) })));
  }

  /**
   * Stops fetching and completes the stream; in-flight chunks stay with the pipeline.
   * The consumer stays in the group (paused) so the final checkpoint can still commit;
   * `disconnect` leaves the group.
   */
  stopFetching(): void {
    if (this.stopping) return;
    this.stopping = true;
    if (!this.dead) {
      try {
        this.consumer.pause([{ topic: this.opts.topic }]);
      } catch (err) {
        this.opts.log(`consumer pause at shutdown failed: ${(err as Error).message}`);
      }
    }
    this.wakeWaiters();
    this.subject.complete();
  }

  async disconnect(): Promise<void> {
    this.stopFetching();
    this.up = false;
    await this.consumer.disconnect().catch((err: unknown) => this.opts.log(`consumer disconnect failed: ${(err as Error).message}`));
  }

  private async handleBatch({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    let messages = batch.messages;
    this.setLag(topic, partition, Number(batch.highWatermark) - Number(batch.firstOffset() ?? batch.highWatermark));
    let start = this.opts.startOffsets.get(partition);
    if (this.opts.preparePartition !== undefined) {
      start = await this.opts.preparePartition(partition);
      if (!isRunning() || isStale() || this.stopping) return;
      const first = batch.firstOffset();
      // Only the first batch after an assignment starts at the group's committed offset;
      // later ones follow what was handed on (which the position may not cover yet).
      const firstOfAssignment = !this.prepared.has(partition);
      this.prepared.add(partition);
      if (firstOfAssignment && start !== undefined && first !== null && Number(first) > start) {
        // The group's fetch position is past what the partition's state counts (its owner's
        // last changelog blob is older than its last commit): read from the state's position.
        this.opts.log(`partition ${partition}: fetch position ${first} is past its restored position ${start}; seeking back`);
        this.consumer.seek({ topic, partition, offset: String(start) });
        return;
      }
    }
    if (start !== undefined && messages.length > 0 && Number(messages[0]!.offset) < start) {
      const skipped = messages.filter((m) => Number(m.offset) < start);
      messages = messages.filter((m) => Number(m.offset) >= start);
      // Counted before: passed over for good.
      resolveOffset(skipped[skipped.length - 1]!.offset);
    }
    for (let from = 0; from < messages.length; from += CHUNK_MESSAGES) {
      if (!isRunning() || isStale() || this.stopping) return;
      await this.waitForCapacity(heartbeat);
      if (!isRunning() || isStale() || this.stopping) return;
      const slice = messages.slice(from, from + CHUNK_MESSAGES);
      let bytes = 0;
      for (const m of slice) bytes += m.value === null ? 0 : m.value.length;
      this.inFlight += slice.length;
      this.inFlightBytes += bytes;
      this.subject.next({ topic, partition, messages: slice, bytes });
      resolveOffset(slice[slice.length - 1]!.offset);
      if (this.inFlight >= this.opts.maxInFlight || this.inFlightBytes >= this.opts.maxInFlightBytes) this.pause();
      await heartbeat();
      // A fetched batch holds up to ~10k records: let timers, HTTP and training steps run
      // between its chunks instead of applying all of them in one synchronous stretch.
      if (from + CHUNK_MESSAGES < messages.length) await yieldToEventLoop();
    }
    // The whole batch reached the pipeline, trailing control records included.
    resolveOffset(batch.lastOffset());
    this.gaps.batchTaken(partition, Number(batch.lastOffset()));
    this.setLag(topic, partition, Number(batch.highWatermark) - Number(batch.lastOffset()) - 1);
  }

  /** Lag = messages between what the pipeline has been handed and the high watermark. */
  private setLag(topic: string, partition: number, lag: number): void {
    const value = Math.max(0, lag);
    this.lag.set(partition, value);
    this.opts.onLag?.(topic, partition, value);
  }

  private pause(): void {
    if (this.pausedNow) return;
    this.pausedNow = true;
    this.pauseCount++;
    this.consumer.pause([{ topic: this.opts.topic }]);
    this.opts.onPauseChange?.(true);
  }

  private resume(): void {
    if (!this.pausedNow) return;
    this.pausedNow = false;
    this.consumer.resume([{ topic: this.opts.topic }]);
    this.opts.onPauseChange?.(false);
    this.wakeWaiters();
  }

  private wakeWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Waits while paused, heart-beating so the group does not evict this member. */
  private async waitForCapacity(heartbeat: () => Promise<void>): Promise<void> {
    while (this.pausedNow && !this.stopping) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, HEARTBEAT_WHILE_PAUSED_MS);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (this.pausedNow) await heartbeat().catch(() => {});
    }
  }

  /**
   * kafkajs stops silently on errors it deems non-retriable (CRASH with restart=false),
   * and restarts in a loop on others. Both end as a dead consumer here: the service
   * reports it on /readyz and the rebalancer_consumer_up metric, and exits non-zero.
   */
  private watchHealth(): void {
    const { CRASH, STOP, GROUP_JOIN, HEARTBEAT, FETCH, REBALANCING } = this.consumer.events;
    this.consumer.on(REBALANCING, () => this.opts.onRebalancing?.());
    // Any answer from the cluster: a fetch (also an empty one) or a group heartbeat (sent
    // while paused too). A long silence is a broker outage or a partition from it.
    const contact = (): void => {
      this.contactAt = this.opts.now();
    };
    this.consumer.on(HEARTBEAT, contact);
    this.consumer.on(FETCH, contact);
    const windowMs = this.opts.restartLoopWindowMs ?? 60_000;
    const limit = this.opts.restartLoopLimit ?? 5;
    this.consumer.on(GROUP_JOIN, (e) => {
      const assignment = e.payload.memberAssignment[this.opts.topic] ?? [];
      this.assigned = [...assignment].sort((a, b) => a - b);
      // A partition no longer assigned has no lag here (its new owner reports it).
      for (const p of [...this.lag.keys()]) {
        if (assignment.includes(p)) continue;
        this.setLag(this.opts.topic, p, 0);
        this.lag.delete(p);
      }
      this.gaps.assign(this.assigned);
      this.prepared.clear();
      this.up = true;
      this.opts.onAssigned?.(this.assigned);
    });
    this.consumer.on(CRASH, (e) => {
      this.crashes++;
      const { error, restart } = e.payload;
      // Shutting down: no restart is asked for (restartOnFailure), and none is a failure.
      if (this.stopping) return;
      this.opts.onCrash?.(error, restart);
      if (!restart) {
        this.markDead(new RebalancerError('REB_KAFKA_CONSUMER_DEAD', `Kafka consumer crashed with a non-retriable error: ${error.message}`, { error: error.name }, { cause: error }));
        return;
      }
      const now = this.opts.now();
      this.recentRestarts.push(now);
      while (this.recentRestarts.length > 0 && this.recentRestarts[0]! < now - windowMs) this.recentRestarts.shift();
      this.up = false;
      if (this.recentRestarts.length >= limit) {
        this.markDead(new RebalancerError('REB_KAFKA_CONSUMER_DEAD', `Kafka consumer is in a restart loop: ${this.recentRestarts.length} crashes within ${windowMs} ms (last: ${error.message})`, { crashes: this.recentRestarts.length }, { cause: error }));
      }
    });
    // kafkajs also stops the consumer on its way to a crash it then restarts from (STOP comes
    // before CRASH): a stop is unexpected only if no crash follows it.
    this.consumer.on(STOP, () => {
      if (this.stopping || this.dead) return;
      const crashesBefore = this.crashes;
      setTimeout(() => {
        if (!this.stopping && this.crashes === crashesBefore) this.markDead(new RebalancerError('REB_KAFKA_CONSUMER_DEAD', 'Kafka consumer stopped unexpectedly'));
      }, STOP_CRASH_GRACE_MS).unref();
    });
  }

  /**
   * Checks each fetched batch for skipped offsets (OffsetGapWatch). START_BATCH_PROCESS is
   * emitted synchronously just before the batch is handed to eachBatch, so a gap is
   * reported (and the ledger can account for it) before its records are applied.
   */
  private watchGaps(): void {
    this.consumer.on(this.consumer.events.START_BATCH_PROCESS, (e) => {
      try {
        const batch = BatchStart.safeParse(e.payload);
        if (!batch.success || batch.data.topic !== this.opts.topic || batch.data.firstOffset === null) return;
        const { partition, firstOffset, lastOffset, batchSize } = batch.data;
        const actual = Number(firstOffset);
        const expected = this.gaps.batchStart(partition, actual);
        // A batch of only control or aborted records never reaches eachBatch: taken here.
        if (batchSize === 0) this.gaps.batchTaken(partition, Number(lastOffset));
        if (expected === undefined) return;
        const gap: OffsetGap = { topic: this.opts.topic, partition, expected, actual, lost: actual - expected };
        this.opts.log(`${gap.lost} records of ${gap.topic} partition ${partition} were gone when fetched: expected offset ${expected}, the broker delivered ${actual} (deleted by retention or deleteRecords before they were read; counted in rebalancer_events_lost_total)`);
        this.opts.onLost?.(gap);
      } catch (err) {
        // Thrown here, it would crash kafkajs's fetch loop.
        this.opts.log(`offset gap check failed: ${(err as Error).message}`);
      }
    });
  }

  private markDead(err: RebalancerError): void {
    if (this.dead) return;
    this.dead = err;
    this.up = false;
    this.opts.log(err.message);
    this.opts.onDead(err);
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
