/**
 * The wire format the tools write to a topic, in one place for `generate`, `import` and
 * `replay`: Avro single-object (0xC3 0x01 + fingerprint; the default, and the only format
 * of event files) or the Confluent wire format (0x00 + 4-byte schema id; Confluent docs,
 * "Wire format"). For Confluent, the event schema's versions are registered on first use
 * under the TopicNameStrategy subject `<topic>-value` (compatibility BACKWARD) and messages
 * carry the newest version's id.
 */
import { createEventCodec, type InteractionEvent, type SingleObjectCodec } from '../codec/index.js';
import type { Framing } from '../codec/single-object.js';
import { RebalancerError } from '../errors.js';
import { SchemaRegistryClient, valueSubject } from './kafka/schema-registry.js';

export type WireFormat = Framing;
export const WIRE_FORMATS: readonly WireFormat[] = ['single-object', 'confluent'];
export const DEFAULT_WIRE_FORMAT: WireFormat = 'single-object';

/** What a verb was asked to write, checked once at start. */
export interface WireFormatChoice {
  format: WireFormat;
  /** True when --wire-format was given (replay then re-frames every event). */
  explicit: boolean;
  /** The registry client, when --schema-registry was given. */
  registry: SchemaRegistryClient | undefined;
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
