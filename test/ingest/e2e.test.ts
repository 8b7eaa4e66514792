import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRecommendationCodec } from '../../src/codec/index.js';
import { startService, type ServiceHandle, type ServiceState } from '../../src/service/index.js';
import { DLQ_HEADERS } from '../../src/ingest/dlq.js';
import { testBrokers } from '../helpers/kafka.js';
import { freshTopics, getJson, produceSkewed, readTopic, testConfig, waitFor, type ProducedStream, type StreamTopics } from './helpers.js';

const EVENTS = 4_000;

/** --metrics-top-categories of the service under test. */
const TOP = 5;

describe('rebalancer service end to end (real Kafka)', () => {
  let brokers: string[];
  let topics: StreamTopics;
  let produced: ProducedStream;
  let service: ServiceHandle;
  let finalState: ServiceState;

  before(async () => {
    brokers = await testBrokers();
    topics = await freshTopics(brokers, 'e2e');
    produced = await produceSkewed(brokers, topics.topic, EVENTS, { corrupt: true });
    // Fewer labelled categories than the stream has, so the label bound below can fail.
    service = await startService(testConfig(brokers, topics, { metricsTopCategories: TOP }), { log: () => {} });
    finalState = await waitFor('every valid event applied', async () => {
      const { body } = await getJson<ServiceState>(`${service.url}/state`);
      return body.totals.applied + body.totals.invalid + body.totals.duplicates >= EVENTS + 5 ? body : undefined;
    }, 90_000);
  });

  after(async () => {
    await service?.stop();
  });

  it('counts every valid event exactly once, per category, in the totals and the window', () => {
    assert.equal(finalState.totals.applied, EVENTS);
    assert.deepEqual(new Map(Object.entries(finalState.totals.byCategory)), produced.byCategory);
    assert.equal(finalState.window.events, EVENTS);
    assert.equal(finalState.totals.duplicates, 1);
    assert.equal(finalState.totals.invalid, produced.corrupt.length);
  });

  it('dead-letters every corrupt payload with its reason and provenance headers', async () => {
    const letters = await readTopic(brokers, topics.dlqTopic, produced.corrupt.length);
    assert.equal(letters.length, produced.corrupt.length);
    assert.deepEqual(letters.map((l) => l.headers[DLQ_HEADERS.reason]).sort(), produced.corrupt.map((c) => c.reason).sort());
    for (const l of letters) {
      assert.equal(l.headers[DLQ_HEADERS.topic], topics.topic);
      assert.match(l.headers[DLQ_HEADERS.offset]!, /^\d+$/);
      assert.match(l.headers[DLQ_HEADERS.code]!, /^REB_/);
      assert.ok(l.value !== null && l.value.length > 0, 'original bytes kept');
    }
  });

  it('serves K recommendations over HTTP and rejects a bad k with 400', async () => {
    const ok = await getJson<{ items: Array<{ itemId: string; categoryId: string; score: number }> }>(`${service.url}/recommendations/user-1?k=7`);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.items.length, 7);
    assert.equal(new Set(ok.body.items.map((i) => i.itemId)).size, 7);
    for (const bad of ['0', '-3', 'abc', '100000']) {
      const res = await getJson<{ error: string; code: string }>(`${service.url}/recommendations/user-1?k=${bad}`);
      assert.equal(res.status, 400, `k=${bad}`);
      assert.equal(res.body.code, 'REB_HTTP_BAD_REQUEST');
      assert.match(res.body.error, /k must be an integer/);
    }
  });

  it('produces event-triggered recommendations to the output topic (Avro)', async () => {
    const codec = createRecommendationCodec();
    const recs = await readTopic(brokers, topics.recommendationsTopic, 1);
    const first = codec.decode(recs[0]!.value!);
    assert.match(first.userId, /^user-/);
    assert.ok(first.items.length > 0 && first.items.length <= 10);
    assert.match(first.modelVersion, /^neumf-g\d+$/);
  });

  it('exposes the metric families with sane values', async () => {
    const text = await (await fetch(`${service.url}/metrics`)).text();
    const value = (series: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      assert.ok(line, `series ${series} missing`);
      return Number(line.slice(series.length + 1));
    };
    const sum = (family: string): number => text.split('\n').filter((l) => l.startsWith(`${family}{`)).reduce((s, l) => s + Number(l.split(' ').pop()), 0);
    assert.equal(sum('rebalancer_events_consumed_total'), EVENTS);
    assert.equal(sum('rebalancer_dlq_messages_total'), produced.corrupt.length);
    assert.equal(sum('rebalancer_events_invalid_total'), produced.corrupt.length);
    assert.equal(value('rebalancer_events_duplicate_total'), 1);
    assert.equal(value('rebalancer_window_events'), EVENTS);
    assert.equal(value('rebalancer_window_categories'), produced.byCategory.size);
    assert.ok(value('rebalancer_imbalance_ratio') > 5, 'skewed stream has a large imbalance ratio');
    const shares = sum('rebalancer_category_window_share');
    assert.ok(Math.abs(shares - 1) < 1e-9, `shares sum to 1, got ${shares}`);
    assert.ok(value('rebalancer_category_gini') > 0 && value('rebalancer_category_gini') < 1);
    assert.ok(value('rebalancer_train_steps_total') > 0);
    assert.ok(value('rebalancer_consumer_up') === 1);
    assert.equal(value('rebalancer_tf_native_backend'), 1);
    for (const family of [
      'rebalancer_events_late_total', 'rebalancer_class_weight', 'rebalancer_category_entropy_normalized', 'rebalancer_reservoir_fill_ratio',
      'rebalancer_batch_samples_total', 'rebalancer_train_step_duration_seconds', 'rebalancer_train_loss', 'rebalancer_prequential_hit_rate',
      'rebalancer_prequential_hit_rate_average', 'rebalancer_prequential_ndcg_average', 'rebalancer_recommendation_duration_seconds',
      'rebalancer_recommendations_total', 'rebalancer_recommendation_tail_share', 'rebalancer_interaction_tail_share', 'rebalancer_consumer_lag_messages',
      'rebalancer_consumer_paused', 'rebalancer_consumer_crashes_total', 'rebalancer_checkpoint_age_seconds', 'rebalancer_checkpoints_total',
      'rebalancer_checkpoint_duration_seconds', 'rebalancer_model_version_info', 'rebalancer_serving_adjustment_tau', 'rebalancer_serving_adjustment_micro_cost_ratio', 'process_cpu_seconds_total',
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${family} `, 'm'), `family ${family}`);
    }
    assert.match(text, /^rebalancer_batch_samples_total\{source="replay"\} [1-9]/m, 'replay samples were composed');
    const categories = new Set([...text.matchAll(/rebalancer_class_weight\{category="([^"]+)"\}/g)].map((m) => m[1]));
    assert.ok(produced.byCategory.size > TOP + 1, `the stream has more categories (${produced.byCategory.size}) than labels`);
    assert.equal(categories.size, TOP + 1, `category labels: the top ${TOP} and other, got ${[...categories].join(', ')}`);
    assert.ok(categories.has('other'), 'the rest folded into other');
    const tail = value('rebalancer_interaction_tail_share');
    assert.ok(tail > 0 && tail <= 0.2 + 1e-9, `interaction tail share ${tail} is at most 20% by definition`);
  });

  it('is ready and reports offsets in /state', async () => {
    const ready = await getJson<{ ready: boolean }>(`${service.url}/readyz`);
    assert.equal(ready.status, 200);
    const { body } = await getJson<ServiceState>(`${service.url}/state`);
    const positions = Object.values(body.offsets.positions).reduce((s, o) => s + o, 0);
    assert.equal(positions, EVENTS + 5, 'positions cover every record of the topic');
    assert.ok(body.model.steps > 0);
  });
});
