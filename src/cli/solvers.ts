// `iia solvers`: the solvers, their order and cost per step.
import type { Command } from 'commander';
import { listSolvers } from '../solvers/index.js';
import type { CliIO } from './main.js';
import { formatTable } from './table.js';

export function registerSolvers(program: Command, io: CliIO): void {
  program
    .command('solvers')
    .description('list the solvers (use them as --solver NAME)')
    .option('--json', 'print a JSON array instead of a table')
    .action((opts: { json?: boolean }) => {
      const solvers = listSolvers();
      if (opts.json) {
        io.stdout(JSON.stringify(solvers, null, 2) + '\n');
        return;
      }
      io.stdout(
        formatTable(
          ['name', 'order', 'NFE/step', 'stochastic'],
          solvers.map((s) => [s.name, s.order, s.nfePerStep, s.stochastic ? 'yes' : 'no']),
        ),
      );
    });
}
