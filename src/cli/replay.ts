import type { Command } from 'commander';
import { RebalancerError } from '../errors.js';

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('(not built yet)')
    .action(() => {
      throw new RebalancerError('REB_INPUT_INVALID', 'replay is not available in this build');
    });
}
