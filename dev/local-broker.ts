import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { z } from 'zod';
import { RebalancerError } from '../src/errors.js';

/**
 * A real single-node Apache Kafka broker (KRaft, combined broker + controller) on
 * loopback, run from the jars Maven fetches into .cache/kafka/. For the demo, the
 * tests and the benchmarks; never for production.
 */

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const POM = join(REPO_ROOT, 'scripts', 'kafka', 'pom.xml');
const LOG4J = join(REPO_ROOT, 'scripts', 'kafka', 'log4j2.properties');

export function localKafkaVersion(): string {
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(POM, 'utf8'));
  if (!match) throw new RebalancerError('REB_LOCAL_KAFKA', `no <kafka.version> in ${POM}`);
  return match[1]!;
}

export function kafkaLibsDir(): string {
  return join(REPO_ROOT, '.cache', 'kafka', localKafkaVersion(), 'libs');
}

/** Fetches the broker jars with Maven once; later calls return at once. */
export function ensureKafkaInstalled(log: (msg: string) => void = () => {}): string {
  const libs = kafkaLibsDir();
  const marker = join(libs, '.complete');
  if (existsSync(marker)) return libs;
  log(`fetching Apache Kafka ${localKafkaVersion()} from Maven Central (about 45 MB, once)`);
  mkdirSync(libs, { recursive: true });
  const mvn = spawnSync('mvn', ['-q', '-B', '-f', POM, 'dependency:copy-dependencies', `-DoutputDirectory=${libs}`], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (mvn.error || mvn.status !== 0) {
    const why = mvn.error ? mvn.error.message : `${mvn.stdout}\n${mvn.stderr}`.trim().split('\n').slice(-15).join('\n');
    throw new RebalancerError('REB_LOCAL_KAFKA', `Maven could not fetch the Kafka broker (is Java 17+ and Maven on PATH?):\n${why}`);
  }
  if (!readdirSync(libs).some((f) => f.startsWith('kafka_2.13-'))) {
    throw new RebalancerError('REB_LOCAL_KAFKA', `Maven finished but ${libs} holds no kafka_2.13 jar`);
  }
  writeFileSync(marker, new Date().toISOString());
  return libs;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export interface LocalKafkaOptions {
  /** Broker port; a free one when omitted. */
  port?: number;
  /**
   * Storage and log directory; a fresh temp dir (removed on stop) when omitted. A directory
   * a broker ran on before is started again as it was (cluster id, ports unless `port` is
   * given, topics, committed offsets), and kept on stop.
   */
  dataDir?: string;
  /** Default partition count of auto-created topics. */
  defaultPartitions?: number;
  /** Run the JVM in its own process group and leave it running when this process exits. */
  detached?: boolean;
  /**
   * Run the JVM in its own process group (so a terminal's Ctrl-C reaches only this
   * process, which stops the broker after its own shutdown), and still kill it and remove
   * its data directory if this process exits without calling stop().
   */
  ownProcessGroup?: boolean;
  readyTimeoutMs?: number;
  log?: (msg: string) => void;
  /** Extra server.properties settings, after (so overriding) the defaults: e.g. a short log.retention.check.interval.ms in tests. */
  extraProperties?: Record<string, string>;
  /**
   * An extra SASL_PLAINTEXT listener on 127.0.0.1 (its own port, `saslBrokers`) that takes
   * PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 for these users (name → password; letters,
   * digits and `._~+-`, 1 to 128 characters). The PLAINTEXT listener stays as it is. SCRAM
   * credentials are written when the storage is formatted, so a data directory started
   * before keeps the SCRAM users it was formatted with (PLAIN takes the users given now).
   */
  sasl?: { users: Readonly<Record<string, string>>; port?: number };
}

export interface LocalKafka {
  readonly brokers: string[];
  /** The SASL_PLAINTEXT listener's address (empty without the `sasl` option). */
  readonly saslBrokers: string[];
  readonly pid: number;
  readonly dataDir: string;
  stop(): Promise<void>;
}

const IDENTITY_FILE = 'rebalancer-broker.json';
// Kafka's cluster ids are 16 bytes in URL-safe base64 (22 characters).
const ClusterId = z.string().regex(/^[A-Za-z0-9_-]{22}$/);
const Identity = z.object({ clusterId: z.string().min(1), port: z.number().int().min(1).max(65_535), controllerPort: z.number().int().min(1).max(65_535), saslPort: z.number().int().min(1).max(65_535).optional() });
/** A SASL user name or password the local broker takes: safe inside a JAAS string and a kafka-storage --add-scram argument. */
const SaslCredential = z.string().regex(/^[A-Za-z0-9._~+-]{1,128}$/);

/** The identity a data directory was first started with (undefined for a new one; an unreadable file is an error). */
function readIdentity(dataDir: string): z.infer<typeof Identity> | undefined {
  const path = join(dataDir, IDENTITY_FILE);
  if (!existsSync(path)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    raw = null;
  }
  const parsed = Identity.safeParse(raw);
  if (!parsed.success) throw new RebalancerError('REB_LOCAL_KAFKA', `${path} is not a valid broker identity (${parsed.error.message}); remove the data directory to start a new broker`);
  return parsed.data;
}

/**
 * The cluster id a formatted log directory carries in its meta.properties (undefined when
 * the directory was never formatted). This file, not ours, is what the broker checks at
 * start ("Invalid cluster.id" when they differ), so it wins over the identity file: a data
 * directory formatted before the identity file existed, or whose identity file was lost,
 * still restarts.
 */
function readFormattedClusterId(logDir: string): string | undefined {
  const path = join(logDir, 'meta.properties');
  if (!existsSync(path)) return undefined;
  const line = readFileSync(path, 'utf8').split('\n').map((l) => l.trim()).find((l) => l.startsWith('cluster.id='));
  const id = ClusterId.safeParse(line?.slice('cluster.id='.length));
  if (!id.success) throw new RebalancerError('REB_LOCAL_KAFKA', `${path} holds no valid cluster.id; remove the data directory to start a new broker`);
  return id.data;
}

export async function startLocalKafka(options: LocalKafkaOptions = {}): Promise<LocalKafka> {
  const log = options.log ?? (() => {});
  const libs = ensureKafkaInstalled(log);
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'rebalancer-kafka-'));
  mkdirSync(join(dataDir, 'log'), { recursive: true });
  // A data directory keeps its identity across restarts: the cluster id it was formatted
  // with and the ports (so a broker can be stopped and started again on its own data, as
  // operators do).
  const identity = readIdentity(dataDir);
  const port = options.port ?? identity?.port ?? (await freePort());
  const controllerPort = identity?.controllerPort ?? (await freePort());
  const users = options.sasl === undefined ? undefined : saslUsers(options.sasl.users);
  const saslPort = users === undefined ? undefined : (options.sasl?.port ?? identity?.saslPort ?? (await freePort()));
  const sasl = users !== undefined && saslPort !== undefined ? { port: saslPort, users } : undefined;
  const props = join(dataDir, 'server.properties');
  writeFileSync(props, serverProperties(port, controllerPort, join(dataDir, 'log'), options.defaultPartitions ?? 3, options.extraProperties ?? {}, sasl));

  const classpath = join(libs, '*');
  // Format only a directory that was never formatted; a formatted one keeps its cluster id
  // (and with it its topics and committed offsets).
  const formattedId = readFormattedClusterId(join(dataDir, 'log'));
  const clusterId = formattedId ?? identity?.clusterId ?? newClusterId();
  writeFileSync(join(dataDir, IDENTITY_FILE), JSON.stringify({ clusterId, port, controllerPort, ...(saslPort !== undefined ? { saslPort } : identity?.saslPort !== undefined ? { saslPort: identity.saslPort } : {}) }));
  if (formattedId === undefined) {
    // SCRAM users live in the cluster metadata: KRaft takes them at format time (KIP-900).
    const scram = Object.entries(users ?? {}).flatMap(([name, password]) => ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => ['--add-scram', `${m}=[name=${name},password=${password}]`]));
    const format = spawnSync('java', ['-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', props, ...scram], { encoding: 'utf8' });
    if (format.error || format.status !== 0) {
      throw new RebalancerError('REB_LOCAL_KAFKA', `formatting Kafka storage in ${dataDir} failed: ${format.error?.message ?? format.stderr.trim()}`);
    }
  } else {
    log(`reusing Kafka storage in ${dataDir} (cluster ${clusterId})`);
  }

  const outFd = openSync(join(dataDir, 'broker.out'), 'a');
  const child: ChildProcess = spawn('java', [
    '-Xms128m', '-Xmx768m', '-XX:+UseSerialGC', '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${LOG4J}`, `-Dkafka.logs.dir=${dataDir}`,
    '-cp', classpath, 'kafka.Kafka', props,
  ], { stdio: ['ignore', outFd, outFd], detached: (options.detached ?? false) || (options.ownProcessGroup ?? false) });
  closeSync(outFd);
  if (options.detached) child.unref();
  const onExit = (): void => {
    try { if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
    if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  if (options.ownProcessGroup) process.once('exit', onExit);
  const pid = child.pid;
  if (pid === undefined) throw new RebalancerError('REB_LOCAL_KAFKA', 'could not spawn java for the Kafka broker');

  let exited = false;
  child.once('exit', () => { exited = true; });
  const brokers = [`127.0.0.1:${port}`];
  const saslBrokers = sasl !== undefined ? [`127.0.0.1:${sasl.port}`] : [];
  const stop = async (): Promise<void> => {
    process.off('exit', onExit);
    await stopProcess(child, pid, () => exited);
    if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitForBroker(brokers, options.readyTimeoutMs ?? 60_000, () => exited, dataDir);
  } catch (err) {
    await stop();
    throw err;
  }
  log(`Kafka ${localKafkaVersion()} ready on ${brokers[0]}${sasl !== undefined ? ` and ${saslBrokers[0]} (SASL_PLAINTEXT: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)` : ''} (pid ${pid}, data ${dataDir})`);
  return { brokers, saslBrokers, pid, dataDir, stop };
}

function newClusterId(): string {
  // A leading '-' would be read as an option by kafka-storage's argument parser.
  let id = randomBytes(16).toString('base64url');
  while (id.startsWith('-')) id = randomBytes(16).toString('base64url');
  return id;
}

/** The `sasl` option's users, checked: each name and password safe in server.properties and --add-scram. */
function saslUsers(users: Readonly<Record<string, string>>): Record<string, string> {
  const entries = Object.entries(users);
  if (entries.length === 0) throw new RebalancerError('REB_LOCAL_KAFKA', 'the local broker\'s SASL listener needs at least one user');
  for (const [name, password] of entries) {
    // The password is not quoted: only whether it has the allowed form.
    if (!SaslCredential.safeParse(name).success || !SaslCredential.safeParse(password).success) {
      throw new RebalancerError('REB_LOCAL_KAFKA', `the local broker's SASL user ${JSON.stringify(name.slice(0, 128))}: user names and passwords must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ + -`);
    }
  }
  return Object.fromEntries(entries);
}

/**
 * The SASL_PLAINTEXT listener's lines: its mechanisms, and JAAS configurations per listener
 * and mechanism (Kafka docs, "Authentication using SASL": listener.name.<listener>.<mechanism>.sasl.jaas.config).
 * PLAIN users are `user_<name>="<password>"` entries of PlainLoginModule; SCRAM users are
 * in the cluster metadata (formatted with --add-scram).
 */
function saslProperties(users: Record<string, string>): string[] {
  const plainUsers = Object.entries(users).map(([name, password]) => `user_${name}="${password}"`).join(' ');
  return [
    'listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
    `listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`,
    'listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
  ];
}

function serverProperties(port: number, controllerPort: number, logDir: string, partitions: number, extra: Record<string, string>, sasl?: { port: number; users: Record<string, string> }): string {
  const saslListener = sasl !== undefined ? `,SASL_PLAINTEXT://127.0.0.1:${sasl.port}` : '';
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}${saslListener}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}${saslListener}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    `listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${sasl !== undefined ? ',SASL_PLAINTEXT:SASL_PLAINTEXT' : ''}`,
    ...(sasl !== undefined ? saslProperties(sasl.users) : []),
    `log.dirs=${logDir}`,
    // Single node: internal topics must not ask for more replicas than exist, or
    // consumers loop on "group coordinator not available" (kafkajs issue 1752).
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=3',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    `num.partitions=${partitions}`,
    'auto.create.topics.enable=true',
    // Topics keep history (replays and imports carry old event times, which time-based
    // retention would delete at the next check); disk is bounded by size instead.
    'log.retention.ms=-1',
    'log.retention.bytes=1073741824',
    'log.segment.bytes=67108864',
    ...Object.entries(extra).map(([k, v]) => `${k}=${v}`),
    '',
  ].join('\n');
}

