/**
 * Recommendations say when the model has no history of the user (`coldStart`): true when
 * the model's count table holds no positive for the user's hashed row (never trained: the
 * ranking is the item side's alone), false once the user's clicks or purchases are counted,
 * null when the model keeps no per-user counts (no wide part). Checked on the scorer and
 * the recommender, then over HTTP in both serving modes (trainer thread + serving thread,
 * and inline on the main thread) against a real broker.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Rng } from '../../src/balance/rng.js';
import { createRecommendationCodec, type InteractionEvent } from '../../src/codec/index.js';
import { idSpaces } from '../../src/model/layout.js';
import { createModel, IncrementalTrainer, resolveModelConfig, SnapshotScorer, takeSnapshot, type Interaction, type RecModel } from '../../src/model/index.js';
import { Recommender, SnapshotServing } from '../../src/serve/index.js';
import { startService, type ServiceHandle } from '../../src/service/index.js';
import type { CandidateItem } from '../../src/ports/index.js';
import { EMBEDDED_STREAM, createGenerator } from '../../src/offline/generate.js';
import { testBrokers } from '../helpers/kafka.js';
import { freshTopics, produceSkewed, testConfig, waitFor } from '../ingest/helpers.js';

const MODEL = { userRows: 512, itemRows: 1024, categoryRows: 32, gmfDim: 8, mlpDim: 8, mlpLayers: [16, 8] };

/** A model trained on clicks of users u0..u39 and views only of v0..v9 (views are not trained on). */
function trained(wideFeatures: boolean): RecModel {
  const rng = new Rng(11);
  const model = createModel({ ...MODEL, wideFeatures }, rng.fork());
  const t = new IncrementalTrainer(model, { negativesPerPositive: 2, evalCandidates: 10, evalMaxPerStep: 4 }, rng.fork());
  for (let s = 0; s < 4; s++) {
    const batch: Interaction[] = Array.from({ length: 40 }, (_, i) => ({ userId: `u${i}`, itemId: `c${i % 8}-i${rng.int(100)}`, categoryId: `c${i % 8}`, type: 'click' as const }));
    batch.push(...Array.from({ length: 10 }, (_, i) => ({ userId: `v${i}`, itemId: `c0-i${i}`, categoryId: 'c0', type: 'view' as const })));
    t.step(batch, new Float32Array(batch.length).fill(1), () => 0.1);
  }
  return model;
}

/** Ids of the given prefix whose hashed row no trained user (u0..u39) shares. */
function strangers(prefix: string, n: number, trainedIds: readonly string[], rows: (id: string) => number): string[] {
  const taken = new Set(trainedIds.map(rows));
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (!taken.has(rows(`${prefix}${i}`))) out.push(`${prefix}${i}`);
  return out;
}

const CANDIDATES: CandidateItem[] = Array.from({ length: 60 }, (_, i) => ({ itemId: `c${i % 8}-i${i}`, categoryId: `c${i % 8}` }));

describe('cold start on the scorer and the recommender', () => {
  const model = trained(true);
  const users = idSpaces(model.config).users;
  const known = Array.from({ length: 40 }, (_, i) => `u${i}`);
  const viewers = Array.from({ length: 10 }, (_, i) => `v${i}`).filter((v) => !known.some((u) => users.peekRow(u) === users.peekRow(v)));
  const unknown = strangers('stranger-', 5, known, (id) => users.peekRow(id));
  after(() => model.dispose());

  it('a snapshot scorer: false for users whose positives were counted, true for unknown users and users seen only in views', () => {
    assert.ok(viewers.length >= 5, `${viewers.length} view-only users with a row of their own`);
    const scorer = new SnapshotScorer(takeSnapshot(model, { seq: 0, steps: 4 }));
    for (const u of known) assert.equal(scorer.coldStart(u), false, u);
    for (const u of [...unknown, ...viewers]) assert.equal(scorer.coldStart(u), true, u);
  });

  it('the recommender labels each recommendation (and still ranks items for a cold user); the topic message keeps its schema', () => {
    const serving = new SnapshotServing('neumf-test');
    serving.offer(takeSnapshot(model, { seq: 0, steps: 4 }));
    const codec = createRecommendationCodec();
    const rec = new Recommender({
      k: 5,
      candidates: () => ({ items: CANDIDATES, head: new Set(['c0']) }),
      scorer: () => serving,
      metrics: { observeDuration: () => {}, droppedBacklog: () => {} },
      encode: (m) => codec.encode(m),
      send: async () => {},
      now: () => 0,
      log: () => {},
      sliceMs: 2,
      cpuShare: 0.3,
    });
    const warm = rec.recommend('u3', 5, 'http');
    const cold = rec.recommend(unknown[0]!, 5, 'http');
    assert.equal(warm.coldStart, false);
    assert.equal(cold.coldStart, true);
    assert.equal(cold.items.length, 5, 'a cold user still gets items (the flag says how far to trust them)');
    const decoded = codec.decode(codec.encode(cold));
    assert.deepEqual(Object.keys(decoded).sort(), ['generatedAt', 'items', 'modelVersion', 'userId'], 'Recommendation v1 on the topic, unchanged');
  });

  it('null when the model has no wide part (no per-user counts to tell)', () => {
    const plain = trained(false);
    try {
      assert.equal(new SnapshotScorer(takeSnapshot(plain, { seq: 0, steps: 4 })).coldStart('u3'), null);
    } finally {
      plain.dispose();
    }
    assert.equal(new SnapshotServing('none').coldStart('u3'), null, 'no snapshot yet: cannot tell');
  });
});

