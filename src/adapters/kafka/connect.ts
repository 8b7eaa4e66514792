/**
 * Reaching the Kafka cluster at start, and what a failure to reach it means: retried with
 * a capped exponential backoff up to a deadline, then one REB_KAFKA_UNAVAILABLE line naming
 * the brokers, the attempts and the last error; a failure retrying cannot cure (SASL
 * credentials refused, a broker certificate that does not verify) ends at once with
 * REB_KAFKA_AUTH_FAILED. Messages never carry the SASL password.
 */
import type { Admin } from 'kafkajs';
import { z } from 'zod';
import { RebalancerError } from '../../errors.js';
import { createKafkaClient } from './client.js';
import type { KafkaSecurityFields } from './security.js';

/** The fields of a (kafkajs or Node) error this module reads, validated rather than cast. */
const errorShape = z.object({
  name: z.string().optional(),
  message: z.string().optional(),
  code: z.union([z.string(), z.number()]).optional(),
  type: z.string().optional(),
  broker: z.string().optional(),
  cause: z.unknown().optional(),
  originalError: z.unknown().optional(),
});
type ErrorShape = z.infer<typeof errorShape>;

/** The error and its causes (kafkajs wraps as `originalError` or `cause`), outermost first; at most 8. */
function chain(err: unknown): ErrorShape[] {
  const out: ErrorShape[] = [];
  let at: unknown = err;
  while (at !== undefined && at !== null && out.length < 8) {
    const parsed = errorShape.safeParse(at);
    if (!parsed.success) break;
    out.push(parsed.data);
    at = parsed.data.originalError ?? parsed.data.cause;
  }
  return out;
}

/** Node's certificate verification codes and OpenSSL's handshake failures: a TLS set-up that fails the same way every time. */
const TLS_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'HOSTNAME_MISMATCH',
]);
const isTlsCode = (code: string): boolean => TLS_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_CERT');
/** kafkajs protocol error types of a SASL exchange that cannot succeed as configured. */
const SASL_TYPES = new Set(['SASL_AUTHENTICATION_FAILED', 'UNSUPPORTED_SASL_MECHANISM', 'ILLEGAL_SASL_STATE']);

export interface KafkaTarget {
  brokers: readonly string[];
  security: KafkaSecurityFields;
}

/**
 * `text` with the SASL password replaced wherever it stands as a word of its own (kafkajs
 * and Kafka never echo it; this is a second line of defence that must not garble the
 * message when the password is a short common word).
 */
export function redactPassword(text: string, security: KafkaSecurityFields): string {
  const sasl = security.sasl;
  const password = sasl !== undefined && 'password' in sasl ? sasl.password : '';
  if (password.length === 0) return text;
  const escaped = password.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return text.replace(new RegExp(`(?<![A-Za-z0-9])${escaped}(?![A-Za-z0-9])`, 'g'), '***');
}

/** The innermost message of a kafkajs error, with its code (e.g. ECONNREFUSED). */
function innerMessage(links: ErrorShape[]): string {
  const last = links.find((l) => l.code !== undefined && l.message !== undefined) ?? links[links.length - 1];
  const message = last?.message ?? 'unknown error';
  const code = last?.code;
  return code !== undefined && !message.includes(String(code)) ? `${message} (${code})` : message;
}

/**
 * REB_KAFKA_AUTH_FAILED when `err` is a SASL refusal or a TLS verification failure (the
 * same on every attempt), else undefined.
 */
export function kafkaAuthFailure(err: unknown, target: KafkaTarget = { brokers: [], security: {} }): RebalancerError | undefined {
  const links = chain(err);
  const where = links.find((l) => l.broker !== undefined)?.broker ?? (target.brokers.length > 0 ? target.brokers.join(',') : 'the brokers');
  const sasl = links.find((l) => l.name === 'KafkaJSSASLAuthenticationError' || (l.type !== undefined && SASL_TYPES.has(l.type)));
  if (sasl !== undefined) {
    const s = target.security.sasl;
    const who = s !== undefined && 'username' in s ? `--kafka-sasl-mechanism ${s.mechanism}, --kafka-sasl-username ${JSON.stringify(s.username)} and the password (REBALANCER_KAFKA_SASL_PASSWORD)` : '--kafka-sasl-mechanism, --kafka-sasl-username and the password';
    const notSasl = sasl.type === 'ILLEGAL_SASL_STATE' ? ' (the listener does not seem to take SASL: is it a PLAINTEXT or SSL listener?)' : '';
    const message = redactPassword(`Kafka at ${where} refused the SASL authentication: ${sasl.message ?? sasl.type ?? 'authentication failed'}${notSasl}; check ${who} against the listener's (not retried)`, target.security);
    return new RebalancerError('REB_KAFKA_AUTH_FAILED', message, { brokers: [...target.brokers], kind: 'sasl' }, { cause: err });
  }
  const tls = links.find((l) => typeof l.code === 'string' && isTlsCode(l.code));
  if (tls !== undefined) {
    const message = redactPassword(`the TLS handshake with Kafka at ${where} failed: ${tls.message ?? String(tls.code)}${tls.message?.includes(String(tls.code)) === true ? '' : ` (${String(tls.code)})`}; check --kafka-ssl-ca (the CA that signed the brokers' certificates), the host names in the certificate, and --kafka-ssl-cert/--kafka-ssl-key if the broker asks for a client certificate (not retried)`, target.security);
    return new RebalancerError('REB_KAFKA_AUTH_FAILED', message, { brokers: [...target.brokers], kind: 'tls' }, { cause: err });
  }
  return undefined;
}

