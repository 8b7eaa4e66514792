import type { EventType } from '../../src/codec/types.js';
import { Rng } from '../../src/balance/index.js';

export interface TestEvent {
  readonly id: number;
  readonly categoryId: string;
  readonly type: EventType;
  readonly eventTime: number;
}

export const TYPES: readonly EventType[] = ['view', 'click', 'add_to_cart', 'purchase'];

/** Draws an index from unnormalised weights. */
export function pick(rng: Rng, weights: readonly number[]): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let u = rng.next() * total;
  for (let i = 0; i < weights.length; i++) {
    u -= weights[i]!;
    if (u < 0) return i;
  }
  return weights.length - 1;
}

/**
 * Upper critical value of χ² with df degrees of freedom at upper-tail probability p, by the
 * Wilson–Hilferty approximation (within ~0.5% of the exact quantile for df ≥ 30).
 * z is the standard normal quantile: 3.0902 for p = 0.001.
 */
export function chiSquareCritical(df: number, z = 3.0902): number {
  const a = 2 / (9 * df);
  return df * Math.pow(1 - a + z * Math.sqrt(a), 3);
}

/** A stream of events with categories drawn from `shares`, 1 ms apart. */
export function stream(rng: Rng, shares: readonly number[], n: number, start = 1_000_000, firstId = 0): TestEvent[] {
  const out: TestEvent[] = [];
  for (let i = 0; i < n; i++) {
    out.push({ id: firstId + i, categoryId: `c${pick(rng, shares)}`, type: TYPES[rng.int(4)]!, eventTime: start + i });
  }
  return out;
}
