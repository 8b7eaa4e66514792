/**
 * The registry client against a real Apicurio Registry (the project's local one): it
 * registers the event schema's versions under `<topic>-value` with BACKWARD, a fresh codec
 * learns writer schemas by id and decodes Confluent frames of v1 and v2 writers into the
 * current shape; an id the registry lacks, an incompatible schema and a registry that is down
 * each give their documented error.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEventCodec, makeEvent } from '../../../src/codec/index.js';
import { INTERACTION_EVENT_V2 } from '../../../src/codec/schemas.js';
import { isRebalancerError, type ErrorCode } from '../../../src/errors.js';
import { freePort } from '../../../dev/local-broker.js';
import { startLocalRegistry, type LocalRegistry } from '../../../dev/local-registry.js';
import { SchemaRegistryClient, valueSubject } from '../../../src/adapters/kafka/schema-registry.js';

async function codeOf(p: Promise<unknown>): Promise<ErrorCode> {
  try {
    await p;
  } catch (err) {
    assert.ok(isRebalancerError(err), String(err));
    return err.code;
  }
  assert.fail('expected a RebalancerError');
}

describe('schema registry client on a real registry', { timeout: 180_000 }, () => {
  let registry: LocalRegistry;
  before(async () => {
    registry = await startLocalRegistry();
  });
  after(async () => {
    await registry?.stop();
  });

  it('registers v1 and v2 under <topic>-value with BACKWARD; a fresh codec learns ids and decodes both writers', async () => {
    const client = new SchemaRegistryClient({ url: registry.url });
    const writer = createEventCodec();
    const id2 = await client.registerValueSchemas('events', writer);
    const versions = await (await fetch(`${registry.url}/subjects/${valueSubject('events')}/versions`)).json();
    assert.deepEqual(versions, [1, 2]);
    const id1 = (await (await fetch(`${registry.url}/subjects/events-value/versions/1`)).json() as { id: number }).id;
    assert.notEqual(id1, id2);
    // Registering again is idempotent.
    assert.equal(await client.register('events-value', writer.schemaOf(2)), id2);

    const reader = createEventCodec();
    const e = makeEvent({ eventId: 'e1', userId: 'u', itemId: 'i', categoryId: 'c', type: 'purchase', eventTime: 1_767_225_600_000 });
    const fromV1 = writer.encodeConfluent(id1, e, 1);
    const fromV2 = writer.encodeConfluent(id2, e, 2);
    await Promise.all([client.learn(reader, id1), client.learn(reader, id1), client.learn(reader, id2)]);
    assert.deepEqual(reader.decode(fromV1), reader.decode(writer.encodeVersion(1, e)));
    assert.deepEqual(reader.decode(fromV2), reader.decode(writer.encode(e)));
  });

  it('sets BACKWARD only on a subject without a level of its own; a stricter level is kept', async () => {
    const client = new SchemaRegistryClient({ url: registry.url });
    assert.equal(await client.subjectCompatibility('fresh-value'), null);
    await client.registerValueSchemas('fresh', createEventCodec());
    assert.equal(await client.subjectCompatibility('fresh-value'), 'BACKWARD');
    await client.setCompatibility('strictest-value', 'FULL_TRANSITIVE');
    await client.registerValueSchemas('strictest', createEventCodec());
    assert.equal(await client.subjectCompatibility('strictest-value'), 'FULL_TRANSITIVE');
  });

  it('an unknown id is REB_DECODE_UNKNOWN_SCHEMA; an incompatible version is REB_REGISTRY_REJECTED', async () => {
    const client = new SchemaRegistryClient({ url: registry.url });
    assert.equal(await codeOf(client.schemaById(987_654)), 'REB_DECODE_UNKNOWN_SCHEMA');
    await client.registerValueSchemas('strict', createEventCodec());
    const incompatible = { ...INTERACTION_EVENT_V2, fields: [...INTERACTION_EVENT_V2.fields, { name: 'required', type: 'string' }] };
    assert.equal(await codeOf(client.register('strict-value', incompatible)), 'REB_REGISTRY_REJECTED');
  });

  it('a registry that is down is REB_REGISTRY_UNAVAILABLE (retriable), within the timeout', async () => {
    const client = new SchemaRegistryClient({ url: `http://127.0.0.1:${await freePort()}/apis/ccompat/v7`, timeoutMs: 2_000 });
    const t0 = Date.now();
    try {
      await client.schemaById(1);
      assert.fail('should fail');
    } catch (err) {
      assert.ok(isRebalancerError(err, 'REB_REGISTRY_UNAVAILABLE'), String(err));
      assert.equal(err.retriable, true);
    }
    assert.ok(Date.now() - t0 < 3_000);
    assert.throws(() => new SchemaRegistryClient({ url: 'registry:8080' }), (err: unknown) => isRebalancerError(err, 'REB_CONFIG_INVALID'));
  });
});
