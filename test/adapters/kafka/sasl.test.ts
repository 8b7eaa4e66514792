/**
 * SASL pass-through (issue #13): a local broker with a SASL_PLAINTEXT listener (credentials
 * made up here), reached through the product's own client factory and settings: the right
 * credentials produce and consume with each mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512);
 * a wrong password is a typed error at once (not a hang, not a retry loop), never quoting
 * the password; the service and the CLI verbs take the same settings.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { kafkaSecurityFromFlags } from '../../../src/cli/kafka-flags.js';
import { isRebalancerError } from '../../../src/errors.js';
import { waitForKafka } from '../../../src/adapters/kafka/connect.js';
import { startLocalKafka, type LocalKafka } from '../../../dev/local-broker.js';
import type { KafkaSecurityFields } from '../../../src/adapters/kafka/security.js';
import { startService, type ServiceHandle } from '../../../src/service/index.js';
import { kafkaClient } from '../../../src/adapters/sink.js';
import { uniqueTopic } from '../../helpers/kafka.js';
import { freshTopics, produceSkewed, testConfig, waitFor } from '../../ingest/helpers.js';
import { REPO_ROOT } from '../../../dev/local-broker.js';

const MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
const USER = `reb-${randomBytes(3).toString('hex')}`;
const PASSWORD = randomBytes(18).toString('hex');
const WRONG = randomBytes(18).toString('hex');

/** The security the tools' flags and variables ask for (the password from the variable, as documented). */
function security(mechanism: string, password: string): KafkaSecurityFields {
  return kafkaSecurityFromFlags({ kafkaSaslMechanism: mechanism, kafkaSaslUsername: USER }, { REBALANCER_KAFKA_SASL_PASSWORD: password });
}

/** Runs the CLI from source as a child process with these extra environment variables (the password goes by variable, as documented). */
async function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', `import('./src/cli/main.ts').then((m) => m.main(process.argv.slice(0, 1).concat(['rebalancer'], process.argv.slice(1))))`, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, stderr };
}

async function roundTrip(kafka: Kafka, topic: string, n: number): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: `v${i}` })) });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: `${topic}-group` });
  const values: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`consumed ${values.length} of ${n} in 30 s`)), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          values.push(message.value?.toString() ?? '');
          if (values.length === n) {
            clearTimeout(timer);
            resolve();
          }
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return values;
}

