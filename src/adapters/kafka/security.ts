/**
 * The Kafka security settings (SASL, TLS) as the `sasl` and `ssl` fields of a kafkajs
 * `KafkaConfig`, for every client the product makes: the service's consumer, producer and
 * admin, and the tools' (generate, import, replay, backtest, inspect). kafkajs takes
 * `sasl: { mechanism, username, password }` (plain, scram-sha-256, scram-sha-512) and
 * `ssl: true` or the options of Node's `tls.connect` (`ca`, `cert`, `key`,
 * `rejectUnauthorized`) (kafkajs docs, "Client Configuration": SSL, SASL).
 *
 * The PEM files are read and checked here, once, when the client is made: an unreadable
 * file or one that is not a certificate or key is REB_CONFIG_INVALID naming the setting.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type ConnectionOptions } from 'node:tls';
import type { SASLOptions } from 'kafkajs';
import { SETTINGS, type KafkaSecuritySettings } from '../../config/settings.js';
import { RebalancerError } from '../../errors.js';

/** The kafkajs `KafkaConfig` fields for the security settings (none when Kafka is plaintext without SASL). */
export interface KafkaSecurityFields {
  ssl?: ConnectionOptions;
  sasl?: SASLOptions;
}

type FileSetting = 'kafkaSslCa' | 'kafkaSslCert' | 'kafkaSslKey';

function readPem(setting: FileSetting, path: string, read: (path: string) => string): string {
  const spec = SETTINGS[setting];
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    throw new RebalancerError('REB_CONFIG_INVALID', `${spec.flag} / ${spec.env}: cannot read ${path}: ${(err as Error).message}`, { setting, path }, { cause: err });
  }
  if (!/-----BEGIN [A-Z0-9 ]+-----/.test(text)) {
    throw new RebalancerError('REB_CONFIG_INVALID', `${spec.flag} / ${spec.env}: ${path} holds no PEM block (-----BEGIN ...-----); expected ${spec.expected}`, { setting, path });
  }
  return text;
}

/**
 * Checks the TLS material as Node will use it: every certificate of the CA bundle parses
 * (Node would skip a bad one silently), the client certificate and key load and belong together.
 */
function checkTls(options: ConnectionOptions, s: KafkaSecuritySettings, ca: string | undefined): void {
  const unusable = (setting: FileSetting, err: unknown): RebalancerError => {
    const spec = SETTINGS[setting];
    return new RebalancerError('REB_CONFIG_INVALID', `${spec.flag} / ${spec.env}: ${s[setting]} is not usable: ${(err as Error).message}`, { setting, path: s[setting] }, { cause: err });
  };
  const tryContext = (setting: FileSetting, opts: ConnectionOptions): void => {
    try {
      createSecureContext(opts);
    } catch (err) {
      throw unusable(setting, err);
    }
  };
  if (ca !== undefined) {
    const blocks = ca.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) throw unusable('kafkaSslCa', new Error('no CERTIFICATE block'));
    for (const block of blocks) {
      try {
        new X509Certificate(block);
      } catch (err) {
        throw unusable('kafkaSslCa', err);
      }
    }
  }
  if (options.cert !== undefined && options.key !== undefined) {
    tryContext('kafkaSslCert', { cert: options.cert });
    tryContext('kafkaSslKey', { cert: options.cert, key: options.key });
  }
}

/** One problem line: the flag and variable, then what was expected (a password is never quoted). */
function problem(setting: keyof KafkaSecuritySettings, expected: string, got?: string): string {
  const spec = SETTINGS[setting];
  return `${spec.flag} / ${spec.env}: ${got !== undefined ? `got ${JSON.stringify(got)}, ` : ''}expected ${expected}`;
}

/**
 * How the settings go together (each value is valid alone; loadConfig checked that): SASL
 * needs a user and a password, and they need a mechanism; the TLS files and the
 * certificate check need --kafka-ssl; a client certificate needs its key. One line each.
 */
