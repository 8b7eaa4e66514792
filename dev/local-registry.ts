import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RebalancerError } from '../src/errors.js';
import { freePort, REPO_ROOT } from './local-broker.js';

/**
 * A real Apicurio Registry (3.x, the Quarkus app from Maven Central's
 * `io.apicurio:apicurio-registry-app:<v>:tar.gz:all`) on loopback, for the demo and the
 * tests, like the local broker; never for production. It serves the Confluent-compatible
 * schema-registry API under `/apis/ccompat/v7`. Every port it opens (HTTP and Quarkus's
 * management interface) is bound to 127.0.0.1. Quarkus 3 needs Java 21 or newer: the
 * machine's default Java is 17, so the newest JDK ≥ 21 under /usr/lib/jvm is used (or
 * $REBALANCER_REGISTRY_JAVA).
 */
export const APICURIO_VERSION = '3.3.3';
const MIN_JAVA = 21;

export function registryHome(): string {
  return join(REPO_ROOT, '.cache', 'apicurio', APICURIO_VERSION);
}

/** Fetches and unpacks the registry with Maven once (about 160 MB); later calls return at once. */
export function ensureRegistryInstalled(log: (msg: string) => void = () => {}): string {
  const home = registryHome();
  const marker = join(home, '.complete');
  if (existsSync(marker)) return home;
  log(`fetching Apicurio Registry ${APICURIO_VERSION} from Maven Central (about 160 MB, once)`);
  rmSync(home, { recursive: true, force: true });
  mkdirSync(home, { recursive: true });
  const download = mkdtempSync(join(tmpdir(), 'rebalancer-apicurio-'));
  try {
    const artifact = `io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`;
    const mvn = spawnSync('mvn', ['-q', '-B', 'dependency:copy', `-Dartifact=${artifact}`, `-DoutputDirectory=${download}`], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    if (mvn.error || mvn.status !== 0) {
      const why = mvn.error ? mvn.error.message : `${mvn.stdout}\n${mvn.stderr}`.trim().split('\n').slice(-15).join('\n');
      throw new RebalancerError('REB_LOCAL_KAFKA', `Maven could not fetch ${artifact}:\n${why}`);
    }
    const archive = readdirSync(download).find((f) => f.endsWith('.tar.gz'));
    if (archive === undefined) throw new RebalancerError('REB_LOCAL_KAFKA', `Maven finished but ${download} holds no .tar.gz`);
    const tar = spawnSync('tar', ['xzf', join(download, archive), '-C', home], { encoding: 'utf8' });
    if (tar.error || tar.status !== 0) throw new RebalancerError('REB_LOCAL_KAFKA', `unpacking ${archive} failed: ${tar.error?.message ?? tar.stderr.trim()}`);
  } finally {
    rmSync(download, { recursive: true, force: true });
  }
  if (!existsSync(join(home, 'quarkus-run.jar'))) throw new RebalancerError('REB_LOCAL_KAFKA', `${home} holds no quarkus-run.jar after unpacking`);
  writeFileSync(marker, new Date().toISOString());
  return home;
}

/** Major version of a JDK home from its `release` file (undefined when unreadable). */
function javaMajor(home: string): number | undefined {
  try {
    const m = /^JAVA_VERSION="(\d+)/m.exec(readFileSync(join(home, 'release'), 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The `java` executable of a JDK ≥ 21: $REBALANCER_REGISTRY_JAVA, $JAVA_HOME, or the newest under /usr/lib/jvm. */
export function registryJava(env: NodeJS.ProcessEnv = process.env): string {
  if (env.REBALANCER_REGISTRY_JAVA) return env.REBALANCER_REGISTRY_JAVA;
  const homes: string[] = [];
  if (env.JAVA_HOME) homes.push(env.JAVA_HOME);
  try {
    for (const d of readdirSync('/usr/lib/jvm')) homes.push(join('/usr/lib/jvm', d));
  } catch {
    /* no /usr/lib/jvm */
  }
  let best: { home: string; major: number } | undefined;
  for (const home of homes) {
    const major = javaMajor(home);
    if (major !== undefined && major >= MIN_JAVA && existsSync(join(home, 'bin', 'java')) && (best === undefined || major > best.major)) best = { home, major };
  }
  if (best === undefined) {
    throw new RebalancerError('REB_LOCAL_KAFKA', `Apicurio Registry ${APICURIO_VERSION} needs Java ${MIN_JAVA}+; none found in $JAVA_HOME or /usr/lib/jvm (set REBALANCER_REGISTRY_JAVA to a java executable)`);
  }
  return join(best.home, 'bin', 'java');
}

export interface LocalRegistryOptions {
  /** HTTP port; a free one when omitted. */
  port?: number;
  /**
   * Where the registry keeps its schemas (H2 database files) and its log. Omitted: a temp
   * dir, removed on stop, and in-memory storage. Given: file storage, so the registry
   * restarted on the same directory keeps its schema ids, as a production registry would.
   */
  dataDir?: string;
  readyTimeoutMs?: number;
  log?: (msg: string) => void;
}

export interface LocalRegistry {
  /** Base URL of the Confluent-compatible API, e.g. http://127.0.0.1:8081/apis/ccompat/v7. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly dataDir: string;
  stop(): Promise<void>;
}

export async function startLocalRegistry(options: LocalRegistryOptions = {}): Promise<LocalRegistry> {
  const log = options.log ?? (() => {});
  const home = ensureRegistryInstalled(log);
  const java = registryJava();
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'rebalancer-registry-'));
  mkdirSync(dataDir, { recursive: true });
  const port = options.port ?? (await freePort());
  const managementPort = await freePort();
  const storage = ownsDataDir ? [] : [`-Dapicurio.datasource.url=jdbc:h2:file:${join(dataDir, 'registry')};DB_CLOSE_ON_EXIT=FALSE`];
  const outFd = openSync(join(dataDir, 'registry.out'), 'a');
  const child: ChildProcess = spawn(java, [
    '-Xms64m', '-Xmx384m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true',
    '-Dquarkus.http.host=127.0.0.1', `-Dquarkus.http.port=${port}`,
    '-Dquarkus.management.host=127.0.0.1', `-Dquarkus.management.port=${managementPort}`,
    '-Dapicurio.storage.kind=sql', '-Dapicurio.storage.sql.kind=h2',
    ...storage,
    '-jar', join(home, 'quarkus-run.jar'),
    // Its own process group, like the embedded broker: a terminal's Ctrl-C reaches the
    // service only, which stops the registry after its own shutdown (killed on exit).
  ], { cwd: dataDir, stdio: ['ignore', outFd, outFd], detached: true });
  closeSync(outFd);
  let exited = false;
  // A java that cannot be spawned (a wrong REBALANCER_REGISTRY_JAVA) is an error event, emitted
  // after this returns: reported as a typed error, never as an uncaught 'error' event.
  child.once('error', (err) => {
    exited = true;
    try {
      writeFileSync(join(dataDir, 'registry.out'), `could not start ${java}: ${err.message}\n`, { flag: 'a' });
    } catch {
      /* the data directory is already gone (spawn failed at once) */
    }
  });
  const pid = child.pid;
  if (pid === undefined) {
    if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
    throw new RebalancerError('REB_LOCAL_KAFKA', `could not spawn ${java} for the schema registry`);
  }
  child.once('exit', () => {
    exited = true;
  });
  const onExit = (): void => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  process.once('exit', onExit);
  const url = `http://127.0.0.1:${port}/apis/ccompat/v7`;
  const stop = async (): Promise<void> => {
    process.off('exit', onExit);
    if (!exited) {
      child.kill('SIGTERM');
      const deadline = Date.now() + 15_000;
      while (!exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (!exited) child.kill('SIGKILL');
    }
    if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 90_000);
  for (;;) {
    if (exited) {
      const tail = readFileSync(join(dataDir, 'registry.out'), 'utf8').trim().split('\n').slice(-10).join('\n');
      await stop();
      throw new RebalancerError('REB_LOCAL_KAFKA', `the schema registry exited during start-up:\n${tail}`);
    }
    try {
      const res = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new RebalancerError('REB_LOCAL_KAFKA', `the schema registry did not answer on ${url} within ${options.readyTimeoutMs ?? 90_000} ms (log: ${join(dataDir, 'registry.out')})`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  log(`Apicurio Registry ${APICURIO_VERSION} ready on ${url} (pid ${pid})`);
  return { url, port, pid, dataDir, stop };
}
