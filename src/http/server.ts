import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { RecommendationMessage } from '../codec/index.js';
import { RebalancerError, isRebalancerError } from '../errors.js';

export interface Readiness {
  ready: boolean;
  /** Why the service is not ready (empty when ready). */
  reasons: string[];
}

export interface HttpDeps {
  registry: Registry;
  /** Top-K recommendations for a user (counts itself in the metrics). */
  recommend(userId: string, k: number): Promise<RecommendationMessage>;
  state(): unknown;
  readiness(): Readiness;
  defaultK: number;
  maxK: number;
  log(msg: string): void;
}

/**
 * The service's HTTP face: recommendations for personalization systems, /metrics for
 * Prometheus, liveness and readiness for orchestrators, /state for operators.
 * Bad parameters answer 400 with `{ error, code }`; codes are the error catalogue's.
 */
export function createHttpServer(deps: HttpDeps): FastifyInstance {
  const app = Fastify({ logger: false });

  app.setErrorHandler((err, _req, reply) => {
    if (isRebalancerError(err, 'REB_HTTP_BAD_REQUEST')) {
      void reply.code(400).send({ error: err.message, code: err.code });
      return;
    }
    const status = typeof (err as { statusCode?: unknown }).statusCode === 'number' ? (err as { statusCode: number }).statusCode : 500;
    if (status >= 500) deps.log(`HTTP ${status}: ${err instanceof Error ? err.message : String(err)}`);
    const code = isRebalancerError(err) ? err.code : undefined;
    void reply.code(status).send({ error: err instanceof Error ? err.message : String(err), ...(code ? { code } : {}) });
  });

  app.get<{ Params: { userId: string }; Querystring: { k?: string } }>('/recommendations/:userId', async (req) => {
    const k = parseK(req.query.k, deps.defaultK, deps.maxK);
    const userId = req.params.userId;
    if (userId.length === 0 || userId.length > 512) throw new RebalancerError('REB_HTTP_BAD_REQUEST', 'userId must be 1 to 512 characters');
    const rec = await deps.recommend(userId, k);
    return { userId: rec.userId, k, modelVersion: rec.modelVersion, generatedAt: rec.generatedAt, items: rec.items };
  });

  app.get('/metrics', async (_req, reply) => {
    const body = await deps.registry.metrics();
    void reply.header('content-type', deps.registry.contentType);
    return body;
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const r = deps.readiness();
    void reply.code(r.ready ? 200 : 503);
    return { ready: r.ready, reasons: r.reasons };
  });

  app.get('/state', async () => deps.state());

  return app;
}

/** k: absent → default; otherwise a decimal integer in [1, maxK]. */
export function parseK(raw: string | undefined, defaultK: number, maxK: number): number {
  if (raw === undefined) return defaultK;
  if (!/^\d{1,7}$/.test(raw)) throw new RebalancerError('REB_HTTP_BAD_REQUEST', `k must be an integer in [1, ${maxK}], got ${JSON.stringify(raw)}`, { k: raw });
  const k = Number(raw);
  if (k < 1 || k > maxK) throw new RebalancerError('REB_HTTP_BAD_REQUEST', `k must be an integer in [1, ${maxK}], got ${k}`, { k });
  return k;
}
