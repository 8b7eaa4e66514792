/**
 * The event file: how `generate` and `import` write events and `replay` and `backtest`
 * read them without a broker.
 *
 *   line 1   `REBALANCER-EVENTS/1 <json>\n`   ASCII magic + version, then a one-line JSON
 *            object of metadata (`codec`, `fingerprint` of the writer schema, free-form
 *            `source`). Readers need only the magic; the JSON is for humans and tools.
 *   records  4-byte big-endian unsigned length n, then n bytes: one event in Avro
 *            single-object encoding (0xC3 0x01 + 8-byte fingerprint + body), exactly
 *            what the events topic carries as a message value.
 *
 * No index and no footer, so a file can be appended to and read while being written;
 * a truncated last record is reported as such (never silently dropped).
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { RebalancerError } from '../errors.js';

export const EVENT_FILE_MAGIC = 'REBALANCER-EVENTS/1';
/** Longest header line accepted; guards against reading a huge non-event file as a header. */
const MAX_HEADER_BYTES = 64 * 1024;
/** Largest record accepted: far above any real event, small enough to catch garbage lengths. */
const MAX_RECORD_BYTES = 16 * 1024 * 1024;

export interface EventFileHeader {
  codec: string;
  fingerprint: string;
  source: string;
}

/** Buffered, synchronous writer (one `write` syscall per ~1 MB). */
export class EventFileWriter {
  private readonly fd: number;
  private buf = Buffer.allocUnsafe(1 << 20);
  private used = 0;
  private records = 0;
  private closed = false;

  constructor(readonly path: string, header: EventFileHeader) {
    try {
      this.fd = openSync(path, 'w');
    } catch (err) {
      throw new RebalancerError('REB_INPUT_INVALID', `cannot write event file ${path}: ${(err as Error).message}`, { path }, { cause: err });
    }
    const line = Buffer.from(`${EVENT_FILE_MAGIC} ${JSON.stringify(header)}\n`, 'utf8');
    writeSync(this.fd, line);
  }

  get count(): number {
    return this.records;
  }

  /** Appends one single-object-encoded event. */
  write(payload: Buffer): void {
    const need = 4 + payload.length;
    if (this.used + need > this.buf.length) this.flush();
    if (need > this.buf.length) this.buf = Buffer.allocUnsafe(need);
    this.buf.writeUInt32BE(payload.length, this.used);
    payload.copy(this.buf, this.used + 4);
    this.used += need;
    this.records++;
  }

  flush(): void {
    if (this.used === 0) return;
    let off = 0;
    while (off < this.used) off += writeSync(this.fd, this.buf, off, this.used - off);
    this.used = 0;
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    closeSync(this.fd);
    this.closed = true;
  }
}

/** One record read back, with where it sits (for resumable readers). */
export interface EventFileRecord {
  /** 0-based record number in the file. */
  index: number;
  /** Byte offset of the record's length prefix. */
  offset: number;
  /** Byte offset just after the record: where a resumed read starts. */
  nextOffset: number;
  payload: Buffer;
}

export interface OpenedEventFile {
  header: EventFileHeader;
  /** Byte offset of the first record. */
  dataOffset: number;
  size: number;
  /** Records from `fromOffset` (default: the first), `fromIndex` being that record's number. */
  records(fromOffset?: number, fromIndex?: number): Generator<EventFileRecord>;
  close(): void;
}

/**
 * Opens an event file for sequential reading. Synchronous reads in 1 MB chunks: the
 * consumer (a producer or the trainer) is always the slower side.
 */
export function openEventFile(path: string): OpenedEventFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.message;
    throw new RebalancerError('REB_INPUT_INVALID', `cannot read event file ${path}: ${why}`, { path }, { cause: err });
  }
  const size = fstatSync(fd).size;
  const head = Buffer.alloc(Math.min(size, MAX_HEADER_BYTES));
  readSync(fd, head, 0, head.length, 0);
  const nl = head.indexOf(0x0a);
  const line = nl < 0 ? '' : head.subarray(0, nl).toString('utf8');
  if (!line.startsWith(`${EVENT_FILE_MAGIC} `) && line !== EVENT_FILE_MAGIC) {
    closeSync(fd);
    throw new RebalancerError('REB_INPUT_INVALID', `${path} is not an event file (first line must start with ${EVENT_FILE_MAGIC}; write one with \`rebalancer generate --out\` or \`rebalancer import\`)`, { path });
  }
  let header: EventFileHeader = { codec: 'avro-single-object', fingerprint: '', source: '' };
  const json = line.slice(EVENT_FILE_MAGIC.length).trim();
  if (json.length > 0) {
    try {
      header = { ...header, ...(JSON.parse(json) as Partial<EventFileHeader>) };
    } catch {
      closeSync(fd);
      throw new RebalancerError('REB_INPUT_INVALID', `${path}: header metadata is not valid JSON`, { path });
    }
  }
  const dataOffset = nl + 1;
  let open = true;
  return {
    header,
    dataOffset,
    size,
    *records(fromOffset = dataOffset, fromIndex = 0): Generator<EventFileRecord> {
      if (fromOffset < dataOffset || fromOffset > size) {
        throw new RebalancerError('REB_INPUT_INVALID', `${path}: offset ${fromOffset} is outside the records (${dataOffset}..${size})`, { path });
      }
      let chunk = Buffer.allocUnsafe(1 << 20);
      let chunkStart = fromOffset; // file offset of chunk[0]
      let chunkLen = 0;
      let pos = fromOffset;
      let index = fromIndex;
      const ensure = (n: number): boolean => {
        // Make chunk hold [pos, pos + n); false at end of file.
        if (pos + n <= chunkStart + chunkLen) return true;
        if (pos + n > size) return false;
        if (n > chunk.length) chunk = Buffer.allocUnsafe(n);
        const keep = chunkStart + chunkLen - pos;
        if (keep > 0) chunk.copy(chunk, 0, pos - chunkStart, pos - chunkStart + keep);
        chunkStart = pos;
        chunkLen = Math.max(0, keep);
        while (chunkLen < chunk.length && chunkStart + chunkLen < size) {
          const r = readSync(fd, chunk, chunkLen, chunk.length - chunkLen, chunkStart + chunkLen);
          if (r === 0) break;
          chunkLen += r;
        }
        return pos + n <= chunkStart + chunkLen;
      };
      while (pos < size && open) {
        if (!ensure(4)) throw truncated(path, index, pos);
        const len = chunk.readUInt32BE(pos - chunkStart);
        if (len > MAX_RECORD_BYTES) throw new RebalancerError('REB_INPUT_INVALID', `${path}: record ${index} at byte ${pos} claims ${len} bytes; the file is corrupt`, { path });
        if (!ensure(4 + len)) throw truncated(path, index, pos);
        const start = pos - chunkStart + 4;
        // Copy: the chunk buffer is reused, and callers keep payloads (batches, reservoirs).
        const payload = Buffer.from(chunk.subarray(start, start + len));
        const offset = pos;
        pos += 4 + len;
        yield { index, offset, nextOffset: pos, payload };
        index++;
      }
    },
    close(): void {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

function truncated(path: string, index: number, pos: number): RebalancerError {
  return new RebalancerError('REB_INPUT_INVALID', `${path}: record ${index} at byte ${pos} is truncated (file ends inside it)`, { path });
}

/** The format in two lines, for `--help` of the verbs that read or write event files. */
export const EVENT_FILE_HELP = `
Event file format: a header line "${EVENT_FILE_MAGIC} {json metadata}\\n", then per event a
4-byte big-endian length and the event in Avro single-object encoding (as on the topic).`;
