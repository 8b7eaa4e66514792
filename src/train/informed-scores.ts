/**
 * Scores for informed undersampling (`--undersampling informed`, src/balance/composer.ts):
 * the model's logit s(user, item) of each fresh positive, from what the main thread can read
 * without waiting on a training step. The balance adapter turns it into the loss −log σ(s)
 * (positiveLoss in balance-adapter.ts) and the composer keeps an undersampled category's
 * highest-loss events (hard examples: Shrivastava et al., CVPR 2016; NearMiss-style informed
 * undersampling: Mani & Zhang, ICML 2003 workshop).
 *
 *  - Inline training (`--trainer-thread false`): the live model on this thread, between steps.
 *  - The trainer thread: its published snapshots go to the serving thread with their buffers
 *    transferred, so this side keeps a copy (SnapshotFreshScorer.offer), at most one per
 *    `minIntervalMs` (a copy is the size of the embedding tables: 16 MB at the defaults), and
 *    scores with the pure-JS SnapshotScorer. Until the first snapshot, null: the batch is
 *    undersampled uniformly.
 *
 * Raw logits, not served ones: the serving-time adjustment subtracts τ·log(1 + recent
 * category count), the same for every event of a category, so it cannot change which events
 * of a category rank highest; the loss the trainer minimises is on the raw logit.
 */
import type { InteractionEvent } from '../codec/index.js';
import { SnapshotScorer, type ModelSnapshot } from '../model/snapshot.js';
import type { Trainer } from './trainer.js';
import { TrainerThread } from './trainer-thread.js';
import type { FreshScorer } from './balance-adapter.js';

/** Least time between two copies of the trainer thread's snapshot for informed undersampling. */
export const INFORMED_SNAPSHOT_INTERVAL_MS = 2_000;

/** A model that scores (user, item, category) pairs on this thread (inline training's ModelAdapter). */
interface PairScoring {
  scorePairs(pairs: readonly InteractionEvent[]): Float32Array;
}

function scoresPairs(model: object): model is PairScoring {
  return typeof (model as Partial<PairScoring>).scorePairs === 'function';
}

/** Scores from copies of the trainer thread's published snapshots. */
export class SnapshotFreshScorer {
  private scorer: SnapshotScorer | null = null;
  private copiedAt = -Infinity;
  private readonly single: InteractionEvent[] = [];

  constructor(
    private readonly minIntervalMs: number,
    private readonly now: () => number,
  ) {}

  /** A published snapshot, before its buffers are transferred: copied unless the last copy is recent. */
  readonly offer = (snapshot: ModelSnapshot): void => {
    const t = this.now();
    if (this.scorer !== null && t - this.copiedAt < this.minIntervalMs) return;
    this.copiedAt = t;
    this.scorer = new SnapshotScorer({ ...structuredClone(snapshot), servingTau: 0 });
  };

  readonly score: FreshScorer = (events) => {
    const scorer = this.scorer;
    if (scorer === null) return null;
    const out = new Float32Array(events.length);
    const single = this.single;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      single[0] = e;
      out[i] = scorer.score(e.userId, single)[0]!;
    }
    return out;
  };
}

/**
 * The scorer informed undersampling uses with `model`, and where the trainer thread's
 * snapshots are to be offered (`offer`; a no-op inline).
 */
export function informedScorer(model: Trainer, now: () => number): { score: FreshScorer; offer: (snapshot: ModelSnapshot) => void } {
  if (model instanceof TrainerThread) {
    const s = new SnapshotFreshScorer(INFORMED_SNAPSHOT_INTERVAL_MS, now);
    return { score: s.score, offer: s.offer };
  }
  const live = scoresPairs(model) ? model : null;
  return { score: (events) => (live === null ? null : live.scorePairs(events)), offer: () => {} };
}
