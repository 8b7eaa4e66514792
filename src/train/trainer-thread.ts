/**
 * The model port with the trainer on its own worker thread (issue #12): a drop-in for
 * ModelAdapter. The worker (worker.ts) owns TensorFlow, the model, the optimizer and the
 * prequential evaluator; this side keeps only what serving needs and never waits on a step:
 * `recommend` scores from the latest published snapshot (SnapshotScorer, pure JS) and
 * `evaluation` reads the latest reply.
 *
 * Calls that reach the worker (train, save, and internal recycling) run strictly one at a
 * time in call order; `train` resolves when the worker has finished the step, so a slow
 * trainer still pauses the consumer (backpressure).
 *
 * Recycling: tfjs-node numbers native tensor handles with an int32 counter that is never
 * reset (tensor-ids.ts). When a reply shows the counter at `recycleAtTensorId` or beyond,
 * before the next call the worker's whole state is exported, a new worker starts from it
 * (its counter at 0) and publishes, and the old one is stopped: no step lost or repeated,
 * serving continues from the latest snapshot throughout.
 *
 * Crash isolation: the client keeps a base state (the seeds, the checkpoint it restored, or
 * the latest export) and a journal of the batches sent since (a new export every
 * `journalMaxBatches` batches). When the worker dies, a new one starts from the base, the
 * journal is replayed (training is deterministic given the state and the batches, and each
 * batch carries the priors it was composed with), so the model is exactly the one that
 * died, and the batch in flight is retried once; a batch that kills two workers in a row is
 * dropped (logged with its size, counted). Three deaths within ten minutes make `healthy`
 * false. Serving keeps using the latest snapshot meanwhile.
 *
 * Model sync (model-sync.ts, model-sync-loop.ts): `exportChanges` and `applyChanges` reach
 * the worker in call order with the batches; a blend is journaled like a batch, so a
 * replacement worker replays it in place. The sync's own state (per-row sample counts of
 * the changes not yet exported; in delta mode the copy of the parameters as last published)
 * is not part of a hand-over: a worker that replaces another (recycle, restart) starts it
 * afresh: rows trained before the new worker's start state and not yet exported are sent
 * only once they train again, and the batches it replays count as new, so in delta mode the
 * other replicas add their changes a second time if they had them already (average mode only
 * weighs them again), and in both modes they count the replayed batches' positives again.
 *
 * Staleness: the worker publishes after a step once `snapshotIntervalMs` has passed since
 * its last snapshot, and by timer when a step is left unpublished, so while the worker lives
 * the served parameters lag the newest step by at most the interval plus one step plus one
 * publish (the copy: ~10–20 ms for the default model). `stats().stalenessSeconds` is the
 * age of the oldest step the served snapshot lacks (0 when it is current); it keeps growing
 * while a dead worker is being replaced.
 */
import { Rng } from '../balance/index.js';
import type { EventType, RecommendedItem } from '../codec/types.js';
import type { ServiceConfig } from '../config/index.js';
import { RebalancerError, isRebalancerError } from '../errors.js';
import type { TensorMemory, ThreadMemory } from '../metrics/thread-memory.js';
import type { ModelSnapshot } from '../model/snapshot.js';
import { SnapshotServing } from '../model/snapshot-serving.js';
import type { EventBatch } from './balance-adapter.js';
import type { CandidateItem, EvaluationView, ModelPort } from '../ports/index.js';
import { BatchEncoder, CategoryDictionary } from './batch-codec.js';
import type { BlendReport, ModelChanges, SyncMode } from './model-sync.js';
import { configToWire, type HandOverState, type ModelSource, type ReadyMessage, type SyncApplyMessage, type TrainMessage, type TrainedMessage, type WorkerHooks } from './protocol.js';
import { WorkerLink, type LinkEvents } from './worker-link.js';

/** Deaths within this window that make the trainer unhealthy. */
const DEATH_WINDOW_MS = 10 * 60_000;
const DEATHS_UNHEALTHY = 3;
/** Attempts to start a replacement worker before a call fails. */
const START_ATTEMPTS = 3;

