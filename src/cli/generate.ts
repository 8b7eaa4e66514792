import type { Command } from 'commander';
import { RebalancerError } from '../errors.js';

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('(not built yet)')
    .action(() => {
      throw new RebalancerError('REB_INPUT_INVALID', 'generate is not available in this build');
    });
}
