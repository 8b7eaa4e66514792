import type { Command } from 'commander';
import { makeEvent } from '../codec/index.js';
import { RebalancerError } from '../errors.js';
import { EVENT_FILE_HELP } from '../adapters/event-file.js';
import { intFlag, numberFlag, oneOf, timeFlag } from './flags.js';
import {
  DEFAULT_GENERATOR,
  DEFAULT_REALISTIC,
  EVENTS_PER_USER,
  GENERATOR_PROFILE_HELP,
  GENERATOR_PROFILES,
  createGenerator,
  type GeneratorOptions,
  type GeneratorProfile,
  type GeneratorSpec,
  type RealisticOptions,
} from '../offline/generate.js';
import { RatePacer } from '../offline/generate-common.js';
import { createProgress } from './progress.js';
import { fileSink, type EventSink } from '../adapters/sink.js';
import { WIRE_FORMAT_HELP, wireFormatFromFlags } from './wire-format-flags.js';
import { addEventTargetOptions, eventTargetKind, topicSinkFromFlags, type EventTargetFlags } from './event-target-flags.js';

interface GenerateFlags extends EventTargetFlags {
  profile: string;
  events: string;
  seed: string;
  skew: string;
  categories: string;
  users?: string;
  start?: string;
  meanGapMs?: string;
  rate?: string;
  // simple only
  drift?: string;
  itemsPerCategory?: string;
  // realistic only
  repeatShare?: string;
  sessionEvents?: string;
  newItemsPerEvent?: string;
  itemPeakEvents?: string;
  activitySigma?: string;
}

/** Flags that apply to one profile only (the other profile rejects them). */
const PROFILE_ONLY: readonly { readonly key: keyof GenerateFlags; readonly flag: string; readonly profile: GeneratorProfile }[] = [
  { key: 'drift', flag: 'drift', profile: 'simple' },
  { key: 'itemsPerCategory', flag: 'items-per-category', profile: 'simple' },
  { key: 'repeatShare', flag: 'repeat-share', profile: 'realistic' },
  { key: 'sessionEvents', flag: 'session-events', profile: 'realistic' },
  { key: 'newItemsPerEvent', flag: 'new-items-per-event', profile: 'realistic' },
  { key: 'itemPeakEvents', flag: 'item-peak-events', profile: 'realistic' },
  { key: 'activitySigma', flag: 'activity-sigma', profile: 'realistic' },
];

export function registerGenerate(program: Command): void {
  const d = DEFAULT_GENERATOR;
  const r = DEFAULT_REALISTIC;
  const cmd = program
    .command('generate')
    .description('write a seeded synthetic interaction stream (profiles below) to an event file or a topic')
    .option('--profile <name>', `${GENERATOR_PROFILES.join(' | ')}`, 'realistic')
    .option('--events <n>', 'number of events; 0 = no end (needs --rate): until SIGINT/SIGTERM', String(d.events))
    .option('--rate <n>', 'produce a steady stream of n events per second (default: as fast as possible); each event\'s time is then the wall-clock time it is produced, as on a live site, so --start and --mean-gap-ms do not apply')
    .option('--seed <n>', 'seed; the same seed gives the same events', String(d.seed))
    .option('--skew <ratio>', 'head/tail category share ratio of events (100 = 100:1)', String(d.skew))
    .option('--categories <n>', 'number of categories', String(d.categories))
    .option('--users <n>', `number of users (simple: ${d.users}; realistic: events / ${EVENTS_PER_USER})`)
    .option('--start <time>', `event time of the first event (ISO-8601 or ms; default ${new Date(d.startTime).toISOString()})`)
    .option('--mean-gap-ms <ms>', `mean event-time gap between events (simple: ${d.meanGapMs}; realistic: ${r.meanGapMs})`)
    .option('--drift <d>', `simple only: category popularity drift over the run, shares scale by up to e^±d (default ${d.drift})`)
    .option('--items-per-category <n>', `simple only: items in each category (default ${d.itemsPerCategory})`)
    .option('--repeat-share <r>', `realistic only: share of positives on items the user had an event on before (default ${r.repeatShare})`)
    .option('--session-events <n>', `realistic only: mean events per session (default ${r.sessionEvents})`)
    .option('--new-items-per-event <r>', `realistic only: mean new items arriving per event (default ${r.newItemsPerEvent})`)
    .option('--item-peak-events <n>', `realistic only: events after its arrival at which an item's popularity peaks (default ${r.itemPeakEvents})`)
    .option('--activity-sigma <s>', `realistic only: σ of the log-normal user activity (default ${r.activitySigma})`);
  addEventTargetOptions(cmd, 'write an event file (format below)')
    .addHelpText('after', `
Profiles:
${GENERATOR_PROFILES.map((p) => `  ${p.padEnd(10)} ${GENERATOR_PROFILE_HELP[p]}`).join('\n')}
${WIRE_FORMAT_HELP}
${EVENT_FILE_HELP}`)
    .action(async (flags: GenerateFlags) => {
      await runGenerate(flags);
    });
}

