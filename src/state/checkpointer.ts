import { z } from 'zod';
import type { ServiceMetrics } from '../metrics/index.js';
import type { CheckpointStore } from './checkpoint-store.js';

export interface CheckpointMeta {
  /** Next offset per partition of the events topic: everything below is in the state. */
  topic: string;
  positions: Record<string, number>;
  modelVersion: string | null;
}

/** A checkpoint manifest's meta as read from disk. */
export const checkpointMetaSchema: z.ZodType<CheckpointMeta> = z.object({
  topic: z.string(),
  positions: z.record(z.string().regex(/^\d+$/), z.number().int().min(0)),
  modelVersion: z.string().nullable(),
});

export interface CheckpointContent {
  meta: CheckpointMeta;
  files: ReadonlyMap<string, Buffer>;
  /** Writes the model into the checkpoint's temp directory. */
  writeModel?: (tmpDir: string) => Promise<void>;
  /**
   * Runs after the checkpoint is on disk and before the commit (the partition states'
   * changelog blobs, state/changelog.ts); when it throws, nothing is committed.
   */
  beforeCommit?: () => Promise<void>;
  /** What to commit, when not meta.positions (the owned partitions' counted positions). */
  commitPositions?: ReadonlyMap<number, number>;
}

export interface CheckpointerOptions {
  store: CheckpointStore<CheckpointMeta>;
  /** Synchronous snapshot of everything the checkpoint holds (serialised at once, so later events cannot tear it). */
  capture(): CheckpointContent;
  /** Resolves when every dead letter of the captured offsets is acknowledged. */
  flushDeadLetters(): Promise<void>;
  /** Commits the captured positions to Kafka. */
  commit(positions: ReadonlyMap<number, number>): Promise<void>;
  /**
   * What a checkpoint would hold, in a cheap comparable form (positions, events handed to the
   * model, backlog): a checkpoint whose fingerprint equals the last written one is skipped
   * (an idle service would otherwise rewrite the whole model every interval). Optional.
   */
  fingerprint?(): string;
  metrics: ServiceMetrics;
  now(): number;
  log(msg: string): void;
}

/**
 * Periodic checkpoints with the at-least-once ordering:
 *   1. capture state + positions together (synchronously, between events);
 *   2. wait until the dead letters up to those positions are acknowledged;
 *   3. write the checkpoint atomically (state, model, manifest; fsync; rename);
 *   4. only then commit the positions to Kafka.
 * A crash before 4 re-reads events that the checkpoint already holds; the restored dedup
 * set (inside the state) drops them, so nothing is counted twice or lost.
 */
export class Checkpointer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastAt: number | undefined;
  private failure: string | undefined;
  private lastSeq = 0;
  private lastFingerprint: string | undefined;
  private committed: Record<string, number> = {};

  /** Age is counted from here until the first checkpoint, so a service that never manages one looks stale, not fresh. */
  private readonly startedAt: number;

  constructor(private readonly opts: CheckpointerOptions) {
    this.startedAt = opts.now();
  }

  get lastCheckpointAt(): number | undefined {
    return this.lastAt;
  }

  get lastSequence(): number {
    return this.lastSeq;
  }

  get committedOffsets(): Readonly<Record<string, number>> {
    return this.committed;
  }

  /** Marks a restored checkpoint as the latest (for the age metric). */
  restored(seq: number, createdAt: number, positions: Record<string, number>): void {
    this.lastSeq = seq;
    this.lastAt = createdAt;
    this.committed = { ...positions };
  }

  /** Why the latest timed checkpoint failed (undefined once one succeeds). */
  get lastFailure(): string | undefined {
    return this.failure;
  }

  ageSeconds(): number {
    return Math.max(0, (this.opts.now() - (this.lastAt ?? this.startedAt)) / 1000);
  }

  start(intervalMs: number): void {
    this.timer ??= setInterval(() => {
      if (this.running === undefined) {
        void this.checkpoint().then(
          () => (this.failure = undefined),
          (err: unknown) => {
            this.failure = (err as Error).message;
            this.opts.log(`checkpoint failed: ${this.failure}`);
          },
        );
      }
    }, intervalMs);
  }

  stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One checkpoint; concurrent calls share the one in progress, then run again. */
  async checkpoint(): Promise<void> {
    while (this.running) await this.running.catch(() => {});
    const run = this.write();
    this.running = run;
    try {
      await run;
    } finally {
      this.running = undefined;
    }
  }

  private async write(): Promise<void> {
    const started = this.opts.now();
    const fingerprint = this.opts.fingerprint?.();
    if (fingerprint !== undefined && fingerprint === this.lastFingerprint) {
      // Nothing new since the last checkpoint: it is current (its age restarts; nothing to commit).
      this.lastAt = started;
      return;
    }
    const content = this.opts.capture();
    await this.opts.flushDeadLetters();
    const { seq } = await this.opts.store.write(content.meta, content.files, content.writeModel);
    this.lastSeq = seq;
    this.lastAt = this.opts.now();
    this.lastFingerprint = fingerprint;
    this.opts.metrics.checkpoints.inc();
    this.opts.metrics.checkpointDuration.observe((this.opts.now() - started) / 1000);
    // Thrown here (a changelog write failed), nothing is committed and the timer retries.
    await content.beforeCommit?.();
    const positions = content.commitPositions ?? new Map(Object.entries(content.meta.positions).map(([p, o]) => [Number(p), o]));
    try {
      await this.opts.commit(positions);
      this.committed = { ...this.committed, ...Object.fromEntries([...positions].map(([p, o]) => [String(p), o])) };
    } catch (err) {
      // The checkpoint holds these offsets; a restart seeks to them. The next checkpoint retries the commit.
      this.opts.log(`offset commit after checkpoint ${seq} failed: ${(err as Error).message}`);
    }
  }
}
