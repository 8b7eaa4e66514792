/** Adam (Kingma & Ba, ICLR 2015) on plain arrays: the trainer's dense weights and online bagging's heads. */
export const ADAM_BETA1 = 0.9;
export const ADAM_BETA2 = 0.999;
export const ADAM_EPSILON = 1e-8;

/** Step size of step t (1-based) with bias correction: lr·√(1 − β2^t)/(1 − β1^t). */
export function adamStepSize(lr: number, t: number): number {
  return (lr * Math.sqrt(1 - Math.pow(ADAM_BETA2, t))) / (1 - Math.pow(ADAM_BETA1, t));
}

/** One Adam update of w in place from gradient g, with its moments m1, m2. */
export function adamUpdate(w: Float32Array, g: Float32Array, m1: Float32Array, m2: Float32Array, stepSize: number): void {
  for (let i = 0; i < g.length; i++) {
    const gi = g[i]!;
    const a = ADAM_BETA1 * m1[i]! + (1 - ADAM_BETA1) * gi;
    const b = ADAM_BETA2 * m2[i]! + (1 - ADAM_BETA2) * gi * gi;
    m1[i] = a;
    m2[i] = b;
    w[i]! -= (stepSize * a) / (Math.sqrt(b) + ADAM_EPSILON);
  }
}
