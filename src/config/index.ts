import { RebalancerError } from '../errors.js';
import { SETTINGS, type ServiceConfig, type SettingKey } from './settings.js';

export { SETTINGS, flagToOptionKey, type ServiceConfig, type SettingKey, type SettingSpec } from './settings.js';

export interface ConfigProblem {
  setting: SettingKey;
  flag: string;
  env: string;
  value: string;
  source: 'flag' | 'env' | 'default' | 'override';
  expected: string;
}

/** Raw values as strings (from CLI flags), keyed by setting. */
export type RawSettings = Partial<Record<SettingKey, string>>;

/**
 * Builds the service configuration, once, at start. Precedence per setting: the
 * explicit `overrides` (typed values from code, e.g. tests), then the CLI flag, then
 * the environment variable, then the default. Every bad value is reported, one line
 * per setting, naming both the flag and the env var and the expected form; the whole
 * set fails as one REB_CONFIG_INVALID error.
 */
export function loadConfig(options: { flags?: RawSettings; env?: NodeJS.ProcessEnv; overrides?: Partial<ServiceConfig> } = {}): ServiceConfig {
  const flags = options.flags ?? {};
  const env = options.env ?? {};
  const overrides = options.overrides ?? {};
  const out: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  for (const key of Object.keys(SETTINGS) as SettingKey[]) {
    const spec = SETTINGS[key];
    if (overrides[key] !== undefined) {
      out[key] = overrides[key];
      continue;
    }
    let raw: string;
    let source: ConfigProblem['source'];
    if (flags[key] !== undefined) {
      raw = flags[key];
      source = 'flag';
    } else if (env[spec.env] !== undefined) {
      raw = env[spec.env]!;
      source = 'env';
    } else {
      raw = spec.default;
      source = 'default';
    }
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) out[key] = parsed.data;
    else problems.push({ setting: key, flag: spec.flag, env: spec.env, value: raw, source, expected: spec.expected });
  }
  const config = out as ServiceConfig;
  problems.push(...crossChecks(config));
  if (problems.length > 0) {
    const lines = problems.map((p) => `${p.flag} / ${p.env}: got ${JSON.stringify(p.value)} (from ${p.source}), expected ${p.expected}`);
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
