/**
 * Synthetic minority samples through the service (issue #16; --synthetic): the balance
 * adapter fills a share --synthetic-fraction of the replay slots with synthetic samples, of
 * categories with at least two reservoir events only, weighted × --synthetic-weight; a
 * Gaussian sample is handed over only once the trainer has a fitted Gaussian for its category
 * (a replay, counted as one, before); the pipeline counts them in
 * rebalancer_batch_samples_total{source="synthetic"}; the batch codec carries them to the
 * trainer worker, which trains them exactly as inline training does.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, it } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { from } from 'rxjs';
import { Rng, SOURCE_REPLAY, SOURCE_SYNTHETIC } from '../../src/balance/index.js';
import { createEventCodec, type InteractionEvent } from '../../src/codec/index.js';
import { defaultConfig, type ServiceConfig } from '../../src/config/index.js';
import { DEFAULT_MODEL_CONFIG } from '../../src/model/config.js';
import { GAUSSIAN_MIN_OBSERVATIONS } from '../../src/model/gaussian-oversampler.js';
import { isSyntheticEvent, syntheticEvent } from '../../src/model/latent-smote.js';
import { idSpaces } from '../../src/model/layout.js';
import { BalanceAdapter, freshFirst, type EventBatch } from '../../src/train/balance-adapter.js';
import { ModelAdapter } from '../../src/train/model-adapter.js';
import type { ModelPort } from '../../src/ports/index.js';
import type { RecordChunk } from '../../src/ingest/source.js';
import { createGenerator } from '../../src/offline/generate.js';
import { BatchEncoder, decodeBatch } from '../../src/train/batch-codec.js';
import { toWorkerSchema, type TrainMessage } from '../../src/train/protocol.js';
import { TrainerThread } from '../../src/train/trainer-thread.js';
import { BalanceFeed } from '../helpers/balance-feed.js';
import { PipelineProbe } from '../helpers/pipeline.js';

const trainable = (t: InteractionEvent['type']): boolean => t !== 'view';


const base = (over: Partial<ServiceConfig>): ServiceConfig => defaultConfig({ weightPolicy: 'none', targetMixRho: 0.3, batchSize: 64, reservoirSize: 16, maxMicroLoss: 0, ...over });

describe('--synthetic latent_smote in the composed batches', () => {
  it('synthetic samples of categories with >= 2 reservoir events only, two distinct events of that reservoir, ≈ --synthetic-fraction of the eligible replay slots, weighted × --synthetic-weight; counted by source', () => {
    const feed = new BalanceFeed(base({ synthetic: 'latent_smote', syntheticFraction: 0.4, syntheticWeight: 2 }), 3);
    let synthetic = 0;
    let eligibleReplays = 0;
    let smallReplays = 0;
    const counted = { fresh: 0, replay: 0, synthetic: 0 };
    for (let k = 0; k < 150; k++) {
      const batch = feed.next(64);
      const st = feed.balance.state;
      const plain = new Set<number>();
      batch.sources.forEach((source, i) => {
        if (source !== SOURCE_SYNTHETIC) plain.add(batch.weights[i]!);
      });
      assert.equal(plain.size, 1, 'policy none: every fresh and replayed sample has the batch weight');
      const [w] = [...plain];
      let inBatch = 0;
      batch.items.forEach((e, i) => {
        const stored = st.reservoir(e.categoryId);
        if (batch.sources[i] === SOURCE_SYNTHETIC) {
          inBatch++;
          assert.ok(isSyntheticEvent(e), 'a synthetic item carries its events');
          const { a, b, lambda, kind } = e.synthetic;
          assert.equal(kind, 'latent_smote');
          assert.ok(stored.length >= 2, `${e.categoryId}: ${stored.length} reservoir events`);
          assert.ok(a !== b && stored.includes(a) && stored.includes(b), 'two distinct events of the category\'s reservoir');
          assert.ok(lambda >= 0 && lambda < 1);
          assert.ok(Math.abs(batch.weights[i]! - 2 * w!) < 1e-6, `synthetic weight ${batch.weights[i]} = 2 × ${w}`);
        } else if (batch.sources[i] === SOURCE_REPLAY) {
          assert.ok(!isSyntheticEvent(e));
          if (stored.length >= 2) eligibleReplays++;
          else smallReplays++;
        }
      });
      synthetic += inBatch;
      const sources = feed.balance.batchSources(batch);
      assert.equal(sources.synthetic, inBatch, 'batchSources (what the pipeline counts in the metric) counts them');
      counted.fresh += sources.fresh;
      counted.replay += sources.replay;
      counted.synthetic += sources.synthetic;
    }
    assert.deepEqual(feed.balance.composedSamples(), counted, 'the /state and live-view batch mix');
    const slots = synthetic + eligibleReplays;
    const share = synthetic / slots;
    const sd = Math.sqrt((0.4 * 0.6) / slots);
    assert.ok(slots > 1_000, `${slots} eligible replay slots`);
    assert.ok(Math.abs(share - 0.4) < 4 * sd, `synthetic share of the eligible replay slots ${share} (${synthetic}/${slots}), expected 0.4 ± ${4 * sd}`);
    assert.ok(smallReplays > 100, `${smallReplays} replay slots of categories with fewer than 2 reservoir events stayed replays`);
  });

  it('--synthetic off (the default): no synthetic sample, and the batches are exactly those of a fraction of 0', () => {
    assert.equal(defaultConfig().synthetic, 'off');
    const off = new BalanceFeed(base({ syntheticFraction: 0.9 }), 3);
    const zero = new BalanceFeed(base({ synthetic: 'latent_smote', syntheticFraction: 0 }), 3);
    for (let k = 0; k < 60; k++) {
      const a = off.next(64);
      const b = zero.next(64);
      assert.equal(a.report.synthetic, 0);
      assert.ok(a.items.every((e) => !isSyntheticEvent(e)));
      assert.deepEqual(a.items.map((e) => e.eventId), b.items.map((e) => e.eventId));
      assert.deepEqual([...a.sources], [...b.sources]);
    }
    assert.equal(off.balance.composedSamples().synthetic, 0);
  });
});

describe('--synthetic gaussian in the composed batches', () => {
  it('a category\'s synthetic slots are replays (counted as such) until the trainer has fitted 32 of its replayed positives; then Gaussian samples', () => {
    const feed = new BalanceFeed(base({ synthetic: 'gaussian', syntheticFraction: 0.5 }), 5);
    // The trainer's keys: the category's hashed row.
    const space = idSpaces(DEFAULT_MODEL_CONFIG).categories;
    const fitted = new Map<number, number>();
    let synthetic = 0;
    let before = 0;
    for (let k = 0; k < 150; k++) {
      const batch = feed.next(64);
      batch.items.forEach((e, i) => {
        if (batch.sources[i] !== SOURCE_SYNTHETIC) return;
        assert.ok(isSyntheticEvent(e) && e.synthetic.kind === 'gaussian' && e.synthetic.a.categoryId === e.categoryId);
        const n = fitted.get(space.peekRow(e.categoryId)) ?? 0;
        assert.ok(n >= GAUSSIAN_MIN_OBSERVATIONS, `${e.categoryId}: a Gaussian sample after ${n} fitted replays`);
        synthetic++;
      });
      batch.items.forEach((e, i) => {
        if (batch.sources[i] !== SOURCE_REPLAY) return;
        const key = space.peekRow(e.categoryId);
        const n = fitted.get(key) ?? 0;
        if (n < GAUSSIAN_MIN_OBSERVATIONS) before++;
        fitted.set(key, n + 1);
      });
    }
    assert.ok(before > 100, `${before} replays of categories not fitted yet`);
    assert.ok(synthetic > 500, `${synthetic} Gaussian samples once fitted`);
  });
});

/** A model port that records the batches it is handed. */
function recordingModel(): ModelPort<EventBatch> & { batches: EventBatch[] } {
  const batches: EventBatch[] = [];
  return {
    batches,
    version: 'test',
    nativeBackend: false,
    trainsOn: trainable,
    train: (batch) => {
      batches.push(batch);
      return Promise.resolve({ loss: 0.5 });
    },
    recommend: () => [],
    coldStart: () => null,
    evaluation: () => ({ hitRateByCategory: new Map(), evaluationsByCategory: new Map(), hitRateMacro: 0, hitRateMicro: 0, ndcgMacro: 0, ndcgMicro: 0, adjustment: { tau: 0, microCost: 0, macroGain: 0 } }),
    save: () => ({ version: 'test', done: Promise.resolve() }),
    trainedEvents: 0,
  };
}

