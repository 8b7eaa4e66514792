import { resolve } from 'node:path';
import type { Command } from 'commander';
import { RebalancerError } from '../errors.js';
import { EVENT_FILE_HELP } from '../adapters/event-file.js';
import { brokerList, intFlag, numberFlag, oneOf } from './flags.js';
import { rangeFromFlags, type RangeFlags } from './range-flags.js';
import { createProgress, type Progress } from './progress.js';
import { REPLAY_TIMESTAMPS, readProgressFile, replay, type SourceId } from '../offline/replay.js';
import { connectProducer, ensureTopic, kafkaClient } from '../adapters/sink.js';
import { kafkaTargetFromFlags, type KafkaSecurityFlags } from './kafka-flags.js';
import { fileSource, topicSource, type EventSource } from '../adapters/sources.js';
import { fileSize } from '../offline/import-log.js';
import { schemaIdLearner, TopicEncoders } from '../adapters/wire-format.js';
import { WIRE_FORMAT_HELP, wireFormatFromFlags } from './wire-format-flags.js';
import { addTopicWriterOptions } from './event-target-flags.js';

interface ReplayFlags extends KafkaSecurityFlags, RangeFlags {
  file?: string;
  sourceTopic?: string;
  brokers?: string;
  topic: string;
  speed?: string;
  partitioning: string;
  timestamps: string;
  partitions: string;
  batchSize: string;
  resume?: boolean;
  progressFile?: string;
  wireFormat?: string;
  schemaRegistry?: string;
  quiet?: boolean;
}

export function registerReplay(program: Command): void {
  const cmd = program
    .command('replay')
    .description('replay recorded events (an event file or a topic slice) into a topic, as fast as possible or paced by event time; resumable')
    .option('--file <path>', 'read events from this event file')
    .option('--source-topic <name>', 'read events from this topic (merged across partitions by event time)')
    .option('--brokers <list>', 'Kafka brokers, host:port,...', process.env.REBALANCER_BROKERS)
    .requiredOption('--topic <name>', 'target topic (created if missing, with retention.ms=-1)')
    .option('--from-offset <n>', 'first offset in every source partition (file: first record number, 0-based)')
    .option('--to-offset <n>', 'end offset, exclusive (file: record number)')
    .option('--from-time <t>', 'only events with eventTime >= t (ISO-8601 or ms)')
    .option('--to-time <t>', 'only events with eventTime < t (ISO-8601 or ms)')
    .option('--speed <factor>', 'pace at factor × the original event-time gaps (2 = twice as fast); default: as fast as possible')
    .option('--partitioning <key|source>', 'key: target partition by key (as the original producer); source: keep the source partition number', 'key')
    .option('--timestamps <original|now>', 'original: keep each event\'s event time (history\'s pace); now: re-stamp it with its send time', 'original')
    .option('--partitions <n>', 'partitions when the target topic is created', '3')
    .option('--batch-size <n>', 'messages per produce request', '500')
    .option('--resume', 'continue after the last acknowledged event recorded in the progress file')
    .option('--progress-file <path>', 'where the position is kept (default: ./.replay-<target>.progress.json)');
  addTopicWriterOptions(cmd, 'single-object or confluent: decode every event and write it in this framing (default: keep each message\'s bytes as read, whatever their framing)')
    .addHelpText('after', `
Keys are kept (the source key, or the userId for a file); the message timestamp is the event time.
Timestamps: with --timestamps original (the default) events keep their event time (payload and
message timestamp), so event-time windows see history's pace and a backtest of the target
sees the original timeline; but a topic that deletes by time removes events older than its
retention.ms at its next retention check. A target topic replay creates gets retention.ms=-1
(kept until deleted); an existing target that deletes by time gets a warning when the events
are older than its retention.ms. With --timestamps now every event is re-encoded with
eventTime = the moment it is sent (and that message timestamp; event ids, keys and order kept):
time retention then counts from the replay, but event-time windows see the replay's pace, not
history's (as fast as possible: the whole log lands in a few seconds of event time; with
--speed x: the original gaps divided by x), and a backtest of the target sees that timeline.
Without --resume a replay starts from the range start and overwrites the progress file.
A replay that sends no event (empty source or range) fails with exit code 2; a source topic
whose requested records were deleted by retention fails with REB_SOURCE_RETENTION.
Pacing: events are sent when their event-time offset from the first event, divided by --speed,
has elapsed; sends are batched up to 20 ms, so single events may be up to ~20 ms late.
Framing: without --wire-format each message keeps its bytes (an event re-stamped by
--timestamps now is re-encoded in its own framing); with it every event is re-framed. A source
topic with Confluent-framed messages needs --schema-registry (the registry their ids come from;
the target's schemas are registered in the same registry).
${WIRE_FORMAT_HELP}
${EVENT_FILE_HELP}`)
    .action(async (flags: ReplayFlags) => {
      await runReplay(flags);
    });
}

