/**
 * Generates src/model/kernels-wasm.bytes.ts: the WebAssembly SIMD module behind
 * src/model/kernels-wasm.ts, assembled here byte by byte (no toolchain needed).
 *   node --import tsx scripts/gen-kernels-wasm.ts
 * test/model/kernels-wasm.test.ts checks that the checked-in file equals this output.
 *
 * The module imports its memory ("env" "memory") and exports two functions (arguments are
 * byte addresses in it, but for counts and widths):
 * - layer(idx, val, nnz, w, b, width, outIdx, outVal, rows) -> i32, the twin of kernels.ts
 *   `sparseReluLayer`: out_j = relu(b_j + Σ_{t<nnz} val_t·W[idx_t, j]) for W [·, width] f64
 *   row-major, written as a sparse list (outIdx i32, outVal f64: every j is written at
 *   position n and counted when out_j > 0, no branch), returning its length; `rows` is
 *   scratch (nnz i32). width must be a multiple of 8: eight outputs at a time in four f64x2
 *   accumulators, so each input value is splatted once per eight weights.
 * - towers(…), the twin of kernels.ts `JsTower.towers` for a batch of candidates (below).
 * Each output is the same sequence of IEEE-754 double multiplies and adds as in the JS
 * kernels (SIMD 128 has no fused multiply-add), hence bit-identical sums.
 *
 * Encodings: WebAssembly Core Specification 2.0 (W3C, https://www.w3.org/TR/wasm-core-2/),
 * chapter 5 "Binary Format" (§ numbers below are that edition's); the vector (SIMD)
 * instructions are §5.4.8, from the fixed-width SIMD proposal
 * (https://github.com/WebAssembly/simd, proposals/simd/BinarySIMD.md).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

type Code = number[];

/** Unsigned / signed LEB128 (§5.2.2). */
function uleb(n: number): Code {
  const out: Code = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}
function sleb(n: number): Code {
  const out: Code = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}
const vec = (items: Code[]): Code => [...uleb(items.length), ...items.flat()];
const name = (s: string): Code => vec([...Buffer.from(s, 'utf8')].map((b) => [b]));
const section = (id: number, body: Code): Code => [id, ...uleb(body.length), ...body];

const I32 = 0x7f;
const F64 = 0x7c;
const V128 = 0x7b;

// Instructions in folded form, as in the text format: operands first, then the opcode.
const op =
  (...opcode: Code) =>
  (...operands: Code[]): Code => [...operands.flat(), ...opcode];
/** A memory instruction with its memarg (§5.4.6): alignment exponent, then a constant offset. */
const mem =
  (align: number, ...opcode: Code) =>
  (address: Code, offset = 0): Code => [...address, ...opcode, align, ...uleb(offset)];
const store =
  (align: number, opcode: number) =>
  (address: Code, value: Code): Code => [...address, ...value, opcode, align, 0];
/** The vector instruction prefix 0xFD and its u32 opcode (§5.4.8). */
const simd = (n: number): Code => [0xfd, ...uleb(n)];

const get = (local: number): Code => [0x20, ...uleb(local)];
const set = (local: number, value: Code): Code => [...value, 0x21, ...uleb(local)];
const i32 = (n: number): Code => [0x41, ...sleb(n)];
const f64 = (x: number): Code => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return [0x44, ...b];
};
const i32Add = op(0x6a);
const f64Add = op(0xa0);
const f64Mul = op(0xa2);
const i32Mul = op(0x6c);
const i32Shl = op(0x74);
const i32ShrU = op(0x76);
const i32GeU = op(0x4f);
const f64Gt = op(0x64);
const i32Load = mem(2, 0x28);
const f64Load = mem(3, 0x2b);
const i32Store = store(2, 0x36);
const f64Store = store(3, 0x39);
const v128Load = mem(4, ...simd(0)); // v128.load
const f64x2Splat = op(...simd(20)); // f64x2.splat
const f64x2Add = op(...simd(240)); // f64x2.add
const f64x2Mul = op(...simd(242)); // f64x2.mul
const f64x2ExtractLane = (v: Code, lane: number): Code => [...v, ...simd(33), lane]; // f64x2.extract_lane

