/**
 * The effective number of samples (Cui et al., "Class-Balanced Loss Based on Effective Number
 * of Samples", CVPR 2019): E_n = (1 − β^n)/(1 − β), and the class-balanced weight 1/E_n.
 * The one implementation of the formula: the effective_number weight policy (rawWeight), the
 * weight refresh (computeTargets) and the imbalance figures (stats.ts) all call it.
 */

/**
 * Class-balanced weight 1/E_n = (1 − β)/(1 − β^n) for n ≥ 0 (the weight policy passes the
 * smoothed count n_c + α; n = 0 gives +∞).
 *
 * 1 − β^n is −expm1(n·ln β), which keeps its precision when β^n is close to 1 (β near 1, small
 * n). Below n·ln β = −40, β^n < 5e-18 and 1 − β^n is 1 in double precision (V8's fdlibm expm1
 * returns exactly −1 below −56·ln 2 ≈ −38.8), so the expm1 is skipped: the same bits, cheaper
 * for the many large counts. The weights feed published backtest tables: keep this expression
 * bit for bit (test/balance/effective-number.test.ts compares it with the former copies).
 *
 * `logBeta` is Math.log(beta), hoisted out of loops by callers; passing it changes no bit.
 */
export function effectiveNumberWeight(n: number, beta: number, logBeta = Math.log(beta)): number {
  const x = n * logBeta;
  return x < -40 ? 1 - beta : (1 - beta) / -Math.expm1(x);
}

/**
 * Effective number of samples E_n = (1 − β^n)/(1 − β), the reciprocal of effectiveNumberWeight
 * (a reported figure: within 1 ulp of computing the quotient directly).
 */
export function effectiveNumber(n: number, beta: number, logBeta = Math.log(beta)): number {
  return 1 / effectiveNumberWeight(n, beta, logBeta);
}
