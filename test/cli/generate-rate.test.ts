/**
 * `generate --rate N` produces a steady stream (the compose producer's, so dashboards keep
 * moving), `--events 0` makes it endless until SIGTERM. The pacer is checked on a virtual
 * clock (exact, no waiting); the CLI in a child process, with a file in place of the topic
 * (no Docker, no broker).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { z } from 'zod';
import { Rng } from '../../src/balance/rng.js';
import { createEventCodec } from '../../src/codec/index.js';
import { REPO_ROOT } from '../../dev/local-broker.js';
import { openEventFile } from '../../src/adapters/event-file.js';
import { RatePacer, type PacingClock } from '../../src/offline/generate-common.js';
import { spawnCli, startCli, tempDir } from '../offline/helpers.js';

/** A virtual clock whose sleeps end `lateness()` ms after they were due (negative: early). */
function virtualClock(lateness: () => number): PacingClock & { t: number } {
  const clock = {
    t: 1_000,
    now: () => clock.t,
    sleep: (ms: number) => {
      clock.t += Math.max(0, ms + lateness());
      return Promise.resolve();
    },
  };
  return clock;
}

/** Release times of `n` events through a pacer at `rate`, each after `work` ms of sending. */
async function releases(rate: number, n: number, clock: PacingClock & { t: number }, work: (i: number) => number = () => 0): Promise<number[]> {
  const pacer = new RatePacer(rate, clock);
  const start = clock.t;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    await pacer.due(i);
    out.push(clock.t - start);
    clock.t += work(i);
  }
  return out;
}

/** Events per bucket of `width` ms over [0, span). */
function perBucket(times: number[], width: number, span: number): number[] {
  const counts = new Array<number>(Math.ceil(span / width)).fill(0);
  for (const t of times) if (t < span) counts[Math.floor(t / width)]!++;
  return counts;
}

describe('the pacer of generate --rate', () => {
  it('releases event i exactly i/rate seconds after the start on a punctual clock', async () => {
    const times = await releases(250, 1_000, virtualClock(() => 0));
    times.forEach((t, i) => assert.ok(Math.abs(t - i * 4) < 1e-9, `event ${i} at ${t} ms, due ${i * 4}`));
  });

  it('keeps a steady rate with timers firing up to 1 ms early or 6 ms late: never early, 100 ± 7 per 100 ms', async () => {
    const rng = new Rng(3);
    const times = await releases(1_000, 20_000, virtualClock(() => -1 + 7 * rng.next()));
    times.forEach((t, i) => assert.ok(t >= i - 1e-9, `event ${i} released at ${t} ms, before it was due`));
    const buckets = perBucket(times, 100, 19_900);
    for (const [b, n] of buckets.entries()) assert.ok(n >= 93 && n <= 107, `bucket ${b}: ${n} events`);
    assert.ok(times.at(-1)! - 19_999 < 7, `the last event is at most one lateness behind (${times.at(-1)} ms)`);
  });

  it('makes up a stall: the mean rate holds and only the events already due go at once', async () => {
    // The send of event 999 takes 500 ms (a slow broker).
    const times = await releases(1_000, 3_000, virtualClock(() => 0), (i) => (i === 999 ? 500 : 0));
    const burst = times.filter((t) => t === 1_499);
    assert.equal(burst.length, 500, 'events 1000..1499 (due during the stall) go at its end');
    times.forEach((t, i) => assert.ok(t >= i, `event ${i} at ${t}: never before it is due`));
    assert.equal(times.at(-1), 2_999, 'back on schedule: the last event is on time');
  });

  it('refuses a rate that is not a positive number', () => {
    for (const rate of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => new RatePacer(rate), { code: 'REB_INPUT_INVALID' });
  });
});

function eventTimes(path: string): number[] {
  const codec = createEventCodec();
  const f = openEventFile(path);
  const times = [...f.records()].map((r) => codec.decode(r.payload).eventTime);
  f.close();
  return times;
}

