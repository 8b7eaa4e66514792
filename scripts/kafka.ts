/**
 * `npm run kafka:start` / `kafka:stop`: a local broker that outlives the command, for
 * trying the CLI verbs by hand. `install` only fetches the jars (used by setup.sh).
 */
import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureKafkaInstalled, REPO_ROOT, startLocalKafka } from '../dev/local-broker.js';

const STATE = join(REPO_ROOT, '.cache', 'kafka', 'local.json');
const DATA = join(REPO_ROOT, '.cache', 'kafka', 'data');
const log = (m: string): void => console.error(`[kafka] ${m}`);

async function main(verb: string | undefined, port: string | undefined): Promise<void> {
  switch (verb) {
    case 'install':
      ensureKafkaInstalled(log);
      return;
    case 'start': {
      if (existsSync(STATE)) {
        const { pid, brokers } = JSON.parse(readFileSync(STATE, 'utf8')) as { pid: number; brokers: string[] };
        if (isAlive(pid)) { log(`already running on ${brokers.join(',')} (pid ${pid})`); return; }
      }
      mkdirSync(DATA, { recursive: true });
      const kafka = await startLocalKafka({ port: port ? Number(port) : 9092, dataDir: DATA, detached: true, log });
      writeFileSync(STATE, JSON.stringify({ pid: kafka.pid, brokers: kafka.brokers }));
      console.log(kafka.brokers.join(','));
      return;
    }
    case 'stop': {
      if (!existsSync(STATE)) { log('no local broker recorded'); return; }
      const { pid } = JSON.parse(readFileSync(STATE, 'utf8')) as { pid: number };
      if (isAlive(pid)) {
        process.kill(pid, 'SIGTERM');
        for (let i = 0; i < 80 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 250));
        if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      }
      rmSync(STATE, { force: true });
      log(`stopped (pid ${pid}); data kept in ${DATA}`);
      return;
    }
    default:
      console.error('usage: node --import tsx scripts/kafka.ts install | start [port] | stop');
      process.exitCode = 2;
  }
}

function isAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

await main(process.argv[2], process.argv[3]);
