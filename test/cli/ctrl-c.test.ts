/**
 * One Ctrl-C in a terminal during the embedded run (`npm start`): the terminal sends
 * SIGINT to the whole foreground process group. The run must print its summary, exit 0,
 * and leave no broker process and no temporary directory behind.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../../src/kafka/local-broker.js';

function embeddedDirs(): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith('rebalancer-embedded-'));
}

function brokerPids(): string[] {
  const ps = spawnSync('pgrep', ['-f', 'kafka.Kafka'], { encoding: 'utf8' });
  return ps.stdout.split('\n').filter((l) => l.length > 0);
}

describe('Ctrl-C in the embedded run', () => {
  it('SIGINT to the process group: summary, exit 0, no broker and no temp directory left', async () => {
    const dirsBefore = new Set(embeddedDirs());
    const brokersBefore = new Set(brokerPids());
    // Its own process group, like a terminal's foreground job.
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', "import('./src/cli/main.ts').then((m) => m.main(['node', 'rebalancer', 'run', '--embedded', '--duration', '120', '--rate', '2000', '--http-port', '0']))"], {
      cwd: REPO_ROOT,
      detached: true,
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Wait until events flow (the producer has started and the service applied some).
    const deadline = Date.now() + 90_000;
    while (!/applied [1-9]\d{3,}/.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    assert.match(stderr, /applied [1-9]\d{3,}/, `no events flowed:\n${stderr.slice(-2000)}`);
    const duringRun = brokerPids().filter((p) => !brokersBefore.has(p));
    assert.equal(duringRun.length, 1, 'the embedded broker runs while the service does');
    process.kill(-child.pid!, 'SIGINT');
    const code = await exited;
    assert.equal(code, 0, stderr.slice(-3000));
    assert.match(stdout, /summary: \d+ events applied/);
    assert.doesNotMatch(stderr, /ECONNREFUSED|shutdown took longer/, stderr.slice(-3000));
    assert.deepEqual(brokerPids().filter((p) => !brokersBefore.has(p)), [], 'no broker left running');
    assert.deepEqual(embeddedDirs().filter((d) => !dirsBefore.has(d)), [], 'no temporary directory left');
  });
});
