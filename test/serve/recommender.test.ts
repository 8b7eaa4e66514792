/**
 * The Recommender with a fake ScoringPort (a score per item, top K by score): the scorer's
 * top K of the current candidates comes back for the K asked (HTTP) or configured (event
 * triggers), with the scorer's version and cold-start answer; candidates are fetched at most
 * once per CANDIDATE_TTL_MS; the tail-share gauge equals a naive count over the most recent
 * recommended items against balance/tail.ts's head; the trigger queue holds MAX_PENDING
 * users and counts each drop; the pump sends each slice as one batch and counts what was
 * acknowledged. cold-start.test.ts covers the real model's cold-start flag,
 * stable-merge.test.ts the candidate layout.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { z } from 'zod';
import { Rng } from '../../src/balance/rng.js';
import { headCategories } from '../../src/balance/tail.js';
import type { RecommendationMessage, RecommendedItem } from '../../src/codec/index.js';
import type { CandidateItem, ScoringPort } from '../../src/ports/index.js';
import { CANDIDATE_TTL_MS, MAX_PENDING, Recommender, type OutputMessage, type RecommenderOptions } from '../../src/serve/recommender.js';

/** Recently recommended items the tail-share gauge covers (TAIL_RING in src/serve/recommender.ts). */
const TAIL_WINDOW = 5_000;

/** Scores each item by a fixed table; ranks like a model would (score, then item id). */
class FakeScorer implements ScoringPort {
  readonly calls: Array<{ userId: string; k: number; candidates: readonly CandidateItem[] }> = [];
  readonly coldAsked: string[] = [];
  constructor(
    readonly version: string,
    private readonly score: (itemId: string) => number,
    private readonly cold: (userId: string) => boolean | null = () => false,
    private readonly failFor: ReadonlySet<string> = new Set(),
  ) {}

  recommend(userId: string, candidates: readonly CandidateItem[], k: number): RecommendedItem[] {
    this.calls.push({ userId, k, candidates: [...candidates] });
    if (this.failFor.has(userId)) throw new Error(`no embedding for ${userId}`);
    return topK(candidates, k, this.score);
  }

  coldStart(userId: string): boolean | null {
    this.coldAsked.push(userId);
    return this.cold(userId);
  }
}

/** The reference: every candidate scored, sorted, the first k. */
function topK(candidates: readonly CandidateItem[], k: number, score: (itemId: string) => number): RecommendedItem[] {
  return candidates
    .map((c) => ({ itemId: c.itemId, categoryId: c.categoryId, score: score(c.itemId) }))
    .sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : 1))
    .slice(0, k);
}

function scoreTable(seed: number): (itemId: string) => number {
  const rng = new Rng(seed);
  const table = new Map<string, number>();
  return (itemId) => {
    let s = table.get(itemId);
    if (s === undefined) table.set(itemId, (s = rng.next()));
    return s;
  };
}

function catalogue(n: number, categories: number, prefix = 'i'): CandidateItem[] {
  return Array.from({ length: n }, (_, i) => ({ itemId: `${prefix}${i}`, categoryId: `c${i % categories}` }));
}

const messageSchema = z.object({ userId: z.string(), items: z.array(z.object({ itemId: z.string(), categoryId: z.string(), score: z.number() })), modelVersion: z.string(), generatedAt: z.number() });

interface Built {
  rec: Recommender;
  durations: Array<'http' | 'event'>;
  drops: { count: number };
  candidateCalls: { count: number };
  sends: OutputMessage[][];
  logs: string[];
  clock: { now: number };
}

