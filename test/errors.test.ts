import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_CODES, RebalancerError, isRebalancerError } from '../src/errors.js';

describe('error catalogue', () => {
  it('every code is documented in README.md, and the README documents no unknown code', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const section = readme.split('## Error codes')[1]?.split('\n## ')[0] ?? '';
    assert.ok(section.length > 0, 'README.md has an "Error codes" section');
    const documented = new Set([...section.matchAll(/`(REB_[A-Z_]+)`/g)].map((m) => m[1]));
    for (const code of Object.keys(ERROR_CODES)) assert.ok(documented.has(code), `${code} is documented`);
    for (const code of documented) assert.ok(code! in ERROR_CODES, `${code} in README exists in src/errors.ts`);
  });

  it('carries code and retriable flag from the catalogue', () => {
    const err = new RebalancerError('REB_KAFKA_UNAVAILABLE', 'down');
    assert.equal(err.retriable, true);
    assert.equal(new RebalancerError('REB_CONFIG_INVALID', 'x').retriable, false);
    assert.ok(isRebalancerError(err, 'REB_KAFKA_UNAVAILABLE'));
    assert.ok(!isRebalancerError(err, 'REB_CONFIG_INVALID'));
    assert.ok(!isRebalancerError(new Error('plain')));
  });
});
