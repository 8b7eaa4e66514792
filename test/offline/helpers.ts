import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KafkaMessage } from 'kafkajs';
import { REPO_ROOT } from '../../dev/local-broker.js';
import { main } from '../../src/cli/main.js';
import { testKafka } from '../helpers/kafka.js';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

/** Runs the CLI in this process; throws if it set a non-zero exit code. */
export async function cli(...args: string[]): Promise<void> {
  const before = process.exitCode;
  await main(['node', 'rebalancer', ...args, '--quiet']);
  const code = process.exitCode;
  process.exitCode = before;
  if (code !== undefined && code !== 0) throw new Error(`rebalancer ${args.join(' ')} exited ${code}`);
}

/** A CLI child process whose output is collected as it comes. */
export interface CliProcess {
  readonly child: ChildProcess;
  readonly output: { stdout: string; stderr: string };
  readonly exited: Promise<number | null>;
}

/** Starts the CLI from source, through the development entry point (dev/rebalancer.ts, which `run --embedded` needs), as a child process; `detached` gives it its own process group. */
export function startCli(args: string[], options: { detached?: boolean } = {}): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'dev/rebalancer.ts', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  const output = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => { output.stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { output.stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output, exited };
}

/** Runs the CLI as a child process (for exit codes and stderr). */
export async function spawnCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = startCli(args);
  const code = await p.exited;
  return { code: code ?? 1, ...p.output };
}

export interface Consumed {
  partition: number;
  message: KafkaMessage;
}

/** Reads `count` messages of a topic from the beginning (fails after timeoutMs). */
export async function consumeAll(brokers: string[], topic: string, count: number, timeoutMs = 30_000): Promise<Consumed[]> {
  const kafka = testKafka(brokers, 'tools-test-consumer');
  const consumer = kafka.consumer({ groupId: `tools-test-${topic}-${Math.random().toString(36).slice(2)}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const out: Consumed[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${out.length} of ${count} messages in ${topic} after ${timeoutMs} ms`)), timeoutMs);
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          out.push({ partition, message });
          if (out.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    // A short grace period catches duplicates beyond the expected count.
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await consumer.disconnect();
  }
  return out;
}