/** How fast and how long: `rate` events per second (null: as fast as possible), `count` events (null: no end). */
interface Pace {
  rate: number | null;
  count: number | null;
}

/** --rate and --events; the flags that a paced or endless run cannot honour are errors naming them. */
function paceFromFlags(flags: GenerateFlags): Pace {
  const rate = flags.rate !== undefined ? numberFlag('rate', flags.rate, 0.001, 1e7) : null;
  const events = intFlag('events', flags.events, 0, 1e9);
  if (events === 0 && rate === null) throw new RebalancerError('REB_INPUT_INVALID', '--events 0 (no end) needs --rate <events per second>', { flag: 'events' });
  if (rate !== null) {
    for (const [flag, value] of [['start', flags.start], ['mean-gap-ms', flags.meanGapMs]] as const) {
      if (value !== undefined) throw new RebalancerError('REB_INPUT_INVALID', `--${flag} does not apply with --rate: each event's time is the wall-clock time it is produced`, { flag });
    }
  }
  if (events === 0 && flags.drift !== undefined && numberFlag('drift', flags.drift, 0, 10) > 0) {
    throw new RebalancerError('REB_INPUT_INVALID', '--drift spreads over --events and needs a finite count (not --events 0)', { flag: 'drift' });
  }
  return { rate, count: events === 0 ? null : events };
}

/** The generator spec the flags ask for; a flag of the other profile is an error naming it. */
function generatorSpecFromFlags(flags: GenerateFlags, pace: Pace): GeneratorSpec & { events: number; seed: number; skew: number } {
  const profile = oneOf('profile', flags.profile, GENERATOR_PROFILES);
  for (const only of PROFILE_ONLY) {
    if (only.profile !== profile && flags[only.key] !== undefined) {
      throw new RebalancerError('REB_INPUT_INVALID', `--${only.flag} applies only to --profile ${only.profile}, not ${profile}`, { flag: only.flag });
    }
  }
  const common = {
    // An endless run sizes the generator as for the default count (its streams can run past it).
    events: pace.count ?? DEFAULT_GENERATOR.events,
    seed: intFlag('seed', flags.seed, 0, 2 ** 32 - 1),
    skew: numberFlag('skew', flags.skew, 1),
    categories: intFlag('categories', flags.categories, 2, 10_000),
    startTime: flags.start !== undefined ? timeFlag('start', flags.start) : DEFAULT_GENERATOR.startTime,
    ...(flags.users !== undefined ? { users: intFlag('users', flags.users, 1, 10_000_000) } : {}),
  };
  if (profile === 'realistic') {
    const o: Partial<RealisticOptions> = { ...common };
    if (flags.meanGapMs !== undefined) o.meanGapMs = numberFlag('mean-gap-ms', flags.meanGapMs, 0.001);
    if (flags.repeatShare !== undefined) o.repeatShare = numberFlag('repeat-share', flags.repeatShare, 0, 0.9);
    if (flags.sessionEvents !== undefined) o.sessionEvents = numberFlag('session-events', flags.sessionEvents, 1, 1_000);
    if (flags.newItemsPerEvent !== undefined) o.newItemsPerEvent = numberFlag('new-items-per-event', flags.newItemsPerEvent, 0.0001, 10);
    if (flags.itemPeakEvents !== undefined) o.itemPeakEvents = numberFlag('item-peak-events', flags.itemPeakEvents, 1, 1e9);
    if (flags.activitySigma !== undefined) o.activitySigma = numberFlag('activity-sigma', flags.activitySigma, 0, 5);
    return { profile, ...o, ...common };
  }
  const o: GeneratorOptions = { ...DEFAULT_GENERATOR, ...common };
  if (flags.meanGapMs !== undefined) o.meanGapMs = numberFlag('mean-gap-ms', flags.meanGapMs, 0);
  if (flags.drift !== undefined) o.drift = numberFlag('drift', flags.drift, 0, 10);
  if (flags.itemsPerCategory !== undefined) o.itemsPerCategory = intFlag('items-per-category', flags.itemsPerCategory, 1, 1_000_000);
  o.preferredItemsPerFavourite = Math.min(o.preferredItemsPerFavourite, o.itemsPerCategory);
  o.favouritesPerUser = Math.min(o.favouritesPerUser, o.categories);
  return { profile, ...o };
}

