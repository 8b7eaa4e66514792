/**
 * The WebAssembly SIMD kernels of the snapshot scorer (src/model/kernels-wasm.ts): the
 * checked-in module equals its generator's output, `layer` and the whole tower are
 * bit-identical to the JS kernels on random inputs (uneven widths, no hidden layer, more
 * candidates than one chunk), and a runtime where the module does not validate gets the
 * JS kernels.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BYTES_FILE, kernelsWasmBytes, kernelsWasmSource } from '../../scripts/gen-kernels-wasm.js';
import { Rng } from '../../src/balance/rng.js';
import { KERNELS_WASM } from '../../src/model/kernels-wasm.bytes.js';
import { instantiateKernels, wasmKernelsAvailable, wasmTower } from '../../src/model/kernels-wasm.js';
import { doublesFrom, ints, JsTower, sparseReluLayer, type TowerWeights } from '../../src/model/kernels.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** Equal bit patterns (so −0 ≠ 0 and NaN payloads count). */
function assertBitIdentical(actual: Float64Array, expected: Float64Array, what: string): void {
  assert.equal(actual.length, expected.length, what);
  const a = new BigUint64Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new BigUint64Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) assert.equal(a[i], e[i], `${what}: entry ${i}: ${actual[i]} vs ${expected[i]}`);
}

const normals = (rng: Rng, n: number, scale: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal() * scale);

function randomTower(rng: Rng, widths: number[]): TowerWeights {
  return {
    widths,
    hiddenW: widths.slice(1).map((w, l) => normals(rng, widths[l]! * w, 0.3)),
    hiddenB: widths.slice(1).map((w) => normals(rng, w, 0.3)),
    outMlp: normals(rng, widths.at(-1)!, 0.5),
    outBias: rng.normal(),
  };
}