async function runReplay(flags: ReplayFlags): Promise<void> {
  if ((flags.file === undefined) === (flags.sourceTopic === undefined)) {
    throw new RebalancerError('REB_INPUT_INVALID', 'give exactly one source: --file <path> or --source-topic <name>');
  }
  const brokers = brokerList('brokers', flags.brokers);
  const range = rangeFromFlags(flags);
  const speed = flags.speed === undefined ? 0 : numberFlag('speed', flags.speed, 1e-6);
  const partitioning = oneOf('partitioning', flags.partitioning, ['key', 'source'] as const);
  const timestamps = oneOf('timestamps', flags.timestamps, REPLAY_TIMESTAMPS);
  const batchSize = intFlag('batch-size', flags.batchSize, 1, 100_000);
  const partitions = intFlag('partitions', flags.partitions, 1, 10_000);
  if (partitioning === 'source' && flags.file !== undefined) throw new RebalancerError('REB_INPUT_INVALID', '--partitioning source needs --source-topic (a file has no partitions)');
  const wireFormat = wireFormatFromFlags(flags, 'topic');

  const sourceId: SourceId = flags.file !== undefined
    ? { kind: 'file', path: resolve(flags.file), size: fileSize(flags.file) }
    : { kind: 'topic', topic: flags.sourceTopic! };
  const progressFile = flags.progressFile ?? `.replay-${flags.topic}.progress.json`;
  const resumed = flags.resume ? readProgressFile(progressFile, sourceId, flags.topic) : undefined;
  if (flags.resume && resumed === undefined) console.error(`replay: no progress file ${progressFile}; starting from the beginning`);
  else if (resumed !== undefined) console.error(`replay: resuming after ${resumed.replayed} events (${progressFile})`);

  let skips = 0;
  const onSkip = (where: string, reason: string): void => {
    if (++skips <= 20) console.error(`replay: skipped ${where}: ${reason}`);
  };
  const kafkaTarget = kafkaTargetFromFlags(brokers, flags);
  const kafka = kafkaClient(brokers, 'rebalancer-replay', kafkaTarget.security);
  const source: EventSource = flags.file !== undefined
    ? fileSource(flags.file, range, resumed?.file, onSkip)
    : await topicSource(kafka, flags.sourceTopic!, range, resumed?.partitions, onSkip, schemaIdLearner(wireFormat.registry, `source topic ${flags.sourceTopic!}`));
  const encoders = new TopicEncoders(flags.topic, wireFormat.registry);
  const before = resumed?.replayed ?? 0;
  const what = `${flags.file !== undefined ? `file ${flags.file}` : `topic ${flags.sourceTopic!}`}${describeRange(flags)}`;
  try {
    if (source.total === 0) {
      // Nothing to send: say so (the target is created only once there is an event to send).
      if (before > 0) {
        console.error(`replay: nothing left to replay: all ${before} events of ${what} were sent to ${flags.topic} before (${progressFile})`);
        return;
      }
      throw noEvents(what, flags.topic);
    }
    // Drawn from the first acknowledged batch on, below the target's log lines (created topic, retention warning).
    let progress: Progress | undefined;
    const producer = await connectProducer(kafka, kafkaTarget);
    try {
      const s = await replay(source, producer, {
        target: flags.topic, speed, partitioning, timestamps, batchSize, progressFile, sourceId, resumed,
        encoders,
        ...(wireFormat.explicit ? { wireFormat: wireFormat.format } : {}),
        prepareTarget: async () => {
          const target = await ensureTopic(kafka, flags.topic, partitions, kafkaTarget);
          if (target.note !== undefined) console.error(`replay: ${target.note}`);
          if (wireFormat.explicit) console.error(`replay: re-framing every event: ${encoders.describe(wireFormat.format)}`);
          return target.retentionMs;
        },
        onWarning: (line) => console.error(`replay: ${line}`),
        onProgress: (n) => {
          progress ??= createProgress({ label: 'replay', total: before + source.total, initial: before, quiet: flags.quiet });
          progress.update(n);
        },
      });
      progress?.stop();
      const skipped = source.skipped > 0 ? `; ${source.skipped} undecodable skipped` : '';
      if (s.replayed === 0) throw noEvents(`${what}${skipped}`, flags.topic);
      const span = s.firstEventTime === undefined ? 0 : s.lastEventTime! - s.firstEventTime;
      console.error(`replayed ${s.thisRun} events to ${flags.topic} in ${(s.wallMs / 1000).toFixed(1)} s (event-time span ${(span / 1000).toFixed(1)} s; ${s.replayed} in total${skipped}${timestamps === 'now' ? '; event times re-stamped with the send time' : ''})`);
    } finally {
      progress?.stop();
      await producer.disconnect();
    }
  } finally {
    await source.close();
  }
}

function noEvents(what: string, target: string): RebalancerError {
  return new RebalancerError('REB_INPUT_INVALID', `replay sent no events: ${what} holds no event to replay; nothing was written to ${target}`, { target });
}

function describeRange(flags: ReplayFlags): string {
  const parts = [
    flags.fromOffset !== undefined ? `--from-offset ${flags.fromOffset}` : '',
    flags.toOffset !== undefined ? `--to-offset ${flags.toOffset}` : '',
    flags.fromTime !== undefined ? `--from-time ${flags.fromTime}` : '',
    flags.toTime !== undefined ? `--to-time ${flags.toTime}` : '',
  ].filter((p) => p !== '');
  return parts.length > 0 ? ` in the range ${parts.join(' ')}` : '';
}
