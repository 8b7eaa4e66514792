import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_ID_LENGTH } from '../../src/codec/limits.js';
import { ERROR_CODES, RebalancerError, httpStatusOf, type ErrorCode } from '../../src/errors.js';
import { createHttpServer } from '../../src/http/server.js';

function app(maxIdLength?: number) {
  return createHttpServer({
    ...(maxIdLength === undefined ? {} : { maxIdLength }),
    metrics: async () => ({ contentType: 'text/plain', body: 'm 1\n' }),
    recommend: async (userId) => ({ userId, items: [], modelVersion: 'v', generatedAt: 0 }),
    state: async () => ({ ok: true }),
    readiness: async () => ({ ready: false, reasons: ['not yet'] }),
    defaultK: 10,
    maxK: 100,
    log: () => {},
  });
}

describe('HTTP face', () => {
  it('accepts userIds up to the event contract bound (in 3-byte characters too) and answers 400 with a code past it', async () => {
    const a = app();
    for (const id of ['a'.repeat(MAX_ID_LENGTH), '€'.repeat(MAX_ID_LENGTH), 'a'.repeat(101)]) {
      const r = await a.inject({ method: 'GET', url: `/recommendations/${encodeURIComponent(id)}` });
      assert.equal(r.statusCode, 200, `${id.length} characters`);
      assert.equal(r.json().userId, id);
    }
    const over = await a.inject({ method: 'GET', url: `/recommendations/${'a'.repeat(MAX_ID_LENGTH + 1)}` });
    assert.equal(over.statusCode, 400);
    assert.equal(over.json().code, 'REB_HTTP_BAD_REQUEST');
  });

  it('takes --max-id-length as the userId bound', async () => {
    const a = app(16);
    assert.equal((await a.inject({ method: 'GET', url: `/recommendations/${'a'.repeat(16)}` })).statusCode, 200);
    const over = await a.inject({ method: 'GET', url: `/recommendations/${'a'.repeat(17)}` });
    assert.equal(over.statusCode, 400);
    assert.match(over.json().error, /userId must be 1 to 16 characters/);
  });

  it('answers a path parameter beyond the router limit with 414 and the catalogue code, not a bare framework error', async () => {
    const r = await app().inject({ method: 'GET', url: `/recommendations/${'a'.repeat(20_000)}` });
    assert.equal(r.statusCode, 414);
    assert.equal(r.json().code, 'REB_HTTP_BAD_REQUEST');
  });

  it('answers an unknown route with 404 and the catalogue code', async () => {
    const r = await app().inject({ method: 'GET', url: '/nope?x=1' });
    assert.equal(r.statusCode, 404);
    assert.deepEqual(r.json(), { error: 'no route GET /nope', code: 'REB_HTTP_NOT_FOUND' });
  });

  it('answers readiness, state and metrics from async providers', async () => {
    const a = app();
    const ready = await a.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 503);
    assert.deepEqual(ready.json(), { ready: false, reasons: ['not yet'] });
    assert.deepEqual((await a.inject({ method: 'GET', url: '/state' })).json(), { ok: true });
    const m = await a.inject({ method: 'GET', url: '/metrics' });
    assert.equal(m.body, 'm 1\n');
    assert.match(String(m.headers['content-type']), /text\/plain/);
  });
});

describe('HTTP errors', () => {
  function failing(err: unknown, logs: string[]) {
    return createHttpServer({
      metrics: async () => ({ contentType: 'text/plain', body: '' }),
      recommend: async () => {
        throw err;
      },
      state: async () => ({}),
      readiness: async () => ({ ready: true, reasons: [] }),
      defaultK: 10,
      maxK: 100,
      log: (m) => logs.push(m),
    });
  }

  it('a fault answers 500 REB_INTERNAL with a request id, never the internal message, which goes to the log under that id', async () => {
    const logs: string[] = [];
    const r = await failing(new Error('secret: /var/lib/checkpoints/x is corrupt at byte 12'), logs).inject({ method: 'GET', url: '/recommendations/u1' });
    assert.equal(r.statusCode, 500);
    const body = r.json() as { error: string; code: string; requestId: string };
    assert.equal(body.code, 'REB_INTERNAL');
    assert.ok(!r.body.includes('secret') && !r.body.includes('/var/lib'), r.body);
    assert.ok(body.requestId.length > 0 && body.error.includes(body.requestId));
    assert.equal(logs.length, 1);
    assert.ok(logs[0]!.includes(`request ${body.requestId}`) && logs[0]!.includes('secret'), logs[0]);
  });

  it('a catalogue error answers with its code\'s status: 503 and retry for a retriable dependency, 500 for a model fault', async () => {
    const down = await failing(new RebalancerError('REB_TRAINER_DIED', 'worker 3 exited with code 70'), []).inject({ method: 'GET', url: '/recommendations/u1' });
    assert.equal(down.statusCode, httpStatusOf('REB_TRAINER_DIED'));
    assert.equal(down.statusCode, 503);
    assert.equal(down.json().code, 'REB_TRAINER_DIED');
    assert.match(down.json().error, /retry/);
    assert.ok(!down.body.includes('worker 3'));
    const fault = await failing(new RebalancerError('REB_MODEL_INVALID', 'shape [3] vs [4]'), []).inject({ method: 'GET', url: '/recommendations/u1' });
    assert.equal(fault.statusCode, 500);
    assert.equal(fault.json().code, 'REB_MODEL_INVALID');
    assert.ok(!fault.body.includes('shape'));
  });

  it('every code has an HTTP status: 4xx for the request\'s own faults, 5xx otherwise', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const s = httpStatusOf(code);
      assert.ok(code.startsWith('REB_HTTP_') && code !== 'REB_HTTP_OVERLOADED' ? s >= 400 && s < 500 : s >= 500 && s < 600, `${code}: ${s}`);
    }
  });
});
