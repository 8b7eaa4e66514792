/**
 * The admin routes on an address of their own (issue #13, --admin-host/--admin-port): with
 * an admin port, /recommendations is served on the HTTP port alone and /metrics, /state,
 * /state/history, the probes and the live page on the admin port alone (a route of the
 * other listener is 404 REB_HTTP_NOT_FOUND saying where it is); without one, every route
 * stays on the HTTP port as before. For both serving modes: the main thread's
 * (MainThreadServing) and the serving thread's (ServingThread). Broker-free.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { defaultConfig, loadConfig } from '../../src/config/index.js';
import { RebalancerError, isRebalancerError } from '../../src/errors.js';
import type { HttpDeps, Readiness } from '../../src/http/server.js';
import { freePort } from '../../dev/local-broker.js';
import { MainThreadServing, ServingThread, TriggerGate, adminAddress, type ListenAddress, type Serving } from '../../src/serve/index.js';

const ADMIN_ROUTES = ['/metrics', '/state', '/state/history', '/healthz', '/readyz', '/'] as const;
const RECOMMENDATION = '/recommendations/user-1?k=3';

const readiness: Readiness = { ready: true, reasons: [] };
const http: Omit<HttpDeps, 'recommend'> = {
  metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: 'rebalancer_ready 1\n' }),
  state: () => ({ ready: true, marker: 'state' }),
  history: () => ({ samples: [] }),
  readiness: () => readiness,
  defaultK: 10,
  maxK: 1000,
  log: () => {},
};

function gate(): TriggerGate {
  return new TriggerGate({ triggerTypes: [], minIntervalMs: 0, maxPerSecond: 0, onRateLimited: () => {} });
}

async function startMain(admin?: ListenAddress, port = 0): Promise<Serving> {
  return MainThreadServing.start({
    host: '127.0.0.1',
    port,
    ...(admin !== undefined ? { admin } : {}),
    gate: gate(),
    recommender: null,
    // Answers like a service with --train false: 400 REB_HTTP_BAD_REQUEST, which is not a 404.
    off: () => {
      throw new RebalancerError('REB_HTTP_BAD_REQUEST', 'recommendations are off in this test');
    },
    http,
  });
}

async function startThread(admin?: ListenAddress, port = 0): Promise<Serving> {
  return ServingThread.start({
    init: { host: '127.0.0.1', port, ...(admin !== undefined ? { admin } : {}), defaultK: 10, maxK: 1000, maxIdLength: 256, recK: 10, cpuShare: 0.3, sliceMs: 2 },
    gate: gate(),
    candidates: () => ({ items: [{ itemId: 'item-1', categoryId: 'cat-1' }], head: [] }),
    version: () => 'test',
    answer: { metrics: http.metrics, state: http.state, readiness: () => readiness, history: () => ({ samples: [] }) },
    produce: async () => {},
    onTally: () => {},
    log: () => {},
  });
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

/** A loopback port something else listens on. */
async function occupied(): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  assert.ok(typeof address === 'object' && address !== null);
  return { port: address.port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

for (const [mode, start] of [['main thread', startMain], ['serving thread', startThread]] as const) {
  describe(`admin listener (${mode})`, () => {
    it('with --admin-port: /recommendations is 404 on the admin port and every admin route is 404 on the HTTP port; each works on its own', async () => {
      const serving = await start({ host: '127.0.0.1', port: 0 });
      try {
        const admin = serving.adminPort;
        assert.ok(admin !== null && admin > 0 && admin !== serving.port, `admin port ${admin}, HTTP port ${serving.port}`);
        // The public listener: recommendations routed (whatever the answer, not "no route"), admin routes absent.
        const rec = await get(serving.port, RECOMMENDATION);
        assert.notEqual(rec.status, 404, rec.body);
        for (const path of ADMIN_ROUTES) {
          const r = await get(serving.port, path);
          assert.equal(r.status, 404, `${path} on the HTTP port: ${r.body}`);
          assert.match(r.body, /"code":"REB_HTTP_NOT_FOUND"/);
          assert.match(r.body, /the admin routes are on --admin-port/);
        }
        // The admin listener: every admin route answers, recommendations absent.
        const metrics = await get(admin, '/metrics');
        assert.equal(metrics.status, 200);
        assert.match(metrics.body, /rebalancer_ready 1/);
        assert.equal((await get(admin, '/state')).status, 200);
        assert.match((await get(admin, '/state')).body, /"marker":"state"/);
        assert.equal((await get(admin, '/state/history')).status, 200);
        assert.equal((await get(admin, '/healthz')).status, 200);
        assert.equal((await get(admin, '/readyz')).status, 200);
        assert.match((await get(admin, '/')).body, /<html/i);
        const recOnAdmin = await get(admin, RECOMMENDATION);
        assert.equal(recOnAdmin.status, 404, recOnAdmin.body);
        assert.match(recOnAdmin.body, /"code":"REB_HTTP_NOT_FOUND"/);
        assert.match(recOnAdmin.body, /\/recommendations is on --http-port/);
      } finally {
        await serving.stop();
      }
    });

    it('without --admin-port: one listener with every route, as before', async () => {
      const serving = await start();
      try {
        assert.equal(serving.adminPort, null);
        assert.notEqual((await get(serving.port, RECOMMENDATION)).status, 404);
        for (const path of ADMIN_ROUTES) assert.equal((await get(serving.port, path)).status, 200, path);
      } finally {
        await serving.stop();
      }
    });

    it('an admin port that is taken fails the start with REB_SERVING_FAILED naming the admin address, and leaves the HTTP port free', async () => {
      const taken = await occupied();
      const httpPort = await freePort();
      try {
        await assert.rejects(start({ host: '127.0.0.1', port: taken.port }, httpPort), (err: unknown) => {
          assert.ok(isRebalancerError(err, 'REB_SERVING_FAILED'), String(err));
          assert.match(err.message, new RegExp(`the admin HTTP server \\(--admin-host, --admin-port\\) could not listen on 127\\.0\\.0\\.1:${taken.port}: .*EADDRINUSE`));
          return true;
        });
        // The HTTP listener that had bound is closed again: its port can be bound.
        const again = createServer();
        await new Promise<void>((resolve, reject) => {
          again.once('error', reject);
          again.listen(httpPort, '127.0.0.1', resolve);
        });
        await new Promise<void>((r) => again.close(() => r()));
      } finally {
        await taken.close();
      }
    });
  });
}

describe('admin settings', () => {
  it('default: no admin address (every route on --http-port); --admin-port alone takes --http-host; --admin-host needs --admin-port', () => {
    assert.deepEqual(adminAddress(defaultConfig()), {});
    assert.deepEqual(adminAddress(loadConfig({ flags: { adminPort: '9465', httpHost: '0.0.0.0' } })), { admin: { host: '0.0.0.0', port: 9465 } });
    assert.deepEqual(adminAddress(loadConfig({ flags: { adminPort: '0', adminHost: '127.0.0.1' } })), { admin: { host: '127.0.0.1', port: 0 } });
    assert.throws(() => loadConfig({ flags: { adminHost: '10.0.0.1' } }), (err: unknown) => isRebalancerError(err, 'REB_CONFIG_INVALID') && /--admin-host \/ REBALANCER_ADMIN_HOST: got "10\.0\.0\.1" \(from flag\), expected empty without --admin-port/.test(err.message));
    assert.throws(() => loadConfig({ flags: { adminPort: '9464' } }), (err: unknown) => isRebalancerError(err, 'REB_CONFIG_INVALID') && /--admin-port \/ REBALANCER_ADMIN_PORT: got "9464".*a port other than --http-port \(9464\)/.test(err.message));
    assert.throws(() => loadConfig({ env: { REBALANCER_ADMIN_PORT: '70000' } }), (err: unknown) => isRebalancerError(err, 'REB_CONFIG_INVALID') && /--admin-port \/ REBALANCER_ADMIN_PORT: got "70000" \(from env\), expected empty, or an integer in \[0, 65535\]/.test(err.message));
  });
});
