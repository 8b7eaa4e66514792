import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createEventCodec } from '../../src/codec/index.js';
import { openEventFile } from '../../src/adapters/event-file.js';
import { InteractionGenerator, baseShares } from '../../src/offline/generate.js';
import { cli, tempDir } from './helpers.js';

const codec = createEventCodec();

function countBy<T>(items: Iterable<T>, key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of items) m.set(key(t), (m.get(key(t)) ?? 0) + 1);
  return m;
}

describe('generate', () => {
  for (const [profile, extra] of [['simple', ['--drift', '0.5']], ['realistic', ['--repeat-share', '0.2']]] as const) {
    it(`writes the same file twice for the same seed and a different one for another seed (--profile ${profile})`, async () => {
      const dir = tempDir('generate-test');
      const gen = (name: string, seed: string): Promise<void> => cli('generate', '--profile', profile, '--out', join(dir, name), '--events', '5000', '--seed', seed, ...extra);
      await gen('a.bin', '3');
      await gen('b.bin', '3');
      await gen('c.bin', '4');
      const a = readFileSync(join(dir, 'a.bin'));
      assert.ok(a.length > 5000 * 20);
      assert.ok(a.equals(readFileSync(join(dir, 'b.bin'))), 'same seed, same bytes');
      assert.ok(!a.equals(readFileSync(join(dir, 'c.bin'))), 'another seed, other bytes');
      const f = openEventFile(join(dir, 'a.bin'));
      assert.match(f.header.source, new RegExp(`^generate profile=${profile} seed=3 `));
      const events = [...f.records()].map((r) => codec.decode(r.payload));
      f.close();
      assert.equal(events.length, 5000);
      for (let i = 1; i < events.length; i++) assert.ok(events[i]!.eventTime >= events[i - 1]!.eventTime, 'event time never goes back');
      assert.equal(events.every((e) => e.sessionId !== null), profile === 'realistic', 'realistic events carry sessions');
    });
  }

  it('has the configured head/tail skew within 20% and purchases rarer than clicks', () => {
    for (const skew of [10, 100]) {
      const g = new InteractionGenerator({ seed: 9, events: 200_000, skew, categories: 20 });
      const events = Array.from({ length: 200_000 }, () => g.next());
      const perCat = countBy(events, (e) => e.categoryId);
      const ratio = perCat.get('cat-000')! / perCat.get('cat-019')!;
      assert.ok(ratio > skew * 0.8 && ratio < skew * 1.2, `skew ${skew}: measured ${ratio.toFixed(1)}`);
      const types = countBy(events, (e) => e.type);
      assert.ok(types.get('purchase')! < types.get('add_to_cart')! && types.get('add_to_cart')! < types.get('click')! && types.get('click')! < types.get('view')!, JSON.stringify([...types]));
    }
    const shares = baseShares(20, 100);
    assert.ok(Math.abs(shares[0]! / shares[19]! - 100) < 1e-9);
  });

  it("gives users learnable preferences: a user's events concentrate on few categories", () => {
    const g = new InteractionGenerator({ seed: 5, events: 200_000 });
    const byUser = new Map<string, Map<string, number>>();
    for (let i = 0; i < 200_000; i++) {
      const e = g.next();
      const m = byUser.get(e.userId) ?? new Map<string, number>();
      m.set(e.categoryId, (m.get(e.categoryId) ?? 0) + 1);
      byUser.set(e.userId, m);
    }
    // Share of a user's events in their top-3 categories, over users with ≥ 20 events.
    let top3 = 0;
    let total = 0;
    for (const m of byUser.values()) {
      const counts = [...m.values()].sort((a, b) => b - a);
      const n = counts.reduce((s, x) => s + x, 0);
      if (n < 20) continue;
      top3 += counts.slice(0, 3).reduce((s, x) => s + x, 0);
      total += n;
    }
    assert.ok(total > 100_000, `only ${total} events of active users`);
    assert.ok(top3 / total > 0.8, `top-3 share ${(top3 / total).toFixed(2)}`);
  });

  it('drifts category popularity over the run when --drift > 0', () => {
    const share = (drift: number): [number, number] => {
      const g = new InteractionGenerator({ seed: 1, events: 100_000, drift });
      const first = new Map<string, number>();
      const second = new Map<string, number>();
      for (let i = 0; i < 100_000; i++) {
        const e = g.next();
        const m = i < 50_000 ? first : second;
        m.set(e.categoryId, (m.get(e.categoryId) ?? 0) + 1);
      }
      // Total variation distance between the two halves' category mixes.
      let tv = 0;
      for (const c of new Set([...first.keys(), ...second.keys()])) tv += Math.abs((first.get(c) ?? 0) - (second.get(c) ?? 0)) / 50_000;
      return [tv / 2, 0];
    };
    const still = share(0)[0];
    const moving = share(1)[0];
    assert.ok(still < 0.02, `no drift: TV ${still}`);
    assert.ok(moving > 0.1, `drift 1: TV ${moving}`);
  });
});
