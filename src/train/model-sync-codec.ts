/**
 * Model-sync updates on the wire: the changes (model-sync.ts) as one binary body, cut into
 * chunks of at most `maxChunkBytes` (kafkajs 2.2 takes superlinear time to send a large
 * message: ~1 s at 100 KB), each chunk carrying the sender's instance id, the update's
 * sequence number and its place among the update's chunks; and the reassembly on the
 * receiving side.
 *
 * Layouts (little-endian; typed arrays are copied byte for byte, so the host must be
 * little-endian, as every platform Node ships for is; checked once):
 *
 *   body   u32 'RMS1' · u8 kind (0 values, 1 deltas) · u32 width · 3 × (u32 n · i32[n] rows · f32[n] counts · f32[n·width] values)
 *          · u32 p · i32[p] users · i32[p] items · i32[p] categories · f32[p] ages · u8 hasDense · [f64 denseSamples · u32 arrays · arrays × (u32 len · f32[len])]
 *   chunk  u32 'RMC1' · u16 idBytes · utf-8 id · u32 seq · f64 createdAt · u32 index · u32 count
 *          · u32 bodyBytes · the body's bytes [index·part, …)
 *
 * Anything malformed is REB_DECODE_INVALID (the receiver logs and skips it).
 */
import { RebalancerError } from '../errors.js';
import { modelChangesSchema, type ModelChanges, type PositiveBlock, type RowBlock } from './model-sync.js';

/** A blended update as received: who sent it, which of theirs it is, when it was made (sender's clock, ms). */
export interface ModelUpdate {
  instanceId: string;
  seq: number;
  createdAt: number;
  changes: ModelChanges;
}

/** 64 KiB: the largest chunk (header included). */
export const MAX_CHUNK_BYTES = 64 * 1024;

const BODY_MAGIC = 0x31534d52; // 'RMS1'
const CHUNK_MAGIC = 0x31434d52; // 'RMC1'
const MAX_ID_BYTES = 255;

if (new Uint8Array(Uint32Array.of(1).buffer)[0] !== 1) throw new Error('model-sync-codec assumes a little-endian host');

function invalid(message: string): never {
  throw new RebalancerError('REB_DECODE_INVALID', `model update: ${message}`);
}

