/**
 * Starts that cannot succeed end promptly with one clear line and a non-zero exit (issue
 * #18): nothing hangs, nothing waits for a client library's background retries.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startCli } from '../offline/helpers.js';

/** A loopback port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  await new Promise<void>((r) => server.close(() => r()));
  return typeof address === 'object' && address !== null ? address.port : 1;
}

async function run(args: string[], onOutput?: (stderr: string) => void): Promise<{ code: number | null; stderr: string; seconds: number }> {
  const started = Date.now();
  const p = startCli(['run', '--http-port', '0', ...args]);
  const poll = onOutput ? setInterval(() => onOutput(p.output.stderr), 100) : undefined;
  const code = await p.exited;
  if (poll) clearInterval(poll);
  return { code, stderr: p.output.stderr, seconds: (Date.now() - started) / 1000 };
}

describe('fail-fast starts', () => {
  it('an unwritable --checkpoint-dir fails at start, naming the setting', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'rebalancer-ff-')), 'a-file');
    writeFileSync(file, 'not a directory');
    const r = await run(['--brokers', `127.0.0.1:${await deadPort()}`, '--checkpoint-dir', join(file, 'ckpt')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--checkpoint-dir .* is not writable .*\[REB_CONFIG_INVALID\]/);
    assert.ok(r.seconds < 30, `took ${r.seconds} s`);
  });

  it('an unresolvable --http-host fails with REB_SERVING_FAILED and exits (no hang)', async () => {
    const r = await run(['--brokers', `127.0.0.1:${await deadPort()}`, '--checkpoint-dir', mkdtempSync(join(tmpdir(), 'rebalancer-ff-')), '--http-host', 'no-such-host.invalid']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /could not listen on no-such-host\.invalid.*\[REB_SERVING_FAILED\]/);
    assert.ok(r.seconds < 30, `took ${r.seconds} s`);
  });

  it('an HTTP port already in use fails with REB_SERVING_FAILED and exit 2', async () => {
    const occupant = createServer();
    await new Promise<void>((r) => occupant.listen(0, '127.0.0.1', r));
    try {
      const address = occupant.address();
      assert.ok(typeof address === 'object' && address !== null);
      const r = await run(['--brokers', `127.0.0.1:${await deadPort()}`, '--checkpoint-dir', mkdtempSync(join(tmpdir(), 'rebalancer-ff-')), '--http-host', '127.0.0.1', '--http-port', String(address.port)]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`could not listen on 127\\.0\\.0\\.1:${address.port}\\b.*EADDRINUSE.*\\[REB_SERVING_FAILED\\]`));
      assert.ok(r.seconds < 30, `took ${r.seconds} s`);
    } finally {
      await new Promise<void>((r) => occupant.close(() => r()));
    }
  });

  it('no broker: HTTP answers meanwhile (/healthz 200, /readyz 503 "connecting to Kafka"), bounded retries, then ONE REB_KAFKA_UNAVAILABLE line naming the brokers and attempts at --connect-timeout-ms, and exit 2', async () => {
    const httpPort = await deadPort();
    const brokerPort = await deadPort();
    let probed: Promise<{ health: number; ready: number; reasons: string[] }> | undefined;
    const r = await run(['--brokers', `127.0.0.1:${brokerPort}`, '--checkpoint-dir', mkdtempSync(join(tmpdir(), 'rebalancer-ff-')), '--connect-timeout-ms', '8000', '--http-port', String(httpPort)], (stderr) => {
      // Ask as soon as the HTTP server is up (while the service waits for Kafka).
      void stderr;
      if (probed === undefined) {
        probed = (async () => {
          for (let attempt = 0; ; attempt++) {
            try {
              const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
              const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
              const body = (await ready.json()) as { reasons: string[] };
              return { health: health.status, ready: ready.status, reasons: body.reasons };
            } catch (err) {
              if (attempt > 200) throw err;
              await new Promise((res) => setTimeout(res, 100));
            }
          }
        })();
      }
    });
    assert.equal(r.code, 2, r.stderr);
    // One line, naming the broker tried, how often and for how long, and the last error (src/adapters/kafka/connect.ts).
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('rebalancer: '));
    assert.equal(lines.length, 1, r.stderr);
    const m = new RegExp(`^rebalancer: cannot reach Kafka at 127\\.0\\.0\\.1:${brokerPort} after (\\d+) attempts over (\\d+\\.\\d) s \\(--connect-timeout-ms 8000; last error: .*ECONNREFUSED.*\\) \\[REB_KAFKA_UNAVAILABLE\\]$`).exec(lines[0]!);
    assert.ok(m !== null, lines[0]);
    // Retried with a capped backoff (0.25, 0.5, 1, 2, 2 ... s) for the whole budget, not once, not in a tight loop.
    const attempts = Number(m[1]);
    const over = Number(m[2]);
    assert.ok(attempts >= 4 && attempts <= 10, `${attempts} attempts`);
    assert.ok(over >= 6 && over <= 8.5, `over ${over} s`);
    // No client library noise (a log line per failed attempt) around the one line.
    assert.doesNotMatch(r.stderr, /\[kafka /);
    // Ends within the timeout plus start-up and clean-up, not after the client's retries (80 s before).
    assert.ok(r.seconds < 40, `took ${r.seconds} s`);
    assert.ok(probed !== undefined);
    const p = await probed;
    assert.equal(p.health, 200);
    assert.equal(p.ready, 503);
    assert.deepEqual(p.reasons, ['starting: connecting to Kafka']);
  });
});