async function waitForBroker(brokers: string[], timeoutMs: number, hasExited: () => boolean, dataDir: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const kafka = new Kafka({ clientId: 'local-kafka-probe', brokers, logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  let lastError = '';
  while (Date.now() < deadline) {
    if (hasExited()) {
      throw new RebalancerError('REB_LOCAL_KAFKA', `the Kafka broker exited during start-up; see ${join(dataDir, 'broker.out')} and ${join(dataDir, 'server.log')}:\n${tail(join(dataDir, 'broker.out'))}${tail(join(dataDir, 'server.log'))}`);
    }
    const admin = kafka.admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length > 0 && cluster.controller !== null) {
        // Ready means consumer groups work too: the first FindCoordinator creates the offsets
        // topic, and until it exists every group join fails with "coordinator not available"
        // (a consumer started in that window can stall: kafkajs issue 1752).
        await admin.describeGroups(['local-kafka-probe']);
        await admin.disconnect();
        return;
      }
    } catch (err) {
      lastError = (err as Error).message;
    }
    await admin.disconnect().catch(() => {});
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new RebalancerError('REB_KAFKA_UNAVAILABLE', `the local Kafka broker did not become ready within ${timeoutMs} ms (last error: ${lastError})`);
}

async function stopProcess(child: ChildProcess, pid: number, hasExited: () => boolean): Promise<void> {
  if (hasExited()) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  let timer: NodeJS.Timeout | undefined;
  const killed = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => { timer = setTimeout(() => r(false), 20_000); })]);
  // A pending 20 s timer would keep the process alive after the broker has gone.
  clearTimeout(timer);
  if (!killed) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    await exited;
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n') + '\n';
  } catch {
    return '';
  }
}
