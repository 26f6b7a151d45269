// `iia eval`: every solver from the same initial noises, each endpoint against a high-accuracy reference solution of
// the same probability-flow ODE (src/eval/), with error and distribution metrics; a table or JSON records.
import type { Command } from 'commander';
import { evalImagesFor } from '../eval/node-data.js';
import { iiaPrepare } from '../iia/prepare.js';
import { resolveSolver } from '../iia/registry.js';
import { evaluate } from '../eval/index.js';
import type { EvalRecord, EvalSolverSpec, EvaluateResult, Prepared, PrepareContext } from '../eval/index.js';
import { GRID_KINDS, type GridOptions } from '../grids/index.js';
import { UserError, withContext } from '../io/errors.js';
import { writeAtomic } from '../io/files.js';
import { readNpyFile } from '../io/npy-file.js';
import { loadModel } from '../models/registry.js';
import { MLEM_SOLVER, mlemEvalHooks, mlemHierarchyOf } from '../mlem/eval.js';
import { AbortError } from '../sample.js';
import { SCHEDULE_KINDS, makeSchedule, isScheduleKind } from '../schedules/index.js';
import { InterruptedError, type CliIO } from './main.js';
import { parseChoice, parseNumberList, parsePositiveInt, parsePositiveNumber, parseShape, parseSolverOptions, parseUint32 } from './args.js';
import { PREDICTION_TYPES } from '../models/adapters.js';
import { normaliseModelSpec } from './sample-plan.js';
import { formatTable } from './table.js';

export interface EvalFlags {
  model: string;
  solvers: string;
  steps?: string;
  nfe?: string;
  n?: string;
  seed?: string;
  noise?: string;
  batch?: string;
  schedule?: string;
  grid?: string;
  sigmaMin?: string;
  sigmaMax?: string;
  rho?: string;
  threads?: string;
  prediction?: string;
  shape?: string;
  precision?: string;
  rtol?: string;
  out?: string;
  json?: boolean;
}

/** Calibration for solvers that need it (IIA): installed by the IIA module; `undefined` = run the solver as is. */
export type EvalPrepare = (solverName: string, ctx: PrepareContext) => Promise<Prepared | undefined | void>;
let prepareHook: EvalPrepare | undefined;
export function setEvalPrepare(hook: EvalPrepare | undefined): void {
  prepareHook = hook;
}

export function registerEval(program: Command, io: CliIO): void {
  program
    .command('eval')
    .description('compare solvers against a high-accuracy reference solution from the same noises (error vs NFE, metrics)')
    .requiredOption('--model <spec>', 'data:NAME, gmm:NAME or gmm:FILE.json, onnx:FILE.onnx')
    .requiredOption('--solvers <a,b,c>', 'comma-separated solver names (see iia solvers); ml-em[:eta=X][:budget=F] on mlp:DATA:W models')
    .option('--steps <4,6,8>', 'comma-separated step counts')
    .option('--nfe <5,10,15>', 'comma-separated NFE budgets instead: each solver\'s largest step count within each (ml-em: expected finest-level evaluations)')
    .option('--n <count>', 'number of samples (default 64)')
    .option('--seed <int>', 'seed of the initial noises (default 0); calibrating solvers use seed + 1')
    .option('--noise <file.npy>', 'initial states x_T, [n, ...model shape], used exactly as given')
    .option('--batch <size>', 'samples per model call')
    .option('--schedule <kind>', `noise schedule: ${SCHEDULE_KINDS.join('|')} (default: the model's)`)
    .option('--grid <kind>', `time grid: ${GRID_KINDS.filter((g) => g !== 'explicit').join('|')} (default karras)`)
    .option('--sigma-min <x>', 'smallest sigma of the grids')
    .option('--sigma-max <x>', 'largest sigma of the grids')
    .option('--rho <x>', 'Karras grid exponent (default 7)')
    .option('--threads <n>', 'threads for ONNX models')
    .option('--prediction <type>', `what an ONNX network predicts: ${PREDICTION_TYPES.join('|')}`)
    .option('--shape <c,h,w>', 'shape of one sample, for ONNX models whose input shape is symbolic')
    .option('--precision <p>', 'reference precision: auto (default) | float64 | model')
    .option('--rtol <x>', 'reference relative tolerance (default 1e-9; checked against rtol / 2)')
    .option('--out <file.json>', 'also write the full result (reference summary and records) as JSON')
    .option('--json', 'print the records as a JSON array on stdout')
    .action(async (flags: EvalFlags) => {
      await runEval(flags, io);
    });
}

