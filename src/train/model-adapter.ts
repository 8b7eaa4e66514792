import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-node';
import type { Rng } from '../balance/index.js';
import type { EventType, RecommendedItem } from '../codec/index.js';
import { SETTINGS, type ServiceConfig } from '../config/index.js';
import { RebalancerError } from '../errors.js';
import { IncrementalTrainer, hasInitSource, initialTrainer, loadModel, prepareInit, recommend, saveModel, type ModelConfig, type ModelSettingNames, type PreparedInit, type TrainerConfigInput } from '../model/index.js';
import { isColdStart } from '../model/snapshot.js';
import type { CandidateItem, EvaluationView, ModelPort } from '../ports/index.js';
import { evaluationOf } from './evaluation.js';
import type { TrainerStats } from './trainer.js';
import { tensorIdHighWater } from './tensor-ids.js';
import { freshFirst, type EventBatch } from './balance-adapter.js';
import { MODEL_DIR } from '../state/checkpoint-layout.js';

/** The model settings of the service configuration, in the model's terms. */
export function modelConfigOf(c: ServiceConfig): Partial<ModelConfig> {
  return { userRows: c.modelUserRows, itemRows: c.modelItemRows, gmfDim: c.modelDim, mlpDim: c.modelDim, wideFeatures: c.wideFeatures, popularityHalfLife: c.popularityHalfLife };
}

/** The run settings behind modelConfigOf's fields (error messages of a warm start name them). */
export const MODEL_SETTING_NAMES: ModelSettingNames = {
  userRows: SETTINGS.modelUserRows.flag,
  itemRows: SETTINGS.modelItemRows.flag,
  gmfDim: SETTINGS.modelDim.flag,
  mlpDim: SETTINGS.modelDim.flag,
  wideFeatures: SETTINGS.wideFeatures.flag,
  popularityHalfLife: SETTINGS.popularityHalfLife.flag,
};

/**
 * Reads the warm-start sources of the configuration (--init-from, --item-embeddings; null
 * when neither is set), checked against the configured model (src/model/warm-start.ts).
 */
export function prepareInitOf(c: ServiceConfig): Promise<PreparedInit | null> {
  return prepareInit({ initFrom: c.initFrom, itemEmbeddings: c.itemEmbeddings }, modelConfigOf(c), MODEL_SETTING_NAMES);
}

/** True when the configuration starts a fresh model from --init-from or --item-embeddings. */
export function usesInitSource(c: ServiceConfig): boolean {
  return hasInitSource({ initFrom: c.initFrom, itemEmbeddings: c.itemEmbeddings });
}

export function trainerConfigOf(c: ServiceConfig): TrainerConfigInput {
  return {
    denseLearningRate: c.learningRate,
    embeddingLearningRate: c.embeddingLearningRate,
    categoryLrGamma: c.categoryLrGamma,
    categoryLrClip: c.categoryLrClip,
    negativesPerPositive: c.negatives,
    uniformNegativeShare: c.uniformNegativeShare,
    catalogCapacity: c.catalogCapacity,
    wideLearningRate: c.wideLearningRate,
    maxMicroLoss: c.maxMicroLoss,
    synthetic: c.synthetic,
    bagging: c.bagging,
    baggingReplicas: c.baggingReplicas,
    baggingLambdaMax: c.baggingLambdaMax,
    loss: { kind: c.loss, logitAdjustTau: c.logitAdjustTau },
  };
}

/** True when tfjs runs on the native TensorFlow backend (the tested path). */
export function tfBackendIsNative(): boolean {
  return tf.getBackend() === 'tensorflow';
}

export { MODEL_DIR } from '../state/checkpoint-layout.js';

/**
 * The tfjs-node model and its incremental trainer seen through the pipeline's ModelPort.
 * `prior` is the balance core's π_c (for logit adjustment). The version names the
 * checkpoint generation the weights descend from and changes on every save.
 */
export class ModelAdapter implements ModelPort<EventBatch> {
  private generation: number;
  /** Training and saving take turns: a save must not read weights halfway through a step. */
  private lock: Promise<unknown> = Promise.resolve();

  private readonly labelWeights: Readonly<Record<EventType, number>>;

  private constructor(private readonly trainer: IncrementalTrainer, private readonly prior: (categoryId: string) => number, generation: number) {
    this.generation = generation;
    this.labelWeights = trainer.config.labelWeights;
  }

  /**
   * A fresh model (the model's generator forked first, then the trainer's), started from
   * `init` (prepareInitOf) when the configuration names a warm-start source.
   */
  static create(config: ServiceConfig, rng: Rng, prior: (categoryId: string) => number, init: PreparedInit | null = null): ModelAdapter {
    if (init === null && usesInitSource(config)) throw new RebalancerError('REB_MODEL_INVALID', '--init-from / --item-embeddings are set: read them first (ModelAdapter.createInitialised)');
    const modelRng = rng.fork();
    const trainerRng = rng.fork();
    return new ModelAdapter(initialTrainer(init, modelConfigOf(config), trainerConfigOf(config), modelRng, trainerRng), prior, 0);
  }

