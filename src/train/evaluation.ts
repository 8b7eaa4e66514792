import type { IncrementalTrainer } from '../model/index.js';
import type { AdjustmentView, EvaluationView } from '../ports/index.js';

/** The prequential evaluation of a trainer in the pipeline's terms (inline adapter and trainer thread alike). */
export function evaluationOf(t: IncrementalTrainer): EvaluationView {
  const s = t.snapshot();
  const hit = new Map<string, number>();
  const count = new Map<string, number>();
  for (const [cat, e] of Object.entries(s.perCategory)) {
    hit.set(cat, e.hitRate);
    count.set(cat, e.count);
  }
  return { hitRateByCategory: hit, evaluationsByCategory: count, hitRateMacro: s.macroHitRate, hitRateMicro: s.microHitRate, ndcgMacro: s.macroNdcg, ndcgMicro: s.microNdcg, adjustment: adjustmentView(t.adjustment.figures()) };
}

/** The adjustment's figures as the ports state them (0 cost and gain before the first evaluation). */
export function adjustmentView(f: { tau: number; grid: readonly number[]; micro: readonly number[]; macro: readonly number[] }): AdjustmentView {
  const j = Math.max(0, f.grid.indexOf(f.tau));
  const m0 = f.micro[0] ?? 0;
  const M0 = f.macro[0] ?? 0;
  return { tau: f.tau, microCost: m0 > 0 ? 1 - (f.micro[j] ?? 0) / m0 : 0, macroGain: M0 > 0 ? (f.macro[j] ?? 0) / M0 - 1 : 0 };
}
