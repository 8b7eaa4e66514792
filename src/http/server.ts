import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { RecommendationMessage } from '../codec/index.js';
import { MAX_ID_LENGTH } from '../codec/limits.js';
import { RebalancerError, httpStatusOf, isRebalancerError, type ErrorCode } from '../errors.js';
import { LIVE_PAGE_HEADERS, LIVE_PAGE_HTML } from './live-page.js';
import { DEFAULT_SHEDDING, registerLoadShedding } from './load-shedding.js';

export interface Readiness {
  ready: boolean;
  /** Why the service is not ready (empty when ready). */
  reasons: string[];
}

/** A Prometheus exposition. */
export interface MetricsText {
  contentType: string;
  body: string;
}

/**
 * What the HTTP face asks of the service. On the serving thread, `metrics`, `state` and
 * `readiness` are questions to the main thread (they answer once it has a turn); only
 * `recommend` is answered where the server runs.
 */
export interface HttpDeps {
  metrics(): Promise<MetricsText>;
  /** Top-K recommendations for a user (counts itself in the metrics), with whether the model has no history of the user (`coldStart`, src/serve/recommender.ts). */
  recommend(userId: string, k: number): Promise<RecommendationMessage & { coldStart?: boolean | null }>;
  state(): unknown;
  /** The live page's recent history (/state/history, src/service/history.ts); without it the route is absent. */
  history?(): unknown;
  readiness(): Readiness | Promise<Readiness>;
  defaultK: number;
  maxK: number;
  /** Longest userId accepted (--max-id-length; default MAX_ID_LENGTH). */
  maxIdLength?: number;
  log(msg: string): void;
  /** Called for every /recommendations request shed with 503 `REB_HTTP_OVERLOADED` (see load-shedding.ts). */
  onShed?(): void;
}

/**
 * Which routes a listener serves: `all` (one listener, the default), or, with a separate
 * admin address (--admin-port), `public` (/recommendations alone) and `admin` (/metrics,
 * /state, /state/history, /healthz, /readyz and the live page /). A route of the other
 * part answers 404 REB_HTTP_NOT_FOUND, saying where it is served.
 */
export type HttpRoutes = 'all' | 'public' | 'admin';

/**
 * The service's HTTP face: recommendations for personalization systems, /metrics for
 * Prometheus, liveness and readiness for orchestrators, /state (and /state/history) for
 * operators, and the live page at / for people without Grafana.
 * Bad parameters answer 400 with `{ error, code }`; codes are the error catalogue's.
 * Past the thread's capacity /recommendations answers 503 `REB_HTTP_OVERLOADED` at once, with
 * `Retry-After` (load-shedding.ts); the cheap routes are never shed: they are how operators
 * see the overload.
 */
export function createHttpServer(deps: HttpDeps, routes: HttpRoutes = 'all'): FastifyInstance {
  // A userId of MAX_ID_LENGTH characters is up to 9 URL characters each (3 UTF-8 bytes, each
  // %XX): the router must pass that much to the handler, which answers 400 with a code.
  // Longest raw (percent-encoded) path parameter the router accepts.
  const maxIdLength = deps.maxIdLength ?? MAX_ID_LENGTH;
  const maxParamLength = maxIdLength * 9;
  const app = Fastify({
    logger: false,
    routerOptions: { maxParamLength },
    // Errors raised before a route runs (a longer path parameter, a malformed URL) answer with the catalogue's code too.
    frameworkErrors: (err: FastifyError, _req: FastifyRequest, reply: FastifyReply) => {
      const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      void reply.code(tooLong ? 414 : 400).send({ error: tooLong ? `the path parameter is longer than ${maxParamLength} characters (a userId is at most ${maxIdLength})` : err.message, code: 'REB_HTTP_BAD_REQUEST' });
    },
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!.slice(0, 200);
    const recommendations = path === '/recommendations' || path.startsWith('/recommendations/');
    const elsewhere = routes === 'public' && !recommendations ? ' on this listener (the admin routes are on --admin-port)' : routes === 'admin' && recommendations ? ' on this listener (/recommendations is on --http-port)' : '';
    void reply.code(404).send({ error: `no route ${req.method} ${path}${elsewhere}`, code: 'REB_HTTP_NOT_FOUND' });
  });

  // The status comes from the error's code in the catalogue. A client error (4xx) says what was
  // wrong with the request; a 500 or 503 says only its code and the request id, the log has the rest.
  app.setErrorHandler((err, req, reply) => {
    const { status, code } = httpErrorOf(err);
    const message = err instanceof Error ? err.message : String(err);
    if (status < 500) {
      void reply.code(status).send({ error: message, code });
      return;
    }
    deps.log(`HTTP ${status} ${code} (request ${req.id}) ${req.method} ${req.url.split('?')[0]!.slice(0, 200)}: ${message}`);
    const error = status === 503 && isRebalancerError(err) && err.retriable ? `temporarily unavailable (${code}); retry (request ${req.id})` : `internal error (${code}); see the service log for request ${req.id}`;
    void reply.code(status).send({ error, code, requestId: String(req.id) });
  });

  if (routes !== 'admin') registerRecommendations(app, deps, maxIdLength);
  if (routes !== 'public') registerAdminRoutes(app, deps);
  return app;
}

