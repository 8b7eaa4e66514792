/**
 * The trainer's whole state as a message (protocol.ts `HandOverState`) and back: what a
 * fresh worker needs to continue exactly where another stopped (recycling, crash restarts).
 *
 * Export copies every array into shared memory (the exporter keeps training, the receiver
 * keeps the state as a base for restarts without copying it again); import copies out of it,
 * so a worker never writes into a state another worker may start from.
 */
import { RebalancerError } from '../errors.js';
import { resolveModelConfig } from '../model/config.js';
import type { CatalogState } from '../model/negatives.js';
import { RecModel } from '../model/neumf.js';
import type { ModelSnapshot } from '../model/snapshot.js';
import type { IncrementalTrainer, TrainerState } from '../model/trainer.js';
import type { HandOverState, HandOverTrainer, PackedCatalog, PackedStrings } from './protocol.js';

type Typed = Float32Array | Float64Array | Uint8Array;

/** A copy of `a` in a SharedArrayBuffer. */
function shared<T extends Typed>(a: T, make: (buffer: SharedArrayBuffer) => T): T {
  const out = make(new SharedArrayBuffer(a.byteLength));
  out.set(a);
  return out;
}

const f32 = (a: Float32Array): Float32Array => shared(a, (b) => new Float32Array(b));
const f64 = (a: Float64Array): Float64Array => shared(a, (b) => new Float64Array(b));
const u8 = (a: Uint8Array): Uint8Array => shared(a, (b) => new Uint8Array(b));

export function packStrings(a: readonly string[]): PackedStrings {
  const lengths = new Uint32Array(a.length);
  for (let i = 0; i < a.length; i++) lengths[i] = a[i]!.length;
  return { text: a.join(''), lengths };
}

export function unpackStrings(p: PackedStrings): string[] {
  const out = new Array<string>(p.lengths.length);
  let at = 0;
  for (let i = 0; i < out.length; i++) {
    const end = at + p.lengths[i]!;
    out[i] = p.text.slice(at, end);
    at = end;
  }
  return out;
}

/** The catalog's four string lists packed (one string and the lengths each); its scalars and Rng state as they are. */
function packCatalog(c: CatalogState): PackedCatalog {
  const { items, categories, ringItems, ringCategories, ...scalars } = c;
  return { ...scalars, items: packStrings(items), categories: packStrings(categories), ringItems: packStrings(ringItems), ringCategories: packStrings(ringCategories) };
}

function unpackCatalog(c: PackedCatalog): CatalogState {
  const { items, categories, ringItems, ringCategories, ...scalars } = c;
  return { ...scalars, items: unpackStrings(items), categories: unpackStrings(categories), ringItems: unpackStrings(ringItems), ringCategories: unpackStrings(ringCategories) };
}

function packTrainer(t: TrainerState): HandOverTrainer {
  const { step, events, rng, embeddingAccumulators: acc, denseFirstMoments, denseSecondMoments, catalog, adjustment, oversampler, heads, ...unknown } = t;
  // A field added to TrainerState must be carried here too: fail loudly rather than drop it.
  const extra = Object.keys(unknown);
  if (extra.length > 0) throw new RebalancerError('REB_MODEL_INVALID', `the hand-over does not carry trainer state field(s) ${extra.join(', ')}`);
  return {
    step,
    events: events ?? 0,
    rng,
    embeddingAccumulators: [f32(acc[0]), f32(acc[1]), f32(acc[2])],
    denseFirstMoments: denseFirstMoments.map(f32),
    denseSecondMoments: denseSecondMoments.map(f32),
    catalog: packCatalog(catalog),
    adjustment: adjustment ?? null,
    oversampler: oversampler ?? null,
    heads: heads === undefined ? null : { ...heads, weights: f32(heads.weights), bias: f32(heads.bias), firstMoments: [f32(heads.firstMoments[0]), f32(heads.firstMoments[1])], secondMoments: [f32(heads.secondMoments[0]), f32(heads.secondMoments[1])] },
  };
}

