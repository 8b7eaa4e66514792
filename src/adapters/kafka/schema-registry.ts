import { z } from 'zod';
import type { SingleObjectCodec } from '../../codec/index.js';
import { RebalancerError } from '../../errors.js';

/**
 * A client of the Confluent schema-registry REST API (also served by Apicurio Registry
 * under /apis/ccompat/v7, and by Redpanda and Karapace): the four calls this service needs,
 * over Node's fetch. Why not @kafkajs/confluent-schema-registry: it encodes and decodes
 * Avro itself (its own avsc types and caches), past this project's codec, which bounds
 * payloads before decoding, resolves every writer to one reader schema and reports typed
 * errors; and its 4.x needs Node 22. What is left is four HTTP calls.
 *
 * Subjects follow the TopicNameStrategy: `<topic>-value`. Every response is validated; a
 * network error, a timeout or a 5xx is REB_REGISTRY_UNAVAILABLE (retriable: the caller waits
 * and tries again); an answer that can never succeed is REB_REGISTRY_REJECTED, or, for a
 * schema id the registry does not have, REB_DECODE_UNKNOWN_SCHEMA (that message cannot be
 * decoded by anyone).
 */

export type Compatibility = 'NONE' | 'BACKWARD' | 'BACKWARD_TRANSITIVE' | 'FORWARD' | 'FORWARD_TRANSITIVE' | 'FULL' | 'FULL_TRANSITIVE';

export function valueSubject(topic: string): string {
  return `${topic}-value`;
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';
const SchemaById = z.object({ schema: z.string().min(1) });
const Registered = z.object({ id: z.number().int().nonnegative() });
const RegistryError = z.object({ error_code: z.number().int().optional(), message: z.string().optional() }).passthrough();
const AvroSchema = z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())]);

export interface SchemaRegistryOptions {
  /** Base URL of the Confluent-compatible API, e.g. http://registry:8080/apis/ccompat/v7. */
  url: string;
  /** Per-request timeout, ms. */
  timeoutMs?: number;
}

export class SchemaRegistryClient {
  readonly url: string;
  private readonly timeoutMs: number;
  /** Fetches in flight by schema id, so a burst of messages with a new id asks once. */
  private readonly inFlight = new Map<number, Promise<object>>();

