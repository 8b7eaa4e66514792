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
  const summary: ImportSummary = { rows: 0, imported: 0, rejected: 0, reasons: {} };
  let firstReject: string | undefined;
  const reject = (line: number, reason: string): void => {
    summary.rejected++;
    firstReject ??= `line ${line}: ${reason}`;
    const kind = reason.replace(/"[^"]*"/g, '…').replace(/-?\d+(\.\d+)?/g, 'N');
    summary.reasons[kind] = (summary.reasons[kind] ?? 0) + 1;
    opts.onReject(line, reason);
    if (summary.rejected > opts.maxErrors) {
      throw new RebalancerError('REB_INPUT_INVALID', `${opts.path}: more than --max-errors ${opts.maxErrors} rows rejected (last: line ${line}: ${reason}); stopped after ${summary.rows} rows`, { path: opts.path, line });
    }
  };
  const accept = async (row: Row, line: number): Promise<void> => {
    summary.rows++;
    const r = mapRow(row, line, opts.mapping);
    if (!r.ok) {
      reject(line, r.reason);
      return;
    }
    await sink.add(r.event.userId, sink.encode(r.event), r.event.eventTime);
    summary.imported++;
  };

  let header: string[] | undefined;
  const onCsv = async (rec: CsvRecord): Promise<void> => {
    if (header === undefined) {
      if (rec.error !== undefined) throw new RebalancerError('REB_INPUT_INVALID', `${opts.path}: header line ${rec.line} is malformed: ${rec.error}`, { path: opts.path });
      header = rec.fields.map((h) => h.trim());
      checkHeader(opts.mapping, header);
      return;
    }
    if (rec.error !== undefined) {
      summary.rows++;
      reject(rec.line, `malformed CSV: ${rec.error}`);
      return;
    }
    if (rec.fields.length !== header.length) {
      summary.rows++;
      reject(rec.line, `has ${rec.fields.length} fields, the header has ${header.length}`);
      return;
    }
    const row = new Map<string, unknown>();
    for (let i = 0; i < header.length; i++) row.set(header[i]!, rec.fields[i]);
    await accept(row, rec.line);
  };

  let jsonLine = 0;
  let carry = '';
  const onJsonLine = async (text: string): Promise<void> => {
    jsonLine++;
    if (text.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      summary.rows++;
      reject(jsonLine, `not valid JSON: ${(err as Error).message}`);
      return;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      summary.rows++;
      reject(jsonLine, 'not a JSON object');
      return;
    }
    await accept(new Map(Object.entries(parsed)), jsonLine);
  };

  const parser = new CsvParser(opts.delimiter);
  let bytes = 0;
  let first = true;
  const stream = createReadStream(opts.path, { encoding: 'utf8', highWaterMark: 1 << 20 });
  try {
    for await (const raw of stream as AsyncIterable<string>) {
      let chunk = raw;
      if (first && chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1); // UTF-8 byte-order mark
      first = false;
      bytes += Buffer.byteLength(raw, 'utf8');
      if (opts.format === 'csv') {
        for (const rec of parser.push(chunk)) await onCsv(rec);
      } else {
        const lines = (carry + chunk).split('\n');
        carry = lines.pop()!;
        for (const l of lines) await onJsonLine(l.endsWith('\r') ? l.slice(0, -1) : l);
      }
      opts.onProgress?.(bytes);
    }
    if (opts.format === 'csv') {
      for (const rec of parser.end()) await onCsv(rec);
      if (header === undefined) throw new RebalancerError('REB_INPUT_INVALID', `${opts.path} is empty (a CSV needs a header line)`, { path: opts.path });
    } else if (carry !== '') {
      await onJsonLine(carry);
    }
  } catch (err) {
    // File-system errors are bad input; anything else (a Kafka failure) keeps its own type.
    if (err instanceof RebalancerError || typeof (err as NodeJS.ErrnoException).code !== 'string' || (err as { name?: string }).name?.startsWith('Kafka')) throw err;
    throw new RebalancerError('REB_INPUT_INVALID', `cannot read ${opts.path}: ${(err as Error).message}`, { path: opts.path }, { cause: err });
  } finally {
    stream.destroy();
  }
  if (summary.imported === 0) {
    const why = summary.rows === 0 ? 'it has no data rows' : `all ${summary.rows} rows were rejected (first: ${firstReject ?? 'none'})`;
    throw new RebalancerError('REB_INPUT_INVALID', `${opts.path}: no events imported: ${why}`, { path: opts.path, rows: summary.rows });
  }
  return summary;
}
