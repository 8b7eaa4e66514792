/**
 * Reads an interaction log (headered CSV or JSON lines) row by row, maps each row to an
 * event and hands it to a sink. Rejected rows are reported (line + reason) and counted;
 * past `maxErrors` rejections the import stops with an error. An import that ends with
 * no event at all (every row rejected, or no data rows) is an error too, never a success.
 */
import { createReadStream, statSync } from 'node:fs';
import { RebalancerError } from '../errors.js';
import { CsvParser, type CsvRecord } from '../adapters/csv.js';
import { checkHeader, mapRow, type ColumnMapping, type Row } from './importer.js';
import type { EventSink } from '../adapters/sink.js';

export type LogFormat = 'csv' | 'jsonl';

export interface ImportOptions {
  path: string;
  format: LogFormat;
  delimiter: string;
  mapping: ColumnMapping;
  /** Rejections tolerated; one more stops the import. */
  maxErrors: number;
  /** Called for each rejected row. */
  onReject(line: number, reason: string): void;
  /** Called with bytes read so far, for progress. */
  onProgress?(bytesRead: number): void;
}

export interface ImportSummary {
  rows: number;
  imported: number;
  rejected: number;
  /** Rejections per reason kind (the reason without its quoted values). */
  reasons: Record<string, number>;
}

export function guessFormat(path: string): LogFormat {
  return /\.(jsonl|ndjson|json)$/i.test(path) ? 'jsonl' : 'csv';
}

