/**
 * Scale-out (issue #13): several `rebalancer run` processes in one consumer group share the
 * partitions of one events topic, and what they show together is exact whatever happens to
 * them. Driven through the CLI and HTTP only (test/helpers/instances.ts), on a broker of its
 * own (so it can be stopped and started again on the same data directory and port).
 *
 * Script: a 6-partition topic; two instances start; a paced producer (the project's seeded
 * generator and codec, keyed by userId) writes EVENTS events at RATE/s; a third instance
 * joins mid-stream; one of the first two is SIGKILLed (checkpoints every second, so the kill
 * lands between two); the broker is stopped and started again mid-stream; then the stream
 * is drained (committed offsets at the end of every partition, no lag on any survivor, totals
 * still). Throughout, the group's committed offsets are polled every ~100 ms.
 *
 * What must hold:
 *  1. the merged global per-category totals (one section of /state, GLOBAL_PATH) equal the
 *     per-category counts of the events in the topic, exactly, on every survivor;
 *  2. no partition's committed offset ever moves backwards;
 *  3. every survivor's global class weights agree with classWeights() over all the events'
 *     category counts under the instances' own weight settings (WEIGHT_TOLERANCE).
 *
 * The producer pauses its sends while the broker is down (the events due meanwhile are sent
 * when it is back, as a client-side buffer would), so no send is retried across the outage
 * and the topic holds each event once; the expected counts are still taken from the topic
 * itself, read back after the run, by distinct eventId.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CompressionTypes, Kafka, logLevel, type Admin, type Message } from 'kafkajs';
import { z } from 'zod';
import { resolveBalanceConfig } from '../../src/balance/config.js';
import { classWeights } from '../../src/balance/weights.js';
import { createEventCodec, makeEvent } from '../../src/codec/index.js';
import { loadConfig, type RawSettings } from '../../src/config/index.js';
import { freePort, startLocalKafka, type LocalKafka } from '../../dev/local-broker.js';
import { balanceConfigOf } from '../../src/train/balance-adapter.js';
import { createGenerator } from '../../src/offline/generate.js';
import { RatePacer } from '../../src/offline/generate-common.js';
import { digest, pollUntil, sleep, startInstance, stopAll, type Instance } from '../helpers/instances.js';

/** Where the merged global view sits in GET /state (adjust here if the service names it otherwise). */
const GLOBAL_PATH: readonly string[] = ['global'];

const PARTITIONS = 6;
const EVENTS = 60_000;
/** Events per second: the stream lasts EVENTS / RATE s plus the broker's downtime. */
const RATE = 1_000;
const SEED = 1_313;
/**
 * Category popularity drift of the generated stream (the simple profile: category c's share
 * is scaled by e^{DRIFT·a_c·(2p−1)} at progress p, a_c ~ U[−1, 1]). With a stationary mix, the
 * weights of any large enough part of the stream equal those of the whole, so assertion 3
 * could not tell a global view that missed events from a complete one; with drift it can
 * (checked in the test: the weights of the first half miss the whole stream's by more than
 * WEIGHT_TOLERANCE).
 */
const DRIFT = 0.5;
/** Milestones, in events sent: the third instance joins, one instance is killed, the broker restarts. */
const JOIN_AT = 12_000;
const KILL_AT = 24_000;
const BROKER_RESTART_AT = 38_000;
/**
 * Largest relative error |w − w*|/w* of a survivor's global class weight against the weight
 * computed from all events. The service smooths (w ← (1−η)w + η·w_target at each refresh,
 * η = 0.2, a refresh per ≥ 1,024 events), so right after the drain its weights may be a
 * geometric mean of the targets of the last ~1/η = 5 refreshes (~5k events) rather than the
 * final target (the test waits up to 15 s for them to settle). Those targets differ from the
 * final one by (a) the drift: the cumulative share of a category trending at the full rate
 * differs between 55k and 60k events by ≈ 4.7% for DRIFT = 0.5, ≈ 2.4% in a sqrt_inverse
 * weight; and (b) sampling noise: for the rarest category (~0.4% of 60k ≈ 260 events) the
 * prior 5k events before the end differs by ≈ √(5k/60k)/√260 ≈ 1.8%, ≈ 0.9% in the weight.
 * Together ≈ 3.3% at worst, inside 5%. A view of only part of the stream (one instance's
 * partitions, a global view stuck mid-stream) or of double counts is off by more: the test
 * checks that the first half's weights miss by more than this tolerance, and that the expected
 * weights are far from uniform, so the assertion can fail.
 */
