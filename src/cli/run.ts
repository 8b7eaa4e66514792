import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { CONFIG_FILE_ENV, loadRunConfig } from '../config/file.js';
import { SETTINGS, flagToOptionKey, type RawSettings, type ServiceConfig, type SettingKey } from '../config/index.js';
import { settingHelp } from '../config/settings.js';
import { RebalancerError, isRebalancerError } from '../errors.js';
import { livePageUrl } from '../http/live-page.js';
import { describeKafkaSecurity, kafkaSecurity, kafkaSecurityWarning } from '../adapters/kafka/security.js';
import { adminAddress } from '../serve/index.js';
import { startService, type ServiceHandle, type ServiceState } from '../service/index.js';
import { allocatorAdvice, glibcVersion } from '../service/allocator.js';
import { LiveView } from './live-view.js';
import { startSyntheticProducer, type SyntheticProducer } from './synthetic-producer.js';

/** After a failed start, the process exits at the latest this long after the error (ms). */
const START_FAILURE_EXIT_MS = 2_000;

/**
 * The local infrastructure of `run --embedded`: a Kafka broker and, for the Confluent demo,
 * a schema registry. It is development support (dev/local-broker.ts, dev/local-registry.ts:
 * they fetch jars with Maven and run Java), handed in by the development entry point
 * (dev/rebalancer.ts, what `npm start` runs); the product's own executable has none.
 */
export interface EmbeddedInfrastructure {
  startKafka(options: { log: (msg: string) => void; ownProcessGroup: boolean; sasl?: { users: Record<string, string> } }): Promise<{ brokers: string[]; saslBrokers: string[]; stop(): Promise<void> }>;
  startRegistry(options: { log: (msg: string) => void }): Promise<{ url: string; stop(): Promise<void> }>;
}

type LocalKafka = Awaited<ReturnType<EmbeddedInfrastructure['startKafka']>>;
type LocalRegistry = Awaited<ReturnType<EmbeddedInfrastructure['startRegistry']>>;

interface RunOnlyFlags {
  config?: string;
  embedded?: boolean;
  duration?: string;
  events?: string;
  rate?: string;
  corruptEvery?: string;
}

/**
 * `rebalancer run`: the streaming service. Every service setting is a flag and an env
 * var (src/config/settings.ts), and can come from a settings file (`--config FILE`, the
 * format of a backtest strategy); `--embedded` adds a local Kafka broker and a built-in
 * synthetic producer so the whole system runs with one command.
 */
export function registerRun(program: Command, infrastructure?: EmbeddedInfrastructure): void {
  const cmd = program
    .command('run')
    .description('run the rebalancer service: consume events, balance, train, serve recommendations and metrics.\nWith --embedded: a local Kafka broker and a built-in skewed synthetic stream (with a few corrupt payloads).')
    .option('--config <file>', `settings file (JSON or YAML, one object of run settings, e.g. {"weight-policy": "sqrt_inverse"}; the format of a backtest --strategy-file); flags win over env, env over the file (env ${CONFIG_FILE_ENV})`)
    .option('--embedded', '(npm start, the development entry point dev/rebalancer.ts) start a local Kafka broker and feed it a synthetic imbalanced stream; with --wire-format confluent and no --schema-registry, also a local schema registry (Apicurio, Java 21+), and the stream is written in the Confluent wire format')
    .option('--duration <s>', 'stop after this many seconds (default with --embedded: 60; otherwise run until SIGINT/SIGTERM)')
    .option('--events <n>', 'stop after this many events have been applied')
    .option('--rate <n>', 'events per second of the embedded synthetic producer', '5000')
    .option('--corrupt-every <n>', 'embedded producer: one corrupt payload every n events (0 = none)', '2000');
  // Allowed values and range from the settings table.
  for (const spec of Object.values(SETTINGS)) cmd.addOption(new Option(`${spec.flag} <value>`, settingHelp(spec)));
  cmd.action(async (flags: Record<string, string | boolean | undefined>) => {
    const raw: RawSettings = {};
    for (const [key, spec] of Object.entries(SETTINGS)) {
      const v = flags[flagToOptionKey(spec.flag)];
      if (typeof v === 'string') raw[key as SettingKey] = v;
    }
    await runCommand(raw, flags as RunOnlyFlags, infrastructure);
  });
}

function positive(name: string, raw: string | undefined, allowZero = false): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || (!allowZero && n <= 0)) throw new RebalancerError('REB_CONFIG_INVALID', `${name}: got ${JSON.stringify(raw)}, expected a ${allowZero ? 'non-negative' : 'positive'} number`);
  return n;
}

