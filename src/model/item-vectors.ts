/**
 * Pre-trained item vectors from another system (`run --item-embeddings FILE`), read into the
 * rows of the hashed item table they belong to.
 *
 * Two formats, chosen by the file's extension:
 *
 *  - `.csv`: UTF-8 text, one item per line, `itemId,v1,...,vd` (no quoting: an id holds no
 *    comma, no quote and no line break). An optional first line starting with `itemId,` is a
 *    header. Blank lines are skipped; values are decimal numbers (JavaScript `Number` syntax,
 *    finite). Every line has the same d.
 *  - `.npy`: a NumPy array file (format versions 1–3) of dtype `<f4` (little-endian float32),
 *    C order, shape (n, d), with a sidecar id file next to it: the same path with `.npy`
 *    replaced by `.ids`, UTF-8, one id per line, line i naming row i, exactly n ids (a final
 *    newline is optional). `np.save('items.npy', V.astype('<f4'))` and one id per line in
 *    `items.ids` make such a pair.
 *
 * d must equal the model's item row width (gmfDim GMF values, then mlpDim MLP values), the
 * vector is placed as given (no rescaling) at the item's hashed row; ids that share a row (a
 * hash collision) get the mean of their vectors there. An id given twice is an error. Ids the
 * stream never sends are harmless (their rows are simply never read).
 *
 * Memory is bounded by the table, not the file: the file is read as a stream and only one
 * running sum per distinct row is kept (plus the set of ids, for the duplicate check).
 */
import { createReadStream, promises as fs } from 'node:fs';
import { createInterface } from 'node:readline';
import { RebalancerError } from '../errors.js';

/** The vectors of a file, one (mean) vector per distinct table row. */
export interface ItemRowVectors {
  file: string;
  /** Values per vector (the item row width). */
  dim: number;
  /** Distinct table rows, in first-seen order. */
  rows: Int32Array;
  /** rows.length × dim: the mean of the vectors given for each row. */
  values: Float32Array;
  /** Ids read. */
  ids: number;
  /** Ids that landed in a row another id of the file had already taken. */
  sharedRows: number;
}

/** Where an id's vector goes and how wide a vector must be. */
export interface ItemRowTarget {
  dim: number;
  /** What a dimension mismatch message says the width is made of (e.g. "16 GMF + 16 MLP values"). */
  dimParts: string;
  rowOf(itemId: string): number;
}

/** Reads `file` (format by extension, see above) into per-row vectors. */
export async function readItemVectors(file: string, target: ItemRowTarget): Promise<ItemRowVectors> {
  const acc = new RowAccumulator(file, target);
  if (/\.csv$/i.test(file)) await readingErrors(file, () => readCsv(file, acc));
  else if (/\.npy$/i.test(file)) await readingErrors(file, () => readNpy(file, acc));
  else invalid(file, 'has neither a .csv nor a .npy extension (the two formats read)');
  return acc.result();
}

/** The sidecar id file of a `.npy` vectors file. */
export function idsFileOf(npyFile: string): string {
  return npyFile.replace(/\.npy$/i, '.ids');
}

function invalid(file: string, why: string): never {
  throw new RebalancerError('REB_INPUT_INVALID', `item embeddings ${file}: ${why}`, { file });
}

class RowAccumulator {
  private readonly slotOf = new Map<number, number>();
  private readonly seen = new Set<string>();
  private rows: number[] = [];
  private counts: number[] = [];
  private sums = new Float64Array(0);
  private shared = 0;

  constructor(readonly file: string, readonly target: ItemRowTarget) {}

  /** Fails unless vectors of `dim` values fit the table. */
  checkDim(dim: number, where: string): void {
    if (dim !== this.target.dim) {
      invalid(this.file, `${where}: the vectors have ${dim} dimensions, the model's item rows have ${this.target.dim} (${this.target.dimParts})`);
    }
  }

  add(id: string, values: ArrayLike<number>, offset: number, where: string): void {
    if (id.length === 0) invalid(this.file, `${where}: empty item id`);
    if (this.seen.has(id)) invalid(this.file, `${where}: item ${JSON.stringify(id)} is given twice`);
    this.seen.add(id);
    const d = this.target.dim;
    const row = this.target.rowOf(id);
    let slot = this.slotOf.get(row);
    if (slot === undefined) {
      slot = this.rows.length;
      this.slotOf.set(row, slot);
      this.rows.push(row);
      this.counts.push(0);
      if (this.sums.length < (slot + 1) * d) {
        const grown = new Float64Array(Math.max((slot + 1) * d, 2 * this.sums.length));
        grown.set(this.sums);
        this.sums = grown;
      }
    } else {
      this.shared++;
    }
    this.counts[slot]!++;
    const o = slot * d;
    for (let j = 0; j < d; j++) {
      const v = values[offset + j]!;
      if (!Number.isFinite(v)) invalid(this.file, `${where}: value ${j + 1} of item ${JSON.stringify(id)} is not a finite number`);
      this.sums[o + j]! += v;
    }
  }

  result(): ItemRowVectors {
    const d = this.target.dim;
    const n = this.rows.length;
    if (n === 0) invalid(this.file, 'holds no vectors');
    const values = new Float32Array(n * d);
    for (let s = 0; s < n; s++) {
      const c = this.counts[s]!;
      for (let j = 0; j < d; j++) values[s * d + j] = this.sums[s * d + j]! / c;
    }
    return { file: this.file, dim: d, rows: Int32Array.from(this.rows), values, ids: this.seen.size, sharedRows: this.shared };
  }
}

