import { RebalancerError } from '../errors.js';

/**
 * The running service's fate, as one object: why it died (the consumer, or the pipeline),
 * whether it is stopping, and the `done` promise of its handle, which rejects with the
 * death or resolves after a clean stop.
 */
export class Lifecycle {
  readonly done: Promise<void>;
  private resolveDone: () => void = () => {};
  private rejectDone: (err: Error) => void = () => {};
  private dead: RebalancerError | undefined;
  private stoppingNow = false;

  constructor() {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
  }

  /** Why the service died (REB_KAFKA_CONSUMER_DEAD or REB_PIPELINE_FAILED); undefined while alive. */
  get deadError(): RebalancerError | undefined {
    return this.dead;
  }

  get stopping(): boolean {
    return this.stoppingNow;
  }

  /** The consumer died (kafkajs gave up): `done` rejects with `err`. */
  consumerDead(err: RebalancerError): void {
    this.dead = err;
    this.rejectDone(err);
  }

  /**
   * The pipeline failed: not ready, no final checkpoint, and `done` rejects (with the
   * consumer's death when that came first), so the process exits non-zero and a restart
   * resumes from the last checkpoint: a stalled consumer must not look healthy.
   */
  pipelineFailed(err: unknown): void {
    this.dead ??= new RebalancerError('REB_PIPELINE_FAILED', `the pipeline failed: ${(err as Error).message}`, {}, { cause: err });
    this.rejectDone(this.dead);
  }

  beginStopping(): void {
    this.stoppingNow = true;
  }

  /** At the end of the shutdown: `done` rejects with the death, if any, else resolves. */
  settle(): void {
    if (this.dead) this.rejectDone(this.dead);
    else this.resolveDone();
  }
}
