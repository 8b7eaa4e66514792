/**
 * `run --item-embeddings FILE` (issue #16): each given vector is placed at its item's hashed
 * row of the item table (read back equal; ids sharing a row get their mean), every other row
 * keeps the fresh initialisation, the CSV and the .npy + .ids formats give the same table, and
 * a vector of the wrong width is REB_INPUT_INVALID naming the file and both widths.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Rng } from '../../src/balance/index.js';
import { defaultConfig, loadConfig, type ServiceConfig } from '../../src/config/index.js';
import { isRebalancerError } from '../../src/errors.js';
import { createModel, initialTrainer, type RecModel } from '../../src/model/index.js';
import { idSpaces } from '../../src/model/layout.js';
import { ModelAdapter, modelConfigOf, prepareInitOf, trainerConfigOf } from '../../src/train/model-adapter.js';

// 64 item rows for 120 ids: several rows are shared (hash collisions), most are not.
const CONFIG = defaultConfig({ modelUserRows: 64, modelItemRows: 64, modelDim: 4, seed: 3 });
const WIDTH = 8;
const root = mkdtempSync(join(tmpdir(), 'rebalancer-item-vectors-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** 120 ids with float32 vectors (so a decimal written with JavaScript's shortest form reads back exactly). */
function vectors(n: number, width: number, seed: number): Array<{ id: string; v: number[] }> {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => ({ id: `item-${i}`, v: Array.from({ length: width }, () => Math.fround(rng.normal())) }));
}

function writeCsv(name: string, rows: ReadonlyArray<{ id: string; v: readonly number[] }>, header = true): string {
  const file = join(root, name);
  const lines = rows.map((r) => `${r.id},${r.v.map(String).join(',')}`);
  writeFileSync(file, `${header ? `itemId,${rows[0]!.v.map((_, j) => `v${j + 1}`).join(',')}\n` : ''}${lines.join('\r\n')}\n`);
  return file;
}

