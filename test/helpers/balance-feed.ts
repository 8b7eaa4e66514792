import { Rng } from '../../src/balance/rng.js';
import type { InteractionEvent } from '../../src/codec/index.js';
import type { ServiceConfig } from '../../src/config/index.js';
import { BalanceAdapter, type EventBatch } from '../../src/train/balance-adapter.js';
import { createGenerator } from '../../src/offline/generate.js';

/** Composed batches of the realistic generator through the service's balance adapter (replay on when ρ < 1). */
export class BalanceFeed {
  readonly balance: BalanceAdapter;
  private readonly gen;
  constructor(config: ServiceConfig, seed: number) {
    this.balance = BalanceAdapter.create(config, new Rng(seed));
    this.gen = createGenerator({ profile: 'realistic', seed, events: 1_000_000 });
  }
  readonly prior = (c: string): number => this.balance.prior(c);
  /** The next batch of `size` fresh events the model trains on (every event is observed). */
  next(size: number, trainsOn: (t: InteractionEvent['type']) => boolean = (t) => t !== 'view'): EventBatch {
    const fresh: InteractionEvent[] = [];
    while (fresh.length < size) {
      const e = this.gen.next();
      this.balance.observe(e);
      if (trainsOn(e.type)) fresh.push(e);
    }
    return this.balance.compose(fresh);
  }
}
