/**
 * The parameter layout of the NeuMF-style model, in one place for the model (neumf.ts) and
 * its TensorFlow-free snapshots (snapshot.ts): which hashed row an id lands in, how wide a
 * table row is, and the shapes of the dense parameters.
 *
 * Imports nothing of tfjs, so the serving side can use it without loading TensorFlow.
 */
import type { ModelConfig } from './config.js';
import { WIDE_FEATURES } from './features.js';
import { HashedIdSpace } from './hash.js';

/** The three hashed id spaces of a model with `config` (users, items, categories). */
export interface IdSpaces {
  readonly users: HashedIdSpace;
  readonly items: HashedIdSpace;
  readonly categories: HashedIdSpace;
}

export function idSpaces(config: Pick<ModelConfig, 'userRows' | 'itemRows' | 'categoryRows' | 'hashSeed'>): IdSpaces {
  const { hashSeed } = config;
  // Distinct seeds per table so that a user id and an item id with the same text do not
  // collide identically in every table.
  return {
    users: new HashedIdSpace(config.userRows, hashSeed ^ 0x55555555),
    items: new HashedIdSpace(config.itemRows, hashSeed ^ 0x33333333),
    categories: new HashedIdSpace(config.categoryRows, hashSeed ^ 0x0f0f0f0f),
  };
}

/** Width of an embedding-table row: gmfDim GMF values then mlpDim MLP values. */
export function rowWidth(config: Pick<ModelConfig, 'gmfDim' | 'mlpDim'>): number {
  return config.gmfDim + config.mlpDim;
}

/**
 * Shapes of the dense parameters [W1, b1, …, WL, bL, Wout, bout] (+ [Wwide] with the wide
 * part): W1 is [3·mlpDim, h1] (user | item | category MLP rows), Wout is [gmfDim + hL, 1]
 * (GMF rows first), Wwide is [WIDE_FEATURES, 1].
 */
export function denseShapes(config: Pick<ModelConfig, 'gmfDim' | 'mlpDim' | 'mlpLayers' | 'wideFeatures'>): number[][] {
  const shapes: number[][] = [];
  let fanIn = 3 * config.mlpDim;
  for (const width of config.mlpLayers) {
    shapes.push([fanIn, width], [width]);
    fanIn = width;
  }
  shapes.push([config.gmfDim + fanIn, 1], [1]);
  if (config.wideFeatures) shapes.push([WIDE_FEATURES, 1]);
  return shapes;
}

/** Number of values of a parameter of `shape`. */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