  /** As `create`, reading the warm-start sources of the configuration first (--init-from, --item-embeddings). */
  static async createInitialised(config: ServiceConfig, rng: Rng, prior: (categoryId: string) => number): Promise<ModelAdapter> {
    return ModelAdapter.create(config, rng, prior, await prepareInitOf(config));
  }

  /**
   * The checkpoint's model, or a fresh one when it cannot be loaded (REB_CHECKPOINT_CORRUPT:
   * a model saved by an older format, e.g. before the wide part, or one that fails its
   * checks). The rest of the checkpoint (balance state, de-dup set, offsets) is still
   * restored by the caller; the fallback is logged, since the model starts untrained.
   */
  static async restoreOrCreate(checkpointDir: string, config: ServiceConfig, rng: Rng, prior: (categoryId: string) => number, log: (m: string) => void): Promise<ModelAdapter> {
    try {
      return await ModelAdapter.restore(checkpointDir, config, rng, prior);
    } catch (err) {
      if (!(err instanceof RebalancerError) || err.code !== 'REB_CHECKPOINT_CORRUPT') throw err;
      log(`warning: the model in ${checkpointDir} was not loaded (${err.message}); the model starts fresh, the rest of the checkpoint is restored`);
      return ModelAdapter.createInitialised(config, rng, prior);
    }
  }

  /** Loads the model saved in a checkpoint directory (warm start with its trainer state). */
  static async restore(checkpointDir: string, config: ServiceConfig, rng: Rng, prior: (categoryId: string) => number): Promise<ModelAdapter> {
    const loaded = await loadModel(join(checkpointDir, MODEL_DIR));
    const generation = Number(/g(\d+)$/.exec(loaded.version)?.[1] ?? 0);
    const trainer = new IncrementalTrainer(loaded.model, trainerConfigOf(config), rng.fork(), loaded.trainerState ?? undefined);
    return new ModelAdapter(trainer, prior, generation);
  }

  get version(): string {
    return `neumf-g${this.generation}`;
  }

  get nativeBackend(): boolean {
    return tf.getBackend() === 'tensorflow';
  }

  get steps(): number {
    return this.trainer.steps;
  }

  trainsOn(type: EventType): boolean {
    return this.labelWeights[type] > 0;
  }

  async train(batch: EventBatch): Promise<{ loss: number }> {
    return this.exclusive(async () => {
      const { items, weights, freshCount } = freshFirst(batch);
      // Prequential: rank the fresh positives with the current model, then train. Every event
      // that arrived is ranked and counted in the model's streaming features, also the ones
      // undersampling left out of the batch. The two halves run as separate tasks so the
      // event loop (HTTP, Kafka) gets a turn between them; the model cannot change in between
      // (steps and saves take turns on the lock).
      this.trainer.countArrived(batch.arrived.length);
      this.trainer.evaluate(batch.arrived);
      if (items.length === 0) return { loss: Number.NaN };
      await new Promise<void>((resolve) => setImmediate(resolve));
      const report = this.trainer.step(items, weights, this.prior, { freshCount });
      return { loss: report.loss };
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => {});
    return run;
  }

  recommend(userId: string, candidates: readonly CandidateItem[], k: number): RecommendedItem[] {
    if (candidates.length === 0) return [];
    return recommend(this.trainer.model, userId, candidates, Math.min(k, candidates.length)).map((r) => ({ itemId: r.itemId, categoryId: r.categoryId, score: r.score }));
  }

  /** Raw logits of (user, item, category) pairs by the live model (informed undersampling, src/train/informed-scores.ts). */
  scorePairs(pairs: readonly { userId: string; itemId: string; categoryId: string }[]): Float32Array {
    return this.trainer.model.scorePairs(pairs);
  }

  coldStart(userId: string): boolean | null {
    const model = this.trainer.model;
    return isColdStart(model.features, model.users.peekRow(userId));
  }

  evaluation(): EvaluationView {
    return evaluationOf(this.trainer);
  }

  /** Trainer figures an operator watches; inline, the tensor ids are the main thread's. */
  stats(): TrainerStats {
    return { stalenessSeconds: 0, tensorIdHighWater: tensorIdHighWater(), recycles: 0, workerRestarts: 0, droppedBatches: 0, healthy: true, memory: null };
  }

  /** Frees the model's tensors (after the last step and save). */
  async stop(): Promise<void> {
    await this.lock.catch(() => {});
    this.trainer.model.dispose();
  }

  get trainedEvents(): number {
    return this.trainer.trainedEvents;
  }

  /**
   * Queues a save into `<dir>/model` behind the steps already queued; the version (the next
   * generation) is fixed now, so a checkpoint's manifest can name it before the save runs.
   */
  save(dir: string): { version: string; done: Promise<void> } {
    const version = `neumf-g${++this.generation}`;
    const done = this.exclusive(async () => {
      await saveModel(this.trainer.model, this.trainer.exportState(), join(dir, MODEL_DIR), version, { keep: 1 });
    });
    return { version, done };
  }
}
