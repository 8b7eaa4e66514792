import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { InteractionEvent } from '../codec/types.js';
import { RebalancerError } from '../errors.js';
import { DEFAULT_BACKTEST, runBacktest } from '../tools/backtest.js';
import { formatTables, toJson } from '../tools/backtest-report.js';
import { renderChart } from '../tools/chart.js';
import { EVENT_FILE_HELP } from '../tools/event-file.js';
import { brokerList, intFlag, numberFlag, timeFlag } from '../tools/flags.js';
import { InteractionGenerator } from '../tools/generate.js';
import { createProgress, type Progress } from '../tools/progress.js';
import { kafkaClient } from '../tools/sink.js';
import { fileSource, topicSource, type EventSource, type Range } from '../tools/sources.js';
import { STRATEGIES, parseStrategies } from '../tools/strategies.js';

interface BacktestFlags {
  file?: string;
  sourceTopic?: string;
  generate?: string;
  skew: string;
  drift: string;
  brokers?: string;
  fromOffset?: string;
  toOffset?: string;
  fromTime?: string;
  toTime?: string;
  strategies: string;
  k: string;
  seed: string;
  batchSize: string;
  evalCandidates: string;
  tailShare: string;
  json?: string;
  chart?: string;
  quiet?: boolean;
}

export function registerBacktest(program: Command): void {
  program
    .command('backtest')
    .description('prequential backtest (rank, then train) of several balancing strategies side by side on the same events, without a service')
    .option('--file <path>', 'events from an event file')
    .option('--source-topic <name>', 'events from a topic slice (with --brokers and the range flags)')
    .option('--generate <n>', 'events from the built-in generator (seeded by --seed, with --skew, --drift)')
    .option('--skew <ratio>', 'with --generate: head/tail category share ratio', '100')
    .option('--drift <d>', 'with --generate: category popularity drift', '0')
    .option('--brokers <list>', 'Kafka brokers, host:port,...', process.env.REBALANCER_BROKERS)
    .option('--from-offset <n>', 'first offset per partition (file: first record number)')
    .option('--to-offset <n>', 'end offset per partition, exclusive (file: record number)')
    .option('--from-time <t>', 'only events with eventTime >= t (ISO-8601 or ms)')
    .option('--to-time <t>', 'only events with eventTime < t')
    .option('--strategies <list>', `comma-separated, or all: ${STRATEGIES.map((s) => s.name).join(', ')}`, 'all')
    .option('--k <n>', 'K of hit-rate@K and NDCG@K (JSON keys carry it: micro_hr<K>, ...)', String(DEFAULT_BACKTEST.k))
    .option('--seed <n>', 'seed of the model, samplers (and --generate); the same seed gives the same numbers', String(DEFAULT_BACKTEST.seed))
    .option('--batch-size <n>', 'fresh events per training step', String(DEFAULT_BACKTEST.batchSize))
    .option('--eval-candidates <n>', 'sampled candidates each positive is ranked among', String(DEFAULT_BACKTEST.evalCandidates))
    .option('--tail-share <x>', 'tail = least frequent categories holding at most this share of events', String(DEFAULT_BACKTEST.tailShare))
    .option('--json <file>', 'write the report as JSON')
    .option('--chart <file>', 'write an HTML page with micro and macro HR@K over time per strategy (inline SVG)')
    .option('--quiet', 'no progress output')
    .addHelpText('after', `
Strategies:
${STRATEGIES.map((s) => `  ${s.name.padEnd(17)} ${s.description}`).join('\n')}

JSON: {"k", "seed", "events", "source", "categories", "tail_categories", "strategies": [{"name", "description",
"micro_hr<K>", "macro_hr<K>", "micro_ndcg<K>", "macro_ndcg<K>", "auc", "evaluated", "tail_share_recs",
"tail_share_interactions", "trained_samples", "samples_per_s", "per_category": {cat: {"hr<K>", "ndcg<K>", "auc",
"evaluated", "interactions", "recommended"}}, "series": [{"events", "micro_hr<K>", "macro_hr<K>"}], "timing": {"wall_seconds"}}]}
Timing fields (samples_per_s, timing.*) vary between runs; every other field is reproducible for a seed.
${EVENT_FILE_HELP}`)
    .action(async (flags: BacktestFlags) => {
      await runBacktestCli(flags);
    });
}

