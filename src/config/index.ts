import { RebalancerError } from '../errors.js';
import { KAFKA_SECURITY_KEYS, SETTINGS, type KafkaSecuritySettings, type ServiceConfig, type SettingKey } from './settings.js';

export { KAFKA_SECURITY_KEYS, SETTINGS, flagToOptionKey, type KafkaSecuritySettings, type ServiceConfig, type SettingKey, type SettingSpec } from './settings.js';

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
  const { values, problems, sources } = parseSettings(Object.keys(SETTINGS) as SettingKey[], layersOf(options), options.overrides ?? {});
  const config = values as ServiceConfig;
  problems.push(...crossChecks(config, sources));
  if (problems.length > 0) throw configError(problems);
  return config;
}

/** The layers of `options`, highest precedence first. */
function layersOf(options: LoadConfigOptions): readonly ConfigLayer[] {
  return options.layers ?? [
    { source: 'flag', values: options.flags ?? {} },
    { source: 'env', values: settingsFromEnv(options.env ?? {}) },
    ...(options.file !== undefined ? [{ source: 'file' as const, origin: options.file.path, values: options.file.values }] : []),
  ];
}

/** Parses the given settings from the layers (first wins, then the default), collecting every bad value. */
function parseSettings(keys: readonly SettingKey[], layers: readonly ConfigLayer[], overrides: Partial<ServiceConfig>): { values: Record<string, unknown>; problems: ConfigProblem[]; sources: Sources } {
  const values: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  const sources: Sources = {};
  for (const key of keys) {
    const spec = SETTINGS[key];
    if (overrides[key] !== undefined) {
      values[key] = overrides[key];
      sources[key] = { source: 'override' };
      continue;
    }
    const layer = layers.find((l) => l.values[key] !== undefined);
    sources[key] = layer === undefined ? { source: 'default' } : { source: layer.source, ...(layer.origin !== undefined ? { origin: layer.origin } : {}) };
    const raw = layer?.values[key] ?? spec.default;
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) values[key] = parsed.data;
    else problems.push({ setting: key, flag: spec.flag, env: spec.env, value: raw, source: layer?.source ?? 'default', ...(layer?.origin !== undefined ? { origin: layer.origin } : {}), expected: spec.expected });
  }
  return { values, problems, sources };
}

/** Where each setting's value came from, for the messages of checks between settings. */
type Sources = Partial<Record<SettingKey, { source: ConfigSource; origin?: string }>>;

/** One REB_CONFIG_INVALID error for all problems, one line each; a secret's value is never quoted. */
function configError(problems: ConfigProblem[]): RebalancerError {
  const shown = problems.map((p) => (SETTINGS[p.setting].secret ? { ...p, value: '(hidden)' } : p));
  const lines = shown.map((p) => `${p.flag} / ${p.env}: ${SETTINGS[p.setting].secret ? 'got a value' : `got ${JSON.stringify(p.value)}`} (from ${p.source}${p.origin !== undefined ? ` ${p.origin}` : ''}), expected ${p.expected}`);
  return new RebalancerError('REB_CONFIG_INVALID', `invalid configuration:\n  ${lines.join('\n  ')}`, { problems: shown });
}

/**
 * The Kafka security settings alone (the tools that talk to Kafka: generate, import,
 * replay, backtest, inspect), from their flags and the environment, each value validated
 * like `run`'s (the same schemas, the same error); how they go together is checked by
 * kafkaSecurity (src/adapters/kafka/security.ts), as for `run`.
 */
export function loadKafkaSecurity(options: { flags: RawSettings; env: NodeJS.ProcessEnv }): KafkaSecuritySettings {
  const { values, problems } = parseSettings(KAFKA_SECURITY_KEYS, layersOf(options), {});
  if (problems.length > 0) throw configError(problems);
  return values as KafkaSecuritySettings;
}

/** Constraints between settings, reported like single-setting errors. */
function crossChecks(c: ServiceConfig, sources: Sources): ConfigProblem[] {
  // The Kafka security settings are checked together where they become client fields (src/adapters/kafka/security.ts).
  const problems: ConfigProblem[] = [...adminProblems(c, sources)];
  if (typeof c.weightMin === 'number' && typeof c.weightMax === 'number' && c.weightMin > c.weightMax) {
    const spec = SETTINGS.weightMin;
    problems.push({ setting: 'weightMin', flag: spec.flag, env: spec.env, value: String(c.weightMin), source: 'override', expected: `at most --weight-max (${c.weightMax})` });
  }
  return problems;
}

/** A problem with a setting whose value is fine alone but not with the others; `from` says where the value came from. */
function problemOf(sources: Sources): (setting: SettingKey, value: unknown, expected: string) => ConfigProblem {
  return (setting, value, expected) => {
    const spec = SETTINGS[setting];
    const from = sources[setting] ?? { source: 'override' as const };
    return { setting, flag: spec.flag, env: spec.env, value: String(value), source: from.source, ...(from.origin !== undefined ? { origin: from.origin } : {}), expected };
  };
}

/** --admin-host needs --admin-port; the admin port must differ from the HTTP port. */
function adminProblems(c: ServiceConfig, sources: Sources): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const problem = problemOf(sources);
  if (c.adminPort === '' && c.adminHost !== '') out.push(problem('adminHost', c.adminHost, 'empty without --admin-port (the admin routes are on --http-host:--http-port unless --admin-port is set)'));
  const sameHost = c.adminHost === '' || c.adminHost === c.httpHost;
  if (c.adminPort !== '' && c.adminPort !== 0 && c.adminPort === c.httpPort && sameHost) out.push(problem('adminPort', c.adminPort, `a port other than --http-port (${c.httpPort}), or empty to serve every route there`));
  return out;
}

/** Defaults only (what `rebalancer run --help` shows), for tests and tools. */
export function defaultConfig(overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return loadConfig({ overrides });
}
