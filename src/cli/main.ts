import { Command, CommanderError } from 'commander';
import { isRebalancerError } from '../errors.js';
import { registerBacktest } from './backtest.js';
import { registerGenerate } from './generate.js';
import { registerImport } from './import.js';
import { registerReplay } from './replay.js';
import { registerRun } from './run.js';

export function buildProgram(): Command {
  const program = new Command('rebalancer')
    .description('Streaming incremental rebalancer for e-commerce recommendation: consumes click/purchase events from Kafka,\nadapts class weights online, replays minority categories, trains a recommender on native TensorFlow.')
    .version('0.1.0')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  registerRun(program);
  registerGenerate(program);
  registerImport(program);
  registerReplay(program);
  registerBacktest(program);
  return program;
}

/** Runs the CLI; bad input ends with one clear line on stderr and a non-zero exit. */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  for (const cmd of program.commands) cmd.exitOverride();
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
