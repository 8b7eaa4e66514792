import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { startLocalKafka, type LocalKafka } from '../../dev/local-broker.js';

let own: Promise<LocalKafka> | undefined;

/**
 * Brokers of the run's real Kafka (started by test/run.ts). A file run on its own
 * (`node --import tsx --test file`) starts a broker of its own, stopped at exit.
 */
export async function testBrokers(): Promise<string[]> {
  const env = process.env.REBALANCER_TEST_BROKERS;
  if (env) return env.split(',');
  // Unreferenced (detached) so the test process can end; killed synchronously at exit.
  own ??= startLocalKafka({ detached: true }).then((k) => {
    process.once('exit', () => {
      try { process.kill(k.pid, 'SIGKILL'); } catch { /* already gone */ }
      rmSync(k.dataDir, { recursive: true, force: true });
    });
    return k;
  });
  return (await own).brokers;
}

/** A topic name no other test uses. */
export function uniqueTopic(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export function testKafka(brokers: string[], clientId = 'test'): Kafka {
  return new Kafka({ clientId, brokers, logLevel: logLevel.ERROR });
}

export async function createTopic(brokers: string[], topic: string, partitions = 1): Promise<void> {
  const admin = testKafka(brokers, 'test-admin').admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}
