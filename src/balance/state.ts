/**
 * BalanceState: the aggregate the service holds. One config object, one seeded Rng for
 * every random choice, O(1) observe() per event, and a plain-data snapshot (JSON-safe when
 * the items are) that restores to identical subsequent behaviour, random choices included.
 */
import type { EventType } from '../codec/types.js';
import { EVENT_TYPE_ORDER, invalid, requireEventTypes, resolveBalanceConfig, type BalanceConfig } from './config.js';
import { ClassBalancedMemory, type ReplayMemorySnapshot } from './cbrs.js';
import { BatchComposer, type ComposeOptions, type ComposedBatch } from './composer.js';
import { ReservoirBank, type ReservoirBankSnapshot } from './reservoir.js';
import { Rng, type RngState } from './rng.js';
import { ImbalanceTracker, smoothedPrior, type CategoryStat, type ImbalanceStats } from './stats.js';
import { SmoothedClassWeights, type ClassWeightsSnapshot } from './weights.js';
import { ADD_LATE, ADD_OVERFLOW, CategoryWindow, TYPE_COUNT, eventTypeIndex, type WindowCounters, type WindowSnapshot } from './window.js';

/** What the balance core needs of an event. */
export interface BalanceEvent {
  readonly categoryId: string;
  readonly type: EventType;
  readonly eventTime: number;
}

/**
 * accepted: counted in the window and, when its type is one of config.replayEventTypes,
 *   offered to the per-category reservoir and the replay memory;
 * late: older than the allowed lateness (or than the window), counted in `late`, stored nowhere;
 * overflow: new category while maxCategories are tracked, counted in `overflow`;
 * rejected: empty category, unknown type, NaN/negative/infinite time, counted in `rejected`.
 */
export type ObserveStatus = 'accepted' | 'late' | 'overflow' | 'rejected';

export interface BalanceCounters extends WindowCounters {
  readonly observed: number;
  readonly weightRefreshes: number;
}

/**
 * Category counts from outside this state: the global window merged from every partition's
 * owner (balance/global-window.ts). When set and non-empty, class weights and priors follow
 * it instead of this state's own window (which then covers only the partitions this
 * instance owns); reservoirs, replay and the imbalance figures stay local.
 */
export interface CountSource {
  count(categoryId: string): number;
  total(): number;
  categories(): number;
}

export const SNAPSHOT_VERSION = 1;

export interface BalanceSnapshot<T> {
  readonly version: typeof SNAPSHOT_VERSION;
  readonly config: BalanceConfig;
  readonly rng: RngState;
  readonly window: WindowSnapshot;
  readonly reservoirs: ReservoirBankSnapshot<T>;
  readonly replay: ReplayMemorySnapshot<T>;
  readonly weights: ClassWeightsSnapshot;
  readonly observed: number;
  readonly sinceRefresh: number;
  readonly refreshThreshold: number;
}

/** Settings that shape stored state; a restore may not change them. */
const STRUCTURAL: readonly (keyof BalanceConfig)[] = ['bucketCount', 'bucketWidthMs', 'maxCategories', 'windowMode', 'decayHalfLifeMs', 'reservoirSize', 'replayMemorySize'];

export class BalanceState<T extends BalanceEvent> {
  readonly config: BalanceConfig;
  private readonly rng: Rng;
  private window: CategoryWindow;
  private reservoirs: ReservoirBank<T>;
  private replay: ClassBalancedMemory<T>;
  private readonly classWeights: SmoothedClassWeights;
  private composer: BatchComposer<T>;
  private statsScratch = new Float64Array(0);
  private readonly statsTracker = new ImbalanceTracker();
  private observed = 0;
  /** Created once (no closure per refresh); reads the current window, which restore() replaces. */
  private readonly fillWindowCounts = (out: Float64Array): number => this.window.fillCounts(out);
  private countSource: CountSource | undefined;
  /** Created once: the count source's n_c for every slot of this window (0 for a free slot). */
  private readonly fillSourceCounts = (out: Float64Array): number => {
    const limit = this.window.slotLimit;
    const source = this.countSource!;
    for (let s = 0; s < limit; s++) {
      const id = this.window.idAt(s);
      out[s] = id === undefined ? 0 : source.count(id);
    }
    return limit;
  };
  private sinceRefresh = 0;
  private refreshThreshold: number;
  /** Per eventTypeIndex: 1 when events of that type are offered to the reservoirs and CBRS. */
  private readonly replayByType: Uint8Array;
  /** Item filter for a restore that narrows replayEventTypes (created once). */
  private readonly isReplayable = (item: T): boolean => this.replayByType[eventTypeIndex(item.type)] === 1;

