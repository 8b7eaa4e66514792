/**
 * Per-partition watermarks on the real broker: a replayed history (original event times,
 * keyed by user) spread over 3 partitions with very different densities, read by the
 * service with small fetches, so that the consumer's progress in event time is skewed
 * (each fetch covers hours of the sparse partition and minutes of the dense one). Only the
 * events injected as really late (a day older than everything) count as late; with the
 * alignment off (--partition-idle-ms 0, the single watermark of before) the same topic
 * counts most events late.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { CompressionTypes } from 'kafkajs';
import { createEventCodec, makeEvent, type InteractionEvent } from '../../src/codec/index.js';
import { startService, type ServiceHandle } from '../../src/service/index.js';
import { EMBEDDED_STREAM, createGenerator } from '../../src/offline/generate.js';
import { testBrokers, testKafka, uniqueTopic } from '../helpers/kafka.js';
import { testConfig, waitFor, type StreamTopics } from './helpers.js';

const EVENTS = 6_000;
const INJECTED_LATE = 5;
/** Share of the users (so of the events) per partition: the sparse partition's event time runs ahead. */
const PARTITION_OF_USER_MOD_10 = [0, 1, 1, 1, 2, 2, 2, 2, 2, 2];

interface Replayed {
  topics: StreamTopics;
  perPartition: number[];
  spanHours: number;
}

/** A topic holding the history (or, with `produce` false, the history to produce later by `produceHistory`). */
async function replayedTopic(brokers: string[], produce = true): Promise<Replayed & { produceHistory(): Promise<void> }> {
  const topic = uniqueTopic('pwm-events');
  const admin = testKafka(brokers, 'test-admin').admin();
  await admin.connect();
  try {
    // History keeps its original timestamps: without retention.ms -1 the broker would delete it by time.
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '-1' }] }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  const codec = createEventCodec();
  // 6,000 events 6 s apart on average: 10 hours of history.
  const stream = createGenerator({ ...EMBEDDED_STREAM, seed: 11, meanGapMs: 6_000 });
  const events: Array<{ event: InteractionEvent; partition: number }> = [];
  for (let i = 0; i < EVENTS; i++) {
    const event = stream.next();
    events.push({ event, partition: PARTITION_OF_USER_MOD_10[Number(event.userId.replace(/\D/g, '')) % 10]! });
  }
  const first = events[0]!.event.eventTime;
  const last = events[events.length - 1]!.event.eventTime;
  // Really late: a day before the history, at the end of the dense (slowest) partition.
  for (let i = 0; i < INJECTED_LATE; i++) {
    events.push({ event: makeEvent({ eventId: `really-late-${i}`, userId: 'user-4', itemId: 'item-1', categoryId: 'cat-000', type: 'click', eventTime: first - 24 * 3_600_000 + i }), partition: 2 });
  }
  const perPartition = [0, 0, 0];
  for (const { partition } of events) perPartition[partition]!++;
  // In produce requests of 500 records, in event-time order, as `rebalancer replay` sends them.
  const produceHistory = async (): Promise<void> => {
    const producer = testKafka(brokers, 'test-producer').producer();
    await producer.connect();
    try {
      for (let i = 0; i < events.length; i += 500) {
        const messages = events.slice(i, i + 500).map(({ event, partition }) => ({ key: event.userId, value: codec.encode(event), partition, timestamp: String(event.eventTime) }));
        await producer.send({ topic, messages, compression: CompressionTypes.None });
      }
    } finally {
      await producer.disconnect();
    }
  };
  if (produce) await produceHistory();
  return { topics: { topic, dlqTopic: `${topic}.dlq`, recommendationsTopic: `${topic}.recs`, groupId: `${topic}-group` }, perPartition, spanHours: (last - first) / 3_600_000, produceHistory };
}

interface Run {
  late: number;
  applied: number;
  lateMetric: number;
  forcedMetric: number;
  seconds: number;
}

