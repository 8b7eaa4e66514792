/**
 * The live view of `rebalancer run` (issue #15, item 3): a panel that fits the terminal
 * and is redrawn in place without leftovers, and rate-limited JSON status lines when
 * stderr is not a terminal.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { LiveView, renderPanel, type LiveFrame, type LiveOutput, type LiveSource } from '../../src/cli/live-view.js';
import { loadConfig } from '../../src/config/index.js';
import { isRebalancerError } from '../../src/errors.js';
import type { ServiceState } from '../../src/service/index.js';
import { startCli } from '../offline/helpers.js';

// ------------------------------------------------------------------ fixtures

interface StateOptions {
  ready?: boolean;
  reasons?: string[];
  categories?: string[];
  applied?: number;
  deadLettered?: number;
  weightsOn?: boolean;
  paused?: boolean;
}

/** A /state document with the given categories (shares falling geometrically). */
function fakeState(o: StateOptions = {}): ServiceState {
  const cats = o.categories ?? ['cat-000', 'cat-001', 'cat-002'];
  const raw = cats.map((_, i) => 0.6 ** i);
  const sum = raw.reduce((a, b) => a + b, 0);
  const shares = Object.fromEntries(cats.map((c, i) => [c, raw[i]! / sum]));
  const applied = o.applied ?? 123_456;
  const ready = o.ready ?? true;
  return {
    ready,
    readiness: { ready, reasons: ready ? [] : (o.reasons ?? ['Kafka consumer is not running']) },
    window: { events: 50_000, categories: cats.length, shares },
    weights: Object.fromEntries(cats.map((c, i) => [c, o.weightsOn ? 0.2 + 0.3 * i : 1])),
    imbalance: { ratio: 93.5, entropyNormalized: 0.64, gini: 0.71 },
    reservoirFill: { perCategory: 0.87, cbrs: 1 },
    trainingSamples: { fresh: 7_200, replay: 2_750, synthetic: 50 },
    tailShare: { recommendations: 0.21, interactions: 0.12 },
    model: { version: 'neumf-g2', steps: 117, nativeBackend: true, training: true, trainedEvents: 1000, trainerThread: true, trainer: null },
    evaluation: { hitRateMacro: 0.19, hitRateMicro: 0.657, ndcgMacro: 0.139, ndcgMicro: 0.572, hitRateByCategory: {}, adjustment: { tau: 0.15, microCost: 0.014, macroGain: 0.059 } },
    totals: { applied, byCategory: Object.fromEntries(cats.map((c) => [c, 1])), byType: {}, invalid: 37, duplicates: 2, late: 5, lost: 0, deadLettered: o.deadLettered ?? 37, recommendationsProduced: 1998 },
    offsets: { topic: 'interactions', positions: {}, committed: {} },
    consumer: { up: true, paused: o.paused ?? false, pauses: 0, inFlight: 300, assigned: [0, 1, 2], crashes: 0, lag: { 0: 10, 1: 0, 2: 2 } },
    deadLetters: { sent: o.deadLettered ?? 37, pending: 0, truncated: 0, dropped: 0 },
    checkpoint: { seq: 2, ageSeconds: 4, restoredFrom: null, restored: null },
    global: { instanceId: 'test-1', owned: [0], totals: { byCategory: {}, byType: {}, applied, duplicates: 0, late: 0, lost: 0, invalid: 0, partitions: 1 }, positions: { 0: applied }, window: { events: 50_000, categories: cats.length, counts: {} }, weights: {}, divergence: 0, counts: { topic: 'c', lag: 0, read: 0, invalid: 0 }, changelog: { topic: 'l', writes: 0, bytesWritten: 0, reads: 0, corrupt: 0 }, peers: [], modelSync: null },
  };
}

