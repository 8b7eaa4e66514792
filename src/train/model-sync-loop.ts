/**
 * Model sync between instances (issue #13): publishes this replica's changes at an interval
 * and blends the other instances' as they arrive (the blend rule: model-sync.ts). Transport
 * and trainer are ports: the Kafka topic (model-sync-topic.ts) or anything else that moves
 * updates, and the trainer thread (TrainerThread.exportChanges / applyChanges).
 *
 * Publishes run one at a time; blends run one at a time in arrival order, each queued in the
 * trainer behind the batches already handed to it (the worker blends between two steps;
 * serving reads snapshots and never waits). Updates that arrive before a trainer is attached,
 * or while `maxQueued` are already waiting, are queued up to that bound and then the oldest
 * is dropped (counted): the rows it carried are sent again when they train again.
 */
import { RebalancerError, isRebalancerError } from '../errors.js';
import type { ModelUpdate } from './model-sync-codec.js';
import type { BlendReport, ModelChanges } from './model-sync.js';

/** What the sync needs of a trainer (TrainerThread has both). */
export interface SyncTarget {
  exportChanges(dense: boolean): Promise<ModelChanges>;
  applyChanges(changes: ModelChanges): Promise<BlendReport>;
}

/** Moves updates between instances. */
export interface SyncTransport {
  /** Starts delivering the other instances' updates (never this one's) with their size on the wire. */
  start(onUpdate: (update: ModelUpdate, bytes: number) => void): Promise<void>;
  /** Sends an update; resolves with its bytes on the wire once the broker has it. */
  publish(update: ModelUpdate): Promise<{ bytes: number; chunks: number }>;
  stop(): Promise<void>;
}

export interface ModelSyncOptions {
  /** This instance's id (unique among the instances syncing; its own updates are ignored by it). */
  instanceId: string;
  transport: SyncTransport;
  /** Publish every this many ms; 0: only on `publishNow`. */
  intervalMs: number;
  /** The dense weights go with every n-th publish (1: every one); rows go with every publish. */
  denseEvery: number;
  /** Received updates waiting to be blended before the oldest is dropped (default 64). */
  maxQueued?: number;
  /**
   * Whether anyone else is there to receive (default: always). False skips the publish
   * before exporting, so the changes accumulate and go with the first publish once another
   * instance appears (which then catches up on this replica's changes since its start).
   */
  shouldPublish?: () => boolean;
  /** Clock, ms. */
  now: () => number;
  log: (message: string) => void;
}

/** Counters for metrics (monotonic except `queued` and the ages). */
export interface ModelSyncStats {
  updatesSent: number;
  /** Publishes skipped because nothing was trained since the last one. */
  updatesSkipped: number;
  bytesSent: number;
  chunksSent: number;
  rowsSent: number;
  /** Positives sent (counted into the other replicas' stream features) and received. */
  positivesSent: number;
  positivesReceived: number;
  updatesReceived: number;
  bytesReceived: number;
  rowsReceived: number;
  updatesApplied: number;
  /** Rows averaged with the local value, and rows taken over as sent. */
  rowsAveraged: number;
  rowsReplaced: number;
  /** Received updates dropped (queue full) or that failed to blend (e.g. another model shape). */
  updatesDropped: number;
  updatesFailed: number;
  publishFailures: number;
  queued: number;
  /** Seconds since the last blend, and since the last publish (null: none yet). */
  lastBlendAgeSeconds: number | null;
  lastPublishAgeSeconds: number | null;
  /** Age of the last blended update when it was blended (sender's clock to ours), seconds. */
  lastBlendLagSeconds: number | null;
}

export class ModelSync {
  private target: SyncTarget | null = null;
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private publishes = 0;
  private publishing: Promise<void> = Promise.resolve();
  private queuedPublishes = 0;
  private applying = false;
  private draining: Promise<void> = Promise.resolve();
  private readonly queue: ModelUpdate[] = [];
  private readonly maxQueued: number;
  private started = false;
  private stopped = false;
  private lastBlendAt: number | null = null;
  private lastPublishAt: number | null = null;
  private lastLag: number | null = null;
  private readonly counts = {
    updatesSent: 0,
    updatesSkipped: 0,
    bytesSent: 0,
    chunksSent: 0,
    rowsSent: 0,
    positivesSent: 0,
    positivesReceived: 0,
    updatesReceived: 0,
    bytesReceived: 0,
    rowsReceived: 0,
    updatesApplied: 0,
    rowsAveraged: 0,
    rowsReplaced: 0,
    updatesDropped: 0,
    updatesFailed: 0,
    publishFailures: 0,
  };

