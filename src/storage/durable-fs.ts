/**
 * The file-system calls the atomic directory writer makes, as a port: the writer takes one
 * (default: the node:fs implementation below), so a test can record their order and crash
 * the writer between any two of them.
 */
import { promises as fs } from 'node:fs';

export interface DirectoryEntry {
  readonly name: string;
  readonly kind: 'file' | 'directory' | 'other';
}

export interface DurableFs {
  /** Creates `dir` and its missing parents. */
  mkdir(dir: string): Promise<void>;
  /** Removes a file or a directory tree; nothing when absent. */
  remove(target: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  list(dir: string): Promise<DirectoryEntry[]>;
  readFile(file: string): Promise<Buffer>;
  /** Size and modification time (ms) of a file or directory. */
  stat(target: string): Promise<{ bytes: number; mtimeMs: number }>;
  /** Creates or truncates `file`, writes `chunks` in order, fsyncs it and closes it. */
  writeDurably(file: string, chunks: readonly Uint8Array[]): Promise<void>;
  /** fsync of an existing file or directory (a directory's fsync makes its entries durable). */
  fsync(target: string): Promise<void>;
}

export const nodeDurableFs: DurableFs = {
  async mkdir(dir) {
    await fs.mkdir(dir, { recursive: true });
  },
  remove: (target) => fs.rm(target, { recursive: true, force: true }),
  rename: (from, to) => fs.rename(from, to),
  async list(dir) {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    return entries.map((e) => ({ name: e.name, kind: e.isFile() ? 'file' : e.isDirectory() ? 'directory' : 'other' }));
  },
  readFile: (file) => fs.readFile(file),
  async stat(target) {
    const s = await fs.stat(target);
    return { bytes: s.size, mtimeMs: s.mtimeMs };
  },
  async writeDurably(file, chunks) {
    const handle = await fs.open(file, 'w');
    try {
      for (const chunk of chunks) {
        // A write may be short: loop until every byte of the chunk is written.
        for (let at = 0; at < chunk.byteLength; ) at += (await handle.write(chunk, at, chunk.byteLength - at)).bytesWritten;
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  async fsync(target) {
    const handle = await fs.open(target, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};
