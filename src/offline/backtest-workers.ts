/**
 * The backtest's worker threads, seen from the main thread: starts them, broadcasts
 * every chunk to all of them with backpressure (at most `queueDepth` chunks sent and not
 * yet acknowledged per worker; `broadcast` waits for room), and collects their results.
 */
import type { Worker } from 'node:worker_threads';
import { errorFromThread } from '../errors.js';
import { startModuleWorker } from '../start-worker.js';
import { fromWorkerSchema, type EventChunk, type HarnessSettings, type RunnerResult, type StrategySpec, type ToWorker } from './backtest-protocol.js';

/** Starts a worker on backtest-worker (compiled or, under tsx, from source). */
function startWorker(): Worker {
  return startModuleWorker(import.meta.url, 'backtest-worker');
}

interface Member {
  worker: Worker;
  inFlight: number;
  /** Stream position acknowledged so far. */
  done: number;
  results: RunnerResult[] | undefined;
  exited: Promise<void>;
}

export class BacktestWorkers {
  private readonly members: Member[] = [];
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  /** `groups[w]` = the strategies worker w runs. */
  constructor(groups: readonly StrategySpec[][], harness: HarnessSettings, private readonly queueDepth: number, private readonly onProgress: (done: number) => void) {
    for (const group of groups) {
      const worker = startWorker();
      const member: Member = { worker, inFlight: 0, done: 0, results: undefined, exited: Promise.resolve() };
      member.exited = new Promise<void>((resolve) => {
        worker.on('exit', (code) => {
          if (member.results === undefined) this.fail(new Error(`backtest worker exited (code ${code}) before sending its results`));
          resolve();
        });
      });
      worker.on('error', (err) => this.fail(err));
      worker.on('message', (raw: unknown) => this.onMessage(member, raw));
      this.members.push(member);
      const init: ToWorker = { type: 'init', harness, strategies: group };
      worker.postMessage(init);
    }
  }

  private onMessage(member: Member, raw: unknown): void {
    const parsed = fromWorkerSchema.safeParse(raw);
    if (!parsed.success) {
      this.fail(new Error(`unexpected message from a backtest worker: ${parsed.error.message}`));
      return;
    }
    const m = parsed.data;
    switch (m.type) {
      case 'ready':
        break;
      case 'ack':
        member.inFlight--;
        member.done = m.events;
        this.onProgress(Math.min(...this.members.map((x) => x.done)));
        break;
      case 'result':
        member.results = m.results;
        break;
      case 'error':
        this.fail(errorFromThread(m.code, m.message, m.stack));
        return;
    }
    this.notify();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async until(ready: () => boolean): Promise<void> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      if (ready()) return;
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
  }

  /** Sends the chunk to every worker once each has room in its queue. */
  async broadcast(chunk: EventChunk): Promise<void> {
    await this.until(() => this.members.every((m) => m.inFlight < this.queueDepth));
    for (const m of this.members) {
      m.inFlight++;
      m.worker.postMessage(chunk);
    }
  }

  /** Ends the stream at `events` and returns every worker's results, in worker order. */
  async finish(events: number): Promise<RunnerResult[][]> {
    const end: ToWorker = { type: 'end', events };
    for (const m of this.members) m.worker.postMessage(end);
    await this.until(() => this.members.every((m) => m.results !== undefined));
    // Each worker closes its port after its results; terminate makes sure the native backend is gone.
    await this.terminate();
    await Promise.all(this.members.map((m) => m.exited));
    return this.members.map((m) => m.results!);
  }

  /** Stops every worker (after a failure). */
  async terminate(): Promise<void> {
    await Promise.all(this.members.map((m) => m.worker.terminate().catch(() => 0)));
  }
}