async function consume(brokers: string[], topics: StreamTopics, group: string, partitionIdleMs: number, whileRunning?: () => Promise<void>): Promise<Run> {
  const started = Date.now();
  // Small fetches (16 KB per partition): each one covers hours of the sparse partition's event time.
  const config = testConfig(brokers, { ...topics, groupId: group }, { train: false, fetchMaxBytes: 65_536, partitionIdleMs });
  const service: ServiceHandle = await startService(config, { log: () => {} });
  try {
    await whileRunning?.();
    const state = await waitFor('every event applied', async () => {
      const st = service.state();
      return st.totals.applied >= EVENTS + INJECTED_LATE ? st : undefined;
    }, 45_000);
    const seconds = (Date.now() - started) / 1000;
    const lines = (await service.registry.metrics()).split('\n');
    const metric = (name: string): number => Number(lines.find((l) => l.startsWith(`${name} `))?.slice(name.length + 1) ?? NaN);
    return { late: state.totals.late, applied: state.totals.applied, lateMetric: metric('rebalancer_events_late_total'), forcedMetric: metric('rebalancer_watermark_forced_events_total'), seconds };
  } finally {
    await service.stop();
  }
}

describe('per-partition watermarks on the real broker: a replayed history over 3 partitions read unevenly', () => {
  let brokers: string[];
  let replay: Replayed;

  before(async () => {
    brokers = await testBrokers();
    replay = await replayedTopic(brokers);
  });

  it('counts exactly the injected late events as late', async (t) => {
    assert.ok(replay.perPartition[2]! > 5 * replay.perPartition[0]!, `skewed densities ${replay.perPartition.join('/')}`);
    const run = await consume(brokers, replay.topics, `${replay.topics.groupId}-aligned`, 5_000);
    t.diagnostic(`partitions ${replay.perPartition.join('/')} events over ${replay.spanHours.toFixed(1)} h: late ${run.late}, applied ${run.applied} in ${run.seconds.toFixed(1)} s`);
    assert.equal(run.applied, EVENTS + INJECTED_LATE);
    assert.equal(run.late, INJECTED_LATE, `late ${run.late} over ${replay.spanHours.toFixed(1)} h of history (${run.seconds.toFixed(1)} s)`);
    assert.equal(run.lateMetric, INJECTED_LATE);
    assert.equal(run.forcedMetric, 0, 'nothing applied ahead of the watermark for lack of room');
    assert.ok(run.seconds < 40, `caught up in ${run.seconds.toFixed(1)} s (the newest events wait --partition-idle-ms for the slower partitions)`);
  });

  it('with the alignment off (the single watermark of before) the same topic counts most events late', async (t) => {
    const run = await consume(brokers, replay.topics, `${replay.topics.groupId}-single`, 0);
    t.diagnostic(`alignment off: late ${run.late} of ${run.applied} (${((100 * run.late) / run.applied).toFixed(0)}%) in ${run.seconds.toFixed(1)} s`);
    assert.equal(run.applied, EVENTS + INJECTED_LATE);
    assert.ok(run.late > EVENTS / 3, `late ${run.late} of ${EVENTS + INJECTED_LATE}`);
  });

  it('counts exactly the injected late events as late when the history is replayed into the topic while the service reads it', async (t) => {
    // The service is caught up between produce requests, and a fetch returns as soon as the
    // first partition of a request has data: the others' part of it comes a moment later.
    const live = await replayedTopic(brokers, false);
    const run = await consume(brokers, live.topics, `${live.topics.groupId}-live`, 5_000, () => live.produceHistory());
    t.diagnostic(`replayed while reading: late ${run.late}, applied ${run.applied} in ${run.seconds.toFixed(1)} s`);
    assert.equal(run.applied, EVENTS + INJECTED_LATE);
    assert.equal(run.late, INJECTED_LATE);
    assert.equal(run.forcedMetric, 0);
  });
});
