import type { Readiness } from '../http/server.js';
import { ServiceHistory } from './history.js';
import { historySample, type ServiceState } from './state-document.js';

/** What HTTP answers once the service is up. */
export interface LiveAnswers {
  state(): ServiceState;
  readiness(): Readiness;
}

/**
 * What HTTP answers at /state, /readyz and /state/history. Until the service is up they
 * say it is starting, and in which phase; then the live documents, and the history
 * starts sampling /state.
 */
export class ServiceAnswers {
  readonly history: ServiceHistory;
  private phase = 'restoring the latest checkpoint';
  private live: LiveAnswers | undefined;

  constructor(o: { history?: { intervalMs?: number; spanMs?: number } | undefined; now: () => number }) {
    this.history = new ServiceHistory({ ...o.history, now: o.now, read: () => historySample(this.liveState()) });
  }

  /** The start-up phase /state and /readyz name until the service is up. */
  enter(phase: string): void {
    this.phase = phase;
  }

  state(): unknown {
    return this.live === undefined ? { ready: false, starting: this.phase } : this.live.state();
  }

  readiness(): Readiness {
    return this.live === undefined ? { ready: false, reasons: [`starting: ${this.phase}`] } : this.live.readiness();
  }

  /** The /state/history document. */
  historyDocument(): unknown {
    return this.history.document();
  }

  /** The service is up: answer from `live`, and start the history. */
  goLive(live: LiveAnswers): void {
    this.live = live;
    this.history.start();
  }

  private liveState(): ServiceState {
    // The history starts sampling in goLive, after `live` is set.
    if (this.live === undefined) throw new Error('the history samples /state only once the service is up');
    return this.live.state();
  }
}
