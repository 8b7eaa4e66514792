/**
 * Warm start / transfer (issue #16): what a run's model starts from when it has no
 * checkpoint of its own (a restored checkpoint always wins; see ModelAdapter / worker.ts).
 *
 *  - `initFrom` (run --init-from DIR): a saved model (saveModel's directory, one of its
 *    snapshots, or a checkpoint directory holding `model/`). What scores are made of is taken
 *    over: the weights, the streaming count features and the serving-time adjustment's
 *    tallies (so the model serves exactly as the saved one did). The trainer starts fresh, as
 *    in fine-tuning: optimizer (Adagrad accumulators, Adam moments, step), negative-sampling
 *    catalog, the count of events trained (a checkpoint's offsets are checked against it), the
 *    prequential evaluation and the random draws (from the run's --seed). Measured (backtest
 *    --pretrain-events, realistic profile): carrying the saved optimizer over instead cost
 *    about 3 points of micro HR@10 (the grown Adagrad accumulators almost freeze the rows the
 *    saved run trained), carrying its catalog too about 2 more (negatives from items of the
 *    past). The saved model's shape must be the run's: a difference is REB_INPUT_INVALID
 *    naming the setting.
 *  - `itemEmbeddings` (run --item-embeddings FILE): pre-trained item vectors from another
 *    system (item-vectors.ts for the formats), placed at each item's hashed row of the item
 *    table, on top of the fresh (or `initFrom`) model.
 *
 * Sources: transfer by initialising a network from pre-trained weights and fine-tuning
 * (Yosinski, Clune, Bengio, Lipson, "How transferable are features in deep neural
 * networks?", NeurIPS 2014); for recommenders, continuing the previous period's model on the
 * next period's data is the "fine-tune" retraining of Zhang et al., "How to Retrain
 * Recommender System? A Sequential Meta-Learning Method", SIGIR 2020; item vectors learnt
 * elsewhere, e.g. item2vec (Barkan & Koenigstein, "Item2Vec: Neural Item Embedding for
 * Collaborative Filtering", IEEE MLSP 2016), as the item embeddings' initialisation.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Rng } from '../balance/index.js';
import { RebalancerError, isRebalancerError } from '../errors.js';
import { resolveModelConfig, type ModelConfig } from './config.js';
import { readItemVectors, type ItemRowVectors } from './item-vectors.js';
import { idSpaces, rowWidth } from './layout.js';
import { assertNativeBackend, createModel, type RecModel } from './neumf.js';
import { loadModel, type LoadedModel } from './persistence.js';
import { IncrementalTrainer, type TrainerConfigInput, type TrainerState } from './trainer.js';

/** Where a run's initial model comes from ('' = not used). */
export interface InitSources {
  initFrom: string;
  itemEmbeddings: string;
}

/** The sources read into memory, ready to make one model (`initialTrainer` consumes it). */
export interface PreparedInit {
  saved: LoadedModel | null;
  vectors: ItemRowVectors | null;
  /** Set when a model has been made from it (a loaded model can back one trainer only). */
  used: boolean;
}

/** Names of the run settings behind the model config's fields, for error messages. */
export type ModelSettingNames = Partial<Record<keyof ModelConfig, string>>;

/** The model config fields a saved model must share with the run (the init std no longer matters). */
const SHAPE_FIELDS = ['userRows', 'itemRows', 'categoryRows', 'gmfDim', 'mlpDim', 'mlpLayers', 'hashSeed', 'wideFeatures', 'pairRows', 'popularityHalfLife'] as const satisfies readonly (keyof ModelConfig)[];

export function hasInitSource(s: InitSources): boolean {
  return s.initFrom !== '' || s.itemEmbeddings !== '';
}

/**
 * Reads the sources (null when none is set). `config` is the run's model config; the saved
 * model must match it and item vectors must be as wide as its item rows (REB_INPUT_INVALID
 * otherwise, naming the directory or file, the setting and both values).
 */
export async function prepareInit(sources: InitSources, config: Partial<ModelConfig>, names: ModelSettingNames = {}): Promise<PreparedInit | null> {
  if (!hasInitSource(sources)) return null;
  const c = resolveModelConfig(config);
  const saved = sources.initFrom === '' ? null : await loadInitialModel(sources.initFrom, c, names);
  let vectors: ItemRowVectors | null = null;
  if (sources.itemEmbeddings !== '') {
    const items = idSpaces(c).items;
    const widthHint = names.gmfDim !== undefined && names.gmfDim === names.mlpDim ? `; ${names.gmfDim} ${c.gmfDim} sets both` : '';
    vectors = await readItemVectors(sources.itemEmbeddings, {
      dim: rowWidth(c),
      dimParts: `${c.gmfDim} GMF + ${c.mlpDim} MLP values${widthHint}`,
      rowOf: (id) => items.peekRow(id),
    });
  }
  return { saved, vectors, used: false };
}

