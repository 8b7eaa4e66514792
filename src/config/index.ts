import { RebalancerError } from '../errors.js';
import { SETTINGS, type ServiceConfig, type SettingKey } from './settings.js';

export { SETTINGS, flagToOptionKey, type ServiceConfig, type SettingKey, type SettingSpec } from './settings.js';

/** Where a raw value came from, for error messages. */
export type ConfigSource = 'flag' | 'env' | 'file' | 'strategy' | 'harness' | 'default' | 'override';

export interface ConfigProblem {
  setting: SettingKey;
  flag: string;
  env: string;
  value: string;
  source: ConfigSource;
  /** The file or strategy the value came from, when it came from one. */
  origin?: string;
  expected: string;
}

/** Raw values as strings (from CLI flags, env, a settings file), keyed by setting. */
export type RawSettings = Partial<Record<SettingKey, string>>;

/** One source of raw values; `origin` names it in messages (a file path, a strategy). */
export interface ConfigLayer {
  source: ConfigSource;
  origin?: string;
  values: RawSettings;
}

export interface LoadConfigOptions {
  flags?: RawSettings;
  env?: NodeJS.ProcessEnv;
  /** A settings file (`rebalancer run --config FILE`), below env in precedence. */
  file?: { path: string; values: RawSettings };
  /** Instead of flags/env/file: the raw layers, highest precedence first. */
  layers?: readonly ConfigLayer[];
  overrides?: Partial<ServiceConfig>;
}

/** The value of each setting's environment variable, as raw settings. */
export function settingsFromEnv(env: NodeJS.ProcessEnv): RawSettings {
  const out: RawSettings = {};
  for (const key of Object.keys(SETTINGS) as SettingKey[]) {
    const v = env[SETTINGS[key].env];
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/**
 * Builds the service configuration, once, at start. Precedence per setting: the
 * explicit `overrides` (typed values from code, e.g. tests), then the CLI flag, then
 * the environment variable, then the settings file, then the default (or the given
 * `layers`, first wins). Every bad value is reported, one line per setting, naming the
 * flag, the env var, where the value came from and the expected form; the whole set
 * fails as one REB_CONFIG_INVALID error.
 */
export function loadConfig(options: LoadConfigOptions = {}): ServiceConfig {
  const layers: readonly ConfigLayer[] = options.layers ?? [
    { source: 'flag', values: options.flags ?? {} },
    { source: 'env', values: settingsFromEnv(options.env ?? {}) },
    ...(options.file !== undefined ? [{ source: 'file' as const, origin: options.file.path, values: options.file.values }] : []),
  ];
  const overrides = options.overrides ?? {};
  const out: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  for (const key of Object.keys(SETTINGS) as SettingKey[]) {
    const spec = SETTINGS[key];
    if (overrides[key] !== undefined) {
      out[key] = overrides[key];
      continue;
    }
    const layer = layers.find((l) => l.values[key] !== undefined);
    const raw = layer?.values[key] ?? spec.default;
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) out[key] = parsed.data;
    else problems.push({ setting: key, flag: spec.flag, env: spec.env, value: raw, source: layer?.source ?? 'default', ...(layer?.origin !== undefined ? { origin: layer.origin } : {}), expected: spec.expected });
  }
  const config = out as ServiceConfig;
  problems.push(...crossChecks(config));
  if (problems.length > 0) {
    const lines = problems.map((p) => `${p.flag} / ${p.env}: got ${JSON.stringify(p.value)} (from ${p.source}${p.origin !== undefined ? ` ${p.origin}` : ''}), expected ${p.expected}`);
    throw new RebalancerError('REB_CONFIG_INVALID', `invalid configuration:\n  ${lines.join('\n  ')}`, { problems });
  }
  return config;
}

/** Constraints between settings, reported like single-setting errors. */
function crossChecks(c: ServiceConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (typeof c.weightMin === 'number' && typeof c.weightMax === 'number' && c.weightMin > c.weightMax) {
    const spec = SETTINGS.weightMin;
    problems.push({ setting: 'weightMin', flag: spec.flag, env: spec.env, value: String(c.weightMin), source: 'override', expected: `at most --weight-max (${c.weightMax})` });
  }
  return problems;
}

/** Defaults only (what `rebalancer run --help` shows), for tests and tools. */
export function defaultConfig(overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return loadConfig({ overrides });
}
