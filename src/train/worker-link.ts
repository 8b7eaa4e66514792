/**
 * One trainer worker seen from the main thread: starts it, matches its replies to requests,
 * validates everything it sends, and turns its death into REB_TRAINER_DIED for every
 * request in flight. Policy (restarts, retries, recycling) is trainer-thread.ts's.
 */
import type { Worker } from 'node:worker_threads';
import { RebalancerError, errorFromThread } from '../errors.js';
import type { ModelSnapshot } from '../model/snapshot.js';
import { startModuleWorker } from '../start-worker.js';
import type { BlendReport, ModelChanges } from './model-sync.js';
import { fromWorkerSchema, type FromWorker, type HandOverState, type InitMessage, type ReadyMessage, type SyncApplyMessage, type ToWorker, type TrainMessage, type TrainedMessage } from './protocol.js';

/**
 * The trainer thread's nice value: training takes whatever CPU the ingest and serving
 * threads leave (it is the bulk of the work and tolerates delay; a request does not).
 */
const TRAINER_NICENESS = 10;

/** What a link reports to its owner. */
export interface LinkEvents {
  /** `first`: the worker's first snapshot (published when it started). */
  onSnapshot(link: WorkerLink, snapshot: ModelSnapshot, publishMs: number, first: boolean): void;
  /** The worker exited (or broke the protocol) while it was not being retired. */
  onDeath(link: WorkerLink, reason: string): void;
}

interface Pending {
  resolve: (m: FromWorker) => void;
  reject: (e: Error) => void;
}

