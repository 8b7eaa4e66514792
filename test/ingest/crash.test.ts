import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ServiceConfig } from '../../src/config/index.js';
import { REPO_ROOT } from '../../dev/local-broker.js';
import type { ChildTestHooks } from './fixtures/service-main.js';
import type { ServiceState } from '../../src/service/index.js';
import { testBrokers } from '../helpers/kafka.js';
import { freshTopics, getJson, produceSkewed, waitFor } from './helpers.js';

const EVENTS = 20_000;

interface Child {
  process: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

async function spawnService(overrides: Partial<ServiceConfig>, testHooks: ChildTestHooks = {}): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/ingest/fixtures/service-main.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, REBALANCER_TEST_CONFIG: JSON.stringify(overrides), REBALANCER_TEST_HOOKS: JSON.stringify(testHooks), TF_CPP_MIN_LOG_LEVEL: '2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`service exited with ${code} before it was ready:\n${stderr}`)));
  });
  return { process: child, url, exited };
}

describe('crash recovery (SIGKILL mid-stream, restart from checkpoint)', () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });

  it('ends with per-category totals equal to what was produced: no loss, no double count', async () => {
    const brokers = await testBrokers();
    const topics = await freshTopics(brokers, 'crash');
    const produced = await produceSkewed(brokers, topics.topic, EVENTS, { seed: 11 });
    const overrides: Partial<ServiceConfig> = {
      brokers,
      ...topics,
      httpPort: 0,
      checkpointDir: mkdtempSync(join(tmpdir(), 'rebalancer-crash-')),
      checkpointIntervalMs: 500,
      sessionTimeoutMs: 6_000,
      modelUserRows: 4_096,
      modelItemRows: 4_096,
      batchSize: 128,
      maxInFlight: 2_000,
    };

    // A slow trainer (40 ms more per step): slow enough that the kill lands mid-stream, with checkpoints behind it.
    const first = await spawnService(overrides, { trainDelayMs: 40 });
    children.push(first.process);
    const atKill = await waitFor('a checkpoint and part of the stream applied', async () => {
      const { body } = await getJson<ServiceState>(`${first.url}/state`);
      return body.checkpoint.seq >= 2 && body.totals.applied >= 4_000 ? body : undefined;
    }, 120_000);
    first.process.kill('SIGKILL');
    await first.exited;
    assert.ok(atKill.totals.applied < EVENTS, `killed mid-stream (applied ${atKill.totals.applied} of ${EVENTS})`);

    const second = await spawnService(overrides);
    children.push(second.process);
    const early = (await getJson<ServiceState>(`${second.url}/state`)).body;
    assert.ok(early.checkpoint.restoredFrom !== null && early.checkpoint.restoredFrom >= 1, 'restored from a checkpoint');
    assert.ok(early.totals.applied > 0 && early.totals.applied < EVENTS, `restored state is partial (${early.totals.applied})`);
    // The checkpoint's model trained exactly the events up to its offsets, less the backlog
    // it saved (trained first after the restart): none twice, none never.
    const restored = early.checkpoint.restored;
    assert.ok(restored !== null, 'restore counts reported');
    assert.ok(restored.modelTrainedEvents > 0, `the restored model had trained events (${restored.modelTrainedEvents})`);
    assert.equal(restored.modelTrainedEvents + restored.backlog, restored.trainableEvents, `restored model ${restored.modelTrainedEvents} + backlog ${restored.backlog} = trainable events up to the restored offsets`);

    const final = await waitFor('every event applied after the restart', async () => {
      const { body } = await getJson<ServiceState>(`${second.url}/state`);
      return body.totals.applied >= EVENTS ? body : undefined;
    }, 120_000);
    await waitFor('every trainable event trained after the restart', async () => {
      const { body } = await getJson<ServiceState>(`${second.url}/state`);
      return body.model.trainedEvents >= body.totals.applied - (body.totals.byType.view ?? 0) ? body : undefined;
    }, 60_000);
    // Give a double count the chance to show before comparing.
    await new Promise((r) => setTimeout(r, 1_500));
    const settled = (await getJson<ServiceState>(`${second.url}/state`)).body;
    assert.equal(settled.totals.applied, EVENTS);
    assert.deepEqual(new Map(Object.entries(settled.totals.byCategory)), produced.byCategory);
    assert.equal(settled.window.events, EVENTS, 'window totals match too');
    assert.equal(final.totals.invalid, 0);
    // It resumed where the checkpoint left off, not from offset 0: a restart from the beginning
    // would re-deliver every event the restored state holds (skipped by the partitions'
    // positions, so the totals above would still match), and the de-dup ids alone could hide it.
    const metrics = await (await fetch(`${second.url}/metrics`)).text();
    const redelivered = Number(/^rebalancer_events_redelivered_total (\S+)$/m.exec(metrics)?.[1] ?? NaN);
    assert.ok(Number.isFinite(redelivered), 'the redelivery counter is exported');
    assert.ok(redelivered < early.totals.applied / 2, `re-delivered ${redelivered} of the ${early.totals.applied} restored events: the consumer resumed from the committed offsets`);
    assert.equal(settled.totals.duplicates, 0, 'no event counted as a duplicate (none was produced twice)');
    // Every trainable event trained exactly once across the crash (views are not trained).
    const trainable = settled.totals.applied - (settled.totals.byType.view ?? 0);
    assert.equal(settled.model.trainedEvents, trainable, 'the model trained every trainable event once');

    second.process.kill('SIGTERM');
    assert.equal(await second.exited, 0, 'graceful stop exits 0');
  });
});