function build(o: { scorer: () => ScoringPort; candidates?: () => { items: CandidateItem[]; head: ReadonlySet<string> }; k?: number; send?: (m: OutputMessage[]) => Promise<void> }): Built {
  const durations: Array<'http' | 'event'> = [];
  const drops = { count: 0 };
  const candidateCalls = { count: 0 };
  const sends: OutputMessage[][] = [];
  const logs: string[] = [];
  const clock = { now: 1_000_000 };
  const candidates = o.candidates ?? (() => ({ items: catalogue(40, 5), head: new Set(['c0']) }));
  const opts: RecommenderOptions = {
    k: o.k ?? 4,
    candidates: () => {
      candidateCalls.count++;
      return candidates();
    },
    scorer: o.scorer,
    metrics: { observeDuration: (s, trigger) => { assert.ok(s >= 0); durations.push(trigger); }, droppedBacklog: () => drops.count++ },
    encode: (m: RecommendationMessage) => Buffer.from(JSON.stringify(m)),
    send: o.send ?? (async (m) => { sends.push(m); }),
    now: () => clock.now,
    log: (m) => logs.push(m),
    sliceMs: 10_000,
    cpuShare: 1,
  };
  return { rec: new Recommender(opts), durations, drops, candidateCalls, sends, logs, clock };
}