/** The run-only flags, checked. */
interface RunOptions {
  embedded: boolean;
  durationS: number | undefined;
  stopAfterEvents: number | undefined;
  rate: number;
  corruptEvery: number;
}

function runOptions(flags: RunOnlyFlags, infrastructure: EmbeddedInfrastructure | undefined): RunOptions {
  const embedded = flags.embedded === true;
  if (embedded && infrastructure === undefined) {
    throw new RebalancerError('REB_CONFIG_INVALID', '--embedded: the local broker and registry are development support, started by `npm start` (node --import tsx dev/rebalancer.ts run --embedded) in a clone of the project; the installed rebalancer connects to --brokers', { flag: 'embedded' });
  }
  return {
    embedded,
    durationS: positive('--duration', flags.duration) ?? (embedded ? 60 : undefined),
    stopAfterEvents: positive('--events', flags.events),
    rate: positive('--rate', flags.rate) ?? 5_000,
    corruptEvery: positive('--corrupt-every', flags.corruptEvery, true) ?? 0,
  };
}

/** What a run has started, stopped at its end (shutdown) whatever happened. */
interface RunResources {
  /** The embedded run's temporary checkpoint directory (removed at the end). */
  ownedCheckpointDir?: string;
  local?: LocalKafka;
  registry?: LocalRegistry;
  producer?: SyntheticProducer;
  service?: ServiceHandle;
  serviceStarted: number;
}

async function runCommand(raw: RawSettings, flags: RunOnlyFlags, infrastructure: EmbeddedInfrastructure | undefined): Promise<void> {
  const run = runOptions(flags, infrastructure);
  const { embedded } = run;
  const log = (m: string): void => console.error(`[rebalancer] ${m}`);

  // Validate the configuration before starting anything.
  const resolved = loadRunConfig({ flags: raw, env: process.env, configFile: flags.config });
  let config: ServiceConfig = resolved.config;
  // The Kafka security settings together, and their PEM files (REB_CONFIG_INVALID naming the setting).
  kafkaSecurity(config);
  if (embedded && config.kafkaSsl) {
    throw new RebalancerError('REB_CONFIG_INVALID', '--kafka-ssl true with --embedded: the embedded broker has no TLS listener (it has a SASL_PLAINTEXT one: --kafka-sasl-mechanism without --kafka-ssl)', { setting: 'kafkaSsl' });
  }
  // The live page (on the admin address when there is one) comes first (issue 15); with port 0 it is known once bound (printed below).
  const pageAt = adminAddress(config).admin ?? { host: config.httpHost, port: config.httpPort };
  if (embedded && pageAt.port !== 0) console.error(`live page: ${livePageUrl(pageAt.host, pageAt.port)}`);
  const advice = allocatorAdvice(process.env, glibcVersion());
  if (advice !== null) log(advice);
  // SIGINT/SIGTERM are handled from here to the end: the first one ends the run
  // gracefully, any later one (npm forwards the terminal's SIGINT, so one Ctrl-C can arrive
  // twice) is only logged and must not kill the process before the final checkpoint.
  const signals = signalHandler((sig) => log(`${sig} received while stopping; finishing the shutdown (at most ${config.shutdownTimeoutMs} ms)`), () => {
    // The budget runs from the first signal, also when it comes while starting (e.g. while
    // the brokers are still being reached).
    exitAfter(config.shutdownTimeoutMs);
  });
  const res: RunResources = { serviceStarted: Date.now() };
  try {
    if (embedded) config = await startEmbedded(infrastructure!, config, resolved.explicit.checkpointDir === undefined, res, log);
    const service = await startRunService(config, log);
    res.service = service;
    res.serviceStarted = Date.now();
    console.error(`metrics: ${service.adminUrl}/metrics`);
    console.error(`state:   ${service.adminUrl}/state   recommendations: ${service.url}/recommendations/<userId>?k=10`);
    // The bound port (with port 0 known only now) is the admin URL's last part.
    if (!embedded || pageAt.port === 0) console.error(`live page: ${livePageUrl(pageAt.host, Number(/:(\d+)$/.exec(service.adminUrl)?.[1] ?? pageAt.port))}`);
    if (embedded) res.producer = await startProducer(config, run, log);
    const reason = await waitForEnd(service, run.durationS, run.stopAfterEvents, signals.first);
    log(`stopping (${reason})`);
  } finally {
    await shutdown(res, config.shutdownTimeoutMs, log);
  }
}

/** Exits the process with 1 should the shutdown not be done within `ms` (the timer does not keep it alive). */
function exitAfter(ms: number): NodeJS.Timeout {
  return setTimeout(() => {
    console.error(`rebalancer: shutdown took longer than ${ms} ms; exiting`);
    process.exit(1);
  }, ms).unref();
}

