/**
 * The README and docs/ stand on their own in a fresh clone: every relative link (and
 * heading anchor) and every file path they name resolves to a file of the repository, and
 * every command line in their examples starts the CLI the documented way
 * (`node bin/rebalancer.js <verb>`: a checkout has no `rebalancer` on PATH), which runs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../../dev/local-broker.js';

/** The documented way to start the CLI from a checkout (README, "CLI"). */
const CLI_FORM = 'node bin/rebalancer.js';

const DOCS: readonly string[] = ['README.md', ...readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

interface Doc {
  path: string;
  /** The text outside fenced code blocks. */
  prose: string;
  /** The lines inside fenced code blocks. */
  code: string[];
}

function readDoc(path: string): Doc {
  const lines = readFileSync(join(REPO_ROOT, path), 'utf8').split('\n');
  const prose: string[] = [];
  const code: string[] = [];
  let fenced = false;
  for (const line of lines) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    else (fenced ? code : prose).push(line);
  }
  return { path, prose: prose.join('\n'), code };
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
}

function anchorsOf(path: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of readDoc(path).prose.split('\n')) {
    const m = /^#{1,6}\s+(.*)$/.exec(line);
    if (m === null) continue;
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** `target` resolved from `from`, or a reason it does not resolve inside the repository. */
function problemWith(from: string, target: string, base: 'document' | 'root'): string | null {
  const [file = '', anchor] = target.split('#');
  const abs = file === '' ? join(REPO_ROOT, from) : resolve(base === 'document' ? dirname(join(REPO_ROOT, from)) : REPO_ROOT, decodeURIComponent(file));
  const rel = relative(REPO_ROOT, abs);
  if (rel.startsWith(`..${sep}`) || rel === '..') return `${from}: ${target} leaves the repository`;
  if (!existsSync(abs)) return `${from}: ${target} does not exist`;
  if (anchor !== undefined && anchor !== '' && rel.endsWith('.md') && !anchorsOf(rel).has(anchor)) return `${from}: ${target} has no heading #${anchor}`;
  return null;
}

describe('README and docs/ are self-contained', () => {
  it('every relative link and image resolves to a file of the repository (and an anchor to a heading there)', () => {
    const problems: string[] = [];
    let links = 0;
    for (const path of DOCS) {
      for (const m of readDoc(path).prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        const target = m[1]!;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
        links++;
        const p = problemWith(path, target, 'document');
        if (p !== null) problems.push(p);
      }
    }
    assert.ok(links >= 3, `${links} relative links checked`);
    assert.deepEqual(problems, []);
  });

  it('every file path named in `code` exists in the repository (relative to its root, or to the document for ./ and ../)', () => {
    const problems: string[] = [];
    let named = 0;
    for (const path of DOCS) {
      for (const m of readDoc(path).prose.matchAll(/`([^`\n]+)`/g)) {
        const span = m[1]!;
        if (!/^(\.{1,2}\/)?[\w.@-]+(\/[\w.@-]+)+\.(md|ts|js|avsc|ya?ml|json|sh|xml|html|png)$/.test(span)) continue;
        named++;
        const p = problemWith(path, span, span.startsWith('.') ? 'document' : 'root');
        if (p !== null) problems.push(p);
      }
    }
    assert.ok(named >= 10, `${named} file paths checked`);
    assert.deepEqual(problems, []);
  });

  it('docs/design.md is linked from the README', () => {
    assert.match(readDoc('README.md').prose, /\]\(docs\/design\.md\)/);
  });
});

describe('README commands use the documented CLI form', () => {
  const lines = DOCS.flatMap((path) => readDoc(path).code.map((line) => ({ path, line: line.replace(/^\s*\$\s+/, '').trim() })));

  it(`no example calls a bare \`rebalancer\` (not on PATH in a checkout) or npx; they start with \`${CLI_FORM}\``, () => {
    const bare = lines.filter((l) => /^(npx\s+)?rebalancer\s/.test(l.line)).map((l) => `${l.path}: ${l.line}`);
    assert.deepEqual(bare, []);
    const readme = lines.filter((l) => l.path === 'README.md' && l.line.startsWith(`${CLI_FORM} `));
    assert.ok(readme.length >= 10, `${readme.length} README command lines`);
  });

  it(`\`${CLI_FORM} <verb> --help\` exits 0 for every verb the examples use`, () => {
    const verbs = new Set<string>();
    for (const { line } of lines) {
      const at = line.indexOf(`${CLI_FORM} `);
      if (at >= 0) verbs.add(line.slice(at + CLI_FORM.length + 1).split(/\s+/)[0]!);
    }
    assert.deepEqual([...verbs].sort(), ['backtest', 'generate', 'import', 'inspect', 'replay', 'run']);
    for (const args of [['--help'], ...[...verbs].map((v) => [v, '--help'])]) {
      const r = spawnSync(process.execPath, [...CLI_FORM.split(' ').slice(1), ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
      assert.equal(r.status, 0, `${CLI_FORM} ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: rebalancer ${args.length > 1 ? args[0] : '\\[options\\] \\[command\\]'}`));
    }
  });
});