describe('rebalancer generate --rate (child process)', () => {
  it('--rate 200 --events 300 takes ~1.5 s, stamps each event with the wall-clock time it was produced, none ahead of schedule', async () => {
    const out = join(tempDir('generate-rate'), 'paced.bin');
    const before = Date.now();
    const r = await spawnCli(['generate', '--profile', 'simple', '--rate', '200', '--events', '300', '--out', out, '--quiet']);
    const after = Date.now();
    assert.equal(r.code, 0, r.stderr);
    const times = eventTimes(out);
    assert.equal(times.length, 300);
    assert.ok(times[0]! >= before && times.at(-1)! <= after, `event times within the run: ${times[0]}..${times.at(-1)} vs ${before}..${after}`);
    // Event i is due 5·i ms after the start; Date.now() and the pacer's monotonic clock may disagree by 1 ms.
    for (let i = 1; i < times.length; i++) {
      assert.ok(times[i]! >= times[i - 1]!, 'event time never goes back');
      assert.ok(times[i]! - times[0]! >= 5 * i - 2, `event ${i} ${times[i]! - times[0]!} ms after the first: ahead of its schedule (${5 * i} ms)`);
    }
    assert.ok(after - before < 30_000, `took ${after - before} ms`);
  });

  it('--events 0 streams until SIGTERM, then flushes, summarises and exits 0', async () => {
    const out = join(tempDir('generate-endless'), 'endless.bin');
    const p = startCli(['generate', '--profile', 'simple', '--rate', '300', '--events', '0', '--out', out]);
    const deadline = Date.now() + 20_000;
    while (!p.output.stderr.includes('until SIGINT/SIGTERM') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 1_500));
    p.child.kill('SIGTERM');
    const code = await p.exited;
    const seconds = (Date.now() - started) / 1000;
    assert.equal(code, 0, p.output.stderr);
    const m = /generated (\d+) events .*\(stopped by a signal\)/.exec(p.output.stderr);
    assert.ok(m !== null, p.output.stderr);
    const n = Number(m[1]);
    assert.equal(eventTimes(out).length, n, 'every generated event is in the file');
    assert.ok(n >= 100, `${n} events in ${seconds.toFixed(1)} s`);
    assert.ok(n <= 300 * (seconds + 1) + 1, `${n} events in ${seconds.toFixed(1)} s: faster than 300/s`);
  });

  it('refuses what a paced or endless run cannot honour, naming the flag', async () => {
    const cases: [string[], RegExp][] = [
      [['--events', '0'], /--events 0 \(no end\) needs --rate/],
      [['--rate', '10', '--start', '2026-01-01T00:00:00Z'], /--start does not apply with --rate/],
      [['--rate', '10', '--mean-gap-ms', '5'], /--mean-gap-ms does not apply with --rate/],
      [['--rate', '10', '--events', '0', '--profile', 'simple', '--drift', '1'], /--drift .* needs a finite count/],
      [['--rate', '0'], /--rate must be a number in/],
    ];
    for (const [args, message] of cases) {
      const r = await spawnCli(['generate', ...args, '--out', join(tempDir('generate-bad'), 'x.bin')]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr.trim(), /^rebalancer: .* \[REB_INPUT_INVALID\]$/);
      assert.match(r.stderr, message);
    }
  });
});

describe('docker-compose.yml producer', () => {
  const producer = z.object({ services: z.object({ producer: z.object({ command: z.array(z.string()), restart: z.string() }) }) })
    .parse(parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'))).services.producer;

  it('is a steady endless stream (--rate, --events 0), restarted if it fails', () => {
    const c = producer.command;
    const value = (flag: string): string | undefined => c[c.indexOf(flag) + 1];
    assert.deepEqual(c.slice(0, 3), ['node', 'bin/rebalancer.js', 'generate']);
    assert.ok(c.includes('--rate') && Number(value('--rate')) > 0, c.join(' '));
    assert.equal(value('--events'), '0');
    assert.equal(producer.restart, 'unless-stopped');
  });

  it('its command runs as a stream (the topic swapped for a file) and stops on SIGTERM', async () => {
    const args = producer.command.slice(2);
    const drop = new Set(['--brokers', '--topic']);
    const local = args.filter((a, i) => !drop.has(a) && !drop.has(args[i - 1] ?? ''));
    const out = join(tempDir('compose-producer'), 'producer.bin');
    const p = startCli([...local, '--out', out]);
    const deadline = Date.now() + 20_000;
    while (!existsSync(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1_000));
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0, p.output.stderr);
    assert.ok(eventTimes(out).length > 0, p.output.stderr);
  });
});
