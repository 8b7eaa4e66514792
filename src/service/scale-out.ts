import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { GlobalWindow, classWeights, type CountsRecord, type GlobalTotals } from '../balance/index.js';
import type { ServiceConfig } from '../config/index.js';
import type { ServiceMetrics } from '../metrics/index.js';
import { PartitionChangelog } from '../state/changelog.js';
import { GlobalCountsTopic } from '../state/global-counts-topic.js';
import { PartitionStates } from '../ingest/partition-state.js';
import { PartitionOwnership } from './ownership.js';
import { ModelSync, type ModelSyncStats, type SyncTarget } from '../train/model-sync-loop.js';
import { ModelSyncTopic } from '../train/model-sync-topic.js';

/** An instance counts as present this long after its last record in the counts topic. */
const PEER_TTL_MS = 60_000;

/** The `global` section of /state: what every instance agrees on, merged from all partitions' owners. */
export interface GlobalState {
  instanceId: string;
  /** Partitions this instance owns. */
  owned: number[];
  /** Cumulative totals of every partition heard of (exact: counted by offset). */
  totals: GlobalTotals;
  /** Each partition's position the totals reflect. */
  positions: Record<string, number>;
  window: { events: number; categories: number; counts: Record<string, number> };
  /** Class weights the global window gives (the targets this instance's smoothed weights follow). */
  weights: Record<string, number>;
  /** Total variation distance between this instance's local window mix and the global one. */
  divergence: number;
  counts: { topic: string; lag: number; read: number; invalid: number };
  /** Other instances heard of in the counts topic within the last minute. */
  peers: string[];
  /** Model sync (null when off or training runs inline). */
  modelSync: (ModelSyncStats & { mode: string; topic: string }) | null;
  changelog: { topic: string; writes: number; bytesWritten: number; reads: number; corrupt: number };
}

/** Kafka topic names allow [A-Za-z0-9._-]. */
function topicPart(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_');
}

export function changelogTopicOf(config: ServiceConfig): string {
  return config.changelogTopic !== '' ? config.changelogTopic : `${topicPart(config.groupId)}-${config.topic}-changelog`.slice(0, 249);
}

export function countsTopicOf(config: ServiceConfig): string {
  return config.countsTopic !== '' ? config.countsTopic : `${topicPart(config.groupId)}-${config.topic}-counts`.slice(0, 249);
}

export function modelSyncTopicOf(config: ServiceConfig): string {
  return config.modelSyncTopic !== '' ? config.modelSyncTopic : `${topicPart(config.groupId)}-${config.topic}-model`.slice(0, 249);
}

export function instanceIdOf(config: ServiceConfig): string {
  return config.instanceId !== '' ? config.instanceId : topicPart(`${hostname()}-${process.pid}`);
}

export interface ScaleOutDeps {
  kafka: Kafka;
  producer: Producer;
  metrics: ServiceMetrics;
  log(msg: string): void;
  now(): number;
}

/**
 * Partition-owned state and the global window, assembled: the partition states, the
 * changelog and counts topics, the ownership over the group's assignment, and the timer
 * that publishes owned partitions' counts.
 */
export class ScaleOut {
  readonly instanceId: string;
  readonly states: PartitionStates;
  readonly global: GlobalWindow;
  readonly changelog: PartitionChangelog;
  readonly counts: GlobalCountsTopic;
  private ownershipOf: PartitionOwnership | undefined;
  private admin: Admin | undefined;
  private timer: NodeJS.Timeout | undefined;
  private publishing: Promise<void> | undefined;
  private readonly peersSeen = new Map<string, number>();
  private sync: ModelSync | undefined;

  constructor(private readonly config: ServiceConfig, private readonly d: ScaleOutDeps) {
    this.instanceId = instanceIdOf(config);
    this.states = new PartitionStates({ bucketWidthMs: config.windowWidthMs, bucketCount: config.windowBuckets, dedupCapacity: config.dedupHorizon, dedupHorizonMs: config.dedupHorizonMs });
    this.global = new GlobalWindow(config.windowBuckets);
    const common = { kafka: d.kafka, producer: d.producer, instanceId: this.instanceId, log: d.log, timeoutMs: Math.max(config.connectTimeoutMs, config.produceTimeoutMs), now: d.now };
    this.changelog = new PartitionChangelog({ ...common, topic: changelogTopicOf(config) });
    this.counts = new GlobalCountsTopic({
      ...common,
      topic: countsTopicOf(config),
      // Per process (a restarted instance must not wait out its previous member's session).
      groupIdPrefix: `${config.groupId}.counts.${randomBytes(4).toString('hex')}`,
      onRecord: (r: CountsRecord, from: string) => {
        if (from !== this.instanceId) this.peersSeen.set(from, d.now());
        this.global.apply(r);
        d.metrics.partitions.globalRecords.inc();
      },
    });
  }

  get ownership(): PartitionOwnership {
    if (this.ownershipOf === undefined) throw new Error('ScaleOut.start() has not run');
    return this.ownershipOf;
  }

