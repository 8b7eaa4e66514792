/**
 * Where the verbs that write events put them: `generate` and `import` write an event file
 * (--out) or a topic (--topic with --brokers, --partitions); they and `replay` share the
 * flags of a topic writer (Kafka security, --wire-format, --schema-registry) and --quiet.
 * The same declarations, help and checks for each.
 */
import type { Command } from 'commander';
import { RebalancerError } from '../errors.js';
import { topicSink, type EventSink } from '../adapters/sink.js';
import type { WireFormatChoice } from '../adapters/wire-format.js';
import { brokerList, intFlag } from './flags.js';
import { addKafkaSecurityOptions, kafkaSecurityFromFlags, type KafkaSecurityFlags } from './kafka-flags.js';
import { addWireFormatOptions, type WireFormatFlags } from './wire-format-flags.js';

/** The parsed options of `addEventTargetOptions`, as commander names them. */
export interface EventTargetFlags extends KafkaSecurityFlags, WireFormatFlags {
  out?: string;
  brokers?: string;
  topic?: string;
  partitions: string;
  quiet?: boolean;
}

/** Adds the flags of a verb that writes to a topic, after its own: the Kafka security flags, --wire-format, --schema-registry and --quiet. */
export function addTopicWriterOptions(cmd: Command, wireFormatHelp: string): Command {
  addKafkaSecurityOptions(cmd);
  return addWireFormatOptions(cmd, wireFormatHelp).option('--quiet', 'no progress output');
}

/** Adds --out (described by `outHelp`), --brokers, --topic, --partitions and the topic writer's flags. */
export function addEventTargetOptions(cmd: Command, outHelp: string): Command {
  cmd
    .option('--out <file>', outHelp)
    .option('--brokers <list>', 'Kafka brokers, host:port,... (with --topic)', process.env.REBALANCER_BROKERS)
    .option('--topic <name>', 'produce to this topic (created if missing, with retention.ms=-1), keyed by userId, timestamp = event time')
    .option('--partitions <n>', 'partitions when the topic is created', '3');
  return addTopicWriterOptions(cmd, 'with --topic: single-object (default) or confluent (needs --schema-registry)');
}

/** Which target the flags name: exactly one of --out and --topic, else REB_INPUT_INVALID. */
export function eventTargetKind(flags: EventTargetFlags): 'file' | 'topic' {
  if ((flags.out === undefined) === (flags.topic === undefined)) {
    throw new RebalancerError('REB_INPUT_INVALID', 'give exactly one of --out <file> or --topic <name> (with --brokers)');
  }
  return flags.out !== undefined ? 'file' : 'topic';
}

/**
 * The sink of --topic (the target `eventTargetKind` returned 'topic' for): --brokers and
 * --partitions checked, its log lines on stderr after "<verb>: ". `batchSize`: messages per
 * send (default: the sink's).
 */
export function topicSinkFromFlags(flags: EventTargetFlags, verb: string, wireFormat: WireFormatChoice, batchSize?: number): Promise<EventSink> {
  return topicSink(brokerList('brokers', flags.brokers), flags.topic!, intFlag('partitions', flags.partitions, 1, 10_000), {
    log: (line) => console.error(`${verb}: ${line}`),
    wireFormat,
    security: kafkaSecurityFromFlags(flags),
    ...(batchSize !== undefined ? { batchSize } : {}),
  });
}
