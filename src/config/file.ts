/**
 * Settings files: one settings object (`rebalancer run --config FILE`, a backtest
 * strategy) or a map of named settings objects (`rebalancer backtest --strategy-file`),
 * in JSON or YAML. Keys are the run setting names, either the camelCase key of SETTINGS
 * (`weightPolicy`) or the flag without its dashes (`weight-policy`); values are strings,
 * numbers, booleans or lists (joined by commas), validated later by the same schemas as
 * flags. Every error names the file, the strategy (for a map) and the setting.
 */
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { RebalancerError } from '../errors.js';
import { SETTINGS, type SettingKey } from './settings.js';
import { loadConfig, settingsFromEnv, type RawSettings, type ServiceConfig } from './index.js';

/** Environment variable naming a settings file for `rebalancer run` (like --config). */
export const CONFIG_FILE_ENV = 'REBALANCER_CONFIG';

/** `weight-policy`, `weightPolicy` and `--weight-policy` → `weightPolicy`. */
const KEY_OF = new Map<string, SettingKey>();
for (const key of Object.keys(SETTINGS) as SettingKey[]) {
  KEY_OF.set(key, key);
  KEY_OF.set(SETTINGS[key].flag.replace(/^--/, ''), key);
}

/** The setting a file key names, or undefined. */
export function settingKeyOf(name: string): SettingKey | undefined {
  return KEY_OF.get(name.replace(/^--/, ''));
}

const scalar = z.union([z.string(), z.number().refine(Number.isFinite), z.boolean()]);
const settingValue = z.union([scalar, z.array(z.union([z.string(), z.number().refine(Number.isFinite)]))]);
const plainObject = z.record(z.string(), z.unknown());

function fail(message: string, details: Record<string, unknown>, cause?: unknown): never {
  throw new RebalancerError('REB_CONFIG_INVALID', message, details, cause === undefined ? undefined : { cause });
}

/**
 * Raw settings from a settings object (a strategy, a file), keys normalised; `where`
 * prefixes errors (e.g. `deploy.yaml` or `strategies.yaml: strategy "mild"`).
 */
export function settingsFromObject(obj: Readonly<Record<string, unknown>>, where: string): RawSettings {
  const out: RawSettings = {};
  const seen = new Map<SettingKey, string>();
  for (const [name, value] of Object.entries(obj)) {
    const key = settingKeyOf(name);
    if (key === undefined) {
      fail(`${where}: unknown setting ${JSON.stringify(name)} (a run setting, e.g. weight-policy or weightPolicy; see rebalancer run --help)`, { where, setting: name });
    }
    const before = seen.get(key);
    if (before !== undefined) fail(`${where}: setting ${SETTINGS[key].flag} given twice (${JSON.stringify(before)} and ${JSON.stringify(name)})`, { where, setting: key });
    seen.set(key, name);
    const parsed = settingValue.safeParse(value);
    if (!parsed.success) {
      fail(`${where}: setting ${JSON.stringify(name)} (${SETTINGS[key].flag}): got ${describe(value)}, expected a string, number, boolean or list of strings or numbers holding ${SETTINGS[key].expected}`, { where, setting: key });
    }
    const v = parsed.data;
    out[key] = Array.isArray(v) ? v.map(String).join(',') : String(v);
  }
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return JSON.stringify(v) ?? String(v);
}

/** Parses a JSON (`.json`) or YAML (anything else; YAML reads JSON too) file. */
export function readStructuredFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    fail(`cannot read settings file ${path}: ${(err as Error).message}`, { path }, err);
  }
  try {
    return extname(path).toLowerCase() === '.json' ? (JSON.parse(text) as unknown) : (YAML.parse(text) as unknown);
  } catch (err) {
    fail(`settings file ${path} is not valid ${extname(path).toLowerCase() === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]!}`, { path }, err);
  }
}

/** The file's top level as an object (an empty file is an empty object). */
function topObject(path: string, data: unknown, expected: string): Record<string, unknown> {
  if (data === null || data === undefined) return {};
  const parsed = plainObject.safeParse(data);
  if (!parsed.success || Array.isArray(data)) fail(`settings file ${path}: expected ${expected}, got ${describe(data)}`, { path });
  return parsed.data;
}

/** One settings object from a file (the `rebalancer run --config FILE` format). */
export function readSettingsFile(path: string): RawSettings {
  return settingsFromObject(topObject(path, readStructuredFile(path), 'one settings object'), path);
}

export interface NamedSettings {
  name: string;
  settings: RawSettings;
}

/**
 * A strategy file: one settings object (one strategy named after the file, e.g.
 * `deploy.yaml` → `deploy`) or a map `{ name: settings }`.
 */
export function readNamedSettingsFile(path: string): NamedSettings[] {
  const top = topObject(path, readStructuredFile(path), 'a settings object or a map { name: settings object }');
  const entries = Object.entries(top);
  const objects = entries.filter(([, v]) => plainObject.safeParse(v).success && !Array.isArray(v));
  if (objects.length === 0 || entries.length === 0) {
    return [{ name: basename(path, extname(path)), settings: settingsFromObject(top, path) }];
  }
  if (objects.length !== entries.length) {
    const odd = entries.find(([, v]) => !objects.some(([, o]) => o === v))!;
    fail(`settings file ${path}: ${JSON.stringify(odd[0])} holds a value while other keys hold settings objects; give either one settings object or a map { name: settings object }`, { path, setting: odd[0] });
  }
  return objects.map(([name, v]) => {
    if (!/^[A-Za-z0-9_.+-]{1,64}$/.test(name)) fail(`settings file ${path}: strategy name ${JSON.stringify(name)} must be 1-64 characters of A-Z a-z 0-9 _ . + -`, { path, strategy: name });
    return { name, settings: settingsFromObject(topObject(path, v, 'a settings object'), `${path}: strategy ${JSON.stringify(name)}`) };
  });
}

/**
 * The configuration `rebalancer run` resolves: flags, then env, then the settings file
 * (`--config FILE`, else $REBALANCER_CONFIG), then the defaults. `explicit` holds the raw
 * values given in any of the three (what the user chose rather than defaulted).
 */
export function loadRunConfig(options: { flags: RawSettings; env: NodeJS.ProcessEnv; configFile?: string | undefined }): { config: ServiceConfig; explicit: RawSettings } {
  const path = options.configFile ?? options.env[CONFIG_FILE_ENV];
  const file = path !== undefined && path !== '' ? { path, values: readSettingsFile(path) } : undefined;
  const config = loadConfig({ flags: options.flags, env: options.env, ...(file !== undefined ? { file } : {}) });
  return { config, explicit: { ...file?.values, ...settingsFromEnv(options.env), ...options.flags } };
}