/** The trainer state of a hand-over, in arrays of its own (the trainer trains in them). */
export function trainerStateOf(t: HandOverTrainer): TrainerState {
  return {
    step: t.step,
    events: t.events,
    rng: t.rng,
    embeddingAccumulators: [t.embeddingAccumulators[0].slice(), t.embeddingAccumulators[1].slice(), t.embeddingAccumulators[2].slice()],
    denseFirstMoments: t.denseFirstMoments.map((a) => a.slice()),
    denseSecondMoments: t.denseSecondMoments.map((a) => a.slice()),
    catalog: unpackCatalog(t.catalog),
    ...(t.adjustment === null ? {} : { adjustment: t.adjustment }),
    ...(t.oversampler === null ? {} : { oversampler: t.oversampler }),
    ...(t.heads === null ? {} : { heads: { ...t.heads, weights: t.heads.weights.slice(), bias: t.heads.bias.slice(), firstMoments: [t.heads.firstMoments[0].slice(), t.heads.firstMoments[1].slice()], secondMoments: [t.heads.secondMoments[0].slice(), t.heads.secondMoments[1].slice()] } }),
  };
}

export function exportHandOver(trainer: IncrementalTrainer, seq: number): HandOverState {
  const model = trainer.model;
  const t = model.features?.tables;
  const snapshot: ModelSnapshot = {
    seq,
    steps: trainer.steps,
    servingTau: model.servingTau,
    config: { ...model.config, mlpLayers: [...model.config.mlpLayers] },
    userTable: f32(model.userTable),
    itemTable: f32(model.itemTable),
    categoryTable: f32(model.categoryTable),
    dense: model.dense.map(f32),
    features:
      t === undefined
        ? null
        : { itemRecent: f32(t.itemRecent), itemTotal: f32(t.itemTotal), categoryRecent: f32(t.categoryRecent), userTotal: f32(t.userTotal), userCategory: f32(t.userCategory), userItem: f32(t.userItem), clock: f64(t.clock) },
  };
  return {
    snapshot,
    occupancy: [u8(model.users.occupancy()), u8(model.items.occupancy()), u8(model.categories.occupancy())],
    trainer: packTrainer(trainer.exportState()),
    evaluator: trainer.evaluator.exportState(),
  };
}

/** A model holding a snapshot's parameters and count tables (copied; its id spaces record nothing yet). */
export function modelFromSnapshot(s: ModelSnapshot): RecModel {
  const model = new RecModel(resolveModelConfig(s.config), null);
  const fill = (name: string, target: Float32Array | Float64Array, source: Float32Array | Float64Array): void => {
    if (source.length !== target.length) throw new RebalancerError('REB_MODEL_INVALID', `snapshot ${s.seq}: ${name} has ${source.length} values, the model ${target.length}`);
    target.set(source);
  };
  fill('userTable', model.userTable, s.userTable);
  fill('itemTable', model.itemTable, s.itemTable);
  fill('categoryTable', model.categoryTable, s.categoryTable);
  if (s.dense.length !== model.dense.length) throw new RebalancerError('REB_MODEL_INVALID', `snapshot ${s.seq}: ${s.dense.length} dense arrays, the model has ${model.dense.length}`);
  model.dense.forEach((d, i) => fill(`dense${i}`, d, s.dense[i]!));
  const tables = model.features?.tables;
  if ((tables === undefined) !== (s.features === null)) throw new RebalancerError('REB_MODEL_INVALID', `snapshot ${s.seq}: the wide part is present on one side only`);
  if (tables !== undefined && s.features !== null) {
    for (const key of ['itemRecent', 'itemTotal', 'categoryRecent', 'userTotal', 'userCategory', 'userItem', 'clock'] as const) fill(`features.${key}`, tables[key], s.features[key]);
  }
  model.denseChanged();
  return model;
}

/** The model of a hand-over state (copied; the trainer is built from `trainerStateOf(state.trainer)`). */
export function modelFromHandOver(state: HandOverState): RecModel {
  const model = modelFromSnapshot(state.snapshot);
  const spaces = [model.users, model.items, model.categories] as const;
  spaces.forEach((space, i) => {
    const bits = state.occupancy[i]!;
    if (bits.length !== space.rows) throw new RebalancerError('REB_MODEL_INVALID', `hand-over state: occupancy ${i} has ${bits.length} rows, the table ${space.rows}`);
    space.restoreOccupancy(bits);
  });
  return model;
}
