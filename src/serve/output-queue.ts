/** An encoded recommendation for the output topic, keyed by user. */
export interface OutputMessage {
  key: string;
  value: Buffer;
}

/**
 * Event-triggered recommendations on their way to the output topic: batches sent one after
 * another, the acknowledged ones counted. Recommendations are ephemeral: a failed batch is
 * logged, not retried (the next trigger recomputes).
 */
export class OutputQueue {
  private chain: Promise<void> = Promise.resolve();
  private count = 0;

  constructor(
    private readonly send: (messages: OutputMessage[]) => Promise<void>,
    private readonly log: (msg: string) => void,
  ) {}

  /** Recommendations acknowledged so far. */
  get produced(): number {
    return this.count;
  }

  push(messages: OutputMessage[]): void {
    this.chain = this.chain.then(async () => {
      try {
        await this.send(messages);
        this.count += messages.length;
      } catch (err) {
        this.log(`producing ${messages.length} recommendations failed: ${(err as Error).message}`);
      }
    });
  }

  /** Resolves once every batch pushed so far is acknowledged or failed. */
  drained(): Promise<void> {
    return this.chain;
  }
}