/**
 * The run's model and trainer: from `prepared` when there is one (see the file comment),
 * else fresh, exactly as `new IncrementalTrainer(createModel(modelConfig, modelRng), …)`.
 */
export function initialTrainer(prepared: PreparedInit | null, modelConfig: Partial<ModelConfig>, trainerConfig: TrainerConfigInput, modelRng: Rng, trainerRng: Rng): IncrementalTrainer {
  if (prepared === null) return new IncrementalTrainer(createModel(modelConfig, modelRng), trainerConfig, trainerRng);
  if (prepared.used) throw new RebalancerError('REB_MODEL_INVALID', 'a prepared initial model makes one trainer; prepare it again for another');
  prepared.used = true;
  assertNativeBackend();
  const saved = prepared.saved;
  const model = saved === null ? createModel(modelConfig, modelRng) : saved.model;
  let state: TrainerState | undefined;
  const adjustment = saved?.trainerState?.adjustment;
  if (adjustment !== undefined) {
    // A fresh trainer in every respect (made as `new IncrementalTrainer(model, config, trainerRng)`
    // makes it: optimizer, catalog, step, events, random draws) but the serving adjustment.
    const fresh = new IncrementalTrainer(model, trainerConfig, Rng.fromState(trainerRng.state())).exportState();
    state = { ...fresh, adjustment };
  }
  if (prepared.vectors !== null) placeItemVectors(model, prepared.vectors);
  return new IncrementalTrainer(model, trainerConfig, trainerRng, state);
}

/** Writes each vector into its row of the item table (GMF values, then MLP values). */
export function placeItemVectors(model: RecModel, vectors: ItemRowVectors): void {
  const w = model.rowWidth;
  if (vectors.dim !== w) throw new RebalancerError('REB_INPUT_INVALID', `item embeddings ${vectors.file}: the vectors have ${vectors.dim} dimensions, the model's item rows have ${w}`, { file: vectors.file });
  const table = model.itemTable;
  for (let s = 0; s < vectors.rows.length; s++) table.set(vectors.values.subarray(s * w, (s + 1) * w), vectors.rows[s]! * w);
}

/**
 * The model directory `dir` names: a model directory (CURRENT), a checkpoint (its `model/`),
 * or one snapshot (manifest.json).
 */
async function modelDirOf(dir: string): Promise<string> {
  const kind = async (p: string): Promise<'file' | 'dir' | null> => {
    try {
      return (await fs.stat(p)).isDirectory() ? 'dir' : 'file';
    } catch {
      return null;
    }
  };
  const self = await kind(dir);
  if (self !== 'dir') throw new RebalancerError('REB_INPUT_INVALID', `--init-from ${dir}: ${self === null ? 'no such directory' : 'not a directory'} (expected a saved model: a directory with CURRENT, a checkpoint holding model/, or a snapshot with manifest.json)`, { path: dir });
  if ((await kind(path.join(dir, 'CURRENT'))) === 'file') return dir;
  if ((await kind(path.join(dir, 'model'))) === 'dir') return path.join(dir, 'model');
  if ((await kind(path.join(dir, 'manifest.json'))) === 'file') return dir;
  throw new RebalancerError('REB_INPUT_INVALID', `--init-from ${dir}: no saved model there (expected a directory with CURRENT, a checkpoint holding model/, or a snapshot with manifest.json)`, { path: dir });
}

async function loadInitialModel(dir: string, config: ModelConfig, names: ModelSettingNames): Promise<LoadedModel> {
  let loaded: LoadedModel;
  try {
    loaded = await loadModel(await modelDirOf(dir));
  } catch (err) {
    if (!isRebalancerError(err, 'REB_CHECKPOINT_CORRUPT')) throw err;
    throw new RebalancerError('REB_INPUT_INVALID', `--init-from ${dir}: ${err.message}`, { path: dir }, { cause: err });
  }
  const saved = loaded.model.config;
  for (const field of SHAPE_FIELDS) {
    const a = JSON.stringify(saved[field]);
    const b = JSON.stringify(config[field]);
    if (a === b) continue;
    loaded.model.dispose();
    const setting = names[field] === undefined ? '(not a run setting)' : `(${names[field]})`;
    throw new RebalancerError('REB_INPUT_INVALID', `--init-from ${dir}: the saved model has ${field} ${a}, this run's model ${b} ${setting}; a warm start needs the same model shape`, { path: dir, field });
  }
  return loaded;
}