/** /recommendations/:userId, the only expensive route, in a context of its own so that load shedding reaches it alone. */
function registerRecommendations(app: FastifyInstance, deps: HttpDeps, maxIdLength: number): void {
  void app.register(async (scope) => {
    await registerLoadShedding(scope, DEFAULT_SHEDDING, () => deps.onShed?.());
    scope.get<{ Params: { userId: string }; Querystring: { k?: string } }>('/recommendations/:userId', async (req) => {
      const k = parseK(req.query.k, deps.defaultK, deps.maxK);
      const userId = req.params.userId;
      if (userId.length === 0 || userId.length > maxIdLength) throw new RebalancerError('REB_HTTP_BAD_REQUEST', `userId must be 1 to ${maxIdLength} characters (--max-id-length, the event contract's bound), got ${userId.length}`, { length: userId.length });
      const rec = await deps.recommend(userId, k);
      return { userId: rec.userId, k, modelVersion: rec.modelVersion, generatedAt: rec.generatedAt, ...(rec.coldStart !== undefined ? { coldStart: rec.coldStart } : {}), items: rec.items };
    });
  });
}

/** The operators' routes: metrics, probes, state, history and the live page. */
function registerAdminRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/metrics', async (_req, reply) => {
    const m = await deps.metrics();
    void reply.header('content-type', m.contentType);
    return m.body;
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const r = await deps.readiness();
    void reply.code(r.ready ? 200 : 503);
    return { ready: r.ready, reasons: r.reasons };
  });

  app.get('/state', async () => deps.state());

  const history = deps.history;
  if (history !== undefined) app.get('/state/history', async () => history());

  // The live page (live-page.ts): a static document that polls /state and /state/history.
  app.get('/', async (_req, reply) => {
    void reply.headers(LIVE_PAGE_HEADERS);
    return LIVE_PAGE_HTML;
  });
}

/** k: absent → default; otherwise a decimal integer in [1, maxK]. */
export function parseK(raw: string | undefined, defaultK: number, maxK: number): number {
  if (raw === undefined) return defaultK;
  if (!/^\d{1,7}$/.test(raw)) throw new RebalancerError('REB_HTTP_BAD_REQUEST', `k must be an integer in [1, ${maxK}], got ${JSON.stringify(raw)}`, { k: raw });
  const k = Number(raw);
  if (k < 1 || k > maxK) throw new RebalancerError('REB_HTTP_BAD_REQUEST', `k must be an integer in [1, ${maxK}], got ${k}`, { k });
  return k;
}

/** An error's HTTP status and code: the catalogue's for a RebalancerError, Fastify's own 4xx (a malformed body or URL) as a bad request, anything else 500 REB_INTERNAL. */
export function httpErrorOf(err: unknown): { status: number; code: ErrorCode } {
  if (isRebalancerError(err)) return { status: httpStatusOf(err.code), code: err.code };
  const parsed = z.object({ statusCode: z.number().int().min(400).max(499) }).safeParse(err);
  if (parsed.success) return { status: parsed.data.statusCode, code: 'REB_HTTP_BAD_REQUEST' };
  return { status: 500, code: 'REB_INTERNAL' };
}