const LONG = 'home-garden-outdoor-furniture-barbecue-accessories-and-very-long-category-identifiers-from-a-real-catalog';
const LONG_CATEGORIES = [`${LONG}-1`, `${LONG}-2`, 'x', `${LONG}-3`, ...Array.from({ length: 40 }, (_, i) => `tail-category-${String(i).padStart(3, '0')}-${LONG}`)];
const LONG_REASONS = ['Kafka consumer is not running', 'no answer from Kafka for 12 s: fetches and heartbeats fail (broker down or unreachable)', 'no checkpoint for 75 s (--checkpoint-stall-ms 60000), so no offsets committed; the last attempt failed: ENOSPC'];

function frame(state: ServiceState, ready = true, eventsPerSecond = 4_985): LiveFrame {
  return { state: { ...state, ready, readiness: { ready, reasons: ready ? [] : LONG_REASONS } }, eventsPerSecond };
}

/** A changeable fake service: `current` with readiness set from `ready`. */
class FakeService implements LiveSource {
  current = fakeState();
  ready = true;
  state(): ServiceState {
    return { ...this.current, ready: this.ready, readiness: { ready: this.ready, reasons: this.ready ? [] : ['Kafka consumer is not running'] } };
  }
}

/** An output stream that records what is written (a terminal when `isTTY`). */
class FakeOut extends EventEmitter implements LiveOutput {
  readonly chunks: string[] = [];
  constructor(readonly isTTY: boolean, public columns = 80) { super(); }
  write(chunk: string | Uint8Array): boolean {
    this.chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    return true;
  }
  resize(columns: number): void {
    this.columns = columns;
    this.emit('resize');
  }
}

/**
 * A terminal screen: rows of cells, the cursor, auto-wrap at the right margin (deferred, as
 * xterm does) and the escape sequences a live view uses (CR, LF as CR LF, CUU `ESC[nA`,
 * EL `ESC[K`/`ESC[2K`, ED `ESC[J`). On resize it re-wraps its contents as VTE, iTerm2,
 * kitty, Windows Terminal and tmux do. Unbounded height (the scrollback is part of it).
 */
class Screen {
  private rows: Array<{ cells: string[]; wrapped: boolean }> = [{ cells: [], wrapped: false }];
  private r = 0;
  private c = 0;
  private wrapPending = false;

  constructor(private cols: number) {}

  private row(r: number): { cells: string[]; wrapped: boolean } {
    while (this.rows.length <= r) this.rows.push({ cells: [], wrapped: false });
    return this.rows[r]!;
  }

