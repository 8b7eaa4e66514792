/**
 * One Ctrl-C in a terminal during the embedded run (`npm start`): the terminal sends
 * SIGINT to the whole foreground process group. The run must print its summary, exit 0,
 * and leave no broker process and no temporary directory behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import { startCli } from '../offline/helpers.js';

function embeddedDirs(): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith('rebalancer-embedded-'));
}

function brokerPids(): string[] {
  const ps = spawnSync('pgrep', ['-f', 'kafka.Kafka'], { encoding: 'utf8' });
  return ps.stdout.split('\n').filter((l) => l.length > 0);
}

describe('Ctrl-C in the embedded run', () => {
  it('SIGINT to the process group (twice, as through npm): summary, exit 0, no broker and no temp directory left', async () => {
    const dirsBefore = new Set(embeddedDirs());
    const brokersBefore = new Set(brokerPids());
    // Its own process group, like a terminal's foreground job.
    const run = startCli(['run', '--embedded', '--duration', '120', '--rate', '2000', '--http-port', '0', '--status-interval-ms', '1000'], { detached: true });
    const out = run.output;
    // Wait until events flow (the producer has started and the service applied some).
    const deadline = Date.now() + 90_000;
    while (!/"applied":[1-9]\d{3,}/.test(out.stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    assert.match(out.stderr, /"applied":[1-9]\d{3,}/, `no events flowed:\n${out.stderr.slice(-2000)}`);
    const duringRun = brokerPids().filter((p) => !brokersBefore.has(p));
    assert.equal(duringRun.length, 1, 'the embedded broker runs while the service does');
    // npm forwards the terminal's SIGINT to its child, which so gets it twice, a moment apart.
    process.kill(-run.child.pid!, 'SIGINT');
    await new Promise((r) => setTimeout(r, 5));
    process.kill(-run.child.pid!, 'SIGINT');
    const code = await run.exited;
    assert.equal(code, 0, out.stderr.slice(-3000));
    assert.match(out.stdout, /summary: \d+ events applied/);
    assert.doesNotMatch(out.stderr, /ECONNREFUSED|shutdown took longer/, out.stderr.slice(-3000));
    assert.deepEqual(brokerPids().filter((p) => !brokersBefore.has(p)), [], 'no broker left running');
    assert.deepEqual(embeddedDirs().filter((d) => !dirsBefore.has(d)), [], 'no temporary directory left');
  });
});
