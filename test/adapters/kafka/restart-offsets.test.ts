/**
 * A broker stopped and started again on its own data directory, as operators restart one,
 * keeps its cluster id, its port, its topics and its consumer groups' committed offsets,
 * including a directory whose formatting predates (or lost) our identity file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { startLocalKafka, type LocalKafka } from '../../../dev/local-broker.js';

const TOPIC = 'kept-across-restarts';
const GROUP = 'kept-group';
const N = 40;
const COMMITTED = 15;

function kafka(brokers: string[]): Kafka {
  return new Kafka({ clientId: 'restart-offsets-test', brokers, logLevel: logLevel.NOTHING, retry: { retries: 10 } });
}

/** Creates the topic, writes N records and commits offset COMMITTED for GROUP. */
async function seed(brokers: string[]): Promise<void> {
  const admin = kafka(brokers).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    const producer = kafka(brokers).producer();
    await producer.connect();
    await producer.send({ topic: TOPIC, messages: Array.from({ length: N }, (_, i) => ({ key: `k${i}`, value: `v${i}` })) });
    await producer.disconnect();
    await admin.setOffsets({ groupId: GROUP, topic: TOPIC, partitions: [{ partition: 0, offset: String(COMMITTED) }] });
  } finally {
    await admin.disconnect();
  }
}

interface Kept { low: string; high: string; committed: string | undefined }

async function kept(brokers: string[]): Promise<Kept> {
  const admin = kafka(brokers).admin();
  await admin.connect();
  try {
    const [p] = await admin.fetchTopicOffsets(TOPIC);
    const [group] = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
    return { low: p!.low, high: p!.high, committed: group?.partitions.find((x) => x.partition === 0)?.offset };
  } finally {
    await admin.disconnect();
  }
}

/** The values a member of GROUP reads after the restart: it resumes at the committed offset. */
async function resumeGroup(brokers: string[]): Promise<string[]> {
  const consumer = kafka(brokers).consumer({ groupId: GROUP });
  const values: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: TOPIC });
    await new Promise<void>((resolveAll, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${values.length} of ${N - COMMITTED} records in 30 s`)), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          values.push(message.value?.toString() ?? '');
          if (values.length === N - COMMITTED) { clearTimeout(timer); resolveAll(); }
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return values;
}

async function withBroker<T>(start: Promise<LocalKafka>, body: (k: LocalKafka) => Promise<T>): Promise<T> {
  const broker = await start;
  try {
    return await body(broker);
  } finally {
    await broker.stop();
  }
}

describe('local broker restart on its own data directory', () => {
  it('keeps the port, the topic with its N records and the committed offset', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rebalancer-restart-offsets-'));
    try {
      const before = await withBroker(startLocalKafka({ dataDir }), async (k) => { await seed(k.brokers); return k.brokers; });
      await withBroker(startLocalKafka({ dataDir }), async (k) => {
        assert.deepEqual(k.brokers, before, 'the restarted broker listens where it did');
        assert.deepEqual(await kept(k.brokers), { low: '0', high: String(N), committed: String(COMMITTED) });
        const expected = Array.from({ length: N - COMMITTED }, (_, i) => `v${COMMITTED + i}`);
        assert.deepEqual(await resumeGroup(k.brokers), expected, 'the group resumes at its committed offset and every later record is there');
      });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('restarts a directory formatted without our identity file, with the cluster id of its meta.properties', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rebalancer-restart-offsets-'));
    try {
      const port = await withBroker(startLocalKafka({ dataDir }), async (k) => { await seed(k.brokers); return Number(k.brokers[0]!.split(':')[1]); });
      // A directory from before the identity file existed (or one whose file was lost):
      // formatting it again with a fresh id fails with "Invalid cluster.id".
      rmSync(join(dataDir, 'rebalancer-broker.json'));
      await withBroker(startLocalKafka({ dataDir, port }), async (k) => {
        assert.deepEqual(k.brokers, [`127.0.0.1:${port}`]);
        assert.deepEqual(await kept(k.brokers), { low: '0', high: String(N), committed: String(COMMITTED) });
      });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
