/**
 * The tools' --wire-format on the real broker and the real registry (the project's local
 * Apicurio): generate writes Confluent frames whose id is the newest one registered under
 * `<topic>-value` (BACKWARD) and whose events equal the single-object run of the same seed;
 * import writes them too; replay keeps each message's bytes by default and re-frames with an
 * explicit --wire-format; asking for Confluent without a registry (or reading a Confluent
 * topic without one) exits 2 naming --schema-registry.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { createEventCodec, type InteractionEvent } from '../../src/codec/index.js';
import { SingleObjectCodec } from '../../src/codec/single-object.js';
import { startLocalRegistry, type LocalRegistry } from '../../dev/local-registry.js';
import { SchemaRegistryClient } from '../../src/adapters/kafka/schema-registry.js';
import { testBrokers, uniqueTopic } from '../helpers/kafka.js';
import { cli, consumeAll, spawnCli, tempDir, type Consumed } from '../offline/helpers.js';

const N = 400;
const SEED = '23';
let brokers: string[];
let registry: LocalRegistry;
let client: SchemaRegistryClient;

/** The id of the newest version under a subject, straight from the registry's API. */
async function latestId(subject: string): Promise<number> {
  const res = await fetch(`${registry.url}/subjects/${subject}/versions/latest`);
  assert.equal(res.status, 200, `subject ${subject} is registered`);
  return z.object({ id: z.number().int() }).parse(await res.json()).id;
}

/**
 * Decodes with a fresh codec that learns every Confluent id it meets from the registry, and
 * checks each message's key (userId) and timestamp (event time).
 */
async function decodeAll(messages: Consumed[]): Promise<Map<string, InteractionEvent>> {
  const reader = createEventCodec();
  const out = new Map<string, InteractionEvent>();
  for (const { message } of messages) {
    const value = message.value!;
    if (SingleObjectCodec.framingOf(value) === 'confluent') await client.learn(reader, value.readUInt32BE(1));
    const e = reader.decode(value);
    assert.equal(message.key!.toString(), e.userId, 'key = userId');
    assert.equal(Number(message.timestamp), e.eventTime, 'timestamp = event time');
    // Plain copies: each codec's avsc type has its own record class.
    out.set(e.eventId, { ...e });
  }
  return out;
}

