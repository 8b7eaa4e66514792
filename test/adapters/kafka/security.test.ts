/**
 * The Kafka security settings (issue #13): validated once with errors naming the setting
 * (never quoting a password), turned into kafkajs `sasl`/`ssl` fields with the PEM files
 * read and checked, the fields really reaching the TLS socket (a TLS server sees the
 * client's CA and client certificate at work), and a certificate that does not verify
 * failing at once as REB_KAFKA_AUTH_FAILED. Broker-free: SASL against a real broker is
 * test/adapters/kafka/sasl.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createServer, type TLSSocket } from 'node:tls';
import { main } from '../../../src/cli/main.js';
import { defaultConfig, loadConfig, loadKafkaSecurity, type KafkaSecuritySettings, type RawSettings } from '../../../src/config/index.js';
import { isRebalancerError, type RebalancerError } from '../../../src/errors.js';
import { kafkaFailure, redactPassword, waitForKafka } from '../../../src/adapters/kafka/connect.js';
import { describeKafkaSecurity, kafkaSecurity } from '../../../src/adapters/kafka/security.js';

const TLS = join(import.meta.dirname, 'fixtures', 'tls');
const pem = (name: string): string => join(TLS, name);
const SECRET = 'hunter2-s3cret-value';

function configError(fn: () => unknown): RebalancerError {
  try {
    fn();
  } catch (err) {
    assert.ok(isRebalancerError(err, 'REB_CONFIG_INVALID'), String(err));
    return err;
  }
  assert.fail('expected REB_CONFIG_INVALID');
}

function security(flags: RawSettings, env: NodeJS.ProcessEnv = {}): KafkaSecuritySettings {
  return loadKafkaSecurity({ flags, env });
}

describe('Kafka security settings', () => {
  it('default: no SASL, no TLS, and the kafkajs config gets neither field (the plaintext path is unchanged)', () => {
    assert.deepEqual(kafkaSecurity(defaultConfig()), {});
    assert.equal(describeKafkaSecurity(defaultConfig()), 'PLAINTEXT');
  });

  it('SASL: the mechanism in either spelling, the user, the password from the variable (a flag wins over it)', () => {
    const fromEnv = security({ kafkaSaslMechanism: 'SCRAM-SHA-512', kafkaSaslUsername: 'svc' }, { REBALANCER_KAFKA_SASL_PASSWORD: SECRET });
    assert.deepEqual(kafkaSecurity(fromEnv), { sasl: { mechanism: 'scram-sha-512', username: 'svc', password: SECRET } });
    const flagWins = security({ kafkaSaslMechanism: 'plain', kafkaSaslUsername: 'svc', kafkaSaslPassword: 'from-flag' }, { REBALANCER_KAFKA_SASL_PASSWORD: SECRET });
    assert.deepEqual(kafkaSecurity(flagWins).sasl, { mechanism: 'plain', username: 'svc', password: 'from-flag' });
    // The tools validate only these settings: an unrelated bad variable does not stop them.
    assert.doesNotThrow(() => security({}, { REBALANCER_BATCH_SIZE: '0' }));
  });

  it('a bad value is REB_CONFIG_INVALID naming the flag, the variable and where the value came from', () => {
    assert.match(configError(() => security({ kafkaSaslMechanism: 'gssapi' })).message, /--kafka-sasl-mechanism \/ REBALANCER_KAFKA_SASL_MECHANISM: got "gssapi" \(from flag\), expected empty, or one of plain, scram-sha-256, scram-sha-512/);
    assert.match(configError(() => loadConfig({ env: { REBALANCER_KAFKA_SSL: 'maybe' } })).message, /--kafka-ssl \/ REBALANCER_KAFKA_SSL: got "maybe" \(from env\), expected true or false/);
  });

  it('settings that do not go together are one REB_CONFIG_INVALID when the client fields are made (at start), one line per setting', () => {
    const fields = (flags: RawSettings, env: NodeJS.ProcessEnv = {}): string => configError(() => kafkaSecurity(loadConfig({ flags, env }))).message;
    const missing = fields({ kafkaSaslMechanism: 'plain' });
    assert.match(missing, /^invalid Kafka security settings:\n {2}--kafka-sasl-username \/ REBALANCER_KAFKA_SASL_USERNAME: expected a user name with --kafka-sasl-mechanism plain\n {2}--kafka-sasl-password \/ REBALANCER_KAFKA_SASL_PASSWORD: expected a password with --kafka-sasl-mechanism plain \(set REBALANCER_KAFKA_SASL_PASSWORD\)$/);
    assert.match(fields({ kafkaSaslUsername: 'svc' }), /--kafka-sasl-username \/ REBALANCER_KAFKA_SASL_USERNAME: got "svc", expected empty without --kafka-sasl-mechanism/);
    assert.match(fields({ kafkaSslCa: pem('ca.pem') }), /--kafka-ssl-ca \/ REBALANCER_KAFKA_SSL_CA: got ".*ca\.pem", expected empty without --kafka-ssl true/);
    assert.match(fields({ kafkaSslRejectUnauthorized: 'false' }), /--kafka-ssl-reject-unauthorized .*expected true without --kafka-ssl true/);
    assert.match(fields({ kafkaSsl: 'true', kafkaSslCert: pem('client.pem') }), /--kafka-ssl-key \/ REBALANCER_KAFKA_SSL_KEY: expected a PEM file: --kafka-ssl-cert and --kafka-ssl-key go together/);
    // Each alone is a valid value (docs quote them one at a time: test/cli/values.test.ts).
    assert.doesNotThrow(() => loadConfig({ flags: { kafkaSaslMechanism: 'plain' } }));
  });

  it('never quotes the password: not in a configuration error, not in the description, not in a Kafka error', () => {
    const err = configError(() => kafkaSecurity(loadConfig({ flags: { kafkaSaslPassword: SECRET }, env: {} })));
    assert.match(err.message, /--kafka-sasl-password \/ REBALANCER_KAFKA_SASL_PASSWORD: expected empty without --kafka-sasl-mechanism/);
    assert.ok(!err.message.includes(SECRET) && !JSON.stringify(err.details).includes(SECRET), 'the password is not in the error');
    // A value that fails its schema (a password read from a file with its final line break) is not quoted either.
    const bad = configError(() => loadConfig({ env: { REBALANCER_KAFKA_SASL_PASSWORD: `${SECRET}\n` } }));
    assert.match(bad.message, /--kafka-sasl-password \/ REBALANCER_KAFKA_SASL_PASSWORD: got a value \(from env\), expected a password without line breaks/);
    assert.ok(!bad.message.includes(SECRET) && !JSON.stringify(bad.details).includes(SECRET), 'the password is not in the error');
    const s = security({ kafkaSaslMechanism: 'plain', kafkaSaslUsername: 'svc', kafkaSaslPassword: SECRET });
    assert.equal(describeKafkaSecurity(s), 'SASL_PLAINTEXT (PLAIN, user "svc")');
    const fields = kafkaSecurity(s);
    // A library message that did echo it (none is known to): redacted, the rest of the text kept.
    const failure = kafkaFailure(new Error(`broker said ${SECRET} is wrong`), 'connecting', { brokers: ['k:9092'], security: fields });
    assert.ok(!failure.message.includes(SECRET), failure.message);
    assert.match(failure.message, /broker said \*\*\* is wrong/);
    // A short password does not garble words that contain it.
    assert.equal(redactPassword('plain: p failed', { sasl: { mechanism: 'plain', username: 'u', password: 'p' } }), 'plain: *** failed');
  });

  it('TLS: CA, client certificate and key read from their PEM files, certificates verified unless asked not to', () => {
    const s = security({ kafkaSsl: 'true', kafkaSslCa: pem('ca.pem'), kafkaSslCert: pem('client.pem'), kafkaSslKey: pem('client-key.pem') });
    const { ssl } = kafkaSecurity(s);
    assert.deepEqual(ssl, { rejectUnauthorized: true, ca: [readFileSync(pem('ca.pem'), 'utf8')], cert: readFileSync(pem('client.pem'), 'utf8'), key: readFileSync(pem('client-key.pem'), 'utf8') });
    assert.deepEqual(kafkaSecurity(security({ kafkaSsl: 'true', kafkaSslRejectUnauthorized: 'false' })).ssl, { rejectUnauthorized: false });
    assert.match(describeKafkaSecurity(s), /^SSL, CA .*ca\.pem, client certificate .*client\.pem$/);
  });

  it('an unreadable, non-PEM or mismatched TLS file is REB_CONFIG_INVALID naming its setting', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kafka-tls-'));
    const notPem = join(dir, 'ca.txt');
    writeFileSync(notPem, 'not a certificate');
    const broken = join(dir, 'broken.pem');
    writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    const at = (flags: RawSettings): string => configError(() => kafkaSecurity(security({ kafkaSsl: 'true', ...flags }))).message;
    assert.match(at({ kafkaSslCa: join(dir, 'missing.pem') }), /--kafka-ssl-ca \/ REBALANCER_KAFKA_SSL_CA: cannot read .*missing\.pem: ENOENT/);
    assert.match(at({ kafkaSslCa: notPem }), /--kafka-ssl-ca \/ REBALANCER_KAFKA_SSL_CA: .*ca\.txt holds no PEM block/);
    assert.match(at({ kafkaSslCa: broken }), /--kafka-ssl-ca \/ REBALANCER_KAFKA_SSL_CA: .*broken\.pem is not usable/);
    assert.match(at({ kafkaSslCert: pem('client.pem'), kafkaSslKey: pem('server-key.pem') }), /--kafka-ssl-key \/ REBALANCER_KAFKA_SSL_KEY: .*server-key\.pem is not usable: .*key values mismatch/);
  });

  it('the CLI verbs that talk to Kafka take the same flags and report a bad value as a usage error (exit 2)', async () => {
    const errors: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => { errors.push(args.map(String).join(' ')); };
    const before = process.exitCode;
    try {
      const dir = mkdtempSync(join(tmpdir(), 'kafka-flags-'));
      const log = join(dir, 'log.csv');
      writeFileSync(log, 'user_id,item_id,category_id,timestamp,type\nu1,i1,c1,1700000000000,click\n');
      for (const verb of [['generate', '--events', '1', '--topic', 't'], ['import', log, '--type-col', 'type', '--topic', 't'], ['replay', '--source-topic', 'src', '--topic', 't'], ['backtest', '--source-topic', 't'], ['inspect', '--topic', 't']]) {
        errors.length = 0;
        process.exitCode = undefined;
        await main(['node', 'rebalancer', ...verb, '--brokers', '127.0.0.1:1', '--kafka-sasl-mechanism', 'kerberos', '--quiet']);
        const code = process.exitCode;
        assert.equal(code, 2, `${verb[0]}: ${errors.join('\n')}`);
        assert.match(errors.join('\n'), /--kafka-sasl-mechanism \/ REBALANCER_KAFKA_SASL_MECHANISM: got "kerberos".*\[REB_CONFIG_INVALID\]/s, verb[0]);
      }
    } finally {
      console.error = original;
      process.exitCode = before;
    }
  });
});

describe('TLS reaches the socket', () => {
  /** A TLS server with the fixture certificate that records the handshakes it completed and never answers Kafka requests. */
  async function tlsServer(requestCert: boolean): Promise<{ port: number; peers: string[]; close(): Promise<void> }> {
    const peers: string[] = [];
    const sockets = new Set<Socket>();
    const server = createServer({ cert: readFileSync(pem('server.pem')), key: readFileSync(pem('server-key.pem')), ca: readFileSync(pem('ca.pem')), requestCert, rejectUnauthorized: requestCert }, (socket: TLSSocket) => {
      const cert = socket.getPeerCertificate();
      peers.push(typeof cert.subject?.CN === 'string' ? cert.subject.CN : '(no client certificate)');
    });
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    assert.ok(typeof address === 'object' && address !== null);
    return {
      port: address.port,
      peers,
      close: () => new Promise<void>((r) => {
        server.close(() => r());
        for (const socket of sockets) socket.destroy();
      }),
    };
  }

  it('with --kafka-ssl-ca the broker certificate verifies and the handshake completes; with the client certificate the server sees it', async () => {
    const server = await tlsServer(true);
    try {
      const fields = kafkaSecurity(security({ kafkaSsl: 'true', kafkaSslCa: pem('ca.pem'), kafkaSslCert: pem('client.pem'), kafkaSslKey: pem('client-key.pem') }));
      // The server speaks TLS but not Kafka: the attempts time out, after the handshakes.
      await assert.rejects(waitForKafka({ brokers: [`127.0.0.1:${server.port}`], security: fields, timeoutMs: 1_500 }), (err: unknown) => isRebalancerError(err, 'REB_KAFKA_UNAVAILABLE'));
      assert.ok(server.peers.length >= 1, 'at least one TLS handshake completed');
      assert.ok(server.peers.every((p) => p === 'rebalancer-test-client'), server.peers.join(', '));
    } finally {
      await server.close();
    }
  });

  it('a broker certificate that does not verify is REB_KAFKA_AUTH_FAILED at once, naming --kafka-ssl-ca (not retried to the deadline)', async () => {
    const server = await tlsServer(false);
    try {
      const fields = kafkaSecurity(security({ kafkaSsl: 'true', kafkaSslCa: pem('other-ca.pem') }));
      const started = Date.now();
      await assert.rejects(waitForKafka({ brokers: [`127.0.0.1:${server.port}`], security: fields, timeoutMs: 30_000 }), (err: unknown) => {
        assert.ok(isRebalancerError(err, 'REB_KAFKA_AUTH_FAILED'), String(err));
        assert.match(err.message, new RegExp(`the TLS handshake with Kafka at 127\\.0\\.0\\.1:${server.port} failed: .*--kafka-ssl-ca`));
        return true;
      });
      assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
      assert.equal(server.peers.length, 0, 'no handshake completed');
    } finally {
      await server.close();
    }
  });
});
