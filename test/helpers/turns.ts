/**
 * Letting the event loop turn, for tests that drive code with mocked timers: setImmediate is
 * left real by `mock.timers.enable({ apis: ['setTimeout'] })` and the like, so these move
 * pending promise continuations and I/O callbacks along without advancing the mocked clock.
 */
import assert from 'node:assert/strict';

/** Lets every pending promise continuation and I/O callback run, `rounds` turns of the loop. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Waits, one turn of the loop at a time, until `test` holds; fails after 5 s of real time. */
export async function until(what: string, test: () => boolean): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (!test()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise<void>((r) => setImmediate(r));
  }
}
