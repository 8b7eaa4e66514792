/**
 * `rebalancer inspect`, run as the real command (a child process): an event file written by
 * `generate` prints the generator's events and a summary that counts them; a topic mixing
 * single-object and Confluent messages (v1 and v2 writers, ids from a real Apicurio
 * registry) and a corrupt payload decodes in full with --schema-registry, and without it
 * reports the Confluent ones undecodable with their ids; --limit, --from-offset, --partition
 * and --follow (stopped by SIGINT) do what they say; bad input is one line and exit 2.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Partitioners } from 'kafkajs';
import { createEventCodec, makeEvent, type InteractionEvent } from '../../src/codec/index.js';
import { REPO_ROOT } from '../../dev/local-broker.js';
import { startLocalRegistry, type LocalRegistry } from '../../dev/local-registry.js';
import { SchemaRegistryClient } from '../../src/adapters/kafka/schema-registry.js';
import { DEFAULT_GENERATOR, createGenerator } from '../../src/offline/generate.js';
import type { InspectSummaryJson } from '../../src/offline/inspect.js';
import { createTopic, testBrokers, testKafka, uniqueTopic } from '../helpers/kafka.js';
import { cli, tempDir } from './helpers.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Started {
  output: { stdout: string; stderr: string };
  signal: (sig: NodeJS.Signals) => void;
  exited: Promise<Run>;
}

/**
 * Starts `rebalancer inspect ARGS` from source. The verb is put inside the script: `node -e
 * SCRIPT inspect ...` would start Node's own debugger (`node inspect`); `--` keeps flags from Node.
 */
function startInspect(args: string[]): Started {
  const script = `import('./src/cli/main.ts').then((m) => m.main(['node', 'rebalancer', 'inspect', ...process.argv.slice(1)]))`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script, '--', ...args], { cwd: REPO_ROOT, env: { ...process.env, KAFKAJS_NO_PARTITIONER_WARNING: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => { output.stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { output.stderr += d.toString(); });
  const exited = new Promise<Run>((resolve) => child.once('close', (code) => resolve({ code, ...output })));
  return { output, signal: (sig) => child.kill(sig), exited };
}

const inspect = (args: string[]): Promise<Run> => startInspect(args).exited;

interface Line {
  event: InteractionEvent;
  framing: string;
  partition: number | undefined;
  offset: number | undefined;
}

function parseLines(stdout: string): Line[] {
  return stdout.split('\n').filter((l) => l.length > 0).map((l) => {
    const o = JSON.parse(l) as InteractionEvent & { framing: string; partition?: number; offset?: number };
    const { framing, partition, offset, ...event } = o;
    return { event, framing, partition, offset };
  });
}

function summaryOf(stdout: string): InspectSummaryJson {
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, `--summary prints one line: ${stdout.slice(0, 300)}`);
  return JSON.parse(lines[0]!) as InspectSummaryJson;
}

function countBy<T>(items: readonly T[], key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of items) m.set(key(t), (m.get(key(t)) ?? 0) + 1);
  return m;
}

const codec = createEventCodec();

