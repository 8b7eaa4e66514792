/**
 * The project's local schema registry (Apicurio Registry 3.x from Maven Central, Java 21+)
 * is a real one: it answers the Confluent-compatible API on loopback only, registers a
 * schema under a TopicNameStrategy subject with BACKWARD compatibility, refuses an
 * incompatible version, and, restarted on its data directory, keeps ids and settings.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { startLocalRegistry } from '../../dev/local-registry.js';

const JSON_TYPE = { 'content-type': 'application/vnd.schemaregistry.v1+json' };
const v1 = { type: 'record', name: 'E', fields: [{ name: 'a', type: 'string' }] };
const v2 = { ...v1, fields: [...v1.fields, { name: 'b', type: 'int', default: 0 }] };
const incompatible = { ...v1, fields: [...v1.fields, { name: 'c', type: 'int' }] };

async function call(url: string, method: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, { method, headers: JSON_TYPE, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, json: await res.json() };
}

test('local Apicurio registry: Confluent API on loopback, BACKWARD enforced, ids kept across a restart', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rebalancer-registry-test-'));
  let registry = await startLocalRegistry({ dataDir: dir });
  try {
    const base = registry.url;
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7$/);
    assert.equal((await call(`${base}/config/t-value`, 'PUT', { compatibility: 'BACKWARD' })).status, 200);
    const first = await call(`${base}/subjects/t-value/versions`, 'POST', { schema: JSON.stringify(v1) });
    const id1 = z.object({ id: z.number().int() }).parse(first.json).id;
    const second = await call(`${base}/subjects/t-value/versions`, 'POST', { schema: JSON.stringify(v2) });
    const id2 = z.object({ id: z.number().int() }).parse(second.json).id;
    assert.notEqual(id1, id2);
    const refused = await call(`${base}/subjects/t-value/versions`, 'POST', { schema: JSON.stringify(incompatible) });
    assert.equal(refused.status, 409, `a new required field must be refused under BACKWARD: ${JSON.stringify(refused.json)}`);

    const port = registry.port;
    await registry.stop();
    registry = await startLocalRegistry({ dataDir: dir, port });
    const again = await call(`${registry.url}/schemas/ids/${id1}`, 'GET');
    assert.equal(again.status, 200);
    assert.deepEqual(JSON.parse(z.object({ schema: z.string() }).parse(again.json).schema), v1);
    const level = await call(`${registry.url}/config/t-value`, 'GET');
    assert.equal(z.object({ compatibilityLevel: z.string() }).parse(level.json).compatibilityLevel, 'BACKWARD');
  } finally {
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
