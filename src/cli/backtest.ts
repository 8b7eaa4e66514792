import type { Command } from 'commander';
import { RebalancerError } from '../errors.js';

export function registerBacktest(program: Command): void {
  program
    .command('backtest')
    .description('(not built yet)')
    .action(() => {
      throw new RebalancerError('REB_INPUT_INVALID', 'backtest is not available in this build');
    });
}
