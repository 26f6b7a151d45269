// `iia solvers`: the solvers, their order and cost per step.
import type { Command } from 'commander';
import { listIiaVariants } from '../iia/registry.js';
import { listSolvers, solverRegistry } from '../solvers/index.js';
import type { CliIO } from './main.js';

/** How ML-EM runs in `iia eval` (src/mlem/eval.ts). */
const MLEM_EVAL_USAGE =
  'iia eval --model mlp:DATA:W --solvers ml-em[:eta=X][:budget=F],euler,... (levels: the MLPs of DATA up to width W, the finest; ' +
  'eta 0 by default, the probability-flow ODE; nfe in expected finest-level evaluations)';
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
        // ML-EM samples with a hierarchy of models at once: its own command, and `iia eval` on a shipped MLP.
        { name: 'ml-em', order: 1, nfePerStep: 1, stochastic: true, iia: false, command: 'iia mlem', eval: MLEM_EVAL_USAGE },
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
      io.stdout(`\nml-em needs a hierarchy of trained models: iia mlem --levels mlp:DATA:W1,W2,...; or ${MLEM_EVAL_USAGE}.\n`);
    });
}
