import kafkajs, { type Admin } from 'kafkajs';
import { ensureTopics } from '../adapters/kafka/topics.js';
import { RebalancerError } from '../errors.js';

/**
 * Creating (or checking) a compacted topic that holds state: the partition changelog and
 * the global counts topic. Shared by both so the rule is stated once.
 */
export interface CompactedTopicSpec {
  topic: string;
  /** What the topic is for, in the error messages ("partition changelog"). */
  purpose: string;
  partitions: number;
  /** Topic configs besides cleanup.policy=compact (set only when this call creates the topic). */
  configs: Readonly<Record<string, string>>;
  /** Default: the broker's default.replication.factor (src/adapters/kafka/topics.ts). */
  replicationFactor?: number;
}

/**
 * Creates the topic when missing, compacted. An existing topic must compact
 * (cleanup.policy contains `compact`) and must not also delete by time: with
 * `compact,delete` and a finite retention.ms, the state of a partition whose owner has not
 * written for that long would be deleted. Either is a REB_CONFIG_INVALID naming the topic.
 * Returns whether this call created the topic.
 */
export async function ensureCompactedTopic(admin: Admin, spec: CompactedTopicSpec): Promise<boolean> {
  const created = await ensureTopics(admin, [{
    topic: spec.topic,
    partitions: spec.partitions,
    configs: { ...spec.configs, 'cleanup.policy': 'compact' },
    ...(spec.replicationFactor !== undefined ? { replicationFactor: spec.replicationFactor } : {}),
  }]);
  // None created: it existed, or another instance created it meanwhile; check what is there.
  if (created.length > 0) return true;
  try {
    await checkCompacted(admin, spec);
    return false;
  } catch (err) {
    if (err instanceof RebalancerError) throw err;
    throw new RebalancerError('REB_KAFKA_UNAVAILABLE', `cannot check the ${spec.purpose} topic ${spec.topic}: ${err instanceof Error ? err.message : String(err)}`, { topic: spec.topic }, { cause: err });
  }
}

async function checkCompacted(admin: Admin, spec: CompactedTopicSpec): Promise<void> {
  const { resources } = await admin.describeConfigs({
    resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: spec.topic, configNames: ['cleanup.policy', 'retention.ms'] }],
    includeSynonyms: false,
  });
  const entries = resources.find((r) => r.resourceName === spec.topic)?.configEntries ?? [];
  const value = (name: string): string | undefined => entries.find((e) => e.configName === name)?.configValue;
  const policy = value('cleanup.policy') ?? 'delete';
  const policies = policy.split(',').map((p) => p.trim());
  if (!policies.includes('compact')) {
    throw new RebalancerError('REB_CONFIG_INVALID', `topic ${spec.topic} (the ${spec.purpose}) has cleanup.policy=${policy}; it must be compacted (cleanup.policy=compact): use another topic name or change its cleanup.policy`, { topic: spec.topic, cleanupPolicy: policy });
  }
  const retention = Number(value('retention.ms'));
  if (policies.includes('delete') && retention !== -1) {
    throw new RebalancerError('REB_CONFIG_INVALID', `topic ${spec.topic} (the ${spec.purpose}) has cleanup.policy=${policy} with retention.ms=${value('retention.ms') ?? 'default'}: state not rewritten within that time would be deleted; set cleanup.policy=compact (or retention.ms=-1)`, { topic: spec.topic, cleanupPolicy: policy });
  }
}

/**
 * The one-partition compacted topics the service keeps state in (changelog, global counts):
 * records are rewritten often, so the cleaner runs once a tenth of the log is overwritten,
 * and segments roll every 10 minutes (the active segment is never cleaned). Logs a line when
 * it creates the topic.
 */
export async function ensureStateTopic(admin: Admin, o: { topic: string; purpose: string; replicationFactor?: number | undefined; log(msg: string): void }): Promise<void> {
  const created = await ensureCompactedTopic(admin, {
    topic: o.topic,
    purpose: o.purpose,
    partitions: 1,
    configs: { 'min.cleanable.dirty.ratio': '0.1', 'segment.ms': '600000' },
    ...(o.replicationFactor !== undefined ? { replicationFactor: o.replicationFactor } : {}),
  });
  if (created) o.log(`created the ${o.purpose} topic ${o.topic} (compacted, 1 partition)`);
}