function bytesOf(a: Int32Array | Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The changes as one binary body. */
export function encodeChanges(c: ModelChanges): Uint8Array {
  let size = 9;
  for (const b of c.tables) size += 4 + b.rows.byteLength + b.counts.byteLength + b.values.byteLength;
  const p = c.positives;
  size += 4 + p.users.byteLength + p.items.byteLength + p.categories.byteLength + p.ages.byteLength;
  size += 1;
  if (c.dense !== null) {
    size += 12;
    for (const d of c.dense) size += 4 + d.byteLength;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  const u32 = (v: number): void => {
    view.setUint32(at, v, true);
    at += 4;
  };
  const raw = (a: Int32Array | Float32Array): void => {
    out.set(bytesOf(a), at);
    at += a.byteLength;
  };
  u32(BODY_MAGIC);
  view.setUint8(at++, c.kind === 'values' ? 0 : 1);
  u32(c.width);
  for (const b of c.tables) {
    u32(b.rows.length);
    raw(b.rows);
    raw(b.counts);
    raw(b.values);
  }
  u32(p.users.length);
  for (const a of [p.users, p.items, p.categories, p.ages]) raw(a);
  view.setUint8(at++, c.dense === null ? 0 : 1);
  if (c.dense !== null) {
    view.setFloat64(at, c.denseSamples, true);
    at += 8;
    u32(c.dense.length);
    for (const d of c.dense) {
      u32(d.length);
      raw(d);
    }
  }
  return out;
}

/** Reads a body back; REB_DECODE_INVALID when it is malformed. */
export function decodeChanges(body: Uint8Array): ModelChanges {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let at = 0;
  const need = (n: number, what: string): void => {
    if (at + n > body.byteLength) invalid(`truncated: ${what} at byte ${at} needs ${n} bytes, ${body.byteLength - at} left`);
  };
  const u32 = (what: string): number => {
    need(4, what);
    const v = view.getUint32(at, true);
    at += 4;
    return v;
  };
  const array = <T extends Int32Array | Float32Array>(n: number, what: string, make: (b: ArrayBuffer) => T): T => {
    need(4 * n, what);
    // slice() copies into a fresh, aligned buffer.
    const a = make(body.slice(at, at + 4 * n).buffer);
    at += 4 * n;
    return a;
  };
  if (u32('magic') !== BODY_MAGIC) invalid('not a model-sync body (bad magic)');
  need(1, 'kind');
  const kindByte = view.getUint8(at++);
  if (kindByte > 1) invalid(`kind ${kindByte}`);
  const kind = kindByte === 0 ? 'values' : 'deltas';
  const width = u32('width');
  const block = (name: string): RowBlock => {
    const n = u32(`${name} row count`);
    const rows = array(n, `${name} rows`, (b) => new Int32Array(b));
    const counts = array(n, `${name} counts`, (b) => new Float32Array(b));
    if (width > 0 && n > (body.byteLength - at) / (4 * width)) invalid(`truncated: ${name} values`);
    const values = array(n * width, `${name} values`, (b) => new Float32Array(b));
    return { rows, counts, values };
  };
  const tables: [RowBlock, RowBlock, RowBlock] = [block('users'), block('items'), block('categories')];
  const p = u32('positive count');
  const positives: PositiveBlock = {
    users: array(p, 'positive users', (b) => new Int32Array(b)),
    items: array(p, 'positive items', (b) => new Int32Array(b)),
    categories: array(p, 'positive categories', (b) => new Int32Array(b)),
    ages: array(p, 'positive ages', (b) => new Float32Array(b)),
  };
  need(1, 'dense flag');
  const flag = view.getUint8(at++);
  let dense: Float32Array[] | null = null;
  let denseSamples = 0;
  if (flag === 1) {
    need(8, 'dense samples');
    denseSamples = view.getFloat64(at, true);
    at += 8;
    const arrays = u32('dense array count');
    if (arrays > 1024) invalid(`${arrays} dense arrays`);
    dense = [];
    for (let i = 0; i < arrays; i++) dense.push(array(u32(`dense array ${i} length`), `dense array ${i}`, (b) => new Float32Array(b)));
  } else if (flag !== 0) {
    invalid(`dense flag ${flag}`);
  }
  if (at !== body.byteLength) invalid(`${body.byteLength - at} trailing bytes`);
  const parsed = modelChangesSchema.safeParse({ kind, width, tables, positives, dense, denseSamples });
  if (!parsed.success) invalid(parsed.error.issues.map((i) => i.message).join('; '));
  return parsed.data;
}

interface ChunkHeader {
  instanceId: string;
  seq: number;
  createdAt: number;
  index: number;
  count: number;
  bodyBytes: number;
  /** Offset of the body part in the chunk. */
  partAt: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Header bytes of a chunk from this instance id. */
function headerBytes(idBytes: number): number {
  return 4 + 2 + idBytes + 4 + 8 + 4 + 4 + 4;
}

/** Cuts an update into chunks of at most `maxChunkBytes` each (header included). */
export function chunkUpdate(u: { instanceId: string; seq: number; createdAt: number }, body: Uint8Array, maxChunkBytes = MAX_CHUNK_BYTES): Uint8Array[] {
  const id = encoder.encode(u.instanceId);
  if (id.length === 0 || id.length > MAX_ID_BYTES) throw new RebalancerError('REB_CONFIG_INVALID', `model-sync instance id must be 1–${MAX_ID_BYTES} bytes of UTF-8, got ${id.length}`, { instanceId: u.instanceId });
  const head = headerBytes(id.length);
  const part = maxChunkBytes - head;
  if (part < 1) throw new RebalancerError('REB_CONFIG_INVALID', `model-sync chunks of ${maxChunkBytes} bytes leave no room after the ${head}-byte header`);
  const count = Math.max(1, Math.ceil(body.byteLength / part));
  const chunks: Uint8Array[] = [];
  for (let index = 0; index < count; index++) {
    const slice = body.subarray(index * part, Math.min(body.byteLength, (index + 1) * part));
    const out = new Uint8Array(head + slice.byteLength);
    const view = new DataView(out.buffer);
    let at = 0;
    view.setUint32(at, CHUNK_MAGIC, true);
    view.setUint16((at += 4), id.length, true);
    out.set(id, (at += 2));
    view.setUint32((at += id.length), u.seq >>> 0, true);
    view.setFloat64((at += 4), u.createdAt, true);
    view.setUint32((at += 8), index, true);
    view.setUint32((at += 4), count, true);
    view.setUint32((at += 4), body.byteLength, true);
    out.set(slice, at + 4);
    chunks.push(out);
  }
  return chunks;
}

/** The sender's instance id of a chunk (cheap: to skip one's own before reassembly); REB_DECODE_INVALID when malformed. */
export function chunkSender(chunk: Uint8Array): string {
  return readHeader(chunk).instanceId;
}

function readHeader(chunk: Uint8Array): ChunkHeader {
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk.byteLength < headerBytes(1)) invalid(`chunk of ${chunk.byteLength} bytes is shorter than a header`);
  if (view.getUint32(0, true) !== CHUNK_MAGIC) invalid('not a model-sync chunk (bad magic)');
  const idBytes = view.getUint16(4, true);
  if (idBytes === 0 || chunk.byteLength < headerBytes(idBytes)) invalid('chunk header truncated');
  let instanceId: string;
  try {
    instanceId = decoder.decode(chunk.subarray(6, 6 + idBytes));
  } catch {
    invalid('instance id is not UTF-8');
  }
  let at = 6 + idBytes;
  const seq = view.getUint32(at, true);
  const createdAt = view.getFloat64((at += 4), true);
  const index = view.getUint32((at += 8), true);
  const count = view.getUint32((at += 4), true);
  const bodyBytes = view.getUint32((at += 4), true);
  const partAt = at + 4;
  if (count === 0 || index >= count) invalid(`chunk ${index} of ${count}`);
  if (!Number.isFinite(createdAt)) invalid('createdAt is not finite');
  return { instanceId, seq, createdAt, index, count, bodyBytes, partAt };
}

interface Partial {
  seq: number;
  createdAt: number;
  count: number;
  bodyBytes: number;
  parts: (Uint8Array | undefined)[];
  received: number;
  bytes: number;
}

/** What `add` made of a chunk. */
export type ChunkOutcome =
  | { kind: 'complete'; instanceId: string; seq: number; createdAt: number; body: Uint8Array }
  | { kind: 'partial' }
  /** A chunk of an update older than one already started or finished from that sender (late or repeated). */
  | { kind: 'stale' };

/**
 * Reassembles chunks into bodies, one update in progress per sender: chunks of one update
 * arrive in order on one partition (keyed by instance id), so a chunk of a newer update
 * abandons an unfinished older one (counted in `abandoned`). Repeated chunks and chunks of
 * updates older than the sender's latest are ignored. A sender that restarted numbers its
 * updates from 0 again: a lower sequence number with a later `createdAt` counts as newer.
 * Memory: one update per sender.
 */
export class ChunkAssembler {
  /** Unfinished updates given up for a newer one from the same sender. */
  abandoned = 0;
  private readonly open = new Map<string, Partial>();
  private readonly done = new Map<string, { seq: number; createdAt: number }>();

  /** REB_DECODE_INVALID when the chunk is malformed or contradicts the others of its update. */
  add(chunk: Uint8Array): ChunkOutcome {
    const h = readHeader(chunk);
    const finished = this.done.get(h.instanceId);
    if (finished !== undefined && !newer(h, finished)) return { kind: 'stale' };
    let p = this.open.get(h.instanceId);
    if (p !== undefined && h.seq !== p.seq && !newer(h, p)) return { kind: 'stale' };
    if (p === undefined || h.seq !== p.seq) {
      if (p !== undefined) this.abandoned++;
      p = { seq: h.seq, createdAt: h.createdAt, count: h.count, bodyBytes: h.bodyBytes, parts: new Array<Uint8Array | undefined>(h.count), received: 0, bytes: 0 };
      this.open.set(h.instanceId, p);
    }
    if (h.count !== p.count || h.bodyBytes !== p.bodyBytes) invalid(`chunk ${h.index} of update ${h.seq} from ${h.instanceId} disagrees with its first chunk on the chunk count or body size`);
    if (p.parts[h.index] !== undefined) return { kind: 'partial' };
    const part = chunk.subarray(h.partAt);
    if (p.bytes + part.byteLength > p.bodyBytes) invalid(`update ${h.seq} from ${h.instanceId} has more bytes than its declared ${p.bodyBytes}`);
    p.parts[h.index] = part;
    p.received++;
    p.bytes += part.byteLength;
    if (p.received < p.count) return { kind: 'partial' };
    this.open.delete(h.instanceId);
    this.done.set(h.instanceId, { seq: p.seq, createdAt: p.createdAt });
    if (p.bytes !== p.bodyBytes) invalid(`update ${h.seq} from ${h.instanceId} has ${p.bytes} bytes, its chunks declare ${p.bodyBytes}`);
    const body = new Uint8Array(p.bodyBytes);
    let at = 0;
    for (const x of p.parts) {
      body.set(x!, at);
      at += x!.byteLength;
    }
    return { kind: 'complete', instanceId: h.instanceId, seq: p.seq, createdAt: p.createdAt, body };
  }
}

/** A later update of the same sender: a higher number, or a lower one made later (the sender restarted). */
function newer(h: { seq: number; createdAt: number }, than: { seq: number; createdAt: number }): boolean {
  return h.seq > than.seq || (h.seq < than.seq && h.createdAt > than.createdAt);
}

/** Encodes and chunks an update in one go. */
export function updateChunks(u: ModelUpdate, maxChunkBytes = MAX_CHUNK_BYTES): Uint8Array[] {
  return chunkUpdate(u, encodeChanges(u.changes), maxChunkBytes);
}