describe('--synthetic in the pipeline', () => {
  it('rebalancer_batch_samples_total{source} counts the synthetic samples of the batches handed to the model', async () => {
    const codec = createEventCodec();
    const gen = createGenerator({ profile: 'realistic', seed: 2, events: 4_000 });
    const messages: KafkaMessage[] = [];
    for (let i = 0; i < 4_000; i++) {
      const e = gen.next();
      const value = codec.encode(e);
      messages.push({ key: Buffer.from(e.userId), value, timestamp: String(e.eventTime), attributes: 0, offset: String(i), size: value.length });
    }
    const chunk: RecordChunk = { topic: 'events', partition: 0, messages, bytes: messages.reduce((n, m) => n + (m.value?.length ?? 0), 0) };
    const config = base({ synthetic: 'latent_smote', syntheticFraction: 0.5 });
    const balance = BalanceAdapter.create(config, new Rng(1));
    const model = recordingModel();
    const probe = new PipelineProbe();
    await probe.run(from([chunk]), { codec, balance, model, batchSize: config.batchSize, batchMaxWaitMs: 10_000 });
    const bySource = { fresh: 0, replay: 0, synthetic: 0 };
    for (const b of model.batches) {
      b.items.forEach((e, i) => {
        const s = b.sources[i]!;
        if (s === SOURCE_SYNTHETIC) {
          assert.ok(isSyntheticEvent(e));
          bySource.synthetic++;
        } else if (s === SOURCE_REPLAY) bySource.replay++;
        else bySource.fresh++;
      });
    }
    assert.ok(model.batches.length > 20 && bySource.synthetic > 50, `${model.batches.length} batches, ${bySource.synthetic} synthetic samples`);
    const text = await probe.registry.metrics();
    for (const [source, n] of Object.entries(bySource)) assert.match(text, new RegExp(`rebalancer_batch_samples_total\\{source="${source}"\\} ${n}\\n`), `${source}: ${n}`);
  });
});