  write(s: string): void {
    for (let i = 0; i < s.length; i++) {
      const ch = s[i]!;
      if (ch === '\x1b') {
        const m = /^\x1b\[(\d*)([A-Za-z])/.exec(s.slice(i));
        assert.ok(m, `unsupported escape sequence at ${JSON.stringify(s.slice(i, i + 8))}`);
        const n = m[1] === '' ? undefined : Number(m[1]);
        const cmd = m[2]!;
        if (cmd === 'A') this.r = Math.max(0, this.r - (n ?? 1));
        // Erasing a row also ends its soft wrap (nothing continues on the next row).
        else if (cmd === 'K' && n === 2) this.rows[this.r] = { cells: [], wrapped: false };
        else if (cmd === 'K' && (n ?? 0) === 0) {
          const row = this.row(this.r);
          row.cells.length = Math.min(row.cells.length, this.c);
          row.wrapped = false;
        }
        else if (cmd === 'J' && (n ?? 0) === 0) {
          const row = this.row(this.r);
          row.cells.length = Math.min(row.cells.length, this.c);
          row.wrapped = false;
          this.rows.length = this.r + 1;
        } else assert.fail(`unsupported escape sequence ESC[${m[1]}${cmd}`);
        this.wrapPending = false;
        i += m[0].length - 1;
      } else if (ch === '\r') {
        this.c = 0;
        this.wrapPending = false;
      } else if (ch === '\n') {
        this.r++;
        this.c = 0;
        this.wrapPending = false;
        this.row(this.r);
      } else {
        assert.ok(ch >= ' ', `control character ${ch.charCodeAt(0)} written`);
        if (this.wrapPending) {
          this.row(this.r).wrapped = true;
          this.r++;
          this.c = 0;
          this.wrapPending = false;
        }
        const row = this.row(this.r);
        while (row.cells.length < this.c) row.cells.push(' ');
        row.cells[this.c] = ch;
        if (this.c === this.cols - 1) this.wrapPending = true;
        else this.c++;
      }
    }
  }

  /** Re-wraps the contents to a new width; the cursor keeps its place in the text. */
  resize(cols: number): void {
    const logical: Array<{ cells: string[]; cursorAt?: number }> = [];
    let current: { cells: string[]; cursorAt?: number } | undefined;
    this.rows.forEach((row, r) => {
      if (!current) {
        current = { cells: [] };
        logical.push(current);
      }
      if (r === this.r) current.cursorAt = current.cells.length + this.c;
      current.cells.push(...row.cells, ...(row.wrapped ? Array<string>(Math.max(0, this.cols - row.cells.length)).fill(' ') : []));
      if (!row.wrapped) current = undefined;
    });
    this.cols = cols;
    this.rows = [];
    for (const line of logical) {
      const start = this.rows.length;
      const n = Math.max(1, Math.ceil(line.cells.length / cols));
      for (let k = 0; k < n; k++) this.rows.push({ cells: line.cells.slice(k * cols, (k + 1) * cols), wrapped: k < n - 1 });
      if (line.cursorAt !== undefined) {
        this.r = start + Math.floor(line.cursorAt / cols);
        this.c = line.cursorAt % cols;
        this.row(this.r);
      }
    }
    this.wrapPending = false;
  }

  /** The visible text as lines (soft-wrapped rows joined), trailing blanks and empty lines at the end left out. */
  text(): string[] {
    const out: string[] = [];
    let current = '';
    for (const row of this.rows) {
      current += row.cells.join('');
      if (row.wrapped) continue;
      out.push(current.trimEnd());
      current = '';
    }
    if (current.length > 0) out.push(current.trimEnd());
    while (out.length > 0 && out[out.length - 1] === '') out.pop();
    return out;
  }
}

/** Display width for the test's own check: CJK and fullwidth characters take 2 columns. */
function columnsOf(line: string): number {
  let w = 0;
  for (const ch of line) w += /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3\uff00-\uff60]/u.test(ch) ? 2 : 1;
  return w;
}

// ------------------------------------------------------------------ the panel

