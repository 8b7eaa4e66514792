import type { IncrementalTrainer } from '../model/index.js';
import { adjustmentView, type EvaluationView } from '../ports/index.js';

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
