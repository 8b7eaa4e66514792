/**
 * The contract between the backtest harness and its reference scorers. A scorer sees the
 * stream prequentially: the harness first asks it to score an event's candidates, then
 * lets it learn from the event, so a score never uses the event it is judged on.
 */
import type { EventType } from '../codec/types.js';

/** A candidate item to be scored. */
export interface ScoredItem {
  readonly itemId: string;
  readonly categoryId: string;
}

/** The fields of an interaction a reference scorer learns from (an InteractionEvent fits). */
export interface ReferenceEvent {
  readonly userId: string;
  readonly itemId: string;
  readonly categoryId: string;
  readonly type: EventType;
  readonly eventTime: number;
}

/** The names of the scorers createReferenceScorers builds. */
export type ReferenceScorerName = 'popularity' | 'popularity_decayed' | 'mf';

export interface ReferenceScorer {
  /** 'popularity' | 'popularity_decayed' | 'mf' for the built-in ones (ReferenceScorerName). */
  readonly name: string;
  /** One line, for tables and --help. */
  readonly description: string;
  /** Learns from one event, in stream order, after it was evaluated (prequential). Events whose label weight is 0 (views) are ignored. */
  observe(e: ReferenceEvent): void;
  /** Writes a score per candidate into out[0..items.length) (higher = ranked first). Must not change state. */
  score(userId: string, items: readonly ScoredItem[], out: Float64Array): void;
}
