/**
 * The trainer's worker thread: owns the TensorFlow engine (tfjs-node loads per thread), the
 * model, the IncrementalTrainer and its prequential evaluator. Started by trainer-thread.ts;
 * messages in protocol.ts. It does what ModelAdapter does inline, one message at a time:
 * `train` = `trainer.countArrived(n)`, `trainer.evaluate(arrived)`, then
 * `trainer.step(items, weights, prior, {freshCount})`.
 *
 * Snapshots: once at start (on `publish`), then after a step when `snapshotIntervalMs` has
 * passed since the last one, and by timer when a step is left unpublished, so the served
 * parameters are never older than the interval (plus one step and one publish) behind the
 * newest step.
 *
 * Model sync (model-sync.ts): every step's rows are counted; `sync-export` takes the rows
 * and dense weights trained since the last export, `sync-apply` blends another replica's
 * between two steps (messages are handled one at a time) and publishes like a step does.
 */
import * as tf from '@tensorflow/tfjs-node';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import { Rng } from '../balance/index.js';
import { RebalancerError, isRebalancerError } from '../errors.js';
import { IncrementalTrainer, assertNativeBackend, initialTrainer, loadModel, saveModel } from '../model/index.js';
import { snapshotTransferList, takeSnapshot } from '../model/snapshot.js';
import { evaluationOf } from './evaluation.js';
import { MODEL_DIR, modelConfigOf, prepareInitOf, tfBackendIsNative, trainerConfigOf } from './model-adapter.js';
import { CategoryPriors, decodeBatch } from './batch-codec.js';
import { exportHandOver, modelFromHandOver, trainerStateOf } from './hand-over.js';
import { blendIntoModel, syncParamsOf, trackTrainer, type SyncMode, type SyncTracker } from './model-sync.js';
import { configFromWire, toWorkerSchema, type FromWorker, type InitMessage, type ModelSource, type SyncApplyMessage, type ToWorker, type TrainMessage, type WorkerHooks } from './protocol.js';
import { tensorIdHighWater } from './tensor-ids.js';
import { threadMemory, type TensorMemory, type ThreadMemory } from '../metrics/thread-memory.js';

const maybePort = parentPort;
if (maybePort === null) throw new Error('src/train/worker.ts runs as a worker thread');
const port = maybePort;

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

/** Test hook: blocks this thread (a busy wait, as a long native step would). */
function busyWait(ms: number): void {
  const end = performance.now() + ms;
  let spins = 0;
  while (performance.now() < end) spins++;
  if (spins < 0) throw new Error('unreachable');
}

interface Made {
  trainer: IncrementalTrainer;
  version: string;
  made: 'fresh' | 'checkpoint' | 'state';
  fallback: string | null;
}

async function makeTrainer(source: ModelSource, m: InitMessage): Promise<Made> {
  const config = configFromWire(m.config);
  const trainerConfig = trainerConfigOf(config);
  // As ModelAdapter.create(Initialised): from --init-from / --item-embeddings when set.
  const fresh = async (modelRng: Rng, trainerRng: Rng): Promise<IncrementalTrainer> => initialTrainer(await prepareInitOf(config), modelConfigOf(config), trainerConfig, modelRng, trainerRng);
  switch (source.kind) {
    case 'fresh':
      return { trainer: await fresh(Rng.fromState(source.modelRng), Rng.fromState(source.trainerRng)), version: 'neumf-g0', made: 'fresh', fallback: null };
    case 'checkpoint':
      try {
        // As ModelAdapter.restore.
        const loaded = await loadModel(join(source.dir, MODEL_DIR));
        const trainer = new IncrementalTrainer(loaded.model, trainerConfig, Rng.fromState(source.trainerRng), loaded.trainerState ?? undefined);
        return { trainer, version: loaded.version, made: 'checkpoint', fallback: null };
      } catch (err) {
        if (!isRebalancerError(err, 'REB_CHECKPOINT_CORRUPT') || source.fallback === null) throw err;
        const f = source.fallback;
        return { trainer: await fresh(Rng.fromState(f.modelRng), Rng.fromState(f.trainerRng)), version: 'neumf-g0', made: 'fresh', fallback: err.message };
      }
    case 'state': {
      assertNativeBackend();
      const s = source.state;
      const trainer = new IncrementalTrainer(modelFromHandOver(s), trainerConfig, Rng.fromState(s.trainer.rng), trainerStateOf(s.trainer));
      trainer.evaluator.restoreState(s.evaluator);
      return { trainer, version: 'neumf-g0', made: 'state', fallback: null };
    }
  }
}