/**
 * A kafkajs failure of `what` (e.g. "preparing topic t") as a catalogue error:
 * REB_KAFKA_AUTH_FAILED for credentials or TLS, else REB_KAFKA_UNAVAILABLE; a RebalancerError is kept.
 */
export function kafkaFailure(err: unknown, what: string, target: KafkaTarget): RebalancerError {
  if (err instanceof RebalancerError) return err;
  const auth = kafkaAuthFailure(err, target);
  if (auth !== undefined) return auth;
  const message = redactPassword(`${what}: cannot reach Kafka at ${target.brokers.join(',')}: ${innerMessage(chain(err))}${hint(chain(err), target)}`, target.security);
  return new RebalancerError('REB_KAFKA_UNAVAILABLE', message, { brokers: [...target.brokers] }, { cause: err });
}

/** A broker that accepts the connection and closes it often means a protocol mismatch (SASL or TLS expected, or not). */
function hint(links: ErrorShape[], target: KafkaTarget): string {
  const closed = links.some((l) => l.message !== undefined && /closed connection|closed by the server|ECONNRESET|socket disconnected|socket hang up/i.test(l.message));
  if (!closed) return '';
  const mine = `${target.security.sasl !== undefined ? 'SASL' : 'no SASL'} and ${target.security.ssl !== undefined ? 'TLS' : 'no TLS'}`;
  return `; the broker closed the connection: does its listener expect SASL or TLS? This client uses ${mine} (--kafka-sasl-mechanism, --kafka-ssl)`;
}

/** Disconnects, waiting at most `ms` (an attempt cut off by the deadline may still be connecting). */
async function disconnectWithin(admin: Admin, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([admin.disconnect().catch(() => {}), new Promise<void>((r) => { timer = setTimeout(r, ms); })]);
  clearTimeout(timer);
}

/** The least time left for an attempt; with less, waitForKafka gives up rather than start one. */
const MIN_ATTEMPT_MS = 250;

export interface WaitForKafkaOptions extends KafkaTarget {
  /** The deadline: give up this long after the first attempt (--connect-timeout-ms). */
  timeoutMs: number;
  clientId?: string;
  /** First pause between attempts (doubled after each, capped at maxDelayMs). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Called before each retry with the attempt that failed and its error (for a debug log). */
  onRetry?(attempt: number, error: string): void;
}

/**
 * Connects an admin client and asks for the cluster's metadata until the cluster answers or `timeoutMs` has passed, one
 * attempt at a time (kafkajs retries off, so attempts are counted here), pausing with a
 * capped exponential backoff between them. Resolves with the attempts made; rejects with
 * REB_KAFKA_AUTH_FAILED at once for refused credentials or TLS, or REB_KAFKA_UNAVAILABLE
 * at the deadline: `cannot reach Kafka at <brokers> after <n> attempts over <s> s (...)`.
 */
export async function waitForKafka(o: WaitForKafkaOptions): Promise<{ attempts: number }> {
  const started = Date.now();
  const deadline = started + o.timeoutMs;
  const maxDelay = o.maxDelayMs ?? 2_000;
  let delay = o.initialDelayMs ?? 250;
  let attempts = 0;
  let last = 'no attempt finished';
  let lastError: unknown;
  const kafka = createKafkaClient({
    clientId: o.clientId ?? 'rebalancer-connect',
    brokers: [...o.brokers],
    ...o.security,
    logLevel: 'nothing',
    retry: { retries: 0 },
    connectionTimeout: Math.min(3_000, Math.max(500, o.timeoutMs)),
    // A listener that accepts and never answers (a TLS or SASL mismatch, a hung broker) ends an attempt too.
    requestTimeout: Math.min(10_000, Math.max(1_000, o.timeoutMs)),
  });
  for (;;) {
    attempts++;
    const admin = kafka.admin();
    let timer: NodeJS.Timeout | undefined;
    try {
      const remaining = Math.max(1, deadline - Date.now());
      // connect() alone asks only ApiVersions, which a SASL listener answers before authentication: a
      // metadata request proves the cluster takes this client.
      await Promise.race([
        admin.connect().then(() => admin.describeCluster()),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within the ${o.timeoutMs} ms deadline`)), remaining);
        }),
      ]);
      return { attempts };
    } catch (err) {
      const auth = kafkaAuthFailure(err, o);
      if (auth !== undefined) throw auth;
      lastError = err;
      last = innerMessage(chain(err));
    } finally {
      clearTimeout(timer);
      await disconnectWithin(admin, 1_000);
    }
    // The last pause is cut short so that a last attempt still has MIN_ATTEMPT_MS before the deadline.
    const pause = Math.min(delay, deadline - Date.now() - MIN_ATTEMPT_MS);
    if (pause < 0) break;
    o.onRetry?.(attempts, last);
    await new Promise((r) => setTimeout(r, pause));
    delay = Math.min(maxDelay, delay * 2);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const message = redactPassword(`cannot reach Kafka at ${o.brokers.join(',')} after ${attempts} attempt${attempts === 1 ? '' : 's'} over ${seconds} s (--connect-timeout-ms ${o.timeoutMs}; last error: ${last}${hint(chain(lastError), o)})`, o.security);
  throw new RebalancerError('REB_KAFKA_UNAVAILABLE', message, { brokers: [...o.brokers], attempts }, { cause: lastError });
}
