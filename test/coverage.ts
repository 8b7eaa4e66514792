/**
 * Line coverage of src/ for the test command (test/run.ts). Every test-file process writes
 * V8's coverage to NODE_V8_COVERAGE (the processes and threads the tests start do not:
 * test/coverage-preload.ts); c8 maps it back to the TypeScript through tsx's inline source
 * maps and counts every file of src/, loaded or not (src/ports/ holds declarations only,
 * no code to run, and is left out).
 * The figure is printed per folder, and the core folders have a floor: below it, the test
 * command fails.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { z } from 'zod';

/**
 * Lowest line coverage (%) of the core folders. Measured 2026-11-30 over the whole suite:
 * balance 99.0, codec 99.4, model 98.7, ingest 98.9, train 87.7 (the trainer thread's
 * side runs in worker threads, which are not measured).
 */
export const COVERAGE_FLOORS: Readonly<Record<string, number>> = {
  balance: 95,
  codec: 95,
  model: 93,
  ingest: 93,
  train: 80,
};

const counts = z.object({ total: z.number().int().min(0), covered: z.number().int().min(0) });
const summarySchema = z.record(z.string(), z.object({ lines: counts }));

export interface FolderCoverage {
  folder: string;
  lines: number;
  covered: number;
  pct: number;
}

/** A fresh directory for the raw V8 coverage of this run. */
export function coverageDir(root: string): string {
  const dir = join(root, 'coverage', 'v8');
  rmSync(join(root, 'coverage'), { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Runs c8 over the raw coverage; line counts per folder of src/ (files directly in it). */
export function coverageByFolder(root: string, rawDir: string): FolderCoverage[] {
  const reports = join(root, 'coverage');
  const r = spawnSync(join(root, 'node_modules', '.bin', 'c8'), ['report', '--temp-directory', rawDir, '--reports-dir', reports, '--reporter', 'json-summary', '--all', '--src', 'src', '--include', 'src/**/*.ts', '--exclude', 'src/ports/**', '--exclude-after-remap'], { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=8192' } });
  if (r.status !== 0) throw new Error(`c8 report failed (${r.status}): ${r.stderr}`);
  const summary = summarySchema.parse(JSON.parse(readFileSync(join(reports, 'coverage-summary.json'), 'utf8')));
  const byFolder = new Map<string, { lines: number; covered: number }>();
  for (const [file, s] of Object.entries(summary)) {
    if (file === 'total') continue;
    const rel = relative(join(root, 'src'), file);
    const folder = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '(root)';
    const f = byFolder.get(folder) ?? { lines: 0, covered: 0 };
    f.lines += s.lines.total;
    f.covered += s.lines.covered;
    byFolder.set(folder, f);
  }
  return [...byFolder].sort(([a], [b]) => a.localeCompare(b)).map(([folder, f]) => ({ folder, ...f, pct: f.lines > 0 ? (100 * f.covered) / f.lines : 100 }));
}

/** The summary lines, and the floors broken (empty when none). */
export function coverageReport(folders: readonly FolderCoverage[], floors: Readonly<Record<string, number>> = COVERAGE_FLOORS): { lines: string[]; broken: string[] } {
  const total = folders.reduce((t, f) => ({ lines: t.lines + f.lines, covered: t.covered + f.covered }), { lines: 0, covered: 0 });
  const lines = [`[test] line coverage of src/: ${total.lines > 0 ? ((100 * total.covered) / total.lines).toFixed(1) : '-'}% of ${total.lines} lines (coverage/coverage-summary.json per file)`];
  const broken: string[] = [];
  for (const f of folders) {
    const floor = floors[f.folder];
    lines.push(`[test]   ${f.folder.padEnd(16)} ${f.pct.toFixed(1).padStart(5)}%  ${String(f.covered).padStart(6)} / ${String(f.lines).padEnd(6)}${floor !== undefined ? ` floor ${floor}%` : ''}`);
    if (floor !== undefined && f.pct < floor) broken.push(`${f.folder}: ${f.pct.toFixed(1)}% < floor ${floor}%`);
  }
  for (const folder of Object.keys(floors)) if (!folders.some((f) => f.folder === folder)) broken.push(`${folder}: no coverage measured`);
  return { lines, broken };
}
