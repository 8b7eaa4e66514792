/**
 * The HTTP listeners of either serving mode: one listener with every route (the default),
 * or, with an admin address (--admin-host/--admin-port), /recommendations on the HTTP
 * address and the operators' routes (/metrics, /state, /state/history, /healthz, /readyz,
 * the live page) on the admin address, so the two can face different networks.
 */
import type { FastifyInstance } from 'fastify';
import { RebalancerError } from '../errors.js';
import { createHttpServer, type HttpDeps, type HttpRoutes } from '../http/server.js';

export interface ListenAddress {
  host: string;
  /** 0 = any free port. */
  port: number;
}

export interface HttpListeners {
  /** The bound port of the HTTP address. */
  readonly port: number;
  /** The bound port of the admin address, or null when every route is on `port`. */
  readonly adminPort: number | null;
  close(): Promise<void>;
}

async function listen(deps: HttpDeps, routes: HttpRoutes, at: ListenAddress): Promise<{ app: FastifyInstance; port: number }> {
  const app = createHttpServer(deps, routes);
  try {
    await app.listen({ host: at.host, port: at.port });
  } catch (err) {
    const what = routes === 'admin' ? 'the admin HTTP server (--admin-host, --admin-port)' : 'the HTTP server';
    throw new RebalancerError('REB_SERVING_FAILED', `${what} could not listen on ${at.host}:${at.port}: ${(err as Error).message}`, { host: at.host, port: at.port, routes }, { cause: err });
  }
  const address = app.server.address();
  return { app, port: typeof address === 'object' && address !== null ? address.port : at.port };
}

/** Starts the listeners; a listener that cannot bind is REB_SERVING_FAILED naming its address (and nothing is left listening). */
export async function listenHttp(deps: HttpDeps, main: ListenAddress, admin?: ListenAddress): Promise<HttpListeners> {
  const first = await listen(deps, admin === undefined ? 'all' : 'public', main);
  if (admin === undefined) return { port: first.port, adminPort: null, close: () => first.app.close() };
  let second: { app: FastifyInstance; port: number };
  try {
    second = await listen(deps, 'admin', admin);
  } catch (err) {
    await first.app.close();
    throw err;
  }
  return {
    port: first.port,
    adminPort: second.port,
    close: async () => {
      await Promise.all([first.app.close(), second.app.close()]);
    },
  };
}

/** The admin address the settings ask for (`admin` absent: every route on --http-port), to spread into the serving options. */
export function adminAddress(c: { httpHost: string; adminHost: string; adminPort: '' | number }): { admin?: ListenAddress } {
  return c.adminPort === '' ? {} : { admin: { host: c.adminHost !== '' ? c.adminHost : c.httpHost, port: c.adminPort } };
}

/** The base URL of the admin routes: the admin listener's, or the HTTP one's when there is none. */
export function adminUrl(c: { httpHost: string; adminHost: string }, httpPort: number, adminPort: number | null): string {
  return adminPort === null ? `http://${c.httpHost}:${httpPort}` : `http://${c.adminHost !== '' ? c.adminHost : c.httpHost}:${adminPort}`;
}
