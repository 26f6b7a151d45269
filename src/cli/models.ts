// `iia models`: the embedded models (exact GMMs and empirical data sets) and how to name other ones.
import type { Command } from 'commander';
import { listEmbeddedModels } from '../models/registry.js';
import type { CliIO } from './main.js';
import { formatTable } from './table.js';

export function registerModels(program: Command, io: CliIO): void {
  program
    .command('models')
    .description('list the embedded models (use them as --model NAME)')
    .option('--json', 'print a JSON array instead of a table')
    .action((opts: { json?: boolean }) => {
      const models = listEmbeddedModels();
      if (opts.json) {
        io.stdout(JSON.stringify(models, null, 2) + '\n');
        return;
      }
      io.stdout(
        formatTable(
          ['name', 'kind', 'count', 'shape', 'description'],
          models.map((m) => [m.name, m.kind, m.count ?? '', `[${m.shape.join(', ')}]`, m.description ?? '']),
        ),
      );
      io.stdout('\nOther models: --model gmm:FILE.json (a Gaussian mixture), --model onnx:FILE.onnx (an ONNX network); data:NAME:N uses the first N images.\n');
    });
}
