/**
 * Reference scorers for backtests: the floor every strategy is compared against, on the
 * same events and candidates. Pure: no I/O, no clock, no globals, no tfjs; every random
 * choice from the injected seeded Rng. Other modules import from here only.
 */
import type { Rng } from '../balance/index.js';
import { OnlineBiasedMf } from './mf.js';
import { resolveReferenceOptions, type ReferenceOptions } from './options.js';
import { DecayedPopularityScorer, PopularityScorer } from './popularity.js';
import type { ReferenceScorer, ReferenceScorerName } from './types.js';

export type { ReferenceEvent, ReferenceScorer, ReferenceScorerName, ScoredItem } from './types.js';
export { DEFAULT_MF_CONFIG, DEFAULT_REFERENCE_CONFIG, resolveReferenceOptions, type MfConfig, type ReferenceConfig, type ReferenceOptions } from './options.js';
export { DecayedPopularityScorer, PopularityScorer } from './popularity.js';
export { OnlineBiasedMf, type MfRow } from './mf.js';

/** The names createReferenceScorers returns, in its order. */
export const REFERENCE_SCORER_NAMES: readonly ReferenceScorerName[] = Object.freeze(['popularity', 'popularity_decayed', 'mf']);

/**
 * All three reference scorers, in the order of REFERENCE_SCORER_NAMES. Options are
 * validated here (REB_CONFIG_INVALID). The MF draws from `rng.fork()`, so a seed reproduces it.
 */
export function createReferenceScorers(options: ReferenceOptions, rng: Rng): ReferenceScorer[] {
  const config = resolveReferenceOptions(options);
  return [new PopularityScorer(config), new DecayedPopularityScorer(config), new OnlineBiasedMf(config, rng.fork())];
}
