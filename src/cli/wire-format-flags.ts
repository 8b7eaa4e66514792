/**
 * The wire-format flags of the verbs that write to a topic (`generate`, `import`, `replay`)
 * and the registry flag of the verbs that read one: parsed and checked once at start
 * (the framing itself is src/adapters/wire-format.ts).
 */
import type { Command } from 'commander';
import { RebalancerError, isRebalancerError } from '../errors.js';
import { SchemaRegistryClient } from '../adapters/kafka/schema-registry.js';
import { DEFAULT_WIRE_FORMAT, WIRE_FORMATS, type WireFormatChoice } from '../adapters/wire-format.js';
import { oneOf } from './flags.js';

export interface WireFormatFlags {
  wireFormat?: string;
  schemaRegistry?: string;
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
