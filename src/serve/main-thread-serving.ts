import type { InteractionEvent } from '../codec/index.js';
import type { HttpDeps } from '../http/server.js';
import { listenHttp, type ListenAddress } from './listeners.js';
import { Recommender, type RecommenderOptions, type ServedRecommendation } from './recommender.js';
import type { TriggerGate } from './trigger-gate.js';

export interface MainThreadServingOptions {
  host: string;
  port: number;
  /** A separate address for the admin routes (listeners.ts); absent: every route on host:port. */
  admin?: ListenAddress;
  gate: TriggerGate;
  /** The recommender (its scorer is the live model); null when recommendations are off. */
  recommender: Omit<RecommenderOptions, 'sliceMs' | 'cpuShare'> | null;
  /** Answers /recommendations when `recommender` is null (throws the reason). */
  off(): never;
  http: Omit<HttpDeps, 'recommend'>;
}

/**
 * Serving on the main thread, for inline training (`--trainer-thread false`, tiny
 * deployments) and `--train false`: the HTTP server and the recommender share the event loop
 * with ingestion and training, so a request waits for the step or chunk in progress.
 * Event-triggered recommendations take at most 30% of the thread, in slices of 8 ms.
 */
export class MainThreadServing {
  private constructor(
    private readonly gate: TriggerGate,
    private readonly recommender: Recommender | null,
    private readonly close: () => Promise<void>,
    readonly port: number,
    readonly adminPort: number | null,
  ) {}

  static async start(o: MainThreadServingOptions): Promise<MainThreadServing> {
    const recommender = o.recommender === null ? null : new Recommender({ ...o.recommender, sliceMs: 8, cpuShare: 0.3 });
    const deps: HttpDeps = {
      ...o.http,
      recommend: async (userId, k): Promise<ServedRecommendation> => (recommender === null ? o.off() : recommender.recommend(userId, k, 'http')),
    };
    const http = await listenHttp(deps, { host: o.host, port: o.port }, o.admin);
    recommender?.start();
    return new MainThreadServing(o.gate, recommender, () => http.close(), http.port, http.adminPort);
  }

  get producedCount(): number {
    return this.recommender?.producedCount ?? 0;
  }

  /** Null: serving shares the main thread's heap (the process's own metrics). */
  threadMemory(): null {
    return null;
  }

  tailShare(): number {
    return this.recommender?.tailShare() ?? 0;
  }

  /** Called for every applied event: O(1). */
  onEvent(event: InteractionEvent, now: number): void {
    if (this.recommender !== null && this.gate.decide(event, now) === 'admit') this.recommender.enqueue(event.userId);
  }

  /** Stops event-triggered output (waiting for what was produced). */
  async stopOutput(): Promise<void> {
    await this.recommender?.stop();
  }

  /** Closes the HTTP server. */
  async stop(): Promise<void> {
    await this.stopOutput();
    await this.close();
  }
}
