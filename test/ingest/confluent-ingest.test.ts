/**
 * The service reads the Confluent wire format beside Avro single-object, on the real broker
 * and the real schema registry (Apicurio, file storage so a restart keeps its ids):
 * (1) a topic mixing both framings from v1 and v2 writers: every event counted once, per
 *     category as if all were single-object; recommendations written in the Confluent framing
 *     with --wire-format confluent;
 * (2) an id the registry does not have: exactly those events dead-lettered as unknown_schema
 *     (original bytes, the id named), the rest counted;
 * (3) the registry stopped mid-stream: Confluent events wait, /readyz says
 *     schema_registry_unavailable, nothing is dead-lettered; all counted once it is back;
 * (4) the registry down when the service starts: it starts, single-object events flow (on
 *     partitions where no Confluent event waits too), Confluent ones wait, all counted later.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Message } from 'kafkajs';
import { createEventCodec, createRecommendationCodec, type InteractionEvent } from '../../src/codec/index.js';
import { CONFLUENT_MAGIC } from '../../src/codec/single-object.js';
import type { ServiceConfig } from '../../src/config/index.js';
import { isRebalancerError } from '../../src/errors.js';
import { startLocalRegistry, type LocalRegistry } from '../../dev/local-registry.js';
import { SchemaRegistryClient } from '../../src/adapters/kafka/schema-registry.js';
import { startService, type ServiceHandle } from '../../src/service/index.js';
import { DLQ_HEADERS } from '../../src/ingest/dlq.js';
import { EMBEDDED_STREAM, createGenerator } from '../../src/offline/generate.js';
import { testBrokers, testKafka } from '../helpers/kafka.js';
import { freshTopics, readTopic, testConfig, waitFor, type StreamTopics } from './helpers.js';

type Framing = 'so1' | 'so2' | 'cf1' | 'cf2';
const MIX: readonly Framing[] = ['so1', 'so2', 'cf1', 'cf2'];

interface Ids {
  v1: number;
  v2: number;
}

interface Produced {
  count: number;
  byCategory: Map<string, number>;
  values: Buffer[];
}

const codec = createEventCodec();

function encode(e: InteractionEvent, framing: Framing, ids: Ids): Buffer {
  switch (framing) {
    case 'so1': return codec.encodeVersion(1, e);
    case 'so2': return codec.encode(e);
    case 'cf1': return codec.encodeConfluent(ids.v1, e, 1);
    case 'cf2': return codec.encodeConfluent(ids.v2, e, 2);
  }
}

/** Produces `count` synthetic events keyed by user (or to one partition), each in the framing `pick` gives it. */
async function produce(brokers: string[], topic: string, count: number, opts: { seed: number; ids: Ids; pick: (i: number) => Framing; partition?: number; into?: Produced }): Promise<Produced> {
  const stream = createGenerator({ ...EMBEDDED_STREAM, seed: opts.seed });
  const out = opts.into ?? { count: 0, byCategory: new Map<string, number>(), values: [] };
  const messages: Message[] = [];
  for (let i = 0; i < count; i++) {
    const e = stream.next();
    const value = encode(e, opts.pick(i), opts.ids);
    out.byCategory.set(e.categoryId, (out.byCategory.get(e.categoryId) ?? 0) + 1);
    out.values.push(value);
    messages.push({ key: e.userId, value, ...(opts.partition === undefined ? {} : { partition: opts.partition }) });
  }
  out.count += count;
  const producer = testKafka(brokers, 'test-producer').producer();
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += 1_000) await producer.send({ topic, messages: messages.slice(i, i + 1_000) });
  } finally {
    await producer.disconnect();
  }
  return out;
}

async function readyz(url: string): Promise<{ status: number; reasons: string[] }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, reasons: ((await res.json()) as { reasons: string[] }).reasons };
}

function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `series ${series} missing`);
  return Number(line.slice(series.length + 1));
}

async function metricsText(service: ServiceHandle): Promise<string> {
  return (await fetch(`${service.url}/metrics`)).text();
}

