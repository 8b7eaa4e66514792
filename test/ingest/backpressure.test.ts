import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startService, type ServiceHandle } from '../../src/service/index.js';
import { testBrokers } from '../helpers/kafka.js';
import { freshTopics, produceSkewed, testConfig, waitFor } from './helpers.js';

const EVENTS = 200_000;
const MAX_IN_FLIGHT = 2_000;
/** Heap growth allowed over the level after start: far below what 200k decoded events queued in memory would take. */
const HEAP_CEILING_BYTES = 64 * 1024 * 1024;

function heapUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

describe('backpressure with a slow training step', () => {
  let service: ServiceHandle | undefined;
  after(async () => {
    await service?.stop();
  });

  it('pauses the consumer and keeps in-flight events and heap bounded', async () => {
    try {
      await slowTrainerRun();
    } finally {
      await service?.stop();
      service = undefined;
    }
  });

  async function slowTrainerRun(): Promise<void> {
    const brokers = await testBrokers();
    const topics = await freshTopics(brokers, 'backpressure');
    await produceSkewed(brokers, topics.topic, EVENTS, { seed: 3, batch: 5_000 });
    const baseline = heapUsed();
    service = await startService(testConfig(brokers, topics, { batchSize: 256, maxInFlight: MAX_IN_FLIGHT, checkpointIntervalMs: 60_000 }), { log: () => {}, testHooks: { trainDelayMs: 250 } });

    let maxInFlight = 0;
    let maxHeap = 0;
    let sawPausedMetric = false;
    const deadline = Date.now() + 12_000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      const s = service.state();
      maxInFlight = Math.max(maxInFlight, s.consumer.inFlight);
      maxHeap = Math.max(maxHeap, heapUsed() - baseline);
      const metrics = await service.registry.getSingleMetricAsString('rebalancer_consumer_paused');
      if (/^rebalancer_consumer_paused 1$/m.test(metrics)) sawPausedMetric = true;
    }
    const s = service.state();
    assert.ok(s.consumer.pauses > 0, 'the consumer paused at least once');
    assert.ok(sawPausedMetric, 'rebalancer_consumer_paused showed 1 while paused');
    // In flight never exceeds the bound plus one chunk (1,000) handed over before the pause.
    assert.ok(maxInFlight <= MAX_IN_FLIGHT + 1_000, `in flight peaked at ${maxInFlight}`);
    assert.ok(s.totals.applied < EVENTS / 2, `ingestion was held back by training (applied ${s.totals.applied} of ${EVENTS})`);
    const lag = Object.values(s.consumer.lag).reduce((a, b) => a + b, 0);
    assert.ok(lag > 0, 'events wait in Kafka, not in memory');
    assert.ok(maxHeap < HEAP_CEILING_BYTES, `heap grew by ${(maxHeap / 1048576).toFixed(1)} MiB (ceiling ${HEAP_CEILING_BYTES / 1048576} MiB)`);

  }

  it('resumes and consumes everything once the pipeline keeps up', async () => {
    const brokers = await testBrokers();
    const topics = await freshTopics(brokers, 'resume');
    await produceSkewed(brokers, topics.topic, 20_000, { seed: 5, batch: 5_000 });
    service = await startService(testConfig(brokers, topics, { train: false, maxInFlight: 1_000 }), { log: () => {} });
    const s = await waitFor('all events applied', async () => {
      const st = service!.state();
      return st.totals.applied >= 20_000 ? st : undefined;
    }, 60_000);
    assert.equal(s.totals.applied, 20_000);
    assert.equal(s.consumer.paused, false, 'not left paused');
  });
});
