import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { createEventCodec, makeEvent, type InteractionEvent } from '../../src/codec/index.js';
import { createTopic, testBrokers, testKafka, uniqueTopic } from '../helpers/kafka.js';

describe('Avro events through the real broker', () => {
  let kafka: Kafka;
  let brokers: string[];
  before(async () => {
    brokers = await testBrokers();
    kafka = testKafka(brokers, 'kafka-avro-test');
  });
  after(() => {});

  it('consumes back byte-exact payloads that decode to the produced events, v1 writers included', async () => {
    const topic = uniqueTopic('avro-roundtrip');
    await createTopic(brokers, topic, 3);
    const codec = createEventCodec();
    const events: InteractionEvent[] = [];
    const payloads = new Map<string, Buffer>();
    for (let i = 0; i < 300; i++) {
      const e = makeEvent({ eventId: `rt-${i}`, userId: `u-${i % 13}`, itemId: `i-${i}`, categoryId: `c-${i % 5}`, type: i % 10 === 0 ? 'purchase' : 'click', eventTime: 1_767_225_600_000 + i, ...(i % 2 ? { price: i / 4 } : {}) });
      events.push(e);
      // Every third event comes from an older producer still writing schema v1.
      payloads.set(e.eventId, i % 3 === 0 ? codec.encodeVersion(1, e) : codec.encode(e));
    }
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: events.map((e) => ({ key: e.userId, value: payloads.get(e.eventId)!, timestamp: String(e.eventTime) })) });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: uniqueTopic('avro-roundtrip-group') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = new Map<string, { raw: Buffer; decoded: InteractionEvent; key: string; timestamp: string }>();
    // Disconnected whatever happens: a consumer left running keeps the test process alive.
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${received.size}/300 messages consumed in 60 s`)), 60_000);
        void consumer.run({
          eachMessage: async ({ message }) => {
            const decoded = codec.decode(message.value!);
            received.set(decoded.eventId, { raw: message.value!, decoded, key: message.key!.toString(), timestamp: message.timestamp });
            if (received.size === events.length) { clearTimeout(timer); resolve(); }
          },
        });
      });
    } finally {
      await consumer.disconnect();
    }

    assert.equal(received.size, events.length);
    for (const [i, e] of events.entries()) {
      const got = received.get(e.eventId)!;
      assert.ok(got.raw.equals(payloads.get(e.eventId)!), `payload of ${e.eventId} is byte-exact`);
      const expected = i % 3 === 0 ? { ...e, price: null, sessionId: null, extra: {} } : e;
      assert.deepEqual({ ...got.decoded }, expected);
      assert.equal(got.key, e.userId);
      assert.equal(got.timestamp, String(e.eventTime));
    }
  });
});
