import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createProgress, formatEta } from '../../src/cli/progress.js';

/** A writable that says it is a terminal, so createProgress draws the cli-progress bar; keeps everything written. */
function fakeTerminal(): { stream: Writable & { isTTY: boolean }; text: () => string } {
  let out = '';
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  // The terminal fields cli-progress reads; readline's cursor calls only write escape sequences.
  return { stream: Object.assign(w, { isTTY: true, columns: 200, rows: 40 }), text: () => out };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** What cli-progress's {eta_formatted} prints for an infinite or NaN ETA, and the raw values. */
const BAD = /NaN|Infinity|INF|NULL|NFs|LLs|undefined/;

describe('progress bar', () => {
  it('never shows NaN or Infinity in the ETA: "--" without a rate, a time once events flow', async () => {
    const { stream, text } = fakeTerminal();
    // A paced replay: nothing acknowledged for a while (rate 0), then steady progress.
    const p = createProgress({ label: 'replay', total: 1_000, stream });
    let idle: string;
    try {
      p.update(0);
      await sleep(250);
      p.update(0);
      await sleep(250);
      idle = text();
      for (let done = 100; done <= 500; done += 100) {
        p.update(done);
        await sleep(150);
      }
      // More done than the total that was announced (a time range's upper bound was low), then an unknown total.
      p.update(1_200);
      await sleep(150);
      p.setTotal(0);
      p.update(1_300);
      await sleep(150);
    } finally {
      p.stop();
    }
    const all = text();
    assert.doesNotMatch(all, BAD, `progress output: ${JSON.stringify(all.slice(-400))}`);
    assert.match(idle, /ETA --/, 'no rate yet: ETA --');
    assert.match(all.slice(idle.length), /ETA \d+s/, 'a numeric ETA once events flow');
    assert.match(all.slice(all.lastIndexOf('replay [')), /ETA --/, 'past or without a total: ETA --');
  });

  it('a resumed run counts only its own events in rate and ETA', async () => {
    const { stream, text } = fakeTerminal();
    const p = createProgress({ label: 'replay', total: 10_000, initial: 9_000, stream });
    try {
      await sleep(200);
      p.update(9_000);
      await sleep(150);
    } finally {
      p.stop();
    }
    assert.match(text(), /9000\/10000/);
    assert.match(text(), /\| 0\/s \| ETA --/, 'the 9000 events of earlier runs are not a rate');
    assert.doesNotMatch(text(), BAD);
  });

  it('plain lines (not a terminal) carry no NaN or Infinity either', async () => {
    let out = '';
    const stream = new Writable({ write(chunk: Buffer, _e, cb) { out += chunk.toString(); cb(); } });
    const p = createProgress({ label: 'replay', total: 0, stream, plainIntervalMs: 10 });
    await sleep(20);
    p.update(0);
    await sleep(20);
    p.update(5);
    p.stop();
    assert.ok(out.length > 0, 'lines were written');
    assert.doesNotMatch(out, BAD);
  });

  it('formats ETAs', () => {
    assert.equal(formatEta(undefined), '--');
    assert.equal(formatEta(Infinity), '--');
    assert.equal(formatEta(Number.NaN), '--');
    assert.equal(formatEta(45), '45s');
    assert.equal(formatEta(725), '12m05s');
    assert.equal(formatEta(12_000), '3h20m');
  });
});
