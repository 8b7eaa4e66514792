/**
 * A streaming CSV parser after RFC 4180: fields separated by a delimiter, records by
 * CRLF or LF; a field in double quotes may hold delimiters, line breaks and doubled
 * quotes (""). Fed chunk by chunk; each record comes out with the line it starts on, so
 * errors can point at the input. Deviations are reported per record, never guessed:
 *   - a quote inside an unquoted field, or text after a closing quote, marks the record
 *     malformed (the parser resynchronises at the next line break outside quotes);
 *   - an unterminated quoted field at end of input is reported by `end()`.
 */
import { RebalancerError } from '../errors.js';
export interface CsvRecord {
  /** 1-based line on which the record starts. */
  line: number;
  fields: string[];
  /** Why the record is malformed, or undefined. */
  error: string | undefined;
}

const enum S {
  FieldStart,
  Unquoted,
  Quoted,
  QuoteInQuoted,
  Skip,
}

export class CsvParser {
  private state: S = S.FieldStart;
  private field = '';
  private fields: string[] = [];
  private line = 1;
  private recordLine = 1;
  private error: string | undefined;
  private pendingCr = false;
  private readonly delimiter: number;

  constructor(delimiter = ',') {
    if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') throw new RebalancerError('REB_INPUT_INVALID', `CSV delimiter must be one character other than a quote or line break, got ${JSON.stringify(delimiter)}`);
    this.delimiter = delimiter.charCodeAt(0);
  }

  /** Parses a chunk and returns the records it completes. */
  push(chunk: string): CsvRecord[] {
    const out: CsvRecord[] = [];
    const d = this.delimiter;
    for (let i = 0; i < chunk.length; i++) {
      const ch = chunk.charCodeAt(i);
      if (this.pendingCr) {
        // A lone CR followed by LF is one break; a lone CR (old Mac) is also a break.
        this.pendingCr = false;
        if (ch === 10) continue;
      }
      switch (this.state) {
        case S.FieldStart:
          if (ch === 34) this.state = S.Quoted;
          else {
            this.state = S.Unquoted;
            this.unquoted(ch, chunk[i]!, d, out);
          }
          break;
        case S.Unquoted:
          this.unquoted(ch, chunk[i]!, d, out);
          break;
        case S.Quoted:
          if (ch === 34) this.state = S.QuoteInQuoted;
          else {
            if (ch === 10 || (ch === 13 && chunk.charCodeAt(i + 1) !== 10)) this.line++;
            this.field += chunk[i];
          }
          break;
        case S.QuoteInQuoted:
          if (ch === 34) { this.field += '"'; this.state = S.Quoted; }
          else if (ch === d) this.endField();
          else if (ch === 10 || ch === 13) this.endRecord(out, ch);
          else this.fail('text after the closing quote of a quoted field');
          break;
        case S.Skip:
          if (ch === 10 || ch === 13) this.endRecord(out, ch);
          break;
      }
    }
    return out;
  }

  /** Ends the input; returns the last record if the input did not end with a line break. */
  end(): CsvRecord[] {
    const out: CsvRecord[] = [];
    if (this.state === S.Quoted) {
      this.error ??= `quoted field opened on line ${this.recordLine} is never closed`;
      this.fields.push(this.field);
      out.push({ line: this.recordLine, fields: this.fields, error: this.error });
    } else if (this.state !== S.FieldStart || this.fields.length > 0) {
      if (this.state !== S.Skip) this.fields.push(this.field);
      out.push({ line: this.recordLine, fields: this.fields, error: this.error });
    }
    this.fields = [];
    this.field = '';
    this.state = S.FieldStart;
    return out;
  }

  private unquoted(ch: number, c: string, d: number, out: CsvRecord[]): void {
    if (ch === d) this.endField();
    else if (ch === 10 || ch === 13) this.endRecord(out, ch);
    else if (ch === 34) this.fail('a quote (") inside an unquoted field; quote the whole field and double inner quotes');
    else this.field += c;
  }

  private endField(): void {
    this.fields.push(this.field);
    this.field = '';
    this.state = S.FieldStart;
  }

  private endRecord(out: CsvRecord[], ch: number): void {
    if (this.state !== S.Skip) this.fields.push(this.field);
    // An empty line is no record (common at the end of files).
    if (!(this.fields.length === 1 && this.fields[0] === '' && this.error === undefined)) {
      out.push({ line: this.recordLine, fields: this.fields, error: this.error });
    }
    this.fields = [];
    this.field = '';
    this.error = undefined;
    this.state = S.FieldStart;
    this.line++;
    this.recordLine = this.line;
    if (ch === 13) this.pendingCr = true;
  }

  private fail(reason: string): void {
    this.error ??= reason;
    this.state = S.Skip;
  }
}
