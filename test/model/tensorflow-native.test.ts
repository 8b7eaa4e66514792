import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-node';

describe('native TensorFlow', () => {
  it('loads the tensorflow backend (not the pure-JS cpu fallback)', () => {
    assert.equal(tf.getBackend(), 'tensorflow');
    // The binding reports the C library's version; setup supplies 2.15 from the PyPI wheel.
    assert.match(String(tf.version['tfjs-node']), /^4\./);
  });

  it('a small model.fit step changes the weights', async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [3], kernelInitializer: 'zeros' })] });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
    const before = (model.getWeights()[0]!.dataSync() as Float32Array).slice();
    const xs = tf.tensor2d([[1, 2, 3], [0, 1, 0], [2, 0, 1], [1, 1, 1]]);
    const ys = tf.tensor2d([[1], [0], [1], [1]]);
    const history = await model.fit(xs, ys, { epochs: 1, batchSize: 4, verbose: 0 });
    const after = model.getWeights()[0]!.dataSync() as Float32Array;
    assert.ok(Number.isFinite(history.history.loss![0] as number));
    assert.notDeepEqual(Array.from(after), Array.from(before));
    // One SGD step from zero weights moves each weight by -lr * dL/dw = lr * 2/n * sum(x_j * y): all positive here.
    assert.ok(Array.from(after).every((w) => w > 0), `weights ${Array.from(after)}`);
    tf.dispose([xs, ys]);
    model.dispose();
  });
});
