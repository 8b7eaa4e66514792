/**
 * The local broker restarts on its own data directory, as operators restart a broker:
 * same cluster id and ports, and the records written before the stop are still there.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { startLocalKafka } from '../../src/kafka/local-broker.js';

async function produce(brokers: string[], topic: string, n: number): Promise<void> {
  const kafka = new Kafka({ clientId: 'restart-test', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: `v${i}` })) });
  await producer.disconnect();
}

async function offsets(brokers: string[], topic: string): Promise<{ low: string; high: string }> {
  const kafka = new Kafka({ clientId: 'restart-test', brokers, logLevel: logLevel.NOTHING, retry: { retries: 10 } });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [p] = await admin.fetchTopicOffsets(topic);
    return { low: p!.low, high: p!.high };
  } finally {
    await admin.disconnect();
  }
}

describe('local broker restart', () => {
  it('stops and starts again on its own data directory with its records', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rebalancer-restart-'));
    try {
      const first = await startLocalKafka({ dataDir });
      try {
        await produce(first.brokers, 'kept', 25);
      } finally {
        await first.stop();
      }
      const second = await startLocalKafka({ dataDir });
      try {
        assert.deepEqual(second.brokers, first.brokers, 'same listener after a restart');
        assert.deepEqual(await offsets(second.brokers, 'kept'), { low: '0', high: '25' });
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
