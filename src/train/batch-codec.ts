/**
 * A composed training batch as a message (protocol.ts) and back. The main thread encodes
 * (`BatchEncoder`), the worker decodes (`decodeBatch`, `CategoryPriors`).
 *
 * Identity is kept: every distinct event object is sent once and rebuilt once, and each
 * item of the batch refers to it, so an item that is one of the `arrived` events is the very
 * object the worker evaluated (the trainer keys its per-positive state by object).
 *
 * A synthetic sample (--synthetic, src/model/latent-smote.ts) travels as references to its two
 * events, its kind and λ; the worker rebuilds it from the same event objects.
 */
import { EVENT_TYPE_ORDER } from '../balance/index.js';
import { makeEvent, type EventType, type InteractionEvent } from '../codec/types.js';
import { RebalancerError } from '../errors.js';
import { SYNTHETIC_KINDS, isSyntheticEvent, syntheticEvent } from '../model/latent-smote.js';
import { freshFirst, type EventBatch } from './balance-adapter.js';
import type { EventColumns, SyntheticColumns, TrainMessage } from './protocol.js';

const TYPE_INDEX: ReadonlyMap<EventType, number> = new Map(EVENT_TYPE_ORDER.map((t, i) => [t, i]));

/** Columns being filled, one event at a time. */
class ColumnsBuilder {
  private readonly eventIds: string[] = [];
  private readonly userIds: string[] = [];
  private readonly itemIds: string[] = [];
  private readonly categoryIds: string[] = [];
  private readonly types: Uint8Array;
  private readonly times: Float64Array;
  private n = 0;

  constructor(capacity: number) {
    this.types = new Uint8Array(capacity);
    this.times = new Float64Array(capacity);
  }

  get length(): number {
    return this.n;
  }

  push(e: InteractionEvent): void {
    const t = TYPE_INDEX.get(e.type);
    if (t === undefined) throw new RebalancerError('REB_EVENT_INVALID', `event ${e.eventId} has unknown type ${JSON.stringify(e.type)}`, { eventId: e.eventId });
    this.eventIds.push(e.eventId);
    this.userIds.push(e.userId);
    this.itemIds.push(e.itemId);
    this.categoryIds.push(e.categoryId);
    this.types[this.n] = t;
    this.times[this.n++] = e.eventTime;
  }

  build(): EventColumns {
    const n = this.n;
    return { eventIds: this.eventIds, userIds: this.userIds, itemIds: this.itemIds, categoryIds: this.categoryIds, types: this.types.slice(0, n), times: this.times.slice(0, n) };
  }
}

/** The category dictionary of a trainer's priors: entries are appended, never moved. */
export class CategoryDictionary {
  private readonly ids: string[] = [];
  private readonly index = new Map<string, number>();

  get size(): number {
    return this.ids.length;
  }

  add(categoryId: string): void {
    if (this.index.has(categoryId)) return;
    this.index.set(categoryId, this.ids.length);
    this.ids.push(categoryId);
  }

  /** Entries from `from` on (a copy). */
  slice(from = 0): string[] {
    return this.ids.slice(from);
  }

  /** π_c of every entry. */
  priors(prior: (categoryId: string) => number): Float64Array {
    const out = new Float64Array(this.ids.length);
    for (let i = 0; i < out.length; i++) out[i] = prior(this.ids[i]!);
    return out;
  }
}

/** Main-thread side: composed batches to train messages. */
export class BatchEncoder {
  /** Dictionary entries already sent in some message (later ones send only what is new). */
  private sent = 0;

  /** `priors` is null when the loss does not use π_c (no dictionary is kept then). */
  constructor(private readonly priors: { dictionary: CategoryDictionary; prior: (categoryId: string) => number } | null) {}