/**
 * `--embedded`: a local Kafka broker (and, for the Confluent demo without --schema-registry,
 * a local schema registry), recorded in `res` as each starts; the configuration pointed at them.
 */
async function startEmbedded(infrastructure: EmbeddedInfrastructure, config: ServiceConfig, ownCheckpoints: boolean, res: RunResources, log: (m: string) => void): Promise<ServiceConfig> {
  log('starting a local Kafka broker (embedded mode)');
  // Its own process group: Ctrl-C in a terminal reaches this process only, which stops
  // the broker after the final checkpoint (and kills it should this process die first).
  // With SASL settings, the broker gets a SASL_PLAINTEXT listener for exactly those credentials, and the service uses it.
  const sasl = config.kafkaSaslMechanism !== '' ? { users: { [config.kafkaSaslUsername]: config.kafkaSaslPassword } } : undefined;
  const local = await infrastructure.startKafka({ log, ownProcessGroup: true, ...(sasl !== undefined ? { sasl } : {}) });
  res.local = local;
  // A fresh broker has fresh offsets: checkpoints of another broker must not be restored.
  // A temporary one of our own is removed at the end.
  if (ownCheckpoints) res.ownedCheckpointDir = mkdtempSync(join(tmpdir(), 'rebalancer-embedded-'));
  const checkpointDir = res.ownedCheckpointDir ?? config.checkpointDir;
  let out: ServiceConfig = { ...config, brokers: sasl !== undefined ? local.saslBrokers : local.brokers, checkpointDir };
  // The Confluent demo: a local schema registry too (unless one is given), and the
  // synthetic producer writes the Confluent wire format through it.
  if (out.wireFormat === 'confluent' && out.schemaRegistry === '') {
    log('starting a local schema registry (Apicurio, embedded mode with --wire-format confluent)');
    res.registry = await infrastructure.startRegistry({ log });
    out = { ...out, schemaRegistry: res.registry.url };
  }
  return out;
}

/** Starts the service; after a failed start the process exits within START_FAILURE_EXIT_MS. */
async function startRunService(config: ServiceConfig, log: (m: string) => void): Promise<ServiceHandle> {
  log(`Kafka at ${config.brokers.join(',')}: ${describeKafkaSecurity(config)}`);
  const warning = kafkaSecurityWarning(config);
  if (warning !== undefined) log(`WARNING: ${warning}`);
  return startService(config, { log }).catch((err: unknown) => {
    // startService undid what it had started; a client library still retrying in the
    // background must not keep a failed start alive: the error line, then exit.
    setTimeout(() => process.exit(isRebalancerError(err) ? 2 : 1), START_FAILURE_EXIT_MS).unref();
    throw err;
  });
}

/** The embedded synthetic producer (Confluent wire format with a schema registry). */
async function startProducer(config: ServiceConfig, run: RunOptions, log: (m: string) => void): Promise<SyntheticProducer> {
  const { rate, corruptEvery } = run;
  const schemaRegistry = config.wireFormat === 'confluent' ? config.schemaRegistry : undefined;
  const producer = await startSyntheticProducer({ brokers: config.brokers, security: kafkaSecurity(config), topic: config.topic, rate, corruptEvery, seed: config.seed, log, ...(schemaRegistry !== undefined ? { schemaRegistry } : {}) });
  log(`synthetic producer: ${rate} events/s${schemaRegistry !== undefined ? ', Confluent wire format' : ''}${corruptEvery > 0 ? `, one corrupt payload every ${corruptEvery}` : ''}`);
  return producer;
}

/**
 * Stops what the run started, within `timeoutMs` (else exits): the producer, the service (then
 * the summary), the local broker and registry; removes the temporary checkpoints. A failure to
 * stop the service is thrown at the end.
 */
async function shutdown(res: RunResources, timeoutMs: number, log: (m: string) => void): Promise<void> {
  const forced = exitAfter(timeoutMs);
  await res.producer?.stop();
  let failure: unknown;
  if (res.service) {
    await res.service.stop().catch((err: unknown) => { failure = err; });
    printSummary(res.service.state(), (Date.now() - res.serviceStarted) / 1000, res.producer?.sent ?? null);
  }
  if (res.local) {
    log('stopping the local Kafka broker');
    await res.local.stop();
  }
  if (res.registry) {
    log('stopping the local schema registry');
    await res.registry.stop();
  }
  if (res.ownedCheckpointDir !== undefined) rmSync(res.ownedCheckpointDir, { recursive: true, force: true });
  clearTimeout(forced);
  if (failure) throw failure;
}

