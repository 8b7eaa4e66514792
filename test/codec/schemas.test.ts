import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createEventCodec, createRecommendationCodec, makeEvent, SCHEMA_FILES } from '../../src/codec/index.js';
import { crc64Avro } from '../../src/codec/fingerprint.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('schema contract', () => {
  it('schemas/*.avsc are exactly the schemas the codec uses', () => {
    const files = readdirSync(join(ROOT, 'schemas')).filter((f) => f.endsWith('.avsc')).sort();
    assert.deepEqual(files, Object.keys(SCHEMA_FILES).sort());
    for (const [name, schema] of Object.entries(SCHEMA_FILES)) {
      assert.deepEqual(JSON.parse(readFileSync(join(ROOT, 'schemas', name), 'utf8')), JSON.parse(JSON.stringify(schema)), name);
    }
  });

  it('every field added after v1 has a default (backward compatible)', () => {
    const v1 = new Set<string>(SCHEMA_FILES['interaction-event.v1.avsc'].fields.map((f) => f.name));
    for (const field of SCHEMA_FILES['interaction-event.v2.avsc'].fields) {
      if (!v1.has(field.name)) assert.ok('default' in field, `${field.name} needs a default`);
    }
  });

  it('CRC-64-AVRO matches the specification test vector', () => {
    // From the Avro specification's fingerprint examples: "int" -> 0x7275d51a3f395c8f.
    assert.equal(crc64Avro(Buffer.from('"int"')).toString(16), '7275d51a3f395c8f');
  });

  it('recorded payloads of each version still decode to the same events', () => {
    const fixtures = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'events.json'), 'utf8')) as { version: number; hex: string; event: Record<string, unknown> }[];
    assert.ok(fixtures.some((f) => f.version === 1) && fixtures.some((f) => f.version === 2));
    const codec = createEventCodec();
    for (const f of fixtures) {
      const buf = Buffer.from(f.hex, 'hex');
      assert.deepEqual(JSON.parse(JSON.stringify(codec.decode(buf))), f.event);
      if (f.version === 2) assert.equal(codec.encode(makeEvent(f.event as Parameters<typeof makeEvent>[0])).toString('hex'), f.hex, 'v2 encoding is stable');
    }
    assert.equal(createRecommendationCodec().currentFingerprint.length, 16);
  });
});
