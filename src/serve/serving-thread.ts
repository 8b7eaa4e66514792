/**
 * The serving thread seen from the main thread (issue #12): starts serving-worker.ts, hands
 * it every published model snapshot (buffers transferred), the candidate list once a second and
 * the users the trigger gate admits; answers its questions (`/metrics`, `/state`,
 * `/readyz`), produces the recommendations it scores to the output topic, and folds its
 * tallies into the service's metrics.
 *
 * Why a thread of its own: on the main thread a request waits behind whatever runs there
 * (a decoded Kafka chunk is tens of ms of synchronous work), so `/recommendations` p99 was
 * ~90 ms while training at full rate. On this thread it waits for at most one slice of
 * event-triggered scoring (`sliceMs`) besides its own scoring.
 */
import type { Worker } from 'node:worker_threads';
import type { InteractionEvent } from '../codec/index.js';
import { RebalancerError, errorFromThread } from '../errors.js';
import type { MetricsText, Readiness } from '../http/server.js';
import type { ThreadMemory } from '../metrics/thread-memory.js';
import { snapshotTransferList, type ModelSnapshot } from '../model/snapshot.js';
import { startModuleWorker } from '../start-worker.js';
import type { CandidateItem } from '../ports/index.js';
import { fromServingSchema, type FromServing, type Question, type ServingInit, type ServingTally } from './protocol.js';
import { OutputQueue } from './output-queue.js';
import { CANDIDATE_TTL_MS } from './recommender.js';
import type { TriggerGate } from './trigger-gate.js';

/** How often admitted triggers are handed to the serving thread, ms. */
const TRIGGER_INTERVAL_MS = 100;

export interface ServingThreadOptions {
  init: ServingInit;
  gate: TriggerGate;
  /** The current candidate list (head items plus reservoir samples) and head categories. */
  candidates(): { items: CandidateItem[]; head: string[] };
  /** The model version recommendations are labelled with. */
  version(): string;
  answer: { metrics(): Promise<MetricsText>; state(): unknown; readiness(): Readiness; history(): unknown };
  /** Produces recommendations to the output topic (resolves when acknowledged). */
  produce(messages: Array<{ key: string; value: Buffer }>): Promise<void>;
  /** The serving thread's tallies, to fold into the service's metrics. */
  onTally(tally: ServingTally): void;
  log(message: string): void;
}