describe('inspect an event file', { timeout: 60_000 }, () => {
  it('prints a generated file event by event, equal to the generator\'s events, and a summary that counts them', async () => {
    const file = join(tempDir('inspect-file'), 'events.bin');
    const n = 3_000;
    await cli('generate', '--out', file, '--events', String(n), '--seed', '11');
    const expected: InteractionEvent[] = [];
    const g = createGenerator({ profile: 'realistic', events: n, seed: 11, skew: DEFAULT_GENERATOR.skew, categories: DEFAULT_GENERATOR.categories, startTime: DEFAULT_GENERATOR.startTime });
    for (let i = 0; i < n; i++) expected.push(g.next());

    const [all, summary, limited] = await Promise.all([inspect([file]), inspect([file, '--summary', '--top', '3']), inspect([file, '--from-offset', '10', '--limit', '5'])]);
    assert.equal(all.code, 0, all.stderr);
    const lines = parseLines(all.stdout);
    assert.equal(lines.length, n);
    assert.deepEqual(lines.map((l) => l.event), expected);
    assert.ok(lines.every((l) => l.framing === 'single-object' && l.partition === undefined));
    assert.match(all.stderr, new RegExp(`inspect: ${n} records: ${n} events, 0 undecodable`));

    assert.equal(summary.code, 0, summary.stderr);
    const s = summaryOf(summary.stdout);
    const cats = [...countBy(expected, (e) => e.categoryId)].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const times = expected.map((e) => e.eventTime);
    assert.equal(s.records, n);
    assert.equal(s.events, n);
    assert.deepEqual(s.categories, { distinct: cats.length, top: cats.slice(0, 3).map(([category, count]) => ({ category, count })) });
    assert.deepEqual(new Map(Object.entries(s.types)), countBy(expected, (e) => e.type));
    assert.deepEqual(s.timeSpan, { first: new Date(Math.min(...times)).toISOString(), last: new Date(Math.max(...times)).toISOString(), ms: Math.max(...times) - Math.min(...times) });
    assert.deepEqual(s.framings, { 'single-object': { count: n, fingerprints: { [codec.currentFingerprint]: n } }, confluent: { count: 0, schemaIds: {} }, none: 0 });
    assert.deepEqual(s.undecodable, { count: 0, reasons: {}, schemaIds: {} });

    assert.equal(limited.code, 0, limited.stderr);
    assert.deepEqual(parseLines(limited.stdout).map((l) => l.event), expected.slice(10, 15));
  });

  it('bad input is one line `rebalancer: ... [REB_...]` and exit 2; --help lists every option', async () => {
    const file = join(tempDir('inspect-bad'), 'missing.bin');
    const cases: [string[], RegExp][] = [
      [[], /give exactly one source.*\[REB_INPUT_INVALID\]/],
      [[file], /cannot read event file .*missing\.bin: no such file \[REB_INPUT_INVALID\]/],
      [['--topic', 't', '--brokers', 'nohost'], /--brokers must be .*\[REB_INPUT_INVALID\]/],
      [[file, '--follow'], /--follow applies to --topic only.*\[REB_INPUT_INVALID\]/],
      [[file, '--limit', '-1'], /--limit must be an integer.*\[REB_INPUT_INVALID\]/],
      [['--topic', 't', '--brokers', 'localhost:9', '--schema-registry', 'registry:8081'], /--schema-registry must be an http\(s\) URL.*\[REB_INPUT_INVALID\]/],
    ];
    const runs = await Promise.all(cases.map(([args]) => inspect(args)));
    runs.forEach((r, i) => {
      assert.equal(r.code, 2, `${cases[i]![0].join(' ')}: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^rebalancer: /);
      assert.match(lines[0]!, cases[i]![1]);
    });
    const help = await inspect(['--help']);
    assert.equal(help.code, 0);
    for (const flag of ['--topic', '--brokers', '--partition', '--from-offset', '--limit', '--follow', '--schema-registry', '--summary', '--top', '--quiet']) assert.ok(help.stdout.includes(flag), flag);
    assert.match(help.stdout, /Summary: at the end/);
  });
});

describe('inspect a topic, both framings, on a real broker and registry', { timeout: 240_000 }, () => {
  let registry: LocalRegistry;
  let brokers: string[];
  const topic = uniqueTopic('inspect-mixed');
  /** What was written, by partition, in offset order: an event and its framing, or a corrupt payload. */
  const written: { partition: number; offset: number; event: InteractionEvent | undefined; framing: string; schemaId?: number }[] = [];
  let ids: { v1: number; v2: number };

  before(async () => {
    [registry, brokers] = await Promise.all([startLocalRegistry(), testBrokers()]);
    const client = new SchemaRegistryClient({ url: registry.url });
    const writer = createEventCodec();
    const v2 = await client.registerValueSchemas(topic, writer);
    const v1 = (await (await fetch(`${registry.url}/subjects/${topic}-value/versions/1`)).json() as { id: number }).id;
    ids = { v1, v2 };
    await createTopic(brokers, topic, 2);
    const producer = testKafka(brokers).producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const next = [0, 0];
    try {
      for (let i = 0; i < 24; i++) {
        const partition = i % 2;
        const base = { eventId: `e${i}`, userId: `u${i % 5}`, itemId: `i${i}`, categoryId: `cat-${i % 3}`, type: (['view', 'click', 'purchase'] as const)[i % 3]!, eventTime: 1_767_225_600_000 + i * 1_000 };
        // v1 writers know no price/session/extra: read into v2 with their defaults.
        const v1Writer = i % 4 >= 2;
        const event = v1Writer ? makeEvent(base) : makeEvent({ ...base, price: i + 0.5, sessionId: `s${i}`, extra: { n: String(i) } });
        const confluent = i % 3 !== 0;
        const value = confluent ? writer.encodeConfluent(v1Writer ? v1 : v2, event, v1Writer ? 1 : 2) : writer.encodeVersion(v1Writer ? 1 : 2, event);
        await producer.send({ topic, acks: -1, messages: [{ key: event.userId, value, partition }] });
        written.push({ partition, offset: next[partition]!++, event, framing: confluent ? 'confluent' : 'single-object', ...(confluent ? { schemaId: v1Writer ? v1 : v2 } : {}) });
      }
      // One corrupt payload in partition 1: JSON where Avro is expected.
      await producer.send({ topic, acks: -1, messages: [{ value: Buffer.from('{"not":"avro"}'), partition: 1 }] });
      written.push({ partition: 1, offset: next[1]!++, event: undefined, framing: 'none' });
    } finally {
      await producer.disconnect();
    }
  });
  after(async () => {
    await registry?.stop();
  });

  const byPosition = (a: { partition?: number; offset?: number }, b: { partition?: number; offset?: number }): number => (a.partition! - b.partition!) || (a.offset! - b.offset!);

  it('with --schema-registry every event decodes, equal to what was written, framings and ids counted', async () => {
    const [r, s] = await Promise.all([
      inspect(['--topic', topic, '--brokers', brokers.join(','), '--schema-registry', registry.url]),
      inspect(['--topic', topic, '--brokers', brokers.join(','), '--schema-registry', registry.url, '--summary']),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = parseLines(r.stdout).sort(byPosition);
    const events = written.filter((w) => w.event !== undefined).sort(byPosition);
    assert.deepEqual(lines.map((l) => ({ partition: l.partition, offset: l.offset, framing: l.framing, event: l.event })), events.map((w) => ({ partition: w.partition, offset: w.offset, framing: w.framing, event: w.event })));
    for (const p of [0, 1]) {
      const offsets = parseLines(r.stdout).filter((l) => l.partition === p).map((l) => l.offset!);
      assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b), `partition ${p} in offset order`);
    }
    assert.match(r.stderr, /undecodable .*\[1\]@12: .*\[REB_DECODE_BAD_FRAMING\]/);

    assert.equal(s.code, 0, s.stderr);
    const sum = summaryOf(s.stdout);
    const confluent = events.filter((w) => w.framing === 'confluent');
    assert.equal(sum.records, written.length);
    assert.equal(sum.events, events.length);
    assert.equal(sum.framings['single-object'].count, events.length - confluent.length);
    assert.equal(sum.framings.confluent.count, confluent.length);
    assert.deepEqual(sum.framings.confluent.schemaIds, Object.fromEntries([...countBy(confluent, (w) => String(w.schemaId))].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))));
    assert.equal(Object.keys(sum.framings['single-object'].fingerprints).length, 2, 'v1 and v2 writers');
    assert.equal(sum.framings.none, 1);
    assert.deepEqual(sum.undecodable, { count: 1, reasons: { REB_DECODE_BAD_FRAMING: 1 }, schemaIds: {} });
  });

  it('without a registry the Confluent messages are counted undecodable with their schema ids, never a crash', async () => {
    const r = await inspect(['--topic', topic, '--brokers', brokers.join(','), '--summary']);
    assert.equal(r.code, 0, r.stderr);
    const sum = summaryOf(r.stdout);
    const confluent = written.filter((w) => w.framing === 'confluent');
    assert.equal(sum.records, written.length);
    assert.equal(sum.events, written.length - confluent.length - 1);
    assert.deepEqual(sum.undecodable.reasons, Object.fromEntries([['REB_DECODE_UNKNOWN_SCHEMA_ID', confluent.length], ['REB_DECODE_BAD_FRAMING', 1]].sort((a, b) => Number(b[1]) - Number(a[1]))));
    assert.deepEqual(new Map(Object.entries(sum.undecodable.schemaIds)), countBy(confluent, (w) => String(w.schemaId)));
    assert.ok(ids.v1 !== ids.v2);
    for (const id of [ids.v1, ids.v2]) assert.match(r.stderr, new RegExp(`Confluent schema id ${id} is unknown without a schema registry.*\\[REB_DECODE_UNKNOWN_SCHEMA_ID\\]`));
  });

  it('--limit stops after N records, --from-offset starts every partition there, --partition filters', async () => {
    const args = ['--topic', topic, '--brokers', brokers.join(','), '--schema-registry', registry.url];
    const [limited, from] = await Promise.all([inspect([...args, '--partition', '0', '--limit', '4']), inspect([...args, '--from-offset', '9'])]);
    assert.equal(limited.code, 0, limited.stderr);
    assert.deepEqual(parseLines(limited.stdout).map((l) => [l.partition, l.offset, l.event]), written.filter((w) => w.partition === 0).slice(0, 4).map((w) => [0, w.offset, w.event]));
    assert.equal(from.code, 0, from.stderr);
    const expected = written.filter((w) => w.offset >= 9 && w.event !== undefined).sort(byPosition);
    assert.ok(expected.length >= 4 && expected.some((w) => w.partition === 0) && expected.some((w) => w.partition === 1));
    assert.deepEqual(parseLines(from.stdout).sort(byPosition).map((l) => [l.partition, l.offset, l.event]), expected.map((w) => [w.partition, w.offset, w.event]));
  });

  it('a topic that does not exist or a partition it lacks is one line and exit 2', async () => {
    const [missing, partition] = await Promise.all([
      inspect(['--topic', uniqueTopic('inspect-missing'), '--brokers', brokers.join(',')]),
      inspect(['--topic', topic, '--brokers', brokers.join(','), '--partition', '7']),
    ]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr.trim(), /^rebalancer: topic inspect-missing-\S+ does not exist \[REB_INPUT_INVALID\]$/);
    assert.equal(partition.code, 2, partition.stderr);
    assert.match(partition.stderr.trim(), /^rebalancer: --partition 7: topic \S+ has partitions 0\.\.1 \[REB_INPUT_INVALID\]$/);
  });

  it('inspect reads what generate wrote in each framing', async () => {
    const n = 400;
    const topics = { 'single-object': uniqueTopic('inspect-gen-so'), confluent: uniqueTopic('inspect-gen-cf') };
    for (const [format, t] of Object.entries(topics)) {
      await cli('generate', '--topic', t, '--brokers', brokers.join(','), '--partitions', '2', '--events', String(n), '--seed', '5', '--wire-format', format, '--schema-registry', registry.url);
    }
    const g = createGenerator({ profile: 'realistic', events: n, seed: 5, skew: DEFAULT_GENERATOR.skew, categories: DEFAULT_GENERATOR.categories, startTime: DEFAULT_GENERATOR.startTime });
    const generated = Array.from({ length: n }, () => g.next()).sort((a, b) => a.eventId.localeCompare(b.eventId));
    const runs = await Promise.all(Object.values(topics).map((t) => inspect(['--topic', t, '--brokers', brokers.join(','), '--schema-registry', registry.url])));
    const [so, cf] = runs.map((r) => {
      assert.equal(r.code, 0, r.stderr);
      return parseLines(r.stdout).sort(byPosition);
    });
    assert.equal(so!.length, n);
    assert.ok(so!.every((l) => l.framing === 'single-object'));
    assert.ok(cf!.every((l) => l.framing === 'confluent'));
    // Same keys, same partitions and offsets, same events: only the framing differs.
    assert.deepEqual(cf!.map((l) => [l.partition, l.offset, l.event]), so!.map((l) => [l.partition, l.offset, l.event]));
    assert.deepEqual([...so!.map((l) => l.event)].sort((a, b) => a.eventId.localeCompare(b.eventId)), generated);
    assert.match(runs[1]!.stderr, /confluent 400 \(schema id \d+ 400\)/);
  });

  it('--follow prints a message produced after it started and stops cleanly on SIGINT with the summary', async () => {
    const followed = uniqueTopic('inspect-follow');
    await createTopic(brokers, followed, 1);
    const client = new SchemaRegistryClient({ url: registry.url });
    const writer = createEventCodec();
    const id = await client.registerValueSchemas(followed, writer);
    const producer = testKafka(brokers).producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const ev = (i: number): InteractionEvent => makeEvent({ eventId: `f${i}`, userId: 'u', itemId: `i${i}`, categoryId: 'cat-1', type: 'view', eventTime: 1_767_225_600_000 + i, price: 1, sessionId: null, extra: {} });
    try {
      await producer.send({ topic: followed, acks: -1, messages: [{ value: writer.encode(ev(0)) }, { value: writer.encodeConfluent(id, ev(1)) }] });
      const p = startInspect(['--topic', followed, '--brokers', brokers.join(','), '--schema-registry', registry.url, '--follow']);
      const waitFor = async (what: string, ok: () => boolean): Promise<void> => {
        const deadline = Date.now() + 30_000;
        while (!ok()) {
          if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; stdout ${p.output.stdout}; stderr ${p.output.stderr}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      await waitFor('the two existing events', () => parseLines(p.output.stdout).length === 2);
      await waitFor('the following line', () => p.output.stderr.includes(`inspect: following ${followed}`));
      await producer.send({ topic: followed, acks: -1, messages: [{ value: writer.encodeConfluent(id, ev(2)) }] });
      await waitFor('the event produced after the start', () => parseLines(p.output.stdout).length === 3);
      p.signal('SIGINT');
      const r = await p.exited;
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(parseLines(r.stdout).map((l) => [l.offset, l.framing, l.event]), [[0, 'single-object', ev(0)], [1, 'confluent', ev(1)], [2, 'confluent', ev(2)]]);
      assert.match(r.stderr, /inspect: 3 records: 3 events, 0 undecodable/);
      assert.match(r.stderr, new RegExp(`confluent 2 \\(schema id ${id} 2\\)`));
    } finally {
      await producer.disconnect();
    }
  });
});