export interface TrainerThreadOptions {
  config: ServiceConfig;
  /** The service's Rng; forked as ModelAdapter.create / restoreOrCreate fork it. */
  rng: Rng;
  /** The balance core's π_c (logit adjustment), read on the main thread when a batch is sent. */
  prior: (categoryId: string) => number;
  /** A checkpoint directory to restore the model from (as ModelAdapter.restoreOrCreate, with its fallback). */
  restoreDir?: string;
  /** Least time between published snapshots, ms (a step left unpublished is published when it has passed). */
  snapshotIntervalMs: number;
  /** Recycle the worker when its native tensor-id counter reaches this (default 2^30). */
  recycleAtTensorId?: number;
  /** Batches journaled before the base state is refreshed by an export (default 256). */
  journalMaxBatches?: number;
  log: (message: string) => void;
  /** Clock, ms. */
  now: () => number;
  /**
   * Called on the main thread when a snapshot starts being served, with why it was published
   * ('step': after training; 'start' / 'recycle' / 'restart': a new worker's first).
   */
  onPublish?: (snapshot: ModelSnapshot, cause: 'step' | 'start' | 'recycle' | 'restart', publishMs: number) => void;
  /** Test hooks (slow or kill the worker on purpose); `crashAfterSteps` applies to the first worker only. */
  testHooks?: Partial<WorkerHooks>;
  /** How model sync combines replicas (model-sync.ts; default 'average'; every instance must use the same). */
  syncMode?: SyncMode;
}

export interface TrainerThreadStats {
  /** Sequence number and trainer steps of the snapshot being served. */
  snapshotSeq: number;
  snapshotSteps: number;
  /** Seconds since the first step the served snapshot lacks finished (0 when it is current). */
  stalenessSeconds: number;
  /** The worker's native tensor-handle counter (see tensor-ids.ts). */
  tensorIdHighWater: number;
  recycles: number;
  workerRestarts: number;
  /** Batches dropped because they killed two workers in a row. */
  droppedBatches: number;
  /** `arrived` events the model has trained on (the worker's count; `TrainerThread.trainedEvents` also counts batches queued). */
  trainedEvents: number;
  /** Samples (positives and negatives) of every optimizer step, summed. */
  trainedSamples: number;
  /** Worker time of the latest step (evaluate + step), ms; the rest of a `train` call is messaging. */
  workerStepMs: number;
  /** False after DEATHS_UNHEALTHY worker deaths within DEATH_WINDOW_MS. */
  healthy: boolean;
  /** The worker thread's heap and live tensors after its latest step (null before the first). */
  memory: (ThreadMemory & TensorMemory) | null;
}

export class TrainerThread implements ModelPort<EventBatch> {
  private link!: WorkerLink;
  private readonly events: LinkEvents;
  /** Where a replacement worker starts from, and the batches trained since. */
  private base: ModelSource;
  private journal: Array<TrainMessage | SyncApplyMessage> = [];
  private readonly journalMax: number;
  private readonly dictionary = new CategoryDictionary();
  private encoder = new BatchEncoder(null);
  private batches = 0;
  /** Events of the batches handed to `train` (see `trainedEvents`). */
  private handed = 0;
  private lock: Promise<unknown> = Promise.resolve();
  /** What `recommend` scores with (used when this thread serves; a serving thread has its own, fed by `onPublish`). */
  private serving = new SnapshotServing('neumf-g0');
  /** Where snapshots go instead of `serving` (forwardSnapshots), and the last one's identity. */
  private forward: ((snapshot: ModelSnapshot) => void) | null = null;
  private servedMeta: { seq: number; steps: number } | null = null;
  private nextSeq = 0;
  private summary: EvaluationView | null = null;
  private labelWeights: Readonly<Record<EventType, number>> = { view: 0, click: 0, add_to_cart: 0, purchase: 0 };
  private native = false;
  private generation = 0;
  private lastSteps = 0;
  private trained = 0;
  private samples = 0;
  private stepMs = 0;
  private memory: (ThreadMemory & TensorMemory) | null = null;
  private highWater = 0;
  /** Steps finished and not yet in the served snapshot, oldest first. */
  private unpublished: Array<{ steps: number; at: number }> = [];
  private deaths: number[] = [];
  private restarts = 0;
  private recycleCount = 0;
  private dropped = 0;
  private recycleDue = false;
  private stopped = false;
  private readonly recycleAt: number;

