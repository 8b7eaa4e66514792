import avro from 'avsc';
import { RebalancerError } from '../errors.js';
import { fingerprintBytes } from './fingerprint.js';

/**
 * Two framings of one Avro record, told apart per message by the first byte:
 * - Avro single-object encoding (Avro spec, "Single-object encoding"):
 *     0xC3 0x01 | 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema | body
 * - Confluent wire format (Confluent docs, "Wire format"; what Kafka's Avro serializers and
 *   schema registries use):
 *     0x00 | 4-byte big-endian schema id (the registry's) | body
 *
 * A codec knows every version of one record. It writes the newest and reads any known
 * version, resolving an older (or newer) writer schema to the reader schema with avsc's
 * resolver. Confluent ids are learned from outside (`learnSchemaId`, with the schema text a
 * registry returned): the codec stays pure, and a message whose id it has not learned is a
 * retriable REB_DECODE_UNKNOWN_SCHEMA_ID that names the id, so the caller can fetch the
 * schema and decode again. Unknown framing or fingerprint is a typed error, never a crash.
 */
export const MARKER_0 = 0xc3;
export const MARKER_1 = 0x01;
export const HEADER_BYTES = 10;
/** First byte of the Confluent wire format. */
export const CONFLUENT_MAGIC = 0x00;
export const CONFLUENT_HEADER_BYTES = 5;
/** Confluent schema ids a codec remembers (the oldest learned is forgotten first). */
export const MAX_LEARNED_SCHEMA_IDS = 1024;

