import { Command, CommanderError } from 'commander';
import { RebalancerError, isRebalancerError } from '../errors.js';
import { registerBacktest } from './backtest.js';
import { registerGenerate } from './generate.js';
import { registerImport } from './import.js';
import { registerInspect } from './inspect.js';
import { registerReplay } from './replay.js';
import { registerRun, type EmbeddedInfrastructure } from './run.js';

/** Commander exits that are answers, not errors: --help, --version, and help shown for a bare `rebalancer`. */
const ANSWERS: ReadonlySet<string> = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help']);

/** `infrastructure`: what `run --embedded` starts (given by dev/rebalancer.ts only). */
export function buildProgram(infrastructure?: EmbeddedInfrastructure): Command {
  const program = new Command('rebalancer')
    .description('Streaming incremental rebalancer for e-commerce recommendation: consumes click/purchase events from Kafka,\nadapts class weights online, replays minority categories, trains a recommender on native TensorFlow.')
    .version('0.1.0')
    // Commander's own error lines are not printed: its usage errors are thrown as catalogue
    // errors (usageError) and printed once, in the CLI's format, by main().
    .configureOutput({ outputError: () => {} });
  registerRun(program, infrastructure);
  registerGenerate(program);
  registerImport(program);
  registerReplay(program);
  registerBacktest(program);
  registerInspect(program);
  for (const cmd of [program, ...program.commands]) cmd.exitOverride((err) => {
    throw ANSWERS.has(err.code) ? err : usageError(cmd, err);
  });
  return program;
}

/**
 * A commander usage error (unknown option or command, missing option value, too many
 * arguments) as a REB_INPUT_INVALID error on one line, keeping commander's "did you mean"
 * suggestion and pointing at the command's --help.
 */
function usageError(cmd: Command, err: CommanderError): RebalancerError {
  const [first = '', ...rest] = err.message.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  const suggestion = rest.map((l) => /^\(Did you mean (.+)\?\)$/.exec(l)?.[1]).find((s) => s !== undefined);
  const path = cmd.parent === null ? cmd.name() : `${cmd.parent.name()} ${cmd.name()}`;
  const message = `${first.replace(/^error: /, '').replace(/\.$/, '')}${suggestion !== undefined ? ` (did you mean ${suggestion}?)` : ''}; see \`${path} --help\``;
  return new RebalancerError('REB_INPUT_INVALID', message, { commander: err.code }, { cause: err });
}

/** Runs the CLI; bad input ends with one line `rebalancer: <message> [CODE]` on stderr and exit code 2. */
export async function main(argv: string[], infrastructure?: EmbeddedInfrastructure): Promise<void> {
  const program = buildProgram(infrastructure);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (isRebalancerError(err)) {
      console.error(`rebalancer: ${err.message} [${err.code}]`);
      process.exitCode = 2;
      return;
    }
    console.error(`rebalancer: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  }
}