/** One trainer and its publishing schedule. */
class Session {
  private readonly priors = new CategoryPriors();
  private seq: number;
  private lastPublish = Number.NEGATIVE_INFINITY;
  private publishedSteps = -1;
  private timer: NodeJS.Timeout | undefined;
  private publishing = true;
  private ownSteps = 0;
  /** A blend happened after the last snapshot (it changes the parameters without a step). */
  private blendUnpublished = false;
  /** Model sync: rows trained and positives counted since the last export (always counted: a few additions per sample). */
  private readonly sync: SyncTracker;

  constructor(
    readonly trainer: IncrementalTrainer,
    categories: readonly string[],
    private readonly intervalMs: number,
    seqFrom: number,
    private readonly hooks: WorkerHooks,
    private readonly enqueue: (task: () => void) => void,
    syncMode: SyncMode,
  ) {
    this.seq = seqFrom;
    this.priors.extend(0, categories);
    this.sync = trackTrainer(trainer, syncMode);
  }

  ready(made: Made): FromWorker {
    const t = this.trainer;
    const catalog = new Set(t.catalog.exportState().categories);
    return {
      type: 'ready',
      version: made.version,
      made: made.made,
      fallback: made.fallback,
      nativeBackend: tfBackendIsNative(),
      steps: t.steps,
      trainedEvents: t.trainedEvents,
      labelWeights: { ...t.config.labelWeights },
      usesPriors: t.usesPriors,
      catalogCategories: [...catalog],
      tensorIdHighWater: tensorIdHighWater(),
      evaluation: evaluationOf(t),
    };
  }

  train(m: TrainMessage): void {
    if (!m.replay && this.hooks.crashOnBatch === m.batch) process.exit(70);
    const start = performance.now();
    this.priors.extend(m.categories.from, m.categories.ids);
    if (m.priors !== null) this.priors.setValues(m.priors);
    const { arrived, items, weights, freshCount } = decodeBatch(m);
    // Exactly ModelAdapter.train.
    const t = this.trainer;
    t.countArrived(arrived.length);
    t.evaluate(arrived);
    let loss = Number.NaN;
    let trainedSamples = 0;
    if (items.length > 0) {
      const report = t.step(items, weights, this.priors.prior, { freshCount });
      loss = report.loss;
      trainedSamples = report.trainedSamples;
      this.ownSteps++;
    }
    if (this.hooks.trainDelayMs > 0) busyWait(this.hooks.trainDelayMs);
    if (this.hooks.crashAfterSteps !== null && this.ownSteps >= this.hooks.crashAfterSteps) process.exit(70);
    const stepMs = performance.now() - start;
    send({ type: 'trained', call: m.call, loss, steps: t.steps, trainedSamples, trainedEvents: t.trainedEvents, evaluation: evaluationOf(t), tensorIdHighWater: tensorIdHighWater(), stepMs, memory: workerMemory() });
    if (!m.replay) this.maybePublish();
  }

  /** Model sync: what this replica trained since the last export (the buffers are transferred). */
  syncExport(call: number, dense: boolean): void {
    const changes = this.sync.take(syncParamsOf(this.trainer.model), dense);
    const transfer: ArrayBuffer[] = [];
    const p = changes.positives;
    for (const b of changes.tables) for (const a of [b.rows, b.counts, b.values]) if (a.buffer instanceof ArrayBuffer) transfer.push(a.buffer);
    for (const a of [p.users, p.items, p.categories, p.ages]) if (a.buffer instanceof ArrayBuffer) transfer.push(a.buffer);
    for (const d of changes.dense ?? []) if (d.buffer instanceof ArrayBuffer) transfer.push(d.buffer);
    send({ type: 'sync-exported', call, changes }, transfer);
  }