function parseFlags(flags: EvalFlags) {
  if ((flags.steps === undefined) === (flags.nfe === undefined)) {
    throw new UserError(['--steps'], 'give exactly one of --steps 4,6,8 or --nfe 5,10,15');
  }
  const ints = (flag: string, raw: string): number[] =>
    parseNumberList(flag, raw).map((v) => {
      if (!Number.isInteger(v) || v < 1) throw new UserError([flag], `expected positive integers, got '${raw}'`);
      return v;
    });
  const names = flags.solvers.split(',').map((s) => s.trim());
  if (names.some((s) => s === '')) throw new UserError(['--solvers'], `expected comma-separated solver names, got '${flags.solvers}'`);
  const solvers = names.map(solverSpec);
  if (flags.out !== undefined && !flags.out.toLowerCase().endsWith('.json')) {
    throw new UserError([flags.out, '--out'], 'expected a file name ending in .json');
  }
  const grid: Omit<GridOptions, 'steps'> | undefined =
    flags.grid || flags.sigmaMin || flags.sigmaMax || flags.rho
      ? {
          kind: flags.grid ? parseChoice('--grid', flags.grid, GRID_KINDS.filter((g) => g !== 'explicit')) : 'karras',
          sigmaMin: flags.sigmaMin !== undefined ? parsePositiveNumber('--sigma-min', flags.sigmaMin) : undefined,
          sigmaMax: flags.sigmaMax !== undefined ? parsePositiveNumber('--sigma-max', flags.sigmaMax) : undefined,
          rho: flags.rho !== undefined ? parsePositiveNumber('--rho', flags.rho) : undefined,
        }
      : undefined;
  if (flags.schedule !== undefined && !isScheduleKind(flags.schedule)) {
    throw new UserError(['--schedule'], `expected one of ${SCHEDULE_KINDS.join(', ')}, got '${flags.schedule}'`);
  }
  return {
    solvers,
    steps: flags.steps !== undefined ? ints('--steps', flags.steps) : undefined,
    nfe: flags.nfe !== undefined ? ints('--nfe', flags.nfe) : undefined,
    n: flags.n !== undefined ? parsePositiveInt('--n', flags.n) : undefined,
    seed: flags.seed !== undefined ? parseUint32('--seed', flags.seed) : 0,
    batch: flags.batch !== undefined ? parsePositiveInt('--batch', flags.batch) : undefined,
    threads: flags.threads !== undefined ? parsePositiveInt('--threads', flags.threads) : undefined,
    prediction: flags.prediction !== undefined ? parseChoice('--prediction', flags.prediction, PREDICTION_TYPES) : undefined,
    sampleShape: flags.shape !== undefined ? parseShape('--shape', flags.shape) : undefined,
    precision: flags.precision !== undefined ? parseChoice('--precision', flags.precision, ['auto', 'float64', 'model'] as const) : undefined,
    rtol: flags.rtol !== undefined ? parsePositiveNumber('--rtol', flags.rtol) : undefined,
    schedule: flags.schedule as (typeof SCHEDULE_KINDS)[number] | undefined,
    grid,
  };
}

/**
 * A --solvers entry: a name, or ml-em with options after colons (ml-em:eta=1:budget=0.25; see src/mlem/eval.ts), the
 * whole entry as the record's label.
 */
function solverSpec(entry: string): string | EvalSolverSpec {
  if (entry !== MLEM_SOLVER && !entry.startsWith(`${MLEM_SOLVER}:`)) return entry;
  const pairs = entry.split(':').slice(1);
  if (pairs.length === 0) return entry;
  return { name: MLEM_SOLVER, options: parseSolverOptions(pairs, '--solvers'), label: entry };
}

const fmt = (v: unknown, digits = 4): string => (typeof v === 'number' ? (Number.isFinite(v) ? v.toPrecision(digits) : String(v)) : v === null || v === undefined ? '-' : String(v));

