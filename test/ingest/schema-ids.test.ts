/**
 * The schema-id gate without a broker (a fake registry that can be down): a chunk with an
 * unlearned Confluent id waits with the later chunks of its partition, in order, while other
 * partitions pass; a registry that does not answer is retried (one request per id at a time,
 * counted once) and nothing is emitted past the waiting chunk; the end of the stream leaves
 * chunks still waiting on a silent registry and completes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { Registry } from 'prom-client';
import { Subject } from 'rxjs';
import { createEventCodec, makeEvent, type InteractionEvent, type SingleObjectCodec } from '../../src/codec/index.js';
import { RebalancerError } from '../../src/errors.js';
import { createServiceMetrics } from '../../src/metrics/index.js';
import { awaitSchemaIds, SchemaIdGate } from '../../src/ingest/schema-ids.js';
import type { RecordChunk } from '../../src/ingest/source.js';

const writer = createEventCodec();
let offset = 0;

function chunk(partition: number, values: Buffer[]): RecordChunk {
  const messages = values.map((value) => ({ value, key: null, offset: String(offset++), timestamp: '0', attributes: 0, headers: {} }) as KafkaMessage);
  return { topic: 't', partition, messages, bytes: values.reduce((n, v) => n + v.length, 0) };
}

const event = (i: number): InteractionEvent => makeEvent({ eventId: `e${i}`, userId: 'u', itemId: 'i', categoryId: 'c', type: 'click', eventTime: 1_767_225_600_000 + i });

/** A registry that knows id 7 (schema v2) and nothing else, and is down while `down` is set. */
class FakeRegistry {
  readonly url = 'http://fake/apis/ccompat/v7';
  down = true;
  requests = 0;
  async learn(codec: SingleObjectCodec<InteractionEvent>, id: number): Promise<void> {
    this.requests++;
    await new Promise((r) => setTimeout(r, 5));
    if (this.down) throw new RebalancerError('REB_REGISTRY_UNAVAILABLE', `${this.url} did not answer`);
    if (id !== 7) throw new RebalancerError('REB_DECODE_UNKNOWN_SCHEMA', `the schema registry ${this.url} has no schema id ${id}`, { schemaId: id });
    codec.learnSchemaId(id, writer.schemaOf(2));
  }
}

function setUp(): { gate: SchemaIdGate; registry: FakeRegistry; input: Subject<RecordChunk>; out: RecordChunk[]; completed: () => boolean; text: () => Promise<string> } {
  const prom = new Registry();
  const metrics = createServiceMetrics({ registry: prom, collectDefault: false });
  const registry = new FakeRegistry();
  const gate = new SchemaIdGate({ codec: createEventCodec(), registry, metrics, log: () => {}, now: Date.now, backoffMs: { initial: 5, max: 20 } });
  const input = new Subject<RecordChunk>();
  const out: RecordChunk[] = [];
  let done = false;
  input.pipe(awaitSchemaIds(gate)).subscribe({ next: (c) => out.push(c), complete: () => (done = true) });
  return { gate, registry, input, out, completed: () => done, text: () => prom.metrics() };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('schema-id gate', () => {
  it('holds a partition behind an unlearned id (order kept) while other partitions pass; releases it once the registry answers, with one request per id at a time', async () => {
    const { gate, registry, input, out, text } = setUp();
    const c1 = chunk(0, [writer.encode(event(1)), writer.encodeConfluent(7, event(2))]);
    const c2 = chunk(0, [writer.encode(event(3))]);
    const c3 = chunk(1, [writer.encode(event(4))]);
    const c4 = chunk(2, [writer.encodeConfluent(7, event(5))]);
    for (const c of [c1, c2, c3, c4]) input.next(c);
    await sleep(100);
    assert.deepEqual(out, [c3]);
    assert.equal(gate.waiting, 4);
    assert.equal(gate.outage?.schemaId, 7);
    const whileDown = registry.requests;
    assert.ok(whileDown >= 2);
    registry.down = false;
    await sleep(100);
    assert.deepEqual(out.filter((c) => c.partition === 0), [c1, c2]);
    assert.ok(out.includes(c4));
    assert.equal(gate.waiting, 0);
    assert.equal(gate.outage, undefined);
    // Both partitions waited for id 7: at most one more request after the registry came back
    // (none when a retry already in flight at that moment got the answer), and one success.
    assert.ok(registry.requests - whileDown <= 1, `${registry.requests - whileDown} requests after the registry came back`);
    assert.match(await text(), /rebalancer_schema_registry_requests_total\{outcome="ok"\} 1\n/);
  });

  it('an id the registry does not have is asked once and passed on for decode to dead-letter, with the reason', async () => {
    const { gate, registry, input, out } = setUp();
    registry.down = false;
    input.next(chunk(0, [writer.encodeConfluent(99, event(1))]));
    input.next(chunk(1, [writer.encodeConfluent(99, event(2))]));
    await sleep(50);
    assert.equal(out.length, 2);
    assert.equal(registry.requests, 1);
    assert.match(gate.whyUnknown(99), /has no schema id 99/);
  });

  it('the end of the stream while the registry is silent: completes, leaving the waiting chunks unemitted', async () => {
    const { gate, input, out, completed } = setUp();
    input.next(chunk(0, [writer.encodeConfluent(7, event(1))]));
    await sleep(30);
    input.complete();
    await sleep(50);
    assert.equal(completed(), true);
    assert.equal(out.length, 0);
    assert.equal(gate.waiting, 0);
  });

  it('without a registry nothing waits, and the reason says to set --schema-registry', () => {
    const metrics = createServiceMetrics({ registry: new Registry(), collectDefault: false });
    const gate = new SchemaIdGate({ codec: createEventCodec(), registry: undefined, metrics, log: () => {}, now: Date.now });
    assert.deepEqual(gate.missingIds(chunk(0, [writer.encodeConfluent(7, event(1))])), []);
    assert.match(gate.whyUnknown(7), /schema id 7.*--schema-registry/);
  });
});