/** for (counter = 0; counter < limit (unsigned); counter += step) body, as block + loop (§5.4.1). */
function forUp(counter: number, limit: Code, step: number, body: Code[]): Code {
  const loop = [0x0d, 1, ...body.flat(), ...set(counter, i32Add(get(counter), i32(step))), 0x0c, 0, 0x0b]; // br_if 1 … br 0 end
  return [...set(counter, i32(0)), 0x02, 0x40, 0x03, 0x40, ...i32GeU(get(counter), limit), ...loop, 0x0b];
}

const at4 = (base: number, i: number): Code => i32Add(get(base), i32Shl(get(i), i32(2)));
const at8 = (base: number, i: number): Code => i32Add(get(base), i32Shl(get(i), i32(3)));
const call = (func: number, args: Code[]): Code => [...args.flat(), 0x10, ...uleb(func)];

/** Function 0, `layer`: parameters, then locals (one local index space, §5.4.4, §5.5.13). */
const LAYER_PARAMS = 9;
const LAYER: Code = (() => {
  const [idx, val, nnz, w, b, width, outIdx, outVal, rows] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [t, j, n, o, rowBytes] = [9, 10, 11, 12, 13];
  const [v, a0] = [14, 15]; // a0..a3: 15..18
  const s = 19;
  const locals: Code[] = [
    [5, I32],
    [5, V128],
    [1, F64],
  ];
  const body: Code = [
    ...set(rowBytes, i32Shl(get(width), i32(3))),
    // rows[t] = address of W's row idx[t].
    ...forUp(t, get(nnz), 1, [i32Store(at4(rows, t), i32Add(get(w), i32Mul(i32Load(at4(idx, t)), get(rowBytes))))]),
    ...set(n, i32(0)),
    // j: byte offset of the block of eight outputs in a row (64 bytes).
    ...forUp(j, get(rowBytes), 64, [
      ...[0, 1, 2, 3].map((q) => set(a0 + q, v128Load(i32Add(get(b), get(j)), 16 * q))),
      forUp(t, get(nnz), 1, [
        set(v, f64x2Splat(f64Load(at8(val, t)))),
        set(o, i32Add(i32Load(at4(rows, t)), get(j))),
        ...[0, 1, 2, 3].map((q) => set(a0 + q, f64x2Add(get(a0 + q), f64x2Mul(get(v), v128Load(get(o), 16 * q))))),
      ]),
      ...[0, 1, 2, 3, 4, 5, 6, 7].map((k) => [
        ...set(s, f64x2ExtractLane(get(a0 + (k >> 1)), k & 1)),
        ...i32Store(at4(outIdx, n), i32Add(i32ShrU(get(j), i32(3)), i32(k))),
        ...f64Store(at8(outVal, n), get(s)),
        ...set(n, i32Add(get(n), f64Gt(get(s), f64(0)))),
      ]),
    ]),
    ...get(n),
  ];
  return [...vec(locals), ...body, 0x0b];
})();

/**
 * Function 1, `towers(pre, n, h1, user, idx0, val0, table, layers, lastIdx, lastVal, outMlp,
 * out, rows, bias: f64)`: for each of n candidates, out_i = bias + Σ_t lastVal_t·outMlp[lastIdx_t]
 * after h_1 = relu(pre_i + user) as the list (idx0, val0) and `layers` calls of `layer`
 * whose arguments are the table's rows of 7 i32 [idx, val, w, b, width, outIdx, outVal].
 * Scalar f64 sums in JsTower's order.
 */
