/**
 * A failed pipeline is not ready: an unexpected error inside the pipeline (here a test hook
 * throwing on the 500th applied event) makes /readyz answer 503 with the reason, and the
 * service's `done` rejects with REB_PIPELINE_FAILED (the CLI exits non-zero on that).
 * Before, the error was only logged while the consumer stayed paused and /readyz said 200.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { RebalancerError } from '../../src/errors.js';
import { startService, type ServiceHandle } from '../../src/service/index.js';
import { testBrokers } from '../helpers/kafka.js';
import { freshTopics, produceSkewed, testConfig, waitFor } from './helpers.js';

describe('pipeline failure', () => {
  let service: ServiceHandle | undefined;
  after(async () => {
    await service?.stop().catch(() => {});
  });

  it('makes /readyz fail with the reason and `done` reject with REB_PIPELINE_FAILED', async () => {
    const brokers = await testBrokers();
    const topics = await freshTopics(brokers, 'pipefail');
    await produceSkewed(brokers, topics.topic, 2_000, { seed: 3 });
    let applied = 0;
    service = await startService(testConfig(brokers, topics), {
      log: () => {},
      testHooks: {
        afterApply: () => {
          if (++applied === 500) throw new Error('injected failure');
        },
      },
    });
    const outcome = service.done.then(
      () => undefined,
      (err: unknown) => err,
    );
    const readyz = await waitFor('readyz to fail', async () => {
      const res = await fetch(`${service!.url}/readyz`);
      return res.status === 503 ? await res.text() : undefined;
    }, 60_000);
    assert.match(readyz, /pipeline failed: injected failure/);
    assert.equal(service.readiness().ready, false);
    const err = await outcome;
    assert.ok(err instanceof RebalancerError, `done rejected with a RebalancerError (${String(err)})`);
    assert.equal(err.code, 'REB_PIPELINE_FAILED');
  });
});