async function waitFor(what: string, test: () => boolean, ms = 5_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!test()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const running: Recommender[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

describe('recommender: items, k and what the scorer says', { timeout: 20_000 }, () => {
  it('returns the scorer\'s top k of every candidate for the k asked, k beyond the candidates giving all of them', () => {
    const score = scoreTable(3);
    const scorer = new FakeScorer('m-1', score);
    const items = catalogue(40, 5);
    const { rec, durations } = build({ scorer: () => scorer, candidates: () => ({ items, head: new Set() }), k: 4 });
    for (const k of [1, 3, 10, 40, 55]) {
      const got = rec.recommend('u1', k, 'http');
      assert.deepEqual(got.items, topK(items, k, score), `k=${k}`);
      assert.equal(got.items.length, Math.min(k, items.length));
      assert.equal(scorer.calls.at(-1)!.k, k, 'the asked k, not the configured one');
      assert.deepEqual(new Set(scorer.calls.at(-1)!.candidates.map((c) => c.itemId)), new Set(items.map((c) => c.itemId)), 'every candidate scored');
    }
    assert.deepEqual(durations, ['http', 'http', 'http', 'http', 'http']);
  });

  it('stamps the version of the scorer the items came from, the clock, the user and its cold-start answer (true, false, null)', () => {
    const cold = new Map<string, boolean | null>([['new-user', true], ['known', false], ['no-wide-part', null]]);
    const scorers = [new FakeScorer('m-1', scoreTable(1), (u) => cold.get(u)!), new FakeScorer('m-2', scoreTable(1), (u) => cold.get(u)!)];
    let asked = 0;
    const { rec, clock } = build({ scorer: () => scorers[Math.min(asked++, 1)]! });
    clock.now = 1_767_225_600_000;
    const first = rec.recommend('new-user', 3, 'http');
    assert.equal(first.coldStart, true);
    assert.equal(first.modelVersion, 'm-1');
    assert.equal(first.userId, 'new-user');
    assert.equal(first.generatedAt, 1_767_225_600_000);
    // A new model is picked up at the next request, and asked about the user it scored for.
    const second = rec.recommend('known', 3, 'http');
    assert.equal(second.modelVersion, 'm-2');
    assert.equal(second.coldStart, false);
    assert.equal(rec.recommend('no-wide-part', 3, 'http').coldStart, null);
    assert.deepEqual(scorers[0]!.coldAsked, ['new-user']);
    assert.deepEqual(scorers[1]!.coldAsked, ['known', 'no-wide-part'], 'cold start asked of the scorer that ranked');
    assert.equal(asked, 3, 'one scorer per request');
  });

  it('fetches candidates at most once per CANDIDATE_TTL_MS, then scores the fresh set; invalidateCandidates fetches at once', () => {
    const score = scoreTable(5);
    const scorer = new FakeScorer('m', score);
    let generation = 0;
    const sets = [catalogue(30, 3, 'a'), [...catalogue(20, 3, 'a'), ...catalogue(10, 3, 'b')], catalogue(12, 3, 'c')];
    const { rec, candidateCalls, clock } = build({ scorer: () => scorer, candidates: () => ({ items: sets[generation]!, head: new Set() }) });
    const idsScored = (): Set<string> => new Set(scorer.calls.at(-1)!.candidates.map((c) => c.itemId));

    rec.recommend('u', 5, 'http');
    generation = 1;
    clock.now += CANDIDATE_TTL_MS - 1;
    const stale = rec.recommend('u', 5, 'http');
    assert.equal(candidateCalls.count, 1, 'within the TTL: not fetched again');
    assert.deepEqual(stale.items, topK(sets[0]!, 5, score));
    clock.now += 1;
    const fresh = rec.recommend('u', 5, 'http');
    assert.equal(candidateCalls.count, 2);
    assert.deepEqual(idsScored(), new Set(sets[1]!.map((c) => c.itemId)), 'departed items gone, arrivals in');
    assert.deepEqual(fresh.items, topK(sets[1]!, 5, score));
    generation = 2;
    rec.invalidateCandidates();
    const smaller = rec.recommend('u', 5, 'http');
    assert.equal(candidateCalls.count, 3);
    assert.deepEqual(idsScored(), new Set(sets[2]!.map((c) => c.itemId)));
    assert.deepEqual(smaller.items, topK(sets[2]!, 5, score));
  });
});

describe('recommender: the tail-share gauge', { timeout: 20_000 }, () => {
  it('is 0 before any recommendation and equals a naive count over the last 5,000 recommended items against balance/tail.ts\'s head', () => {
    const rng = new Rng(17);
    const categories = Array.from({ length: 12 }, (_, i) => `c${i}`);
    // Skewed window counts, redrawn at each candidate refresh: the head moves.
    const drawHead = (): Set<string> => headCategories(new Map(categories.map((c, i) => [c, Math.floor(1_000 / (i + 1) ** 1.2) + rng.int(200)])));
    let head = drawHead();
    const items = Array.from({ length: 300 }, (_, i) => ({ itemId: `i${i}`, categoryId: categories[rng.int(categories.length)]! }));
    const scorer = new FakeScorer('m', scoreTable(23));
    const { rec, clock } = build({ scorer: () => scorer, candidates: () => ({ items, head }) });
    assert.equal(rec.tailShare(), 0);

    /** Whether each recommended item was outside the head in force when it was recommended. */
    const tail: boolean[] = [];
    for (let request = 0; request < 2_500; request++) {
      if (request % 100 === 0) {
        head = drawHead();
        clock.now += CANDIDATE_TTL_MS;
      }
      const got = rec.recommend(`u${rng.int(500)}`, 1 + rng.int(10), 'http');
      const inForce = head;
      for (const item of got.items) tail.push(!inForce.has(item.categoryId));
      if (request % 50 === 49) {
        const recent = tail.slice(-TAIL_WINDOW);
        const expected = recent.filter(Boolean).length / recent.length;
        assert.equal(rec.tailShare(), expected, `after ${tail.length} items`);
      }
    }
    assert.ok(tail.length > 2 * TAIL_WINDOW, `${tail.length} items: the window wrapped`);
    const share = rec.tailShare();
    assert.ok(share > 0 && share < 1, `a mix of head and tail (${share})`);
  });

  it('forgets items older than the last 5,000: all tail, then 5,000 head items, reads 0', () => {
    let head: ReadonlySet<string> = new Set();
    const items = [{ itemId: 'x', categoryId: 'c-rare' }];
    const { rec, clock } = build({ scorer: () => new FakeScorer('m', () => 1), candidates: () => ({ items, head }) });
    for (let i = 0; i < 3_000; i++) rec.recommend('u', 1, 'http');
    assert.equal(rec.tailShare(), 1);
    head = headCategories(new Map([['c-rare', 10]]));
    clock.now += CANDIDATE_TTL_MS;
    for (let i = 0; i < TAIL_WINDOW - 1; i++) rec.recommend('u', 1, 'http');
    assert.equal(rec.tailShare(), 1 / TAIL_WINDOW, 'one tail item left in the window');
    rec.recommend('u', 1, 'http');
    assert.equal(rec.tailShare(), 0);
  });
});

describe('recommender: the trigger queue and the pump', { timeout: 20_000 }, () => {
  it(`holds at most MAX_PENDING (${MAX_PENDING}) distinct users, counting each refused trigger; a queued user again is no drop`, async () => {
    const scorer = new FakeScorer('m', scoreTable(2));
    const b = build({ scorer: () => scorer, k: 3 });
    for (let i = 0; i < MAX_PENDING; i++) assert.equal(b.rec.enqueue(`u${i}`), true);
    assert.equal(b.rec.enqueue('u0'), true, 'already queued');
    assert.equal(b.rec.enqueue(`u${MAX_PENDING - 1}`), true);
    assert.equal(b.drops.count, 0);
    for (let i = 0; i < 25; i++) assert.equal(b.rec.enqueue(`late${i}`), false);
    assert.equal(b.drops.count, 25, 'every refused trigger counted');

    running.push(b.rec);
    b.rec.start();
    await waitFor('the queue served', () => b.rec.producedCount === MAX_PENDING);
    // One slice (sliceMs is ample): one produce call with every queued user once, k items each.
    assert.equal(b.sends.length, 1);
    const keys = b.sends[0]!.map((m) => m.key);
    assert.equal(new Set(keys).size, MAX_PENDING);
    assert.ok(!keys.some((k) => k.startsWith('late')), 'dropped triggers never served');
    assert.deepEqual(new Set(scorer.calls.map((c) => c.k)), new Set([3]), 'event triggers use the configured k');
    assert.equal(b.durations.filter((t) => t === 'event').length, MAX_PENDING);
    // Drained: the queue takes users again.
    assert.equal(b.rec.enqueue('late0'), true);
    await waitFor('the new user served', () => b.rec.producedCount === MAX_PENDING + 1);
    assert.equal(b.drops.count, 25);
  });

  it('sends each user\'s recommendation keyed by user; skips empty ones; a user whose scoring throws is logged and the rest served', async () => {
    const score = scoreTable(9);
    const scorer = new FakeScorer('m-7', score, () => false, new Set(['broken']));
    const items = catalogue(20, 4);
    let empty = false;
    const b = build({ scorer: () => scorer, k: 2, candidates: () => ({ items: empty ? [] : items, head: new Set() }) });
    running.push(b.rec);
    for (const u of ['alice', 'broken', 'bob']) b.rec.enqueue(u);
    b.rec.start();
    await waitFor('two served', () => b.rec.producedCount === 2);
    const sent = b.sends.flat();
    assert.deepEqual(sent.map((m) => m.key), ['alice', 'bob']);
    for (const m of sent) {
      const message = messageSchema.parse(JSON.parse(m.value.toString()));
      assert.equal(message.userId, m.key);
      assert.equal(message.modelVersion, 'm-7');
      assert.deepEqual(message.items, topK(items, 2, score));
    }
    assert.deepEqual(b.logs, ['recommendation for broken failed: no embedding for broken']);

    empty = true;
    b.rec.invalidateCandidates();
    b.rec.enqueue('carol');
    await waitFor('carol scored', () => scorer.calls.some((c) => c.userId === 'carol'));
    // A slice pushes its batch in the same synchronous stretch as the scoring: a send would have started.
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(b.sends.flat().length, 2, 'no message without items');
  });

  it('counts only acknowledged recommendations: a failed send is logged, not retried; stop() waits for the send in flight', async () => {
    let fail = true;
    let sending = false;
    let release: () => void = () => {};
    const acks: string[][] = [];
    const b = build({
      scorer: () => new FakeScorer('m', scoreTable(4)),
      send: async (m) => {
        if (fail) throw new Error('broker unavailable');
        sending = true;
        await new Promise<void>((r) => (release = r));
        acks.push(m.map((x) => x.key));
      },
    });
    running.push(b.rec);
    b.rec.enqueue('a');
    b.rec.start();
    await waitFor('the failure logged', () => b.logs.length > 0);
    assert.deepEqual(b.logs, ['producing 1 recommendations failed: broker unavailable']);
    assert.equal(b.rec.producedCount, 0);
    fail = false;
    b.rec.enqueue('b');
    await waitFor('the send of b started', () => sending);
    assert.equal(b.rec.producedCount, 0, 'not counted before acknowledged');
    let stopped = false;
    const stopping = b.rec.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(stopped, false, 'stop() waits for the acknowledgement');
    release();
    await stopping;
    assert.deepEqual(acks, [['b']], 'a was not retried');
    assert.equal(b.rec.producedCount, 1);
  });
});