interface RecommendationBody {
  userId: string;
  coldStart: boolean | null;
  items: unknown[];
}

describe('GET /recommendations carries coldStart in both serving modes', () => {
  let brokers: string[];
  before(async () => {
    brokers = await testBrokers();
  });

  // The events produceSkewed sends (seed 7): users with positives, and users seen only in views.
  const COUNT = 3_000;
  const stream = createGenerator({ ...EMBEDDED_STREAM, seed: 7 });
  const events: InteractionEvent[] = Array.from({ length: COUNT }, () => stream.next());
  const positives = new Map<string, number>();
  for (const e of events) if (e.type !== 'view') positives.set(e.userId, (positives.get(e.userId) ?? 0) + 1);
  const seen = [...new Set(events.map((e) => e.userId))];

  for (const trainerThread of [true, false]) {
    it(`${trainerThread ? 'trainer thread + serving thread' : 'inline (--trainer-thread false)'}: false for an active user, true for an unknown and a view-only user`, async () => {
      const topics = await freshTopics(brokers, `cold-start-${trainerThread ? 'thread' : 'inline'}`);
      const config = testConfig(brokers, topics, { trainerThread });
      const users = idSpaces(resolveModelConfig({ userRows: config.modelUserRows })).users;
      const row = (id: string): number => users.peekRow(id);
      const positiveRows = new Set([...positives.keys()].map(row));
      const active = [...positives].sort((a, b) => b[1] - a[1])[0]![0];
      const viewOnly = seen.find((u) => !positives.has(u) && !positiveRows.has(row(u)));
      assert.ok(viewOnly !== undefined, 'a user seen only in views, in a row of its own');
      const [unknown] = strangers('never-seen-', 1, seen, row);
      await produceSkewed(brokers, topics.topic, COUNT, { seed: 7 });
      let service: ServiceHandle | undefined;
      try {
        service = await startService(config, { log: () => {} });
        const url = service.url;
        const ask = async (userId: string): Promise<RecommendationBody> => {
          const res = await fetch(`${url}/recommendations/${userId}?k=5`);
          assert.equal(res.status, 200, `${userId}: ${await res.clone().text()}`);
          return (await res.json()) as RecommendationBody;
        };
        // Once every event is applied and the model serving has counted them (a snapshot, on the thread).
        await waitFor('all events applied', async () => (service!.state().totals.applied >= COUNT ? true : undefined), 60_000);
        await waitFor(`${active} known to the served model`, async () => ((await ask(active)).coldStart === false ? true : undefined), 60_000, 200);
        const cold = await ask(unknown!);
        assert.equal(cold.coldStart, true, `${unknown}: ${JSON.stringify(cold)}`);
        assert.ok(cold.items.length > 0, 'a cold user still gets items');
        assert.equal((await ask(viewOnly!)).coldStart, true, `${viewOnly} (views only)`);
        assert.equal((await ask(active)).coldStart, false);
      } finally {
        await service?.stop();
      }
    });
  }
});