  private constructor(private readonly o: TrainerThreadOptions, base: ModelSource) {
    this.base = base;
    this.recycleAt = o.recycleAtTensorId ?? 2 ** 30;
    this.journalMax = o.journalMaxBatches ?? 256;
    this.events = {
      onSnapshot: (link, snapshot, publishMs, first) => this.onSnapshot(link, snapshot, publishMs, first),
      onDeath: (link, reason) => this.onDeath(link, reason),
    };
  }

  /** Starts the worker (fresh, or from `restoreDir`) and resolves once it has published its first snapshot. */
  static async create(o: TrainerThreadOptions): Promise<TrainerThread> {
    const rng = o.rng;
    let source: ModelSource;
    if (o.restoreDir === undefined) {
      // As ModelAdapter.create: the model's generator first, then the trainer's.
      source = { kind: 'fresh', modelRng: rng.fork().state(), trainerRng: rng.fork().state() };
    } else {
      // As ModelAdapter.restoreOrCreate: one fork (the trainer's) when the checkpoint loads,
      // two (model, trainer) when it falls back to a fresh model. Which one is known only
      // after the worker tried, so both are drawn from copies and the service's Rng is
      // advanced afterwards.
      const asRestore = Rng.fromState(rng.state());
      const asFresh = Rng.fromState(rng.state());
      source = { kind: 'checkpoint', dir: o.restoreDir, trainerRng: asRestore.fork().state(), fallback: { modelRng: asFresh.fork().state(), trainerRng: asFresh.fork().state() } };
    }
    const t = new TrainerThread(o, source);
    const ready = await t.begin(source);
    if (source.kind === 'checkpoint') {
      if (ready.made === 'checkpoint') {
        rng.fork();
      } else {
        rng.fork();
        rng.fork();
        o.log(`warning: the model in ${source.dir} was not loaded (${ready.fallback ?? 'unknown reason'}); the model starts fresh, the rest of the checkpoint is restored`);
      }
    }
    return t;
  }

  private async begin(source: ModelSource): Promise<ReadyMessage> {
    const { link, ready } = await this.startLink(source, 'start', { crashAfterSteps: this.o.testHooks?.crashAfterSteps ?? null });
    this.link = link;
    try {
      return await this.adopt(link, source, ready);
    } catch (err) {
      await link.retire();
      throw err;
    }
  }

  /** Takes over what the first worker reported, and waits for its first snapshot. */
  private async adopt(link: WorkerLink, source: ModelSource, ready: ReadyMessage): Promise<ReadyMessage> {
    this.handed = ready.trainedEvents;
    if (source.kind === 'checkpoint' && ready.made === 'fresh' && source.fallback !== null) this.base = { kind: 'fresh', ...source.fallback };
    this.labelWeights = ready.labelWeights;
    this.native = ready.nativeBackend;
    this.generation = Number(/g(\d+)$/.exec(ready.version)?.[1] ?? 0);
    if (ready.usesPriors) {
      for (const c of ready.catalogCategories) this.dictionary.add(c);
      this.encoder = new BatchEncoder({ dictionary: this.dictionary, prior: this.o.prior });
    }
    // A checkpoint directory may be rotated away later, and warm-start files (--init-from,
    // --item-embeddings) change or go: restarts start from memory instead.
    if (ready.made === 'checkpoint' || (ready.made === 'fresh' && (this.o.config.initFrom !== '' || this.o.config.itemEmbeddings !== ''))) this.rebase(await link.exportState(false));
    link.publish();
    await link.firstSnapshot;
    return ready;
  }

