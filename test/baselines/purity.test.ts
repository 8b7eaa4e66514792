import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const DIR = join(import.meta.dirname, '..', '..', 'src', 'baselines');
/** The only modules src/baselines may import besides its own files: the pure core, types, errors, the tfjs-free model config. */
const ALLOWED = new Set(['../balance/index.js', '../codec/types.js', '../errors.js', '../model/config.js']);

test('src/baselines is pure: imports only the pure core and tfjs-free modules, reads no clock, no Math.random, no process', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 4, files.join(', '));
  for (const f of files) {
    const text = readFileSync(join(DIR, f), 'utf8');
    for (const m of text.matchAll(/from\s+'([^']+)'/g)) {
      const spec = m[1]!;
      assert.ok(spec.startsWith('./') || ALLOWED.has(spec), `${f} imports ${spec}`);
    }
    assert.doesNotMatch(text, /\bimport\s*\(|\brequire\s*\(/, `${f}: dynamic import`);
    assert.doesNotMatch(text, /Date\.now|new Date|performance\.|Math\.random|process\.|globalThis/, `${f}: clock, global randomness or process`);
  }
  // config.ts must itself stay free of tfjs for the import above to be pure.
  const modelConfig = readFileSync(join(DIR, '..', 'model', 'config.ts'), 'utf8');
  for (const m of modelConfig.matchAll(/from\s+'([^']+)'/g)) assert.ok(!m[1]!.includes('tensorflow') && !m[1]!.includes('neumf'), `model/config.ts imports ${m[1]}`);
});
