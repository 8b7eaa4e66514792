import type { Command } from 'commander';
import { RebalancerError } from '../errors.js';
import { registryFromFlag } from './wire-format-flags.js';
import { EVENT_FILE_HELP } from '../adapters/event-file.js';
import { brokerList, intFlag } from './flags.js';
import { InspectDecoder, InspectSummary, REGISTRY_RETRY_MS, TOMBSTONE, inspectFile, inspectTopic, type InspectOptions } from '../offline/inspect.js';
import { kafkaClient } from '../adapters/sink.js';
import { addKafkaSecurityOptions, kafkaSecurityFromFlags, type KafkaSecurityFlags } from './kafka-flags.js';

interface InspectFlags extends KafkaSecurityFlags {
  topic?: string;
  brokers?: string;
  partition?: string;
  fromOffset?: string;
  limit?: string;
  follow?: boolean;
  schemaRegistry?: string;
  summary?: boolean;
  top: string;
  quiet?: boolean;
}

/** Undecodable records listed on stderr per reason code; further ones are only counted. */
const LISTED_PER_REASON = 20;

export function registerInspect(program: Command): void {
  const cmd = program
    .command('inspect')
    .description('print the events of an event file or a topic as JSON lines, in either framing (Avro single-object or Confluent), and a summary')
    .argument('[file]', 'event file to read (or --topic)')
    .option('--topic <name>', 'read this topic (with --brokers) instead of a file')
    .option('--brokers <list>', 'Kafka brokers, host:port,... (with --topic)', process.env.REBALANCER_BROKERS)
    .option('--partition <p>', 'topic: only this partition')
    .option('--from-offset <n>', 'topic: first offset in every partition read (clamped to the log start and end); file: first record number, 0-based')
    .option('--limit <n>', 'stop after n records (events and undecodable ones)')
    .option('--follow', 'topic: keep printing new messages until Ctrl-C (SIGINT) or SIGTERM, then print the summary')
    .option('--schema-registry <url>', 'Confluent-compatible schema registry API, to fetch the schemas of Confluent-framed messages by id (e.g. http://localhost:8081, or Apicurio\'s http://host:8080/apis/ccompat/v7; default $REBALANCER_SCHEMA_REGISTRY)', process.env.REBALANCER_SCHEMA_REGISTRY)
    .option('--summary', 'print only the summary, as one JSON object on stdout (no event lines)')
    .option('--top <n>', 'categories listed in the summary, most frequent first', '10')
    .option('--quiet', 'no summary on stderr, no per-record lines for undecodable records (they are still counted)')
    .addHelpText('after', `
Output: one JSON object per event on stdout, its decoded fields (current schema version's
shape; older writers resolved to it) plus "framing" ("single-object" or "confluent") and,
for a topic, "partition" and "offset". Longs past 2^53 are written as decimal strings.
A topic is read partition by partition in offset order (partitions interleave as the broker
delivers them) up to the end offsets seen at start, or on and on with --follow.

Summary: at the end (also after Ctrl-C) on stderr, in words; with --summary, as JSON on
stdout instead of the events: records, events, categories (distinct, top --top), types,
timeSpan (earliest and latest event time, ISO-8601, and ms between), framings (single-object
count per writer fingerprint, confluent count per schema id, none), undecodable (count, per
reason code, per schema id).

Framings: each record's first byte picks it (0xC3 0x01: Avro single-object, 0x00: Confluent).
A Confluent schema id is fetched from --schema-registry once per id (an outage is asked
again after ${REGISTRY_RETRY_MS / 1000} s). Without a registry, a Confluent record is undecodable
(REB_DECODE_UNKNOWN_SCHEMA_ID, with its schema id). Undecodable records (also malformed
payloads, with their error code, and "${TOMBSTONE}" for a message without value) are never
fatal: one line each on stderr (the first ${LISTED_PER_REASON} per reason) and counted.
Exit codes: 0 when read to the end, the limit, or a signal; 2 for bad input (flags, missing
file or topic), with one line "rebalancer: <message> [REB_...]".
${EVENT_FILE_HELP}`)
    .action(async (file: string | undefined, flags: InspectFlags) => {
      await runInspect(file, flags);
    });
  addKafkaSecurityOptions(cmd);
}

