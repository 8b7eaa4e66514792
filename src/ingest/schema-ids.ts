import { Observable, type OperatorFunction } from 'rxjs';
import type { InteractionEvent } from '../codec/index.js';
import { CONFLUENT_HEADER_BYTES, CONFLUENT_MAGIC, type SingleObjectCodec } from '../codec/single-object.js';
import { isRebalancerError } from '../errors.js';
import type { ServiceMetrics } from '../metrics/index.js';
import type { RecordChunk } from './source.js';

/**
 * Confluent-framed events (0x00 + 4-byte schema id) need their writer schema, which the
 * schema registry holds. Before a chunk is decoded, every schema id in it that the codec has
 * not learned is fetched (once: the codec keeps what it learned); meanwhile the chunk WAITS,
 * and so do the later chunks of its partition, in order (other partitions go on). While the
 * registry does not answer, the look-up is retried with capped exponential backoff (the
 * "exponential backoff" of AWS's Architecture Blog, "Exponential Backoff And Jitter", without
 * jitter: one look-up per id in flight, so no herd to spread); the waiting chunks hold their
 * in-flight slots, so the source pauses the consumer as for any slow stage, and no offset is
 * committed past them (positions advance only when a chunk is applied). Nothing is
 * dead-lettered for the registry's sake: only an id the registry does not have, or a schema
 * that cannot be read as the current one, is remembered as failed, and decode dead-letters
 * those events as `unknown_schema`.
 *
 * Without a registry, chunks pass straight on and decode dead-letters Confluent-framed events
 * as `unknown_schema` with a detail that says to set --schema-registry.
 */

/** What the pipeline needs of the registry client (kafka/schema-registry.ts). */
export interface SchemaIdSource {
  readonly url: string;
  learn(codec: SingleObjectCodec<InteractionEvent>, id: number): Promise<void>;
}

export interface SchemaIdGateOptions {
  codec: SingleObjectCodec<InteractionEvent>;
  /** Undefined: no registry configured. */
  registry: SchemaIdSource | undefined;
  metrics: Pick<ServiceMetrics, 'schemaRegistryRequests' | 'schemaRegistryWaiting'>;
  log(msg: string): void;
  now(): number;
  /** First retry delay and its cap, ms (defaults 100 and 2,000). */
  backoffMs?: { initial: number; max: number };
}

/** Ids whose failure is remembered (the oldest forgotten first). */
const MAX_FAILED_IDS = 1024;

export interface RegistryOutage {
  /** When the current run of failed look-ups began. */
  readonly since: number;
  readonly schemaId: number;
  readonly error: string;
}

export class SchemaIdGate {
  readonly codec: SingleObjectCodec<InteractionEvent>;
  readonly registry: SchemaIdSource | undefined;
  private readonly metrics: SchemaIdGateOptions['metrics'];
  readonly log: (msg: string) => void;
  private readonly now: () => number;
  private readonly initialMs: number;
  private readonly maxMs: number;
  /** Ids the registry does not have (or whose schema cannot be read), with the sentence why. */
  private readonly failed = new Map<number, string>();
  private outageNow: RegistryOutage | undefined;
  /** Look-ups in flight by id. */
  private readonly inFlight = new Map<number, Promise<boolean>>();
  private waitingNow = 0;

  constructor(options: SchemaIdGateOptions) {
    this.codec = options.codec;
    this.registry = options.registry;
    this.metrics = options.metrics;
    this.log = options.log;
    this.now = options.now;
    this.initialMs = options.backoffMs?.initial ?? 100;
    this.maxMs = options.backoffMs?.max ?? 2_000;
  }

  /** Events waiting for a schema id now. */
  get waiting(): number {
    return this.waitingNow;
  }

  /** Set while events wait and the last look-up got no answer from the registry. */
  get outage(): RegistryOutage | undefined {
    return this.waitingNow > 0 ? this.outageNow : undefined;
  }

  /**
   * Why an event with this Confluent schema id cannot be decoded (the codec has not learned
   * it): the registry's answer when it has no such id, else that no registry is configured.
   */
  whyUnknown(id: number): string {
    const failed = this.failed.get(id);
    if (failed !== undefined) return failed;
    if (this.registry === undefined) return `Confluent schema id ${id}: no schema registry is configured; set --schema-registry (REBALANCER_SCHEMA_REGISTRY) to read events in the Confluent wire format`;
    return `Confluent schema id ${id} is not known to the codec after the look-up in ${this.registry.url}`;
  }

  /** Schema ids of the chunk's Confluent-framed events that must be looked up first (none without a registry). */
  missingIds(chunk: RecordChunk): number[] {
    if (this.registry === undefined) return [];
    let out: number[] | undefined;
    for (const m of chunk.messages) {
      const v = m.value;
      if (v === null || v.length < CONFLUENT_HEADER_BYTES || v[0] !== CONFLUENT_MAGIC) continue;
      const id = v.readUInt32BE(1);
      if (this.codec.knowsSchemaId(id) || this.failed.has(id)) continue;
      out ??= [];
      if (!out.includes(id)) out.push(id);
    }
    return out ?? [];
  }

  /** Counts events that wait (or stop waiting). */
  addWaiting(n: number): void {
    this.waitingNow += n;
    this.metrics.schemaRegistryWaiting.set(this.waitingNow);
  }

