/**
 * The wire format the tools write to a topic, in one place for `generate`, `import` and
 * `replay`: Avro single-object (0xC3 0x01 + fingerprint; the default, and the only format
 * of event files) or the Confluent wire format (0x00 + 4-byte schema id; Confluent docs,
 * "Wire format"). For Confluent, the event schema's versions are registered on first use
 * under the TopicNameStrategy subject `<topic>-value` (compatibility BACKWARD) and messages
 * carry the newest version's id.
 */
import type { Command } from 'commander';
import { createEventCodec, type InteractionEvent, type SingleObjectCodec } from '../codec/index.js';
import type { Framing } from '../codec/single-object.js';
import { RebalancerError, isRebalancerError } from '../errors.js';
import { SchemaRegistryClient, valueSubject } from '../kafka/schema-registry.js';
import { oneOf } from './flags.js';

export type WireFormat = Framing;
export const WIRE_FORMATS: readonly WireFormat[] = ['single-object', 'confluent'];
export const DEFAULT_WIRE_FORMAT: WireFormat = 'single-object';

export interface WireFormatFlags {
  wireFormat?: string;
  schemaRegistry?: string;
}

/** What a verb was asked to write, checked once at start. */
export interface WireFormatChoice {
  format: WireFormat;
  /** True when --wire-format was given (replay then re-frames every event). */
  explicit: boolean;
  /** The registry client, when --schema-registry was given. */
  registry: SchemaRegistryClient | undefined;
}

/** Adds --wire-format and --schema-registry to a verb that writes to a topic. */
export function addWireFormatOptions(cmd: Command, wireFormatHelp: string): Command {
  return cmd
    .option('--wire-format <single-object|confluent>', wireFormatHelp)
    .option('--schema-registry <url>', 'Confluent-compatible schema registry API, e.g. http://localhost:8081 or Apicurio\'s http://host:8080/apis/ccompat/v7 (needed for --wire-format confluent; default $REBALANCER_SCHEMA_REGISTRY)', process.env.REBALANCER_SCHEMA_REGISTRY);
}

/** Help lines shared by the three verbs. */
export const WIRE_FORMAT_HELP = `
Wire format (--wire-format, topics only): single-object = Avro single-object encoding,
0xC3 0x01 + 8-byte schema fingerprint + body; confluent = the Confluent wire format,
0x00 + 4-byte big-endian schema id + body, as Kafka's Avro serializers write it: the event
schema's versions are registered on first use under the subject <topic>-value (with
compatibility BACKWARD) in the registry given by --schema-registry, and messages carry the
newest version's id. Event files (--out, --file) are always single-object.`;

/**
 * --wire-format and --schema-registry, validated: a bad value, confluent without a registry
 * and confluent to an event file are REB_INPUT_INVALID naming the flag.
 */
export function wireFormatFromFlags(flags: WireFormatFlags, target: 'topic' | 'file'): WireFormatChoice {
  const explicit = flags.wireFormat !== undefined;
  const format = explicit ? oneOf('wire-format', flags.wireFormat!, WIRE_FORMATS) : DEFAULT_WIRE_FORMAT;
  if (format === 'confluent' && target === 'file') {
    throw new RebalancerError('REB_INPUT_INVALID', '--wire-format confluent applies to topics only: event files are always Avro single-object (write to a topic with --topic, or drop --wire-format)', { flag: 'wire-format' });
  }
  const url = flags.schemaRegistry?.trim();
  if (format === 'confluent' && (url === undefined || url === '')) {
    throw new RebalancerError('REB_INPUT_INVALID', '--wire-format confluent needs --schema-registry <url> (or $REBALANCER_SCHEMA_REGISTRY): the registry that numbers the schemas, e.g. http://localhost:8081', { flag: 'schema-registry' });
  }
  return { format, explicit, registry: registryFromFlag(url) };
}

/** The registry client of --schema-registry, or undefined when none is given; a bad URL is REB_INPUT_INVALID naming the flag. */
export function registryFromFlag(raw: string | undefined): SchemaRegistryClient | undefined {
  const url = raw?.trim();
  if (url === undefined || url === '') return undefined;
  try {
    return new SchemaRegistryClient({ url });
  } catch (err) {
    if (!isRebalancerError(err)) throw err;
    throw new RebalancerError('REB_INPUT_INVALID', err.message, { flag: 'schema-registry' }, { cause: err });
  }
}

/** Encodes one event for a topic (synchronous: the registry was asked beforehand). */
export type EventEncode = (e: InteractionEvent) => Buffer;

/**
 * Encoders for one target topic, made once per framing: single-object needs nothing;
 * Confluent registers the schemas under `<topic>-value` on the first ask (once) and writes
 * the newest version's id.
 */
export class TopicEncoders {
  private readonly made = new Map<WireFormat, Promise<EventEncode>>();

  constructor(
    private readonly topic: string,
    private readonly registry: SchemaRegistryClient | undefined,
    private readonly codec: SingleObjectCodec<InteractionEvent> = createEventCodec(),
  ) {}

  encoder(format: WireFormat): Promise<EventEncode> {
    let p = this.made.get(format);
    if (p === undefined) {
      p = this.make(format);
      this.made.set(format, p);
      // A failed registration may be retried by a later ask.
      p.catch(() => this.made.delete(format));
    }
    return p;
  }

  private async make(format: WireFormat): Promise<EventEncode> {
    const codec = this.codec;
    if (format === 'single-object') return (e) => codec.encode(e);
    if (this.registry === undefined) {
      throw new RebalancerError('REB_INPUT_INVALID', `writing Confluent-framed events to ${this.topic} needs --schema-registry <url>`, { flag: 'schema-registry' });
    }
    const id = await this.registry.registerValueSchemas(this.topic, codec);
    return (e) => codec.encodeConfluent(id, e);
  }

  /** How `format` is written to this topic, for the tool's log. */
  describe(format: WireFormat): string {
    return format === 'confluent'
      ? `Confluent wire format, schema ids from ${this.registry?.url ?? '?'} (subject ${valueSubject(this.topic)})`
      : 'Avro single-object encoding';
  }
}

/**
 * Teaches a reading codec the Confluent schema ids it meets, from the registry (fetched once
 * per id, then cached in the codec). Without a registry a Confluent-framed message is an
 * error naming --schema-registry (it could be decoded with one; skipping it would lose it).
 */
export function schemaIdLearner(registry: SchemaRegistryClient | undefined, where: string): (codec: SingleObjectCodec<InteractionEvent>, id: number) => Promise<void> {
  return async (codec, id) => {
    if (registry === undefined) {
      throw new RebalancerError('REB_INPUT_INVALID', `${where} holds Confluent-framed events (schema id ${id}): give --schema-registry <url> to read them`, { flag: 'schema-registry', schemaId: id });
    }
    await registry.learn(codec, id);
  };
}
