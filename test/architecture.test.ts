/**
 * The dependency graph of src/ (scripts/architecture.ts): no import cycle between files, no
 * arrow from a folder to one of its own or a higher layer (scripts/layers.json), nothing
 * imported from outside src/, and the picture in docs/architecture.md is the current graph.
 * The same layering is enforced per file by eslint (test/static.test.ts probes it); this
 * test sees the whole graph, `import type` and dynamic imports included.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { DOC, REPO_ROOT, buildGraph, cycles, documentWithGraph, folderEdges, mermaid, readLayers, violations, type Graph } from '../scripts/architecture.js';

const graph = buildGraph();
const layers = readLayers();

describe('the dependency graph of src/', () => {
  it('reads the imports (sanity: the service composes ingest, train and serve; cli reaches the service)', () => {
    assert.ok(graph.files.length > 100, `${graph.files.length} files`);
    const edges = folderEdges(graph);
    for (const [a, b] of [['service', 'ingest'], ['service', 'train'], ['service', 'serve'], ['cli', 'service'], ['train', 'model'], ['model', 'balance']]) {
      assert.ok(edges.get(a!)?.has(b!), `${a} → ${b} missing: the graph is not being read`);
    }
  });

  it('has no import cycle between files', () => {
    assert.deepEqual(cycles(graph), []);
  });

  it('has no upward or sideways arrow between folders, and every folder is in a layer', () => {
    assert.deepEqual(violations(graph, layers), []);
  });

  it('the checks can fail: an injected upward import and an injected cycle are reported', () => {
    // model/neumf.ts → train/model-adapter.ts, which reaches neumf.ts through model/index.ts.
    const [model, train] = ['model/neumf.ts', 'train/model-adapter.ts'].map((f) => graph.files.find((x) => x.endsWith(`/src/${f}`))!);
    const imports = new Map(graph.imports);
    imports.set(model!, [...imports.get(model!)!, train!]);
    const bad: Graph = { ...graph, imports };
    assert.ok(violations(bad, layers).some((v) => v.startsWith('model (layer model) imports train')), violations(bad, layers).join('\n'));
    assert.ok(cycles(bad).length > 0, 'model → train → model is a cycle');
  });

  it('docs/architecture.md shows the current graph (regenerate: node --import tsx scripts/architecture.ts --write)', () => {
    const doc = readFileSync(DOC, 'utf8');
    assert.equal(documentWithGraph(doc, mermaid(graph, layers)), doc);
  });
});

/** Folders under `dir` (relative to it), recursively. */
function folders(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) {
        out.push(relative(dir, path));
        walk(path);
      }
    }
  };
  walk(dir);
  return out.sort();
}

/** Test folders that mirror no source folder, on purpose. */
const TEST_ONLY = new Set(['helpers', 'fixtures', 'integration', 'ops']);

describe('test/ mirrors src/', () => {
  const src = folders(join(REPO_ROOT, 'src'));
  const test = folders(join(REPO_ROOT, 'test')).filter((f) => !f.split('/').some((part) => part === 'fixtures') && !TEST_ONLY.has(f.split('/')[0]!));

  it('every test folder is a folder of src/ (or dev/); integration/ (several processes), ops/ (operations files), helpers/ and fixtures/ excepted', () => {
    assert.deepEqual(test.filter((f) => !src.includes(f) && f !== 'dev'), []);
  });

  it('every src/ folder with code (not declarations only) has its test folder', () => {
    const withCode = src.filter((f) => readdirSync(join(REPO_ROOT, 'src', f)).some((n) => n.endsWith('.ts') && /^export (async )?(function|class|const|let)\b/m.test(readFileSync(join(REPO_ROOT, 'src', f, n), 'utf8'))));
    assert.deepEqual(withCode.filter((f) => !test.includes(f)), []);
  });

  it('every folder of scripts/layers.json exists', () => {
    assert.deepEqual(layers.flatMap((l) => l.folders).filter((f) => f !== '(root)' && !src.includes(f)), []);
  });
});