  /** Model sync: blends another replica's changes (between steps), then serves them like a step. */
  syncApply(m: SyncApplyMessage): void {
    const report = blendIntoModel(this.trainer.model, this.sync, m.changes);
    send({ type: 'sync-applied', call: m.call, report });
    if (!m.replay) this.maybePublish(true);
  }

  /** Publishes now when the interval has passed, else makes sure a timer will. */
  private maybePublish(blended = false): void {
    if (blended) this.blendUnpublished = true;
    if ((this.trainer.steps === this.publishedSteps && !this.blendUnpublished) || !this.publishing) return;
    const wait = this.lastPublish + this.intervalMs - performance.now();
    if (wait <= 0) {
      this.publish();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.enqueue(() => this.maybePublish());
    }, wait);
  }

  publish(): void {
    if (!this.publishing) return;
    const start = performance.now();
    const snapshot = takeSnapshot(this.trainer.model, { seq: this.seq++, steps: this.trainer.steps });
    // The copy is the cost; posting with the buffers transferred is O(arrays), not O(values).
    send({ type: 'snapshot', snapshot, publishMs: performance.now() - start }, snapshotTransferList(snapshot));
    this.lastPublish = performance.now();
    this.publishedSteps = this.trainer.steps;
    this.blendUnpublished = false;
  }

  async save(call: number, dir: string, version: string): Promise<void> {
    const t = this.trainer;
    const path = await saveModel(t.model, t.exportState(), join(dir, MODEL_DIR), version, { keep: 1 });
    send({ type: 'saved', call, version, path });
  }

  exportState(call: number, final: boolean): void {
    if (final) {
      this.publishing = false;
      clearTimeout(this.timer);
    }
    const state = exportHandOver(this.trainer, this.seq);
    // Shared memory, not transferred: see HandOverState.
    send({ type: 'exported', call, state, nextSeq: this.seq });
  }
}

let session: Session | undefined;
/** Messages are handled one at a time, in order (a save's file writes must not interleave with a step). */
let queue: Promise<void> = Promise.resolve();

function enqueue(task: () => void | Promise<void>): void {
  queue = queue.then(task).catch((err: unknown) => fail(null, err));
}

function fail(call: number | null, err: unknown): void {
  const e = err instanceof Error ? err : new Error(String(err));
  send({ type: 'failed', call, code: isRebalancerError(err) ? err.code : null, message: e.message, stack: e.stack ?? e.message });
}

function need(): Session {
  if (session === undefined) throw new RebalancerError('REB_MODEL_INVALID', 'the trainer worker got a request before init');
  return session;
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'init': {
      const made = await makeTrainer(m.source, m);
      session = new Session(made.trainer, m.categories, m.snapshotIntervalMs, m.seqFrom, m.hooks, enqueue, m.syncMode ?? 'average');
      send(session.ready(made));
      return;
    }
    case 'train':
      try {
        need().train(m);
      } catch (err) {
        fail(m.call, err);
      }
      return;
    case 'publish':
      need().publish();
      return;
    case 'save':
      try {
        await need().save(m.call, m.dir, m.version);
      } catch (err) {
        fail(m.call, err);
      }
      return;
    case 'export':
      try {
        need().exportState(m.call, m.final);
      } catch (err) {
        fail(m.call, err);
      }
      return;
    case 'sync-export':
      try {
        need().syncExport(m.call, m.dense);
      } catch (err) {
        fail(m.call, err);
      }
      return;
    case 'sync-apply':
      try {
        need().syncApply(m);
      } catch (err) {
        fail(m.call, err);
      }
      return;
    case 'crash':
      process.exit(70);
  }
}

port.on('message', (raw: unknown) => {
  const parsed = toWorkerSchema.safeParse(raw);
  if (!parsed.success) {
    fail(null, new RebalancerError('REB_MODEL_INVALID', `the trainer worker got an invalid message: ${parsed.error.message}`));
    return;
  }
  const m = parsed.data;
  // The crash hook acts at once, even behind a long queue.
  if (m.type === 'crash') process.exit(70);
  enqueue(() => handle(m));
});

/** This thread's heap and live tensors (sent with every step: a few µs). */
function workerMemory(): ThreadMemory & TensorMemory {
  const t = tf.memory();
  return { ...threadMemory(), tensors: t.numTensors, tensorBytes: t.numBytes };
}