  constructor(config: Partial<BalanceConfig>, rng: Rng) {
    this.config = resolveBalanceConfig(config);
    if (!(rng instanceof Rng)) throw invalid('rng', 'an Rng (src/balance/rng.ts)', rng);
    const c = this.config;
    this.rng = rng;
    this.replayByType = new Uint8Array(TYPE_COUNT);
    for (const t of c.replayEventTypes) this.replayByType[eventTypeIndex(t)] = 1;
    this.window = new CategoryWindow(c);
    this.reservoirs = new ReservoirBank<T>(c.reservoirSize, this.window.capacity, rng);
    this.replay = new ClassBalancedMemory<T>(c.replayMemorySize, rng);
    this.classWeights = new SmoothedClassWeights({ policy: c.weightPolicy, alpha: c.alpha, beta: c.beta, minWeight: c.minWeight, maxWeight: c.maxWeight }, c.smoothing, this.window.capacity);
    this.composer = this.makeComposer();
    this.refreshThreshold = c.refreshEveryEvents;
    this.window.setHooks(this.windowHooks());
  }

  /**
   * Window add, then (for the replayed event types only) per-category reservoir offer and CBRS
   * offer; O(1) amortised, no allocation in steady state.
   */
  observe(event: T): ObserveStatus {
    this.observed++;
    const slot = this.window.add(event.categoryId, event.type, event.eventTime);
    if (slot < 0) return slot === ADD_LATE ? 'late' : slot === ADD_OVERFLOW ? 'overflow' : 'rejected';
    // The window accepted the event, so its type is one of the four: the index is in range.
    if (this.replayByType[eventTypeIndex(event.type)] === 1) {
      this.reservoirs.offer(slot, event);
      this.replay.offerKeyed(slot, event.categoryId, event);
    }
    if (this.refreshThreshold > 0 && ++this.sinceRefresh >= this.refreshThreshold) this.refreshWeights();
    return 'accepted';
  }

  /** Class weights and priors follow `source` from now on (undefined: this state's own window again). */
  useCountSource(source: CountSource | undefined): void {
    this.countSource = source;
  }

  private activeSource(): CountSource | undefined {
    const source = this.countSource;
    return source !== undefined && source.total() > 0 ? source : undefined;
  }

  /** Advances the window's watermark without an event (idle partitions); evicts old buckets. */
  advanceTo(eventTime: number): void {
    this.window.advanceTo(eventTime);
  }

  /** Recomputes the smoothed class weights from the window (one smoothing step). O(C). */
  refreshWeights(): void {
    const source = this.activeSource();
    if (source !== undefined) this.classWeights.refresh(this.fillSourceCounts, source.total(), source.categories());
    else this.classWeights.refresh(this.fillWindowCounts, this.window.total(), this.window.size);
    this.sinceRefresh = 0;
    this.refreshThreshold = this.config.refreshEveryEvents > 0 ? Math.max(this.config.refreshEveryEvents, this.window.size) : 0;
  }

