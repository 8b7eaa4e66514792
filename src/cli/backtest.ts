import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { createReferenceScorers } from '../baselines/index.js';
import { Rng } from '../balance/index.js';
import type { InteractionEvent } from '../codec/types.js';
import { SETTINGS, type RawSettings } from '../config/index.js';
import { RebalancerError } from '../errors.js';
import type { EventStream } from '../offline/backtest.js';
import { DEFAULT_BACKTEST } from '../offline/backtest-defaults.js';
import { formatTables, toJson } from '../offline/report/backtest-report.js';
import { renderChart } from '../offline/report/chart.js';
import { EVENT_FILE_HELP } from '../adapters/event-file.js';
import { brokerList, intFlag, numberFlag, oneOf } from './flags.js';
import { rangeFromFlags, type RangeFlags } from './range-flags.js';
import { GENERATOR_PROFILES, GENERATOR_PROFILE_HELP, createGenerator, type GeneratorProfile } from '../offline/generate.js';
import { createProgress } from './progress.js';
import { kafkaClient } from '../adapters/sink.js';
import { addKafkaSecurityOptions, kafkaSecurityFromFlags, type KafkaSecurityFlags } from './kafka-flags.js';
import { schemaIdLearner } from '../adapters/wire-format.js';
import { registryFromFlag } from './wire-format-flags.js';
import { fileSource, topicSource, type EventSource } from '../adapters/sources.js';
import { STRATEGIES, parseStrategies, readStrategyFile, settingsLine, type Strategy } from '../offline/strategies.js';

interface BacktestFlags extends KafkaSecurityFlags, RangeFlags {
  file?: string;
  sourceTopic?: string;
  schemaRegistry?: string;
  generate?: string;
  profile: string;
  skew: string;
  drift?: string;
  brokers?: string;
  strategies?: string;
  strategyFile?: string;
  k: string;
  seed?: string;
  batchSize?: string;
  evalCandidates: string;
  tailShare: string;
  workers?: string;
  pretrainEvents?: string;
  coldStartEvents: string;
  saveModels?: string;
  json?: string;
  chart?: string;
  quiet?: boolean;
}

function referenceHelp(): string {
  // The descriptions come from the scorers themselves (cheap: no state until events arrive).
  return createReferenceScorers({}, new Rng(0)).map((s) => `  ${s.name.padEnd(19)} ${s.description}`).join('\n');
}