export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new RebalancerError('REB_INPUT_INVALID', `cannot read ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, { path }, { cause: err });
  }
}

export async function importLog(opts: ImportOptions, sink: EventSink): Promise<ImportSummary> {
  const tally = new ImportTally(opts, sink);
  // Made whatever the format, so a bad --delimiter is refused before anything is read.
  const parser = new CsvParser(opts.delimiter);
  const rows: RowReader = opts.format === 'csv' ? new CsvRows(opts, parser, tally) : new JsonRows(tally);
  await readChunks(opts, rows);
  return tally.result();
}

/** Counts the rows: mapped ones go to the sink, rejected ones are reported (one past maxErrors stops the import). */
class ImportTally {
  readonly summary: ImportSummary = { rows: 0, imported: 0, rejected: 0, reasons: {} };
  private firstReject: string | undefined;

  constructor(private readonly opts: ImportOptions, private readonly sink: EventSink) {}

  /** A row that could not even be read as one (malformed CSV, not JSON): counted and rejected. */
  rejectRow(line: number, reason: string): void {
    this.summary.rows++;
    this.reject(line, reason);
  }

  /** Counts the row and maps it to an event for the sink, or rejects it. */
  async accept(row: Row, line: number): Promise<void> {
    this.summary.rows++;
    const r = mapRow(row, line, this.opts.mapping);
    if (!r.ok) {
      this.reject(line, r.reason);
      return;
    }
    await this.sink.add(r.event.userId, this.sink.encode(r.event), r.event.eventTime);
    this.summary.imported++;
  }

  /** The summary; REB_INPUT_INVALID when no event was imported. */
  result(): ImportSummary {
    const { summary } = this;
    if (summary.imported === 0) {
      const why = summary.rows === 0 ? 'it has no data rows' : `all ${summary.rows} rows were rejected (first: ${this.firstReject ?? 'none'})`;
      throw new RebalancerError('REB_INPUT_INVALID', `${this.opts.path}: no events imported: ${why}`, { path: this.opts.path, rows: summary.rows });
    }
    return summary;
  }

  private reject(line: number, reason: string): void {
    const { summary, opts } = this;
    summary.rejected++;
    this.firstReject ??= `line ${line}: ${reason}`;
    const kind = reason.replace(/"[^"]*"/g, '…').replace(/-?\d+(\.\d+)?/g, 'N');
    summary.reasons[kind] = (summary.reasons[kind] ?? 0) + 1;
    opts.onReject(line, reason);
    if (summary.rejected > opts.maxErrors) {
      throw new RebalancerError('REB_INPUT_INVALID', `${opts.path}: more than --max-errors ${opts.maxErrors} rows rejected (last: line ${line}: ${reason}); stopped after ${summary.rows} rows`, { path: opts.path, line });
    }
  }
}

/** Turns the log's text, chunk by chunk, into rows for the tally. */
interface RowReader {
  push(chunk: string): Promise<void>;
  /** After the last chunk. */
  end(): Promise<void>;
}

/** Headered CSV: the first record names the columns. */
class CsvRows implements RowReader {
  private header: string[] | undefined;

  constructor(private readonly opts: ImportOptions, private readonly parser: CsvParser, private readonly tally: ImportTally) {}

  async push(chunk: string): Promise<void> {
    for (const rec of this.parser.push(chunk)) await this.record(rec);
  }

  async end(): Promise<void> {
    for (const rec of this.parser.end()) await this.record(rec);
    if (this.header === undefined) throw new RebalancerError('REB_INPUT_INVALID', `${this.opts.path} is empty (a CSV needs a header line)`, { path: this.opts.path });
  }

  private async record(rec: CsvRecord): Promise<void> {
    const { header, tally } = this;
    if (header === undefined) {
      if (rec.error !== undefined) throw new RebalancerError('REB_INPUT_INVALID', `${this.opts.path}: header line ${rec.line} is malformed: ${rec.error}`, { path: this.opts.path });
      this.header = rec.fields.map((h) => h.trim());
      checkHeader(this.opts.mapping, this.header);
      return;
    }
    if (rec.error !== undefined) {
      tally.rejectRow(rec.line, `malformed CSV: ${rec.error}`);
      return;
    }
    if (rec.fields.length !== header.length) {
      tally.rejectRow(rec.line, `has ${rec.fields.length} fields, the header has ${header.length}`);
      return;
    }
    const row = new Map<string, unknown>();
    for (let i = 0; i < header.length; i++) row.set(header[i]!, rec.fields[i]);
    await tally.accept(row, rec.line);
  }
}

/** JSON lines: one object per line (LF or CRLF); blank lines are skipped. */
class JsonRows implements RowReader {
  private line = 0;
  private carry = '';

  constructor(private readonly tally: ImportTally) {}

  async push(chunk: string): Promise<void> {
    const lines = (this.carry + chunk).split('\n');
    this.carry = lines.pop()!;
    for (const l of lines) await this.text(l.endsWith('\r') ? l.slice(0, -1) : l);
  }

  async end(): Promise<void> {
    if (this.carry !== '') await this.text(this.carry);
  }

  private async text(text: string): Promise<void> {
    const line = ++this.line;
    if (text.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      this.tally.rejectRow(line, `not valid JSON: ${(err as Error).message}`);
      return;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      this.tally.rejectRow(line, 'not a JSON object');
      return;
    }
    await this.tally.accept(new Map(Object.entries(parsed)), line);
  }
}

/** Streams the file's text (a UTF-8 byte-order mark dropped) into `rows`, reporting progress per chunk. */
async function readChunks(opts: ImportOptions, rows: RowReader): Promise<void> {
  let bytes = 0;
  let first = true;
  const stream = createReadStream(opts.path, { encoding: 'utf8', highWaterMark: 1 << 20 });
  try {
    for await (const raw of stream as AsyncIterable<string>) {
      let chunk = raw;
      if (first && chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1); // UTF-8 byte-order mark
      first = false;
      bytes += Buffer.byteLength(raw, 'utf8');
      await rows.push(chunk);
      opts.onProgress?.(bytes);
    }
    await rows.end();
  } catch (err) {
    // File-system errors are bad input; anything else (a Kafka failure) keeps its own type.
    if (err instanceof RebalancerError || typeof (err as NodeJS.ErrnoException).code !== 'string' || (err as { name?: string }).name?.startsWith('Kafka')) throw err;
    throw new RebalancerError('REB_INPUT_INVALID', `cannot read ${opts.path}: ${(err as Error).message}`, { path: opts.path }, { cause: err });
  } finally {
    stream.destroy();
  }
}
