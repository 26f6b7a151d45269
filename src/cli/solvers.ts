// `iia solvers`: the solvers, their order and cost per step.
import type { Command } from 'commander';
import { listIiaVariants } from '../iia/registry.js';
import { listSolvers, solverRegistry } from '../solvers/index.js';
import type { CliIO } from './main.js';
import { formatTable } from './table.js';

export function registerSolvers(program: Command, io: CliIO): void {
  program
    .command('solvers')
    .description('list the solvers (use them as --solver NAME)')
    .option('--json', 'print a JSON array instead of a table')
    .action((opts: { json?: boolean }) => {
      // The base solvers, then the IIA variants (same order and NFE as their base; calibrated coefficients).
      const solvers = [
        ...listSolvers().map((s) => ({ ...s, iia: false })),
        ...listIiaVariants()
          .filter((v) => !solverRegistry[v.base].info.stochastic)
          .map((v) => {
            const b = solverRegistry[v.base].info;
            return { name: v.name, order: b.order, nfePerStep: b.nfePerStep, stochastic: false, iia: true, base: v.base };
          }),
        // ML-EM samples with a hierarchy of models at once, so it runs as its own command: iia mlem --levels ...
        { name: 'ml-em', order: 1, nfePerStep: 1, stochastic: true, iia: false, command: 'iia mlem' },
      ];
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