async function runGenerate(flags: GenerateFlags): Promise<void> {
  const pace = paceFromFlags(flags);
  const spec = generatorSpecFromFlags(flags, pace);
  const wireFormat = wireFormatFromFlags(flags, eventTargetKind(flags));
  const generator = createGenerator(spec);
  const categories = generator.categoryIds.length;
  const drift = spec.profile === 'simple' ? ` drift=${spec.drift ?? DEFAULT_GENERATOR.drift}` : '';
  const paced = pace.rate !== null ? ` rate=${pace.rate}` : '';
  const source = `generate profile=${generator.profile} seed=${spec.seed} events=${pace.count ?? 'unbounded'} skew=${spec.skew}${drift} categories=${categories}${paced}`;
  // A paced stream is sent at least every ~100 ms, not once per 1,000 events.
  const batchSize = pace.rate !== null ? Math.max(1, Math.min(1_000, Math.ceil(pace.rate / 10))) : undefined;
  const sink: EventSink = flags.out !== undefined ? fileSink(flags.out, source) : await topicSinkFromFlags(flags, 'generate', wireFormat, batchSize);
  // An endless run has no total to show progress against.
  const progress = createProgress({ label: 'generate', total: pace.count ?? 0, quiet: flags.quiet === true || pace.count === null });
  const pacer = pace.rate !== null ? new RatePacer(pace.rate) : null;
  if (pacer !== null && flags.quiet !== true) console.error(`generate: ${pace.rate} events/s to ${sink.describe}${pace.count === null ? ' until SIGINT/SIGTERM' : ''}`);
  // A paced run ends cleanly on SIGINT/SIGTERM: what was generated is flushed and summarised.
  let stopped = false;
  const stop = (): void => { stopped = true; };
  if (pacer !== null) for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, stop);
  const perCategory = new Float64Array(categories);
  let purchases = 0;
  let events = 0;
  try {
    while ((pace.count === null || events < pace.count) && !stopped) {
      if (pacer !== null) await pacer.due(events);
      if (stopped) break;
      const generated = generator.next();
      // Paced: the event happens now, as on a live site.
      const e = pacer !== null ? makeEvent({ ...generated, eventTime: Date.now() }) : generated;
      perCategory[Number(e.categoryId.slice(4))]!++;
      if (e.type === 'purchase') purchases++;
      await sink.add(e.userId, sink.encode(e), e.eventTime);
      if ((events & 1023) === 0) progress.update(events);
      events++;
    }
    progress.update(events);
  } finally {
    progress.stop();
    if (pacer !== null) for (const sig of ['SIGINT', 'SIGTERM'] as const) process.off(sig, stop);
    await sink.close();
  }
  const head = perCategory[0]!;
  const tail = perCategory[categories - 1]!;
  const shares = generator.categoryShares;
  const target = shares[0]! / shares[categories - 1]!;
  console.error(`generated ${events} events (${generator.profile}) to ${sink.describe}: head/tail ratio ${tail > 0 ? (head / tail).toFixed(1) : '∞'}:1 (target ${Number(target.toPrecision(6))}:1), purchases ${((100 * purchases) / Math.max(1, events)).toFixed(1)}%${stopped ? ' (stopped by a signal)' : ''}`);
}