describe('live view panel (pure rendering)', () => {
  for (const columns of [40, 80, 120]) {
    it(`every line fits in ${columns} − 1 columns, with long category ids, weights on and long not-ready reasons`, () => {
      for (const state of [fakeState({ categories: LONG_CATEGORIES, weightsOn: true, applied: 987_654_321, deadLettered: 12_345_678, paused: true }), fakeState({ categories: LONG_CATEGORIES })]) {
        for (const ready of [true, false]) {
          const lines = renderPanel(frame(state, ready), columns);
          assert.ok(lines.length >= 5 && lines.length <= 6, `${lines.length} lines`);
          for (const line of lines) {
            assert.ok(columnsOf(line) <= columns - 1, `${columnsOf(line)} columns > ${columns - 1}: ${JSON.stringify(line)}`);
            assert.ok(line.length > 0, 'no empty line');
          }
          // The most important figure of each line survives the narrowest width.
          assert.match(lines[0]!, ready ? /^ready/ : /^NOT READY/);
          assert.match(lines[1]!, /^IR 93\.5 \| /);
          assert.match(lines[3]!, /^hit@10 macro 0\.190 micro 0\.657/);
          assert.match(lines[4]!, /^dlq \d/);
          if (!ready) assert.match(lines[5]!, /^not ready: Kafka consumer/);
        }
      }
    });
  }

  it('at 80 columns shows throughput, shares, weights, replay mix, macro vs micro, dead letters', () => {
    const lines = renderPanel(frame(fakeState({ categories: ['electronics', 'clothing', 'stationery'], weightsOn: true })), 80);
    assert.equal(lines.length, 5);
    assert.match(lines[0]!, /^ready \| 4985 events\/s \| applied 123\.5k \| lag 12 \| in flight 300/);
    assert.equal(lines[1]!, 'IR 93.5 | electronics 51.0% w=0.20, clothing 30.6% w=0.50, +1 more');
    assert.equal(renderPanel(frame(fakeState({ categories: ['electronics', 'clothing', 'stationery'], weightsOn: true })), 120)[1], 'IR 93.5 | electronics 51.0% w=0.20, clothing 30.6% w=0.50, stationery 18.4% w=0.80');
    assert.match(lines[2]!, /^batch mix: fresh 72%, replay 28%, synthetic 1% \| reservoirs 87% full/);
    assert.equal(lines[3]!, 'hit@10 macro 0.190 micro 0.657 | tail recs 21.0% vs interactions 12.0%');
    assert.match(renderPanel(frame(fakeState()), 120)[3]!, /\| serving τ 0\.15: macro \+5\.9%, micro -1\.4%/);
    assert.match(lines[4]!, /^dlq 37 \| late 5 \| dropped: duplicates 2, lost 0 \| invalid 37/);
  });

  it('categories that do not fit are counted ("+N more"), never cut mid-list without saying so', () => {
    const cats = Array.from({ length: 30 }, (_, i) => `c${i}`);
    const line = renderPanel(frame(fakeState({ categories: cats })), 80)[1]!;
    const m = /\+(\d+) more$/.exec(line);
    assert.ok(m, line);
    const shown = (line.match(/\bc\d+ /g) ?? []).length;
    assert.equal(shown + Number(m[1]), 30, line);
  });

  it('wide (CJK) category ids count two columns; control characters in ids never reach the terminal', () => {
    const cats = ['家電・カメラ・オーディオ・ビジュアル機器・パソコン周辺機器', '\x1b[2J\x1b[Hevil\ncategory\x07', '服'];
    for (const columns of [40, 80, 120]) {
      for (const line of renderPanel(frame(fakeState({ categories: cats }), false), columns)) {
        assert.ok(columnsOf(line) <= columns - 1, `${columnsOf(line)} > ${columns - 1}: ${line}`);
        assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f]/, JSON.stringify(line));
      }
    }
  });
});

// ------------------------------------------------------------------ redraw in place