  /** Starts a worker from `source` and waits for it to be ready. */
  private async startLink(source: ModelSource, purpose: WorkerLink['purpose'], hooks: { crashAfterSteps: number | null }): Promise<{ link: WorkerLink; ready: ReadyMessage }> {
    const h = this.o.testHooks;
    const link = new WorkerLink(
      {
        type: 'init',
        config: configToWire(this.o.config),
        source,
        categories: this.dictionary.slice(),
        snapshotIntervalMs: this.o.snapshotIntervalMs,
        seqFrom: this.nextSeq,
        ...(this.o.syncMode === undefined ? {} : { syncMode: this.o.syncMode }),
        hooks: { trainDelayMs: h?.trainDelayMs ?? 0, crashOnBatch: h?.crashOnBatch ?? null, crashAfterSteps: hooks.crashAfterSteps },
      },
      this.events,
      purpose,
    );
    try {
      const ready = await link.ready;
      this.applyProgress(ready.steps, ready.trainedEvents, ready.tensorIdHighWater, ready.evaluation);
      this.recycleDue = false;
      return { link, ready };
    } catch (err) {
      await link.retire();
      throw err;
    }
  }

  get version(): string {
    return `neumf-g${this.generation}`;
  }

  get nativeBackend(): boolean {
    return this.native;
  }

  /** Optimizer steps of the model (as of the latest reply). */
  get steps(): number {
    return this.lastSteps;
  }

  trainsOn(type: EventType): boolean {
    return this.labelWeights[type] > 0;
  }

  /** Sends the batch (π_c read now) and resolves when the worker has trained on it. */
  train(batch: EventBatch): Promise<{ loss: number }> {
    if (this.stopped) return Promise.reject(new RebalancerError('REB_TRAINER_DIED', 'the trainer thread has been stopped'));
    const message = this.encoder.encode(batch, ++this.batches);
    this.handed += batch.arrived.length;
    return this.serial(() => this.trainNow(message));
  }

  recommend(userId: string, candidates: readonly CandidateItem[], k: number): RecommendedItem[] {
    this.serving.version = this.version;
    return this.serving.recommend(userId, candidates, k);
  }

  coldStart(userId: string): boolean | null {
    return this.serving.coldStart(userId);
  }

  /** The snapshot being served (the parameters `recommend` scores with). */
  servedSnapshot(): ModelSnapshot | null {
    return this.serving.snapshot;
  }

  /**
   * Hands every snapshot from now on (the current one first) to `sink` instead of serving it
   * here: the serving thread's feed. The sink may transfer the snapshot's buffers (this side
   * keeps no reference), so `recommend` and `servedSnapshot` stop working on this thread.
   */
  forwardSnapshots(sink: (snapshot: ModelSnapshot) => void): void {
    const current = this.serving.snapshot;
    this.forward = sink;
    this.serving = new SnapshotServing(this.version);
    if (current !== null) sink(current);
  }

  /** The evaluation as of the latest reply (computed by the worker as ModelAdapter.evaluation computes it). */
  evaluation(): EvaluationView {
    return this.summary ?? { hitRateByCategory: new Map(), evaluationsByCategory: new Map(), hitRateMacro: 0, hitRateMicro: 0, ndcgMacro: 0, ndcgMicro: 0, adjustment: { tau: 0, microCost: 0, macroGain: 0 } };
  }

  /**
   * Every `arrived` event of the batches handed to `train` so far (counted when handed, less
   * the batches dropped): what a save queued now will hold.
   */
  get trainedEvents(): number {
    return this.handed;
  }

  /**
   * Queues a save into `<dir>/model` (as ModelAdapter.save) behind every batch handed to
   * `train` so far; the version (the next generation) is fixed now.
   */
  save(dir: string): { version: string; done: Promise<void> } {
    const version = `neumf-g${++this.generation}`;
    const done = this.serial(async () => {
      await this.maintain();
      for (let attempt = 1; ; attempt++) {
        await this.ensureLive();
        try {
          await this.link.save(dir, version);
          return;
        } catch (err) {
          if (!isRebalancerError(err, 'REB_TRAINER_DIED') || attempt >= 2) throw err;
        }
      }
    });
    return { version, done };
  }

  /**
   * Model sync: the embedding rows trained since the last export with their sample counts,
   * and with `dense` the dense weights (queued behind the batches handed to `train` so far).
   */
  exportChanges(dense: boolean): Promise<ModelChanges> {
    if (this.stopped) return Promise.reject(new RebalancerError('REB_TRAINER_DIED', 'the trainer thread has been stopped'));
    return this.serial(async () => {
      await this.ensureLive();
      return this.link.syncExport(dense);
    });
  }