async function runInspect(file: string | undefined, flags: InspectFlags): Promise<void> {
  if ((file === undefined) === (flags.topic === undefined)) {
    throw new RebalancerError('REB_INPUT_INVALID', 'give exactly one source: an event file or --topic <name> (with --brokers)');
  }
  if (file !== undefined) {
    for (const [flag, given] of [['partition', flags.partition !== undefined], ['follow', flags.follow === true]] as const) {
      if (given) throw new RebalancerError('REB_INPUT_INVALID', `--${flag} applies to --topic only, not to an event file`, { flag });
    }
  }
  const limit = flags.limit === undefined ? undefined : intFlag('limit', flags.limit, 0, Number.MAX_SAFE_INTEGER);
  const fromOffset = flags.fromOffset === undefined ? undefined : intFlag('from-offset', flags.fromOffset, 0, Number.MAX_SAFE_INTEGER);
  const partition = flags.partition === undefined ? undefined : intFlag('partition', flags.partition, 0, 1_000_000);
  const top = intFlag('top', flags.top, 0, 1_000_000);
  const brokers = flags.topic !== undefined ? brokerList('brokers', flags.brokers) : [];
  const registry = registryFromFlag(flags.schemaRegistry);

  const stop = new AbortController();
  const listed = new Map<string, number>();
  const options: InspectOptions = {
    decoder: new InspectDecoder(registry === undefined ? {} : { registry }),
    summary: new InspectSummary(),
    ...(limit !== undefined ? { limit } : {}),
    ...(flags.summary === true ? {} : { write: (line: string) => writeLine(line, stop.signal) }),
    onUndecodable: (where, code, message) => {
      if (flags.quiet === true) return;
      const n = (listed.get(code) ?? 0) + 1;
      listed.set(code, n);
      if (n <= LISTED_PER_REASON) console.error(`inspect: undecodable ${where}: ${message} [${code}]`);
      if (n === LISTED_PER_REASON + 1) console.error(`inspect: further ${code} records are counted, not listed`);
    },
  };
  // Ctrl-C / SIGTERM, or a reader that closed the pipe (`| head`): stop reading, print the summary, exit 0.
  const onSignal = (): void => stop.abort();
  const onStdoutError = (): void => stop.abort();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, onSignal);
  process.stdout.on('error', onStdoutError);
  try {
    if (file !== undefined) {
      await inspectFile(file, fromOffset ?? 0, options, stop.signal);
    } else {
      const kafka = kafkaClient(brokers, 'rebalancer-inspect', kafkaSecurityFromFlags(flags));
      await inspectTopic(kafka, {
        topic: flags.topic!,
        ...(fromOffset !== undefined ? { fromOffset } : {}),
        ...(partition !== undefined ? { partition } : {}),
        follow: flags.follow === true,
        signal: stop.signal,
        onReady: (partitions) => {
          if (flags.follow === true && flags.quiet !== true) console.error(`inspect: following ${flags.topic!} (partitions ${partitions.join(', ')}); Ctrl-C to stop`);
        },
      }, options);
    }
  } finally {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.off(sig, onSignal);
    process.stdout.off('error', onStdoutError);
  }
  if (flags.summary === true) process.stdout.write(`${JSON.stringify(options.summary.toJSON(top))}\n`);
  else if (flags.quiet !== true) for (const line of options.summary.describe(top)) console.error(`inspect: ${line}`);
}


/** Writes one line to stdout, waiting for 'drain' when the pipe is full (so a slow reader slows the consumer, not memory). */
function writeLine(line: string, stopped: AbortSignal): Promise<void> | void {
  if (stopped.aborted || process.stdout.write(`${line}\n`)) return;
  return new Promise((resolve) => {
    const done = (): void => {
      process.stdout.off('drain', done);
      stopped.removeEventListener('abort', done);
      resolve();
    };
    process.stdout.once('drain', done);
    stopped.addEventListener('abort', done, { once: true });
  });
}
