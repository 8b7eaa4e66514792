/**
 * The range flags of the verbs that read a slice of recorded events (`replay`, `backtest`):
 * --from-offset, --to-offset, --from-time, --to-time, parsed into the sources' Range.
 */
import type { Range } from '../adapters/sources.js';
import { intFlag, timeFlag } from './flags.js';

/** The parsed options, as commander names them. */
export interface RangeFlags {
  fromOffset?: string;
  toOffset?: string;
  fromTime?: string;
  toTime?: string;
}

/** The range the flags ask for (a flag not given leaves its bound open); a bad value is REB_INPUT_INVALID naming the flag. */
export function rangeFromFlags(flags: RangeFlags): Range {
  const range: Range = {};
  if (flags.fromOffset !== undefined) range.fromOffset = intFlag('from-offset', flags.fromOffset, 0, Number.MAX_SAFE_INTEGER);
  if (flags.toOffset !== undefined) range.toOffset = intFlag('to-offset', flags.toOffset, 0, Number.MAX_SAFE_INTEGER);
  if (flags.fromTime !== undefined) range.fromTime = timeFlag('from-time', flags.fromTime);
  if (flags.toTime !== undefined) range.toTime = timeFlag('to-time', flags.toTime);
  return range;
}
