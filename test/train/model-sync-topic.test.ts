/**
 * The Kafka transport of model sync (src/train/model-sync-topic.ts) on a real broker: an
 * update larger than one chunk reaches the other instance whole and unchanged, in chunks of
 * at most 64 KiB on `<events-topic>.rebalancer-model`, and no instance receives its own.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Rng } from '../../src/balance/rng.js';
import { MAX_CHUNK_BYTES, type ModelUpdate } from '../../src/train/model-sync-codec.js';
import { ModelSyncTopic, modelSyncTopicName } from '../../src/train/model-sync-topic.js';
import type { ModelChanges } from '../../src/train/model-sync.js';
import { testBrokers, testKafka, uniqueTopic } from '../helpers/kafka.js';

function changes(seed: number, rows: number): ModelChanges {
  const rng = new Rng(seed);
  const width = 32;
  const ids = Int32Array.from({ length: rows }, (_, i) => 3 * i + rng.int(3));
  const block = { rows: ids, counts: Float32Array.from(ids, () => 1 + rng.int(9)), values: Float32Array.from({ length: rows * width }, () => rng.normal()) };
  const empty = { rows: new Int32Array(0), counts: new Float32Array(0), values: new Float32Array(0) };
  return {
    kind: 'values',
    width,
    tables: [block, empty, empty],
    positives: { users: Int32Array.of(1, 2), items: Int32Array.of(3, 4), categories: Int32Array.of(0, 1), ages: Float32Array.of(5, 0) },
    dense: [Float32Array.from({ length: 100 }, () => rng.normal())],
    denseSamples: 640,
  };
}

describe('model sync over Kafka', () => {
  const stops: Array<() => Promise<void>> = [];
  after(async () => {
    await Promise.all(stops.map((s) => s()));
  });

  it('a multi-chunk update reaches the other instance unchanged; an instance never receives its own', async () => {
    const brokers = await testBrokers();
    const eventsTopic = uniqueTopic('sync-events');
    const received: Record<string, ModelUpdate[]> = { a: [], b: [] };
    const transports = ['a', 'b'].map((id) => {
      const t = new ModelSyncTopic({ kafka: testKafka(brokers, `sync-${id}`), eventsTopic, instanceId: id, groupId: `${eventsTopic}-group`, log: () => {} });
      stops.push(() => t.stop());
      return t;
    });
    await Promise.all(transports.map((t, i) => t.start((u) => received[['a', 'b'][i]!]!.push(u))));
    const [ta, tb] = transports as [ModelSyncTopic, ModelSyncTopic];
    // ~400 KB: seven chunks.
    const big: ModelUpdate = { instanceId: 'a', seq: 0, createdAt: Date.now(), changes: changes(1, 3000) };
    const small: ModelUpdate = { instanceId: 'b', seq: 0, createdAt: Date.now(), changes: changes(2, 10) };
    // A consumer that just joined may not yet have resolved its start offset: publish until heard.
    const until = Date.now() + 60_000;
    let sent = { bytes: 0, chunks: 0 };
    let chunks = 0;
    while (received.b!.length === 0 || received.a!.length === 0) {
      if (Date.now() > until) throw new Error(`not received: a got ${received.a!.length}, b got ${received.b!.length}`);
      if (received.b!.length === 0) {
        sent = await ta.publish({ ...big, seq: big.seq++ });
        chunks += sent.chunks;
      }
      if (received.a!.length === 0) chunks += (await tb.publish({ ...small, seq: small.seq++ })).chunks;
      await new Promise((r) => setTimeout(r, 500));
    }
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(sent.chunks >= 6, `${sent.chunks} chunks`);
    assert.ok(sent.bytes <= sent.chunks * MAX_CHUNK_BYTES);
    assert.ok(received.b!.every((u) => u.instanceId === 'a'), 'b received only a\'s updates');
    assert.ok(received.a!.every((u) => u.instanceId === 'b'), 'a received only b\'s updates');
    assert.deepEqual(received.b!.at(-1)!.changes, big.changes);
    assert.deepEqual(received.a!.at(-1)!.changes, small.changes);
    // On the broker: every chunk is a message of at most 64 KiB, keyed by its sender.
    const sizes: number[] = [];
    const reader = testKafka(brokers, 'sync-reader').consumer({ groupId: uniqueTopic('sync-reader') });
    stops.push(() => reader.disconnect());
    await reader.connect();
    await reader.subscribe({ topic: modelSyncTopicName(eventsTopic), fromBeginning: true });
    await reader.run({
      eachMessage: async ({ message }) => {
        assert.ok(['a', 'b'].includes(message.key?.toString() ?? ''));
        sizes.push(message.value?.byteLength ?? 0);
      },
    });
    while (sizes.length < chunks) {
      if (Date.now() > until) throw new Error(`read ${sizes.length} of ${chunks} chunks`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(sizes.length, chunks);
    assert.ok(Math.max(...sizes) <= MAX_CHUNK_BYTES, `largest message ${Math.max(...sizes)} bytes`);
    assert.equal(ta.invalidChunks + tb.invalidChunks, 0);
  });
});