async function readCsv(file: string, acc: RowAccumulator): Promise<void> {
  const lines = createInterface({ input: openStream(file), crlfDelay: Infinity });
  let lineNo = 0;
  let dim = -1;
  const values: number[] = [];
  for await (const raw of lines) {
    lineNo++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim().length === 0) continue;
    if (lineNo === 1 && line.startsWith('itemId,')) continue;
    const fields = line.split(',');
    const where = `line ${lineNo}`;
    if (dim < 0) {
      dim = fields.length - 1;
      acc.checkDim(dim, where);
    } else if (fields.length - 1 !== dim) {
      invalid(file, `${where} has ${fields.length - 1} values, the first vector has ${dim}`);
    }
    const id = fields[0]!;
    if (/["\r\n]/.test(id)) invalid(file, `${where}: item ids are not quoted in this format (got ${JSON.stringify(id)})`);
    values.length = 0;
    for (let j = 1; j < fields.length; j++) {
      const text = fields[j]!.trim();
      const v = text.length === 0 ? Number.NaN : Number(text);
      if (!Number.isFinite(v)) invalid(file, `${where}: value ${j} (${JSON.stringify(fields[j])}) is not a finite number`);
      values.push(v);
    }
    acc.add(id, values, 0, where);
  }
}

/** The parsed header of a .npy file. */
interface NpyHeader {
  rows: number;
  cols: number;
  /** Byte offset of the data. */
  offset: number;
}

/** NumPy's format (numpy.lib.format): magic, version, header length, a Python dict literal. */
function parseNpyHeader(file: string, head: Buffer, size: number): NpyHeader {
  if (head.length < 10 || head[0] !== 0x93 || head.toString('latin1', 1, 6) !== 'NUMPY') invalid(file, 'is not a NumPy .npy file (no \\x93NUMPY magic)');
  const major = head[6]!;
  if (major < 1 || major > 3) invalid(file, `has .npy format version ${major}.${head[7]!} (1, 2 or 3 are read)`);
  const lenBytes = major === 1 ? 2 : 4;
  if (head.length < 8 + lenBytes) invalid(file, 'ends inside its .npy header');
  const headerLength = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  const offset = 8 + lenBytes + headerLength;
  if (head.length < offset) invalid(file, 'ends inside its .npy header');
  const dict = head.toString(major === 3 ? 'utf8' : 'latin1', 8 + lenBytes, offset);
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(dict)?.[1];
  if (descr !== '<f4') invalid(file, `has dtype ${JSON.stringify(descr ?? null)}; little-endian float32 ('<f4') is read`);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(dict)?.[1];
  if (fortran !== 'False') invalid(file, 'is not in C order (fortran_order must be False)');
  const shape = /['"]shape['"]\s*:\s*\(\s*(\d+)\s*,\s*(\d+)\s*,?\s*\)/.exec(dict);
  if (shape === null) invalid(file, 'does not hold a 2-D array (shape (n, d) expected)');
  const rows = Number(shape[1]);
  const cols = Number(shape[2]);
  if (size !== offset + rows * cols * 4) invalid(file, `has ${size} bytes, a (${rows}, ${cols}) float32 array after a ${offset}-byte header needs ${offset + rows * cols * 4}`);
  return { rows, cols, offset };
}

async function readNpy(file: string, acc: RowAccumulator): Promise<void> {
  const idsFile = idsFileOf(file);
  const handle = await fs.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const head = Buffer.alloc(Math.min(size, 65_536 + 12));
    await handle.read(head, 0, head.length, 0);
    const { rows, cols, offset } = parseNpyHeader(file, head, size);
    acc.checkDim(cols, `shape (${rows}, ${cols})`);
    // Rows are read in blocks of ~1 MB, in step with the id file's lines.
    const blockRows = Math.max(1, Math.floor((1 << 20) / Math.max(1, cols * 4)));
    const block = Buffer.alloc(blockRows * cols * 4);
    const view = new Float32Array(blockRows * cols);
    let blockStart = 0;
    let blockEnd = 0;
    let i = 0;
    const lines = createInterface({ input: openStream(idsFile), crlfDelay: Infinity });
    for await (const raw of lines) {
      const id = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (i >= rows) {
        if (id.length === 0) continue;
        invalid(file, `its id file ${idsFile} has more ids than the array's ${rows} rows`);
      }
      if (i >= blockEnd) {
        blockStart = i;
        blockEnd = Math.min(rows, i + blockRows);
        const bytes = (blockEnd - blockStart) * cols * 4;
        await handle.read(block, 0, bytes, offset + blockStart * cols * 4);
        for (let k = 0; k < (blockEnd - blockStart) * cols; k++) view[k] = block.readFloatLE(k * 4);
      }
      acc.add(id, view, (i - blockStart) * cols, `row ${i} (line ${i + 1} of ${idsFile})`);
      i++;
    }
    if (i !== rows) invalid(file, `its id file ${idsFile} has ${i} ids for the array's ${rows} rows`);
  } finally {
    await handle.close();
  }
}

function openStream(file: string): NodeJS.ReadableStream {
  return createReadStream(file, { encoding: 'utf8' });
}

/** A read error (missing file, a directory, no permission) as REB_INPUT_INVALID naming the file. */
async function readingErrors<T>(file: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof RebalancerError) throw err;
    throw new RebalancerError('REB_INPUT_INVALID', `item embeddings ${file} cannot be read: ${(err as Error).message}`, { file }, { cause: err });
  }
}
