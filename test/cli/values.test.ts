/**
 * Every command-line flag the project quotes, in README.md, docs/*.md, the alert rules,
 * the dashboards, docker-compose.yml and examples/*.yaml, is one the CLI knows, and every
 * value quoted with it is one the CLI accepts (issue #15: the runbook, an alert and a
 * panel said `--weight-policy sqrt-inverse`; the service accepts only `sqrt_inverse`, and
 * in compose a rejected value is a restart loop).
 *
 * Where flags are found: inline code spans and shell code blocks of the Markdown files
 * (a line counts when it invokes the CLI: `rebalancer`, `bin/rebalancer.js`, `npm start --`;
 * a code span also when it starts with a verb or a flag), YAML code blocks and `key: value`
 * code spans that are run settings, the compose services' commands, `REBALANCER_*`
 * variables and comment lines, the strategy files. The alert annotations and panel texts
 * are plain text: there every flag must be in backticks, so that the value next to it is
 * read and checked too. Placeholders (`<file>`, `FILE`, `N`, `a,b,...`, a single letter)
 * are not values; `s|ms|iso` is three.
 *
 * What accepts a value: the real commander program (`buildProgram`: the verb has the
 * option, it takes a value, and any choices or parser commander applies), then what the
 * verb does with it: run settings through `loadConfig` (the zod schemas of
 * src/config/settings.ts), `--strategies` through `parseStrategies` (strategy names have
 * their own aliases: `sqrt-inverse` is a valid strategy name, not a valid
 * `--weight-policy`), `--profile` against the generator profiles, brokers through
 * `brokerList`, and the other options by the kind of value they declare (`<n>` a
 * number, `<t>` a time, `<a|b>` one of those). The numeric ranges of generate, import,
 * replay and backtest are checked inside their actions, not here.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CommanderError, type Command, type Option } from 'commander';
import YAML from 'yaml';
import { z } from 'zod';
import { buildProgram } from '../../src/cli/main.js';
import { CONFIG_FILE_ENV, settingKeyOf, settingsFromObject } from '../../src/config/file.js';
import { SETTINGS, loadConfig, type SettingKey } from '../../src/config/index.js';
import { GENERATOR_PROFILES } from '../../src/offline/generate.js';
import { brokerList, numberFlag, oneOf, timeFlag } from '../../src/cli/flags.js';
import { parseStrategies, readStrategyFile, resolveStrategy } from '../../src/offline/strategies.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** One flag as quoted somewhere, with the value quoted next to it (if any). */
interface Mention {
  where: string;
  /** The verb the quote gives it to; undefined when the quote names none. */
  verb: string | undefined;
  flag: string;
  value?: string;
}

/** What a source yields: flags to check, settings objects to check, and rule violations. */
interface Found {
  mentions: Mention[];
  settings: Array<{ where: string; values: Record<string, unknown> }>;
  problems: string[];
}

const empty = (): Found => ({ mentions: [], settings: [], problems: [] });
const merge = (a: Found, b: Found): Found => ({ mentions: [...a.mentions, ...b.mentions], settings: [...a.settings, ...b.settings], problems: [...a.problems, ...b.problems] });

// ---------------------------------------------------------------------------------------
// The CLI as declared.

const PROGRAM = buildProgram();
const VERBS = new Map<string, Command>(PROGRAM.commands.map((c) => [c.name(), c]));
/** Options every command has without declaring them. */
const BUILT_IN_FLAGS = new Set(['--help', '-h', '--version', '-V']);
/** Node.js's and V8's own options, quoted in the README's performance notes. */
const RUNTIME_FLAGS = new Set([
  ...process.allowedNodeEnvironmentFlags,
  ...[...spawnSync(process.execPath, ['--v8-options'], { encoding: 'utf8' }).stdout.matchAll(/^ {2}(--[a-z0-9-]+) \(/gm)].map((m) => m[1]!),
]);
const SETTING_BY_FLAG = new Map<string, SettingKey>((Object.keys(SETTINGS) as SettingKey[]).map((k) => [SETTINGS[k].flag, k]));

function optionOf(verb: string, flag: string): Option | undefined {
  return VERBS.get(verb)?.options.find((o) => o.long === flag || o.short === flag);
}

function verbsWith(flag: string): string[] {
  return [...VERBS.keys()].filter((v) => optionOf(v, flag) !== undefined);
}

function takesValue(verb: string | undefined, flag: string): boolean {
  return (verb !== undefined ? [verb] : verbsWith(flag)).some((v) => {
    const o = optionOf(v, flag);
    return o !== undefined && (o.required || o.optional);
  });
}

/** `--time-unit <s|ms|iso>` → `s|ms|iso`. */
function metavar(o: Option): string {
  return /<([^>]+)>|\[([^\]]+)\]/.exec(o.flags)?.slice(1).find((x) => x !== undefined) ?? '';
}