describe('WebAssembly SIMD kernels', () => {
  it('the checked-in module is the generator output', () => {
    const bytes = kernelsWasmBytes();
    assert.equal(readFileSync(BYTES_FILE, 'utf8'), kernelsWasmSource(bytes), 'run: node --import tsx scripts/gen-kernels-wasm.ts');
    assert.deepEqual(KERNELS_WASM, bytes);
  });

  it('this runtime (Node >= 20) validates and runs it', () => {
    assert.equal(wasmKernelsAvailable(), true);
    assert.notEqual(wasmTower(randomTower(new Rng(1), [8, 8])), null);
  });

  it('layer equals sparseReluLayer bit for bit (widths padded to 8 columns)', () => {
    const rng = new Rng(11);
    const kernels = instantiateKernels(1 << 20)!;
    const { buffer } = kernels;
    // Regions: input list, output list, row scratch, then W and b.
    const [idxAt, valAt, outIdxAt, outValAt, rowsAt, bAt, wAt] = [0, 1024, 2048, 4096, 8192, 9216, 16384];
    let counted = 0;
    for (let c = 0; c < 300; c++) {
      const inputs = 1 + rng.int(40);
      const width = 1 + rng.int(40);
      const padded = Math.ceil(width / 8) * 8;
      const w = normals(rng, inputs * width, 0.5);
      const b = normals(rng, width, 0.5);
      // A sparse input: a random subset of the rows, positive values as after a relu (and any sign, once in a while).
      const idx = Array.from({ length: inputs }, (_, i) => i).filter(() => rng.next() < 0.5);
      const val = idx.map(() => (c % 10 === 0 ? rng.normal() : Math.abs(rng.normal())));
      const wPadded = new Float64Array(buffer, wAt, inputs * padded).fill(0);
      for (let r = 0; r < inputs; r++) for (let k = 0; k < width; k++) wPadded[r * padded + k] = w[r * width + k]!;
      new Float64Array(buffer, bAt, padded).fill(0).set(b);
      new Int32Array(buffer, idxAt, idx.length).set(idx);
      new Float64Array(buffer, valAt, val.length).set(val);
      const n = kernels.exports.layer(idxAt, valAt, idx.length, wAt, bAt, padded, outIdxAt, outValAt, rowsAt);

      const outIdx = ints(width);
      const outVal = doublesFrom(new Float64Array(width));
      const expected = sparseReluLayer(idx, val, idx.length, doublesFrom(w), doublesFrom(b), width, outIdx, outVal, ints(inputs));
      assert.equal(n, expected, `case ${c}: ${inputs} → ${width}, nnz ${idx.length}`);
      assert.deepEqual([...new Int32Array(buffer, outIdxAt, n)], outIdx.slice(0, n));
      assertBitIdentical(new Float64Array(buffer, outValAt, n).slice(), Float64Array.from(outVal.slice(0, n)), `case ${c}`);
      counted += n;
    }
    assert.ok(counted > 1000, `the cases produce activations (${counted})`);
  });

  for (const [name, widths, n] of [
    ['the default widths, three chunks of candidates', [64, 32, 16], 1300],
    ['uneven widths', [13, 6, 3], 700],
    ['no hidden layer', [12], 50],
    ['a wide and deep tower', [5, 40, 9, 17, 8], 300],
    ['one candidate', [64, 32, 16], 1],
  ] as const) {
    it(`towers equal JsTower bit for bit: ${name}`, () => {
      const rng = new Rng(widths.length * 1000 + n);
      const weights = randomTower(rng, [...widths]);
      const h1 = widths[0];
      const pre = Float64Array.from({ length: n * h1 }, () => rng.normal());
      const userPre = Array.from({ length: h1 }, () => rng.normal() * 0.5);
      const js = new Float64Array(n);
      new JsTower(weights).towers(pre, n, userPre, js);
      const tower = wasmTower(weights)!;
      assert.equal(tower.kind, 'wasm');
      // Twice: the second call reuses the instance's memory (user part, lists, chunk).
      for (const run of [1, 2]) {
        const wasm = new Float64Array(n + 3).fill(7);
        tower.towers(pre, n, userPre, wasm);
        assertBitIdentical(wasm.subarray(0, n), js, `run ${run}`);
        assert.deepEqual([...wasm.subarray(n)], [7, 7, 7], 'nothing written past n');
      }
      // Not vacuous: the hidden layers move the outputs away from b_out, differently per candidate.
      assert.ok(js.filter((s) => s !== weights.outBias).length >= n / 3, 'the hidden layers reach the output for most candidates');
      assert.ok(new Set(js).size >= n / 3, 'outputs vary by candidate');
    });
  }

  for (const [what, prelude, available] of [
    // WebAssembly.validate answering false stands for a runtime without SIMD (tsx's own WebAssembly use is untouched).
    ['does not validate the module', 'WebAssembly.validate = () => false;', false],
    ['cannot allocate its memory', "WebAssembly.Memory = class { constructor() { throw new RangeError('out of memory'); } };", true],
  ] as const) {
    it(`a runtime that ${what} gets the JS kernels`, () => {
      const script = [
        prelude,
        "const { wasmKernelsAvailable, wasmTower } = await import('./src/model/kernels-wasm.ts');",
        "const { SnapshotScorer } = await import('./src/model/snapshot.ts');",
        "const { resolveModelConfig } = await import('./src/model/config.ts');",
        "const { denseShapes, rowWidth, sizeOf } = await import('./src/model/layout.ts');",
        'const config = resolveModelConfig({ userRows: 16, itemRows: 16, categoryRows: 4, pairRows: 64, wideFeatures: false });',
        'const w = rowWidth(config);',
        'const table = (rows) => new Float32Array(rows * w).fill(0.1);',
        'const dense = denseShapes(config).map((s) => new Float32Array(sizeOf(s)).fill(0.05));',
        'const snapshot = { seq: 0, steps: 0, servingTau: 0, config, userTable: table(16), itemTable: table(16), categoryTable: table(4), dense, features: null };',
        'const scorer = new SnapshotScorer(snapshot);',
        "const scores = scorer.score('u', [{ itemId: 'i', categoryId: 'c' }]);",
        'console.log(JSON.stringify({ available: wasmKernelsAvailable(), tower: wasmTower({ widths: [8], hiddenW: [], hiddenB: [], outMlp: new Float32Array(8), outBias: 0 }), kind: scorer.kernel, score: scores[0] }));',
      ].join('\n');
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { available: boolean; tower: unknown; kind: string; score: number };
      assert.deepEqual({ available: out.available, tower: out.tower, kind: out.kind }, { available, tower: null, kind: 'js' });
      assert.ok(Number.isFinite(out.score) && out.score !== 0, `a score from the JS kernels: ${out.score}`);
    });
  }
});