  /** Encodes the batch, reading π_c now (call right after composing, as an inline step would). */
  encode(batch: EventBatch, batchNumber: number): TrainMessage {
    const { items, weights, freshCount } = freshFirst(batch);
    const arrived = new ColumnsBuilder(batch.arrived.length);
    const arrivedIndex = new Map<InteractionEvent, number>();
    for (const e of batch.arrived) {
      if (arrivedIndex.has(e)) throw new RebalancerError('REB_MODEL_INVALID', `event ${e.eventId} arrived twice in one batch`, { eventId: e.eventId });
      arrivedIndex.set(e, arrived.length);
      arrived.push(e);
    }
    const extra = new ColumnsBuilder(items.length);
    const extraIndex = new Map<InteractionEvent, number>();
    const itemRefs = new Int32Array(items.length);
    const refOf = (e: InteractionEvent): number => {
      const a = arrivedIndex.get(e);
      if (a !== undefined) return a;
      let x = extraIndex.get(e);
      if (x === undefined) {
        x = extra.length;
        extraIndex.set(e, x);
        extra.push(e);
      }
      return -x - 1;
    };
    let synthetic: { index: number[]; kinds: number[]; a: number[]; b: number[]; lambdas: number[] } | null = null;
    for (let i = 0; i < items.length; i++) {
      const e = items[i]!;
      if (isSyntheticEvent(e)) {
        const spec = e.synthetic;
        synthetic ??= { index: [], kinds: [], a: [], b: [], lambdas: [] };
        const a = refOf(spec.a);
        synthetic.index.push(i);
        synthetic.kinds.push(SYNTHETIC_KINDS.indexOf(spec.kind));
        synthetic.a.push(a);
        synthetic.b.push(spec.b === spec.a ? a : refOf(spec.b));
        synthetic.lambdas.push(spec.lambda);
        itemRefs[i] = a;
        continue;
      }
      itemRefs[i] = refOf(e);
    }
    let categories = { from: this.sent, ids: [] as string[] };
    let priors: Float64Array | null = null;
    if (this.priors !== null) {
      const { dictionary, prior } = this.priors;
      for (const e of batch.arrived) dictionary.add(e.categoryId);
      for (const e of items) dictionary.add(e.categoryId);
      categories = { from: this.sent, ids: dictionary.slice(this.sent) };
      this.sent = dictionary.size;
      priors = dictionary.priors(prior);
    }
    const columns: SyntheticColumns | null =
      synthetic === null ? null : { index: Int32Array.from(synthetic.index), kinds: Uint8Array.from(synthetic.kinds), a: Int32Array.from(synthetic.a), b: Int32Array.from(synthetic.b), lambdas: Float64Array.from(synthetic.lambdas) };
    return { type: 'train', call: 0, batch: batchNumber, replay: false, arrived: arrived.build(), extra: extra.build(), itemRefs, weights, freshCount, categories, priors, ...(columns === null ? {} : { synthetic: columns }) };
  }
}

function decodeEvents(c: EventColumns): InteractionEvent[] {
  const out = new Array<InteractionEvent>(c.eventIds.length);
  for (let i = 0; i < out.length; i++) {
    out[i] = makeEvent({ eventId: c.eventIds[i]!, userId: c.userIds[i]!, itemId: c.itemIds[i]!, categoryId: c.categoryIds[i]!, type: EVENT_TYPE_ORDER[c.types[i]!]!, eventTime: c.times[i]! });
  }
  return out;
}

/** Worker side: the batch's events and items, items referring to the same objects as on the main thread. */
export function decodeBatch(m: TrainMessage): { arrived: InteractionEvent[]; items: InteractionEvent[]; weights: Float32Array; freshCount: number } {
  const arrived = decodeEvents(m.arrived);
  const extra = decodeEvents(m.extra);
  const items = new Array<InteractionEvent>(m.itemRefs.length);
  const resolve = (r: number): InteractionEvent => (r >= 0 ? arrived[r]! : extra[-r - 1]!);
  for (let i = 0; i < items.length; i++) items[i] = resolve(m.itemRefs[i]!);
  const s = m.synthetic;
  if (s !== undefined) for (let k = 0; k < s.index.length; k++) items[s.index[k]!] = syntheticEvent(SYNTHETIC_KINDS[s.kinds[k]!]!, resolve(s.a[k]!), resolve(s.b[k]!), s.lambdas[k]!);
  return { arrived, items, weights: m.weights, freshCount: m.freshCount };
}

/** Worker side: the dictionary and the latest priors, as the trainer's prior callback. */
export class CategoryPriors {
  private readonly ids: string[] = [];
  private readonly index = new Map<string, number>();
  private values: Float64Array = new Float64Array(0);

  /** Sets entries from `from` on (the same entry twice is harmless). */
  extend(from: number, ids: readonly string[]): void {
    if (from > this.ids.length) throw new RebalancerError('REB_MODEL_INVALID', `category dictionary gap: entries from ${from}, ${this.ids.length} known`);
    for (let i = 0; i < ids.length; i++) {
      const at = from + i;
      const id = ids[i]!;
      if (at < this.ids.length) {
        if (this.ids[at] !== id) throw new RebalancerError('REB_MODEL_INVALID', `category dictionary entry ${at} is ${JSON.stringify(this.ids[at])}, not ${JSON.stringify(id)}`);
        continue;
      }
      this.ids.push(id);
      this.index.set(id, at);
    }
  }

  setValues(values: Float64Array): void {
    this.values = values;
  }

  /** π_c as the main thread read it for this batch. */
  readonly prior = (categoryId: string): number => {
    const i = this.index.get(categoryId);
    if (i === undefined || i >= this.values.length) throw new RebalancerError('REB_MODEL_INVALID', `no prior was sent for category ${JSON.stringify(categoryId)}`, { categoryId });
    return this.values[i]!;
  };
}