async function loadEvents(flags: BacktestFlags, seed: number, quiet: boolean | undefined): Promise<{ events: InteractionEvent[]; source: string }> {
  const given = [flags.file, flags.sourceTopic, flags.generate].filter((x) => x !== undefined).length;
  if (given !== 1) throw new RebalancerError('REB_INPUT_INVALID', 'give exactly one source: --file <path>, --source-topic <name> or --generate <n>');
  if (flags.generate !== undefined) {
    const n = intFlag('generate', flags.generate, 1, 1e8);
    const g = new InteractionGenerator({ seed, events: n, skew: numberFlag('skew', flags.skew, 1), drift: numberFlag('drift', flags.drift, 0, 10) });
    return { events: Array.from({ length: n }, () => g.next()), source: `generate n=${n} seed=${seed} skew=${flags.skew} drift=${flags.drift}` };
  }
  const range: Range = {};
  if (flags.fromOffset !== undefined) range.fromOffset = intFlag('from-offset', flags.fromOffset, 0, Number.MAX_SAFE_INTEGER);
  if (flags.toOffset !== undefined) range.toOffset = intFlag('to-offset', flags.toOffset, 0, Number.MAX_SAFE_INTEGER);
  if (flags.fromTime !== undefined) range.fromTime = timeFlag('from-time', flags.fromTime);
  if (flags.toTime !== undefined) range.toTime = timeFlag('to-time', flags.toTime);
  let skipped = 0;
  const onSkip = (where: string, reason: string): void => {
    if (++skipped <= 20) console.error(`backtest: skipped ${where}: ${reason}`);
  };
  const source: EventSource = flags.file !== undefined
    ? fileSource(flags.file, range, undefined, onSkip)
    : await topicSource(kafkaClient(brokerList('brokers', flags.brokers), 'rebalancer-backtest'), flags.sourceTopic!, range, undefined, onSkip);
  const progress = createProgress({ label: 'backtest: reading', total: source.total, quiet });
  const events: InteractionEvent[] = [];
  try {
    for await (const item of source.items()) {
      events.push(item.event);
      if ((events.length & 4095) === 0) progress.update(events.length);
    }
  } finally {
    progress.stop();
    await source.close();
  }
  return { events, source: flags.file !== undefined ? `file ${flags.file}` : `topic ${flags.sourceTopic!}` };
}

async function runBacktestCli(flags: BacktestFlags): Promise<void> {
  const strategies = parseStrategies(flags.strategies);
  const k = intFlag('k', flags.k, 1, 1000);
  const seed = intFlag('seed', flags.seed, 0, 2 ** 32 - 1);
  const batchSize = intFlag('batch-size', flags.batchSize, 1, 100_000);
  const evalCandidates = intFlag('eval-candidates', flags.evalCandidates, 1, 100_000);
  const tailShare = numberFlag('tail-share', flags.tailShare, 0, 1);
  if (k > evalCandidates) throw new RebalancerError('REB_INPUT_INVALID', `--k ${k} must not exceed --eval-candidates ${evalCandidates}`);
  const { events, source } = await loadEvents(flags, seed, flags.quiet);
  if (events.length === 0) throw new RebalancerError('REB_INPUT_INVALID', `no events in ${source} (check the range flags)`);

  let progress: Progress | undefined;
  let current = '';
  const result = runBacktest(events, strategies, {
    seed, k, batchSize, evalCandidates, tailShare,
    onProgress: (name, done, total) => {
      if (name !== current) {
        progress?.stop();
        current = name;
        progress = createProgress({ label: `backtest ${name}`, total, quiet: flags.quiet });
      }
      progress!.update(done);
    },
  });
  progress?.stop();
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