describe('live view on a terminal (redraw in place)', () => {
  it('a redraw moves up exactly the previous line count and clears each line it writes', () => {
    const service = new FakeService();
    const out = new FakeOut(true, 100);
    const view = new LiveView({ service, out, statusIntervalMs: 30_000, now: () => 0 });
    view.tick();
    assert.equal(out.chunks.length, 1);
    assert.doesNotMatch(out.chunks[0]!, /\x1b\[\d+A/, 'nothing to move over at the first draw');
    const counts: Array<[boolean, number]> = [[false, 6], [true, 5], [true, 5], [false, 6]];
    let previous = 5;
    for (const [ready, lines] of counts) {
      service.ready = ready;
      out.chunks.length = 0;
      view.tick();
      assert.equal(out.chunks.length, 1, 'one write per redraw');
      const s = out.chunks[0]!;
      assert.ok(s.startsWith(`\x1b[${previous}A`), `starts by moving up ${previous}: ${JSON.stringify(s.slice(0, 12))}`);
      assert.equal(s.match(/\x1b\[\d+A/g)!.length, 1, 'one cursor-up');
      assert.equal(s.match(/\r\x1b\[2K/g)!.length, lines, 'each written line cleared first');
      assert.equal(s.split('\n').length - 1, lines, 'one newline per line');
      assert.ok(s.endsWith('\x1b[J'), 'clears below (a shorter panel leaves nothing)');
      previous = lines;
    }
    view.end();
  });

  it('on a screen: no leftovers as the line count, the width and the contents change, log lines go above, the summary below', () => {
    const service = new FakeService();
    const out = new FakeOut(true, 120);
    const screen = new Screen(120);
    const log = (line: string): void => { out.write(`${line}\n`); };
    out.write = ((orig) => (chunk: string | Uint8Array): boolean => {
      const s = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      screen.write(s);
      return orig.call(out, s);
    })(out.write.bind(out));
    out.write('metrics: http://127.0.0.1:9464/metrics\n');
    const view = new LiveView({ service, out, statusIntervalMs: 30_000, now: () => 0 });
    const logs = ['metrics: http://127.0.0.1:9464/metrics'];
    const expectScreen = (what: string): void => {
      const panel = renderPanel({ state: service.state(), eventsPerSecond: 0 }, out.columns);
      assert.deepEqual(screen.text(), [...logs, ...panel], what);
    };

    service.current = fakeState({ categories: LONG_CATEGORIES, weightsOn: true });
    view.tick();
    expectScreen('first panel');
    log('[rebalancer] a log line while the panel shows');
    logs.push('[rebalancer] a log line while the panel shows');
    expectScreen('the log line above the panel, the panel redrawn below');
    service.ready = false;
    view.tick();
    expectScreen('six lines (not ready)');
    screen.resize(80);
    out.resize(80);
    expectScreen('narrower terminal: redrawn at once, no copy of the wider panel');
    service.ready = true;
    service.current = fakeState({ categories: ['a', 'b'] });
    view.tick();
    expectScreen('five shorter lines over six longer ones');
    screen.resize(40);
    out.resize(40);
    service.ready = false;
    view.tick();
    expectScreen('40 columns, six lines');
    out.write(Buffer.from('[kafka warn] a client log written as bytes\n'));
    logs.push('[kafka warn] a client log written as bytes');
    expectScreen('byte writes go above too');
    screen.resize(120);
    out.resize(120);
    view.tick();
    expectScreen('wider again');
    view.end();
    out.write('summary: 74000 events applied\n');
    assert.deepEqual(screen.text(), [...logs, 'summary: 74000 events applied'], 'the panel is cleared at the end; the summary follows the log lines');
  });

  it('the screen model catches what the issue reports: the old single-line redraw leaves a cut copy behind at 80 columns', () => {
    // The line format `rebalancer run` drew before (146 characters), redrawn with CR + erase-line.
    const old = (applied: number): string => `events/s   4985 | applied ${applied} | IR 95.0 | class weights off | hit@10 macro 0.188 micro 0.669 τ 0.15 | lag 0 | dlq 34 | cat-000=1.00 cat-001=1.00 cat-002`;
    const screen = new Screen(80);
    screen.write(`\r\x1b[K${old(64500)}`);
    screen.write(`\r\x1b[K${old(69500)}`);
    const text = screen.text().join('\n');
    assert.match(text, /applied 64500/, 'a cut copy of the previous line stays on the screen');
    assert.match(text, /applied 69500/);
  });
});

// ------------------------------------------------------------------ off a terminal

const statusLine = z.object({
  ts: z.iso.datetime(),
  level: z.enum(['info', 'warn']),
  msg: z.literal('status'),
  why: z.enum(['start', 'interval', 'ready', 'not_ready', 'dead_letters']),
  ready: z.boolean(),
  notReady: z.array(z.string()),
  eventsPerSecond: z.number(),
  applied: z.number().int(),
  lag: z.number().int(),
  deadLettered: z.number().int(),
  deadLetteredNew: z.number().int().min(0),
  late: z.number().int(),
  hitRateMacro: z.number(),
  hitRateMicro: z.number(),
  top: z.array(z.object({ category: z.string(), share: z.number(), weight: z.number().nullable() })),
  trainingSamples: z.object({ fresh: z.number(), replay: z.number(), synthetic: z.number() }),
  tailShare: z.object({ recommendations: z.number(), interactions: z.number() }),
});

interface Simulated {
  lines: Array<z.infer<typeof statusLine> & { at: number }>;
  flips: number[];
  onsets: number[];
}

/**
 * Ticks a non-terminal view every 500 ms (twice as often as `run` does, with jitter) over
 * `seconds` on an injected clock, 2,500 events applied per tick, readiness flipping at
 * `flipsAt` (seconds) and dead letters arriving at `deadLettersAt`.
 */
function simulate(seconds: number, intervalMs: number, flipsAt: number[], deadLettersAt: number[]): Simulated {
  let now = 1_700_000_000_000;
  const start = now;
  const service = new FakeService();
  const out = new FakeOut(false);
  const view = new LiveView({ service, out, statusIntervalMs: intervalMs, now: () => now });
  const flips: number[] = [];
  const onsets: number[] = [];
  let dlq = 0;
  let applied = 0;
  let increasedLastTick = false;
  const lines: Simulated['lines'] = [];
  const tickMs = 500;
  for (let t = 0; t < seconds * 1000; t += tickMs) {
    now = start + t + ((t / tickMs) % 7) * 13; // setInterval jitter
    const s = t / 1000;
    const ready = flipsAt.filter((f) => f <= s).length % 2 === 0;
    if (ready !== service.ready) flips.push(now);
    service.ready = ready;
    const arrived = deadLettersAt.filter((d) => d > s - tickMs / 1000 && d <= s).length;
    if (arrived > 0 && !increasedLastTick) onsets.push(now);
    increasedLastTick = arrived > 0;
    dlq += arrived;
    applied += 2_500;
    service.current = fakeState({ applied, deadLettered: dlq });
    const before = out.chunks.length;
    view.tick();
    for (const chunk of out.chunks.slice(before)) {
      assert.ok(chunk.endsWith('\n') && chunk.indexOf('\n') === chunk.length - 1, 'one line per write');
      assert.doesNotMatch(chunk, /\x1b/, 'no escape sequences off a terminal');
      lines.push({ ...statusLine.parse(JSON.parse(chunk)), at: now });
    }
  }
  view.end();
  return { lines, flips, onsets };
}

describe('live view off a terminal (status lines)', () => {
  const seconds = 600;
  const interval = 30_000;
  const flipsAt = [100, 100.5, 300, 360];
  // A steady trickle (a corrupt payload every ~0.4 s) from 200 s to 260 s, then two stray ones.
  const trickle = Array.from({ length: 150 }, (_, i) => 200 + i * 0.4);
  const deadLettersAt = [...trickle, 450, 452.5, 520];

  it(`at most ⌈T/interval⌉ + one per state change, each a JSON object; never two within a second, never silent past the interval`, () => {
    const { lines, flips, onsets } = simulate(seconds, interval, flipsAt, deadLettersAt);
    const bound = Math.ceil((seconds * 1000) / interval) + flips.length + onsets.length;
    assert.ok(lines.length <= bound, `${lines.length} lines > ${bound}`);
    assert.ok(lines.length < seconds / 10, `${lines.length} lines in ${seconds} s`);
    assert.equal(lines[0]!.why, 'start');
    for (let i = 1; i < lines.length; i++) {
      const gap = lines[i]!.at - lines[i - 1]!.at;
      assert.ok(gap >= 1_000, `two lines ${gap} ms apart`);
      assert.ok(gap <= interval + 1_100, `silent for ${gap} ms`);
    }
    // Each readiness flip is reported within a tick of it, by a line with the new value.
    for (const at of flips) {
      const next = lines.find((l) => l.at >= at);
      assert.ok(next && next.at - at <= 1_100, `flip at ${at} not reported promptly`);
    }
    assert.deepEqual(lines.filter((l) => l.why === 'ready' || l.why === 'not_ready').map((l) => l.ready), [false, true, false, true]);
    // Dead letters after a quiet line are reported at once; a steady trickle is one line, not one a second.
    const dlqLines = lines.filter((l) => l.why === 'dead_letters');
    assert.ok(dlqLines.length >= 2 && dlqLines.length <= onsets.length, `${dlqLines.length} dead-letter lines for ${onsets.length} onsets`);
    assert.ok(dlqLines[0]!.at - onsets[0]! <= 1_100 && dlqLines[0]!.deadLetteredNew > 0);
    const duringTrickle = lines.filter((l) => l.at >= onsets[0]! && l.at < onsets[0]! + 60_000);
    assert.ok(duringTrickle.length <= 3, `${duringTrickle.length} lines during a 60 s trickle of dead letters`);
    // The counts add up: the dead letters since each line sum to the total.
    assert.equal(lines.reduce((a, l) => a + l.deadLetteredNew, 0), lines[lines.length - 1]!.deadLettered);
    // The rate is over the period since the previous line (5,000 events a tick here).
    for (const l of lines.slice(1)) assert.ok(Math.abs(l.eventsPerSecond - 5_000) < 200, `${l.eventsPerSecond} events/s`);
  });

  it('--status-interval-ms 0: no output at all', () => {
    const { lines } = simulate(120, 0, [10, 20], [5, 6, 7]);
    assert.equal(lines.length, 0);
    const out = new FakeOut(true);
    const view = new LiveView({ service: new FakeService(), out, statusIntervalMs: 0 });
    view.tick();
    view.end();
    assert.deepEqual(out.chunks, [], 'and no panel on a terminal');
  });
});

describe('--status-interval-ms setting', () => {
  it('defaults to 30000, accepts 0 (off) and 1000..86400000, rejects what would log more than once a second', () => {
    assert.equal(loadConfig({}).statusIntervalMs, 30_000);
    assert.equal(loadConfig({ flags: { statusIntervalMs: '0' } }).statusIntervalMs, 0);
    assert.equal(loadConfig({ env: { REBALANCER_STATUS_INTERVAL_MS: '1000' } }).statusIntervalMs, 1_000);
    for (const bad of ['500', '-1', '1e3', 'often', '86400001']) {
      assert.throws(() => loadConfig({ flags: { statusIntervalMs: bad } }), (err: unknown) => isRebalancerError(err, 'REB_CONFIG_INVALID') && /--status-interval-ms/.test(err.message) && /0, or an integer in \[1000, 86400000\]/.test(err.message), bad);
    }
  });
});

// ------------------------------------------------------------------ the real CLI

describe('rebalancer run with stderr piped (a real child process)', () => {
  it('writes far fewer than one status line per second over ~15 s of events, each one JSON object', { timeout: 90_000 }, async () => {
    const started = Date.now();
    const run = startCli(['run', '--embedded', '--duration', '15', '--rate', '3000', '--http-port', '0']);
    const code = await run.exited;
    const { stdout, stderr } = run.output;
    assert.equal(code, 0, stderr.slice(-3000));
    assert.match(stdout, /summary: [1-9]\d+ events applied in (\d+\.\d) s/);
    const seconds = Number(/events applied in (\d+\.\d) s/.exec(stdout)![1]);
    assert.ok(seconds >= 15, `ran ${seconds} s`);
    assert.doesNotMatch(stderr, /events\/s +\d+ \| applied/, 'no old-style status line');
    assert.doesNotMatch(stderr, /\x1b\[/, 'no escape sequences into a pipe');
    const status = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => statusLine.parse(JSON.parse(l)));
    // 15 s at the default 30 s interval: the start line, dead letters starting (the embedded
    // producer sends corrupt payloads), perhaps a readiness flip: not 15.
    assert.ok(status.length >= 1 && status.length <= 4, `${status.length} status lines in ${seconds} s:\n${stderr.slice(-3000)}`);
    assert.ok(status.some((l) => l.applied > 0), 'live numbers');
    assert.ok(Date.now() - started < 60_000, `took ${Date.now() - started} ms`);
  });
});
