/**
 * One configuration object for the balance core, validated once at construction
 * (never per event). Every bad value throws REB_BALANCE_INVALID naming the setting
 * and the expected form.
 */
import { EVENT_TYPES } from '../codec/schemas.js';
import type { EventType } from '../codec/types.js';
import { invalidValue, type RebalancerError } from '../errors.js';

/** Event types in index order (eventTypeIndex in window.ts); window.ts checks at compile time that this covers EventType. */
export const EVENT_TYPE_ORDER = EVENT_TYPES;

export type WindowMode = 'sliding' | 'decayed';
export type WeightPolicyName = 'none' | 'inverse_frequency' | 'sqrt_inverse' | 'effective_number';

export const WEIGHT_POLICIES: readonly WeightPolicyName[] = ['none', 'inverse_frequency', 'sqrt_inverse', 'effective_number'];

export interface BalanceConfig {
  /** B: number of buckets in the sliding window (integer ≥ 1). */
  readonly bucketCount: number;
  /** Δ: bucket width in ms of event time (integer ≥ 1). The window spans B·Δ. */
  readonly bucketWidthMs: number;
  /** Events older than (max event time seen − this) are counted as late and not added (ms, ≥ 0). */
  readonly allowedLatenessMs: number;
  /** Cap on categories tracked at once; events of further new categories are counted as overflow. */
  readonly maxCategories: number;
  /** 'sliding': n_c = exact bucketed window count; 'decayed': n_c ← n_c·e^{-λΔt} + 1. */
  readonly windowMode: WindowMode;
  /** Half-life of the decayed count (ms); λ = ln 2 / half-life. Used when windowMode is 'decayed'. */
  readonly decayHalfLifeMs: number;
  /** α of the smoothed prior π_c = (n_c + α)/(N + αC) (≥ 0). */
  readonly alpha: number;
  readonly weightPolicy: WeightPolicyName;
  /** β of the effective-number policy (Cui et al., CVPR 2019), strictly inside (0, 1). */
  readonly beta: number;
  /** Weight clip bounds; must satisfy 0 < minWeight ≤ 1 ≤ maxWeight so Σ π_c w_c = 1 stays reachable. */
  readonly minWeight: number;
  readonly maxWeight: number;
  /** η of the weight smoothing w ← (1−η)w + η·w_new, in (0, 1]. */
  readonly smoothing: number;
  /** k: per-category reservoir capacity (integer ≥ 1). */
  readonly reservoirSize: number;
  /** M: class-balanced replay memory (CBRS) capacity (integer ≥ 1). */
  readonly replayMemorySize: number;
  /** ρ of the target mix q_c ∝ π_c^ρ, in [0, 1]. */
  readonly rho: number;
  /** Share of replay slots filled by synthetic interpolations when an interpolation hook is given, in [0, 1]. */
  readonly syntheticFraction: number;
  /** A synthetic sample's weight relative to a replay's of its category (> 0): w_c × (1/Z) × this. */
  readonly syntheticWeight: number;
  /**
   * Weights are refreshed automatically every max(this, tracked categories) accepted events,
   * which keeps the refresh cost O(1) amortised per event. 0 = only on explicit refreshWeights().
   */
  readonly refreshEveryEvents: number;
  /**
   * Event types offered to the per-category reservoirs and the replay memory (CBRS), so the
   * composer only replays them and recommendation candidates come only from them; events of
   * the other types still count in the window (counts, stats, weights, per-type counts).
   * A non-empty list of distinct types; normalised to EVENT_TYPE_ORDER. Default: all four.
   * The service passes the types its model trains on (label weight > 0).
   */
  readonly replayEventTypes: readonly EventType[];
}

export const DEFAULT_BALANCE_CONFIG: BalanceConfig = Object.freeze({
  bucketCount: 60,
  bucketWidthMs: 60_000,
  allowedLatenessMs: 300_000,
  maxCategories: 100_000,
  windowMode: 'sliding',
  decayHalfLifeMs: 1_800_000,
  alpha: 1,
  weightPolicy: 'effective_number',
  beta: 0.999,
  minWeight: 0.1,
  maxWeight: 10,
  smoothing: 0.1,
  reservoirSize: 64,
  replayMemorySize: 4096,
  rho: 0.3,
  syntheticFraction: 0,
  syntheticWeight: 1,
  refreshEveryEvents: 1024,
  replayEventTypes: Object.freeze([...EVENT_TYPE_ORDER]),
});