  /** Creates the topics, reads the global counts to their end, and keeps an admin client for the group's committed offsets. */
  async start(admin: Admin): Promise<void> {
    await this.changelog.ensureTopic(admin);
    await this.counts.ensureTopic(admin);
    await this.counts.start();
    this.admin = admin;
    this.ownershipOf = new PartitionOwnership({
      topic: this.config.topic,
      groupId: this.config.groupId,
      states: this.states,
      changelog: this.changelog,
      counts: this.counts,
      global: this.global,
      admin,
      metrics: this.d.metrics,
      log: this.d.log,
      now: this.d.now,
    });
    this.timer = setInterval(() => void this.publishNow(), this.config.countsPublishMs);
  }

  /** Instances other than this one that published counts within the last minute. */
  peers(): string[] {
    const since = this.d.now() - PEER_TTL_MS;
    return [...this.peersSeen].filter(([, at]) => at >= since).map(([id]) => id).sort();
  }

  /**
   * Model sync with the other instances (--model-sync): this replica's changes are published
   * while another instance is heard of, and theirs are blended in between training steps.
   */
  async startModelSync(target: SyncTarget): Promise<void> {
    if (this.config.modelSync === 'off') return;
    const transport = new ModelSyncTopic({ kafka: this.d.kafka, eventsTopic: this.config.topic, topic: modelSyncTopicOf(this.config), instanceId: this.instanceId, groupId: `${this.config.groupId}.${randomBytes(4).toString('hex')}`, log: this.d.log });
    const sync = new ModelSync({ instanceId: this.instanceId, transport, intervalMs: this.config.modelSyncIntervalMs, denseEvery: 1, shouldPublish: () => this.peers().length > 0, now: this.d.now, log: this.d.log });
    await sync.start();
    sync.attach(target);
    this.sync = sync;
  }

  /** Stops model sync (before the trainer stops). */
  async stopModelSync(): Promise<void> {
    const sync = this.sync;
    this.sync = undefined;
    await sync?.stop().catch((err: unknown) => this.d.log(`stopping model sync failed: ${(err as Error).message}`));
  }

  /** Publishes owned partitions' changed counts now (also at shutdown); one at a time. */
  publishNow(): Promise<void> {
    this.publishing ??= this.ownership
      .publish()
      .catch((err: unknown) => this.d.log(`publishing window counts failed (retried at the next interval): ${(err as Error).message}`))
      .finally(() => (this.publishing = undefined));
    return this.publishing;
  }

  refreshGauges(localCounts: ReadonlyMap<string, number>): void {
    const m = this.d.metrics.partitions;
    const stats = this.counts.stats();
    m.globalLag.set(stats.lag);
    m.globalPartitions.set(this.global.partitions().length);
    m.globalDivergence.set(this.ownershipOf?.divergence(localCounts) ?? 0);
    m.changelogLag.set(this.ownershipOf?.changelogLag() ?? 0);
    m.peers.set(this.peers().length);
    const sync = this.sync?.stats();
    if (sync !== undefined) {
      m.syncUpdates.sent.set(sync.updatesSent);
      m.syncUpdates.received.set(sync.updatesReceived);
      m.syncUpdates.applied.set(sync.updatesApplied);
      m.syncUpdates.dropped.set(sync.updatesDropped);
      m.syncUpdates.failed.set(sync.updatesFailed + sync.publishFailures);
      m.syncBytes.sent.set(sync.bytesSent);
      m.syncBytes.received.set(sync.bytesReceived);
      m.syncBlendAge.set(sync.lastBlendAgeSeconds ?? -1);
    }
  }

  state(localCounts: ReadonlyMap<string, number>): GlobalState {
    const counts = this.global.counts();
    const ids = [...counts.keys()];
    const w = classWeights(
      ids.map((c) => counts.get(c) ?? 0),
      { policy: this.config.weightPolicy, alpha: this.config.weightAlpha, beta: this.config.weightBeta, minWeight: this.config.weightMin, maxWeight: this.config.weightMax },
    );
    const c = this.counts.stats();
    const l = this.changelog.stats();
    return {
      instanceId: this.instanceId,
      owned: this.ownershipOf?.owned ?? [],
      totals: this.global.totals(),
      positions: this.global.positions(),
      window: { events: this.global.total(), categories: this.global.categories(), counts: Object.fromEntries(counts) },
      weights: Object.fromEntries(ids.map((id, i) => [id, w.weights[i]!])),
      divergence: this.ownershipOf?.divergence(localCounts) ?? 0,
      counts: { topic: countsTopicOf(this.config), lag: c.lag, read: c.read, invalid: c.invalid },
      peers: this.peers(),
      modelSync: this.sync === undefined ? null : { mode: this.config.modelSync, topic: modelSyncTopicOf(this.config), ...this.sync.stats() },
      changelog: { topic: changelogTopicOf(this.config), writes: l.writes, bytesWritten: l.bytesWritten, reads: l.reads, corrupt: l.corrupt },
    };
  }

  async stop(): Promise<void> {
    await this.stopModelSync();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.ownershipOf !== undefined) await this.publishNow();
    await this.counts.stop().catch((err: unknown) => this.d.log(`stopping the counts reader failed: ${(err as Error).message}`));
    await this.admin?.disconnect().catch(() => {});
  }
}
