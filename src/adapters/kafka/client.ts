import { Kafka, logLevel as KafkaLogLevel, type KafkaConfig, type logCreator, type LogEntry } from 'kafkajs';

export type LogLevelName = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

const LEVELS: Record<LogLevelName, KafkaLogLevel> = {
  nothing: KafkaLogLevel.NOTHING,
  error: KafkaLogLevel.ERROR,
  warn: KafkaLogLevel.WARN,
  info: KafkaLogLevel.INFO,
  debug: KafkaLogLevel.DEBUG,
};

/**
 * kafkajs logs some retriable, self-healing conditions at ERROR level: a consumer
 * joining right after the broker started asks for the group coordinator before the
 * offsets topic exists, and a producer can race a new topic's leader election. They
 * are retried and resolve within a second; shown as ERROR they look like failures
 * to an operator. They are demoted to DEBUG; every other entry keeps its level.
 */
const TRANSIENT = [
  'The group coordinator is not available',
  'There is no leader for this topic-partition',
  'This server does not host this topic-partition',
  'The coordinator is loading and hence can\'t process requests',
];

export function isTransientKafkaLog(entry: LogEntry): boolean {
  const error = entry.log.error;
  return typeof error === 'string' && TRANSIENT.some((t) => error.includes(t));
}

/**
 * kafkajs 2 warns at every producer's creation that its default partitioner changed in
 * v2.0.0 (to Java's murmur2, which is what the product wants): advice for users upgrading
 * kafkajs, noise in every start-up log. Shown at DEBUG.
 */
export function isUpgradeNotice(entry: LogEntry): boolean {
  return entry.level === KafkaLogLevel.WARN && entry.log.message.startsWith('KafkaJS v2.0.0 switched default partitioner');
}

function creator(threshold: KafkaLogLevel): logCreator {
  return () => (entry: LogEntry) => {
    const level = (entry.level === KafkaLogLevel.ERROR && isTransientKafkaLog(entry)) || isUpgradeNotice(entry) ? KafkaLogLevel.DEBUG : entry.level;
    if (level > threshold || level === KafkaLogLevel.NOTHING) return;
    const { message, ...rest } = entry.log;
    // kafkajs's logLevel is a plain object (no reverse mapping from number to name).
    const name = (Object.keys(LEVELS) as LogLevelName[]).find((n) => LEVELS[n] === level) ?? 'log';
    console.error(`[kafka ${name}] ${message} ${JSON.stringify(rest)}`);
  };
}

/**
 * A kafkajs client whose logs go to stderr at the given level, transient noise demoted.
 * SASL and TLS come in as `sasl` and `ssl` (`...kafkaSecurity(settings)`, security.ts).
 */
export function createKafkaClient(config: Omit<KafkaConfig, 'logLevel' | 'logCreator'> & { logLevel?: LogLevelName }): Kafka {
  const { logLevel = 'warn', ...rest } = config;
  const threshold = LEVELS[logLevel];
  return new Kafka({ ...rest, logLevel: threshold, logCreator: creator(threshold) });
}