export class ServingThread {
  private readonly worker: Worker;
  private triggered: string[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly output: OutputQueue;
  private tailShareValue = 0;
  private memory: ThreadMemory | null = null;
  private servedSeq = -1;
  private exited = false;
  private exitReason = '';
  private readonly stopped: Promise<void>;
  private stopping = false;
  private boundPort = 0;
  private boundAdminPort: number | null = null;
  private candidatesAt = -Infinity;
  private candidatesEmpty = true;

  private constructor(private readonly o: ServingThreadOptions, onListening: (port: number) => void, onFailed: (err: Error) => void) {
    this.output = new OutputQueue(o.produce, o.log);
    this.worker = startModuleWorker(import.meta.url, 'serving-worker', { workerData: o.init });
    let resolveStopped!: () => void;
    this.stopped = new Promise((r) => (resolveStopped = r));
    this.worker.on('message', (raw: unknown) => {
      const parsed = fromServingSchema.safeParse(raw);
      if (!parsed.success) {
        this.o.log(`serving thread sent a malformed message: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
        return;
      }
      const m = parsed.data;
      if (m.type === 'listening') {
        this.boundPort = m.port;
        this.boundAdminPort = m.adminPort;
        onListening(m.port);
      } else if (m.type === 'failed') {
        const cause = errorFromThread(m.code, m.message, m.stack);
        // listeners.ts names the address that failed (the HTTP or the admin one).
        onFailed(m.code === 'REB_SERVING_FAILED' ? cause : new RebalancerError('REB_SERVING_FAILED', `the HTTP server could not listen on ${o.init.host}:${o.init.port}: ${m.message}`, { host: o.init.host, port: o.init.port }, { cause }));
      }
      else if (m.type === 'stopped') resolveStopped();
      else this.onMessage(m);
    });
    this.worker.on('error', (err) => {
      this.exitReason = err.stack ?? err.message;
      onFailed(new RebalancerError('REB_SERVING_FAILED', `the serving thread failed: ${err.message || err.stack?.split('\n')[0] || String(err)}`, {}, { cause: err }));
    });
    this.worker.on('exit', (code) => {
      this.exited = true;
      resolveStopped();
      if (!this.stopping) {
        this.o.log(`serving thread exited (code ${code}): ${this.exitReason.split('\n')[0] ?? ''}; HTTP is down`);
        onFailed(new RebalancerError('REB_SERVING_FAILED', `the serving thread exited with code ${code} before it listened`));
      }
    });
  }

  /** Starts the serving thread; resolves once its HTTP server listens. */
  static async start(o: ServingThreadOptions): Promise<ServingThread> {
    let thread!: ServingThread;
    await new Promise<void>((resolve, reject) => {
      thread = new ServingThread(o, () => resolve(), reject);
    }).catch(async (err: unknown) => {
      thread.stopping = true;
      await thread.worker.terminate();
      throw err;
    });
    thread.sendCandidates();
    thread.timers.push(setInterval(() => thread.flushTriggers(), TRIGGER_INTERVAL_MS));
    return thread;
  }

  /** The bound HTTP port. */
  get port(): number {
    return this.boundPort;
  }

  /** The bound admin port, or null when every route is on `port`. */
  get adminPort(): number | null {
    return this.boundAdminPort;
  }

  get producedCount(): number {
    return this.output.produced;
  }

  tailShare(): number {
    return this.tailShareValue;
  }

  threadMemory(): ThreadMemory | null {
    return this.memory;
  }

  /** Sequence number of the snapshot the serving thread scores with (−1 before the first). */
  get servedSnapshotSeq(): number {
    return this.servedSeq;
  }

  /** False once the thread has exited without being stopped (HTTP is down). */
  get alive(): boolean {
    return !this.exited;
  }

  /** A snapshot the trainer published: its buffers are transferred (the caller keeps no reference). */
  publish(snapshot: ModelSnapshot): void {
    if (!this.exited) this.worker.postMessage({ type: 'snapshot', snapshot, version: this.o.version() }, snapshotTransferList(snapshot));
  }

  /** Called for every applied event: O(1). */
  onEvent(event: InteractionEvent, now: number): void {
    if (this.stopping) return;
    if (this.o.gate.decide(event, now) === 'admit') this.triggered.push(event.userId);
  }

  /** Stops event-triggered output (flushing what was admitted), the HTTP server and the thread. */
  async stop(): Promise<void> {
    if (this.stopping) return this.stopped;
    this.flushTriggers();
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    if (!this.exited) this.worker.postMessage({ type: 'stop' });
    await this.stopped;
    await this.output.drained();
    await this.worker.terminate();
  }

  /**
   * Hands the admitted users over, after a fresh candidate list when the last one is older
   * than CANDIDATE_TTL_MS or was empty (so the first triggers do not meet an empty list).
   */
  private flushTriggers(): void {
    if (this.exited) return;
    if (performance.now() - this.candidatesAt >= CANDIDATE_TTL_MS || (this.candidatesEmpty && this.triggered.length > 0)) this.sendCandidates();
    if (this.triggered.length === 0) return;
    this.worker.postMessage({ type: 'trigger', users: this.triggered });
    this.triggered = [];
  }

  private sendCandidates(): void {
    if (this.exited) return;
    const { items, head } = this.o.candidates();
    this.candidatesAt = performance.now();
    this.candidatesEmpty = items.length === 0;
    this.worker.postMessage({ type: 'candidates', items, head, version: this.o.version() });
  }

  private onMessage(m: Exclude<FromServing, { type: 'listening' | 'failed' | 'stopped' }>): void {
    switch (m.type) {
      case 'ask':
        void this.answer(m.id, m.question);
        break;
      case 'produce': {
        const messages = m.messages.map((x) => ({ key: x.key, value: Buffer.from(x.value.buffer, x.value.byteOffset, x.value.byteLength) }));
        this.output.push(messages);
        break;
      }
      case 'stats':
        this.tailShareValue = m.tailShare;
        this.servedSeq = m.servedSeq;
        this.memory = m.memory;
        this.o.onTally(m);
        break;
      case 'log':
        this.o.log(m.message);
        break;
    }
  }

  private async answer(id: number, question: Question): Promise<void> {
    let body: unknown;
    try {
      body = question === 'metrics' ? await this.o.answer.metrics() : question === 'state' ? this.o.answer.state() : question === 'history' ? this.o.answer.history() : this.o.answer.readiness();
    } catch (err) {
      body = question === 'readiness' ? { ready: false, reasons: [`readiness failed: ${(err as Error).message}`] } : { error: (err as Error).message };
    }
    if (!this.exited) this.worker.postMessage({ type: 'reply', id, body });
  }
}
