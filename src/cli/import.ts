import type { Command } from 'commander';
import { RebalancerError } from '../errors.js';

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('(not built yet)')
    .action(() => {
      throw new RebalancerError('REB_INPUT_INVALID', 'import is not available in this build');
    });
}