  /**
   * Model sync: blends another replica's changes into the model between two steps (queued
   * behind the batches handed to `train` so far; serving goes on from the latest snapshot,
   * and the blended parameters are published like a step's). Retried once on a new worker
   * if the worker dies meanwhile.
   */
  applyChanges(changes: ModelChanges): Promise<BlendReport> {
    if (this.stopped) return Promise.reject(new RebalancerError('REB_TRAINER_DIED', 'the trainer thread has been stopped'));
    const message: SyncApplyMessage = { type: 'sync-apply', call: 0, replay: false, changes };
    return this.serial(async () => {
      await this.maintain();
      for (let attempt = 1; ; attempt++) {
        await this.ensureLive();
        try {
          const report = await this.link.syncApply(message);
          this.journal.push(message);
          return report;
        } catch (err) {
          if (!isRebalancerError(err, 'REB_TRAINER_DIED') || attempt >= 2) throw err;
        }
      }
    });
  }

  /** Test hook: makes the current worker exit abruptly. */
  crash(): void {
    this.link.crash();
  }

  stats(): TrainerThreadStats {
    const now = this.o.now();
    const served = this.servedMeta;
    const oldest = this.unpublished[0];
    return {
      snapshotSeq: served?.seq ?? -1,
      snapshotSteps: served?.steps ?? 0,
      stalenessSeconds: oldest === undefined ? 0 : Math.max(0, now - oldest.at) / 1000,
      tensorIdHighWater: this.highWater,
      recycles: this.recycleCount,
      workerRestarts: this.restarts,
      droppedBatches: this.dropped,
      trainedEvents: this.trained,
      trainedSamples: this.samples,
      workerStepMs: this.stepMs,
      memory: this.memory,
      healthy: this.deaths.filter((t) => now - t < DEATH_WINDOW_MS).length < DEATHS_UNHEALTHY,
    };
  }

  /** Stops the worker after the calls already made. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.serial(() => this.link.retire());
  }

  // ------------------------------------------------------------------ internals

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => {});
    return run;
  }

  private async trainNow(message: TrainMessage): Promise<{ loss: number }> {
    await this.maintain();
    for (let attempt = 1; ; attempt++) {
      await this.ensureLive();
      try {
        const reply = await this.link.train(message);
        this.journal.push(message);
        this.onTrained(reply);
        return { loss: reply.loss };
      } catch (err) {
        if (!isRebalancerError(err, 'REB_TRAINER_DIED')) {
          // The worker handled the batch and failed (as an inline step would): a replay must see it too.
          this.journal.push(message);
          throw err;
        }
        if (attempt >= 2) {
          this.dropped++;
          this.handed -= message.arrived.eventIds.length;
          const size = `${message.arrived.eventIds.length} events, ${message.itemRefs.length} samples`;
          this.o.log(`trainer: batch ${message.batch} (${size}) dropped: it killed two trainer workers in a row`);
          throw new RebalancerError('REB_TRAINER_DIED', `batch ${message.batch} (${size}) was dropped: it killed two trainer workers in a row`, { batch: message.batch });
        }
      }
    }
  }

  /** Before a call: recycle when the tensor-id counter is high, refresh the base when the journal is long. */
  private async maintain(): Promise<void> {
    if (!this.link.alive) return;
    try {
      if (this.recycleDue) await this.recycle();
      else if (this.journal.length >= this.journalMax) this.rebase(await this.link.exportState(false));
    } catch (err) {
      // A death here is handled by the restart that follows; anything else is a bug to surface.
      if (!isRebalancerError(err, 'REB_TRAINER_DIED')) throw err;
    }
  }

  private rebase(exported: { state: HandOverState; nextSeq: number }): void {
    this.base = { kind: 'state', state: exported.state };
    this.journal = [];
    this.nextSeq = Math.max(this.nextSeq, exported.nextSeq);
  }