describe('Kafka SASL through the product\'s clients (local broker with a SASL_PLAINTEXT listener)', () => {
  let broker: LocalKafka;
  before(async () => {
    broker = await startLocalKafka({ sasl: { users: { [USER]: PASSWORD } } });
  });
  after(async () => {
    await broker?.stop();
  });

  for (const mechanism of MECHANISMS) {
    it(`${mechanism}: the right credentials produce and consume (settings → kafkaSecurity → createKafkaClient)`, async () => {
      const kafka = kafkaClient(broker.saslBrokers, `sasl-${mechanism}`, security(mechanism, PASSWORD));
      const values = await roundTrip(kafka, uniqueTopic(`sasl-${mechanism}`), 25);
      assert.deepEqual(values, Array.from({ length: 25 }, (_, i) => `v${i}`));
    });
  }

  it('the SASL listener refuses a client without SASL, and the PLAINTEXT listener still takes one (default path unchanged)', async () => {
    await assert.rejects(waitForKafka({ brokers: broker.saslBrokers, security: {}, timeoutMs: 3_000 }), (err: unknown) => {
      assert.ok(isRebalancerError(err, 'REB_KAFKA_UNAVAILABLE'), String(err));
      assert.match(err.message, /^cannot reach Kafka at 127\.0\.0\.1:\d+ after \d+ attempts over \d+\.\d s .*does its listener expect SASL or TLS\? This client uses no SASL and no TLS/);
      return true;
    });
    const r = await waitForKafka({ brokers: broker.brokers, security: {}, timeoutMs: 10_000 });
    assert.equal(r.attempts, 1);
  });

  for (const mechanism of MECHANISMS) {
    it(`${mechanism}: a wrong password is REB_KAFKA_AUTH_FAILED at once (not retried to the deadline), naming the broker, quoting no password`, async () => {
      const started = Date.now();
      const err = await waitForKafka({ brokers: broker.saslBrokers, security: security(mechanism, WRONG), timeoutMs: 60_000 }).then(
        () => assert.fail('connected with a wrong password'),
        (e: unknown) => e,
      );
      const seconds = (Date.now() - started) / 1000;
      assert.ok(isRebalancerError(err, 'REB_KAFKA_AUTH_FAILED'), String(err));
      assert.equal(err.retriable, false);
      assert.ok(seconds < 10, `took ${seconds} s of a 60 s deadline`);
      assert.ok(err.message.includes(broker.saslBrokers[0]!), err.message);
      assert.match(err.message, new RegExp(`SASL.*--kafka-sasl-username "${USER}"`));
      assert.ok(!err.message.includes(WRONG) && !err.message.includes(PASSWORD), 'no password in the message');
    });
  }

  it('the service runs against the SASL listener with the run settings (SCRAM-SHA-512): every produced event applied; a wrong password fails its start with REB_KAFKA_AUTH_FAILED', async () => {
    const topics = await freshTopics(broker.brokers, 'sasl-service');
    await produceSkewed(broker.brokers, topics.topic, 1_500, { seed: 5 });
    const sasl = { kafkaSaslMechanism: 'scram-sha-512' as const, kafkaSaslUsername: USER };
    let service: ServiceHandle | undefined;
    try {
      service = await startService(testConfig(broker.saslBrokers, topics, { train: false, ...sasl, kafkaSaslPassword: PASSWORD }), { log: () => {} });
      const s = service;
      await waitFor('1,500 events applied over SASL', async () => (s.state().totals.applied === 1_500 ? true : undefined), 60_000);
    } finally {
      await service?.stop();
    }
    const started = Date.now();
    await assert.rejects(startService(testConfig(broker.saslBrokers, topics, { train: false, ...sasl, kafkaSaslPassword: WRONG, connectTimeoutMs: 60_000 }), { log: () => {} }), (err: unknown) => {
      assert.ok(isRebalancerError(err, 'REB_KAFKA_AUTH_FAILED'), String(err));
      assert.ok(!err.message.includes(WRONG));
      return true;
    });
    assert.ok(Date.now() - started < 15_000, 'the start failed at once, not at --connect-timeout-ms');
  });

  it('the CLI: generate writes through the SASL listener with --kafka-sasl-* flags and the password variable; run with a wrong password ends with one REB_KAFKA_AUTH_FAILED line and exit 2, quoting no password', async () => {
    const topic = uniqueTopic('sasl-cli');
    const env = { REBALANCER_KAFKA_SASL_PASSWORD: PASSWORD };
    const gen = await cli(['generate', '--events', '200', '--topic', topic, '--brokers', broker.saslBrokers[0]!, '--kafka-sasl-mechanism', 'SCRAM-SHA-256', '--kafka-sasl-username', USER, '--quiet'], env);
    assert.equal(gen.code, 0, gen.stderr);
    const admin = kafkaClient(broker.saslBrokers, 'sasl-cli-check', security('plain', PASSWORD)).admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      assert.equal(offsets.reduce((n, o) => n + Number(o.high), 0), 200);
    } finally {
      await admin.disconnect();
    }

    const started = Date.now();
    const checkpointDir = mkdtempSync(join(tmpdir(), 'rebalancer-sasl-cli-'));
    const { code, stderr } = await cli(['run', '--http-port', '0', '--brokers', broker.saslBrokers[0]!, '--kafka-sasl-mechanism', 'plain', '--kafka-sasl-username', USER, '--topic', topic, '--train', 'false', '--checkpoint-dir', checkpointDir, '--connect-timeout-ms', '60000', '--status-interval-ms', '0'], { REBALANCER_KAFKA_SASL_PASSWORD: WRONG });
    assert.ok(Date.now() - started < 40_000, 'ended long before --connect-timeout-ms');
    assert.equal(code, 2, stderr);
    const lines = stderr.split('\n').filter((l) => l.startsWith('rebalancer: '));
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0]!, /refused the SASL authentication.*\[REB_KAFKA_AUTH_FAILED\]$/);
    assert.ok(!stderr.includes(WRONG) && !stderr.includes(PASSWORD), 'no password on stderr');
  });
});