  /**
   * Imbalance figures recomputed from the window: O(C + reordering since the last call),
   * O(C log C) when the order changed a lot (see ImbalanceTracker).
   */
  stats(): ImbalanceStats {
    if (this.statsScratch.length < this.window.capacity) this.statsScratch = new Float64Array(this.window.capacity);
    const length = this.window.fillCounts(this.statsScratch);
    return this.statsTracker.compute(this.statsScratch, length, this.config.beta);
  }

  /** Per-category figures (count, share, prior, weight, type counts), in slot order. Allocates. */
  categoryStats(): CategoryStat[] {
    const out: CategoryStat[] = [];
    const total = this.window.total();
    for (const id of this.window.categories()) {
      const n = this.window.count(id);
      out.push({
        categoryId: id,
        count: n,
        share: total > 0 ? n / total : 0,
        prior: this.prior(id),
        weight: this.weightOf(id),
        typeCounts: [this.window.typeCount(id, EVENT_TYPE_ORDER[0]), this.window.typeCount(id, EVENT_TYPE_ORDER[1]), this.window.typeCount(id, EVENT_TYPE_ORDER[2]), this.window.typeCount(id, EVENT_TYPE_ORDER[3])],
      });
    }
    return out;
  }

  /** Current class weight of every category in the window. Allocates. */
  weights(): ReadonlyMap<string, number> {
    const out = new Map<string, number>();
    for (const id of this.window.categories()) out.set(id, this.weightOf(id));
    return out;
  }

  /** Class weight of a category; unseen or vanished categories get unseenWeight(). */
  weightOf(categoryId: string): number {
    const slot = this.window.slotOf(categoryId);
    return slot < 0 ? this.classWeights.unseenWeight : this.classWeights.weightAt(slot);
  }

  /** Weight of a category not in the window: the target weight of n_c = 0 under the current prior. */
  unseenWeight(): number {
    return this.classWeights.unseenWeight;
  }

  /** π_c = (n_c + α)/(N + αC), live from the window; an unseen category gets α/(N + αC). */
  prior(categoryId: string): number {
    const source = this.activeSource();
    if (source !== undefined) return smoothedPrior(source.count(categoryId), source.total(), source.categories(), this.config.alpha);
    return smoothedPrior(this.window.count(categoryId), this.window.total(), this.window.size, this.config.alpha);
  }

  /** n_c in the window (decayed in decayed mode). */
  count(categoryId: string): number {
    return this.window.count(categoryId);
  }

  /** Exact window count of one event type for a category. */
  typeCount(categoryId: string, type: EventType): number {
    return this.window.typeCount(categoryId, type);
  }

  /** N in the window (decayed in decayed mode). */
  total(): number {
    return this.window.total();
  }

  categories(): string[] {
    return this.window.categories();
  }

  /** C: categories currently in the window. */
  categoryCount(): number {
    return this.window.size;
  }

  get watermark(): number {
    return this.window.watermark;
  }

  counters(): BalanceCounters {
    return { ...this.window.counters, observed: this.observed, weightRefreshes: this.classWeights.refreshes };
  }

  /** The category's uniform reservoir (live view, do not mutate). */
  reservoir(categoryId: string): readonly T[] {
    const slot = this.window.slotOf(categoryId);
    return slot < 0 ? [] : this.reservoirs.itemsAt(slot);
  }

  /** The class-balanced replay memory's items (live view, do not mutate). */
  replayMemory(): readonly T[] {
    return this.replay.contents();
  }

  /** Items per category in the replay memory. */
  replayCounts(): Map<string, number> {
    return this.replay.counts();
  }

  composeBatch(fresh: readonly T[], batchSize: number, options?: ComposeOptions<T>): ComposedBatch<T> {
    return this.composer.compose(fresh, batchSize, options);
  }

  snapshot(): BalanceSnapshot<T> {
    const limit = this.window.slotLimit;
    return {
      version: SNAPSHOT_VERSION,
      config: { ...this.config },
      rng: this.rng.state(),
      window: this.window.snapshot(),
      reservoirs: this.reservoirs.snapshot(limit),
      replay: this.replay.snapshot(),
      weights: this.classWeights.snapshot(limit),
      observed: this.observed,
      sinceRefresh: this.sinceRefresh,
      refreshThreshold: this.refreshThreshold,
    };
  }

