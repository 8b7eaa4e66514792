/** Read-outs the service's tests share. */
import type { BalanceView } from '../../src/ports/index.js';

/** A balance view over three categories (shoes 6, books 3, tools 1 in a window of 10), with their weights. */
export const VIEW: BalanceView = {
  windowCounts: new Map([
    ['shoes', 6],
    ['books', 3],
    ['tools', 1],
  ]),
  windowEvents: 10,
  weights: new Map([
    ['shoes', 0.5],
    ['books', 1.2],
    ['tools', 3],
  ]),
  imbalanceRatio: 6,
  entropyNormalized: 0.82,
  gini: 0.33,
  reservoirFill: { perCategory: 0.4, cbrs: 0.9 },
};