const WEIGHT_TOLERANCE = 0.05;
/** The whole run must finish within this (the issue asks for < 4 minutes). */
const RUN_BUDGET_MS = 225_000;

/**
 * Settings every instance runs with. Weight policy: the default `none` gives every category
 * weight 1, which would make assertion 3 hold for any counts; sqrt_inverse makes the weights
 * depend on the global counts. No training: the assertions are about counts and weights, and
 * three trainers on the machine's two cores would only slow the run down.
 */
const RUN_SETTINGS: RawSettings = {
  checkpointIntervalMs: '1000',
  sessionTimeoutMs: '6000',
  weightPolicy: 'sqrt_inverse',
  train: 'false',
  recTriggerTypes: '',
  partitionIdleMs: '2000',
  modelUserRows: '4096',
  modelItemRows: '4096',
  statusIntervalMs: '5000',
};

const Counts = z.record(z.string(), z.number());
const LocalState = z.object({
  totals: z.object({ applied: z.number(), byCategory: Counts }),
  consumer: z.object({ assigned: z.array(z.number().int()), lag: Counts }),
  checkpoint: z.object({ seq: z.number(), ageSeconds: z.number() }),
});
type LocalState = z.infer<typeof LocalState>;
const GlobalSection = z.object({
  totals: z.object({ applied: z.number(), byCategory: Counts }),
  weights: Counts,
});
type GlobalSection = z.infer<typeof GlobalSection>;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function globalOf(state: unknown): ReturnType<typeof GlobalSection.safeParse> {
  let v: unknown = state;
  for (const key of GLOBAL_PATH) v = isRecord(v) ? v[key] : undefined;
  return GlobalSection.safeParse(v);
}

async function localState(i: Instance): Promise<LocalState> {
  return LocalState.parse(await i.state());
}

/** Lag of an instance over the partitions it owns now (the per-partition lag of a revoked partition may linger). */
function ownedLag(s: LocalState): number {
  let lag = 0;
  for (const p of s.consumer.assigned) lag += s.consumer.lag[String(p)] ?? 0;
  return lag;
}

/** Holds sends while the broker is deliberately down: close() waits for the send in flight. */
class SendGate {
  private closed: Promise<void> | undefined;
  private release: (() => void) | undefined;
  private inFlight: Promise<unknown> = Promise.resolve();

  async run<T>(send: () => Promise<T>): Promise<T> {
    while (this.closed !== undefined) await this.closed;
    const p = send();
    this.inFlight = p.catch(() => undefined);
    return p;
  }

  async close(): Promise<void> {
    this.closed ??= new Promise((r) => { this.release = r; });
    await this.inFlight;
  }

  open(): void {
    const release = this.release;
    this.closed = undefined;
    this.release = undefined;
    release?.();
  }
}

interface Producing {
  /** Events handed to the broker and acknowledged. */
  sent(): number;
  /** Per-category counts of the first half of the events (for the weight check's sensitivity). */
  firstHalf(): Record<string, number>;
  /** Sends that failed and were repeated (each may have written its batch twice). */
  resends(): number;
  done: Promise<void>;
  stop(): void;
}

