/**
 * The service's own checkpoint file (`state.bin`, v8 serialisation): the balance state, the
 * de-dup ids, the ledger, the training backlog and the held events. Read back through a
 * schema: a file that verifies (its checksum matches) but holds something else is refused
 * with REB_CHECKPOINT_CORRUPT, and the checkpoint store falls back to the next older one.
 * The balance snapshot is checked for its outer shape here; BalanceState.restore checks its
 * version, its structural settings and each part as it rebuilds them (and throws likewise).
 */
import { deserialize, serialize } from 'node:v8';
import { z } from 'zod';
import { EVENT_TYPES, type InteractionEvent } from '../codec/index.js';
import { RebalancerError } from '../errors.js';
import type { HeldEvent } from '../ingest/event-time.js';
import type { StoredLedgerSnapshot } from '../ingest/ledger.js';
import type { BalanceAdapterSnapshot } from '../train/balance-adapter.js';

export interface SavedState {
  /** 1: before the training backlog was saved (restores with an empty backlog). */
  format: 1 | 2;
  balance: BalanceAdapterSnapshot;
  dedup: string[];
  ledger: StoredLedgerSnapshot;
  /** Events applied to the state that the checkpoint's model has not trained (see TrainBacklog). */
  backlog?: InteractionEvent[];
  /** Events consumed (the positions cover them) and held for a slower partition's watermark, not applied yet (stream/event-time.ts). */
  held?: HeldEvent<InteractionEvent>[];
}

const count = z.number().int().min(0);
const counts = z.record(z.string(), count);
const eventSchema: z.ZodType<InteractionEvent> = z.object({
  eventId: z.string(),
  userId: z.string(),
  itemId: z.string(),
  categoryId: z.string(),
  type: z.enum(EVENT_TYPES),
  eventTime: z.number(),
  price: z.number().nullable(),
  sessionId: z.string().nullable(),
  extra: z.record(z.string(), z.string()),
});
const ledgerSchema: z.ZodType<StoredLedgerSnapshot> = z.object({
  positions: z.record(z.string().regex(/^\d+$/), count),
  byCategory: counts,
  byType: counts,
  applied: count,
  duplicates: count,
  late: count,
  lost: count.optional(),
  invalid: count,
});
const balanceSchema = z.custom<BalanceAdapterSnapshot>((v) => typeof v === 'object' && v !== null && 'state' in v && typeof v.state === 'object' && v.state !== null && 'popular' in v, 'a balance snapshot { state, popular }');
const savedStateSchema: z.ZodType<SavedState> = z.object({
  format: z.union([z.literal(1), z.literal(2)]),
  balance: balanceSchema,
  dedup: z.array(z.string()),
  ledger: ledgerSchema,
  backlog: z.array(eventSchema).optional(),
  held: z.array(z.object({ event: eventSchema, partition: count })).optional(),
});

export function encodeSavedState(state: SavedState): Buffer {
  return serialize(state);
}

/** The saved state of a checkpoint file; REB_CHECKPOINT_CORRUPT naming the first problems when it is not one. */
export function decodeSavedState(bytes: Buffer): SavedState {
  let raw: unknown;
  try {
    raw = deserialize(bytes);
  } catch (err) {
    throw new RebalancerError('REB_CHECKPOINT_CORRUPT', `state.bin does not deserialise (${(err as Error).message})`, {}, { cause: err });
  }
  const parsed = savedStateSchema.safeParse(raw);
  if (!parsed.success) {
    throw new RebalancerError('REB_CHECKPOINT_CORRUPT', `state.bin is not a saved state (${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')})`);
  }
  return parsed.data;
}