export function registerBacktest(program: Command): void {
  const cmd = program
    .command('backtest')
    .description('prequential backtest (rank, then train) of strategies — sets of `rebalancer run` settings — side by side with reference rows, on the same events and candidates, without a service')
    .option('--file <path>', 'events from an event file')
    .option('--source-topic <name>', 'events from a topic slice (with --brokers and the range flags)')
    .option('--schema-registry <url>', 'with --source-topic: the schema registry for Confluent-framed events (ids fetched once; without it such events stop the backtest with an error naming this flag)', process.env.REBALANCER_SCHEMA_REGISTRY)
    .option('--generate <n>', 'events from the built-in generator (seeded by --seed, with --profile, --skew)')
    .option('--profile <name>', `with --generate: ${GENERATOR_PROFILES.map((p) => `${p} (${GENERATOR_PROFILE_HELP[p]})`).join('; ')}`, 'realistic')
    .option('--skew <ratio>', 'with --generate: head/tail category share ratio', '100')
    .option('--drift <d>', 'with --generate --profile simple: category popularity drift (default 0)')
    .option('--brokers <list>', 'Kafka brokers, host:port,...', process.env.REBALANCER_BROKERS)
    .option('--from-offset <n>', 'first offset per partition (file: first record number)')
    .option('--to-offset <n>', 'end offset per partition, exclusive (file: record number)')
    .option('--from-time <t>', 'only events with eventTime >= t (ISO-8601 or ms)')
    .option('--to-time <t>', 'only events with eventTime < t')
    .option('--strategies <list>', `comma-separated built-in strategies, or all (default: all, or none with --strategy-file): ${STRATEGIES.map((s) => s.name).join(', ')}`)
    .option('--strategy-file <file>', 'strategies from a JSON or YAML file: one object of run settings (one strategy named after the file; the `rebalancer run --config` format) or a map { name: settings }')
    .option('--k <n>', 'K of hit-rate@K and NDCG@K (JSON keys carry it: micro_hr<K>, ...)', String(DEFAULT_BACKTEST.k))
    .option('--seed <n>', `seed of the harness (candidates, probes, reference rows, --generate) and the default --seed of every strategy (default ${SETTINGS.seed.default})`)
    .option('--batch-size <n>', `the default --batch-size of every strategy: fresh events per training step (default ${SETTINGS.batchSize.default}, as run)`)
    .option('--eval-candidates <n>', 'sampled candidates each positive is ranked among (the same for every row)', String(DEFAULT_BACKTEST.evalCandidates))
    .option('--tail-share <x>', 'tail = least frequent categories holding at most this share of events', String(DEFAULT_BACKTEST.tailShare))
    .option('--workers <n>', 'worker threads running the strategies (default: min(cores, strategies)); results do not depend on it')
    .option('--pretrain-events <n>', 'warm start: the first n events of the source only pre-train the strategies whose init-from is @pretrained (warm_start), each saving its model; every row is then measured on the events after them, those strategies starting from that model (run --init-from). Default 0: none (@pretrained then starts cold)')
    .option('--cold-start-events <n>', 'the cold-start window: HR@K over the first n measured events (rounded up to a series point), shown with --pretrain-events and in the JSON (cold_start)', String(DEFAULT_BACKTEST.coldStartEvents))
    .option('--save-models <dir>', 'save each strategy\'s final model and trainer state into <dir>/<strategy> (what run --init-from reads)')
    .option('--json <file>', 'write the report as JSON')
    .option('--chart <file>', 'write the HTML report (inline SVG, no scripts): micro-vs-macro trade-off per row, cumulative micro and macro HR@K over the stream, HR@K per category with 95% Wilson intervals')
    .option('--quiet', 'no progress output')
    .addHelpText('after', () => `
Strategies (settings of \`rebalancer run\`; every other setting at its run default):
${STRATEGIES.map((s) => `  ${s.name.padEnd(19)} ${settingsLine(s.settings)}\n  ${''.padEnd(19)} ${s.description}`).join('\n')}

Reference rows (always shown, on the same events and candidates):
${referenceHelp()}

A strategy file (JSON or YAML) holds run settings by name (weightPolicy or weight-policy), e.g.
  mild: {weight-policy: sqrt_inverse, target-mix-rho: 0.9, weight-min: 0.9, weight-max: 1.1}
  deploy: {}                       # exactly the run defaults, like "service"
A file with one settings object is one strategy named after the file; \`rebalancer run --config FILE\` takes that format.
In a strategy, init-from: @pretrained is the model the strategy's own settings trained on the --pretrain-events events.

Each strategy does per event and per batch what the service does: every valid event updates the balance state,
positives (label weight > 0) are batched by --batch-size, composed (replay, undersampling, class weights) and trained on.
Every positive is first ranked among --eval-candidates items drawn uniformly from the items seen as positives before it.

JSON: {"k", "seed", "eval_candidates", "events", "dropped", "source", "categories", "tail_categories",
"tail_share_interactions", "best_reference", "strategies": [{"name", "description", "settings", "micro_hr<K>", "macro_hr<K>",
"micro_ndcg<K>", "macro_ndcg<K>", "auc", "evaluated", "hits", "tail_share_recs", "tail_share_interactions", "per_category",
"series", "vs_best_reference", "trained_samples", "samples_per_s", "timing"}], "references": [{same, without settings,
vs_best_reference, trained_samples, samples_per_s, timing}], "timing": {"wall_seconds", "workers"}}
Timing fields (samples_per_s, timing) vary between runs; every other field is reproducible for a seed, with any --workers.
${EVENT_FILE_HELP}`)
    .action(async (flags: BacktestFlags) => {
      await runBacktestCli(flags);
    });
  addKafkaSecurityOptions(cmd);
}

function selectStrategies(flags: BacktestFlags): Strategy[] {
  const fromFile = flags.strategyFile !== undefined ? readStrategyFile(flags.strategyFile) : [];
  const builtIns = flags.strategies !== undefined ? parseStrategies(flags.strategies) : fromFile.length > 0 ? [] : parseStrategies('all');
  return [...builtIns, ...fromFile];
}

