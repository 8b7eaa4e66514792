/**
 * The /state document from fixed read-outs: every section's shape and values (the document
 * is a contract with the live page, `rebalancer run --live` and the operations guide).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LedgerSnapshot } from '../../src/ingest/ledger.js';
import type { BalanceView, EvaluationView } from '../../src/ports/index.js';
import type { GlobalState } from '../../src/service/scale-out.js';
import { historySample, stateDocument, type ServiceState, type StateReadings } from '../../src/service/state-document.js';
import type { TrainerStats } from '../../src/train/index.js';
import { VIEW } from './fixtures.js';

const ledger: LedgerSnapshot = {
  positions: { '0': 120, '1': 80 },
  byCategory: { shoes: 110, books: 60, tools: 25 },
  byType: { view: 100, click: 70, purchase: 25 },
  applied: 195,
  invalid: 4,
  duplicates: 2,
  late: 1,
  lost: 0,
};

const stats: TrainerStats = { stalenessSeconds: 0.5, tensorIdHighWater: 1_000, recycles: 1, workerRestarts: 0, droppedBatches: 0, healthy: true, memory: null };

const evaluation: EvaluationView = {
  hitRateByCategory: new Map([
    ['shoes', 0.3],
    ['tools', 0.1],
  ]),
  evaluationsByCategory: new Map([
    ['shoes', 50],
    ['tools', 5],
  ]),
  hitRateMacro: 0.2,
  hitRateMicro: 0.28,
  ndcgMacro: 0.12,
  ndcgMicro: 0.16,
  adjustment: { tau: 0.5, microCost: 0.01, macroGain: 0.03 },
};

const global: GlobalState = {
  instanceId: 'host-1',
  owned: [0, 1],
  totals: { byCategory: ledger.byCategory, byType: ledger.byType, applied: 195, duplicates: 2, late: 1, lost: 0, invalid: 4, partitions: 2 },
  positions: { '0': 120, '1': 80 },
  window: { events: 10, categories: 3, counts: { shoes: 6, books: 3, tools: 1 } },
  weights: { shoes: 0.5, books: 1.2, tools: 3 },
  divergence: 0,
  counts: { topic: 'g-events-counts', lag: 0, read: 12, invalid: 0 },
  peers: [],
  modelSync: null,
  changelog: { topic: 'g-events-changelog', writes: 3, bytesWritten: 900, reads: 0, corrupt: 0 },
};

function readings(over: Partial<StateReadings> = {}): StateReadings {
  return {
    readiness: { ready: false, reasons: ['no partition assigned yet'] },
    view: VIEW,
    trainingSamples: { fresh: 150, replay: 40, synthetic: 10 },
    model: { version: 'neumf-g2', steps: 12, nativeBackend: true, trainedEvents: 90, stats, evaluation },
    trainerThread: true,
    ledger,
    topic: 'events',
    serving: { tailShare: 0.25, produced: 33 },
    consumer: { up: true, paused: false, pauses: 2, inFlight: 17, assigned: [1, 0], crashes: 0, lag: new Map([[0, 5], [1, 7]]) },
    deadLetters: { sent: 4, pending: 1, truncated: 0, dropped: 0 },
    checkpoint: { seq: 7, ageSeconds: 3.5, committed: { '0': 100, '1': 80 }, restoredFrom: 6, restored: { modelTrainedEvents: 60, backlog: 8, trainableEvents: 68 } },
    global,
    ...over,
  };
}

describe('the /state document', () => {
  it('builds every section from the readings, in the documented shape (training on)', () => {
    const expected: ServiceState = {
      ready: false,
      readiness: { ready: false, reasons: ['no partition assigned yet'] },
      window: { events: 10, categories: 3, shares: { shoes: 0.6, books: 0.3, tools: 0.1 } },
      weights: { shoes: 0.5, books: 1.2, tools: 3 },
      imbalance: { ratio: 6, entropyNormalized: 0.82, gini: 0.33 },
      reservoirFill: { perCategory: 0.4, cbrs: 0.9 },
      trainingSamples: { fresh: 150, replay: 40, synthetic: 10 },
      // The head holds 80 % of the window (shoes 6 + books 3 ≥ 8 of 10): tools is the tail.
      tailShare: { recommendations: 0.25, interactions: 0.1 },
      model: { version: 'neumf-g2', steps: 12, nativeBackend: true, training: true, trainedEvents: 90, trainerThread: true, trainer: stats },
      evaluation: { hitRateMacro: 0.2, hitRateMicro: 0.28, ndcgMacro: 0.12, ndcgMicro: 0.16, hitRateByCategory: { shoes: 0.3, tools: 0.1 }, adjustment: { tau: 0.5, microCost: 0.01, macroGain: 0.03 } },
      totals: { applied: 195, byCategory: { shoes: 110, books: 60, tools: 25 }, byType: { view: 100, click: 70, purchase: 25 }, invalid: 4, duplicates: 2, late: 1, lost: 0, deadLettered: 4, recommendationsProduced: 33 },
      offsets: { topic: 'events', positions: { '0': 120, '1': 80 }, committed: { '0': 100, '1': 80 } },
      consumer: { up: true, paused: false, pauses: 2, inFlight: 17, assigned: [1, 0], crashes: 0, lag: { '0': 5, '1': 7 } },
      deadLetters: { sent: 4, pending: 1, truncated: 0, dropped: 0 },
      checkpoint: { seq: 7, ageSeconds: 3.5, restoredFrom: 6, restored: { modelTrainedEvents: 60, backlog: 8, trainableEvents: 68 } },
      global,
    };
    const doc = stateDocument(readings());
    assert.deepEqual(doc, expected);
    // The sections in the order /state has always listed them (a JSON reader sees this order).
    assert.deepEqual(Object.keys(doc), Object.keys(expected));
    // What HTTP sends: the document survives JSON unchanged (no Map, no undefined).
    assert.deepEqual(JSON.parse(JSON.stringify(doc)), doc);
  });

  it('with training off: model "none", not training, no trainer stats, a zero evaluation', () => {
    const doc = stateDocument(readings({ model: undefined, trainerThread: false }));
    assert.deepEqual(doc.model, { version: 'none', steps: 0, nativeBackend: false, training: false, trainedEvents: 0, trainerThread: false, trainer: null });
    assert.deepEqual(doc.evaluation, { hitRateMacro: 0, hitRateMicro: 0, ndcgMacro: 0, ndcgMicro: 0, hitRateByCategory: {}, adjustment: { tau: 0, microCost: 0, macroGain: 0 } });
  });

  it('an empty window has zero shares and a zero interaction tail share, not NaN', () => {
    const empty: BalanceView = { ...VIEW, windowCounts: new Map([['shoes', 0]]), windowEvents: 0 };
    const doc = stateDocument(readings({ view: empty }));
    assert.deepEqual(doc.window, { events: 0, categories: 1, shares: { shoes: 0 } });
    assert.equal(doc.tailShare.interactions, 0);
  });

  it('copies what it reads: later changes to the read-outs do not change a document already made', () => {
    const assigned = [0, 1];
    const committed: Record<string, number> = { '0': 100 };
    const doc = stateDocument(readings({ consumer: { ...readings().consumer, assigned }, checkpoint: { ...readings().checkpoint, committed } }));
    assigned.push(2);
    committed['1'] = 5;
    assert.deepEqual(doc.consumer.assigned, [0, 1]);
    assert.deepEqual(doc.offsets.committed, { '0': 100 });
  });
});

describe('the history sample', () => {
  it('takes its figures from the document, with the lag summed over partitions', () => {
    assert.deepEqual(historySample(stateDocument(readings())), {
      applied: 195,
      hitRateMacro: 0.2,
      hitRateMicro: 0.28,
      tailShareRecommendations: 0.25,
      tailShareInteractions: 0.1,
      lag: 12,
      deadLettered: 4,
    });
  });
});
