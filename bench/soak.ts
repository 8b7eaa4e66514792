/**
 * Soak: `rebalancer run` instances (child processes, one consumer group) under a steady
 * producer for a long while, watching for memory that keeps growing and lag that keeps
 * growing.
 *
 *   npm run bench:soak -- [--minutes 10] [--rate 2000] [--instances 2] [--sample-seconds 10]
 *                         [--train true|false] [--json FILE] [--brokers host:port] [--max-rss-slope 1]
 *                         [--window-buckets N] [--users N] [--catalog-capacity N]
 *
 * Starts a local Kafka broker (unless --brokers), a 6-partition topic, the instances
 * (test/helpers/instances.ts) and `rebalancer generate --rate R --events 0` (the realistic
 * profile, keyed by userId) as the producer. Every --sample-seconds it reads each instance's
 * /metrics: resident memory (process_resident_memory_bytes) and consumer lag (the sum of
 * rebalancer_consumer_lag_messages), and the group's lag from the broker (end offset −
 * committed offset, summed over partitions; commits come with checkpoints, so it runs up to a
 * checkpoint interval of events above the consumers' own figure). At the end it prints the
 * samples as a table and a verdict, and writes everything as JSON:
 *  - RSS slope per instance, MB per minute: least-squares line through the samples of the
 *    last two thirds of the run (the first third is warm-up: JIT, buffers, reservoirs and the
 *    window filling), with its standard error; growing when even slope − 2·SE (the lower end
 *    of a ~95% interval: RSS moves by tens of MB between samples with the garbage collector)
 *    is above --max-rss-slope MB/min;
 *  - lag not growing: the mean total lag over the last third of the samples is at most the
 *    mean over the middle third plus max(25% of it, one second of events).
 * Not part of `npm run bench` (it takes minutes by design): this module exports no benchmarks.
 */
import { writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { RebalancerError, isRebalancerError } from '../src/errors.js';
import { REPO_ROOT, startLocalKafka, type LocalKafka } from '../dev/local-broker.js';
import { cliCommand, cliEnv, sleep, startInstance, stopAll, sumMetric, tail, type Instance } from '../test/helpers/instances.js';

const PARTITIONS = 6;
const MB = 1024 * 1024;

export interface SoakOptions {
  minutes: number;
  rate: number;
  instances: number;
  sampleSeconds: number;
  train: boolean;
  /** --window-buckets of the instances (undefined: the run default, 60 one-minute buckets). */
  windowBuckets: number | undefined;
  json: string;
  brokers: string[] | undefined;
  seed: number;
  /** RSS slope (MB/min, last 2/3 of the run) above which an instance counts as growing. */
  maxRssSlope: number;
  /** Users of the stream (undefined: as many as the run would get, rate × minutes × 60 / 25). */
  users: number | undefined;
  /** --catalog-capacity of the instances (undefined: the run default). */
  catalogCapacity: number | undefined;
}

export interface SoakSample {
  /** Seconds since the producer started. */
  t: number;
  instances: Array<{ name: string; rssMB: number | null; heapMB?: number | null; lag: number | null; applied: number | null; parts?: Record<string, number | null> }>;
  /** Σ over the instances' lag gauges (null when an instance did not answer). */
  totalLag: number | null;
  /** End offset − committed offset, summed over partitions (null when the broker did not answer). */
  groupLag: number | null;
}

export interface SoakVerdict {
  rssSlopeMBPerMinute: Record<string, number | null>;
  /** Standard error of each slope (null with fewer than 3 samples). */
  rssSlopeStdErr: Record<string, number | null>;
  /** Instances whose RSS slope minus two standard errors exceeds the allowed slope. */
  rssGrowing: string[];
  /**
   * Slope (MB/min, last 2/3) of the lower envelope: the minimum of each minute's samples. RSS
   * and the main thread's JS heap swing by garbage collection; their troughs follow what is
   * really held, so a leak shows here even when single samples are noisy. Informational.
   */
  floorSlopeMBPerMinute: Record<string, { rss: number | null; heap: number | null }>;
  /** The same floor slope (MB/min) of each part of memory an instance exports per thread (see MEMORY_PARTS). */
  partFloorSlopeMBPerMinute: Record<string, Record<string, number | null>>;
  lag: { middleThirdMean: number | null; lastThirdMean: number | null; allowed: number | null; growing: boolean | null };
  instancesAlive: Record<string, boolean>;
}

/**
 * Ordinary least-squares line through (x, y): its slope, and the slope's standard error
 * √(Σ residual² / (n − 2) / Σ (x − x̄)²) (null with fewer than 3 points). Slope null with
 * fewer than 2 distinct x.
 */
export function slopeFit(points: ReadonlyArray<readonly [number, number]>): { slope: number | null; stdErr: number | null } {
  const n = points.length;
  if (n < 2) return { slope: null, stdErr: null };
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  if (!(sxx > 0)) return { slope: null, stdErr: null };
  const slope = sxy / sxx;
  if (n < 3) return { slope, stdErr: null };
  let rss = 0;
  for (const [x, y] of points) rss += (y - my - slope * (x - mx)) ** 2;
  return { slope, stdErr: Math.sqrt(rss / (n - 2) / sxx) };
}

function mean(xs: readonly number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((s, x) => s + x, 0) / xs.length;
}

/** The verdict over the samples (see the header): RSS slopes over the last 2/3, lag of the last third against the middle third. */
export function verdict(samples: readonly SoakSample[], names: readonly string[], rate: number, maxRssSlope: number, alive: Record<string, boolean>): SoakVerdict {
  const n = samples.length;
  const fromSlope = Math.floor(n / 3);
  const rssSlopeMBPerMinute: Record<string, number | null> = {};
  const rssSlopeStdErr: Record<string, number | null> = {};
  for (const name of names) {
    const points: Array<[number, number]> = [];
    for (const s of samples.slice(fromSlope)) {
      const rss = s.instances.find((i) => i.name === name)?.rssMB;
      if (rss !== undefined && rss !== null) points.push([s.t / 60, rss]);
    }
    const fit = slopeFit(points);
    rssSlopeMBPerMinute[name] = fit.slope;
    rssSlopeStdErr[name] = fit.stdErr;
  }
  const lags = (part: readonly SoakSample[]): number[] => part.flatMap((s) => (s.totalLag === null ? [] : [s.totalLag]));
  const middle = mean(lags(samples.slice(Math.floor(n / 3), Math.floor((2 * n) / 3))));
  const last = mean(lags(samples.slice(Math.floor((2 * n) / 3))));
  const allowed = middle === null ? null : middle + Math.max(0.25 * middle, rate);
  const floorSlopeMBPerMinute: Record<string, { rss: number | null; heap: number | null }> = {};
  const partFloorSlopeMBPerMinute: Record<string, Record<string, number | null>> = {};
  const perMinute = Math.max(1, Math.round(samples.length > 1 ? 60 / Math.max(1, samples[1]!.t - samples[0]!.t) : 6));
  for (const name of names) {
    const floor = (pick: (i: SoakSample['instances'][number]) => number | null | undefined): number | null => {
      const points: Array<[number, number]> = [];
      const tail = samples.slice(fromSlope);
      for (let k = 0; k + perMinute <= tail.length; k += perMinute) {
        const chunk = tail.slice(k, k + perMinute);
        const values = chunk.flatMap((s) => {
          const v = pick(s.instances.find((i) => i.name === name)!);
          return v === undefined || v === null ? [] : [v];
        });
        if (values.length > 0) points.push([chunk[0]!.t / 60, Math.min(...values)]);
      }
      return slopeFit(points).slope;
    };
    floorSlopeMBPerMinute[name] = { rss: floor((i) => i?.rssMB), heap: floor((i) => i?.heapMB) };
    partFloorSlopeMBPerMinute[name] = Object.fromEntries(MEMORY_PARTS.map(([part]) => [part, floor((i) => i?.parts?.[part])]));
  }
  return {
    rssSlopeMBPerMinute,
    rssSlopeStdErr,
    floorSlopeMBPerMinute,
    partFloorSlopeMBPerMinute,
    rssGrowing: names.filter((name) => (rssSlopeMBPerMinute[name] ?? 0) - 2 * (rssSlopeStdErr[name] ?? 0) > maxRssSlope),
    lag: { middleThirdMean: middle, lastThirdMean: last, allowed, growing: allowed === null || last === null ? null : last > allowed },
    instancesAlive: alive,
  };
}

async function groupLag(kafka: Kafka, groupId: string, topic: string): Promise<number | null> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(topic);
    const [group] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = new Map((group?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
    let lag = 0;
    for (const o of ends) {
      const c = committed.get(o.partition) ?? -1;
      lag += Number(o.high) - (c >= 0 ? c : Number(o.low));
    }
    return lag;
  } catch {
    return null;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Parts of an instance's memory, per thread (src/metrics/thread-memory.ts): [name, metric, thread label or null]. */
const MEMORY_PARTS: ReadonlyArray<readonly [string, string, string | null]> = [
  ['main heap', 'rebalancer_thread_heap_used_bytes', 'main'],
  ['trainer heap', 'rebalancer_thread_heap_used_bytes', 'trainer'],
  ['serving heap', 'rebalancer_thread_heap_used_bytes', 'serving'],
  ['main heap committed', 'rebalancer_thread_heap_committed_bytes', 'main'],
  ['trainer heap committed', 'rebalancer_thread_heap_committed_bytes', 'trainer'],
  ['serving heap committed', 'rebalancer_thread_heap_committed_bytes', 'serving'],
  ['main external', 'rebalancer_thread_external_bytes', 'main'],
  ['trainer external', 'rebalancer_thread_external_bytes', 'trainer'],
  ['serving external', 'rebalancer_thread_external_bytes', 'serving'],
  ['trainer tensors', 'rebalancer_trainer_tensor_bytes', null],
];

/** The value of `name{thread="…"}` (or of `name` without labels), or undefined. */
function threadMetric(text: string, name: string, thread: string | null): number | undefined {
  const prefix = thread === null ? `${name} ` : `${name}{thread="${thread}"} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  const value = line === undefined ? NaN : Number(line.slice(prefix.length));
  return Number.isFinite(value) ? value : undefined;
}

async function sampleInstance(i: Instance): Promise<SoakSample['instances'][number]> {
  try {
    const text = await i.metrics();
    const rss = sumMetric(text, 'process_resident_memory_bytes');
    const heap = sumMetric(text, 'nodejs_heap_size_used_bytes');
    return {
      name: i.name,
      rssMB: rss === undefined ? null : rss / MB,
      heapMB: heap === undefined ? null : heap / MB,
      // Absent until the first fetch sets a partition's gauge (null, shown as —).
      lag: sumMetric(text, 'rebalancer_consumer_lag_messages') ?? null,
      applied: sumMetric(text, 'rebalancer_events_consumed_total') ?? null,
      parts: Object.fromEntries(MEMORY_PARTS.map(([part, metric, thread]) => {
        const v = threadMetric(text, metric, thread);
        return [part, v === undefined ? null : v / MB];
      })),
    };
  } catch {
    return { name: i.name, rssMB: null, heapMB: null, lag: null, applied: null };
  }
}

function cell(x: number | null, digits = 0): string {
  return x === null ? '—' : x.toFixed(digits);
}

export async function soak(o: SoakOptions, log: (m: string) => void = (m) => console.error(`[soak] ${m}`)): Promise<{ samples: SoakSample[]; verdict: SoakVerdict }> {
  let kafka: LocalKafka | undefined;
  const instances: Instance[] = [];
  let stopProducer: (() => Promise<void>) | undefined;
  try {
    if (o.brokers === undefined) kafka = await startLocalKafka({ log });
    const brokers = o.brokers ?? kafka!.brokers;
    const admin = new Kafka({ clientId: 'soak', brokers, logLevel: logLevel.NOTHING });
    const topic = `soak-${Date.now().toString(36)}`;
    const groupId = `${topic}-group`;
    const a = admin.admin();
    await a.connect();
    await a.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '-1' }] }], waitForLeaders: true });
    await a.disconnect();

    const settings = { train: String(o.train), statusIntervalMs: '60000', modelUserRows: '65536', modelItemRows: '65536', ...(o.windowBuckets === undefined ? {} : { windowBuckets: String(o.windowBuckets) }), ...(o.catalogCapacity === undefined ? {} : { catalogCapacity: String(o.catalogCapacity) }) };
    for (let k = 0; k < o.instances; k++) instances.push(await startInstance({ name: `i${k + 1}`, brokers, topic, groupId, settings }));
    log(`${o.instances} instances up (${instances.map((i) => `${i.name} pid ${i.pid} ${i.url}`).join(', ')}); producing ${o.rate} events/s to ${topic} for ${o.minutes} min`);

    // The realistic profile has events/25 users by default, which an endless run does not have: as many as the run would get.
    const users = o.users ?? Math.max(1_000, Math.round((o.rate * 60 * o.minutes) / 25));
    const producer = spawn(process.execPath, cliCommand(['generate', '--topic', topic, '--brokers', brokers.join(','), '--partitions', String(PARTITIONS), '--rate', String(o.rate), '--events', '0', '--users', String(users), '--seed', String(o.seed), '--quiet']), { cwd: REPO_ROOT, env: cliEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let producerErr = '';
    producer.stderr!.on('data', (d: Buffer) => { producerErr += d.toString(); });
    const producerExit = new Promise<number | null>((r) => producer.once('exit', (code) => r(code)));
    stopProducer = async () => {
      if (producer.exitCode === null) producer.kill('SIGTERM');
      await producerExit;
    };

    const samples: SoakSample[] = [];
    const started = Date.now();
    const end = started + o.minutes * 60_000;
    console.log(`| t (s) | ${instances.map((i) => `${i.name} RSS (MB) | ${i.name} lag | ${i.name} applied`).join(' | ')} | total lag | group lag |`);
    console.log(`|---:|${instances.map(() => '---:|---:|---:').join('|')}|---:|---:|`);
    for (let next = started + o.sampleSeconds * 1000; next <= end; next += o.sampleSeconds * 1000) {
      await sleep(Math.max(0, next - Date.now()));
      if (producer.exitCode !== null) throw new Error(`the producer exited (code ${producer.exitCode}):\n${tail(producerErr)}`);
      const per = await Promise.all(instances.map(sampleInstance));
      const totalLag = per.some((p) => p.lag === null) ? null : per.reduce((s, p) => s + p.lag!, 0);
      const sample: SoakSample = { t: Math.round((Date.now() - started) / 1000), instances: per, totalLag, groupLag: await groupLag(admin, groupId, topic) };
      samples.push(sample);
      console.log(`| ${sample.t} | ${per.map((p) => `${cell(p.rssMB)} | ${cell(p.lag)} | ${cell(p.applied)}`).join(' | ')} | ${cell(totalLag)} | ${cell(sample.groupLag)} |`);
    }
    const alive = Object.fromEntries(instances.map((i) => [i.name, i.alive]));
    const v = verdict(samples, instances.map((i) => i.name), o.rate, o.maxRssSlope, alive);
    const dead = instances.filter((i) => !i.alive);
    for (const i of dead) log(`instance ${i.name} died during the soak:\n${tail(i.stderr())}`);
    console.log('');
    for (const [name, s] of Object.entries(v.rssSlopeMBPerMinute)) {
      const se = v.rssSlopeStdErr[name] ?? null;
      const judged = v.rssGrowing.includes(name) ? `GROWING (slope − 2·SE > ${o.maxRssSlope} MB/min)` : `not growing (slope − 2·SE ≤ ${o.maxRssSlope} MB/min)`;
      console.log(`RSS slope ${name}: ${s === null ? 'n/a' : `${s.toFixed(2)} ± ${cell(se, 2)} (SE) MB/min`} over the last 2/3 of the run: ${s === null ? 'n/a' : judged}`);
    }
    for (const [name, f] of Object.entries(v.floorSlopeMBPerMinute)) {
      console.log(`floor slope ${name} (minimum of each minute, last 2/3): RSS ${f.rss === null ? 'n/a' : f.rss.toFixed(2)} MB/min, main-thread JS heap ${f.heap === null ? 'n/a' : f.heap.toFixed(2)} MB/min`);
    }
    for (const [name, parts] of Object.entries(v.partFloorSlopeMBPerMinute)) {
      console.log(`floor slope ${name} by part (MB/min): ${Object.entries(parts).map(([part, x]) => `${part} ${x === null ? 'n/a' : x.toFixed(2)}`).join(', ')}`);
    }
    const last = samples[samples.length - 1];
    for (const i of last?.instances ?? []) {
      console.log(`last sample ${i.name} (MB): RSS ${cell(i.rssMB)}, ${Object.entries(i.parts ?? {}).map(([part, x]) => `${part} ${cell(x)}`).join(', ')}`);
    }
    console.log(`lag: middle-third mean ${cell(v.lag.middleThirdMean)}, last-third mean ${cell(v.lag.lastThirdMean)} (allowed ${cell(v.lag.allowed)}): ${v.lag.growing === null ? 'n/a' : v.lag.growing ? 'GROWING' : 'not growing'}`);
    console.log(`instances alive at the end: ${dead.length === 0 ? 'all' : `not ${dead.map((i) => i.name).join(', ')}`}`);
    const report = { options: { ...o, brokers: o.brokers ?? null }, topic, date: new Date().toISOString(), samples, verdict: v };
    writeFileSync(o.json, JSON.stringify(report, null, 2) + '\n');
    log(`report written to ${o.json}`);
    return { samples, verdict: v };
  } finally {
    await stopProducer?.();
    await stopAll(instances);
    await kafka?.stop();
  }
}

function parseOptions(argv: string[]): SoakOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: 'string', default: '10' },
      rate: { type: 'string', default: '2000' },
      instances: { type: 'string', default: '2' },
      'sample-seconds': { type: 'string', default: '10' },
      train: { type: 'string', default: 'true' },
      json: { type: 'string', default: 'bench-report-soak.json' },
      brokers: { type: 'string' },
      seed: { type: 'string', default: '42' },
      'max-rss-slope': { type: 'string', default: '1' },
      'window-buckets': { type: 'string' },
      users: { type: 'string' },
      'catalog-capacity': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm run bench:soak -- [--minutes 10] [--rate 2000] [--instances 2] [--sample-seconds 10] [--train true|false] [--json FILE] [--brokers host:port] [--seed 42] [--max-rss-slope 1] [--window-buckets N] [--users N] [--catalog-capacity N]\n  --window-buckets: a shorter window (N one-minute buckets) brings every time-bounded structure (window buckets, global window, dedup span) to its steady size within the run, so growth after that is a leak, not filling\n  --users N: a fixed user population (default: as many as the run would get), so per-user structures reach their steady size\n  --catalog-capacity N: the instances\' negative-sampling catalog (default 200,000 items, which fill for over an hour at 2,000 events/s)');
    return undefined;
  }
  const num = (name: string, raw: string, min: number): number => {
    const v = Number(raw);
    if (!Number.isFinite(v) || v < min) throw new RebalancerError('REB_INPUT_INVALID', `--${name} must be a number >= ${min}, got ${raw}`, { flag: name });
    return v;
  };
  if (values.train !== 'true' && values.train !== 'false') throw new RebalancerError('REB_INPUT_INVALID', `--train must be true or false, got ${values.train}`, { flag: 'train' });
  return {
    minutes: num('minutes', values.minutes, 0.5),
    rate: num('rate', values.rate, 1),
    instances: Math.round(num('instances', values.instances, 1)),
    sampleSeconds: num('sample-seconds', values['sample-seconds'], 1),
    train: values.train === 'true',
    json: values.json,
    brokers: values.brokers?.split(','),
    seed: Math.round(num('seed', values.seed, 0)),
    maxRssSlope: num('max-rss-slope', values['max-rss-slope'], 0),
    users: values.users === undefined ? undefined : Math.round(num('users', values.users, 1)),
    catalogCapacity: values['catalog-capacity'] === undefined ? undefined : Math.round(num('catalog-capacity', values['catalog-capacity'], 100)),
    windowBuckets: values['window-buckets'] === undefined ? undefined : Math.round(num('window-buckets', values['window-buckets'], 1)),
  };
}

// Run only when executed (bench/run.ts imports every bench/*.ts looking for `benchmarks`).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let options: SoakOptions | undefined;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    // A usage error is one line and exit 2, as the CLI's verbs do.
    if (!isRebalancerError(err) && !(err instanceof TypeError)) throw err;
    console.error(`soak: ${err.message}`);
    process.exit(2);
  }
  if (options !== undefined) {
    const result = await soak(options);
    const v = result.verdict;
    const grew = v.lag.growing === true || v.rssGrowing.length > 0 || Object.values(v.instancesAlive).includes(false);
    process.exitCode = grew ? 1 : 0;
  }
}
