/**
 * Head and tail categories: the project's one definition of "tail" (issue #17). The head is
 * the smallest set of the most frequent categories that together hold at least `headMass`
 * (80%) of the window's events; every other category is in the tail (isTail), one the counts
 * have never seen included. Ties are broken by category id so the split is stable. Users: the
 * tail-share gauges (interactions and served recommendations), the backtest's tail categories,
 * and serving's exposure control (src/model/recommender.ts: tail slots are reserved for
 * exactly the categories those figures count as tail).
 */
export function headCategories(counts: ReadonlyMap<string, number>, headMass = 0.8): Set<string> {
  const sorted = [...counts].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  let total = 0;
  for (const [, n] of sorted) total += n;
  const head = new Set<string>();
  let acc = 0;
  for (const [cat, n] of sorted) {
    if (acc >= headMass * total) break;
    head.add(cat);
    acc += n;
  }
  return head;
}

/** Whether a category is in the tail of a split whose head is `head` (headCategories()). */
export function isTail(head: ReadonlySet<string>, categoryId: string): boolean {
  return !head.has(categoryId);
}

/** Share of the counted events whose category is outside `head`. */
export function tailShareOfCounts(counts: ReadonlyMap<string, number>, head: ReadonlySet<string>): number {
  let total = 0;
  let tail = 0;
  for (const [cat, n] of counts) {
    total += n;
    if (isTail(head, cat)) tail += n;
  }
  return total > 0 ? tail / total : 0;
}

/**
 * Tail categories: the ones outside the head, the most frequent categories holding at least
 * 1 − `share` of the events (headCategories with headMass = 1 − share).
 */
export function tailCategories(counts: ReadonlyMap<string, number>, share: number): Set<string> {
  const head = headCategories(counts, 1 - share);
  return new Set([...counts.keys()].filter((c) => isTail(head, c)));
}
