import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createEventCodec } from '../../src/codec/index.js';
import { CsvParser } from '../../src/adapters/csv.js';
import { openEventFile } from '../../src/adapters/event-file.js';
import { spawnCli, tempDir } from './helpers.js';

const codec = createEventCodec();

describe('csv parser', () => {
  it('handles quotes, doubled quotes, embedded delimiters and line breaks, CRLF, chunk boundaries', () => {
    const text = 'a,b,c\r\n"x,1","say ""hi""","two\nlines"\r\nplain,,end\n"bad"x,y,z\nlast,row,here';
    const expectRecords = (chunks: string[]): void => {
      const p = new CsvParser();
      const recs = chunks.flatMap((c) => p.push(c)).concat(p.end());
      assert.deepEqual(recs.map((r) => [r.line, r.fields, r.error !== undefined]), [
        [1, ['a', 'b', 'c'], false],
        [2, ['x,1', 'say "hi"', 'two\nlines'], false],
        [4, ['plain', '', 'end'], false],
        [5, [], true], // fields of a malformed record are dropped
        [6, ['last', 'row', 'here'], false],
      ]);
    };
    expectRecords([text]);
    expectRecords(text.split('')); // one character per chunk
  });

  it('reports an unterminated quoted field at the end', () => {
    const p = new CsvParser();
    const recs = [...p.push('a,b\n1,"open\n'), ...p.end()];
    assert.equal(recs.length, 2);
    assert.match(recs[1]!.error!, /never closed/);
  });
});

