/**
 * The gauges derived from state, refreshed per scrape (and by the live view): computed by
 * `derivedGauges`, a pure function of the balance view and the model's evaluation that
 * folds per-category series into the top --metrics-top-categories categories plus `other`
 * (bounded labels), then set on the registry with the process's other read-outs.
 */
import { foldTopCategories, headCategories, tailShareOfCounts, type ServiceMetrics } from '../metrics/index.js';
import { threadMemory } from '../metrics/thread-memory.js';
import type { AdjustmentView, BalanceView, EvaluationView } from '../ports/index.js';
import type { Trainer } from '../train/index.js';
import type { ServiceParts } from './parts.js';
import { NOT_READY_REASONS, notReady } from './readiness.js';

export interface DerivedGauges {
  windowEvents: number;
  windowCategories: number;
  /** Each top category's share of the window's events; `other` sums the rest. */
  categoryWindowShare: Map<string, number>;
  /** Each top category's class weight; `other` is the rest's mean weighted by their window counts. */
  classWeight: Map<string, number>;
  imbalanceRatio: number;
  entropyNormalized: number;
  gini: number;
  reservoirFill: { perCategory: number; cbrs: number };
  /** Share of the window's interactions in tail categories (balance/tail.ts). */
  interactionTailShare: number;
  /** Undefined when training is off. */
  evaluation: EvaluationGauges | undefined;
}

export interface EvaluationGauges {
  /** Prequential hit rate of each top category; `other` is the rest's mean weighted by their evaluations. */
  hitRate: Map<string, number>;
  hitRateMacro: number;
  hitRateMicro: number;
  ndcgMacro: number;
  ndcgMicro: number;
  adjustment: AdjustmentView;
}

/** The `n` categories with the most events in the window (ties: in the window's order). */
export function topCategories(counts: ReadonlyMap<string, number>, n: number): Set<string> {
  return new Set([...counts].sort((a, b) => b[1] - a[1]).slice(0, n).map(([c]) => c));
}

export function derivedGauges(view: BalanceView, evaluation: EvaluationView | undefined, topN: number): DerivedGauges {
  const counts = view.windowCounts;
  const top = topCategories(counts, topN);
  const shares = new Map<string, number>();
  for (const [c, n] of counts) shares.set(c, view.windowEvents > 0 ? n / view.windowEvents : 0);
  return {
    windowEvents: view.windowEvents,
    windowCategories: counts.size,
    categoryWindowShare: foldTopCategories(shares, top, counts, 'sum'),
    classWeight: foldTopCategories(view.weights, top, counts, 'weighted-mean'),
    imbalanceRatio: view.imbalanceRatio,
    entropyNormalized: view.entropyNormalized,
    gini: view.gini,
    reservoirFill: { perCategory: view.reservoirFill.perCategory, cbrs: view.reservoirFill.cbrs },
    interactionTailShare: tailShareOfCounts(counts, headCategories(counts)),
    evaluation:
      evaluation === undefined
        ? undefined
        : {
            hitRate: foldTopCategories(evaluation.hitRateByCategory, top, evaluation.evaluationsByCategory, 'weighted-mean'),
            hitRateMacro: evaluation.hitRateMacro,
            hitRateMicro: evaluation.hitRateMicro,
            ndcgMacro: evaluation.ndcgMacro,
            ndcgMicro: evaluation.ndcgMicro,
            adjustment: evaluation.adjustment,
          },
  };
}

function setDerived(metrics: ServiceMetrics, g: DerivedGauges): void {
  metrics.windowEvents.set(g.windowEvents);
  metrics.windowCategories.set(g.windowCategories);
  metrics.categoryWindowShare.replaceAll(g.categoryWindowShare);
  metrics.classWeight.replaceAll(g.classWeight);
  metrics.imbalanceRatio.set(g.imbalanceRatio);
  metrics.entropyNormalized.set(g.entropyNormalized);
  metrics.gini.set(g.gini);
  metrics.reservoirFill.perCategory.set(g.reservoirFill.perCategory);
  metrics.reservoirFill.cbrs.set(g.reservoirFill.cbrs);
  metrics.interactionTailShare.set(g.interactionTailShare);
  const ev = g.evaluation;
  if (ev === undefined) return;
  metrics.prequentialHitRate.replaceAll(ev.hitRate);
  metrics.prequentialHitRateAverage.macro.set(ev.hitRateMacro);
  metrics.prequentialHitRateAverage.micro.set(ev.hitRateMicro);
  metrics.prequentialNdcgAverage.macro.set(ev.ndcgMacro);
  metrics.prequentialNdcgAverage.micro.set(ev.ndcgMicro);
  metrics.servingAdjustment.tau.set(ev.adjustment.tau);
  metrics.servingAdjustment.microCost.set(ev.adjustment.microCost);
  metrics.servingAdjustment.macroGain.set(ev.adjustment.macroGain);
}

function setTrainer(metrics: ServiceMetrics, model: Trainer): void {
  metrics.modelVersion.replaceAll(new Map([[model.version, 1]]));
  const t = model.stats();
  metrics.trainer.staleness.set(t.stalenessSeconds);
  metrics.trainer.tensorIds.set(t.tensorIdHighWater);
  metrics.trainer.recycles.set(t.recycles);
  metrics.trainer.restarts.set(t.workerRestarts);
  metrics.trainer.dropped.set(t.droppedBatches);
  if (t.memory !== null) {
    metrics.threads.set('trainer', t.memory);
    metrics.threads.tensors.set(t.memory.tensors);
    metrics.threads.tensorBytes.set(t.memory.tensorBytes);
  }
}

/** Sets every gauge derived from the running service's parts. */
export function refreshGauges(p: ServiceParts): void {
  const { metrics, model, source, serving, deadLetters } = p;
  const view = p.balance.view();
  p.scaleOut.refreshGauges(view.windowCounts);
  setDerived(metrics, derivedGauges(view, model?.evaluation(), p.config.metricsTopCategories));
  if (model) setTrainer(metrics, model);
  metrics.recommendationTailShare.set(serving.tailShare());
  metrics.threads.set('main', threadMemory());
  const servingMemory = serving.threadMemory();
  if (servingMemory !== null) metrics.threads.set('serving', servingMemory);
  metrics.consumerUp.set(source.isUp ? 1 : 0);
  metrics.consumerPaused.set(source.paused ? 1 : 0);
  metrics.checkpointAge.set(p.checkpointer.ageSeconds());
  const failing = new Set(notReady(p).map((f) => f.reason));
  for (const reason of NOT_READY_REASONS) metrics.notReady(reason).set(failing.has(reason) ? 1 : 0);
  metrics.ready.set(failing.size === 0 ? 1 : 0);
  metrics.kafkaSilence.set(source.silenceMs() / 1000);
  metrics.dlqPending.set(deadLetters.pending);
  metrics.dlqOldestPending.set(deadLetters.oldestPendingAgeMs(p.now()) / 1000);
}

/** What the registry calls before each collection: a no-op until the service's parts exist. */
export class GaugeRefresher {
  private parts: ServiceParts | undefined;

  attach(parts: ServiceParts): void {
    this.parts = parts;
  }

  refresh(): void {
    if (this.parts !== undefined) refreshGauges(this.parts);
  }
}