export type Framing = 'single-object' | 'confluent';

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
  /** Confluent schema id → the writer it names (insertion order = age, for the bound). */
  private readonly byId = new Map<number, KnownVersion>();

  /** @param schemas every version of the record, oldest first; the last one is written and read into. */
  constructor(name: string, schemas: readonly object[]) {
    if (schemas.length === 0) throw new RebalancerError('REB_ARGUMENT_INVALID', `${name}: at least one schema version is required`);
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
    const { v, body } = this.body(version, value);
    const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
    out[0] = MARKER_0;
    out[1] = MARKER_1;
    v.fingerprint.copy(out, 2);
    body.copy(out, HEADER_BYTES);
    return out;
  }

  /** A (1-based) version's Avro body of `value`. */
  private body(version: number, value: unknown): { v: KnownVersion; body: Buffer } {
    const v = this.versions[version - 1];
    if (v === undefined) throw new RebalancerError('REB_ENCODE_INVALID', `${this.name}: no schema version ${version}`);
    try {
      return { v, body: v.type.toBuffer(value) };
    } catch (err) {
      throw new RebalancerError('REB_ENCODE_INVALID', `${this.name}: value does not match schema v${version}: ${(err as Error).message}`, {}, { cause: err });
    }
  }

  /** The newest schema version (1-based) and its schema, as registered under a subject. */
  get currentSchema(): { version: number; schema: object } {
    return { version: this.current.version, schema: this.schemaOf(this.current.version) };
  }

  /**
   * The schema of a (1-based) version, with field defaults, docs and logical types (what a
   * registry needs to check compatibility: a field added with a default is backward
   * compatible only if the default is there).
   */
  schemaOf(version: number): object {
    const v = this.versions[version - 1];
    if (v === undefined) throw new RebalancerError('REB_ENCODE_INVALID', `${this.name}: no schema version ${version}`);
    return v.type.schema({ exportAttrs: true }) as object;
  }

  /** The framing a payload announces by its first bytes, or null for neither. */
  static framingOf(buf: Buffer): Framing | null {
    if (buf.length >= 2 && buf[0] === MARKER_0 && buf[1] === MARKER_1) return 'single-object';
    if (buf.length >= 1 && buf[0] === CONFLUENT_MAGIC) return 'confluent';
    return null;
  }

  /** Whether a Confluent schema id has been learned. */
  knowsSchemaId(id: number): boolean {
    return this.byId.has(id);
  }

  /**
   * Learns what a Confluent schema id names, from the schema (parsed JSON) a registry gave
   * for it. A schema equal to a known version (same canonical fingerprint) reuses it; any
   * other is resolved to the reader schema, and one that cannot be (not backward compatible)
   * is REB_DECODE_UNKNOWN_SCHEMA. At most MAX_LEARNED_SCHEMA_IDS ids are kept.
   */
  learnSchemaId(id: number, schema: object): void {
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new RebalancerError('REB_DECODE_UNKNOWN_SCHEMA', `${this.name}: schema id ${id} is not a 32-bit unsigned integer`, { schemaId: id });
    let type: avro.Type;
    try {
      type = avro.Type.forSchema(schema as avro.Schema, { omitRecordMethods: true });
    } catch (err) {
      throw new RebalancerError('REB_DECODE_UNKNOWN_SCHEMA', `${this.name}: schema id ${id} is not a valid Avro schema: ${(err as Error).message}`, { schemaId: id }, { cause: err });
    }
    const fingerprint = fingerprintBytes(JSON.stringify(type.schema()));
    let v = this.lookup(fingerprint.readUInt32LE(0), fingerprint.readUInt32LE(4));
    if (v === undefined) {
      let resolver: avro.Resolver;
      try {
        resolver = this.reader.createResolver(type);
      } catch (err) {
        throw new RebalancerError('REB_DECODE_UNKNOWN_SCHEMA', `${this.name}: schema id ${id} cannot be read as the current schema (not backward compatible): ${(err as Error).message}`, { schemaId: id }, { cause: err });
      }
      v = { version: 0, lo: fingerprint.readUInt32LE(0), hi: fingerprint.readUInt32LE(4), fingerprint, type, resolver };
    }
    this.byId.delete(id);
    this.byId.set(id, v);
    if (this.byId.size > MAX_LEARNED_SCHEMA_IDS) this.byId.delete(this.byId.keys().next().value!);
  }

  /** Encodes in the Confluent wire format under `schemaId`, with a (1-based) version's schema (default: the newest). */
  encodeConfluent(schemaId: number, value: unknown, version = this.current.version): Buffer {
    if (!Number.isInteger(schemaId) || schemaId < 0 || schemaId > 0xffffffff) throw new RebalancerError('REB_ENCODE_INVALID', `${this.name}: schema id ${schemaId} is not a 32-bit unsigned integer`);
    const { body } = this.body(version, value);
    const out = Buffer.allocUnsafe(CONFLUENT_HEADER_BYTES + body.length);
    out[0] = CONFLUENT_MAGIC;
    out.writeUInt32BE(schemaId, 1);
    body.copy(out, CONFLUENT_HEADER_BYTES);
    return out;
  }

  /** Decodes any known version, in either framing, into the newest version's shape, or throws a typed RebalancerError. */
  decode(buf: Buffer): T {
    if (buf.length > 0 && buf[0] === CONFLUENT_MAGIC) return this.decodeConfluent(buf);
    if (buf.length < HEADER_BYTES) {
      if (buf.length >= 2 && buf[0] === MARKER_0 && buf[1] === MARKER_1) {
        throw new RebalancerError('REB_DECODE_TRUNCATED', `${this.name}: payload of ${buf.length} bytes is shorter than the 10-byte single-object header`);
      }
      throw new RebalancerError('REB_DECODE_BAD_FRAMING', `${this.name}: payload of ${buf.length} bytes has no Avro header (expected 0xC3 0x01 + 8-byte fingerprint, or 0x00 + 4-byte schema id)`);
    }
    if (buf[0] !== MARKER_0 || buf[1] !== MARKER_1) {
      throw new RebalancerError('REB_DECODE_BAD_FRAMING', `${this.name}: payload starts with 0x${hex2(buf[0]!)} 0x${hex2(buf[1]!)}, neither the Avro single-object marker 0xC3 0x01 nor the Confluent magic byte 0x00`);
    }
    const v = this.lookup(buf.readUInt32LE(2), buf.readUInt32LE(6));
    if (v === undefined) {
      throw new RebalancerError('REB_DECODE_UNKNOWN_SCHEMA', `${this.name}: unknown schema fingerprint ${buf.subarray(2, 10).toString('hex')} (known: ${this.versions.map((k) => k.fingerprint.toString('hex')).join(', ')})`, { fingerprint: buf.subarray(2, 10).toString('hex') });
    }
    return this.decodeBody(buf, HEADER_BYTES, v, `schema v${v.version}`);
  }

  private decodeConfluent(buf: Buffer): T {
    if (buf.length < CONFLUENT_HEADER_BYTES) {
      throw new RebalancerError('REB_DECODE_TRUNCATED', `${this.name}: payload of ${buf.length} bytes is shorter than the 5-byte Confluent header`);
    }
    const id = buf.readUInt32BE(1);
    const v = this.byId.get(id);
    if (v === undefined) {
      throw new RebalancerError('REB_DECODE_UNKNOWN_SCHEMA_ID', `${this.name}: Confluent schema id ${id} has not been fetched from the registry yet`, { schemaId: id });
    }
    return this.decodeBody(buf, CONFLUENT_HEADER_BYTES, v, v.version > 0 ? `schema v${v.version} (id ${id})` : `schema id ${id}`);
  }

  private decodeBody(buf: Buffer, offset: number, v: KnownVersion, label: string): T {
    let result: { value: unknown; offset: number };
    try {
      result = this.reader.decode(buf, offset, v.resolver);
    } catch (err) {
      throw new RebalancerError('REB_DECODE_INVALID', `${this.name}: body does not decode with ${label}: ${(err as Error).message}`, { version: v.version }, { cause: err });
    }
    if (result.offset < 0) {
      throw new RebalancerError('REB_DECODE_TRUNCATED', `${this.name}: body ends early (${buf.length - offset} body bytes) for ${label}`, { version: v.version });
    }
    if (result.offset !== buf.length) {
      throw new RebalancerError('REB_DECODE_INVALID', `${this.name}: ${buf.length - result.offset} trailing bytes after a ${label} record`, { version: v.version });
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