const NUMBER_METAVARS = new Set(['n', 's', 'ms', 'ratio', 'd', 'r', 'x', 'factor']);
const TIME_METAVARS = new Set(['t', 'time']);

/** Why `verb` rejects `flag value`, or undefined when it accepts it. */
function rejection(verb: string, flag: string, value: string): string | undefined {
  // 1. The commander program itself: a fresh one, so parsed values do not pile up.
  const cmd = buildProgram().commands.find((c) => c.name() === verb)!;
  cmd.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  try {
    const { operands, unknown } = cmd.parseOptions([flag, value]);
    if (unknown.length > 0) return `\`${verb}\` has no option ${flag}`;
    if (operands.length > 0) return `${flag} of \`${verb}\` takes no value`;
  } catch (err) {
    if (err instanceof CommanderError) return err.message;
    throw err;
  }
  // 2. What the verb does with the value.
  const name = flag.replace(/^--/, '');
  try {
    const setting = SETTING_BY_FLAG.get(flag);
    if (setting !== undefined && (verb === 'run' || (verb === 'backtest' && (setting === 'seed' || setting === 'batchSize')))) {
      // run's settings; the backtest's --seed and --batch-size are every strategy's defaults.
      loadConfig({ flags: { [setting]: value }, env: {} });
      return undefined;
    }
    if (flag === '--strategies') parseStrategies(value);
    else if (flag === '--profile') oneOf(name, value, GENERATOR_PROFILES);
    else if (flag === '--brokers') brokerList(name, value);
    else {
      const kind = metavar(optionOf(verb, flag)!);
      if (kind.includes('|')) oneOf(name, value, kind.split('|'));
      else if (NUMBER_METAVARS.has(kind)) numberFlag(name, value, Number.NEGATIVE_INFINITY);
      else if (TIME_METAVARS.has(kind)) timeFlag(name, value);
    }
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

const PLACEHOLDER = /^(<.*>|\[.*\]|[A-Z][A-Z0-9_]*|[a-z]|\$.*)$|\.\.\.|…/;

/** Problems with one mention (empty when the CLI takes it as quoted). */
function check(m: Mention): string[] {
  const at = `${m.where}: ${m.flag}${m.value !== undefined ? ` ${m.value}` : ''}${m.verb !== undefined ? ` (rebalancer ${m.verb})` : ''}`;
  if (BUILT_IN_FLAGS.has(m.flag)) return m.value === undefined ? [] : [`${at}: takes no value`];
  if (m.verb !== undefined && !VERBS.has(m.verb)) return [`${at}: no verb ${m.verb}`];
  const candidates = m.verb !== undefined ? [m.verb] : verbsWith(m.flag);
  if (candidates.length === 0 || optionOf(candidates[0]!, m.flag) === undefined) {
    // A standalone Node.js or V8 option (`--max-semi-space-size=64`) is not the CLI's.
    if (m.verb === undefined && RUNTIME_FLAGS.has(m.flag)) return [];
    return [`${at}: ${m.verb !== undefined ? `\`${m.verb}\` has no such option` : 'no verb has such an option'}`];
  }
  if (m.value === undefined || PLACEHOLDER.test(m.value)) return [];
  const values = m.value.includes('|') ? m.value.split('|') : [m.value];
  const out: string[] = [];
  for (const value of values) {
    const why = candidates.map((v) => rejection(v, m.flag, value));
    if (why.every((w) => w !== undefined)) out.push(`${at}: rejected: ${why.join(' / ')}`);
  }
  return out;
}

/** Problems with a settings object (a settings file, a YAML example, a `key: value` span). */
function checkSettings(where: string, values: Record<string, unknown>): string[] {
  try {
    loadConfig({ flags: settingsFromObject(values, where), env: {} });
    return [];
  } catch (err) {
    return [`${where}: ${(err as Error).message}`];
  }
}

// ---------------------------------------------------------------------------------------
// Reading commands out of text.

/** Shell-like words (quotes removed) of one command line; `quoted` marks quoted words. */
function words(line: string): Array<{ text: string; quoted: boolean }> {
  const out: Array<{ text: string; quoted: boolean }> = [];
  for (const m of line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) {
    out.push(m[3] !== undefined ? { text: m[3], quoted: false } : { text: m[1] ?? m[2] ?? '', quoted: true });
  }
  return out;
}

const INVOCATION = /(^|\/)rebalancer(\.js)?$/;
const END_OF_COMMAND = /^(#.*|&&|\|\||;|\||>|>>|2>&1|2>)$/;
const VALUE_LIKE = /^[\w.,:/@=+%|<>[\]-]+$/;

/**
 * The flags of one command line. `standalone`: a code span, which may quote a verb and
 * its flags (`run --config FILE`) or flags alone (`--weight-policy none`) without naming
 * the CLI; a line of a code block counts only when it invokes the CLI.
 */
function mentionsInCommand(line: string, where: string, standalone: boolean): Mention[] {
  return mentionsInWords(words(line), where, standalone);
}

function mentionsInWords(w: ReadonlyArray<{ text: string; quoted: boolean }>, where: string, standalone: boolean): Mention[] {
  let verb: string | undefined;
  let start = -1;
  for (let i = 0; i < w.length && start < 0; i++) {
    const t = w[i]!.text;
    if (!w[i]!.quoted && INVOCATION.test(t)) {
      start = i + 1;
    } else if (t === 'npm' && w[i + 1]?.text === 'start' && w[i + 2]?.text === '--') {
      verb = 'run'; // `npm start` is `rebalancer run --embedded`
      start = i + 3;
    }
  }
  if (start >= 0 && verb === undefined && w[start] !== undefined && VERBS.has(w[start]!.text)) verb = w[start++]!.text;
  if (start < 0 && standalone) {
    if (w.length > 1 && VERBS.has(w[0]!.text) && w[1]!.text.startsWith('--')) {
      verb = w[0]!.text;
      start = 1;
    } else if (w[0]?.text.startsWith('--')) {
      start = 0;
    }
  }
  if (start < 0) return [];
  const out: Mention[] = [];
  for (let i = start; i < w.length; i++) {
    const { text, quoted } = w[i]!;
    if (!quoted && END_OF_COMMAND.test(text)) break;
    if (quoted || !text.startsWith('--') || text === '--') continue;
    if (/^--[a-z0-9-]+(\/--[a-z0-9-]+)+$/.test(text)) {
      for (const flag of text.split('/')) out.push({ where, verb, flag });
      continue;
    }
    const eq = text.indexOf('=');
    if (eq > 0) {
      out.push({ where, verb, flag: text.slice(0, eq), value: text.slice(eq + 1) });
      continue;
    }
    const flag = text.replace(/[.,;:)]+$/, '');
    const next = w[i + 1];
    if (takesValue(verb, flag) && next !== undefined && !next.text.startsWith('-') && (next.quoted || (VALUE_LIKE.test(next.text) && !END_OF_COMMAND.test(next.text)))) {
      out.push({ where, verb, flag, value: next.text });
      i++;
    } else {
      out.push({ where, verb, flag });
    }
  }
  return out;
}

/** Lines with `\` continuations joined. */
function logicalLines(text: string): Array<{ line: string; n: number }> {
  const out: Array<{ line: string; n: number }> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    let line = lines[i]!;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) line = `${line.replace(/\\\s*$/, ' ')}${lines[++i]!}`;
    out.push({ line, n });
  }
  return out;
}

const FLAG_IN_PROSE = /(?<![\w`-])--[a-z][a-z0-9-]*/g;
const SETTING_SPAN = /^([a-zA-Z][\w-]*): (\S+)$/;

/**
 * Inline text (a Markdown paragraph, an alert annotation, a panel description): code
 * spans are commands or `key: value` settings; flags outside them are checked by name,
 * or reported when `backticksRequired`.
 */
function inInlineText(text: string, where: string, backticksRequired: boolean): Found {
  const found = empty();
  const prose = text.replace(/(`+)([\s\S]*?)\1/g, (_all, _ticks: string, span: string) => {
    const code = span.trim();
    const setting = SETTING_SPAN.exec(code);
    if (setting && settingKeyOf(setting[1]!) !== undefined) {
      if (!PLACEHOLDER.test(setting[2]!)) found.settings.push({ where: `${where}: \`${code}\``, values: { [setting[1]!]: setting[2]! } });
    } else {
      found.mentions.push(...mentionsInCommand(code, where, true));
    }
    return ' ';
  });
  for (const m of prose.matchAll(FLAG_IN_PROSE)) {
    if (backticksRequired) found.problems.push(`${where}: ${m[0]} outside backticks: quote a CLI flag (with its value) in backticks so that it is checked`);
    else found.mentions.push({ where, verb: undefined, flag: m[0] });
  }
  return found;
}

