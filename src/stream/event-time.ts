/**
 * Plausibility of an event's time relative to the stream (`--max-future-skew-ms`).
 *
 * The codec only checks that an event time is real (1970-01-01 to 2100-01-01). Whether
 * it is plausible depends on the stream: the window's watermark is the newest event time
 * applied, and one event dated far ahead of it would move the watermark there, evict the
 * whole window and make every following on-time event late. So an event more than
 * `maxFutureSkewMs` ahead of the watermark is rejected (dead-lettered as
 * `future_timestamp`). Events far *behind* the watermark are not judged here: the window
 * counts them as late (`--window-lateness-ms`).
 *
 * A stream can also jump ahead for real (a quiet night, a producer restarted with a later
 * start, the gaps of a sparse historical log). A rule on the watermark alone would then
 * reject every later event for ever, since nothing would move the watermark again. So a
 * jump is believed once JUMP_CONFIRMATIONS consecutive events are all too far ahead: the
 * last of them is admitted and moves the watermark. A lone bad clock interleaved with
 * on-time events never gets that far; a real jump costs its first JUMP_CONFIRMATIONS − 1
 * events (dead-lettered with their original bytes, so they can be re-sent). The decision
 * depends only on the order of events, never on the wall clock, so replays decide alike.
 */

/** Consecutive too-far-ahead events after which the stream is taken to have jumped ahead. */
export const JUMP_CONFIRMATIONS = 8;

/**
 * True when `eventTime` is more than `maxFutureSkewMs` ahead of `watermark`. Before the
 * first event (watermark −Infinity) nothing is ahead; `maxFutureSkewMs` 0 disables the check.
 */
export function isTooFarAhead(eventTime: number, watermark: number, maxFutureSkewMs: number): boolean {
  return maxFutureSkewMs > 0 && watermark !== -Infinity && eventTime - watermark > maxFutureSkewMs;
}

/**
 * The stateful decision: isTooFarAhead plus the jump confirmation. One per pipeline; O(1)
 * per event, no allocation. The run of consecutive too-far-ahead events is not
 * checkpointed: after a restart a jump in progress needs its confirmations again.
 */
export class FutureSkewGuard {
  private run = 0;

  constructor(
    readonly maxFutureSkewMs: number,
    readonly confirmations: number = JUMP_CONFIRMATIONS,
  ) {}

  /** True when the event may be applied; false when it is rejected as too far ahead of `watermark`. */
  admit(eventTime: number, watermark: number): boolean {
    if (!isTooFarAhead(eventTime, watermark, this.maxFutureSkewMs)) {
      this.run = 0;
      return true;
    }
    if (++this.run >= this.confirmations) {
      this.run = 0;
      return true;
    }
    return false;
  }
}
