// `iia mlem`: multilevel Euler-Maruyama (src/mlem/ml-em.ts) over a hierarchy of the shipped trained MLP denoisers.
// ML-EM needs several models at once, so it has its own command rather than a --solver of `iia sample`.
import type { Command } from 'commander';
import { makeGrid } from '../grids/index.js';
import { UserError, withContext } from '../io/errors.js';
import { checkOutputPath, writeAtomic } from '../io/files.js';
import { writeNpyFile } from '../io/npy-file.js';
import { imageGridPng, imageLayout } from '../io/png.js';
import { budgetSchedule, loadMlpLevels, parseMlpSpec } from '../mlem/levels.js';
import { DEFAULT_COARSEST, DEFAULT_COUPLING, mlEm, type Coarsest, type Coupling } from '../mlem/ml-em.js';
import { makeSchedule } from '../schedules/index.js';
import { parseChoice, parseNonNegativeNumber, parsePositiveInt, parsePositiveNumber, parseUint32 } from './args.js';
import type { CliIO } from './main.js';
import { createProgress } from './progress.js';

interface MlemFlags {
  levels: string;
  steps: string;
  eta?: string;
  budget?: string;
  coarsest?: string;
  coupling?: string;
  n?: string;
  seed?: string;
  batch?: string;
  rho?: string;
  out?: string;
  json?: boolean;
}

export function registerMlem(program: Command, io: CliIO): void {
  program
    .command('mlem')
    .description('multilevel Euler-Maruyama (Jacot 2026) over the shipped MLP hierarchy: calls the finest level only a few times')
    .requiredOption('--levels <spec>', 'mlp:DATA[:W1,W2,...], e.g. mlp:digits:32,128,512 (coarsest first; default all widths)')
    .requiredOption('--steps <n>', 'Euler-Maruyama steps on the Karras grid')
    .option('--eta <x>', 'noise-injection ratio: 1 = the reverse SDE (default), 0 = the probability-flow ODE')
    .option('--budget <f>', 'expected cost as a fraction of Euler-Maruyama with the finest level alone (default: every level at every step)')
    .option('--coarsest <mode>', `fixed: level 1 at every step; random: level 1 drawn too, against D^0 = 0 (default ${DEFAULT_COARSEST})`)
    .option('--coupling <mode>', `level coins: nested (one uniform for all levels) or independent (one per level) (default ${DEFAULT_COUPLING})`)
    .option('--rho <x>', 'Karras grid exponent (default 7)')
    .option('--n <count>', 'number of samples (default 64)')
    .option('--seed <int>', 'seed of the initial noise, the Brownian path and the level coins (default 0)')
    .option('--batch <size>', 'samples per chunk (default 256)')
    .option('--out <file>', 'FILE.npy or FILE.png')
    .option('--json', 'print a JSON summary on stdout')
    .action(async (flags: MlemFlags) => {
      await runMlem(flags, io);
    });
}

async function runMlem(flags: MlemFlags, io: CliIO): Promise<void> {
  const steps = parsePositiveInt('--steps', flags.steps);
  const eta = flags.eta !== undefined ? parseNonNegativeNumber('--eta', flags.eta) : 1;
  const budget = flags.budget !== undefined ? parsePositiveNumber('--budget', flags.budget) : undefined;
  const coarsest = flags.coarsest !== undefined ? parseChoice<Coarsest>('--coarsest', flags.coarsest, ['fixed', 'random']) : DEFAULT_COARSEST;
  const coupling = flags.coupling !== undefined ? parseChoice<Coupling>('--coupling', flags.coupling, ['nested', 'independent']) : DEFAULT_COUPLING;
  const n = flags.n !== undefined ? parsePositiveInt('--n', flags.n) : 64;
  const seed = flags.seed !== undefined ? parseUint32('--seed', flags.seed) : 0;
  const batch = flags.batch !== undefined ? parsePositiveInt('--batch', flags.batch) : undefined;
  const rho = flags.rho !== undefined ? parsePositiveNumber('--rho', flags.rho) : undefined;
  const format = flags.out !== undefined ? await checkOutputPath(flags.out, '--out') : undefined;
  let spec: ReturnType<typeof parseMlpSpec>;
  try {
    spec = parseMlpSpec(flags.levels);
  } catch (err) {
    throw withContext(['--levels'], err);
  }
  const h = await (async () => {
    try {
      return await loadMlpLevels(spec.data, { widths: spec.widths });
    } catch (err) {
      throw withContext(['--levels'], err);
    }
  })();
  try {
    const shape = h.levels[0].denoiser.sampleShape;
    if (format === 'png' && !imageLayout(shape)) throw new UserError([flags.out!, '--out'], 'a PNG grid needs image samples');
    const schedule = makeSchedule('edm');
    const grid = makeGrid(schedule, { kind: 'karras', steps, rho });
    const probabilities = budget !== undefined ? await budgetSchedule(h, spec.data, grid, eta, budget, { coarsest, coupling }).catch((e) => Promise.reject(withContext(['--budget'], e))) : undefined;
    const progress = createProgress({ enabled: io.isTTY && !flags.json, stream: io.stderrStream, unit: 'steps' });
    const r = await mlEm({ levels: h, grid, probabilities, eta, coarsest, coupling, n, seed, batch, onProgress: (d, t) => progress.update(d, t) }).finally(() => progress.stop());
    if (flags.out !== undefined) {
      if (format === 'png') await writeAtomic(flags.out, imageGridPng(r.samples).png);
      else await writeNpyFile(flags.out, r.samples);
    }
    const perLevel = h.levels.map((l, k) => ({ level: l.name ?? String(k), evaluationsPerSample: r.account.evaluations[k] / n }));
    const idleStepsPerSample = r.account.idle / n;
    const summary = { levels: flags.levels, steps, eta, budget: budget ?? null, coarsest, coupling, n, seed, finestEquivalents: r.finestEquivalents, costPerSampleFlops: r.costPerSample, perLevel, idleStepsPerSample, seconds: r.seconds, out: flags.out ?? null };
    if (flags.json) io.stdout(JSON.stringify(summary) + '\n');
    else {
      io.stdout(
        `ml-em on ${flags.levels} (coarsest ${coarsest}, coupling ${coupling}): ${steps} steps, eta ${eta}, ${n} samples in ${r.seconds.toFixed(2)} s; cost ${r.finestEquivalents.toFixed(2)} finest-level evaluations per sample ` +
          `(Euler-Maruyama with the finest level: ${steps}); per level: ${perLevel.map((p) => `${p.level} ${p.evaluationsPerSample.toFixed(2)}`).join(', ')}` +
          (coarsest === 'random' ? `; steps with no evaluation: ${idleStepsPerSample.toFixed(2)} per sample` : '') +
          (flags.out ? ` -> ${flags.out}\n` : '\n'),
      );
    }
  } finally {
    for (const l of h.levels) await l.denoiser.dispose?.();
  }
}
