/**
 * The /state document (and the live page's history samples), built from read-outs of the
 * running service taken at one instant: pure functions of those read-outs, so the
 * document's shape is fixed here and testable without a broker (src/service/parts.ts
 * takes the read-outs from the live parts).
 */
import type { Readiness } from '../http/server.js';
import type { LedgerSnapshot } from '../ingest/ledger.js';
import { headCategories, tailShareOfCounts } from '../metrics/index.js';
import type { AdjustmentView, BalanceView, EvaluationView } from '../ports/index.js';
import type { TrainerStats } from '../train/index.js';
import type { HistorySample } from './history.js';
import type { GlobalState } from './scale-out.js';

export interface ServiceState {
  ready: boolean;
  /** As /readyz answers it. */
  readiness: Readiness;
  window: { events: number; categories: number; shares: Record<string, number> };
  weights: Record<string, number>;
  imbalance: { ratio: number; entropyNormalized: number; gini: number };
  reservoirFill: { perCategory: number; cbrs: number };
  /** Training samples composed since this process started, by source (fresh, minority replay, synthetic). */
  trainingSamples: { fresh: number; replay: number; synthetic: number };
  /** Share of recently recommended items in tail categories, and of the window's interactions (balance/tail.ts). */
  tailShare: { recommendations: number; interactions: number };
  model: { version: string; steps: number; nativeBackend: boolean; training: boolean; trainedEvents: number; trainerThread: boolean; trainer: TrainerStats | null };
  evaluation: { hitRateMacro: number; hitRateMicro: number; ndcgMacro: number; ndcgMicro: number; hitRateByCategory: Record<string, number>; adjustment: AdjustmentView };
  totals: { applied: number; byCategory: Record<string, number>; byType: Record<string, number>; invalid: number; duplicates: number; late: number; lost: number; deadLettered: number; recommendationsProduced: number };
  offsets: { topic: string; positions: Record<string, number>; committed: Record<string, number> };
  consumer: { up: boolean; paused: boolean; pauses: number; inFlight: number; assigned: number[]; crashes: number; lag: Record<string, number> };
  /** The dead-letter sink: sent (= totals.deadLettered), not yet acknowledged, stored truncated, dropped. */
  deadLetters: { sent: number; pending: number; truncated: number; dropped: number };
  checkpoint: { seq: number; ageSeconds: number; restoredFrom: number | null; restored: RestoredCounts | null };
  /**
   * Merged from every partition's owner (the consumer group may split the topic over several
   * instances; `totals`, `window` and `offsets` above are what this instance has applied).
   */
  global: GlobalState;
}

/**
 * At restore: events the restored model had trained, the saved backlog it had not, and the
 * applied events of the types it trains on (the ledger's, up to the restored offsets). A
 * consistent checkpoint has modelTrainedEvents + backlog = trainableEvents.
 */
export interface RestoredCounts {
  modelTrainedEvents: number;
  backlog: number;
  trainableEvents: number;
}

/** The trainer's read-outs (absent when training is off). */
export interface ModelReadings {
  version: string;
  steps: number;
  nativeBackend: boolean;
  trainedEvents: number;
  stats: TrainerStats;
  evaluation: EvaluationView;
}

/** The Kafka consumer's read-outs. */
export interface ConsumerReadings {
  up: boolean;
  paused: boolean;
  pauses: number;
  inFlight: number;
  assigned: readonly number[];
  crashes: number;
  lag: ReadonlyMap<number, number>;
}

/** Everything the /state document is made of, read at one instant. */
export interface StateReadings {
  readiness: Readiness;
  view: BalanceView;
  trainingSamples: { fresh: number; replay: number; synthetic: number };
  /** Undefined when training is off (--train false). */
  model: ModelReadings | undefined;
  /** --trainer-thread. */
  trainerThread: boolean;
  ledger: LedgerSnapshot;
  /** The input topic (--topic). */
  topic: string;
  serving: { tailShare: number; produced: number };
  consumer: ConsumerReadings;
  deadLetters: { sent: number; pending: number; truncated: number; dropped: number };
  checkpoint: { seq: number; ageSeconds: number; committed: Readonly<Record<string, number>>; restoredFrom: number | null; restored: RestoredCounts | null };
  global: GlobalState;
}

