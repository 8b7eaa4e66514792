/**
 * ensureTopics on the real broker: missing topics are created with their partitions and
 * configs, existing ones are left as they are, and the answer names what this call created.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import kafkajs, { type Admin } from 'kafkajs';
import { withTimeout } from '../../../src/adapters/kafka/deadline.js';
import { ensureTopics } from '../../../src/adapters/kafka/topics.js';
import { isRebalancerError } from '../../../src/errors.js';
import { createTopic, testBrokers, testKafka, uniqueTopic } from '../../helpers/kafka.js';

async function partitionsOf(admin: Admin, topic: string): Promise<number> {
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
  return topics[0]!.partitions.length;
}

async function configOf(admin: Admin, topic: string, name: string): Promise<string | undefined> {
  const { resources } = await admin.describeConfigs({ resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: [name] }], includeSynonyms: false });
  return resources[0]?.configEntries.find((e) => e.configName === name)?.configValue;
}

describe('ensureTopics (real Kafka)', () => {
  let brokers: string[];
  let admin: Admin;
  before(async () => {
    brokers = await testBrokers();
    admin = testKafka(brokers, 'test-topics').admin();
    await admin.connect();
  });
  after(async () => {
    await admin?.disconnect();
  });

  it('creates the missing topics with their partitions and configs, and names them', async () => {
    const events = uniqueTopic('ensure-events');
    const dlq = uniqueTopic('ensure-dlq');
    const created = await ensureTopics(admin, [
      { topic: events, partitions: 3, configs: { 'max.message.bytes': '2000000' } },
      { topic: dlq, partitions: 1 },
    ]);
    assert.deepEqual(created, [events, dlq]);
    assert.equal(await partitionsOf(admin, events), 3);
    assert.equal(await partitionsOf(admin, dlq), 1);
    assert.equal(await configOf(admin, events, 'max.message.bytes'), '2000000');
    assert.notEqual(await configOf(admin, dlq, 'max.message.bytes'), '2000000', 'no config asked: the broker default');
  });

  it('leaves an existing topic as it is and creates only the rest', async () => {
    const existing = uniqueTopic('ensure-existing');
    const fresh = uniqueTopic('ensure-fresh');
    await createTopic(brokers, existing, 2);
    const created = await ensureTopics(admin, [
      { topic: existing, partitions: 5, configs: { 'max.message.bytes': '2000000' } },
      { topic: fresh, partitions: 2 },
    ], { timeoutMs: 10_000 });
    assert.deepEqual(created, [fresh]);
    assert.equal(await partitionsOf(admin, existing), 2, 'partitions unchanged');
    assert.notEqual(await configOf(admin, existing, 'max.message.bytes'), '2000000', 'configs unchanged');
    assert.deepEqual(await ensureTopics(admin, [{ topic: fresh, partitions: 2 }]), [], 'nothing left to create');
  });

  it('a failed creation is REB_KAFKA_UNAVAILABLE naming the topics', async () => {
    const bad = uniqueTopic('ensure-bad');
    await assert.rejects(ensureTopics(admin, [{ topic: bad, partitions: 1, configs: { 'retention.ms': 'not-a-number' } }]), (err: unknown) => {
      assert.ok(isRebalancerError(err, 'REB_KAFKA_UNAVAILABLE'), String(err));
      assert.match(err.message, new RegExp(`^could not create topics ${bad}: `));
      assert.deepEqual(err.details, { topics: [bad] });
      return true;
    });
  });
});

describe('withTimeout', () => {
  it('rejects with REB_KAFKA_UNAVAILABLE naming what timed out; a settled promise passes through', async () => {
    await assert.rejects(withTimeout(new Promise<never>(() => {}), 20, 'listing topics'), (err: unknown) => isRebalancerError(err, 'REB_KAFKA_UNAVAILABLE') && err.message === 'listing topics timed out after 20 ms');
    assert.equal(await withTimeout(Promise.resolve(7), 20, 'x'), 7);
  });
});
