import type { Admin } from 'kafkajs';
import { GlobalWindow, shareDivergence, type CountsRecord } from '../balance/index.js';
import type { ServiceMetrics } from '../metrics/index.js';
import type { PartitionChangelog } from '../state/changelog.js';
import type { GlobalCountsTopic } from '../state/global-counts-topic.js';
import { PartitionState, type PartitionStates } from '../ingest/partition-state.js';

const RESTORE_ATTEMPTS = 4;
const RESTORE_RETRY_MS = 500;

export interface OwnershipOptions {
  topic: string;
  groupId: string;
  states: PartitionStates;
  changelog: PartitionChangelog;
  counts: GlobalCountsTopic;
  global: GlobalWindow;
  /** Reads the group's committed offsets (admin.fetchOffsets). */
  admin: Admin;
  metrics: ServiceMetrics;
  log(msg: string): void;
  now(): number;
}

/**
 * Partition ownership over the consumer group's assignment (see docs/operations.md,
 * "Scaling out"):
 *  - a partition gained is restored from its changelog blob before its first record is
 *    applied (the source awaits `prepare`); without a blob it starts at the group's
 *    committed offset, or at the first record delivered;
 *  - a partition lost is dropped at once: its new owner restores it from the changelog
 *    (kafkajs has no callback before revocation, so nothing is written after it; a
 *    rebalance that starts triggers a checkpoint while this member still owns it);
 *  - commits only ever cover owned partitions, and never go below the group's committed
 *    offset (so no partition's committed offset moves backwards);
 *  - owned partitions' counts are published to the global counts topic.
 */
export class PartitionOwnership {
  private assigned = new Set<number>();
  private readonly pending = new Map<number, Promise<number | undefined>>();
  private readonly committed = new Map<number, number>();
  private readonly published = new Map<number, number>();
  /** Position of each owned partition's last changelog blob written (or restored). */
  private readonly written = new Map<number, number>();
  private generation = 0;

  constructor(private readonly o: OwnershipOptions) {}

  /** A new assignment (each group join): drops the partitions lost, starts restoring the ones gained. */
  assign(partitions: readonly number[]): void {
    this.generation++;
    const next = new Set(partitions);
    for (const p of this.o.states.partitions()) {
      if (!next.has(p)) {
        this.o.states.drop(p);
        this.committed.delete(p);
        this.published.delete(p);
        this.written.delete(p);
        this.o.changelog.forget([p]);
        this.o.log(`partition ${p} revoked: its new owner restores it from the changelog`);
      }
    }
    for (const p of [...this.pending.keys()]) if (!next.has(p)) this.pending.delete(p);
    const gained = partitions.filter((p) => this.o.states.get(p) === undefined && !this.pending.has(p));
    this.assigned = next;
    if (gained.length > 0) {
      const restore = this.restore(gained, this.generation);
      for (const p of gained) {
        const waiting = restore.then((positions) => positions.get(p));
        // Awaited per partition by the source (prepare), which sees a failure and retries at
        // its next batch; until then the rejection must not go unhandled (it would end the process).
        waiting.catch(() => {});
        this.pending.set(p, waiting);
      }
      restore.catch((err: unknown) => this.o.log(`restoring partitions ${gained.join(', ')} from the changelog failed (retried at their next batch): ${(err as Error).message}`));
    }
    this.o.metrics.partitions.owned.set(next.size);
  }