async function openSource(flags: BacktestFlags, seed: number, quiet: boolean | undefined): Promise<{ stream: EventStream; source: string; close(): Promise<void> }> {
  const given = [flags.file, flags.sourceTopic, flags.generate].filter((x) => x !== undefined).length;
  if (given !== 1) throw new RebalancerError('REB_INPUT_INVALID', 'give exactly one source: --file <path>, --source-topic <name> or --generate <n>');
  if (flags.generate !== undefined) {
    const n = intFlag('generate', flags.generate, 1, 1e9);
    const profile: GeneratorProfile = oneOf('profile', flags.profile, GENERATOR_PROFILES);
    const skew = numberFlag('skew', flags.skew, 1);
    if (profile !== 'simple' && flags.drift !== undefined) throw new RebalancerError('REB_INPUT_INVALID', '--drift applies to --profile simple only', { flag: 'drift' });
    const drift = flags.drift !== undefined ? numberFlag('drift', flags.drift, 0, 10) : 0;
    const generator = profile === 'simple' ? createGenerator({ profile, seed, events: n, skew, drift }) : createGenerator({ profile, seed, events: n, skew });
    const stream: EventStream = {
      total: n,
      *events() {
        for (let i = 0; i < n; i++) yield generator.next();
      },
    };
    return { stream, source: `generate profile=${profile} n=${n} seed=${seed} skew=${skew}${profile === 'simple' ? ` drift=${drift}` : ''}`, close: () => Promise.resolve() };
  }
  const range = rangeFromFlags(flags);
  let skipped = 0;
  const onSkip = (where: string, reason: string): void => {
    if (++skipped <= 20 && quiet !== true) console.error(`backtest: skipped ${where}: ${reason}`);
  };
  const source: EventSource = flags.file !== undefined
    ? fileSource(flags.file, range, undefined, onSkip)
    : await topicSource(kafkaClient(brokerList('brokers', flags.brokers), 'rebalancer-backtest', kafkaSecurityFromFlags(flags)), flags.sourceTopic!, range, undefined, onSkip, schemaIdLearner(registryFromFlag(flags.schemaRegistry), `source topic ${flags.sourceTopic!}`));
  const stream: EventStream = {
    total: source.total,
    async *events(): AsyncGenerator<InteractionEvent> {
      for await (const item of source.items()) yield item.event;
    },
  };
  return { stream, source: flags.file !== undefined ? `file ${flags.file}` : `topic ${flags.sourceTopic!}`, close: () => source.close() };
}

async function runBacktestCli(flags: BacktestFlags): Promise<void> {
  const k = intFlag('k', flags.k, 1, 1000);
  const seed = intFlag('seed', flags.seed ?? SETTINGS.seed.default, 0, 2 ** 32 - 1);
  const evalCandidates = intFlag('eval-candidates', flags.evalCandidates, 1, 100_000);
  const tailShare = numberFlag('tail-share', flags.tailShare, 0, 1);
  const workers = flags.workers !== undefined ? intFlag('workers', flags.workers, 1, 256) : 0;
  const pretrainEvents = flags.pretrainEvents !== undefined ? intFlag('pretrain-events', flags.pretrainEvents, 0, 1e9) : 0;
  const coldStartEvents = intFlag('cold-start-events', flags.coldStartEvents, 1, 1e9);
  const saveModelsDir = flags.saveModels ?? '';
  if (k > evalCandidates) throw new RebalancerError('REB_INPUT_INVALID', `--k ${k} must not exceed --eval-candidates ${evalCandidates}`);
  // The backtest's --seed and --batch-size are run settings too: the default of every strategy.
  const harnessSettings: RawSettings = {};
  if (flags.seed !== undefined) harnessSettings.seed = flags.seed;
  if (flags.batchSize !== undefined) harnessSettings.batchSize = flags.batchSize;
  const strategies = selectStrategies(flags);
  const { stream, source, close } = await openSource(flags, seed, flags.quiet);
  const progress = createProgress({ label: `backtest (${strategies.length} strategies)`, total: stream.total, quiet: flags.quiet });
  let result;
  try {
    // Loaded here, not at start: it loads TensorFlow, which `rebalancer run` must not load on
    // its main thread (the trainer thread creates TensorFlow's thread pools, niced).
    const { runBacktest } = await import('../offline/backtest.js');
    result = await runBacktest(stream, strategies, {
      seed, k, evalCandidates, tailShare, workers, harnessSettings, pretrainEvents, coldStartEvents, saveModelsDir,
      onProgress: (done, total) => {
        if (total !== stream.total) progress.setTotal(total);
        progress.update(done);
      },
    });
  } finally {
    progress.stop();
    await close();
  }
  console.log(formatTables(result));
  const json = toJson(result, source);
  if (flags.json !== undefined) writeOutput(flags.json, `${JSON.stringify(json, null, 2)}\n`);
  if (flags.chart !== undefined) writeOutput(flags.chart, renderChart(result, `Backtest: ${source}`));
}

function writeOutput(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (err) {
    throw new RebalancerError('REB_INPUT_INVALID', `cannot write ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
}

