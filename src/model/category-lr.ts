/**
 * Per-category learning rates of the embedding rows (issue #16).
 *
 * A frequency-dependent step size per embedding row, after Li et al., "Frequency-aware SGD
 * for Efficient Embedding Learning with Provable Benefits" (ICLR 2022, arXiv 2110.04844),
 * who give each token a learning rate that grows as its frequency falls. Here the frequency
 * is the category's live prior π_c from the balance state (the window), and the factor of a
 * category c is
 *
 *   f_c = clip(π_c^−γ / Z, 1/clip, clip),   Z = Σ_{c∈S} π_c^{1−γ} / Σ_{c∈S} π_c,
 *
 * over the categories S of the trainer's item catalog: before clipping the prior-weighted
 * mean factor Σ π_c f_c / Σ π_c is 1, so the stream as a whole keeps the configured
 * embedding learning rate (γ = 1 is inverse frequency, γ = 0 is off).
 *
 * It scales the Adagrad step of the item and category rows of c (w −= lr·f_c·g/√acc; the
 * accumulator still sums the plain g²), not the loss: the gradient, the dense weights'
 * update and the user rows are the ones of the unscaled loss. That is what makes it a
 * learning rate and not a class weight (which scales the loss and thereby every
 * parameter's gradient, the dense ones included).
 */
/** π_c of a category (the trainer's CategoryPrior). */
type CategoryPrior = (categoryId: string) => number;

/** Smallest prior used (a category the window has forgotten, with α = 0, would give 0). */
const MIN_PRIOR = 1e-12;

export class CategoryStepSizes {
  private readonly factors = new Map<string, number>();
  private z = 1;
  private prior: CategoryPrior = () => 1;

  /** γ in (0, 1], clip ≥ 1 (validated by the trainer configuration). */
  constructor(
    readonly gamma: number,
    readonly clip: number,
  ) {}

  /** Reads the priors of one step: Z over `categories`; factors are computed on demand and kept until the next call. */
  begin(categories: Iterable<string>, prior: CategoryPrior): void {
    this.prior = prior;
    this.factors.clear();
    let mass = 0;
    let powered = 0;
    for (const c of categories) {
      const p = Math.max(prior(c), MIN_PRIOR);
      mass += p;
      powered += Math.pow(p, 1 - this.gamma);
    }
    this.z = mass > 0 && powered > 0 ? powered / mass : 1;
  }

  /** f_c for this step. */
  factor(categoryId: string): number {
    let f = this.factors.get(categoryId);
    if (f === undefined) {
      const p = Math.max(this.prior(categoryId), MIN_PRIOR);
      f = Math.min(this.clip, Math.max(1 / this.clip, Math.pow(p, -this.gamma) / this.z));
      this.factors.set(categoryId, f);
    }
    return f;
  }
}
