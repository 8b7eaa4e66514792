import type { Gauge } from 'prom-client';

/**
 * A gauge with one label whose value set changes over time (top-N categories). Label
 * children are resolved once and cached; a label that drops out of the set is removed
 * from the gauge so the exported series stay bounded and never go stale.
 */
export class LabelledGauge<L extends string> {
  private readonly children = new Map<string, { set(v: number): void }>();

  constructor(private readonly gauge: Gauge<L>, private readonly label: L) {}

  /** Sets exactly these label values; every other label value is removed. */
  replaceAll(values: ReadonlyMap<string, number>): void {
    for (const [key] of this.children) {
      if (!values.has(key)) {
        this.gauge.remove({ [this.label]: key } as Partial<Record<L, string>>);
        this.children.delete(key);
      }
    }
    for (const [key, value] of values) {
      let child = this.children.get(key);
      if (child === undefined) {
        child = this.gauge.labels({ [this.label]: key } as Partial<Record<L, string>>);
        this.children.set(key, child);
      }
      child.set(value);
    }
  }
}

/** The label value for categories outside the exported top N. */
export const OTHER_CATEGORY = 'other';

/**
 * Folds per-category values into the top N categories (by `rank`) plus `other`.
 * `combine` merges the values of the folded categories, given their ranks as weights.
 */
export function foldTopCategories(
  values: ReadonlyMap<string, number>,
  top: ReadonlySet<string>,
  rank: ReadonlyMap<string, number>,
  combine: 'sum' | 'weighted-mean',
): Map<string, number> {
  const out = new Map<string, number>();
  let otherSum = 0;
  let otherWeight = 0;
  let otherCount = 0;
  for (const [cat, v] of values) {
    if (!Number.isFinite(v)) continue;
    if (top.has(cat) && cat !== OTHER_CATEGORY) {
      out.set(cat, v);
      continue;
    }
    const w = rank.get(cat) ?? 0;
    otherCount++;
    if (combine === 'sum') otherSum += v;
    else {
      otherSum += v * w;
      otherWeight += w;
    }
  }
  if (otherCount > 0) out.set(OTHER_CATEGORY, combine === 'sum' ? otherSum : otherWeight > 0 ? otherSum / otherWeight : 0);
  return out;
}