describe('Confluent wire format on the real broker and schema registry', { timeout: 300_000 }, () => {
  let brokers: string[];
  let registry: LocalRegistry | undefined;
  let registryPort: number;
  let registryUrl: string;
  const dataDir = mkdtempSync(join(tmpdir(), 'rebalancer-registry-test-'));
  const services: ServiceHandle[] = [];

  /** Registers both event schema versions under the topic's subject (what a Confluent producer does). */
  async function registerEvents(topic: string): Promise<Ids> {
    const writer = createEventCodec();
    const client = new SchemaRegistryClient({ url: registryUrl });
    const v2 = await client.registerValueSchemas(topic, writer);
    const v1 = await client.register(`${topic}-value`, writer.schemaOf(1));
    return { v1, v2 };
  }

  async function start(topics: StreamTopics, overrides: Partial<ServiceConfig> = {}): Promise<ServiceHandle> {
    const service = await startService(testConfig(brokers, topics, { train: false, schemaRegistry: registryUrl, registryTimeoutMs: 1_000, ...overrides }), { log: () => {} });
    services.push(service);
    return service;
  }

  before(async () => {
    brokers = await testBrokers();
    registry = await startLocalRegistry({ dataDir });
    registryPort = registry.port;
    registryUrl = registry.url;
  });

  after(async () => {
    for (const s of services) await s.stop().catch(() => {});
    await registry?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('(1) both framings from v1 and v2 writers: every event counted once, per category as single-object; recommendations in the Confluent framing', async () => {
    const topics = await freshTopics(brokers, 'cf-mix');
    const ids = await registerEvents(topics.topic);
    assert.notEqual(ids.v1, ids.v2);
    const N = 2_000;
    const mixed = await produce(brokers, topics.topic, N, { seed: 11, ids, pick: (i) => MIX[i % 4]! });
    // The single-object-only expectation: the same events, all single-object.
    const reference = new Map<string, number>();
    const ref = createGenerator({ ...EMBEDDED_STREAM, seed: 11 });
    for (let i = 0; i < N; i++) {
      const e = ref.next();
      reference.set(e.categoryId, (reference.get(e.categoryId) ?? 0) + 1);
    }
    const service = await start(topics, { train: true, wireFormat: 'confluent' });
    const state = await waitFor('every event applied', async () => {
      const s = service.state();
      return s.totals.applied + s.totals.invalid >= N ? s : undefined;
    }, 90_000);
    assert.equal(state.totals.applied, N);
    assert.equal(state.totals.invalid, 0);
    assert.equal(state.totals.duplicates, 0);
    assert.deepEqual(new Map(Object.entries(state.totals.byCategory)), reference);
    assert.deepEqual(new Map(Object.entries(state.totals.byCategory)), mixed.byCategory);
    const text = await metricsText(service);
    assert.equal(metric(text, 'rebalancer_events_framing_total{framing="single_object"}'), N / 2);
    assert.equal(metric(text, 'rebalancer_events_framing_total{framing="confluent"}'), N / 2);
    // One look-up per id, then cached.
    assert.equal(metric(text, 'rebalancer_schema_registry_requests_total{outcome="ok"}'), 2);
    assert.equal(metric(text, 'rebalancer_schema_registry_waiting_messages'), 0);

    // Recommendations: Confluent framing under the id registered for <recommendations-topic>-value.
    const recs = await readTopic(brokers, topics.recommendationsTopic, 1, 60_000);
    const subject = (await (await fetch(`${registryUrl}/subjects/${topics.recommendationsTopic}-value/versions/latest`)).json()) as { id: number };
    const reader = createRecommendationCodec();
    await new SchemaRegistryClient({ url: registryUrl }).learn(reader, subject.id);
    for (const r of recs) {
      assert.equal(r.value![0], CONFLUENT_MAGIC);
      assert.equal(r.value!.readUInt32BE(1), subject.id);
      assert.match(reader.decode(r.value!).userId, /^user-/);
    }
  });

  it('(2) an id the registry does not have: exactly those events dead-lettered as unknown_schema (original bytes), the rest counted', async () => {
    const topics = await freshTopics(brokers, 'cf-unknown');
    const ids = await registerEvents(topics.topic);
    const N = 1_200;
    const MISSING = 987_654_321;
    const good = await produce(brokers, topics.topic, N, { seed: 12, ids, pick: (i) => MIX[i % 4]! });
    const bad = await produce(brokers, topics.topic, 30, { seed: 13, ids: { v1: MISSING, v2: MISSING }, pick: () => 'cf2' });
    const service = await start(topics);
    const state = await waitFor('every event applied or dead-lettered', async () => {
      const s = service.state();
      return s.totals.applied + s.totals.invalid >= N + 30 && s.totals.deadLettered >= 30 ? s : undefined;
    }, 90_000);
    assert.equal(state.totals.applied, N);
    assert.equal(state.totals.invalid, 30);
    assert.deepEqual(new Map(Object.entries(state.totals.byCategory)), good.byCategory);
    const letters = await readTopic(brokers, topics.dlqTopic, 30);
    assert.equal(letters.length, 30);
    const sent = new Set(bad.values.map((v) => v.toString('hex')));
    for (const l of letters) {
      assert.equal(l.headers[DLQ_HEADERS.reason], 'unknown_schema');
      assert.ok(sent.has(l.value!.toString('hex')), 'the dead letter keeps the original bytes');
      assert.match(l.headers[DLQ_HEADERS.message] ?? '', new RegExp(`schema id ${MISSING}`));
    }
    const text = await metricsText(service);
    // The missing id is asked once; later events with it are dead-lettered from memory.
    assert.equal(metric(text, 'rebalancer_schema_registry_requests_total{outcome="unknown_id"}'), 1);
    assert.equal(metric(text, 'rebalancer_dlq_messages_total{reason="unknown_schema"}'), 30);
  });

  it('(3) the registry restarted mid-stream: Confluent events wait, /readyz says why, nothing dead-lettered, all counted after', async () => {
    const topics = await freshTopics(brokers, 'cf-restart');
    const ids = await registerEvents(topics.topic);
    const service = await start(topics);
    const produced = await produce(brokers, topics.topic, 600, { seed: 21, ids, pick: (i) => (i % 2 === 0 ? 'so1' : 'so2') });
    await waitFor('single-object events applied', async () => (service.state().totals.applied === 600 ? true : undefined), 60_000);
    await registry!.stop();
    registry = undefined;
    // A fresh service has learned no id: these wait for the registry.
    await produce(brokers, topics.topic, 600, { seed: 22, ids, pick: (i) => MIX[i % 4]!, into: produced });
    const down = await waitFor('/readyz 503 schema_registry_unavailable', async () => {
      const r = await readyz(service.url);
      return r.status === 503 && r.reasons.some((t) => /schema registry has not answered/.test(t)) ? r : undefined;
    }, 30_000);
    assert.ok(down.reasons.some((t) => /Confluent schema id \d+/.test(t)), down.reasons.join('; '));
    const text = await metricsText(service);
    assert.equal(metric(text, 'rebalancer_not_ready{reason="schema_registry_unavailable"}'), 1);
    assert.ok(metric(text, 'rebalancer_schema_registry_waiting_messages') > 0);
    assert.ok(metric(text, 'rebalancer_schema_registry_requests_total{outcome="unavailable"}') > 0);
    const during = service.state();
    assert.equal(during.totals.invalid, 0);
    assert.ok(during.totals.applied < 1_200);
    // Positions (what is committed) never pass a waiting event.
    assert.ok(Object.values(during.offsets.positions).reduce((a, b) => a + b, 0) < 1_200);
    registry = await startLocalRegistry({ dataDir, port: registryPort });
    const state = await waitFor('every event applied after the registry is back', async () => {
      const s = service.state();
      return s.totals.applied >= 1_200 ? s : undefined;
    }, 90_000);
    assert.equal(state.totals.applied, 1_200);
    assert.equal(state.totals.invalid, 0);
    assert.equal(state.totals.deadLettered, 0);
    assert.deepEqual(new Map(Object.entries(state.totals.byCategory)), produced.byCategory);
    await waitFor('/readyz 200 again', async () => ((await readyz(service.url)).status === 200 ? true : undefined), 30_000);
    assert.equal(metric(await metricsText(service), 'rebalancer_schema_registry_waiting_messages'), 0);
  });

  it('(4) the registry down at start: the service starts, single-object events flow, Confluent ones wait, all counted once it is up', async () => {
    const topics = await freshTopics(brokers, 'cf-down');
    const ids = await registerEvents(topics.topic);
    await registry!.stop();
    registry = undefined;
    const service = await start(topics);
    // Confluent events on partition 0 wait; single-object events on partitions 1 and 2 flow meanwhile.
    const produced = await produce(brokers, topics.topic, 300, { seed: 31, ids, pick: (i) => (i % 2 === 0 ? 'cf1' : 'cf2'), partition: 0 });
    await waitFor('/readyz 503 schema_registry_unavailable', async () => {
      const r = await readyz(service.url);
      return r.status === 503 && r.reasons.some((t) => /schema registry has not answered/.test(t)) ? r : undefined;
    }, 30_000);
    await produce(brokers, topics.topic, 200, { seed: 32, ids, pick: () => 'so2', partition: 1, into: produced });
    await produce(brokers, topics.topic, 200, { seed: 33, ids, pick: () => 'so1', partition: 2, into: produced });
    await waitFor('single-object events applied while the registry is down', async () => (service.state().totals.applied === 400 ? true : undefined), 60_000);
    const during = service.state();
    assert.equal(during.totals.invalid, 0);
    assert.equal(during.offsets.positions['0'] ?? 0, 0, 'partition 0 does not move past its waiting events');
    registry = await startLocalRegistry({ dataDir, port: registryPort });
    const state = await waitFor('every event applied after the registry is up', async () => {
      const s = service.state();
      return s.totals.applied >= 700 ? s : undefined;
    }, 90_000);
    assert.equal(state.totals.applied, 700);
    assert.equal(state.totals.invalid, 0);
    assert.deepEqual(new Map(Object.entries(state.totals.byCategory)), produced.byCategory);
  });

  it('without a registry, Confluent events are dead-lettered as unknown_schema with a detail naming the id and --schema-registry; --wire-format confluent needs it', async () => {
    const topics = await freshTopics(brokers, 'cf-none');
    const service = await start(topics, { schemaRegistry: '' });
    await produce(brokers, topics.topic, 10, { seed: 41, ids: { v1: 5, v2: 6 }, pick: () => 'cf2' });
    const letters = await readTopic(brokers, topics.dlqTopic, 10);
    for (const l of letters) {
      assert.equal(l.headers[DLQ_HEADERS.reason], 'unknown_schema');
      assert.match(l.headers[DLQ_HEADERS.message] ?? '', /schema id 6.*--schema-registry/);
    }
    assert.equal(service.state().totals.applied, 0);
    await assert.rejects(start(await freshTopics(brokers, 'cf-none2'), { schemaRegistry: '', wireFormat: 'confluent' }), (err: unknown) => isRebalancerError(err, 'REB_CONFIG_INVALID') && /--wire-format confluent needs --schema-registry/.test(err.message));
  });
});