export function kafkaSecurityProblems(s: KafkaSecuritySettings): string[] {
  const out: string[] = [];
  const withoutMechanism = 'empty without --kafka-sasl-mechanism (set the mechanism: plain, scram-sha-256 or scram-sha-512)';
  if (s.kafkaSaslMechanism !== '') {
    if (s.kafkaSaslUsername === '') out.push(problem('kafkaSaslUsername', `a user name with --kafka-sasl-mechanism ${s.kafkaSaslMechanism}`));
    if (s.kafkaSaslPassword === '') out.push(problem('kafkaSaslPassword', `a password with --kafka-sasl-mechanism ${s.kafkaSaslMechanism} (set REBALANCER_KAFKA_SASL_PASSWORD)`));
  } else {
    if (s.kafkaSaslUsername !== '') out.push(problem('kafkaSaslUsername', withoutMechanism, s.kafkaSaslUsername));
    if (s.kafkaSaslPassword !== '') out.push(problem('kafkaSaslPassword', withoutMechanism));
  }
  if (!s.kafkaSsl) {
    for (const key of ['kafkaSslCa', 'kafkaSslCert', 'kafkaSslKey'] as const) {
      if (s[key] !== '') out.push(problem(key, 'empty without --kafka-ssl true (a TLS file is only used over TLS)', s[key]));
    }
    if (!s.kafkaSslRejectUnauthorized) out.push(problem('kafkaSslRejectUnauthorized', 'true without --kafka-ssl true (it applies to TLS only)', 'false'));
  }
  if ((s.kafkaSslCert === '') !== (s.kafkaSslKey === '')) {
    out.push(problem(s.kafkaSslCert === '' ? 'kafkaSslCert' : 'kafkaSslKey', 'a PEM file: --kafka-ssl-cert and --kafka-ssl-key go together (a client certificate and its private key)'));
  }
  return out;
}

/**
 * The kafkajs `ssl` and `sasl` fields for the settings (each value validated before:
 * loadConfig or loadKafkaSecurity). Settings that do not go together, an unreadable file
 * or one that is not a usable certificate or key are REB_CONFIG_INVALID naming the
 * setting. `read` reads a file as text (a test seam).
 */
export function kafkaSecurity(s: KafkaSecuritySettings, read: (path: string) => string = (p) => readFileSync(p, 'utf8')): KafkaSecurityFields {
  const problems = kafkaSecurityProblems(s);
  if (problems.length > 0) throw new RebalancerError('REB_CONFIG_INVALID', `invalid Kafka security settings:\n  ${problems.join('\n  ')}`, { problems });
  const out: KafkaSecurityFields = {};
  if (s.kafkaSaslMechanism !== '') out.sasl = { mechanism: s.kafkaSaslMechanism, username: s.kafkaSaslUsername, password: s.kafkaSaslPassword };
  if (s.kafkaSsl) {
    const ssl: ConnectionOptions = { rejectUnauthorized: s.kafkaSslRejectUnauthorized };
    const ca = s.kafkaSslCa !== '' ? readPem('kafkaSslCa', s.kafkaSslCa, read) : undefined;
    if (ca !== undefined) ssl.ca = [ca];
    if (s.kafkaSslCert !== '') ssl.cert = readPem('kafkaSslCert', s.kafkaSslCert, read);
    if (s.kafkaSslKey !== '') ssl.key = readPem('kafkaSslKey', s.kafkaSslKey, read);
    checkTls(ssl, s, ca);
    out.ssl = ssl;
  }
  return out;
}

/**
 * One line saying how the clients reach Kafka, for the log: the Kafka security protocol
 * (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), the mechanism and user, the TLS files. Never
 * the password.
 */
export function describeKafkaSecurity(s: KafkaSecuritySettings): string {
  const protocol = `${s.kafkaSaslMechanism !== '' ? 'SASL_' : ''}${s.kafkaSsl ? 'SSL' : 'PLAINTEXT'}`;
  const parts = [protocol === 'SSL' || protocol === 'PLAINTEXT' ? protocol : `${protocol} (${s.kafkaSaslMechanism.toUpperCase()}, user ${JSON.stringify(s.kafkaSaslUsername)})`];
  if (s.kafkaSsl) {
    parts.push(s.kafkaSslCa !== '' ? `CA ${s.kafkaSslCa}` : 'system CAs');
    if (s.kafkaSslCert !== '') parts.push(`client certificate ${s.kafkaSslCert}`);
    if (!s.kafkaSslRejectUnauthorized) parts.push('broker certificate NOT verified (--kafka-ssl-reject-unauthorized false)');
  }
  return parts.join(', ');
}

/** A warning for settings that work but are unsafe, or undefined. */
export function kafkaSecurityWarning(s: KafkaSecuritySettings): string | undefined {
  if (s.kafkaSaslMechanism === 'plain' && !s.kafkaSsl) return 'SASL PLAIN without TLS sends the password in clear text over the network; use --kafka-ssl true (a SASL_SSL listener) outside a trusted network';
  if (s.kafkaSsl && !s.kafkaSslRejectUnauthorized) return '--kafka-ssl-reject-unauthorized false: any broker certificate is accepted, so the connection is encrypted but not authenticated (open to a man in the middle)';
  return undefined;
}
