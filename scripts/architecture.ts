/**
 * The dependency graph of src/: every import between source files (static, `import type`,
 * re-exports and literal dynamic `import()`, read with TypeScript's own pre-processor),
 * folded to folders, checked against the layers of scripts/layers.json, and drawn as the
 * Mermaid picture in docs/architecture.md.
 *
 *   node --import tsx scripts/architecture.ts           check: cycles, upward arrows, picture up to date
 *   node --import tsx scripts/architecture.ts --write   also rewrite the picture in docs/architecture.md
 *
 * test/architecture.test.ts runs the same checks.
 */
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { z } from 'zod';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(REPO_ROOT, 'src');
export const DOC = join(REPO_ROOT, 'docs', 'architecture.md');
const BEGIN = '<!-- dependency-graph:begin, drawn by scripts/architecture.ts -->';
const END = '<!-- dependency-graph:end -->';

const layersSchema = z.object({
  layers: z.array(z.object({ name: z.string(), folders: z.array(z.string()).min(1), role: z.string() })).min(1),
});
export type Layers = z.infer<typeof layersSchema>['layers'];

export function readLayers(): Layers {
  return layersSchema.parse(JSON.parse(readFileSync(join(REPO_ROOT, 'scripts', 'layers.json'), 'utf8'))).layers;
}

/** A source file's folder under src/ ("(root)" for src/*.ts). */
export function folderOf(file: string): string {
  const d = dirname(relative(SRC, file));
  return d === '.' ? '(root)' : d;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out.sort();
}

export interface Graph {
  /** Every source file under src/ (absolute paths). */
  files: string[];
  /** file → the files it imports, within the repository. */
  imports: Map<string, string[]>;
  /** Imports that leave src/ for another folder of the repository (dev/, scripts/, ...): file → target. */
  outside: Array<{ from: string; to: string }>;
}

export function buildGraph(): Graph {
  const files = sourceFiles(SRC);
  const imports = new Map<string, string[]>();
  const outside: Graph['outside'] = [];
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets: string[] = [];
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith('.')) continue; // a package
      const target = resolve(dirname(file), ref.fileName).replace(/\.js$/, '.ts');
      if (!target.startsWith(SRC + '/')) outside.push({ from: file, to: target });
      else targets.push(target);
    }
    imports.set(file, [...new Set(targets)]);
  }
  return { files, imports, outside };
}

/** Strongly connected components of more than one file (Tarjan 1972): the import cycles. */
export function cycles(g: Graph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of g.imports.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(relative(REPO_ROOT, w));
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const f of g.files) if (!index.has(f)) visit(f);
  return found;
}

/** Folder → folders it imports (edges between different folders), with one example import each. */
export function folderEdges(g: Graph): Map<string, Map<string, string>> {
  const edges = new Map<string, Map<string, string>>();
  for (const [file, targets] of g.imports) {
    for (const t of targets) {
      const a = folderOf(file);
      const b = folderOf(t);
      if (a === b) continue;
      const row = edges.get(a) ?? new Map<string, string>();
      if (!row.has(b)) row.set(b, `${relative(SRC, file)} → ${relative(SRC, t)}`);
      edges.set(a, row);
    }
  }
  return edges;
}

/** Every rule broken: a folder outside the layers, an arrow that does not point down, an import out of src/. */
export function violations(g: Graph, layers: Layers): string[] {
  const rank = new Map<string, number>();
  layers.forEach((l, i) => l.folders.forEach((f) => rank.set(f, i)));
  const out: string[] = [];
  for (const f of new Set(g.files.map(folderOf))) if (!rank.has(f)) out.push(`src/${f} is in no layer of scripts/layers.json`);
  for (const [a, row] of folderEdges(g)) {
    for (const [b, example] of row) {
      const ra = rank.get(a);
      const rb = rank.get(b);
      if (ra !== undefined && rb !== undefined && rb >= ra) out.push(`${a} (layer ${layers[ra]!.name}) imports ${b} (layer ${layers[rb]!.name}): ${example}`);
    }
  }
  for (const o of g.outside) out.push(`${relative(REPO_ROOT, o.from)} imports ${relative(REPO_ROOT, o.to)}, outside src/`);
  return out;
}

const nodeId = (folder: string): string => (folder === '(root)' ? 'root' : folder.replace(/\//g, '_'));

/** The Mermaid picture: one box per layer (lowest at the bottom), one arrow per folder dependency. */
export function mermaid(g: Graph, layers: Layers): string {
  const lines = ['```mermaid', 'flowchart BT'];
  layers.forEach((l, i) => {
    lines.push(`  subgraph L${i}["${i}. ${l.name}"]`);
    for (const f of l.folders) lines.push(`    ${nodeId(f)}["${f === '(root)' ? 'errors.ts, start-worker.ts' : `${f}/`}"]`);
    lines.push('  end');
  });
  const edges = folderEdges(g);
  for (const a of [...edges.keys()].sort()) {
    for (const b of [...edges.get(a)!.keys()].sort()) lines.push(`  ${nodeId(a)} --> ${nodeId(b)}`);
  }
  lines.push('```');
  return lines.join('\n');
}

/** docs/architecture.md with its picture replaced by the current one. */
export function documentWithGraph(doc: string, picture: string): string {
  const start = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) throw new Error(`docs/architecture.md lacks the markers ${BEGIN} … ${END}`);
  return `${doc.slice(0, start + BEGIN.length)}\n${picture}\n${doc.slice(end)}`;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const g = buildGraph();
  const layers = readLayers();
  const problems = [...cycles(g).map((c) => `import cycle: ${c.join(' ↔ ')}`), ...violations(g, layers)];
  const doc = readFileSync(DOC, 'utf8');
  const current = documentWithGraph(doc, mermaid(g, layers));
  if (process.argv.includes('--write')) writeFileSync(DOC, current);
  else if (current !== doc) problems.push('docs/architecture.md: the picture is out of date (node --import tsx scripts/architecture.ts --write)');
  const edgeCount = [...folderEdges(g).values()].reduce((n, r) => n + r.size, 0);
  console.log(`${g.files.length} files, ${[...g.imports.values()].reduce((n, t) => n + t.length, 0)} imports, ${edgeCount} folder arrows, ${problems.length} problems`);
  for (const p of problems) console.log(`  ${p}`);
  process.exitCode = problems.length > 0 ? 1 : 0;
}