  /** Hand-over to a fresh worker (its tensor-id counter starts at 0). */
  private async recycle(): Promise<void> {
    const old = this.link;
    const started = this.o.now();
    const at = `tensor id ${this.highWater}, step ${this.lastSteps}`;
    const exported = await old.exportState(true);
    this.rebase(exported);
    try {
      const { link } = await this.startLink(this.base, 'recycle', { crashAfterSteps: null });
      link.publish();
      await link.firstSnapshot;
      this.link = link;
      this.recycleCount++;
      this.o.log(`trainer: worker recycled (${at}) in ${Math.round(this.o.now() - started)} ms`);
    } finally {
      await old.retire();
    }
  }

  /** Makes sure a live worker is there: after a death, a new one from the base plus the journal. */
  private async ensureLive(): Promise<void> {
    if (this.link.alive) return;
    if (this.stopped) throw new RebalancerError('REB_TRAINER_DIED', 'the trainer thread has been stopped');
    for (let attempt = 1; ; attempt++) {
      try {
        await this.revive();
        return;
      } catch (err) {
        if (!isRebalancerError(err, 'REB_TRAINER_DIED') || attempt >= START_ATTEMPTS) throw err;
      }
    }
  }

  private async revive(): Promise<void> {
    const started = this.o.now();
    const { link } = await this.startLink(this.base, 'restart', { crashAfterSteps: null });
    const replies = this.journal.map((m) => (m.type === 'train' ? link.train({ ...m, replay: true }) : link.syncApply({ ...m, replay: true }).then(() => null)));
    const settled = await Promise.allSettled(replies);
    let last: TrainedMessage | undefined;
    for (const s of settled) {
      if (s.status === 'fulfilled') last = s.value ?? last;
      else if (isRebalancerError(s.reason, 'REB_TRAINER_DIED')) throw s.reason;
    }
    // The replayed batches were counted when they first trained.
    if (last !== undefined) this.applyProgress(last.steps, last.trainedEvents, last.tensorIdHighWater, last.evaluation);
    link.publish();
    this.link = link;
    this.restarts++;
    this.o.log(`trainer: worker restarted (${this.base.kind} base + ${this.journal.length} batches and blends replayed, step ${this.lastSteps}) in ${Math.round(this.o.now() - started)} ms`);
  }

  private onTrained(r: TrainedMessage): void {
    if (r.steps > this.lastSteps) this.unpublished.push({ steps: r.steps, at: this.o.now() });
    this.samples += r.trainedSamples;
    this.stepMs = r.stepMs;
    this.memory = r.memory;
    this.applyProgress(r.steps, r.trainedEvents, r.tensorIdHighWater, r.evaluation);
    if (r.tensorIdHighWater >= this.recycleAt) this.recycleDue = true;
  }

  private applyProgress(steps: number, trainedEvents: number, highWater: number, evaluation: EvaluationView): void {
    this.lastSteps = steps;
    this.trained = trainedEvents;
    this.highWater = highWater;
    this.summary = evaluation;
  }

  private onSnapshot(link: WorkerLink, snapshot: ModelSnapshot, publishMs: number, first: boolean): void {
    if (!link.alive) return;
    this.nextSeq = Math.max(this.nextSeq, snapshot.seq + 1);
    const cause = first ? link.purpose : 'step';
    const served = (): void => {
      this.servedMeta = { seq: snapshot.seq, steps: snapshot.steps };
      while (this.unpublished.length > 0 && this.unpublished[0]!.steps <= snapshot.steps) this.unpublished.shift();
      this.o.onPublish?.(snapshot, cause, publishMs);
    };
    if (this.forward === null) {
      this.serving.offer(snapshot, served);
      return;
    }
    const last = this.servedMeta;
    if (last !== null && (snapshot.seq <= last.seq || snapshot.steps < last.steps)) return;
    served();
    this.forward(snapshot);
  }

  private onDeath(link: WorkerLink, reason: string): void {
    const now = this.o.now();
    this.deaths = this.deaths.filter((t) => now - t < DEATH_WINDOW_MS);
    this.deaths.push(now);
    this.o.log(`trainer: worker died (${reason.split('\n')[0]})`);
    // Restart right away when idle (a call in flight restarts it itself); serving goes on meanwhile.
    if (link === this.link && !this.stopped) this.serial(() => this.ensureLive()).catch((err: unknown) => this.o.log(`trainer: restart failed: ${String(err)}`));
  }
}
