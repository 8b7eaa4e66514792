/**
 * The strategies a backtest compares. A strategy is a set of `rebalancer run` settings:
 * the same names, the same validation (`loadConfig`) and the same defaults as the
 * service, so the configuration backtested is the one deployed (`run --config FILE`
 * reads the format of a strategy file). Built-in strategies are named partial settings
 * objects; `service` is the empty one, i.e. exactly what `rebalancer run` does by default.
 */
import { readNamedSettingsFile, settingsFromObject } from '../config/file.js';
import { SETTINGS, loadConfig, type ConfigLayer, type RawSettings, type ServiceConfig, type SettingKey } from '../config/index.js';
import { RebalancerError } from '../errors.js';

export interface Strategy {
  readonly name: string;
  readonly description: string;
  /** Run settings (keys of SETTINGS, raw values); the rest take the run defaults. */
  readonly settings: Readonly<RawSettings>;
  /** 'built-in', or the strategy file it was read from. */
  readonly origin: string;
}

function builtIn(name: string, description: string, settings: Record<string, string | number | boolean>): Strategy {
  return Object.freeze({ name, description, settings: Object.freeze(settingsFromObject(settings, `built-in strategy ${JSON.stringify(name)}`)), origin: 'built-in' });
}

// ρ = 1 keeps the stream's mix: a full batch of fresh events is trained as it comes (the
// composer only pads a final partial batch with replay, as the service does).
export const STRATEGIES: readonly Strategy[] = Object.freeze([
  builtIn('service', 'what `rebalancer run` does by default (every setting at its default)', {}),
  builtIn('none', 'plain weighted BCE on the stream as it comes: no class weights, no resampling', { 'weight-policy': 'none', 'target-mix-rho': 1, 'max-micro-loss': 0 }),
  builtIn('inverse_frequency', 'class weights w_c ∝ 1/π_c, no resampling', { 'weight-policy': 'inverse_frequency', 'target-mix-rho': 1, 'max-micro-loss': 0 }),
  builtIn('sqrt_inverse', 'class weights w_c ∝ π_c^-1/2, no resampling', { 'weight-policy': 'sqrt_inverse', 'target-mix-rho': 1, 'max-micro-loss': 0 }),
  builtIn('effective_number', 'class weights w_c ∝ 1/E_c (Cui et al., CVPR 2019), no resampling', { 'weight-policy': 'effective_number', 'target-mix-rho': 1, 'max-micro-loss': 0 }),
  builtIn('replay', 'minority replay + majority undersampling (target mix ∝ π^0.3), no class weights', { 'weight-policy': 'none', 'target-mix-rho': 0.3, 'max-micro-loss': 0 }),
  // Synthetic minority samples (issue #16): `replay` with half of the replay slots synthetic.
  builtIn('latent_smote', 'replay with half of the replay slots latent SMOTE samples: the model inputs of two same-category reservoir events interpolated at λ ~ U(0, 1), the gradient shared ×λ / ×(1−λ) by their rows (Chawla et al., JAIR 2002, in the model\'s input space), target mix ∝ π^0.3, no class weights', { 'weight-policy': 'none', 'target-mix-rho': 0.3, synthetic: 'latent_smote', 'synthetic-fraction': 0.5, 'max-micro-loss': 0 }),
  builtIn('generative_oversampling', 'replay with half of the replay slots drawn from a per-category diagonal Gaussian of the replayed positives\' model inputs, fitted online (Liu, Ghosh & Martin, DMIN 2007); dense weights only, target mix ∝ π^0.3, no class weights', { 'weight-policy': 'none', 'target-mix-rho': 0.3, synthetic: 'gaussian', 'synthetic-fraction': 0.5, 'max-micro-loss': 0 }),
  builtIn('online_bagging_oob', 'online bagging with 4 output heads, each positive trained Poisson(λ_c) times per head with λ_c = π_max/π_c clipped to [0.1, 10] (OOB, Wang, Minku & Yao, TKDE 2015; Oza 2001), serving the heads\' mean; no weights, no resampling', { 'weight-policy': 'none', 'target-mix-rho': 1, bagging: 'oob', 'bagging-replicas': 4, 'bagging-lambda-max': 10, 'max-micro-loss': 0 }),
  builtIn('online_bagging_uob', 'online bagging with 4 output heads, λ_c = π_min/π_c clipped to [0.1, 10] (UOB: the majority thinned; Wang, Minku & Yao, TKDE 2015), serving the heads\' mean; no weights, no resampling', { 'weight-policy': 'none', 'target-mix-rho': 1, bagging: 'uob', 'bagging-replicas': 4, 'bagging-lambda-max': 10, 'max-micro-loss': 0 }),
  builtIn('informed_undersampling', 'replay with informed undersampling: the majority keeps its highest-loss fresh events (NearMiss-style, Mani & Zhang 2003), target mix ∝ π^0.3, no class weights', { 'weight-policy': 'none', 'target-mix-rho': 0.3, undersampling: 'informed', 'max-micro-loss': 0 }),
  // Weights and resampling both correct the skew; at full strength together they
  // over-correct (see the composer). Mild sqrt-inverse weights clipped to [0.9, 1.1]
  // with a mild target mix (ρ = 0.9).
  builtIn('weights_replay', 'sqrt-inverse weights in [0.9, 1.1] + replay (target mix ∝ π^0.9)', { 'weight-policy': 'sqrt_inverse', 'target-mix-rho': 0.9, 'weight-min': 0.9, 'weight-max': 1.1, 'max-micro-loss': 0 }),
  builtIn('focal', 'focal loss (Lin et al., ICCV 2017; the model\'s α = 0.25, γ = 2), no weights, no resampling', { 'weight-policy': 'none', 'target-mix-rho': 1, loss: 'focal', 'max-micro-loss': 0 }),
  builtIn('logit_adjust', 'logit adjustment τ = 1 (Menon et al., ICLR 2021), no weights, no resampling', { 'weight-policy': 'none', 'target-mix-rho': 1, 'logit-adjust-tau': 1, 'max-micro-loss': 0 }),
  // Warm start / transfer (issue #16): `none` from the model `none` trained on the backtest's --pretrain-events (init-from
  // "@pretrained" = PRETRAINED in backtest.ts; `run --init-from DIR` in the service). Without --pretrain-events it starts cold.
  builtIn('warm_start', 'none, started from the model none trained on the --pretrain-events events before the measured ones (run --init-from; Yosinski et al., NeurIPS 2014); cold without --pretrain-events', { 'weight-policy': 'none', 'target-mix-rho': 1, 'max-micro-loss': 0, 'init-from': '@pretrained' }),
  builtIn('category_lr', 'per-category learning rate of the item and category rows, f_c ∝ π_c^-0.5 clipped to [1/4, 4] (after Li et al., ICLR 2022), no weights, no resampling', { 'weight-policy': 'none', 'target-mix-rho': 1, 'category-lr-gamma': 0.5, 'category-lr-clip': 4, 'max-micro-loss': 0 }),
]);