describe('import', () => {
  it('maps a CSV into an event file and reports each bad row with its line and reason', async () => {
    const dir = tempDir('import-test');
    const csv = join(dir, 'log.csv');
    writeFileSync(csv, [
      'user,item,cat,ts,rating',
      'u1,i1,phones,1767225600,5',
      'u2,"i,2","toys ""deluxe""",1767225601,2',
      'u3,i3,phones,yesterday,4',
      'u4,i4,,1767225603,4',
      'u5,i5,books,1767225604',
      'u6,i6,books,1767225605,4.5',
      '',
    ].join('\n'));
    const out = join(dir, 'events.bin');
    const r = await spawnCli(['import', csv, '--user-col', 'user', '--item-col', 'item', '--category-col', 'cat', '--time-col', 'ts', '--time-unit', 's', '--rating-col', 'rating', '--purchase-threshold', '4', '--out', out, '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /line 4: time "yesterday" is not a number of seconds/);
    assert.match(r.stderr, /line 5: empty category/);
    assert.match(r.stderr, /line 6: has 4 fields, the header has 5/);
    assert.match(r.stderr, /imported 3 of 6 rows .* rejected 3/);
    const f = openEventFile(out);
    const events = [...f.records()].map((x) => codec.decode(x.payload));
    f.close();
    assert.deepEqual(events.map((e) => [e.userId, e.itemId, e.categoryId, e.type, e.eventTime]), [
      ['u1', 'i1', 'phones', 'purchase', 1767225600000],
      ['u2', 'i,2', 'toys "deluxe"', 'click', 1767225601000],
      ['u6', 'i6', 'books', 'purchase', 1767225605000],
    ]);
    assert.ok(events.every((e) => /^imp-[0-9a-f]{20}$/.test(e.eventId)));
    assert.equal(new Set(events.map((e) => e.eventId)).size, 3);

    // Deterministic ids: a second import gives the same ids.
    const out2 = join(dir, 'events2.bin');
    const r2 = await spawnCli(['import', csv, '--user-col', 'user', '--item-col', 'item', '--category-col', 'cat', '--time-col', 'ts', '--time-unit', 's', '--rating-col', 'rating', '--out', out2, '--quiet']);
    assert.equal(r2.code, 0);
    const f2 = openEventFile(out2);
    assert.deepEqual([...f2.records()].map((x) => codec.decode(x.payload).eventId), events.map((e) => e.eventId));
    f2.close();

    // Over --max-errors: non-zero exit, one error line, no output file.
    const out3 = join(dir, 'events3.bin');
    const r3 = await spawnCli(['import', csv, '--user-col', 'user', '--item-col', 'item', '--category-col', 'cat', '--time-col', 'ts', '--time-unit', 's', '--rating-col', 'rating', '--out', out3, '--max-errors', '1', '--quiet']);
    assert.equal(r3.code, 2);
    assert.match(r3.stderr, /rebalancer: .*more than --max-errors 1 rows rejected.*\[REB_INPUT_INVALID\]/);
    assert.throws(() => openEventFile(out3), /no such file/);
  });

  it('imports a 1990s log as it is: every row, with its own event time (from 1970-01-01 on)', async () => {
    const dir = tempDir('import-1990s');
    const csv = join(dir, 'ratings.csv');
    // MovieLens-style ratings: seconds since the epoch, 1970 to 1999 (all before the old 2000-01-01 bound).
    const times = [0, Date.UTC(1996, 0, 29, 12, 0, 0), Date.UTC(1997, 5, 15, 8, 30, 1), Date.UTC(1998, 11, 31, 23, 59, 59), Date.UTC(1999, 11, 31, 23, 59, 59)];
    writeFileSync(csv, ['userId,movieId,genre,timestamp,rating', ...times.map((t, i) => `u${i},m${i},g${i % 2},${t / 1000},${i + 1}`), ''].join('\n'));
    const out = join(dir, 'events.bin');
    const r = await spawnCli(['import', csv, '--user-col', 'userId', '--item-col', 'movieId', '--category-col', 'genre', '--time-col', 'timestamp', '--time-unit', 's', '--rating-col', 'rating', '--out', out, '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /imported 5 of 5 rows .* rejected 0/);
    const f = openEventFile(out);
    const events = [...f.records()].map((x) => codec.decode(x.payload));
    f.close();
    assert.deepEqual(events.map((e) => [e.userId, e.eventTime]), times.map((t, i) => [`u${i}`, t]));
  });

  it('fails (exit 2, one rebalancer: line) when every row is rejected, and writes no file', async () => {
    const dir = tempDir('import-all-rejected');
    const csv = join(dir, 'log.csv');
    // Before 1970 and unparsable: no row can be imported.
    writeFileSync(csv, ['user,item,cat,ts,type', 'u1,i1,c1,-86400,click', 'u2,i2,c2,-1,purchase', 'u3,i3,c3,soon,click', ''].join('\n'));
    const out = join(dir, 'events.bin');
    const r = await spawnCli(['import', csv, '--user-col', 'user', '--item-col', 'item', '--category-col', 'cat', '--time-col', 'ts', '--time-unit', 's', '--type-col', 'type', '--out', out, '--quiet']);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.deepEqual(lines.slice(0, -1).map((l) => l.replace(/^.*: (line \d+): .*$/, '$1')), ['line 2', 'line 3', 'line 4']);
    assert.match(lines[2]!, /line 4: time "soon" is not a number of seconds/);
    assert.match(lines[0]!, /line 2: eventTime -86400000 outside \[1970-01-01, 2100-01-01\]/);
    assert.equal(lines.filter((l) => l.startsWith('rebalancer:')).length, 1);
    assert.match(lines.at(-1)!, /^rebalancer: .*log\.csv: no events imported: all 3 rows were rejected \(first: line 2: eventTime -86400000 outside .*\) \[REB_INPUT_INVALID\]$/);
    assert.throws(() => openEventFile(out), /no such file/);
    assert.throws(() => openEventFile(`${out}.partial`), /no such file/);
  });

  it('fails with exactly one line when a non-empty log has no data rows', async () => {
    const dir = tempDir('import-no-rows');
    const csv = join(dir, 'header-only.csv');
    writeFileSync(csv, 'user,item,cat,ts,type\n');
    const jsonl = join(dir, 'blank.jsonl');
    writeFileSync(jsonl, '\n\n');
    for (const log of [csv, jsonl]) {
      const out = join(dir, 'events.bin');
      const r = await spawnCli(['import', log, '--user-col', 'user', '--item-col', 'item', '--category-col', 'cat', '--time-col', 'ts', '--type-col', 'type', '--out', out, '--quiet']);
      assert.equal(r.code, 2, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^rebalancer: .*: no events imported: it has no data rows \[REB_INPUT_INVALID\]$/);
      assert.throws(() => openEventFile(out), /no such file/);
    }
  });

  it('reads JSON lines with a type column and a type map', async () => {
    const dir = tempDir('import-jsonl');
    const log = join(dir, 'log.jsonl');
    writeFileSync(log, [
      JSON.stringify({ id: 'e1', u: 7, i: 'a', c: 'x', t: '2026-01-01T00:00:00Z', kind: 'pv' }),
      JSON.stringify({ id: 'e2', u: 8, i: 'b', c: 'y', t: '2026-01-01T00:00:01Z', kind: 'fav' }),
      'not json',
      JSON.stringify({ id: 'e3', u: 9, i: 'b', c: 'y', t: '2026-01-01T00:00:02Z', kind: 'wishlist' }),
    ].join('\n'));
    const out = join(dir, 'out.bin');
    const r = await spawnCli(['import', log, '--id-col', 'id', '--user-col', 'u', '--item-col', 'i', '--category-col', 'c', '--time-col', 't', '--time-unit', 'iso', '--type-col', 'kind', '--type-map', 'fav=add_to_cart', '--out', out, '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /line 3: not valid JSON/);
    assert.match(r.stderr, /line 4: unknown event type "wishlist"/);
    const f = openEventFile(out);
    const events = [...f.records()].map((x) => codec.decode(x.payload));
    f.close();
    assert.deepEqual(events.map((e) => [e.eventId, e.userId, e.type, e.eventTime]), [
      ['e1', '7', 'view', Date.UTC(2026, 0, 1)],
      ['e2', '8', 'add_to_cart', Date.UTC(2026, 0, 1, 0, 0, 1)],
    ]);
  });
});
