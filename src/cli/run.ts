import type { Command } from 'commander';
import { Kafka, logLevel, CompressionTypes } from 'kafkajs';
import { createEventCodec } from '../codec/index.js';
import { startLocalKafka, type LocalKafka } from '../kafka/local-broker.js';
import { SyntheticStream, DEFAULT_SYNTHETIC } from '../tools/synthetic.js';

interface RunFlags {
  embedded?: boolean;
  brokers?: string;
  topic: string;
  events: string;
  seed: string;
}

/**
 * Foundation version of `run`: with --embedded it starts a local broker, produces a
 * skewed synthetic stream as Avro, consumes it back and prints per-category counts.
 */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the rebalancer service (with --embedded: local Kafka + built-in synthetic stream)')
    .option('--embedded', 'start a local Kafka broker and feed it a synthetic imbalanced stream')
    .option('--brokers <list>', 'comma-separated Kafka brokers (ignored with --embedded)', process.env.REBALANCER_BROKERS)
    .option('--topic <name>', 'events topic', 'interactions')
    .option('--events <n>', 'synthetic events to produce with --embedded', '20000')
    .option('--seed <n>', 'seed of the synthetic stream', '42')
    .action(async (flags: RunFlags) => {
      await runFoundationDemo(flags);
    });
}

async function runFoundationDemo(flags: RunFlags): Promise<void> {
  const count = Number(flags.events);
  let local: LocalKafka | undefined;
  const log = (m: string): void => console.error(`[run] ${m}`);
  try {
    let brokers: string[];
    if (flags.embedded || !flags.brokers) {
      local = await startLocalKafka({ log });
      brokers = local.brokers;
    } else {
      brokers = flags.brokers.split(',');
    }
    const kafka = new Kafka({ clientId: 'rebalancer-demo', brokers, logLevel: logLevel.ERROR });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: flags.topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();

    const codec = createEventCodec();
    const stream = new SyntheticStream({ ...DEFAULT_SYNTHETIC, seed: Number(flags.seed) });
    const producer = kafka.producer();
    await producer.connect();
    const produced = new Map<string, number>();
    for (let sent = 0; sent < count; ) {
      const n = Math.min(2_000, count - sent);
      const messages = [];
      for (let i = 0; i < n; i++) {
        const e = stream.next();
        produced.set(e.categoryId, (produced.get(e.categoryId) ?? 0) + 1);
        messages.push({ key: e.userId, value: codec.encode(e), timestamp: String(e.eventTime) });
      }
      await producer.send({ topic: flags.topic, messages, compression: CompressionTypes.None });
      sent += n;
    }
    await producer.disconnect();
    log(`produced ${count} events`);

    const consumed = new Map<string, number>();
    let total = 0;
    const consumer = kafka.consumer({ groupId: `rebalancer-demo-${Date.now()}` });
    await consumer.connect();
    await consumer.subscribe({ topic: flags.topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          const e = codec.decode(message.value!);
          consumed.set(e.categoryId, (consumed.get(e.categoryId) ?? 0) + 1);
          if (++total === count) resolve();
        },
      });
    });
    await consumer.disconnect();
    console.log('category   produced   consumed    share');
    for (const [cat, n] of [...produced].sort((a, b) => b[1] - a[1])) {
      console.log(`${cat.padEnd(10)} ${String(n).padStart(8)} ${String(consumed.get(cat) ?? 0).padStart(10)} ${((100 * n) / count).toFixed(2).padStart(7)}%`);
    }
  } finally {
    await local?.stop();
  }
}