export async function runEval(flags: EvalFlags, io: CliIO): Promise<void> {
  const f = parseFlags(flags);
  const mlem = f.solvers.some((s) => (typeof s === 'string' ? s : s.name) === MLEM_SOLVER);
  if (mlem) {
    // Before loading anything or computing the reference: ML-EM needs the model to be a level of a shipped hierarchy.
    const which = mlemHierarchyOf(normaliseModelSpec(flags.model));
    if ('error' in which) throw new UserError(['--model'], which.error);
  }
  const noise = flags.noise !== undefined ? await readNpyFile(flags.noise, '--noise') : undefined;
  const schedule = f.schedule ? makeSchedule(f.schedule) : undefined;
  const loaded = await (async () => {
    try {
      return await loadModel(normaliseModelSpec(flags.model), { threads: f.threads, schedule, prediction: f.prediction, sampleShape: f.sampleShape });
    } catch (err) {
      throw withContext(['--model'], err);
    }
  })();
  const { denoiser, info } = loaded;
  const iiaHook: EvalPrepare = prepareHook ?? ((name, ctx) => iiaPrepare(name, ctx));
  // ML-EM runs through its own hooks (the coarser levels, its cost accounting); every other solver as before.
  const ml = mlem ? mlemEvalHooks({ modelName: info.name, threads: f.threads, resolveSolver, prepare: iiaHook }) : undefined;
  let result: EvaluateResult;
  try {
    const n = f.n ?? noise?.shape[0] ?? 64;
    result = await evaluate({
      model: denoiser,
      info: { name: info.name, kind: info.kind, defaultSchedule: info.defaultSchedule },
      solvers: f.solvers,
      steps: f.steps,
      nfe: f.nfe,
      n,
      seed: f.seed,
      noise,
      batch: f.batch,
      schedule: schedule ?? makeSchedule(info.defaultSchedule),
      grid: f.grid,
      images: evalImagesFor(info.name, info.condition),
      referenceOptions: { precision: f.precision, ...(f.rtol !== undefined ? { rtol: f.rtol } : {}) },
      prepare: ml ? ml.prepare : iiaHook,
      resolveSolver: ml ? ml.resolveSolver : resolveSolver,
      signal: io.signal,
    });
  } catch (err) {
    if (err instanceof AbortError) throw new InterruptedError();
    throw withContext(['eval'], err);
  } finally {
    await ml?.dispose();
    await denoiser.dispose?.();
  }
  if (flags.out !== undefined) await writeAtomic(flags.out, JSON.stringify(result, null, 2) + '\n', '--out');
  if (flags.json) {
    io.stdout(JSON.stringify(result.records, null, 2) + '\n');
    return;
  }
  const ref = result.reference;
  const conv = ref.convergence;
  io.stdout(
    `reference: ${ref.method}, ${ref.precision}, ${Math.round(ref.nfe)} evaluations per sample, ${ref.seconds.toFixed(2)} s; ` +
      `convergence (tolerance halved): max relative change ${conv.maxRelDiff.toExponential(2)} ${conv.ok ? '(ok, <= 1e-6)' : '(NOT converged to 1e-6)'}\n`,
  );
  const calibrated = result.records.filter((r) => r.calibration_seed !== null);
  if (calibrated.length) io.stdout(`calibration: on seed ${calibrated[0].calibration_seed} (evaluation seed ${result.seed})\n`);
  io.stdout(formatTable(...recordTable(result.records)));
  const ml0 = result.records.find((r) => r.nfe_unit !== undefined && Array.isArray(r.mlem_widths));
  if (ml0) {
    io.stdout(
      `ml-em: levels ${(ml0.mlem_widths as number[]).join(', ')} of ${result.model.replace(/:w?\d+$/, '')} (the evaluated model is the finest); ` +
        `nfe = expected cost per sample in evaluations of the finest level (FLOPs), so an --nfe budget B runs floor(B / budget) steps at ` +
        `budget x Euler's finest-level cost (budget ${ml0.mlem_budget}, eta ${ml0.mlem_eta}${ml0.mlem_eta === 0 ? ': the probability-flow ODE' : ': a stochastic run, no error against the reference'}); --json has the realised cost (nfe_realised)\n`,
    );
  }
}

function recordTable(records: EvalRecord[]): [string[], (string | number)[][]] {
  const extra = (['psnr', 'loglik', 'mode_accuracy', 'sw2', 'nn_rms_mean', 'fd_rp64', 'kid_rp64'] as const).filter((k) =>
    records.some((r) => r[k] !== undefined),
  );
  const head = ['solver', 'steps', 'nfe', 'rmse', 'median_error', ...extra, 'seconds'];
  const rows = records.map((r) => [r.solver, r.steps, Number.isInteger(r.nfe) ? r.nfe : r.nfe.toFixed(2), fmt(r.rmse), fmt(r.median_error), ...extra.map((k) => fmt(r[k])), r.seconds.toFixed(3)]);
  return [head, rows];
}
