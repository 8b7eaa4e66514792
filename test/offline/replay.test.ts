import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { createEventCodec, makeEvent } from '../../src/codec/index.js';
import { EventFileWriter, openEventFile } from '../../src/adapters/event-file.js';
import { replay } from '../../src/offline/replay.js';
import { connectProducer, kafkaClient } from '../../src/adapters/sink.js';
import { fileSource } from '../../src/adapters/sources.js';
import { createTopic, testBrokers, uniqueTopic } from '../helpers/kafka.js';
import { cli, consumeAll, tempDir } from './helpers.js';

const codec = createEventCodec();
let brokers: string[];
let dir: string;
let file: string;
/** The generated file's events in record order. */
let recorded: { eventId: string; userId: string; eventTime: number }[];
const N = 3_000;

before(async () => {
  brokers = await testBrokers();
  dir = tempDir('replay-test');
  file = join(dir, 'events.bin');
  await cli('generate', '--out', file, '--events', String(N), '--seed', '11', '--users', '300');
  const f = openEventFile(file);
  recorded = [...f.records()].map((r) => codec.decode(r.payload));
  f.close();
});

function assertSameEvents(got: Awaited<ReturnType<typeof consumeAll>>): void {
  assert.equal(got.length, N, 'event count');
  const position = new Map(recorded.map((e, i) => [e.eventId, i]));
  const seen = new Set<string>();
  const lastPerPartition = new Map<number, number>();
  for (const { partition, message } of got) {
    const e = codec.decode(message.value!);
    assert.ok(!seen.has(e.eventId), `duplicate ${e.eventId}`);
    seen.add(e.eventId);
    assert.equal(message.key!.toString(), e.userId, 'key = userId');
    assert.equal(Number(message.timestamp), e.eventTime, 'timestamp = eventTime');
    const pos = position.get(e.eventId);
    assert.ok(pos !== undefined, `unknown event ${e.eventId}`);
    // Order within a partition follows the recorded order.
    assert.ok(pos > (lastPerPartition.get(partition) ?? -1), `partition ${partition} out of order at ${e.eventId}`);
    lastPerPartition.set(partition, pos);
  }
  assert.equal(seen.size, N);
}

describe('replay', () => {
  it('replays a file into a topic keeping count, per-partition order, keys and timestamps', async () => {
    const target = uniqueTopic('replay-file');
    await createTopic(brokers, target, 3);
    await cli('replay', '--file', file, '--brokers', brokers.join(','), '--topic', target, '--progress-file', join(dir, 'p1.json'));
    assertSameEvents(await consumeAll(brokers, target, N));
  });

  it('replays a topic into a topic with identical partition contents', async () => {
    const source = uniqueTopic('replay-src');
    const target = uniqueTopic('replay-dst');
    await createTopic(brokers, source, 3);
    await createTopic(brokers, target, 3);
    await cli('replay', '--file', file, '--brokers', brokers.join(','), '--topic', source, '--progress-file', join(dir, 'p2.json'));
    await cli('replay', '--source-topic', source, '--brokers', brokers.join(','), '--topic', target, '--progress-file', join(dir, 'p3.json'));
    const src = await consumeAll(brokers, source, N);
    const dst = await consumeAll(brokers, target, N);
    assertSameEvents(dst);
    for (const p of [0, 1, 2]) {
      const a = src.filter((m) => m.partition === p).map((m) => [m.message.key!.toString(), m.message.timestamp, m.message.value!.toString('hex')]);
      const b = dst.filter((m) => m.partition === p).map((m) => [m.message.key!.toString(), m.message.timestamp, m.message.value!.toString('hex')]);
      assert.ok(a.length > 0, `partition ${p} of the source is empty`);
      assert.deepEqual(b, a, `partition ${p}`);
    }
  });

  it('resumes where an interrupted run stopped, without gaps or duplicates', async () => {
    const target = uniqueTopic('replay-resume');
    await createTopic(brokers, target, 3);
    const progressFile = join(dir, 'resume.json');
    // The first run stops after 1,200 records (as if interrupted there).
    await cli('replay', '--file', file, '--brokers', brokers.join(','), '--topic', target, '--progress-file', progressFile, '--to-offset', '1200');
    const mid = JSON.parse(readFileSync(progressFile, 'utf8')) as { replayed: number; file: { index: number } };
    assert.equal(mid.replayed, 1200);
    assert.equal(mid.file.index, 1200);
    await cli('replay', '--file', file, '--brokers', brokers.join(','), '--topic', target, '--progress-file', progressFile, '--resume');
    assertSameEvents(await consumeAll(brokers, target, N));
    const end = JSON.parse(readFileSync(progressFile, 'utf8')) as { replayed: number };
    assert.equal(end.replayed, N);
  });

  it('generate --topic produces keyed, event-time-stamped messages', async () => {
    const topic = uniqueTopic('generate-topic');
    await cli('generate', '--brokers', brokers.join(','), '--topic', topic, '--events', '500', '--seed', '11', '--users', '300', '--partitions', '2');
    const got = await consumeAll(brokers, topic, 500);
    assert.equal(got.length, 500);
    assert.deepEqual(new Set(got.map((m) => m.partition)), new Set([0, 1]));
    const ids = new Set<string>();
    for (const { message } of got) {
      const e = codec.decode(message.value!);
      ids.add(e.eventId);
      assert.equal(message.key!.toString(), e.userId);
      assert.equal(Number(message.timestamp), e.eventTime);
    }
    // The same seed gives the same events as the file written in before().
    assert.deepEqual(ids, new Set(recorded.slice(0, 500).map((e) => e.eventId)));
  });

  it('paces by event time: 2 s of events at --speed 1 take 1.6–3.5 s, at --speed 4 under half that', async () => {
    // Events exactly 10 ms apart over 2 s of event time.
    const paced = join(dir, 'paced.bin');
    const w = new EventFileWriter(paced, { codec: 'avro-single-object', fingerprint: codec.currentFingerprint, source: 'test' });
    const t0 = Date.UTC(2026, 0, 1);
    for (let i = 0; i <= 200; i++) {
      w.write(codec.encode(makeEvent({ eventId: `p-${i}`, userId: `u-${i % 7}`, itemId: 'i', categoryId: 'c', type: 'click', eventTime: t0 + 10 * i })));
    }
    w.close();
    const kafka = kafkaClient(brokers, 'replay-pacing-test');
    const producer = await connectProducer(kafka);
    const target = uniqueTopic('replay-paced');
    await createTopic(brokers, target, 1);
    try {
      const run = async (speed: number): Promise<number> => {
        const source = fileSource(paced, {}, undefined, () => {});
        const s = await replay(source, producer, {
          target, speed, partitioning: 'key', batchSize: 500, progressFile: join(dir, `paced-${speed}.json`),
          sourceId: { kind: 'file', path: paced, size: 0 }, resumed: undefined, onProgress: () => {},
        });
        await source.close();
        assert.equal(s.thisRun, 201);
        return s.wallMs;
      };
      const at1 = await run(1);
      const at4 = await run(4);
      assert.ok(at1 >= 1_600 && at1 <= 3_500, `speed 1 took ${at1} ms`);
      assert.ok(at4 < at1 / 2, `speed 4 took ${at4} ms vs ${at1} ms at speed 1`);
    } finally {
      await producer.disconnect();
    }
    assert.ok(existsSync(join(dir, 'paced-1.json')));
  });
});
