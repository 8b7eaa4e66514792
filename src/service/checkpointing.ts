/**
 * Start-up step 4, the checkpoints: what a checkpoint captures (state, offsets, backlog,
 * held events, the model's save, the owned partitions' changelog blobs) and how its
 * offsets are committed.
 */
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { InteractionEvent } from '../codec/index.js';
import type { ServiceConfig } from '../config/index.js';
import type { TrainBacklog } from '../ingest/backlog.js';
import type { DedupSet } from '../ingest/dedup.js';
import type { DeadLetterSink } from '../ingest/dlq.js';
import type { EventTimeAlignment } from '../ingest/event-time.js';
import type { IngestLedger } from '../ingest/ledger.js';
import type { KafkaSource } from '../ingest/source.js';
import type { ServiceMetrics } from '../metrics/index.js';
import { MODEL_DIR } from '../state/checkpoint-layout.js';
import type { CheckpointStore } from '../state/checkpoint-store.js';
import { Checkpointer, type CheckpointContent, type CheckpointMeta } from '../state/checkpointer.js';
import type { BalanceAdapter } from '../train/balance-adapter.js';
import type { Trainer } from '../train/index.js';
import type { PartitionOwnership } from './ownership.js';
import { STATE_FILE } from './restore.js';
import { encodeSavedState, type SavedState } from './saved-state.js';
import type { ScaleOut } from './scale-out.js';

/** What a checkpoint is taken of. */
export interface CheckpointedParts {
  store: CheckpointStore<CheckpointMeta>;
  balance: BalanceAdapter;
  dedup: DedupSet;
  ledger: IngestLedger;
  backlog: TrainBacklog;
  eventTime: EventTimeAlignment<InteractionEvent>;
  model: Trainer | undefined;
  scaleOut: ScaleOut;
  source: KafkaSource;
  deadLetters: DeadLetterSink;
  metrics: ServiceMetrics;
  log(msg: string): void;
  now(): number;
}

export function createCheckpointer(config: ServiceConfig, p: CheckpointedParts): Checkpointer {
  const { ledger, model, backlog, deadLetters } = p;
  const ownership = p.scaleOut.ownership;
  const capture = new CheckpointCapture(config, p);
  return new Checkpointer({
    store: p.store,
    capture: () => capture.capture(),
    flushDeadLetters: () => deadLetters.flush(),
    commit: async (positions) => {
      const allowed = ownership.committable(positions);
      await p.source.commit(allowed);
      ownership.committedNow(allowed);
    },
    fingerprint: () => `${[...ledger.positions].join(';')}|${ledger.applied}|${model?.trainedEvents ?? 0}|${backlog.size}|${deadLetters.sent}`,
    metrics: p.metrics,
    now: p.now,
    log: p.log,
  });
}

/**
 * One instant: the state, the offsets, the events bound for training the model has not
 * been handed, and the model's save queued behind the steps it has been handed. So the
 * saved model has trained exactly the events up to the offsets minus the saved backlog.
 */
class CheckpointCapture {
  /** Numbers the model's staging directories. */
  private stages = 0;
  private readonly ownership: PartitionOwnership;

  constructor(private readonly config: ServiceConfig, private readonly p: CheckpointedParts) {
    this.ownership = p.scaleOut.ownership;
  }

  capture(): CheckpointContent {
    const { p, config } = this;
    const saved: SavedState = { format: 2, balance: p.balance.snapshot(), dedup: p.dedup.snapshot(), ledger: p.ledger.snapshot(), backlog: p.backlog.snapshot(), held: p.eventTime.snapshot() };
    const files = new Map([[STATE_FILE, encodeSavedState(saved)]]);
    // The owned partitions' states at the same instant: written to the changelog after the
    // local checkpoint and before the commit, which covers exactly these positions.
    const blobs = this.ownership.captureBlobs();
    const commitPositions = new Map([...blobs.keys()].map((partition) => [partition, p.scaleOut.states.get(partition)!.position]));
    const partitionsPart = { beforeCommit: () => this.ownership.writeBlobs(blobs, commitPositions), commitPositions };
    if (!p.model) return { meta: { topic: config.topic, positions: saved.ledger.positions, modelVersion: null }, files, ...partitionsPart };
    // A `.tmp-…-<pid>` name: the store removes it if this process dies before moving it.
    const stage = join(config.checkpointDir, `.tmp-model-${++this.stages}-${process.pid}`);
    const save = p.model.save(stage);
    return {
      meta: { topic: config.topic, positions: saved.ledger.positions, modelVersion: save.version },
      files,
      ...partitionsPart,
      writeModel: async (dir: string) => {
        try {
          await save.done;
          await rename(join(stage, MODEL_DIR), join(dir, MODEL_DIR));
        } finally {
          await rm(stage, { recursive: true, force: true });
        }
      },
    };
  }
}