export function invalid(param: string, expected: string, got: unknown): RebalancerError {
  return invalidValue('REB_BALANCE_INVALID', param, expected, got);
}

export function requireInt(param: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(param, max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`, v);
  }
  return v;
}

export function requireNumber(param: string, v: unknown, lo: number, hi: number, loOpen: boolean, hiOpen: boolean): number {
  const ok = typeof v === 'number' && Number.isFinite(v) && (loOpen ? v > lo : v >= lo) && (hiOpen ? v < hi : v <= hi);
  if (!ok) {
    const range = `${loOpen ? '(' : '['}${lo}, ${hi === Infinity ? '∞' : hi}${hiOpen ? ')' : ']'}`;
    throw invalid(param, `a finite number in ${range}`, v);
  }
  return v;
}

/**
 * Checks a list of event types (an array of distinct known types, at least one) and returns
 * it frozen in EVENT_TYPE_ORDER order; throws REB_BALANCE_INVALID naming `param`.
 */
export function requireEventTypes(param: string, v: unknown): readonly EventType[] {
  const known = EVENT_TYPE_ORDER.join(', ');
  if (!Array.isArray(v) || v.length === 0) throw invalid(param, `a non-empty array of distinct event types from ${known}`, v);
  const given = new Set<unknown>();
  v.forEach((t: unknown, i) => {
    if (!(EVENT_TYPE_ORDER as readonly unknown[]).includes(t)) throw invalid(`${param}[${i}]`, `one of ${known}`, t);
    if (given.has(t)) throw invalid(`${param}[${i}]`, `a type not listed before (${known}, each at most once)`, t);
    given.add(t);
  });
  return Object.freeze(EVENT_TYPE_ORDER.filter((t) => given.has(t)));
}

/** Merges overrides onto the defaults and checks every field; throws REB_BALANCE_INVALID. */
export function resolveBalanceConfig(overrides: Partial<BalanceConfig> = {}): BalanceConfig {
  if (typeof overrides !== 'object' || overrides === null) throw invalid('config', 'an object', overrides);
  const known = new Set(Object.keys(DEFAULT_BALANCE_CONFIG));
  for (const key of Object.keys(overrides)) {
    if (!known.has(key)) throw invalid(`config.${key}`, `one of the known settings (${[...known].join(', ')})`, key);
  }
  const c: BalanceConfig = { ...DEFAULT_BALANCE_CONFIG, ...overrides };
  requireInt('bucketCount', c.bucketCount, 1, 1_000_000);
  requireInt('bucketWidthMs', c.bucketWidthMs, 1);
  requireNumber('allowedLatenessMs', c.allowedLatenessMs, 0, Infinity, false, true);
  requireInt('maxCategories', c.maxCategories, 1, 10_000_000);
  if (c.windowMode !== 'sliding' && c.windowMode !== 'decayed') throw invalid('windowMode', "'sliding' or 'decayed'", c.windowMode);
  requireNumber('decayHalfLifeMs', c.decayHalfLifeMs, 0, Infinity, true, true);
  requireNumber('alpha', c.alpha, 0, Infinity, false, true);
  if (!WEIGHT_POLICIES.includes(c.weightPolicy)) throw invalid('weightPolicy', `one of ${WEIGHT_POLICIES.join(', ')}`, c.weightPolicy);
  requireNumber('beta', c.beta, 0, 1, true, true);
  requireNumber('minWeight', c.minWeight, 0, 1, true, false);
  requireNumber('maxWeight', c.maxWeight, 1, Infinity, false, true);
  if (c.minWeight > c.maxWeight) throw invalid('minWeight', `≤ maxWeight (${c.maxWeight})`, c.minWeight);
  requireNumber('smoothing', c.smoothing, 0, 1, true, false);
  requireInt('reservoirSize', c.reservoirSize, 1, 1_000_000);
  requireInt('replayMemorySize', c.replayMemorySize, 1, 100_000_000);
  requireNumber('rho', c.rho, 0, 1, false, false);
  requireNumber('syntheticFraction', c.syntheticFraction, 0, 1, false, false);
  requireNumber('syntheticWeight', c.syntheticWeight, 0, Infinity, true, true);
  requireInt('refreshEveryEvents', c.refreshEveryEvents, 0);
  return Object.freeze({ ...c, replayEventTypes: requireEventTypes('replayEventTypes', c.replayEventTypes) });
}