  /** The offset partition `p`'s state counts up to, once restored (awaited before its first batch). */
  async prepare(p: number): Promise<number | undefined> {
    // A restore that fails (the broker answering badly mid-rebalance) is tried again a few
    // times here, within a fraction of the session timeout (no heartbeat is sent meanwhile),
    // before the batch fails and kafkajs retries it.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.prepareOnce(p);
      } catch (err) {
        if (attempt >= RESTORE_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, RESTORE_RETRY_MS * attempt));
      }
    }
  }

  private async prepareOnce(p: number): Promise<number | undefined> {
    const state = this.o.states.get(p);
    if (state !== undefined && !this.pending.has(p)) return state.position >= 0 ? state.position : undefined;
    let waiting = this.pending.get(p);
    if (waiting === undefined) {
      const restore = this.restore([p], this.generation);
      waiting = restore.then((positions) => positions.get(p));
      waiting.catch(() => {});
      this.pending.set(p, waiting);
    }
    try {
      return await waiting;
    } catch (err) {
      this.pending.delete(p);
      throw err;
    }
  }

  /** The positions a checkpoint may commit: owned partitions only, never below the group's committed offset. */
  committable(positions: ReadonlyMap<number, number>): Map<number, number> {
    const out = new Map<number, number>();
    let skipped = 0;
    for (const [p, offset] of positions) {
      const floor = this.committed.get(p);
      if (!this.assigned.has(p) || this.pending.has(p) || (floor !== undefined && offset <= floor)) {
        if (!this.assigned.has(p) || (floor !== undefined && offset < floor)) skipped++;
        continue;
      }
      out.set(p, offset);
    }
    if (skipped > 0) this.o.metrics.partitions.commitsSkipped.inc(skipped);
    return out;
  }

  /** After a successful commit. */
  committedNow(positions: ReadonlyMap<number, number>): void {
    for (const [p, offset] of positions) if (offset > (this.committed.get(p) ?? -1)) this.committed.set(p, offset);
  }

  /** Owned partitions' blobs, captured synchronously with the rest of a checkpoint. */
  captureBlobs(): Map<number, Buffer> {
    const out = new Map<number, Buffer>();
    for (const s of this.o.states.all()) if (this.assigned.has(s.partition) && !this.pending.has(s.partition) && s.position >= 0) out.set(s.partition, s.toBlob());
    return out;
  }

  /** Writes captured blobs of partitions still owned; throws when a write fails (the checkpoint then commits nothing). */
  async writeBlobs(blobs: ReadonlyMap<number, Buffer>, positions: ReadonlyMap<number, number>): Promise<void> {
    for (const [p, blob] of blobs) {
      if (!this.assigned.has(p)) continue;
      try {
        await this.o.changelog.write(p, blob);
      } catch (err) {
        this.o.metrics.partitions.changelogFailures.inc();
        throw err;
      }
      const position = positions.get(p);
      if (position !== undefined && this.assigned.has(p)) this.written.set(p, position);
      this.o.metrics.partitions.changelogWrites.inc();
      this.o.metrics.partitions.changelogBytes.inc(blob.length);
    }
  }

  /** Publishes owned partitions' changed counts (a timer calls this). */
  async publish(): Promise<void> {
    const records: CountsRecord[] = [];
    const sent = new Map<number, number>();
    for (const s of this.o.states.all()) {
      if (!this.assigned.has(s.partition) || this.pending.has(s.partition) || s.position < 0) continue;
      const last = this.published.get(s.partition);
      if (last === s.position) continue;
      // After a failed publish (last undefined) everything is sent again, not only what changed since.
      records.push(...(last === undefined ? s.allRecords() : s.takeRecords()));
      sent.set(s.partition, s.position);
    }
    if (records.length === 0) return;
    try {
      await this.o.counts.publish(records);
      for (const [p, position] of sent) if (this.assigned.has(p)) this.published.set(p, position);
    } catch (err) {
      for (const p of sent.keys()) this.published.delete(p);
      throw err;
    }
  }

  /** Records counted by owned partitions and not yet in a changelog blob (what a new owner would re-read). */
  changelogLag(): number {
    let lag = 0;
    for (const s of this.o.states.all()) {
      if (!this.assigned.has(s.partition) || s.position < 0) continue;
      lag += Math.max(0, s.position - (this.written.get(s.partition) ?? s.position));
    }
    return lag;
  }

  /** Local vs global category mix (total variation distance), for the divergence gauge. */
  divergence(local: ReadonlyMap<string, number>): number {
    return shareDivergence(local, this.o.global.counts());
  }

  get owned(): number[] {
    return [...this.assigned].sort((a, b) => a - b);
  }

  private async restore(partitions: readonly number[], generation: number): Promise<Map<number, number | undefined>> {
    const started = this.o.now();
    const [blobs, committed] = await Promise.all([this.o.changelog.readLatest(partitions), this.fetchCommitted()]);
    const out = new Map<number, number | undefined>();
    const records: CountsRecord[] = [];
    for (const p of partitions) {
      // Revoked again while reading: nothing to install.
      if (generation !== this.generation && !this.assigned.has(p)) continue;
      const found = blobs.get(p);
      const floor = committed.get(p);
      let state: PartitionState;
      if (found !== undefined) {
        state = PartitionState.fromBlob(found.blob, this.o.states.options);
        this.o.metrics.partitions.restores.inc();
        this.o.log(`partition ${p} restored from the changelog: position ${state.position}, ${state.totals.applied} events counted (written by ${found.writtenBy}${floor !== undefined ? `; group committed ${floor}` : ''})`);
      } else {
        state = new PartitionState(p, this.o.states.options, floor ?? -1);
        this.o.log(`partition ${p} has no changelog blob: counting starts at ${floor !== undefined ? `the group's committed offset ${floor}` : 'the first record delivered'}`);
      }
      if (floor !== undefined) this.committed.set(p, floor);
      this.o.states.install(state);
      if (state.position >= 0) this.written.set(p, state.position);
      if (state.position >= 0) records.push(...state.allRecords());
      out.set(p, state.position >= 0 ? state.position : undefined);
    }
    for (const p of partitions) if (this.pending.get(p) !== undefined && out.has(p)) this.pending.delete(p);
    this.o.metrics.partitions.restoreDuration.observe((this.o.now() - started) / 1000);
    if (records.length > 0) {
      try {
        await this.o.counts.publish(records);
        for (const [p, position] of out) if (position !== undefined) this.published.set(p, position);
      } catch (err) {
        this.o.log(`publishing restored counts failed (the next publish repeats them): ${(err as Error).message}`);
      }
    }
    return out;
  }

  private async fetchCommitted(): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    const groups = await this.o.admin.fetchOffsets({ groupId: this.o.groupId, topics: [this.o.topic] });
    for (const t of groups) {
      for (const { partition, offset } of t.partitions) {
        const n = Number(offset);
        if (Number.isInteger(n) && n >= 0) out.set(partition, n);
      }
    }
    return out;
  }
}
