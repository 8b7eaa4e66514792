import avro from 'avsc';
import { RebalancerError } from '../errors.js';
import { fingerprintBytes } from './fingerprint.js';

/**
 * Avro single-object encoding (Avro spec, "Single-object encoding"):
 *   0xC3 0x01 | 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema | body
 *
 * A codec knows every version of one record. It writes the newest and reads any known
 * version, resolving an older (or newer) writer schema to the reader schema with avsc's
 * resolver. Unknown framing or fingerprint is a typed error, never a crash.
 */
export const MARKER_0 = 0xc3;
export const MARKER_1 = 0x01;
export const HEADER_BYTES = 10;

interface KnownVersion {
  readonly version: number;
  readonly lo: number;
  readonly hi: number;
  readonly fingerprint: Buffer;
  readonly type: avro.Type;
  /** undefined for the reader version itself: no resolution needed. */
  readonly resolver: avro.Resolver | undefined;
}

export class SingleObjectCodec<T> {
  private readonly reader: avro.Type;
  private readonly versions: KnownVersion[];
  private readonly current: KnownVersion;
  private readonly name: string;

  /** @param schemas every version of the record, oldest first; the last one is written and read into. */
  constructor(name: string, schemas: readonly object[]) {
    if (schemas.length === 0) throw new RangeError(`${name}: at least one schema version is required`);
    this.name = name;
    const types = schemas.map((s) => avro.Type.forSchema(s as avro.Schema, { omitRecordMethods: true }));
    this.reader = types[types.length - 1]!;
    this.versions = types.map((type, i) => {
      const fingerprint = fingerprintBytes(JSON.stringify(type.schema()));
      return {
        version: i + 1,
        lo: fingerprint.readUInt32LE(0),
        hi: fingerprint.readUInt32LE(4),
        fingerprint,
        type,
        resolver: type === this.reader ? undefined : this.reader.createResolver(type),
      };
    });
    this.current = this.versions[this.versions.length - 1]!;
  }

  /** Fingerprint of the version written by `encode`, hex. */
  get currentFingerprint(): string {
    return this.current.fingerprint.toString('hex');
  }

  /** Encodes with the newest schema version. */
  encode(value: T): Buffer {
    return this.encodeVersion(this.current.version, value);
  }

  /** Encodes with a given (1-based) schema version; used by tests and by producers pinned to an old version. */
  encodeVersion(version: number, value: unknown): Buffer {
    const v = this.versions[version - 1];
    if (v === undefined) throw new RangeError(`${this.name}: no schema version ${version}`);
    let body: Buffer;
    try {
      body = v.type.toBuffer(value);
    } catch (err) {
      throw new RebalancerError('REB_ENCODE_INVALID', `${this.name}: value does not match schema v${version}: ${(err as Error).message}`, {}, { cause: err });
    }
    const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
    out[0] = MARKER_0;
    out[1] = MARKER_1;
    v.fingerprint.copy(out, 2);
    body.copy(out, HEADER_BYTES);
    return out;
  }

  /** Decodes any known version into the newest version's shape, or throws a typed RebalancerError. */
  decode(buf: Buffer): T {
    if (buf.length < HEADER_BYTES) {
      if (buf.length >= 2 && buf[0] === MARKER_0 && buf[1] === MARKER_1) {
        throw new RebalancerError('REB_DECODE_TRUNCATED', `${this.name}: payload of ${buf.length} bytes is shorter than the 10-byte single-object header`);
      }
      throw new RebalancerError('REB_DECODE_BAD_FRAMING', `${this.name}: payload of ${buf.length} bytes has no Avro single-object header (expected 0xC3 0x01 + 8-byte fingerprint)`);
    }
    if (buf[0] !== MARKER_0 || buf[1] !== MARKER_1) {
      throw new RebalancerError('REB_DECODE_BAD_FRAMING', `${this.name}: payload starts with 0x${hex2(buf[0]!)} 0x${hex2(buf[1]!)}, not the Avro single-object marker 0xC3 0x01`);
    }
    const v = this.lookup(buf.readUInt32LE(2), buf.readUInt32LE(6));
    if (v === undefined) {
      throw new RebalancerError('REB_DECODE_UNKNOWN_SCHEMA', `${this.name}: unknown schema fingerprint ${buf.subarray(2, 10).toString('hex')} (known: ${this.versions.map((k) => k.fingerprint.toString('hex')).join(', ')})`, { fingerprint: buf.subarray(2, 10).toString('hex') });
    }
    let result: { value: unknown; offset: number };
    try {
      result = this.reader.decode(buf, HEADER_BYTES, v.resolver);
    } catch (err) {
      throw new RebalancerError('REB_DECODE_INVALID', `${this.name}: body does not decode with schema v${v.version}: ${(err as Error).message}`, { version: v.version }, { cause: err });
    }
    if (result.offset < 0) {
      throw new RebalancerError('REB_DECODE_TRUNCATED', `${this.name}: body ends early (${buf.length - HEADER_BYTES} body bytes) for schema v${v.version}`, { version: v.version });
    }
    if (result.offset !== buf.length) {
      throw new RebalancerError('REB_DECODE_INVALID', `${this.name}: ${buf.length - result.offset} trailing bytes after a schema v${v.version} record`, { version: v.version });
    }
    return result.value as T;
  }

  private lookup(lo: number, hi: number): KnownVersion | undefined {
    const c = this.current;
    if (c.lo === lo && c.hi === hi) return c;
    for (const v of this.versions) if (v.lo === lo && v.hi === hi) return v;
    return undefined;
  }
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, '0');
}
