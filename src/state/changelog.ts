import { createHash, randomBytes } from 'node:crypto';
import type { Admin, IHeaders, Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import { z } from 'zod';
import { RebalancerError } from '../errors.js';
import { ensureStateTopic } from './compacted-topic.js';
import { TopicReader, isEmpty, readTopicOffsets } from './topic-reader.js';

/**
 * The partition changelog: a compacted topic holding, per input partition, the latest state
 * blob its owner wrote, so whichever instance is assigned the partition restores it there.
 *
 * Layout (all records in partition 0 of the topic, so one offset order covers everything):
 *   `p<n>/a/<i>`, `p<n>/b/<i>`  chunk i (at most CHUNK_BYTES) of slot a or b of partition n
 *   `p<n>`                      the head: which slot is current, its chunk count, byte
 *                               length, SHA-256, sequence number, writer and time (JSON)
 * A write goes to the slot the current head does not name (double buffering), chunks first,
 * then the head, each send acknowledged by all in-sync replicas (acks -1) before the next.
 * A crash before the head leaves the old head naming the old, untouched slot: the previous
 * blob stays readable. Chunks of the written slot beyond its new count are tombstoned.
 * Compaction keeps the latest record per key, hence both slots of every partition.
 *
 * A head whose chunks are missing, or whose blob does not hash to the head's SHA-256 (e.g.
 * two instances wrote the same slot at once during a rebalance), is reported (log line and
 * the `corrupt` counter); the previous write, which the head also describes (`prev`) and
 * which lives in the other slot, is restored instead when it is intact. Only when both are
 * unreadable is the partition returned as absent.
 */
export interface ChangelogOptions {
  producer: Producer;
  kafka: Kafka;
  topic: string;
  log(msg: string): void;
  /** Bound on one readLatest, and the broker's acknowledgement timeout of each send. */
  timeoutMs: number;
  instanceId: string;
  /** Wall clock for `writtenAt` (ms); Date.now by default. */
  now?: () => number;
  /** Replication factor when ensureTopic creates the topic; the broker's default when omitted. */
  replicationFactor?: number;
}

export interface ChangelogEntry {
  blob: Buffer;
  seq: number;
  writtenBy: string;
  writtenAt: number;
}

export interface ChangelogStats {
  /** Completed writes (head acknowledged). */
  writes: number;
  /** Bytes of record values sent (chunks and heads). */
  bytesWritten: number;
  /** Records sent (chunks, tombstones, heads). */
  recordsWritten: number;
  reads: number;
  /** Duration of the last readLatest (ms). */
  lastReadMs: number;
  /** Heads whose blob was incomplete or failed its hash, since start. */
  corrupt: number;
}

/** Largest chunk value: kafkajs is slow on large messages (see README, Performance). */
export const CHUNK_BYTES = 64 * 1024;
/** Chunks per send are capped so one record batch stays below the broker's default max.message.bytes (1 MiB). */
const SEND_BYTES = 512 * 1024;

type Slot = 'a' | 'b';

const SlotHead = z.object({
  slot: z.enum(['a', 'b']),
  chunks: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  seq: z.number().int().positive(),
  writtenBy: z.string().min(1),
  writtenAt: z.number().int().nonnegative(),
});
type SlotHead = z.infer<typeof SlotHead>;
/**
 * `prev`: the blob the other slot holds (the previous write), tried when the current one is
 * unreadable: e.g. two instances wrote the same slot at once around a rebalance (the old
 * owner's last write racing the new owner's first), mixing their chunks. Neither touched the
 * other slot, so the previous blob, self-consistent like every blob, is restored instead.
 */
const Head = SlotHead.extend({ v: z.literal(1), prev: SlotHead.optional() });
type Head = z.infer<typeof Head>;

const HEAD_KEY = /^p(\d+)$/;
const CHUNK_KEY = /^p(\d+)\/([ab])\/(\d+)$/;

export function headKey(partition: number): string {
  return `p${partition}`;
}

export function chunkKey(partition: number, slot: Slot, index: number): string {
  return `p${partition}/${slot}/${index}`;
}

/** What this instance knows of a partition's records in the topic. */
interface Known {
  /** null: never written. */
  head: Head | null;
  /** Per slot, one past the highest chunk index with a live (non-tombstone) record. */
  extent: Record<Slot, number>;
}

export class PartitionChangelog {
  private readonly known = new Map<number, Known>();
  private readonly queues = new Map<number, Promise<void>>();
  private readonly now: () => number;
  private readonly counters: ChangelogStats = { writes: 0, bytesWritten: 0, recordsWritten: 0, reads: 0, lastReadMs: 0, corrupt: 0 };

  constructor(private readonly opts: ChangelogOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Creates the topic if missing (compacted, 1 partition); an existing one must compact (REB_CONFIG_INVALID otherwise). */
  async ensureTopic(admin: Admin): Promise<void> {
    await ensureStateTopic(admin, { topic: this.opts.topic, purpose: 'partition changelog', replicationFactor: this.opts.replicationFactor, log: this.opts.log });
  }


  /**
   * Writes the blob for this partition (chunks, then head) and resolves when acknowledged.
   * Writes of one partition run one after the other. When this instance does not know the
   * partition's current head (no readLatest covered it, or forget() dropped it, or the last
   * write failed), the topic is read first, since writing the slot the head names would
   * break crash safety.
   */
  write(partition: number, blob: Buffer): Promise<void> {
    if (!Number.isSafeInteger(partition) || partition < 0) {
      return Promise.reject(new RebalancerError('REB_CONFIG_INVALID', `changelog partition must be a non-negative integer, got ${partition}`));
    }
    const previous = this.queues.get(partition) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(() => this.writeNow(partition, blob));
    this.queues.set(partition, next);
    return next;
  }

  /**
   * Drops what this instance knows of the partitions' heads (call when they are revoked: the
   * next owner writes them, and a later write here must read the head afresh).
   */
  forget(partitions: readonly number[]): void {
    for (const p of partitions) this.known.delete(p);
  }

  /**
   * Reads the topic from its beginning up to its end offsets at call time and returns the
   * latest complete blob per requested partition (absent: never written, or unreadable).
   * Uses a consumer of a unique group per call (see TopicReader for the cost), deleted
   * afterwards; an empty topic returns at once without one. Fails with
   * REB_KAFKA_UNAVAILABLE after timeoutMs.
   */
  async readLatest(partitions: readonly number[]): Promise<Map<number, ChangelogEntry>> {
    const started = performance.now();
    const wanted = new Set(partitions);
    const heads = new Map<number, Buffer | null>();
    const chunks = new Map<string, KafkaMessage>();
    const extents = new Map<number, Record<Slot, number>>();
    let foreign = 0;

    if (wanted.size === 0) return new Map();
    const ends = await readTopicOffsets(this.opts.kafka, this.opts.topic, 'the partition changelog');
    let records = 0;
    if (!isEmpty(ends)) {
      const onMessage = (m: KafkaMessage): void => {
        records++;
        const key = m.key?.toString('utf8') ?? '';
        const head = HEAD_KEY.exec(key);
        if (head) {
          if (wanted.has(Number(head[1]))) heads.set(Number(head[1]), m.value);
          return;
        }
        const chunk = CHUNK_KEY.exec(key);
        if (!chunk) {
          foreign++;
          return;
        }
        const p = Number(chunk[1]);
        const slot: Slot = chunk[2] === 'a' ? 'a' : 'b';
        const index = Number(chunk[3]);
        if (!wanted.has(p)) return;
        const extent = extents.get(p) ?? { a: 0, b: 0 };
        extents.set(p, extent);
        // An upper bound: a tombstoned chunk lowers it only when the slot is rewritten.
        if (m.value !== null) extent[slot] = Math.max(extent[slot], index + 1);
        chunks.set(key, m);
      };
      const reader = await TopicReader.start({
        kafka: this.opts.kafka,
        topic: this.opts.topic,
        groupId: `rebalancer-changelog-read.${this.opts.instanceId}.${randomBytes(6).toString('hex')}`,
        timeoutMs: this.opts.timeoutMs,
        ends,
        onMessage,
        onCrash: () => {},
        deleteGroupOnStop: true,
      });
      await reader.stop();
    }

    const out = new Map<number, ChangelogEntry>();
    for (const p of wanted) {
      // Only the requested partitions' knowledge is refreshed: another may be being written.
      const value = heads.get(p) ?? null;
      const head = value === null ? null : this.parseHead(p, value);
      this.known.set(p, { head, extent: extents.get(p) ?? { a: 0, b: 0 } });
      if (head === null) continue;
      let found: SlotHead = head;
      let blob = this.assemble(p, head, chunks);
      if (blob === undefined && head.prev !== undefined && head.prev.slot !== head.slot) {
        found = head.prev;
        blob = this.assemble(p, head.prev, chunks);
        if (blob !== undefined) this.opts.log(`partition changelog ${this.opts.topic}: partition ${p} restored from its previous write ${found.seq} (by ${found.writtenBy}) instead`);
      }
      if (blob !== undefined) out.set(p, { blob, seq: found.seq, writtenBy: found.writtenBy, writtenAt: found.writtenAt });
    }
    this.counters.reads++;
    this.counters.lastReadMs = performance.now() - started;
    const absent = [...wanted].filter((p) => !out.has(p));
    this.opts.log(`partition changelog ${this.opts.topic}: read ${records} records in ${Math.round(this.counters.lastReadMs)} ms; restored ${out.size} of ${wanted.size} partitions${absent.length > 0 ? ` (none for ${absent.join(', ')})` : ''}${foreign > 0 ? `; ignored ${foreign} records with foreign keys` : ''}`);
    return out;
  }

  stats(): ChangelogStats {
    return { ...this.counters };
  }

  private async writeNow(partition: number, blob: Buffer): Promise<void> {
    if (!this.known.has(partition)) await this.readLatest([partition]);
    const known = this.known.get(partition) ?? { head: null, extent: { a: 0, b: 0 } };
    const slot: Slot = known.head?.slot === 'a' ? 'b' : 'a';
    const prev: SlotHead | undefined = known.head === null ? undefined : { slot: known.head.slot, chunks: known.head.chunks, bytes: known.head.bytes, sha256: known.head.sha256, seq: known.head.seq, writtenBy: known.head.writtenBy, writtenAt: known.head.writtenAt };
    const head: Head = {
      v: 1,
      ...(prev === undefined ? {} : { prev }),
      slot,
      chunks: Math.ceil(blob.length / CHUNK_BYTES),
      bytes: blob.length,
      sha256: createHash('sha256').update(blob).digest('hex'),
      seq: (known.head?.seq ?? 0) + 1,
      writtenBy: this.opts.instanceId,
      writtenAt: this.now(),
    };
    const headers: IHeaders = { seq: String(head.seq) };
    const messages: Message[] = [];
    for (let i = 0; i < head.chunks; i++) {
      messages.push({ key: chunkKey(partition, slot, i), value: blob.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES), partition: 0, headers });
    }
    for (let i = head.chunks; i < known.extent[slot]; i++) messages.push({ key: chunkKey(partition, slot, i), value: null, partition: 0, headers });
    // Until the head is acknowledged this instance no longer knows which slot is current
    // (a send that timed out may still have landed): a failed write forgets it.
    this.known.delete(partition);
    try {
      for (const group of sendGroups(messages)) await this.send(group);
      await this.send([{ key: headKey(partition), value: Buffer.from(JSON.stringify(head)), partition: 0, headers }]);
    } catch (err) {
      throw new RebalancerError('REB_KAFKA_UNAVAILABLE', `writing partition ${partition} to the changelog ${this.opts.topic} failed (the previous state stays readable): ${err instanceof Error ? err.message : String(err)}`, { topic: this.opts.topic, partition }, { cause: err });
    }
    this.known.set(partition, { head, extent: { ...known.extent, [slot]: head.chunks } });
    this.counters.writes++;
  }

  private async send(messages: Message[]): Promise<void> {
    await this.opts.producer.send({ topic: this.opts.topic, acks: -1, timeout: this.opts.timeoutMs, messages });
    this.counters.recordsWritten += messages.length;
    for (const m of messages) if (Buffer.isBuffer(m.value)) this.counters.bytesWritten += m.value.length;
  }

  private parseHead(partition: number, value: Buffer): Head | null {
    let raw: unknown;
    try {
      raw = JSON.parse(value.toString('utf8'));
    } catch {
      raw = undefined;
    }
    const parsed = Head.safeParse(raw);
    if (parsed.success) return parsed.data;
    this.counters.corrupt++;
    this.opts.log(`partition changelog ${this.opts.topic}: the head of partition ${partition} is not valid (${raw === undefined ? 'not JSON' : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}); the partition starts from nothing`);
    return null;
  }

  /** The blob the head names, or undefined (reported) when incomplete or not matching its hash. */
  private assemble(partition: number, head: SlotHead, chunks: ReadonlyMap<string, KafkaMessage>): Buffer | undefined {
    const parts: Buffer[] = [];
    let problem: string | undefined;
    for (let i = 0; i < head.chunks && problem === undefined; i++) {
      const m = chunks.get(chunkKey(partition, head.slot, i));
      const seq = m?.headers?.seq?.toString();
      if (m === undefined || m.value === null) problem = `chunk ${i} of ${head.chunks} is missing`;
      else if (seq !== String(head.seq)) problem = `chunk ${i} is from write ${seq ?? '?'}, the head from write ${head.seq}`;
      else parts.push(m.value);
    }
    const blob = Buffer.concat(parts);
    if (problem === undefined && blob.length !== head.bytes) problem = `${blob.length} bytes, the head says ${head.bytes}`;
    if (problem === undefined && createHash('sha256').update(blob).digest('hex') !== head.sha256) problem = 'its SHA-256 does not match the head';
    if (problem === undefined) return blob;
    this.counters.corrupt++;
    this.opts.log(`partition changelog ${this.opts.topic}: the state of partition ${partition} (write ${head.seq} by ${head.writtenBy}, slot ${head.slot}) is unreadable: ${problem}`);
    return undefined;
  }
}

/** Consecutive runs of messages whose values add up to at most SEND_BYTES (at least one each). */
function* sendGroups(messages: readonly Message[]): Generator<Message[]> {
  let group: Message[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = Buffer.isBuffer(m.value) ? m.value.length : 0;
    if (group.length > 0 && bytes + size > SEND_BYTES) {
      yield group;
      group = [];
      bytes = 0;
    }
    group.push(m);
    bytes += size;
  }
  if (group.length > 0) yield group;
}