describe('--synthetic through the trainer thread', () => {
  const threads: TrainerThread[] = [];
  afterEach(async () => {
    await Promise.all(threads.splice(0).map((t) => t.stop().catch(() => {})));
  });

  it('the batch codec carries synthetic samples as references to their events (same objects as the batch\'s other items), kind and λ; a reference into the fresh events is refused', () => {
    const feed = new BalanceFeed(base({ synthetic: 'latent_smote', syntheticFraction: 0.6 }), 7);
    const encoder = new BatchEncoder(null);
    let seen = 0;
    let shared = 0;
    let refused = 0;
    for (let k = 0; k < 40; k++) {
      const batch = feed.next(64);
      // One Gaussian sample too (its b is its a).
      const replayAt = batch.sources.indexOf(SOURCE_REPLAY);
      const items = [...batch.items];
      if (replayAt >= 0) items[replayAt] = syntheticEvent('gaussian', items[replayAt]!, items[replayAt]!, 1);
      const sources = Uint8Array.from(batch.sources);
      if (replayAt >= 0) sources[replayAt] = SOURCE_SYNTHETIC;
      const withGaussian: EventBatch = { ...batch, items, sources };
      const message = toWorkerSchema.parse(structuredClone(encoder.encode(withGaussian, k + 1)));
      assert.equal(message.type, 'train');
      const decoded = decodeBatch(message as TrainMessage);
      const expected = freshFirst(withGaussian).items;
      assert.equal(decoded.items.length, expected.length);
      // Identity: each event object of the batch (arrived, replayed, or in a synthetic sample) is one object on the worker.
      const twin = new Map<InteractionEvent, InteractionEvent>();
      const same = (original: InteractionEvent, copy: InteractionEvent): void => {
        assert.equal(copy.eventId, original.eventId);
        const known = twin.get(original);
        if (known === undefined) twin.set(original, copy);
        else {
          assert.equal(copy, known, `event ${original.eventId} is one object on the worker`);
          shared++;
        }
      };
      batch.arrived.forEach((e, i) => same(e, decoded.arrived[i]!));
      expected.forEach((e, i) => {
        const d = decoded.items[i]!;
        assert.equal(d.eventId, e.eventId);
        assert.equal(isSyntheticEvent(d), isSyntheticEvent(e));
        if (!isSyntheticEvent(e) || !isSyntheticEvent(d)) return;
        seen++;
        assert.equal(d.synthetic.kind, e.synthetic.kind);
        assert.equal(d.synthetic.lambda, e.synthetic.lambda);
        assert.deepEqual([d.synthetic.a.eventId, d.synthetic.b.eventId, d.synthetic.a.userId, d.synthetic.b.itemId], [e.synthetic.a.eventId, e.synthetic.b.eventId, e.synthetic.a.userId, e.synthetic.b.itemId]);
        same(e.synthetic.a, d.synthetic.a);
        same(e.synthetic.b, d.synthetic.b);
      });
      expected.forEach((e, i) => {
        if (!isSyntheticEvent(e)) same(e, decoded.items[i]!);
      });
      if (message.type === 'train' && message.synthetic !== undefined) {
        const bad = structuredClone(message);
        bad.synthetic!.index[0] = 0;
        if (bad.freshCount > 0) {
          assert.throws(() => toWorkerSchema.parse(bad), /points outside the batch or into its fresh events/);
          refused++;
        }
      }
    }
    assert.ok(seen > 100 && shared > 100 && refused > 10, `${seen} synthetic samples round-tripped, ${shared} events met twice, ${refused} bad messages refused`);
  });

  it('the trainer thread trains latent SMOTE and Gaussian samples as ModelAdapter inline does (1e-5), and another model than without them', async () => {
    for (const synthetic of ['latent_smote', 'gaussian'] as const) {
      const config = defaultConfig({ modelUserRows: 2048, modelItemRows: 2048, modelDim: 8, batchSize: 96, weightPolicy: 'none', targetMixRho: 0.3, synthetic, syntheticFraction: 0.5, maxMicroLoss: 0, seed: 11 });
      const offConfig = { ...config, synthetic: 'off' as const };
      const inlineFeed = new BalanceFeed(config, 5);
      const inline = ModelAdapter.create(config, new Rng(config.seed), inlineFeed.prior);
      const offFeed = new BalanceFeed(offConfig, 5);
      const off = ModelAdapter.create(offConfig, new Rng(config.seed), offFeed.prior);
      const threadFeed = new BalanceFeed(config, 5);
      const t = await TrainerThread.create({ config, rng: new Rng(config.seed), prior: threadFeed.prior, snapshotIntervalMs: 0, log: () => {}, now: () => performance.now() });
      threads.push(t);
      const losses: Array<[number, number, number]> = [];
      let synthetics = 0;
      for (let i = 0; i < 25; i++) {
        const batch = inlineFeed.next(config.batchSize);
        synthetics += batch.report.synthetic;
        const a = (await inline.train(batch)).loss;
        const b = (await t.train(threadFeed.next(config.batchSize))).loss;
        const c = (await off.train(offFeed.next(config.batchSize))).loss;
        losses.push([a, b, c]);
      }
      assert.ok(synthetics > 50, `${synthetic}: ${synthetics} synthetic samples trained`);
      for (const [i, [a, b]] of losses.entries()) assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(a)), `${synthetic}, loss of step ${i + 1}: inline ${a}, thread ${b}`);
      assert.ok(
        losses.some(([a, , c]) => Math.abs(a - c) > 1e-4),
        `${synthetic} trains another model than off: ${JSON.stringify(losses.map(([a, , c]) => [a, c]))}`,
      );
      await inline.stop();
      await off.stop();
    }
  });
});