const TOWERS_PARAMS = 14;
const TOWERS: Code = (() => {
  const [pre, n, h1, user, idx0, val0, table, layers, lastIdx, lastVal, outMlp, out, rows, bias] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
  const [i, j, t, l, nnz, row, e] = [14, 15, 16, 17, 18, 19, 20];
  const [z, s] = [21, 22];
  const locals: Code[] = [
    [7, I32],
    [2, F64],
  ];
  const body: Code = forUp(i, get(n), 1, [
    set(row, i32Add(get(pre), i32Shl(i32Mul(get(i), get(h1)), i32(3)))),
    set(nnz, i32(0)),
    forUp(j, get(h1), 1, [
      set(z, f64Add(f64Load(at8(row, j)), f64Load(at8(user, j)))),
      i32Store(at4(idx0, nnz), get(j)),
      f64Store(at8(val0, nnz), get(z)),
      set(nnz, i32Add(get(nnz), f64Gt(get(z), f64(0)))),
    ]),
    forUp(l, get(layers), 1, [
      set(e, i32Add(get(table), i32Mul(get(l), i32(28)))),
      set(nnz, call(0, [i32Load(get(e), 0), i32Load(get(e), 4), get(nnz), i32Load(get(e), 8), i32Load(get(e), 12), i32Load(get(e), 16), i32Load(get(e), 20), i32Load(get(e), 24), get(rows)])),
    ]),
    set(s, get(bias)),
    forUp(t, get(nnz), 1, [set(s, f64Add(get(s), f64Mul(f64Load(at8(lastVal, t)), f64Load(i32Add(get(outMlp), i32Shl(i32Load(at4(lastIdx, t)), i32(3)))))))]),
    f64Store(at8(out, i), get(s)),
  ]);
  return [...vec(locals), ...body, 0x0b];
})();

/** The module's bytes (§5.5: preamble, then the type, import, function, export and code sections). */
export function kernelsWasmBytes(): Uint8Array {
  const params = (count: number): Code => vec(Array.from({ length: count }, () => [I32]));
  const layerType = [0x60, ...params(LAYER_PARAMS), ...vec([[I32]])];
  const towersType = [0x60, ...uleb(TOWERS_PARAMS), ...Array.from({ length: TOWERS_PARAMS - 1 }, () => I32), F64, ...vec([])];
  const memoryImport = [...name('env'), ...name('memory'), 0x02, 0x00, ...uleb(1)]; // memory, limits {min 1}
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([layerType, towersType])),
    ...section(2, vec([memoryImport])),
    ...section(3, vec([uleb(0), uleb(1)])),
    ...section(7, vec([[...name('layer'), 0x00, ...uleb(0)], [...name('towers'), 0x00, ...uleb(1)]])),
    ...section(10, vec([LAYER, TOWERS].map((f) => [...uleb(f.length), ...f]))),
  ]);
}

/** The text of src/model/kernels-wasm.bytes.ts for `bytes`. */
export function kernelsWasmSource(bytes: Uint8Array): string {
  const hex = [...bytes].map((x) => `0x${x.toString(16).padStart(2, '0')}`);
  const lines: string[] = [];
  for (let i = 0; i < hex.length; i += 16) lines.push(`  ${hex.slice(i, i + 16).join(', ')},`);
  return [
    '/**',
    ' * GENERATED by scripts/gen-kernels-wasm.ts: do not edit. Regenerate with',
    ' *   node --import tsx scripts/gen-kernels-wasm.ts',
    ' * (test/model/kernels-wasm.test.ts checks it equals the generator output). The WebAssembly',
    ' * SIMD module of kernels-wasm.ts: imports "env" "memory", exports `layer` and `towers`.',
    ' */',
    `export const KERNELS_WASM = new Uint8Array([`,
    ...lines,
    ']);',
    '',
  ].join('\n');
}

export const BYTES_FILE = join(import.meta.dirname, '..', 'src', 'model', 'kernels-wasm.bytes.ts');

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const bytes = kernelsWasmBytes();
  writeFileSync(BYTES_FILE, kernelsWasmSource(bytes));
  console.log(`wrote ${BYTES_FILE} (${bytes.length} bytes of WebAssembly)`);
}
