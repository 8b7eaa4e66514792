/**
 * "Ensure these topics exist with N partitions", once: the service's topics (events, dead
 * letters, recommendations), the tools' output topic (src/adapters/sink.ts), the model-sync
 * topic and the compacted state topics (src/state/compacted-topic.ts) are created here, with
 * one set of defaults. A topic that exists is left as it is (partitions and
 * configs are the operator's); only missing ones are created.
 */
import type { Admin } from 'kafkajs';
import { RebalancerError } from '../../errors.js';
import { kafkaAuthFailure, type KafkaTarget } from './connect.js';
import { withTimeout } from './deadline.js';

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** Topic configs set when this call creates the topic (none by default: the broker's). */
  configs?: Readonly<Record<string, string>>;
  /** Replication factor when this call creates the topic (default DEFAULT_REPLICATION_FACTOR). */
  replicationFactor?: number;
}

/** Replication factor of the topics created here: -1, the broker's default.replication.factor (KIP-464). */
export const DEFAULT_REPLICATION_FACTOR = -1;

export interface EnsureTopicsOptions {
  /** Bounds listing the topics (a broker that accepts the connection but does not answer); unbounded when absent. */
  timeoutMs?: number;
  /** The brokers and security, to report refused credentials or TLS as REB_KAFKA_AUTH_FAILED. */
  target?: KafkaTarget;
}

/**
 * Creates the topics of `specs` that do not exist yet (waiting for their leaders) and
 * returns the names this call created: none when another client created one of them in
 * the meantime (kafkajs then reports the whole request as already done). Failures are
 * REB_KAFKA_UNAVAILABLE naming the topics, or REB_KAFKA_AUTH_FAILED for refused
 * credentials or TLS.
 */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[], options: EnsureTopicsOptions = {}): Promise<string[]> {
  const names = specs.map((s) => s.topic).join(', ');
  let listed: string[];
  try {
    listed = await (options.timeoutMs === undefined ? admin.listTopics() : withTimeout(admin.listTopics(), options.timeoutMs, 'listing topics'));
  } catch (err) {
    throw topicFailure(err, `could not list topics (to create ${names})`, specs, options.target);
  }
  const existing = new Set(listed);
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length === 0) return [];
  try {
    const created = await admin.createTopics({ topics: missing.map(creation), waitForLeaders: true });
    return created ? missing.map((s) => s.topic) : [];
  } catch (err) {
    throw topicFailure(err, `could not create topics ${missing.map((s) => s.topic).join(', ')}`, missing, options.target);
  }
}

function creation(spec: TopicSpec): { topic: string; numPartitions: number; replicationFactor: number; configEntries: Array<{ name: string; value: string }> } {
  return {
    topic: spec.topic,
    numPartitions: spec.partitions,
    replicationFactor: spec.replicationFactor ?? DEFAULT_REPLICATION_FACTOR,
    configEntries: Object.entries(spec.configs ?? {}).map(([name, value]) => ({ name, value })),
  };
}

function topicFailure(err: unknown, what: string, specs: readonly TopicSpec[], target: KafkaTarget | undefined): RebalancerError {
  if (err instanceof RebalancerError) return err;
  const auth = target === undefined ? undefined : kafkaAuthFailure(err, target);
  return auth ?? new RebalancerError('REB_KAFKA_UNAVAILABLE', `${what}: ${err instanceof Error ? err.message : String(err)}`, { topics: specs.map((s) => s.topic) }, { cause: err });
}