/** EVENTS seeded events at RATE/s, keyed by userId, event time = the time each is generated (as `generate --rate`). */
function startProducer(brokers: string[], topic: string, gate: SendGate): Producing {
  let sent = 0;
  let resends = 0;
  let stopped = false;
  let generated = 0;
  const firstHalf: Record<string, number> = {};
  const done = (async () => {
    const generator = createGenerator({ profile: 'simple', seed: SEED, events: EVENTS, drift: DRIFT });
    const codec = createEventCodec();
    const kafka = new Kafka({ clientId: 'scale-out-producer', brokers, logLevel: logLevel.NOTHING, retry: { retries: 2 } });
    const producer = kafka.producer({ maxInFlightRequests: 1, idempotent: false });
    await producer.connect();
    const pacer = new RatePacer(RATE);
    const batch = Math.max(1, Math.round(RATE / 10));
    try {
      while (sent < EVENTS && !stopped) {
        const n = Math.min(batch, EVENTS - sent);
        await pacer.due(sent + n - 1);
        const messages: Message[] = [];
        for (let i = 0; i < n; i++) {
          const e = makeEvent({ ...generator.next(), eventTime: Date.now() });
          if (generated++ < EVENTS / 2) firstHalf[e.categoryId] = (firstHalf[e.categoryId] ?? 0) + 1;
          messages.push({ key: e.userId, value: codec.encode(e), timestamp: String(e.eventTime) });
        }
        for (;;) {
          try {
            await gate.run(() => producer.send({ topic, messages, compression: CompressionTypes.None }));
            break;
          } catch (err) {
            if (stopped) throw err;
            resends++;
            await sleep(500);
          }
        }
        sent += n;
      }
    } finally {
      await producer.disconnect().catch(() => {});
    }
  })();
  return { sent: () => sent, firstHalf: () => ({ ...firstHalf }), resends: () => resends, done, stop: () => { stopped = true; } };
}

interface OffsetSample {
  at: number;
  offset: number;
}

/** The group's committed offset of every partition, polled every ~100 ms; errors (the broker down) are counted and polling goes on. */
class OffsetWatch {
  /** Per partition, the committed offset each time it changed (-1: none committed yet). */
  readonly history = new Map<number, OffsetSample[]>();
  readonly okAt: number[] = [];
  readonly errorAt: number[] = [];
  private admin: Admin | undefined;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(private readonly kafka: Kafka, private readonly groupId: string, private readonly topic: string) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      const started = Date.now();
      try {
        if (this.admin === undefined) {
          const admin = this.kafka.admin();
          await admin.connect();
          this.admin = admin;
        }
        const [group] = await this.admin.fetchOffsets({ groupId: this.groupId, topics: [this.topic] });
        const now = Date.now();
        for (const p of group?.partitions ?? []) {
          const offset = Number(p.offset);
          const h = this.history.get(p.partition) ?? [];
          if (h.length === 0 || h[h.length - 1]!.offset !== offset) h.push({ at: now, offset });
          this.history.set(p.partition, h);
        }
        this.okAt.push(now);
      } catch {
        this.errorAt.push(Date.now());
        // A fresh admin client after an error: it reconnects to the restarted broker.
        const admin = this.admin;
        this.admin = undefined;
        await admin?.disconnect().catch(() => {});
      }
      await sleep(Math.max(0, 100 - (Date.now() - started)));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.admin?.disconnect().catch(() => {});
  }

  /** Successful polls in [from, to). */
  okBetween(from: number, to: number): number {
    return this.okAt.filter((t) => t >= from && t < to).length;
  }
}

/** Per-category counts of the distinct events (by eventId) in the topic, read from the beginning. */
async function topicCounts(kafka: Kafka, topic: string): Promise<{ messages: number; distinct: number; byCategory: Record<string, number> }> {
  const admin = kafka.admin();
  await admin.connect();
  const end = (await admin.fetchTopicOffsets(topic)).reduce((s, o) => s + Number(o.high), 0);
  await admin.disconnect();
  const codec = createEventCodec();
  const seen = new Set<string>();
  const byCategory: Record<string, number> = {};
  let messages = 0;
  const consumer = kafka.consumer({ groupId: `${topic}-readback` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          messages++;
          const e = codec.decode(m.value!);
          if (seen.has(e.eventId)) continue;
          seen.add(e.eventId);
          byCategory[e.categoryId] = (byCategory[e.categoryId] ?? 0) + 1;
        }
      },
    });
    await pollUntil(`${end} messages read back from ${topic}`, async () => (messages >= end ? true : undefined), 60_000);
  } finally {
    await consumer.disconnect();
  }
  return { messages, distinct: seen.size, byCategory };
}

/** Whether the survivors' assignments are disjoint and cover every partition. */
async function coverAll(survivors: readonly Instance[]): Promise<boolean> {
  const owned: number[] = [];
  for (const i of survivors) owned.push(...(await localState(i)).consumer.assigned);
  return owned.length === PARTITIONS && new Set(owned).size === PARTITIONS;
}

interface Drain {
  drained: boolean;
  detail: string;
  ms: number;
}

