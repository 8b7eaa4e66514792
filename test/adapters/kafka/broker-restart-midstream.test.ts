/**
 * A broker restart in the middle of a stream (issue #13). test/adapters/kafka/readiness-outage.test.ts
 * restarts the broker once everything produced has been applied (and checkpointed); here it
 * goes down while the service is still reading, with applied events whose offsets are not
 * committed yet, and fewer events applied than produced. The service must reconnect on its
 * own, apply every produced event exactly once (the ledger's applied count equals the
 * produced count and stays there: none twice, none lost, none counted as a duplicate), and
 * /readyz must be 503 while the broker is away and 200 again after. The probes are read on
 * the admin listener (--admin-port), which also shows the service wiring of that setting.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startLocalKafka, type LocalKafka } from '../../../dev/local-broker.js';
import { startService, type ServiceHandle } from '../../../src/service/index.js';
import { testKafka } from '../../helpers/kafka.js';
import { freshTopics, produceSkewed, testConfig, waitFor } from '../../ingest/helpers.js';

const BEFORE = 6_000;
const AFTER = 1_000;
/** Per applied event: keeps the stream flowing for several seconds, so the broker goes down mid-stream. */
const APPLY_DELAY_MS = 1;
const pause = new Int32Array(new SharedArrayBuffer(4));

async function readyz(adminUrl: string): Promise<{ status: number; reasons: string[] }> {
  const res = await fetch(`${adminUrl}/readyz`);
  const body = (await res.json()) as { reasons: string[] };
  return { status: res.status, reasons: body.reasons };
}

const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

describe('broker restart mid-stream', () => {
  it('reconnects, applies every produced event exactly once, and /readyz is 503 while the broker is away and 200 after', async (ctx) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rebalancer-midstream-'));
    let broker: LocalKafka | undefined = await startLocalKafka({ dataDir });
    const port = Number(broker.brokers[0]!.split(':').pop());
    let service: ServiceHandle | undefined;
    try {
      const brokers = broker.brokers;
      const topics = await freshTopics(brokers, 'midstream');
      await produceSkewed(brokers, topics.topic, BEFORE, { seed: 11 });
      const config = testConfig(brokers, topics, { train: false, maxInFlight: 300, brokerSilenceMs: 2_000, checkpointIntervalMs: 3_000, adminPort: 0 });
      service = await startService(config, {
        log: (m) => ctx.diagnostic(m),
        testHooks: { afterApply: () => void Atomics.wait(pause, 0, 0, APPLY_DELAY_MS) },
      });
      const s = service;
      assert.notEqual(s.adminUrl, s.url, 'the probes are on the admin listener');
      assert.equal((await fetch(`${s.url}/readyz`)).status, 404, '/readyz is not on the HTTP port when --admin-port is set');

      // Mid-stream: some applied, most not; applied offsets beyond the committed ones.
      await waitFor('1,500 events applied', async () => (s.state().totals.applied >= 1_500 ? true : undefined), 60_000, 50);
      const atStop = s.state();
      await broker.stop();
      broker = undefined;
      ctx.diagnostic(`at stop: applied ${atStop.totals.applied}, positions ${JSON.stringify(atStop.offsets.positions)}, committed ${JSON.stringify(atStop.offsets.committed)}`);
      assert.ok(atStop.totals.applied < BEFORE, `stopped mid-stream (${atStop.totals.applied} of ${BEFORE} applied)`);
      assert.ok(sum(atStop.offsets.committed) < sum(atStop.offsets.positions), 'some applied events were not committed when the broker went down');

      const down = await waitFor('/readyz 503 while the broker is down', async () => {
        const r = await readyz(s.adminUrl);
        return r.status === 503 ? r : undefined;
      }, 40_000, 250);
      ctx.diagnostic(`while down: ${down.reasons.join('; ')}`);
      assert.ok(down.reasons.some((r) => /no answer from Kafka for \d+ s/.test(r)), down.reasons.join('; '));
      const appliedWhileDown = s.state().totals.applied;
      assert.ok(appliedWhileDown < BEFORE, `the rest waits for the broker (${appliedWhileDown} of ${BEFORE} applied while it is down)`);

      broker = await startLocalKafka({ dataDir, port });
      await produceSkewed(broker.brokers, topics.topic, AFTER, { seed: 12 });
      const total = BEFORE + AFTER;
      await waitFor(`ready again with ${total} events applied`, async () => ((await readyz(s.adminUrl)).status === 200 && s.state().totals.applied >= total ? true : undefined), 120_000, 250);

      // Exactly once: the count reaches the produced count and stays there (a re-read from the
      // committed offsets would push it past), and every partition's position is its end offset.
      await new Promise((r) => setTimeout(r, 2 * config.checkpointIntervalMs));
      const final = s.state();
      assert.equal(final.totals.applied, total);
      assert.equal(final.totals.duplicates, 0);
      assert.equal(final.totals.lost, 0);
      assert.equal(final.totals.invalid, 0);
      const admin = testKafka(broker.brokers, 'midstream-check').admin();
      await admin.connect();
      try {
        const ends = Object.fromEntries((await admin.fetchTopicOffsets(topics.topic)).map((o) => [String(o.partition), Number(o.high)]));
        assert.deepEqual(final.offsets.positions, ends);
      } finally {
        await admin.disconnect();
      }
      assert.equal((await readyz(s.adminUrl)).status, 200);
      assert.ok(final.consumer.up, 'the consumer is up again');
    } finally {
      await service?.stop().catch(() => {});
      await broker?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