/** Earlier names, still accepted. */
const ALIASES: Readonly<Record<string, string>> = {
  inverse: 'inverse_frequency',
  'inverse-frequency': 'inverse_frequency',
  'weights+replay': 'weights_replay',
  logit_adjustment: 'logit_adjust',
  'logit-adjust': 'logit_adjust',
  'sqrt-inverse': 'sqrt_inverse',
  'effective-number': 'effective_number',
};

/** Parses `--strategies a,b,c` ("all" = every built-in strategy) into strategies, in the order given. */
export function parseStrategies(spec: string): Strategy[] {
  const names = spec.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 1 && names[0] === 'all') return [...STRATEGIES];
  const unknown: string[] = [];
  const out: Strategy[] = [];
  for (const raw of names) {
    const name = ALIASES[raw] ?? raw;
    const s = STRATEGIES.find((x) => x.name === name);
    if (s === undefined) unknown.push(raw);
    else if (!out.includes(s)) out.push(s);
  }
  if (unknown.length > 0 || out.length === 0) {
    throw new RebalancerError('REB_INPUT_INVALID', `unknown strateg${unknown.length === 1 ? 'y' : 'ies'} ${unknown.map((u) => JSON.stringify(u)).join(', ') || '(none given)'}; known: ${STRATEGIES.map((s) => s.name).join(', ')} or all`, { flag: 'strategies' });
  }
  return out;
}

/** The strategies of a strategy file (one settings object, or a map { name: settings }). */
export function readStrategyFile(path: string): Strategy[] {
  return readNamedSettingsFile(path).map(({ name, settings }) => ({ name, description: `${path}: ${describeSettings(settings) || 'the run defaults'}`, settings, origin: path }));
}

/** `weight-policy=none target-mix-rho=1`: settings as flag names, in SETTINGS order. */
export function describeSettings(settings: Readonly<RawSettings>): string {
  return (Object.keys(SETTINGS) as SettingKey[])
    .filter((k) => settings[k] !== undefined)
    .map((k) => `${SETTINGS[k].flag.slice(2)}=${settings[k]!}`)
    .join(' ');
}

/**
 * The raw setting layers of a strategy, highest precedence first: its settings, then the
 * backtest's own flags that are run settings too (`harness`: --seed, --batch-size); the
 * run defaults come after. Environment variables are not read, so a backtest reproduces
 * anywhere.
 */
export function strategyLayers(strategy: Strategy, harness: Readonly<RawSettings> = {}): ConfigLayer[] {
  const origin = strategy.origin === 'built-in' ? JSON.stringify(strategy.name) : `${JSON.stringify(strategy.name)} in ${strategy.origin}`;
  return [
    { source: 'strategy', origin, values: { ...strategy.settings } },
    { source: 'harness', origin: 'backtest flags', values: { ...harness } },
  ];
}

/**
 * The service configuration a strategy runs (its layers, then the run defaults). Bad
 * values fail with REB_CONFIG_INVALID naming the strategy, its file and the setting.
 */
export function resolveStrategy(strategy: Strategy, harness: Readonly<RawSettings> = {}): ServiceConfig {
  return loadConfig({ layers: strategyLayers(strategy, harness) });
}

/** A strategy's settings in one line (`run defaults` when it changes none). */
export function settingsLine(settings: RawSettings): string {
  return describeSettings(settings) || 'run defaults';
}