const NO_ADJUSTMENT: AdjustmentView = { tau: 0, microCost: 0, macroGain: 0 };

/** The /state document. */
export function stateDocument(r: StateReadings): ServiceState {
  const { view, model, ledger, consumer } = r;
  const ev = model?.evaluation;
  return {
    ready: r.readiness.ready,
    readiness: r.readiness,
    window: {
      events: view.windowEvents,
      categories: view.windowCounts.size,
      shares: Object.fromEntries([...view.windowCounts].map(([c, n]) => [c, view.windowEvents > 0 ? n / view.windowEvents : 0])),
    },
    weights: Object.fromEntries(view.weights),
    imbalance: { ratio: view.imbalanceRatio, entropyNormalized: view.entropyNormalized, gini: view.gini },
    reservoirFill: { perCategory: view.reservoirFill.perCategory, cbrs: view.reservoirFill.cbrs },
    trainingSamples: { ...r.trainingSamples },
    tailShare: { recommendations: r.serving.tailShare, interactions: tailShareOfCounts(view.windowCounts, headCategories(view.windowCounts)) },
    model: { version: model?.version ?? 'none', steps: model?.steps ?? 0, nativeBackend: model?.nativeBackend ?? false, training: model !== undefined, trainedEvents: model?.trainedEvents ?? 0, trainerThread: r.trainerThread, trainer: model?.stats ?? null },
    evaluation: {
      hitRateMacro: ev?.hitRateMacro ?? 0,
      hitRateMicro: ev?.hitRateMicro ?? 0,
      ndcgMacro: ev?.ndcgMacro ?? 0,
      ndcgMicro: ev?.ndcgMicro ?? 0,
      hitRateByCategory: ev ? Object.fromEntries(ev.hitRateByCategory) : {},
      adjustment: ev?.adjustment ?? NO_ADJUSTMENT,
    },
    totals: {
      applied: ledger.applied,
      byCategory: ledger.byCategory,
      byType: ledger.byType,
      invalid: ledger.invalid,
      duplicates: ledger.duplicates,
      late: ledger.late,
      lost: ledger.lost,
      deadLettered: r.deadLetters.sent,
      recommendationsProduced: r.serving.produced,
    },
    offsets: { topic: r.topic, positions: ledger.positions, committed: { ...r.checkpoint.committed } },
    consumer: {
      up: consumer.up,
      paused: consumer.paused,
      pauses: consumer.pauses,
      inFlight: consumer.inFlight,
      assigned: [...consumer.assigned],
      crashes: consumer.crashes,
      lag: Object.fromEntries([...consumer.lag].map(([p, l]) => [String(p), l])),
    },
    deadLetters: { ...r.deadLetters },
    checkpoint: { seq: r.checkpoint.seq, ageSeconds: r.checkpoint.ageSeconds, restoredFrom: r.checkpoint.restoredFrom, restored: r.checkpoint.restored },
    global: r.global,
  };
}

/** One history sample's figures, read from the /state document (so the live page's charts end where /state is). */
export function historySample(s: ServiceState): Omit<HistorySample, 't'> {
  let lag = 0;
  for (const l of Object.values(s.consumer.lag)) lag += l;
  return {
    applied: s.totals.applied,
    hitRateMacro: s.evaluation.hitRateMacro,
    hitRateMicro: s.evaluation.hitRateMicro,
    tailShareRecommendations: s.tailShare.recommendations,
    tailShareInteractions: s.tailShare.interactions,
    lag,
    deadLettered: s.totals.deadLettered,
  };
}
