/**
 * The Confluent demo, as the README gives it: `run --embedded --wire-format confluent`
 * starts a local broker AND a local schema registry, the synthetic stream is written in the
 * Confluent wire format (the service decodes it through the registry: every event counted
 * as confluent), and one Ctrl-C (SIGINT to the process group) still gives the summary,
 * exit 0, and leaves neither the broker nor the registry running.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { startCli } from '../offline/helpers.js';

function pids(pattern: string): string[] {
  return spawnSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.length > 0);
}

function counter(metrics: string, name: string, framing: string): number {
  const m = new RegExp(`^${name}\\{framing="${framing}"\\} (\\S+)$`, 'm').exec(metrics);
  return m === null ? Number.NaN : Number(m[1]);
}

describe('the embedded Confluent demo', () => {
  it('run --embedded --wire-format confluent: a local registry, the stream decoded through it, Ctrl-C leaves nothing running', { timeout: 240_000 }, async () => {
    const before = { brokers: new Set(pids('kafka.Kafka')), registries: new Set(pids('quarkus-run.jar')) };
    const run = startCli(['run', '--embedded', '--wire-format', 'confluent', '--duration', '180', '--rate', '2000', '--http-port', '0', '--status-interval-ms', '1000'], { detached: true });
    const out = run.output;
    const deadline = Date.now() + 150_000;
    while (!/"applied":[1-9]\d{3,}/.test(out.stderr) && Date.now() < deadline && run.child.exitCode === null) await new Promise((r) => setTimeout(r, 250));
    assert.match(out.stderr, /"applied":[1-9]\d{3,}/, `no events flowed:\n${out.stderr.slice(-3000)}`);
    assert.match(out.stderr, /Apicurio Registry [\d.]+ ready on http:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7/);
    assert.match(out.stderr, /synthetic producer: 2000 events\/s, Confluent wire format/);
    const url = /^metrics: (\S+)$/m.exec(out.stderr)?.[1];
    assert.ok(url !== undefined, 'the metrics URL is printed');
    const metrics = await (await fetch(url)).text();
    assert.ok(counter(metrics, 'rebalancer_events_framing_total', 'confluent') >= 1000, 'events arrived in the Confluent framing');
    assert.equal(counter(metrics, 'rebalancer_events_framing_total', 'single_object'), 0);
    assert.equal(pids('quarkus-run.jar').filter((p) => !before.registries.has(p)).length, 1, 'one local registry runs while the service does');

    process.kill(-run.child.pid!, 'SIGINT');
    const code = await run.exited;
    assert.equal(code, 0, out.stderr.slice(-3000));
    assert.match(out.stdout, /summary: \d+ events applied/);
    assert.deepEqual(pids('kafka.Kafka').filter((p) => !before.brokers.has(p)), [], 'no broker left running');
    assert.deepEqual(pids('quarkus-run.jar').filter((p) => !before.registries.has(p)), [], 'no registry left running');
  });
});
