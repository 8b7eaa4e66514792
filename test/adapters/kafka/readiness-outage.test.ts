/**
 * /readyz tells the truth through a broker outage (issue #18): ready while the cluster
 * answers, 503 naming the silence while the broker is down, ready again once it is back
 * (restarted on its own data directory, as operators restart brokers), and nothing lost.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startLocalKafka, type LocalKafka } from '../../../dev/local-broker.js';
import { startService, type ServiceHandle } from '../../../src/service/index.js';
import { freshTopics, produceSkewed, testConfig, waitFor } from '../../ingest/helpers.js';

async function readyz(url: string): Promise<{ status: number; reasons: string[] }> {
  const res = await fetch(`${url}/readyz`);
  const body = (await res.json()) as { reasons: string[] };
  return { status: res.status, reasons: body.reasons };
}

describe('readiness through a broker outage', () => {
  it('is ready, then 503 "no answer from Kafka" while the broker is down, then ready again with every event counted', async (ctx) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rebalancer-outage-'));
    let broker: LocalKafka | undefined = await startLocalKafka({ dataDir });
    const port = Number(broker.brokers[0]!.split(':').pop());
    let service: ServiceHandle | undefined;
    try {
      const brokers = broker.brokers;
      const topics = await freshTopics(brokers, 'outage');
      await produceSkewed(brokers, topics.topic, 2_000, { seed: 3 });
      service = await startService(testConfig(brokers, topics, { train: false }), { log: () => {} });
      const url = service.url;
      await waitFor('ready with 2,000 events applied', async () => ((await readyz(url)).status === 200 && service!.state().totals.applied === 2_000 ? true : undefined), 60_000);

      await broker.stop();
      broker = undefined;
      const down = await waitFor('/readyz 503 while the broker is down', async () => {
        const r = await readyz(url);
        return r.status === 503 ? r : undefined;
      }, 40_000, 500);
      ctx.diagnostic(`while down: ${down.reasons.join('; ')}`);
      assert.ok(down.reasons.some((r) => /no answer from Kafka for \d+ s/.test(r)), down.reasons.join('; '));
      const metricsDown = await (await fetch(`${url}/metrics`)).text();
      assert.match(metricsDown, /rebalancer_not_ready\{reason="kafka_silent"\} 1\n/);
      assert.match(metricsDown, /rebalancer_ready 0\n/);

      broker = await startLocalKafka({ dataDir, port });
      await produceSkewed(broker.brokers, topics.topic, 1_000, { seed: 4 });
      await waitFor('ready again with 3,000 events applied', async () => ((await readyz(url)).status === 200 && service!.state().totals.applied === 3_000 ? true : undefined), 90_000, 500);
      assert.equal(service.state().totals.duplicates, 0);
      const metricsUp = await (await fetch(`${url}/metrics`)).text();
      assert.match(metricsUp, /rebalancer_not_ready\{reason="kafka_silent"\} 0\n/);
      assert.match(metricsUp, /rebalancer_ready 1\n/);
    } finally {
      await service?.stop().catch(() => {});
      await broker?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
