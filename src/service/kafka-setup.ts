/**
 * Start-up step 3: the Kafka clients and topics, then the partition-owned state (the
 * changelog and counts topics, and the global window read to its end before this instance
 * joins the group; docs/operations.md, "Scaling out").
 */
import type { Admin, Kafka, Producer } from 'kafkajs';
import type { ServiceConfig } from '../config/index.js';
import { waitForKafka } from '../adapters/kafka/connect.js';
import { withTimeout } from '../adapters/kafka/deadline.js';
import type { KafkaSecurityFields } from '../adapters/kafka/security.js';
import { ensureTopics, type TopicSpec } from '../adapters/kafka/topics.js';
import type { ServiceMetrics } from '../metrics/index.js';
import type { BalanceAdapter } from '../train/balance-adapter.js';
import { ScaleOut } from './scale-out.js';

/** Partitions of the events topic when the service creates it (the dead-letter and recommendations topics get one). */
export const EVENTS_TOPIC_PARTITIONS = 3;

/** The topics the service reads and writes, as it creates them when they are missing. */
export function serviceTopics(config: ServiceConfig): TopicSpec[] {
  return [
    { topic: config.topic, partitions: EVENTS_TOPIC_PARTITIONS },
    { topic: config.dlqTopic, partitions: 1 },
    { topic: config.recommendationsTopic, partitions: 1 },
  ];
}

export interface KafkaClients {
  kafka: Kafka;
  producer: Producer;
  security: KafkaSecurityFields;
}

/**
 * Connects the admin client (bounded retry, then one line naming the brokers and attempts,
 * REB_KAFKA_UNAVAILABLE; refused credentials or TLS at once, REB_KAFKA_AUTH_FAILED),
 * creates the missing service topics and connects the producer. Each disconnect is pushed
 * on `undo` before its connect.
 */
export async function connectKafka(config: ServiceConfig, k: KafkaClients, log: (msg: string) => void, undo: Array<() => Promise<unknown>>): Promise<Admin> {
  const admin = k.kafka.admin();
  undo.push(() => admin.disconnect());
  await waitForKafka({
    brokers: config.brokers,
    security: k.security,
    timeoutMs: config.connectTimeoutMs,
    onRetry: (n, why) => {
      if (config.logLevel === 'debug') log(`Kafka not reachable yet (attempt ${n}): ${why}`);
    },
  });
  await withTimeout(admin.connect(), config.connectTimeoutMs, `connecting to Kafka at ${config.brokers.join(',')}`);
  await ensureTopics(admin, serviceTopics(config), { timeoutMs: config.connectTimeoutMs, target: { brokers: config.brokers, security: k.security } });
  undo.push(() => k.producer.disconnect());
  await withTimeout(k.producer.connect(), config.connectTimeoutMs, 'connecting the producer');
  return admin;
}

/**
 * Starts the partition-owned state on `admin` (which it keeps, and disconnects when it
 * stops) and makes the global window the balance state's count source.
 */
export async function startScaleOut(
  config: ServiceConfig,
  d: { kafka: Kafka; producer: Producer; admin: Admin; balance: BalanceAdapter; metrics: ServiceMetrics; log(msg: string): void; now(): number },
  undo: Array<() => Promise<unknown>>,
): Promise<ScaleOut> {
  const scaleOut = new ScaleOut(config, { kafka: d.kafka, producer: d.producer, metrics: d.metrics, log: d.log, now: d.now });
  await scaleOut.start(d.admin);
  undo.push(() => scaleOut.stop());
  d.balance.state.useCountSource(scaleOut.global);
  return scaleOut;
}
