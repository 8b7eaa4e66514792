/**
 * How a topic reader waits for its consumer: the consumer's `eachBatch` runs on kafkajs's
 * schedule while the reader loops elsewhere, so the reader sleeps until the next batch
 * (notify), or until the consumer fails (fail: the failure sticks, and the reader throws it).
 * One waiter at a time. Used by the tools' topic source (src/adapters/sources.ts) and the
 * state topics' reader (src/state/topic-reader.ts).
 */
export class BatchSignal {
  private waiter: ((woken: boolean) => void) | undefined;
  private failed: Error | undefined;

  /** The consumer's failure, once there is one. */
  get failure(): Error | undefined {
    return this.failed;
  }

  /** Resolves true at the next notify() or fail(); with `timeoutMs`, false when that elapses first. */
  wait(timeoutMs?: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
        this.waiter = undefined;
        resolve(false);
      }, timeoutMs);
      this.waiter = (woken) => {
        clearTimeout(timer);
        resolve(woken);
      };
    });
  }

  /** Wakes the waiter, if any. */
  notify(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.(true);
  }

  /** Records the failure (the first one stays) and wakes the waiter. */
  fail(err: Error): void {
    this.failed ??= err;
    this.notify();
  }
}