/** A promise with its settle functions. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Callers may never await some of these (a link that dies before anyone asks).
  promise.catch(() => {});
  return { promise, resolve, reject };
}

export class WorkerLink {
  /** Resolves with the worker's ready message; rejects if it fails to start. */
  readonly ready: Promise<ReadyMessage>;
  /** Resolves with the first snapshot the worker publishes. */
  readonly firstSnapshot: Promise<ModelSnapshot>;
  private readonly worker: Worker;
  private readonly readyWait = deferred<ReadyMessage>();
  private readonly snapshotWait = deferred<ModelSnapshot>();
  private readonly pending = new Map<number, Pending>();
  private nextCall = 1;
  private death: RebalancerError | null = null;
  private retiring = false;
  private lastError = '';
  private readonly exitWait = deferred<void>();
  private snapshots = 0;

  /** `purpose` says why the worker was started (reported with its first snapshot). */
  constructor(init: InitMessage, private readonly events: LinkEvents, readonly purpose: 'start' | 'recycle' | 'restart') {
    this.ready = this.readyWait.promise;
    this.firstSnapshot = this.snapshotWait.promise;
    this.worker = startModuleWorker(import.meta.url, 'worker', { niceness: TRAINER_NICENESS });
    this.worker.on('message', (raw: unknown) => this.onMessage(raw));
    this.worker.on('error', (err) => {
      this.lastError = err.stack ?? err.message;
    });
    this.worker.on('exit', (code) => this.onExit(code));
    // The init is copied, not transferred: a hand-over state stays with the caller (it is
    // the base a later restart starts from).
    this.worker.postMessage(init);
  }

  /** True until the worker died or was retired. */
  get alive(): boolean {
    return this.death === null && !this.retiring;
  }

  async train(m: TrainMessage): Promise<TrainedMessage> {
    const r = await this.request({ ...m, call: this.nextCall++ });
    if (r.type !== 'trained') throw this.unexpected(r.type, 'trained');
    return r;
  }

  async save(dir: string, version: string): Promise<{ version: string; path: string }> {
    const r = await this.request({ type: 'save', call: this.nextCall++, dir, version });
    if (r.type !== 'saved') throw this.unexpected(r.type, 'saved');
    return r;
  }

  /** The whole trainer state; `final`: the worker publishes no more snapshots (it is being replaced). */
  async exportState(final: boolean): Promise<{ state: HandOverState; nextSeq: number }> {
    const r = await this.request({ type: 'export', call: this.nextCall++, final });
    if (r.type !== 'exported') throw this.unexpected(r.type, 'exported');
    return r;
  }

  /** Model sync: the rows (and with `dense` the dense weights) trained since the last export. */
  async syncExport(dense: boolean): Promise<ModelChanges> {
    const r = await this.request({ type: 'sync-export', call: this.nextCall++, dense });
    if (r.type !== 'sync-exported') throw this.unexpected(r.type, 'sync-exported');
    return r.changes;
  }

  /** Model sync: blends another replica's changes between steps. */
  async syncApply(m: SyncApplyMessage): Promise<BlendReport> {
    const r = await this.request({ ...m, call: this.nextCall++ });
    if (r.type !== 'sync-applied') throw this.unexpected(r.type, 'sync-applied');
    return r.report;
  }

  /** Asks for a snapshot now. */
  publish(): void {
    if (this.alive) this.worker.postMessage({ type: 'publish' } satisfies ToWorker);
  }

  /** Test hook: the worker exits abruptly. */
  crash(): void {
    if (this.alive) this.worker.postMessage({ type: 'crash' } satisfies ToWorker);
  }

  /** Resolves when the worker has exited. */
  get exited(): Promise<void> {
    return this.exitWait.promise;
  }

  /** Stops the worker on purpose (not a death). */
  async retire(): Promise<void> {
    this.retiring = true;
    await this.worker.terminate();
  }

  private request(m: ToWorker & { call: number }): Promise<FromWorker> {
    if (this.death !== null) return Promise.reject(this.death);
    if (this.retiring) return Promise.reject(new RebalancerError('REB_TRAINER_DIED', 'the trainer worker has been stopped'));
    return new Promise<FromWorker>((resolve, reject) => {
      this.pending.set(m.call, { resolve, reject });
      this.worker.postMessage(m);
    });
  }

  private unexpected(got: string, expected: string): RebalancerError {
    return new RebalancerError('REB_MODEL_INVALID', `the trainer worker answered ${got} where ${expected} was expected`);
  }

  private onMessage(raw: unknown): void {
    const parsed = fromWorkerSchema.safeParse(raw);
    if (!parsed.success) {
      this.die(`it sent an invalid message: ${parsed.error.message}`);
      void this.worker.terminate();
      return;
    }
    const m = parsed.data;
    switch (m.type) {
      case 'ready':
        this.readyWait.resolve(m);
        return;
      case 'snapshot':
        this.snapshotWait.resolve(m.snapshot);
        if (this.alive) this.events.onSnapshot(this, m.snapshot, m.publishMs, this.snapshots === 0);
        this.snapshots++;
        return;
      case 'failed': {
        const err = errorFromThread(m.code, m.message, m.stack);
        if (m.call === null) {
          // Init failed (or a message could not be handled at all): the worker is unusable.
          this.readyWait.reject(err);
          this.die(`it failed: ${m.message}`);
          void this.worker.terminate();
          return;
        }
        this.settle(m.call, (p) => p.reject(err));
        return;
      }
      default:
        this.settle(m.call, (p) => p.resolve(m));
    }
  }

  private settle(call: number, fn: (p: Pending) => void): void {
    const p = this.pending.get(call);
    if (p === undefined) return;
    this.pending.delete(call);
    fn(p);
  }

  private onExit(code: number): void {
    const reason = this.retiring ? 'stopped' : `exited with code ${code}${this.lastError ? `: ${this.lastError}` : ''}`;
    this.die(reason);
    this.exitWait.resolve();
  }

  private die(reason: string): void {
    if (this.death !== null) return;
    this.death = new RebalancerError('REB_TRAINER_DIED', `the trainer worker ${reason}`, { reason });
    for (const p of this.pending.values()) p.reject(this.death);
    this.pending.clear();
    this.readyWait.reject(this.death);
    this.snapshotWait.reject(this.death);
    if (!this.retiring) this.events.onDeath(this, reason);
  }
}