  constructor(private readonly o: ModelSyncOptions) {
    this.maxQueued = o.maxQueued ?? 64;
    const bad = (setting: string, expected: string, got: unknown): never => {
      throw new RebalancerError('REB_CONFIG_INVALID', `model sync: ${setting} must be ${expected}, got ${JSON.stringify(got)}`, { setting, got });
    };
    if (o.instanceId.length === 0) bad('instanceId', 'a non-empty string', o.instanceId);
    if (!(Number.isFinite(o.intervalMs) && o.intervalMs >= 0)) bad('intervalMs', 'a number of ms >= 0', o.intervalMs);
    if (!(Number.isInteger(o.denseEvery) && o.denseEvery >= 1)) bad('denseEvery', 'an integer >= 1', o.denseEvery);
    if (!(Number.isInteger(this.maxQueued) && this.maxQueued >= 1)) bad('maxQueued', 'an integer >= 1', this.maxQueued);
  }

  /** The trainer to export from and blend into (the service calls this once its trainer is up). */
  attach(target: SyncTarget): void {
    this.target = target;
    this.drain();
  }

  /** Starts receiving, and publishing every `intervalMs`. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.o.transport.start((u, bytes) => this.receive(u, bytes));
    if (this.o.intervalMs > 0) {
      this.timer = setInterval(() => {
        // A publish still queued behind training steps: this tick adds nothing to it.
        if (this.queuedPublishes > 0) return;
        this.publishNow().catch((err: unknown) => this.o.log(`model sync: publish failed: ${errorText(err)}`));
      }, this.o.intervalMs);
      this.timer.unref();
    }
  }

  /**
   * Publishes what the attached trainer changed since the last publish (nothing when none is
   * attached or nothing was trained). Publishes run one at a time, in call order.
   */
  publishNow(): Promise<void> {
    this.queuedPublishes++;
    const run = this.publishing.then(() => this.publishOnce()).finally(() => this.queuedPublishes--);
    this.publishing = run.catch(() => {});
    return run;
  }

  /** Stops publishing and receiving; waits for the publish and blend in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.publishing;
    await this.o.transport.stop();
    this.queue.length = 0;
    await this.draining;
  }

  stats(): ModelSyncStats {
    const now = this.o.now();
    const age = (t: number | null): number | null => (t === null ? null : Math.max(0, now - t) / 1000);
    return { ...this.counts, queued: this.queue.length, lastBlendAgeSeconds: age(this.lastBlendAt), lastPublishAgeSeconds: age(this.lastPublishAt), lastBlendLagSeconds: this.lastLag };
  }

  private async publishOnce(): Promise<void> {
    const target = this.target;
    if (target === null || this.stopped) return;
    if (this.o.shouldPublish?.() === false) {
      this.counts.updatesSkipped++;
      return;
    }
    const dense = this.publishes % this.o.denseEvery === 0;
    let changes: ModelChanges;
    try {
      changes = await target.exportChanges(dense);
    } catch (err) {
      this.counts.publishFailures++;
      throw err;
    }
    this.publishes++;
    const rows = changes.tables.reduce((s, b) => s + b.rows.length, 0);
    if (rows === 0 && changes.denseSamples === 0 && changes.positives.users.length === 0) {
      this.counts.updatesSkipped++;
      return;
    }
    const update: ModelUpdate = { instanceId: this.o.instanceId, seq: this.seq++, createdAt: this.o.now(), changes };
    try {
      const sent = await this.o.transport.publish(update);
      this.counts.updatesSent++;
      this.counts.bytesSent += sent.bytes;
      this.counts.chunksSent += sent.chunks;
      this.counts.rowsSent += rows;
      this.counts.positivesSent += changes.positives.users.length;
      this.lastPublishAt = this.o.now();
    } catch (err) {
      // The rows' counts were reset by the export: they go again when they train again.
      this.counts.publishFailures++;
      throw err;
    }
  }

  private receive(u: ModelUpdate, bytes: number): void {
    if (u.instanceId === this.o.instanceId || this.stopped) return;
    this.counts.updatesReceived++;
    this.counts.bytesReceived += bytes;
    this.counts.rowsReceived += u.changes.tables.reduce((s, b) => s + b.rows.length, 0);
    this.counts.positivesReceived += u.changes.positives.users.length;
    this.queue.push(u);
    while (this.queue.length > this.maxQueued) {
      this.queue.shift();
      this.counts.updatesDropped++;
    }
    this.drain();
  }

  /** Blends queued updates one at a time. */
  private drain(): void {
    if (this.applying || this.target === null || this.queue.length === 0) return;
    this.applying = true;
    const target = this.target;
    this.draining = (async () => {
      while (this.queue.length > 0 && !this.stopped) {
        const u = this.queue.shift()!;
        try {
          const report = await target.applyChanges(u.changes);
          this.counts.updatesApplied++;
          this.counts.rowsAveraged += report.averaged;
          this.counts.rowsReplaced += report.replaced;
          const now = this.o.now();
          this.lastBlendAt = now;
          this.lastLag = Math.max(0, now - u.createdAt) / 1000;
        } catch (err) {
          this.counts.updatesFailed++;
          this.o.log(`model sync: update ${u.seq} from ${u.instanceId} not blended: ${errorText(err)}`);
        }
      }
      this.applying = false;
    })();
  }
}

function errorText(err: unknown): string {
  if (isRebalancerError(err)) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
