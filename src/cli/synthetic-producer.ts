import { CompressionTypes, type Producer } from 'kafkajs';
import { createKafkaClient } from '../adapters/kafka/client.js';
import type { KafkaSecurityFields } from '../adapters/kafka/security.js';
import { createEventCodec, type InteractionEvent } from '../codec/index.js';
import { SchemaRegistryClient } from '../adapters/kafka/schema-registry.js';
import { EMBEDDED_STREAM, createGenerator } from '../offline/generate.js';

export interface SyntheticProducer {
  readonly sent: number;
  stop(): Promise<void>;
}

const TICK_MS = 100;

/**
 * The embedded mode's event source: the seeded, skewed EMBEDDED_STREAM (generate.ts) produced
 * at a steady rate (events keyed by user), with a corrupt payload every `corruptEvery`
 * events (random bytes, truncated record or unknown fingerprint, in turn) so the
 * dead-letter path is exercised.
 *
 * `schemaRegistry`: write the Confluent wire format, the event schema's versions registered
 * under `<topic>-value` (BACKWARD) first; otherwise Avro single-object.
 */
export async function startSyntheticProducer(opts: { brokers: string[]; security?: KafkaSecurityFields; topic: string; rate: number; corruptEvery: number; seed: number; schemaRegistry?: string; log(msg: string): void }): Promise<SyntheticProducer> {
  const kafka = createKafkaClient({ clientId: 'rebalancer-synthetic', brokers: opts.brokers, logLevel: 'error', ...opts.security });
  const producer: Producer = kafka.producer();
  await producer.connect();
  const codec = createEventCodec();
  const schemaId = opts.schemaRegistry === undefined ? undefined : await new SchemaRegistryClient({ url: opts.schemaRegistry }).registerValueSchemas(opts.topic, codec);
  const encode = (e: InteractionEvent): Buffer => (schemaId === undefined ? codec.encode(e) : codec.encodeConfluent(schemaId, e));
  // Event time follows wall-clock pace (rate events per second), starting now.
  const stream = createGenerator({ ...EMBEDDED_STREAM, seed: opts.seed, startTime: Date.now(), meanGapMs: 1000 / opts.rate });
  let sent = 0;
  let corruptKind = 0;
  let due = 0;
  let stopped = false;
  let inFlight: Promise<unknown> = Promise.resolve();
  const tick = async (): Promise<void> => {
    due += (opts.rate * TICK_MS) / 1000;
    const n = Math.floor(due);
    due -= n;
    const messages: Array<{ key: string; value: Buffer }> = [];
    for (let i = 0; i < n; i++) {
      const e = stream.next();
      const value = encode(e);
      messages.push({ key: e.userId, value });
      if (opts.corruptEvery > 0 && (sent + i + 1) % opts.corruptEvery === 0) messages.push({ key: 'corrupt', value: corrupt(value, corruptKind++) });
    }
    if (messages.length === 0) return;
    await producer.send({ topic: opts.topic, messages, compression: CompressionTypes.None });
    sent += n;
  };
  const timer = setInterval(() => {
    if (stopped) return;
    // Sends are chained so they stay in order; a slow broker delays ticks rather than reordering them.
    inFlight = inFlight.then(tick).catch((err: unknown) => opts.log(`synthetic producer: ${(err as Error).message}`));
  }, TICK_MS);
  return {
    get sent() {
      return sent;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await inFlight;
      await producer.disconnect().catch(() => {});
    },
  };
}

function corrupt(valid: Buffer, kind: number): Buffer {
  switch (kind % 3) {
    case 0: return Buffer.from('not avro at all');
    case 1: return valid.subarray(0, Math.max(11, valid.length - 5));
    default: {
      const b = Buffer.from(valid);
      b.writeUInt32LE(0xdeadbeef, 2);
      return b;
    }
  }
}