  /**
   * Rebuilds a state from a snapshot. `config` may change the non-structural settings
   * (policy, α, β, weight bounds, η, ρ, synthetic fraction and weight, lateness, refresh interval,
   * replayed event types); changing a setting that shapes stored state throws
   * REB_BALANCE_INVALID. With the same settings the restored state behaves identically.
   *
   * replayEventTypes: a snapshot without the field (written before it existed) replayed all
   * four types. When the restore drops a type the snapshot replayed, stored items of that
   * type are removed from the reservoirs and the replay memory (see ReservoirBank.retain and
   * ClassBalancedMemory.filtered), so nothing of a type no longer replayed is ever replayed
   * or offered as a candidate; deterministic, no random numbers drawn. Adding a type only
   * starts offering it from then on.
   */
  static restore<T extends BalanceEvent>(snapshot: BalanceSnapshot<T>, config?: Partial<BalanceConfig>): BalanceState<T> {
    if (typeof snapshot !== 'object' || snapshot === null || snapshot.version !== SNAPSHOT_VERSION) {
      throw invalid('snapshot.version', `${SNAPSHOT_VERSION}`, (snapshot as { version?: unknown } | null)?.version);
    }
    const merged = resolveBalanceConfig({ ...snapshot.config, ...(config ?? {}) });
    for (const key of STRUCTURAL) {
      if (merged[key] !== snapshot.config[key]) throw invalid(`config.${key}`, `${String(snapshot.config[key])} (the snapshot's value; it shapes stored state)`, merged[key]);
    }
    const storedTypesRaw = (snapshot.config as Partial<BalanceConfig>).replayEventTypes;
    const storedTypes = storedTypesRaw === undefined ? EVENT_TYPE_ORDER : requireEventTypes('snapshot.config.replayEventTypes', storedTypesRaw);
    const narrowed = storedTypes.some((t) => !merged.replayEventTypes.includes(t));
    const rng = Rng.fromState(snapshot.rng);
    const state = new BalanceState<T>(merged, rng);
    const window = CategoryWindow.restore(merged, snapshot.window);
    // Replace the fresh parts with restored ones (same rng object everywhere).
    state.window = window;
    state.reservoirs = ReservoirBank.restore(snapshot.reservoirs, window.capacity, rng);
    state.replay = ClassBalancedMemory.restore(snapshot.replay, rng);
    if (narrowed) {
      state.reservoirs.retain(state.isReplayable);
      state.replay = state.replay.filtered(state.isReplayable);
    }
    state.classWeights.ensureSlots(window.capacity);
    state.classWeights.restoreFrom(snapshot.weights);
    state.composer = state.makeComposer();
    state.observed = snapshot.observed;
    state.sinceRefresh = snapshot.sinceRefresh;
    state.refreshThreshold = snapshot.refreshThreshold;
    window.setHooks(state.windowHooks());
    return state;
  }

  private windowHooks(): { onRelease(slot: number): void; onGrow(capacity: number): void } {
    return {
      onRelease: (slot) => {
        this.reservoirs.clear(slot);
        this.replay.forgetKey(slot);
        this.classWeights.clear(slot);
      },
      onGrow: (capacity) => {
        this.reservoirs.ensureSlots(capacity);
        this.classWeights.ensureSlots(capacity);
      },
    };
  }

  private makeComposer(): BatchComposer<T> {
    const c = this.config;
    return new BatchComposer<T>({
      window: this.window,
      reservoirs: this.reservoirs,
      replay: this.replay,
      weights: this.classWeights,
      rng: this.rng,
      alpha: c.alpha,
      rho: c.rho,
      syntheticFraction: c.syntheticFraction,
      syntheticWeight: c.syntheticWeight,
    });
  }
}