/**
 * Waits until the group's committed offsets reach every partition's end, no survivor lags on
 * the partitions it owns, and the survivors' totals (local and, when present, global) have
 * not changed over three polls a second apart. Does not throw: the outcome is asserted.
 */
async function drain(kafka: Kafka, survivors: readonly Instance[], groupId: string, topic: string, timeoutMs: number): Promise<Drain> {
  const started = Date.now();
  const admin = kafka.admin();
  await admin.connect();
  let last = '';
  let still = 0;
  let detail = 'no poll answered';
  try {
    while (Date.now() - started < timeoutMs) {
      const dead = survivors.filter((i) => !i.alive).map((i) => i.name);
      if (dead.length > 0) return { drained: false, detail: `${detail}; instance(s) ${dead.join(', ')} died`, ms: Date.now() - started };
      try {
        const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)]));
        const [group] = await admin.fetchOffsets({ groupId, topics: [topic] });
        const behind = (group?.partitions ?? []).filter((p) => Number(p.offset) < (ends.get(p.partition) ?? 0)).map((p) => `p${p.partition} ${p.offset}/${ends.get(p.partition)}`);
        const states = await Promise.all(survivors.map(async (i) => ({ i, raw: await i.state() })));
        const lags = states.map(({ i, raw }) => `${i.name} lag ${ownedLag(LocalState.parse(raw))}`);
        const key = JSON.stringify(states.map(({ raw }) => [LocalState.parse(raw).totals.applied, globalOf(raw).data?.totals.applied ?? null]));
        still = key === last ? still + 1 : 0;
        last = key;
        const lagging = states.some(({ raw }) => ownedLag(LocalState.parse(raw)) > 0);
        detail = `committed behind end: [${behind.join(', ')}]; ${lags.join(', ')}; totals (local, global) ${key}, unchanged for ${still} polls`;
        if (behind.length === 0 && !lagging && still >= 3) return { drained: true, detail, ms: Date.now() - started };
      } catch (err) {
        detail = `poll failed: ${String(err)}`;
      }
      await sleep(1_000);
    }
    return { drained: false, detail, ms: Date.now() - started };
  } finally {
    await admin.disconnect();
  }
}

interface RunResult {
  started: number;
  instances: Instance[];
  survivors: Instance[];
  victim: Instance;
  joinerAssigned: number[];
  victimBeforeKill: LocalState;
  killedAt: number;
  victimExit: { code: number | null; signal: NodeJS.Signals | null };
  survivorsCoverAfterKill: boolean;
  brokerDownAt: number;
  brokerUpAt: number;
  brokerPids: [number, number];
  survivorsCoverAfterRestart: boolean;
  produced: number;
  firstHalf: Record<string, number>;
  resends: number;
  drain: Drain;
  finalStates: unknown[];
  topic: { messages: number; distinct: number; byCategory: Record<string, number> };
  endedAt: number;
}