  /**
   * Looks `id` up until the registry answers: learned (true), or failed for good (true, the
   * id is remembered as failed); false when `giveUp()` turns true while the registry does not
   * answer (shutdown: the events are left for the next start).
   */
  async lookUp(id: number, giveUp: () => boolean, sleep: (ms: number) => Promise<void>): Promise<boolean> {
    let delay = this.initialMs;
    for (;;) {
      if (this.codec.knowsSchemaId(id) || this.failed.has(id)) return true;
      // Shutting down: no new request (each could take --registry-timeout-ms).
      if (giveUp()) return false;
      if (await this.attempt(id)) return true;
      if (giveUp()) return false;
      await sleep(delay);
      if (giveUp()) return false;
      delay = Math.min(this.maxMs, delay * 2);
    }
  }

  /**
   * One look-up of `id`, shared by every partition waiting for it (so each request is
   * counted once): true when the registry answered (learned, or failed for good).
   */
  private attempt(id: number): Promise<boolean> {
    const pending = this.inFlight.get(id);
    if (pending !== undefined) return pending;
    const p = this.ask(id).finally(() => this.inFlight.delete(id));
    this.inFlight.set(id, p);
    return p;
  }

  private async ask(id: number): Promise<boolean> {
    const registry = this.registry;
    if (registry === undefined) return true;
    try {
      await registry.learn(this.codec, id);
      this.metrics.schemaRegistryRequests.ok.inc();
      this.answered();
      return true;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (isRebalancerError(err, 'REB_DECODE_UNKNOWN_SCHEMA')) {
        this.metrics.schemaRegistryRequests.unknownId.inc();
        this.remember(id, message);
        this.answered();
        return true;
      }
      // No answer, a timeout, a 5xx, or a refusal (REB_REGISTRY_REJECTED: e.g. 401): the
      // events wait; nothing is dead-lettered for the registry's sake.
      this.metrics.schemaRegistryRequests.unavailable.inc();
      if (this.outageNow === undefined) this.log(`schema registry: looking up schema id ${id} failed, ${this.waitingNow} events wait (retrying with backoff up to ${this.maxMs} ms): ${message}`);
      this.outageNow = { since: this.outageNow?.since ?? this.now(), schemaId: id, error: message };
      return false;
    }
  }

  private answered(): void {
    if (this.outageNow !== undefined) this.log(`schema registry answers again after ${((this.now() - this.outageNow.since) / 1000).toFixed(1)} s`);
    this.outageNow = undefined;
  }

  private remember(id: number, why: string): void {
    this.failed.delete(id);
    this.failed.set(id, why);
    if (this.failed.size > MAX_FAILED_IDS) this.failed.delete(this.failed.keys().next().value!);
  }
}

/**
 * The gate as an operator: passes a chunk on at once when it needs no look-up and its
 * partition has none waiting; else queues it behind its partition's waiting chunks and
 * passes them on, in order, as their ids are learned. At the end of the stream it waits for
 * the look-ups that get answers; chunks still waiting on a registry that does not answer are
 * left (their offsets are not committed, so the next start reads them again).
 */
export function awaitSchemaIds(gate: SchemaIdGate): OperatorFunction<RecordChunk, RecordChunk> {
  return (source) =>
    new Observable<RecordChunk>((subscriber) => {
      const queues = new Map<number, RecordChunk[]>();
      let completing = false;
      const sleepers = new Set<() => void>();
      const sleep = (ms: number): Promise<void> =>
        new Promise((resolve) => {
          const wake = (): void => {
            clearTimeout(timer);
            sleepers.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, ms);
          sleepers.add(wake);
        });
      const wakeAll = (): void => {
        for (const wake of [...sleepers]) wake();
      };
      const giveUp = (): boolean => completing || subscriber.closed;
      const finishIfDone = (): void => {
        if (completing && queues.size === 0 && !subscriber.closed) subscriber.complete();
      };
      const drain = async (partition: number, queue: RecordChunk[]): Promise<void> => {
        while (queue.length > 0 && !subscriber.closed) {
          const head = queue[0]!;
          let ok = true;
          for (const id of gate.missingIds(head)) {
            ok = await gate.lookUp(id, giveUp, sleep);
            if (!ok) break;
          }
          if (!ok || subscriber.closed) break;
          queue.shift();
          gate.addWaiting(-head.messages.length);
          subscriber.next(head);
        }
        if (queue.length > 0) {
          const left = queue.reduce((n, c) => n + c.messages.length, 0);
          gate.addWaiting(-left);
          if (!subscriber.closed) gate.log(`${left} events of partition ${partition} still wait for a schema id (the registry does not answer): left for the next start (no offset committed past them)`);
        }
        queues.delete(partition);
        finishIfDone();
      };
      const subscription = source.subscribe({
        next(chunk) {
          const queue = queues.get(chunk.partition);
          if (queue !== undefined) {
            queue.push(chunk);
            gate.addWaiting(chunk.messages.length);
            return;
          }
          if (gate.missingIds(chunk).length === 0) {
            subscriber.next(chunk);
            return;
          }
          const fresh = [chunk];
          queues.set(chunk.partition, fresh);
          gate.addWaiting(chunk.messages.length);
          drain(chunk.partition, fresh).catch((err: unknown) => subscriber.error(err));
        },
        error(err) {
          wakeAll();
          subscriber.error(err);
        },
        complete() {
          completing = true;
          wakeAll();
          finishIfDone();
        },
      });
      return () => {
        wakeAll();
        // Running drains see the subscriber closed, stop, and take their events off the waiting count.
        subscription.unsubscribe();
      };
    });
}
