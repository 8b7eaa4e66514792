/**
 * The Kafka security flags (SASL, TLS) of the verbs that talk to Kafka besides `run`
 * (generate, import, replay, backtest, inspect): the same flags, variables, help text and
 * validation as `run`'s settings (src/config/settings.ts), turned into kafkajs fields by
 * src/adapters/kafka/security.ts. A flag wins over its variable (REBALANCER_KAFKA_SASL_PASSWORD and
 * the others).
 */
import { Option, type Command } from 'commander';
import { KAFKA_SECURITY_KEYS, SETTINGS, loadKafkaSecurity, type RawSettings } from '../config/index.js';
import { settingHelp } from '../config/settings.js';
import type { KafkaTarget } from '../adapters/kafka/connect.js';
import { kafkaSecurity, type KafkaSecurityFields } from '../adapters/kafka/security.js';

/** The parsed options of these flags, as commander names them (`--kafka-sasl-mechanism` → `kafkaSaslMechanism`, the setting's key). */
export type KafkaSecurityFlags = { [K in (typeof KAFKA_SECURITY_KEYS)[number]]?: string };

/** Adds --kafka-sasl-mechanism, --kafka-sasl-username, --kafka-sasl-password, --kafka-ssl, --kafka-ssl-ca, --kafka-ssl-cert, --kafka-ssl-key, --kafka-ssl-reject-unauthorized. */
export function addKafkaSecurityOptions(cmd: Command): Command {
  for (const key of KAFKA_SECURITY_KEYS) {
    const spec = SETTINGS[key];
    cmd.addOption(new Option(`${spec.flag} <value>`, settingHelp(spec)));
  }
  return cmd;
}

/**
 * The brokers with the security the flags and the environment ask for: bad values are
 * REB_CONFIG_INVALID naming the flag (exit 2), as for `run`.
 */
export function kafkaTargetFromFlags(brokers: string[], flags: KafkaSecurityFlags, env: NodeJS.ProcessEnv = process.env): KafkaTarget {
  return { brokers, security: kafkaSecurityFromFlags(flags, env) };
}

/** The kafkajs `sasl` and `ssl` fields the flags and the environment ask for (REB_CONFIG_INVALID naming the flag when bad). */
export function kafkaSecurityFromFlags(flags: KafkaSecurityFlags, env: NodeJS.ProcessEnv = process.env): KafkaSecurityFields {
  const raw: RawSettings = {};
  for (const key of KAFKA_SECURITY_KEYS) {
    const v = flags[key];
    if (v !== undefined) raw[key] = v;
  }
  return kafkaSecurity(loadKafkaSecurity({ flags: raw, env }));
}
