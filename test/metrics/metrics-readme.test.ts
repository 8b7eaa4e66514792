import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(import.meta.dirname, '..', '..');

describe('metric documentation', () => {
  it('every rebalancer_* metric defined in src/metrics is listed in the README Metrics section', () => {
    const dir = join(ROOT, 'src', 'metrics');
    const defined = new Set<string>();
    for (const f of readdirSync(dir)) {
      for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/'(rebalancer_[a-z_]+)'/g)) defined.add(m[1]!);
    }
    assert.ok(defined.size >= 30, `found ${defined.size} metric names`);
    const section = readFileSync(join(ROOT, 'README.md'), 'utf8').split('## Metrics')[1]?.split('\n## ')[0] ?? '';
    const documented = new Set([...section.matchAll(/`(rebalancer_[a-z_]+)/g)].map((m) => m[1]));
    for (const name of defined) assert.ok(documented.has(name), `${name} is documented in README.md`);
    for (const name of documented) assert.ok(defined.has(name!), `${name} in README.md exists in src/metrics`);
  });
});