/** A Markdown file: fenced blocks (shell lines, YAML settings) and the text around them. */
function inMarkdown(text: string, file: string): Found {
  let found = empty();
  const lines = text.split('\n');
  let i = 0;
  while (i < lines.length) {
    const fence = /^\s*(```+|~~~+)\s*([\w-]*)/.exec(lines[i]!);
    if (fence) {
      const start = i + 1;
      let end = start;
      while (end < lines.length && !lines[end]!.trimStart().startsWith(fence[1]!)) end++;
      const body = lines.slice(start, end).join('\n');
      const lang = fence[2]!.toLowerCase();
      if (lang === 'yaml' || lang === 'yml') found = merge(found, settingsInYaml(body, `${file}:${start}`));
      else if (['', 'sh', 'bash', 'shell', 'console'].includes(lang)) {
        for (const { line, n } of logicalLines(body)) found.mentions.push(...mentionsInCommand(line.replace(/^\$\s+/, ''), `${file}:${start + n}`, false));
      }
      i = end + 1;
      continue;
    }
    // A paragraph: code spans may not cross lines here, so line by line is enough.
    found = merge(found, inInlineText(lines[i]!, `${file}:${i + 1}`, false));
    i++;
  }
  return found;
}

const plainObject = z.record(z.string(), z.unknown());

/** A YAML block that is a settings object (every key a run setting) or a map of them. */
function settingsInYaml(text: string, where: string): Found {
  const found = empty();
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch {
    return found;
  }
  const top = plainObject.safeParse(doc);
  if (!top.success) return found;
  const isSettings = (o: Record<string, unknown>): boolean => Object.keys(o).length > 0 && Object.keys(o).every((k) => settingKeyOf(k) !== undefined);
  if (isSettings(top.data)) found.settings.push({ where, values: top.data });
  else {
    for (const [name, v] of Object.entries(top.data)) {
      const o = plainObject.safeParse(v);
      if (o.success && isSettings(o.data)) found.settings.push({ where: `${where} (${name})`, values: o.data });
    }
  }
  return found;
}

/** Every string of a parsed JSON/YAML document with its path, except PromQL. */
function strings(node: unknown, path: string, out: Array<{ path: string; text: string }>): void {
  if (typeof node === 'string') out.push({ path, text: node });
  else if (Array.isArray(node)) node.forEach((n, i) => strings(n, `${path}[${i}]`, out));
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) if (!['expr', 'definition', 'query'].includes(k)) strings(v, `${path}.${k}`, out);
  }
}

function inPlainTextDocument(doc: unknown, file: string): Found {
  const all: Array<{ path: string; text: string }> = [];
  strings(doc, '', all);
  return all.filter((s) => s.text.includes('--')).reduce((f, s) => merge(f, inInlineText(s.text, `${file} ${s.path}`, true)), empty());
}

const composeSchema = z.object({
  services: z.record(z.string(), z.object({
    command: z.union([z.array(z.union([z.string(), z.number()])), z.string()]).optional(),
    environment: z.union([z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).nullable()), z.array(z.string())]).optional(),
  }).passthrough()),
});

function inCompose(text: string, file: string): { found: Found; env: Array<{ where: string; env: Record<string, string> }> } {
  let found = empty();
  const compose = composeSchema.parse(YAML.parse(text));
  const env: Array<{ where: string; env: Record<string, string> }> = [];
  for (const [name, s] of Object.entries(compose.services)) {
    // An exec-form command is its words already; a string command is a shell line.
    const argv = Array.isArray(s.command) ? s.command.map((a) => ({ text: String(a), quoted: false })) : words(s.command ?? '');
    found.mentions.push(...mentionsInWords(argv, `${file} services.${name}.command`, false));
    const vars: Record<string, string> = {};
    const entries = Array.isArray(s.environment)
      ? s.environment.map((e) => [e.split('=')[0]!, e.slice(e.indexOf('=') + 1)] as const)
      : Object.entries(s.environment ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)] as const);
    for (const [k, v] of entries) if (k.startsWith('REBALANCER_')) vars[k] = v;
    if (Object.keys(vars).length > 0) env.push({ where: `${file} services.${name}.environment`, env: vars });
  }
  // Commands in comments (how to run more traffic, and so on).
  const comments = text.split('\n').map((l) => (/^\s*#(.*)$/.exec(l)?.[1] ?? '')).join('\n');
  for (const { line, n } of logicalLines(comments)) found = merge(found, { mentions: mentionsInCommand(line, `${file}:${n}`, false), settings: [], problems: [] });
  return { found, env };
}

function checkEnv(where: string, env: Record<string, string>): string[] {
  const known = new Set([...Object.values(SETTINGS).map((s) => s.env), CONFIG_FILE_ENV]);
  const out = Object.keys(env).filter((k) => !known.has(k)).map((k) => `${where}: ${k} is not a setting's variable`);
  try {
    loadConfig({ env });
  } catch (err) {
    out.push(`${where}: ${(err as Error).message}`);
  }
  return out;
}

function problemsOf(found: Found): string[] {
  return [...found.problems, ...found.mentions.flatMap(check), ...found.settings.flatMap((s) => checkSettings(s.where, s.values))];
}

function read(rel: string): string {
  return readFileSync(join(ROOT, rel), 'utf8');
}

function filesIn(dir: string, pattern: RegExp): string[] {
  return readdirSync(join(ROOT, dir)).filter((f) => pattern.test(f)).sort().map((f) => `${dir}/${f}`);
}

// ---------------------------------------------------------------------------------------

describe('every CLI flag and value quoted in docs, rules, dashboards, compose and examples is accepted by the CLI', () => {
  it('the checker: rejects the spellings issue #15 found, accepts strategy names in their own spellings', () => {
    const wrong = [
      // docs/operations.md, runbook of RebalancerImbalanceHigh, before #15
      inMarkdown('3. Class weights flat at the clip: raise `--weight-max` or use `--weight-policy sqrt-inverse`.', 'old-runbook.md'),
      // the alert annotation and the panel description, before #15 (flags in plain text)
      inPlainTextDocument({ runbook: '3. If class weights sit at the clip limit, raise --weight-max or switch --weight-policy to sqrt-inverse.' }, 'old-rules.yml'),
      inPlainTextDocument({ description: 'the policy saturates: raise `--weight-max` or use `--weight-policy sqrt-inverse`.' }, 'old-panel.json'),
      inMarkdown('```bash\nrebalancer run --brokers k:9092 \\\n  --weight-policy=sqrt-inverse\n```', 'block.md'),
      inMarkdown('```yaml\nweight-policy: sqrt-inverse\n```', 'settings.md'),
      inMarkdown('`rebalancer backtest --strategies sqrt_inverse,bogus`', 'a.md'),
      inMarkdown('`rebalancer import log.csv --time-unit hours`', 'a.md'),
      inMarkdown('`rebalancer replay --topic t --speed fast`', 'a.md'),
      inMarkdown('`rebalancer generate --profile realistik`', 'a.md'),
      inMarkdown('`--weight-polcy none`', 'a.md'),
      inMarkdown('`rebalancer generate --weight-policy none`', 'a.md'),
      inMarkdown('`--max-micro-loss 0.9`', 'a.md'),
      inMarkdown('`npm start -- --train maybe`', 'a.md'),
    ];
    for (const f of wrong) assert.ok(problemsOf(f).length > 0, `accepted: ${JSON.stringify(f)}`);
    assert.match(problemsOf(wrong[0]!).join('\n'), /--weight-policy sqrt-inverse: rejected: [\s\S]*expected one of .*sqrt_inverse/);
    assert.match(problemsOf(wrong[1]!).join('\n'), /--weight-policy outside backticks/);

    const right = [
      inMarkdown('3. Class weights flat at the clip: raise `--weight-max` or use `--weight-policy sqrt_inverse`.', 'new.md'),
      inPlainTextDocument({ description: 'raise `--weight-max` or switch to `--weight-policy sqrt_inverse`; `--train false`.' }, 'new.json'),
      inMarkdown('`rebalancer backtest --generate 20000 --strategies sqrt-inverse,weights+replay,none`', 'aliases.md'),
      inMarkdown('`rebalancer import log.csv --time-unit s|ms|iso` and `--drift d`, `--config FILE`, `--strategies a,b,...`', 'placeholders.md'),
      inMarkdown('`npm run bench -- --only model`, `pip download --no-deps x`, `--max-semi-space-size=64`', 'not-the-cli.md'),
      inMarkdown('```bash\nrebalancer run --embedded --duration 300 --rate 20000   # a comment --not-a-flag\n```', 'block.md'),
    ];
    for (const f of right) assert.deepEqual(problemsOf(f), [], JSON.stringify(f));
    assert.equal(right[2]!.mentions.find((m) => m.flag === '--strategies')?.value, 'sqrt-inverse,weights+replay,none', 'the strategy list was read as a value');
  });

  it('README.md and docs/*.md: code spans, shell blocks and settings blocks', () => {
    const found = ['README.md', ...filesIn('docs', /\.md$/)].reduce((f, file) => merge(f, inMarkdown(read(file), file)), empty());
    const withValue = found.mentions.filter((m) => m.value !== undefined);
    assert.ok(found.mentions.length >= 100, `only ${found.mentions.length} flags found`);
    assert.ok(withValue.length >= 40, `only ${withValue.length} flags with a value found`);
    assert.ok(found.settings.length >= 1, 'the README\'s settings-file example');
    assert.deepEqual(problemsOf(found), []);
  });

  it('prometheus/rules/*.yml: flags in the annotations are in backticks, with accepted values', () => {
    let found = empty();
    for (const file of filesIn('prometheus/rules', /\.ya?ml$/)) found = merge(found, inPlainTextDocument(YAML.parse(read(file)), file));
    assert.ok(found.mentions.length >= 5, `only ${found.mentions.length} flags found`);
    assert.deepEqual(problemsOf(found), []);
  });

  it('grafana/dashboards/*.json: flags in descriptions are in backticks, with accepted values', () => {
    let found = empty();
    for (const file of filesIn('grafana/dashboards', /\.json$/)) found = merge(found, inPlainTextDocument(JSON.parse(read(file)), file));
    assert.ok(found.mentions.length >= 30, `only ${found.mentions.length} flags found`);
    assert.ok(found.mentions.some((m) => m.value !== undefined), 'some flag with a value');
    assert.deepEqual(problemsOf(found), []);
  });

  it('docker-compose.yml: the services\' commands, their REBALANCER_* variables and the commands in comments', () => {
    const { found, env } = inCompose(read('docker-compose.yml'), 'docker-compose.yml');
    const verbs = new Set(found.mentions.map((m) => m.verb));
    assert.ok(verbs.has('run') && verbs.has('generate'), `commands found for ${[...verbs].join(', ')}`);
    assert.ok(found.mentions.filter((m) => m.value !== undefined).length >= 10);
    assert.deepEqual([...problemsOf(found), ...env.flatMap((e) => checkEnv(e.where, e.env))], []);
    // The checker reads the compose commands: a bad value there is caught.
    const broken = inCompose(read('docker-compose.yml').replace('- --http-host', '- --weight-policy\n      - sqrt-inverse\n      - --http-host'), 'broken.yml');
    assert.ok(problemsOf(broken.found).some((p) => p.includes('sqrt-inverse')));
    assert.ok(checkEnv('x', { REBALANCER_WEIGHT_POLICY: 'sqrt-inverse' }).length > 0 && checkEnv('x', { REBALANCER_WEIGTH_POLICY: 'none' }).length > 0);
  });

  it('examples/*.yaml: every strategy resolves to a valid run configuration, as `backtest --strategy-file` reads it', () => {
    const files = filesIn('examples', /\.ya?ml$/);
    assert.ok(files.length > 0);
    const problems: string[] = [];
    let strategies = 0;
    for (const file of files) {
      try {
        for (const s of readStrategyFile(join(ROOT, file))) {
          strategies++;
          resolveStrategy(s);
        }
      } catch (err) {
        problems.push(`${file}: ${(err as Error).message}`);
      }
    }
    assert.ok(strategies >= 1);
    assert.deepEqual(problems, []);
  });
});