describe('--wire-format on a real broker and a real schema registry', { timeout: 240_000 }, () => {
  const plain = uniqueTopic('wf-single');
  const confluent = uniqueTopic('wf-confluent');
  let singleEvents: Map<string, InteractionEvent>;
  let confluentMessages: Consumed[];

  before(async () => {
    brokers = await testBrokers();
    registry = await startLocalRegistry();
    client = new SchemaRegistryClient({ url: registry.url });
  });
  after(async () => {
    await registry?.stop();
  });

  it('generate --wire-format confluent: every message is 0x00 + the newest id under <topic>-value, and decodes to the events of the single-object run', { timeout: 60_000 }, async () => {
    const common = ['generate', '--events', String(N), '--seed', SEED, '--brokers', brokers.join(',')];
    await cli(...common, '--topic', plain);
    await cli(...common, '--topic', confluent, '--wire-format', 'confluent', '--schema-registry', registry.url);
    const single = await consumeAll(brokers, plain, N);
    confluentMessages = await consumeAll(brokers, confluent, N);
    assert.equal(confluentMessages.length, N);

    const id = await latestId(`${confluent}-value`);
    const versions = await (await fetch(`${registry.url}/subjects/${confluent}-value/versions`)).json();
    assert.deepEqual(versions, [1, 2], 'both schema versions registered under <topic>-value');
    const config = z.object({ compatibilityLevel: z.string() }).parse(await (await fetch(`${registry.url}/config/${confluent}-value`)).json());
    assert.equal(config.compatibilityLevel, 'BACKWARD');
    for (const { message } of confluentMessages) {
      const v = message.value!;
      assert.equal(v[0], 0x00, 'Confluent magic byte');
      assert.equal(v.readUInt32BE(1), id, 'schema id = newest under <topic>-value');
    }
    for (const { message } of single) assert.equal(SingleObjectCodec.framingOf(message.value!), 'single-object');

    singleEvents = await decodeAll(single);
    const confluentEvents = await decodeAll(confluentMessages);
    assert.equal(singleEvents.size, N);
    assert.deepEqual(confluentEvents, singleEvents, 'same events as the single-object run with the same seed');
  });

  it('replay of a Confluent topic keeps the bytes by default and re-frames to single-object with --wire-format single-object', { timeout: 60_000 }, async () => {
    assert.ok(confluentMessages !== undefined, 'needs the previous test');
    const dir = tempDir('wf-replay');
    const kept = uniqueTopic('wf-kept');
    const reframed = uniqueTopic('wf-reframed');
    const common = ['replay', '--source-topic', confluent, '--brokers', brokers.join(','), '--schema-registry', registry.url];
    await cli(...common, '--topic', kept, '--progress-file', join(dir, 'kept.json'));
    await cli(...common, '--topic', reframed, '--wire-format', 'single-object', '--progress-file', join(dir, 'reframed.json'));

    const keptMessages = await consumeAll(brokers, kept, N);
    const source = new Set(confluentMessages.map(({ message }) => message.value!.toString('hex')));
    assert.equal(keptMessages.length, N);
    for (const { message } of keptMessages) assert.ok(source.has(message.value!.toString('hex')), 'a kept message is byte-identical to a source message');
    assert.equal(new Set(keptMessages.map(({ message }) => message.value!.toString('hex'))).size, N, 'every source message once');

    const reframedMessages = await consumeAll(brokers, reframed, N);
    for (const { message } of reframedMessages) assert.equal(SingleObjectCodec.framingOf(message.value!), 'single-object');
    const plainCodec = createEventCodec(); // no ids learned: decodes single-object only
    const events = new Map(reframedMessages.map(({ message }) => {
      const e = plainCodec.decode(message.value!);
      return [e.eventId, { ...e }] as const;
    }));
    assert.deepEqual(events, singleEvents, 're-framed events equal the originals');
  });

  it('replay --timestamps now of a Confluent topic re-encodes each event in its own framing, under the target\'s <topic>-value id', { timeout: 60_000 }, async () => {
    assert.ok(confluentMessages !== undefined, 'needs the first test');
    const target = uniqueTopic('wf-now');
    const t0 = Date.now();
    await cli('replay', '--source-topic', confluent, '--brokers', brokers.join(','), '--schema-registry', registry.url, '--topic', target, '--timestamps', 'now', '--progress-file', join(tempDir('wf-now'), 'p.json'));
    const got = await consumeAll(brokers, target, N);
    const id = await latestId(`${target}-value`);
    for (const { message } of got) {
      assert.equal(message.value![0], 0x00, 'still Confluent-framed');
      assert.equal(message.value!.readUInt32BE(1), id);
    }
    const events = await decodeAll(got);
    assert.deepEqual([...events.keys()].sort(), [...singleEvents.keys()].sort());
    for (const e of events.values()) assert.ok(e.eventTime >= t0, 're-stamped with the send time');
  });

  it('replay re-frames a single-object topic to Confluent under the target\'s <topic>-value id', { timeout: 60_000 }, async () => {
    const dir = tempDir('wf-replay2');
    const target = uniqueTopic('wf-to-confluent');
    await cli('replay', '--source-topic', plain, '--brokers', brokers.join(','), '--topic', target, '--wire-format', 'confluent', '--schema-registry', registry.url, '--progress-file', join(dir, 'p.json'));
    const got = await consumeAll(brokers, target, N);
    const id = await latestId(`${target}-value`);
    for (const { message } of got) {
      assert.equal(message.value![0], 0x00);
      assert.equal(message.value!.readUInt32BE(1), id);
    }
    assert.deepEqual(await decodeAll(got), singleEvents);
  });

  it('import --wire-format confluent writes Confluent frames under <topic>-value', { timeout: 60_000 }, async () => {
    const dir = tempDir('wf-import');
    const csv = join(dir, 'log.csv');
    writeFileSync(csv, ['user,item,cat,ts,type', 'u1,i1,c1,1767225600,click', 'u2,i2,c2,1767225601,purchase', 'u3,i3,c1,1767225602,view', ''].join('\n'));
    const topic = uniqueTopic('wf-import');
    await cli('import', csv, '--user-col', 'user', '--item-col', 'item', '--category-col', 'cat', '--time-col', 'ts', '--time-unit', 's', '--type-col', 'type',
      '--brokers', brokers.join(','), '--topic', topic, '--wire-format', 'confluent', '--schema-registry', registry.url);
    const got = await consumeAll(brokers, topic, 3);
    const id = await latestId(`${topic}-value`);
    for (const { message } of got) assert.equal(message.value!.readUInt32BE(1), id);
    const events = await decodeAll(got);
    assert.deepEqual([...events.values()].map((e) => `${e.userId}:${e.type}`).sort(), ['u1:click', 'u2:purchase', 'u3:view']);
  });

  it('Confluent without a registry exits 2 naming --schema-registry: generate to a topic, and replay of a Confluent topic', { timeout: 60_000 }, async () => {
    const gen = await spawnCli(['generate', '--events', '10', '--brokers', brokers.join(','), '--topic', uniqueTopic('wf-noreg'), '--wire-format', 'confluent', '--quiet']);
    assert.equal(gen.code, 2, gen.stderr);
    assert.match(gen.stderr, /--wire-format confluent needs --schema-registry <url>.*\[REB_INPUT_INVALID\]/);
    const file = await spawnCli(['generate', '--events', '10', '--out', join(tempDir('wf-file'), 'e.bin'), '--wire-format', 'confluent', '--schema-registry', registry.url, '--quiet']);
    assert.equal(file.code, 2, file.stderr);
    assert.match(file.stderr, /event files are always Avro single-object/);
    assert.ok(confluentMessages !== undefined, 'needs the first test');
    const rep = await spawnCli(['replay', '--source-topic', confluent, '--brokers', brokers.join(','), '--topic', uniqueTopic('wf-noreg-replay'), '--progress-file', join(tempDir('wf-noreg'), 'p.json'), '--quiet']);
    assert.equal(rep.code, 2, rep.stderr);
    assert.match(rep.stderr, /source topic .* holds Confluent-framed events \(schema id \d+\): give --schema-registry <url>/);
  });

  it('backtest --source-topic of a Confluent topic: stops naming --schema-registry without it, ranks every event with it', { timeout: 120_000 }, async () => {
    assert.ok(confluentMessages !== undefined, 'needs the first test');
    const common = ['backtest', '--source-topic', confluent, '--brokers', brokers.join(','), '--strategies', 'none', '--workers', '1', '--quiet'];
    const without = await spawnCli(common);
    assert.equal(without.code, 2, without.stderr);
    assert.match(without.stderr, /holds Confluent-framed events \(schema id \d+\): give --schema-registry <url>/);
    const json = join(tempDir('wf-backtest'), 'bt.json');
    const withRegistry = await spawnCli([...common, '--schema-registry', registry.url, '--json', json]);
    assert.equal(withRegistry.code, 0, withRegistry.stderr);
    const report = z.object({ events: z.number() }).passthrough().parse(JSON.parse(readFileSync(json, 'utf8')));
    assert.equal(report.events, N, 'every Confluent-framed event was read');
  });
});
