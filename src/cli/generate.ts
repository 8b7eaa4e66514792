import type { Command } from 'commander';
import { createEventCodec } from '../codec/index.js';
import { RebalancerError } from '../errors.js';
import { EVENT_FILE_HELP } from '../tools/event-file.js';
import { brokerList, intFlag, numberFlag, timeFlag } from '../tools/flags.js';
import { DEFAULT_GENERATOR, InteractionGenerator, type GeneratorOptions } from '../tools/generate.js';
import { createProgress } from '../tools/progress.js';
import { fileSink, topicSink, type EventSink } from '../tools/sink.js';

interface GenerateFlags {
  events: string;
  seed: string;
  skew: string;
  drift: string;
  categories: string;
  users: string;
  itemsPerCategory: string;
  start: string;
  meanGapMs: string;
  out?: string;
  brokers?: string;
  topic?: string;
  partitions: string;
  quiet?: boolean;
}

export function registerGenerate(program: Command): void {
  const d = DEFAULT_GENERATOR;
  program
    .command('generate')
    .description('write a seeded synthetic interaction stream (latent user preferences, Zipf category skew, drift) to an event file or a topic')
    .option('--events <n>', 'number of events', String(d.events))
    .option('--seed <n>', 'seed; the same seed gives the same events', String(d.seed))
    .option('--skew <ratio>', 'head/tail category share ratio (100 = 100:1)', String(d.skew))
    .option('--drift <d>', 'category popularity drift over the run: shares scale by up to e^±d (0 = none)', String(d.drift))
    .option('--categories <n>', 'number of categories', String(d.categories))
    .option('--users <n>', 'number of users', String(d.users))
    .option('--items-per-category <n>', 'items in each category', String(d.itemsPerCategory))
    .option('--start <time>', 'event time of the first event (ISO-8601 or ms)', new Date(d.startTime).toISOString())
    .option('--mean-gap-ms <ms>', 'mean event-time gap between events', String(d.meanGapMs))
    .option('--out <file>', 'write an event file (format below)')
    .option('--brokers <list>', 'Kafka brokers, host:port,... (with --topic)', process.env.REBALANCER_BROKERS)
    .option('--topic <name>', 'produce to this topic (created if missing), keyed by userId, timestamp = event time')
    .option('--partitions <n>', 'partitions when the topic is created', '3')
    .option('--quiet', 'no progress output')
    .addHelpText('after', EVENT_FILE_HELP)
    .action(async (flags: GenerateFlags) => {
      await runGenerate(flags);
    });
}

async function runGenerate(flags: GenerateFlags): Promise<void> {
  const options: GeneratorOptions = {
    ...DEFAULT_GENERATOR,
    events: intFlag('events', flags.events, 1, 1e9),
    seed: intFlag('seed', flags.seed, 0, 2 ** 32 - 1),
    skew: numberFlag('skew', flags.skew, 1),
    drift: numberFlag('drift', flags.drift, 0, 10),
    categories: intFlag('categories', flags.categories, 2, 10_000),
    users: intFlag('users', flags.users, 1, 10_000_000),
    itemsPerCategory: intFlag('items-per-category', flags.itemsPerCategory, 1, 1_000_000),
    startTime: timeFlag('start', flags.start),
    meanGapMs: numberFlag('mean-gap-ms', flags.meanGapMs, 0),
  };
  options.preferredItemsPerFavourite = Math.min(options.preferredItemsPerFavourite, options.itemsPerCategory);
  options.favouritesPerUser = Math.min(options.favouritesPerUser, options.categories);
  if ((flags.out === undefined) === (flags.topic === undefined)) {
    throw new RebalancerError('REB_INPUT_INVALID', 'give exactly one of --out <file> or --topic <name> (with --brokers)');
  }
  const generator = new InteractionGenerator(options);
  const codec = createEventCodec();
  const source = `generate seed=${options.seed} events=${options.events} skew=${options.skew} drift=${options.drift} categories=${options.categories}`;
  const sink: EventSink = flags.out !== undefined
    ? fileSink(flags.out, source)
    : await topicSink(brokerList('brokers', flags.brokers), flags.topic!, intFlag('partitions', flags.partitions, 1, 10_000));
  const progress = createProgress({ label: 'generate', total: options.events, quiet: flags.quiet });
  const perCategory = new Float64Array(options.categories);
  let purchases = 0;
  try {
    for (let i = 0; i < options.events; i++) {
      const e = generator.next();
      perCategory[Number(e.categoryId.slice(4))]!++;
      if (e.type === 'purchase') purchases++;
      await sink.add(e.userId, codec.encode(e), e.eventTime);
      if ((i & 1023) === 0) progress.update(i);
    }
    progress.update(options.events);
  } finally {
    progress.stop();
    await sink.close();
  }
  const head = perCategory[0]!;
  const tail = perCategory[options.categories - 1]!;
  console.error(`generated ${options.events} events to ${sink.describe}: head/tail ratio ${tail > 0 ? (head / tail).toFixed(1) : '∞'}:1 (target ${options.skew}:1), purchases ${((100 * purchases) / options.events).toFixed(1)}%`);
}