/** A NumPy .npy file (format 1.0) of little-endian float32 and its sidecar .ids, as np.save writes it. */
function writeNpy(name: string, rows: ReadonlyArray<{ id: string; v: readonly number[] }>, descr = '<f4'): string {
  const file = join(root, `${name}.npy`);
  const d = rows[0]!.v.length;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${rows.length}, ${d}), }`;
  dict = dict.padEnd(Math.ceil((10 + dict.length + 1) / 64) * 64 - 10 - 1) + '\n';
  const head = Buffer.alloc(10);
  head[0] = 0x93;
  head.write('NUMPY', 1, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(dict.length, 8);
  const data = Buffer.alloc(rows.length * d * 4);
  rows.forEach((r, i) => r.v.forEach((x, j) => data.writeFloatLE(x, (i * d + j) * 4)));
  writeFileSync(file, Buffer.concat([head, Buffer.from(dict, 'latin1'), data]));
  writeFileSync(join(root, `${name}.ids`), rows.map((r) => r.id).join('\n'));
  return file;
}

async function modelWith(file: string, config: ServiceConfig = CONFIG): Promise<RecModel> {
  const c = defaultConfig({ ...config, itemEmbeddings: file });
  return initialTrainer(await prepareInitOf(c), modelConfigOf(c), trainerConfigOf(c), new Rng(10), new Rng(11)).model;
}

function rowOf(model: RecModel, row: number): number[] {
  return Array.from(model.itemTable.subarray(row * WIDTH, (row + 1) * WIDTH));
}

describe('--item-embeddings', () => {
  const given = vectors(120, WIDTH, 1);
  const items = idSpaces(createModel(modelConfigOf(CONFIG), new Rng(0)).config).items;
  const byRow = new Map<number, number[][]>();
  for (const g of given) {
    const r = items.peekRow(g.id);
    byRow.set(r, [...(byRow.get(r) ?? []), g.v]);
  }

  it('puts each vector at its item\'s hashed row (read back equal), the mean where ids share a row, and leaves the other rows fresh', async () => {
    const model = await modelWith(writeCsv('items.csv', given));
    const fresh = createModel(modelConfigOf(CONFIG), new Rng(10));
    let alone = 0;
    let shared = 0;
    for (let r = 0; r < 64; r++) {
      const vs = byRow.get(r);
      if (vs === undefined) {
        assert.deepEqual(rowOf(model, r), rowOf(fresh, r), `row ${r} (no vector) keeps its initialisation`);
      } else if (vs.length === 1) {
        alone++;
        assert.deepEqual(rowOf(model, r), vs[0], `row ${r}: the vector as given`);
      } else {
        shared++;
        const mean = vs[0]!.map((_, j) => Math.fround(vs.reduce((s, v) => s + v[j]!, 0) / vs.length));
        assert.deepEqual(rowOf(model, r), mean, `row ${r}: the mean of ${vs.length} vectors`);
      }
    }
    assert.ok(alone >= 10 && shared >= 10, `${alone} rows with one vector, ${shared} shared`);
    // Via the item's own id too: the model's itemEmbedding reads the row the id hashes to.
    const g = given.find((x) => byRow.get(items.peekRow(x.id))!.length === 1)!;
    assert.deepEqual(rowOf(model, model.items.peekRow(g.id)), g.v);
    // The user and category tables and the dense weights are untouched.
    assert.deepEqual(model.userTable, fresh.userTable);
    assert.deepEqual(model.dense, fresh.dense);
  });

  it('reads the .npy + .ids pair into the same table as the CSV (ids in another order, no header)', async () => {
    const shuffled = [...given].reverse();
    const fromCsv = await modelWith(writeCsv('plain.csv', shuffled, false));
    const fromNpy = await modelWith(writeNpy('items', shuffled));
    assert.deepEqual(fromNpy.itemTable, fromCsv.itemTable);
    assert.deepEqual(fromNpy.itemTable, (await modelWith(writeCsv('items2.csv', given))).itemTable, 'the order of the lines does not matter');
  });

  it('the service starts from them (inline model: other scores than without)', async () => {
    const file = writeCsv('service.csv', given);
    const withVectors = await ModelAdapter.createInitialised(defaultConfig({ ...CONFIG, itemEmbeddings: file }), new Rng(1), () => 0.1);
    const without = ModelAdapter.create(CONFIG, new Rng(1), () => 0.1);
    const candidates = given.slice(0, 20).map((g) => ({ itemId: g.id, categoryId: 'c1' }));
    assert.notDeepEqual(withVectors.recommend('u1', candidates, 20), without.recommend('u1', candidates, 20));
    await withVectors.stop();
    await without.stop();
  });

  it('rejects vectors of the wrong width with REB_INPUT_INVALID naming the file and both widths', async () => {
    const narrow = vectors(5, 5, 2);
    for (const file of [writeCsv('narrow.csv', narrow), writeNpy('narrow', narrow)]) {
      await assert.rejects(modelWith(file), (e: unknown) => {
        assert.ok(isRebalancerError(e, 'REB_INPUT_INVALID'), String(e));
        assert.ok(e.message.includes(file), e.message);
        assert.match(e.message, /the vectors have 5 dimensions, the model's item rows have 8 \(4 GMF \+ 4 MLP values; --model-dim 4 sets both\)/);
        return true;
      });
    }
  });

  it('rejects malformed files with REB_INPUT_INVALID: ragged rows, bad numbers, duplicate ids, a missing id file, another dtype', async () => {
    const bad = (name: string, text: string): string => {
      const file = join(root, name);
      writeFileSync(file, text);
      return file;
    };
    const v = (n: number): string => Array.from({ length: n }, (_, j) => String(j / 10)).join(',');
    const cases: Array<[string, RegExp]> = [
      [bad('ragged.csv', `a,${v(8)}\nb,${v(7)}\n`), /line 2 has 7 values, the first vector has 8/],
      [bad('nan.csv', `a,${v(7)},x\n`), /line 1: value 8 \("x"\) is not a finite number/],
      [bad('dup.csv', `a,${v(8)}\nb,${v(8)}\na,${v(8)}\n`), /line 3: item "a" is given twice/],
      [bad('empty.csv', 'itemId,v1\n'), /holds no vectors/],
      [join(root, 'missing.csv'), /cannot be read/],
    ];
    const npy = writeNpy('noids', vectors(3, WIDTH, 4));
    rmSync(join(root, 'noids.ids'));
    cases.push([npy, /cannot be read.*noids\.ids/]);
    cases.push([writeNpy('f8', vectors(3, WIDTH, 4), '<f8'), /dtype "<f8"; little-endian float32/]);
    const short = writeNpy('short', vectors(3, WIDTH, 4));
    writeFileSync(join(root, 'short.ids'), 'a\nb\n');
    cases.push([short, /has 2 ids for the array's 3 rows/]);
    for (const [file, message] of cases) {
      await assert.rejects(modelWith(file), (e: unknown) => isRebalancerError(e, 'REB_INPUT_INVALID') && message.test(e.message) && e.message.includes(file), `${file}: ${String(message)}`);
    }
    // The setting itself takes a .csv or a .npy path.
    assert.throws(() => loadConfig({ flags: { itemEmbeddings: 'vectors.txt' } }), (e: unknown) => isRebalancerError(e, 'REB_CONFIG_INVALID') && e.message.includes('--item-embeddings'));
  });
});
