/**
 * Start-up step 1: the state from the newest checkpoint that restores (or a fresh one), and
 * the model beside it (restored from that checkpoint when it holds one).
 */
import type { Rng } from '../balance/index.js';
import { EVENT_TYPES, type InteractionEvent } from '../codec/index.js';
import type { ServiceConfig } from '../config/index.js';
import { DedupSet } from '../ingest/dedup.js';
import type { HeldEvent } from '../ingest/event-time.js';
import { IngestLedger } from '../ingest/ledger.js';
import type { ServiceMetrics } from '../metrics/index.js';
import type { ModelSnapshot } from '../model/snapshot.js';
import { CheckpointStore, type LoadedCheckpoint } from '../state/checkpoint-store.js';
import { checkpointMetaSchema, type CheckpointMeta } from '../state/checkpointer.js';
import { BalanceAdapter } from '../train/balance-adapter.js';
import { startTrainer, type Trainer } from '../train/index.js';
import { informedScorer } from '../train/informed-scores.js';
import { decodeSavedState } from './saved-state.js';
import type { RestoredCounts } from './state-document.js';

/** The checkpoint's state file (the model is beside it, in MODEL_DIR). */
export const STATE_FILE = 'state.bin';

export interface StartEnv {
  rng: Rng;
  log(msg: string): void;
  now(): number;
}

/** The state the service starts from. */
export interface RestoredState {
  store: CheckpointStore<CheckpointMeta>;
  /** The checkpoint restored; undefined when the service starts fresh. */
  checkpoint: LoadedCheckpoint<CheckpointMeta> | undefined;
  balance: BalanceAdapter;
  dedup: DedupSet;
  ledger: IngestLedger;
  /** The saved backlog: applied, not yet handed to the model; trained first. */
  backlog: InteractionEvent[];
  /** Events held for a slower partition's watermark when the checkpoint was taken. */
  held: HeldEvent<InteractionEvent>[];
  /** Undefined when training is off. */
  model: Trainer | undefined;
  /** What the restored model had trained, against the ledger (null when fresh or training is off). */
  counts: RestoredCounts | null;
}

/**
 * Restores the newest checkpoint whose state restores (one that verifies but holds a state
 * that does not, of another format or after a structural setting changed, is skipped for
 * the next older one), or starts fresh; then starts the trainer (--train), whose stop is
 * pushed on `undo`.
 */
export async function restoreOrStart(config: ServiceConfig, env: StartEnv, undo: Array<() => Promise<unknown>>): Promise<RestoredState> {
  const { rng, log, now } = env;
  const store = new CheckpointStore<CheckpointMeta>({ dir: config.checkpointDir, keep: config.checkpointsKept, meta: checkpointMetaSchema, now, log });
  await store.assertWritable();
  const loaded = await store.restoreNewest(async (c) => {
    const saved = decodeSavedState(await c.readFile(STATE_FILE));
    return { saved, balance: BalanceAdapter.restore(saved.balance, config), dedup: DedupSet.restore(config.dedupHorizon, saved.dedup), ledger: IngestLedger.restore(saved.ledger) };
  }, { allowEmpty: config.allowEmptyRestore });
  const checkpoint = loaded?.checkpoint;
  const balance = loaded?.value.balance ?? BalanceAdapter.create(config, rng);
  const state = {
    store,
    checkpoint,
    balance,
    dedup: loaded?.value.dedup ?? new DedupSet(config.dedupHorizon),
    ledger: loaded?.value.ledger ?? new IngestLedger(),
    backlog: loaded?.value.saved.backlog ?? [],
    held: loaded?.value.saved.held ?? [],
  };
  const restoreDir = checkpoint !== undefined && checkpoint.manifest.meta.modelVersion !== null ? { restoreDir: checkpoint.dir } : {};
  const model = config.train ? await startTrainer({ config, rng, prior: (c) => balance.prior(c), ...restoreDir, log, now }) : undefined;
  const counts = checkpoint !== undefined && model !== undefined ? restoredCounts(model, state.ledger, state.backlog.length) : null;
  if (checkpoint !== undefined) log(`restored checkpoint ${checkpoint.manifest.seq} (${state.ledger.applied} events applied, ${state.backlog.length} of them to train first; positions ${JSON.stringify(checkpoint.manifest.meta.positions)})`);
  if (model) undo.push(() => model.stop());
  return { ...state, model, counts };
}

function restoredCounts(model: Trainer, ledger: IngestLedger, backlog: number): RestoredCounts {
  const byType = ledger.snapshot().byType;
  const trainableEvents = EVENT_TYPES.reduce((sum, t) => sum + (model.trainsOn(t) ? (byType[t] ?? 0) : 0), 0);
  return { modelTrainedEvents: model.trainedEvents, backlog, trainableEvents };
}

/**
 * The model's place beside the balance state: --undersampling informed keeps the majority
 * events the model scores worst (src/train/informed-scores.ts), fed the trainer thread's
 * snapshots through the returned `onSnapshot`; and whether TensorFlow runs natively, asked
 * of the trainer so TensorFlow loads where it trains (the trainer thread creates its thread
 * pools with the thread's priority); with training off it is loaded here to report.
 */
export async function attachModel(config: ServiceConfig, s: { balance: BalanceAdapter; model: Trainer | undefined }, metrics: ServiceMetrics, env: Omit<StartEnv, 'rng'>): Promise<{ onSnapshot: ((snapshot: ModelSnapshot) => void) | undefined }> {
  const informed = config.undersampling === 'informed' && s.model !== undefined ? informedScorer(s.model, env.now) : undefined;
  s.balance.scoreWith(informed?.score);
  const native = s.model ? s.model.nativeBackend : (await import('../train/model-adapter.js')).tfBackendIsNative();
  if (!native) env.log('WARNING: TensorFlow is NOT running on the native backend; training will be very slow (see README, native TensorFlow)');
  metrics.tfNativeBackend.set(native ? 1 : 0);
  return { onSnapshot: informed?.offer };
}