describe('scale-out: instances join, die and ride out a broker restart, and still count exactly once', { timeout: RUN_BUDGET_MS + 30_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rebalancer-scale-out-kafka-'));
  const instances: Instance[] = [];
  /** Instances this test stops or kills (any other exit is logged with its stderr). */
  const killed = new Set<Instance>();
  let broker: LocalKafka | undefined;
  let watch: OffsetWatch | undefined;
  let producing: Producing | undefined;
  let run: RunResult;

  before(async () => {
    const started = Date.now();
    const log = (m: string): void => console.error(`[scale-out +${((Date.now() - started) / 1000).toFixed(1)}s] ${m}`);
    const port = await freePort();
    broker = await startLocalKafka({ dataDir, port, ownProcessGroup: true });
    const firstPid = broker.pid;
    const brokers = broker.brokers;
    const kafka = new Kafka({ clientId: 'scale-out-test', brokers, logLevel: logLevel.NOTHING });
    // The offset poll fails fast while the broker is down (a short retry still finds the coordinator when it is up).
    const pollKafka = new Kafka({ clientId: 'scale-out-offsets', brokers, logLevel: logLevel.NOTHING, connectionTimeout: 1_000, requestTimeout: 2_000, retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 500 } });
    const topic = `scale-out-${started.toString(36)}`;
    const groupId = `${topic}-group`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();
    log(`broker ${brokers[0]} (pid ${firstPid}), topic ${topic} with ${PARTITIONS} partitions`);

    const start = async (name: string): Promise<Instance> => {
      const i = await startInstance({ name, brokers, topic, groupId, settings: RUN_SETTINGS });
      instances.push(i);
      void i.exited.then((e) => {
        if (!killed.has(i)) log(`instance ${i.name} exited on its own (code ${e.code}, signal ${e.signal}):\n${digest(i.stderr())}`);
      });
      return i;
    };
    watch = new OffsetWatch(pollKafka, groupId, topic);
    const [a, b] = await Promise.all([start('a'), start('b')]);
    await pollUntil('instances a and b to share all partitions', async () => ((await coverAll([a!, b!])) ? true : undefined), 60_000);
    log('a and b own all partitions; producing');

    const gate = new SendGate();
    producing = startProducer(brokers, topic, gate);
    const reach = async (n: number): Promise<void> => {
      await pollUntil(`${n} events produced`, async () => (producing!.sent() >= n ? true : undefined), 120_000, 50);
    };

    await reach(JOIN_AT);
    const c = await start('c');
    const joinerAssigned = await pollUntil('the joining instance c to be assigned partitions', async () => {
      const s = await localState(c);
      return s.consumer.assigned.length > 0 && (await coverAll([a!, b!, c])) ? s.consumer.assigned : undefined;
    }, 60_000);
    log(`c joined with partitions [${joinerAssigned.join(', ')}] at ${producing.sent()} events`);

    await reach(KILL_AT);
    // The victim is whichever of the first two owns more partitions now.
    const owned = await Promise.all([a!, b!].map(async (i) => ({ i, s: await localState(i) })));
    owned.sort((x, y) => y.s.consumer.assigned.length - x.s.consumer.assigned.length);
    const victim = owned[0]!.i;
    const victimBeforeKill = await localState(victim);
    const killedAt = Date.now();
    killed.add(victim);
    const victimExit = await victim.kill('SIGKILL');
    const survivors = [a!, b!, c].filter((i) => i !== victim);
    log(`SIGKILLed ${victim.name} (owned [${victimBeforeKill.consumer.assigned.join(', ')}], applied ${victimBeforeKill.totals.applied}, checkpoint ${victimBeforeKill.checkpoint.seq} ${victimBeforeKill.checkpoint.ageSeconds.toFixed(2)} s old) at ${producing.sent()} events`);
    const survivorsCoverAfterKill = await pollUntil('survivors to take over every partition', async () => ((await coverAll(survivors)) ? true : undefined), 45_000).catch(() => false);

    await reach(BROKER_RESTART_AT);
    await gate.close();
    const brokerDownAt = Date.now();
    log(`stopping the broker at ${producing.sent()} events`);
    await broker.stop();
    broker = undefined;
    broker = await startLocalKafka({ dataDir, port, ownProcessGroup: true });
    const brokerUpAt = Date.now();
    gate.open();
    log(`broker back (pid ${broker.pid}) after ${((brokerUpAt - brokerDownAt) / 1000).toFixed(1)} s`);
    const survivorsCoverAfterRestart = await pollUntil('survivors to own every partition after the restart', async () => ((await coverAll(survivors)) ? true : undefined), 60_000).catch(() => false);

    await producing.done;
    log(`produced ${producing.sent()} events (${producing.resends()} resends); draining`);
    const drained = await drain(kafka, survivors, groupId, topic, Math.min(60_000, Math.max(20_000, RUN_BUDGET_MS - (Date.now() - started) - 30_000)));
    log(`drain: ${drained.drained ? 'done' : 'NOT done'} in ${(drained.ms / 1000).toFixed(1)} s: ${drained.detail}`);
    await watch.stop();
    // A survivor that died meanwhile shows as no state (the first assertion names it).
    const finalStates = await Promise.all(survivors.map(async (i) => i.state().catch((err: unknown) => ({ error: String(err) }))));
    const topicRead = await topicCounts(kafka, topic);
    run = {
      started, instances: [...instances], survivors, victim, joinerAssigned, victimBeforeKill, killedAt, victimExit, survivorsCoverAfterKill,
      brokerDownAt, brokerUpAt, brokerPids: [firstPid, broker.pid], survivorsCoverAfterRestart,
      produced: producing.sent(), firstHalf: producing.firstHalf(), resends: producing.resends(), drain: drained, finalStates, topic: topicRead, endedAt: Date.now(),
    };
    for (const [n, s] of finalStates.entries()) {
      const local = LocalState.safeParse(s);
      const i = survivors[n]!;
      if (local.success) log(`${i.name}: local applied ${local.data.totals.applied}, owns [${local.data.consumer.assigned.join(', ')}], global ${globalOf(s).success ? 'present' : 'absent'}`);
      else log(`${i.name}: unexpected /state ${JSON.stringify(s).slice(0, 600)}\n${digest(i.stderr(), 15)}`);
    }
  });

  after(async () => {
    producing?.stop();
    await producing?.done.catch(() => {});
    await watch?.stop();
    for (const i of instances) killed.add(i);
    await stopAll(instances, 10_000);
    await broker?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs the script: a third instance joins, one is SIGKILLed, the broker restarts mid-stream, the stream drains, all within the budget', () => {
    const r = run;
    const stderrOf = (i: Instance): string => `${i.name}:\n${digest(i.stderr(), 25)}`;
    assert.ok(r.joinerAssigned.length > 0, 'the joining instance was assigned partitions');
    assert.equal(r.victimExit.signal, 'SIGKILL', `the victim died of SIGKILL (${JSON.stringify(r.victimExit)})`);
    assert.ok(r.victimBeforeKill.totals.applied > 0, 'the victim had applied events when it was killed');
    assert.ok(r.survivorsCoverAfterKill, 'the survivors took over every partition after the kill');
    assert.notEqual(r.brokerPids[0], r.brokerPids[1], 'the broker was a new process after the restart');
    assert.ok(r.brokerDownAt < r.brokerUpAt, 'broker down, then up');
    assert.ok(r.survivorsCoverAfterRestart, 'the survivors owned every partition after the broker restart');
    assert.equal(r.produced, EVENTS, 'the producer sent every event');
    assert.ok(r.produced - BROKER_RESTART_AT > 10 * RATE, 'the broker restarted mid-stream (well before the last event)');
    for (const i of r.survivors) assert.ok(i.alive, `survivor ${i.name} still running\n${stderrOf(i)}`);
    assert.equal(r.topic.distinct, EVENTS, `the topic holds every produced event (${r.topic.messages} messages, ${r.topic.distinct} distinct)`);
    assert.ok(r.drain.drained, `drained: ${r.drain.detail}\n${r.survivors.map(stderrOf).join('\n')}`);
    assert.ok(r.endedAt - r.started < RUN_BUDGET_MS, `the run took ${((r.endedAt - r.started) / 1000).toFixed(0)} s`);
  });

  it('merged global per-category totals on every survivor equal the per-category counts of the events in the topic, exactly', (t) => {
    const r = run;
    const expected = sorted(r.topic.byCategory);
    const locals = r.finalStates.map((s) => LocalState.safeParse(s).data?.totals.applied ?? 0);
    t.diagnostic(`events in the topic ${r.topic.distinct}; survivors' local totals.applied [${locals.join(', ')}] (sum ${locals.reduce((x, y) => x + y, 0)}); the victim had applied ${r.victimBeforeKill.totals.applied} when killed`);
    for (const [n, state] of r.finalStates.entries()) {
      const name = r.survivors[n]!.name;
      const global = globalOf(state);
      assert.ok(global.success, `instance ${name}: /state has no valid ${GLOBAL_PATH.join('.')} section (${global.error?.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')})`);
      const g: GlobalSection = global.data;
      assert.deepEqual(sorted(g.totals.byCategory), expected, `instance ${name}: global per-category totals`);
      assert.equal(g.totals.applied, r.topic.distinct, `instance ${name}: global applied`);
    }
  });

  it('no partition\'s committed offset ever moved backwards (polled every ~100 ms through the run, the broker outage included)', (t) => {
    const r = run;
    const w = watch!;
    t.diagnostic(`${w.okAt.length} polls answered, ${w.errorAt.length} failed (broker down ${((r.brokerUpAt - r.brokerDownAt) / 1000).toFixed(1)} s)`);
    // The poll covered the run: commits were seen before the kill, between kill and outage, and after the restart.
    assert.ok(w.okBetween(r.started, r.killedAt) > 50, 'polled before the kill');
    assert.ok(w.okBetween(r.killedAt, r.brokerDownAt) > 20, 'polled between the kill and the broker stop');
    assert.ok(w.okBetween(r.brokerUpAt, r.endedAt) > 50, 'polled after the broker restart');
    assert.equal(w.history.size, PARTITIONS, 'every partition has a committed offset');
    // Per partition: how many times its committed offset went down, with the first few.
    const backwards: string[] = [];
    for (const [p, h] of [...w.history].sort((x, y) => x[0] - y[0])) {
      const moves: string[] = [];
      for (let k = 1; k < h.length; k++) {
        if (h[k]!.offset < h[k - 1]!.offset) moves.push(`${h[k - 1]!.offset} → ${h[k]!.offset} at +${((h[k]!.at - r.started) / 1000).toFixed(1)} s`);
      }
      if (moves.length > 0) backwards.push(`p${p}: ${moves.length} times, first ${moves.slice(0, 3).join(', ')}`);
      assert.ok(h[h.length - 1]!.offset > 0, `partition ${p} was committed past 0`);
    }
    assert.deepEqual(backwards, [], 'committed offsets never decrease');
  });

  it(`every survivor's global class weights match classWeights() over all events' category counts (max relative error ${WEIGHT_TOLERANCE})`, async (t) => {
    const r = run;
    // The instances' own weight settings (the defaults plus RUN_SETTINGS), through the service's mapping.
    const balance = resolveBalanceConfig(balanceConfigOf(loadConfig({ flags: RUN_SETTINGS })));
    const options = { policy: balance.weightPolicy, alpha: balance.alpha, beta: balance.beta, minWeight: balance.minWeight, maxWeight: balance.maxWeight };
    const categories = Object.keys(r.topic.byCategory).sort();
    const { weights } = classWeights(categories.map((c) => r.topic.byCategory[c]!), options);
    const expected = new Map(categories.map((c, k) => [c, weights[k]!]));
    // The check can fail: the expected weights are far from uniform, and those of a view that
    // saw only the first half of the stream miss them by more than the tolerance.
    assert.ok(Math.max(...weights) / Math.min(...weights) > 2, `expected weights spread out (${[...weights].map((w) => w.toFixed(3)).join(', ')})`);
    const half = classWeights(categories.map((c) => r.firstHalf[c] ?? 0), options).weights;
    const halfError = Math.max(...categories.map((_, k) => Math.abs(half[k]! - weights[k]!) / weights[k]!));
    t.diagnostic(`weights of the first half of the stream miss the whole stream's by up to ${halfError.toFixed(4)}`);
    assert.ok(halfError > WEIGHT_TOLERANCE, `the first half's weights miss the whole stream's by more than ${WEIGHT_TOLERANCE} (${halfError.toFixed(4)})`);
    for (const i of r.survivors) {
      // Smoothed weights may still be moving towards the final target right after the drain: a few more seconds.
      let worst = { category: '', error: Infinity, got: NaN, want: NaN };
      let problem = '';
      const deadline = Date.now() + 15_000;
      do {
        const global = globalOf(await i.state().catch(() => undefined));
        if (!global.success) {
          problem = `/state has no valid ${GLOBAL_PATH.join('.')} section`;
          break;
        }
        problem = '';
        worst = { category: '', error: 0, got: NaN, want: NaN };
        for (const [c, want] of expected) {
          const got = global.data.weights[c];
          if (got === undefined) {
            problem = `no weight for ${c}`;
            break;
          }
          const error = Math.abs(got - want) / want;
          if (worst.category === '' || error > worst.error) worst = { category: c, error, got, want };
        }
        if (problem === '' && worst.error <= WEIGHT_TOLERANCE) break;
        await sleep(1_000);
      } while (Date.now() < deadline);
      t.diagnostic(`${i.name}: ${problem || `worst ${worst.category} got ${worst.got.toFixed(4)} want ${worst.want.toFixed(4)} (relative error ${worst.error.toFixed(4)})`}`);
      assert.equal(problem, '', `instance ${i.name}: ${problem}`);
      assert.ok(worst.error <= WEIGHT_TOLERANCE, `instance ${i.name}: ${worst.category} weight ${worst.got} vs ${worst.want} (relative error ${worst.error.toFixed(4)} > ${WEIGHT_TOLERANCE})`);
    }
  });
});

function sorted(counts: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}