/** Resolves when the run should end: duration elapsed, event count reached, a signal, or a dead consumer (rejects). */
async function waitForEnd(service: ServiceHandle, durationS: number | undefined, stopAfterEvents: number | undefined, signal: Promise<NodeJS.Signals>): Promise<string> {
  const live = new LiveView({ service, out: process.stderr, statusIntervalMs: service.config.statusIntervalMs });
  return new Promise<string>((resolve, reject) => {
    let ended = false;
    const cleanup = (): void => {
      ended = true;
      clearInterval(tick);
      if (timer) clearTimeout(timer);
      live.end();
    };
    const finish = (reason: string): void => {
      if (ended) return;
      cleanup();
      resolve(reason);
    };
    void signal.then((sig) => finish(sig));
    const timer = durationS !== undefined ? setTimeout(() => finish(`--duration ${durationS}s elapsed`), durationS * 1000) : undefined;
    const tick = setInterval(() => {
      let state;
      try {
        state = live.tick();
      } catch (err) {
        // A view that cannot be drawn this second is skipped, never an uncaught exception.
        console.error(`[rebalancer] live view: ${(err as Error).message}`);
        return;
      }
      if (stopAfterEvents !== undefined && state.totals.applied >= stopAfterEvents) finish(`--events ${stopAfterEvents} applied`);
    }, 1_000);
    service.done.then(() => finish('service stopped'), (err: unknown) => {
      if (ended) return;
      cleanup();
      reject(err);
    });
  });
}

/**
 * Listens for SIGINT and SIGTERM until the process exits: `first` resolves with the first
 * one; every later one goes to `again` (the process is never killed by the default action).
 */
function signalHandler(again: (sig: NodeJS.Signals) => void, onFirst: () => void): { first: Promise<NodeJS.Signals> } {
  let seen = false;
  let resolveFirst!: (sig: NodeJS.Signals) => void;
  const first = new Promise<NodeJS.Signals>((resolve) => { resolveFirst = resolve; });
  const on = (sig: NodeJS.Signals): void => {
    if (seen) again(sig);
    else {
      seen = true;
      onFirst();
      resolveFirst(sig);
    }
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return { first };
}

function printSummary(s: ServiceState, seconds: number, producedBySynthetic: number | null): void {
  const out: string[] = [];
  out.push('');
  out.push(`summary: ${s.totals.applied} events applied in ${seconds.toFixed(1)} s (${(s.totals.applied / Math.max(seconds, 1e-9)).toFixed(0)} events/s overall)${producedBySynthetic !== null ? `, ${producedBySynthetic} produced by the synthetic producer` : ''}`);
  out.push(`  invalid ${s.totals.invalid}, dead-lettered ${s.totals.deadLettered}, duplicates ${s.totals.duplicates}, late ${s.totals.late}, recommendations produced ${s.totals.recommendationsProduced}`);
  out.push(`  imbalance ratio ${s.imbalance.ratio.toFixed(2)}, normalised entropy ${s.imbalance.entropyNormalized.toFixed(3)}, Gini ${s.imbalance.gini.toFixed(3)}`);
  out.push(`  model ${s.model.version}, ${s.model.steps} training steps; prequential hit-rate@10 macro ${s.evaluation.hitRateMacro.toFixed(3)} vs micro ${s.evaluation.hitRateMicro.toFixed(3)}; NDCG macro ${s.evaluation.ndcgMacro.toFixed(3)} vs micro ${s.evaluation.ndcgMicro.toFixed(3)}`);
  const adj = s.evaluation.adjustment;
  out.push(`  serving-time balancing: τ ${adj.tau.toFixed(3)} (estimated macro hit-rate ${(100 * adj.macroGain).toFixed(1)}% higher, micro ${(100 * adj.microCost).toFixed(1)}% lower than unadjusted; budget --max-micro-loss)`);
  out.push(`  checkpoint ${s.checkpoint.seq}; committed offsets ${JSON.stringify(s.offsets.committed)}`);
  out.push('  category      events   share   weight  hit@10');
  for (const [cat, n] of Object.entries(s.totals.byCategory).sort((a, b) => b[1] - a[1])) {
    const share = s.totals.applied > 0 ? (100 * n) / s.totals.applied : 0;
    const w = s.weights[cat];
    const hit = s.evaluation.hitRateByCategory[cat];
    out.push(`  ${cat.padEnd(12)} ${String(n).padStart(8)} ${share.toFixed(2).padStart(6)}% ${w === undefined ? '     -' : w.toFixed(3).padStart(7)} ${hit === undefined ? '     -' : hit.toFixed(3).padStart(7)}`);
  }
  console.log(out.join('\n'));
}