  constructor(options: SchemaRegistryOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new RebalancerError('REB_CONFIG_INVALID', `--schema-registry must be an http(s) URL, got ${JSON.stringify(options.url)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new RebalancerError('REB_CONFIG_INVALID', `--schema-registry must be an http(s) URL, got ${JSON.stringify(options.url)}`);
    this.url = options.url.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  /** The writer schema registered under `id` (parsed JSON). */
  schemaById(id: number): Promise<object> {
    const pending = this.inFlight.get(id);
    if (pending !== undefined) return pending;
    const p = this.request('GET', `/schemas/ids/${id}`).then(({ status, body }) => {
      // Only the registry's own "schema not found" (error code 40403) says the id does not
      // exist; any other 404 (a wrong base URL, a proxy) is refused as sent, and waits.
      if (status === 404 && RegistryError.safeParse(body).data?.error_code === 40403) throw new RebalancerError('REB_DECODE_UNKNOWN_SCHEMA', `the schema registry ${this.url} has no schema id ${id}`, { schemaId: id });
      if (status !== 200) throw this.rejected(`GET /schemas/ids/${id}`, status, body);
      const text = parse(SchemaById, body, `GET /schemas/ids/${id}`).schema;
      let schema: unknown;
      try {
        schema = JSON.parse(text);
      } catch {
        throw new RebalancerError('REB_DECODE_UNKNOWN_SCHEMA', `schema id ${id} in ${this.url} is not JSON (an Avro schema was expected)`, { schemaId: id });
      }
      const avro = AvroSchema.safeParse(schema);
      if (!avro.success) throw new RebalancerError('REB_DECODE_UNKNOWN_SCHEMA', `schema id ${id} in ${this.url} is not an Avro record schema`, { schemaId: id });
      return avro.data;
    });
    this.inFlight.set(id, p);
    void p.finally(() => this.inFlight.delete(id)).catch(() => {});
    return p;
  }

  /** Fetches `id` and teaches it to the codec (no request when the codec knows it already). */
  async learn<T>(codec: SingleObjectCodec<T>, id: number): Promise<void> {
    if (codec.knowsSchemaId(id)) return;
    codec.learnSchemaId(id, await this.schemaById(id));
  }

  /** Registers `schema` under `subject` (idempotent: an identical schema gets its existing id) and returns its id. */
  async register(subject: string, schema: object): Promise<number> {
    const path = `/subjects/${encodeURIComponent(subject)}/versions`;
    const { status, body } = await this.request('POST', path, { schema: JSON.stringify(schema) });
    if (status !== 200) throw this.rejected(`POST ${path}`, status, body);
    return parse(Registered, body, `POST ${path}`).id;
  }

  /** Sets a subject's compatibility level (registries default to NONE or BACKWARD; this service needs BACKWARD). */
  async setCompatibility(subject: string, level: Compatibility): Promise<void> {
    const path = `/config/${encodeURIComponent(subject)}`;
    const { status, body } = await this.request('PUT', path, { compatibility: level });
    if (status !== 200) throw this.rejected(`PUT ${path}`, status, body);
  }

  /** The subject's own compatibility level, or null when it has none (the registry's global default applies). */
  async subjectCompatibility(subject: string): Promise<string | null> {
    const path = `/config/${encodeURIComponent(subject)}`;
    const { status, body } = await this.request('GET', path);
    if (status === 404) return null;
    if (status !== 200) throw this.rejected(`GET ${path}`, status, body);
    return parse(z.object({ compatibilityLevel: z.string() }), body, `GET ${path}`).compatibilityLevel;
  }

  /**
   * Registers every version of the codec's record under `<topic>-value`, oldest first, and
   * returns the newest's id. A subject without a compatibility level of its own gets BACKWARD
   * first (registries often default to NONE); one that has a level keeps it (a stricter
   * FULL_TRANSITIVE on a shared registry is not weakened).
   */
  async registerValueSchemas<T>(topic: string, codec: SingleObjectCodec<T>): Promise<number> {
    const subject = valueSubject(topic);
    if ((await this.subjectCompatibility(subject)) === null) await this.setCompatibility(subject, 'BACKWARD');
    let id = -1;
    for (let v = 1; v <= codec.currentSchema.version; v++) {
      id = await this.register(subject, codec.schemaOf(v));
      codec.learnSchemaId(id, codec.schemaOf(v));
    }
    return id;
  }

  private async request(method: string, path: string, json?: unknown): Promise<{ status: number; body: unknown }> {
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: { accept: CONTENT_TYPE, ...(json === undefined ? {} : { 'content-type': CONTENT_TYPE }) },
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (res.status >= 500) {
        // Release the connection now, not at garbage collection (a long outage retries often).
        await res.body?.cancel().catch(() => {});
        throw new RebalancerError('REB_REGISTRY_UNAVAILABLE', `the schema registry ${this.url} answered ${method} ${path} with ${res.status}`, { url: this.url, status: res.status });
      }
      text = await res.text();
    } catch (err) {
      if (err instanceof RebalancerError) throw err;
      const why = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      throw new RebalancerError('REB_REGISTRY_UNAVAILABLE', `the schema registry ${this.url} did not answer ${method} ${path}: ${why}`, { url: this.url }, { cause: err });
    }
    let body: unknown = null;
    try {
      body = text === '' ? null : JSON.parse(text);
    } catch {
      body = text.slice(0, 200);
    }
    return { status: res.status, body };
  }

  private rejected(call: string, status: number, body: unknown): RebalancerError {
    const e = RegistryError.safeParse(body);
    const detail = e.success ? `${e.data.error_code ?? status}: ${e.data.message ?? ''}` : JSON.stringify(body);
    return new RebalancerError('REB_REGISTRY_REJECTED', `the schema registry ${this.url} refused ${call} (${status}, ${detail})`, { url: this.url, status });
  }
}

function parse<T>(schema: z.ZodType<T>, body: unknown, call: string): T {
  const r = schema.safeParse(body);
  if (!r.success) throw new RebalancerError('REB_REGISTRY_REJECTED', `unexpected answer to ${call}: ${JSON.stringify(body).slice(0, 200)}`);
  return r.data;
}
