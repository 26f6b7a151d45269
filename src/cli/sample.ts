// `iia sample`: model + schedule + grid + solver -> samples -> .npy or a PNG grid. Everything it does is a library
// call; this file only turns flags into those calls and errors into one-line messages.
import type { Command } from 'commander';
import type { Batch } from '../core/batch.js';
import type { SamplingPlan } from '../diffusers/plan.js';
import { GRID_KINDS } from '../grids/index.js';
import { UserError, withContext } from '../io/errors.js';
import { checkOutputPath, readJson, writeAtomic, type OutputFormat } from '../io/files.js';
import { readNpyFile, writeNpyFile } from '../io/npy-file.js';
import { imageGridPng, imageLayout } from '../io/png.js';
import { PREDICTION_TYPES } from '../models/adapters.js';
import { isIiaVariantName } from '../iia/registry.js';
import { resolveCondition, type ConditionalDenoiser } from '../models/conditional.js';
import { NonFiniteError } from '../models/denoiser.js';
import { loadModel } from '../models/registry.js';
import { planFromSchedulerConfig } from '../diffusers/index.js';
import { AbortError, sample } from '../sample.js';
import { BETA_SCHEDULES, SCHEDULE_KINDS, makeSchedule } from '../schedules/index.js';
import type { Schedule, ScheduleKind } from '../schedules/schedule.js';
import { InterruptedError, type CliIO } from './main.js';
import { coefficientsFor } from './iia.js';
import { createProgress } from './progress.js';
import { parseSampleFlags, type ParsedSampleFlags, type SampleFlags } from './sample-flags.js';
import { at, normaliseModelSpec, PROBE_STEPS, resolveRun } from './sample-plan.js';

export type { SampleFlags } from './sample-flags.js';

export interface SampleSummary {
  model: string;
  solver: string;
  schedule: string;
  grid: string;
  steps: number;
  nfe: number;
  /** nfe times the model's evaluations per call (2 with classifier-free guidance). */
  networkEvaluations: number;
  n: number;
  seed: number;
  seconds: number;
  out: string | null;
  sigmaMax: number;
  sigmaMin: number;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerSample(program: Command, io: CliIO): void {
  program
    .command('sample')
    .description('draw samples from a model with a few-step solver; write them as .npy or a PNG grid')
    .requiredOption('--model <spec>', 'data:NAME or gmm:NAME (see iia models), gmm:FILE.json, onnx:FILE.onnx (or just FILE.json / FILE.onnx)')
    .option('--solver <name>', 'solver (see iia solvers); not needed with --scheduler-config')
    .option('--steps <n>', 'number of solver steps (or give --nfe)')
    .option('--nfe <n>', 'network-evaluation budget: the largest step count whose NFE fits')
    .option('--grid <kind>', `time grid: ${GRID_KINDS.join('|')} (default karras)`)
    .option('--sigmas <list>', 'comma-separated sigmas for --grid explicit, descending (e.g. 80,10,1,0.002)')
    .option('--sigma-min <x>', 'smallest sigma of the grid (default: the schedule\'s)')
    .option('--sigma-max <x>', 'largest sigma of the grid (default: the schedule\'s)')
    .option('--rho <x>', 'Karras grid exponent (default 7)')
    .option('--schedule <kind>', `noise schedule: ${SCHEDULE_KINDS.join('|')} (default: the model's)`)
    .option('--beta-schedule <name>', `betas of --schedule vp-discrete: ${BETA_SCHEDULES.join('|')}`)
    .option('--prediction <type>', `what an ONNX network predicts: ${PREDICTION_TYPES.join('|')}`)
    .option('--n <count>', 'number of samples (default 64, or the first axis of --noise)')
    .option('--seed <int>', 'seed of the initial noise and of stochastic solvers (default 0)')
    .option('--batch <size>', 'samples per model call (default 256)')
    .option('--noise <file.npy>', 'initial state x_T, shape [n, ...model shape], used exactly as given')
    .option('--out <file>', 'output: FILE.npy (float32 [n, ...shape]) or FILE.png (image grid, image models only)')
    .option('--threads <n>', 'threads for ONNX models')
    .option('--scheduler-config <file.json>', 'a diffusers scheduler_config.json: schedule, grid and solver from it')
    .option('--cond <file.npy>', 'ONNX models: encoder_hidden_states, [seq, dim] (one condition) or [K, seq, dim] (row c = condition c)')
    .option('--uncond <file.npy>', 'ONNX models: the unconditional encoder_hidden_states for classifier-free guidance, [seq, dim]')
    .option('--class <c[,c...]>', 'condition: a class index or name (data: models; cond rows for ONNX), or one per sample')
    .option('--guidance <w>', 'classifier-free guidance weight w: eps = (1 + w) eps(c) - w eps(null) (Ho & Salimans 2022)')
    .option('--guidance-scale <s>', "diffusers' guidance_scale s = 1 + w: eps = eps(null) + s (eps(c) - eps(null))")
    .option('--shape <c,h,w>', 'shape of one sample, for ONNX models whose input shape is symbolic (e.g. 3,32,32)')
    .option('-o, --option <key=value>', 'solver option, repeatable; numbers and true/false are parsed', collect, [])
    .option('--eta <x>', 'same as --option eta=X (DDIM-style stochasticity)')
    .option('--s-churn <x>', 'same as --option sChurn=X (EDM stochastic Heun)')
    .option('--coeffs <file.json>', 'IIA solvers: coefficients from iia calibrate (default: calibrate once and cache)')
    .option('--force', 'IIA solvers: use --coeffs even when a field does not match the run (with a warning)')
    .option('--calibration-seed <int>', 'IIA solvers without --coeffs: seed of the calibration noises (default --seed + 1)')
    .option('--json', 'print a JSON summary on stdout; no progress bar')
    .action(async (flags: SampleFlags) => {
      await runSample(flags, io);
    });
}

/** With one --class per sample, each chunk of the run gets its own slice of the conditions. */
function perSampleModel(family: ConditionalDenoiser | undefined, classes: ParsedSampleFlags['classes'], n: number) {
  if (!family || !Array.isArray(classes)) return undefined;
  if (classes.length !== n) throw new UserError(['--class'], `${classes.length} classes for ${n} samples; expected one class, or one per sample`);
  const conds = Int32Array.from(classes, (c) => resolveCondition(c, family.conditionNames, family.hasUnconditional, '--class'));
  return (start: number, count: number) => family.withCondition(conds.subarray(start, start + count));
}

function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function checkAborted(io: CliIO): void {
  if (io.signal?.aborted) throw new InterruptedError();
}

export async function runSample(flags: SampleFlags, io: CliIO): Promise<void> {
  // 1. Flags, parsed and cross-checked before anything is read or loaded.
  const {
    stepsFlag,
    nfeFlag,
    seed,
    batch,
    threads,
    nFlag,
    gridKind,
    scheduleKind,
    betaSchedule,
    prediction,
    sigmaMin,
    sigmaMax,
    rho,
    sigmas,
    sampleShape,
    userOptions,
    classes,
    guidance,
    guidanceScale,
  } = parseSampleFlags(flags);

  // 2. Output path first, so a long run never fails at the very end on a typo.
  let outFormat: OutputFormat | undefined;
  if (flags.out !== undefined) outFormat = await checkOutputPath(flags.out, '--out');

  // 3. Files: noise, conditioning, scheduler config.
  const noise = flags.noise !== undefined ? await readNpyFile(flags.noise, '--noise') : undefined;
  if (noise && noise.shape.length < 1) throw new UserError([flags.noise!, 'shape'], 'expected [n, ...model shape], got a scalar');
  const cond = flags.cond !== undefined ? await readNpyFile(flags.cond, '--cond') : undefined;
  const uncond = flags.uncond !== undefined ? await readNpyFile(flags.uncond, '--uncond') : undefined;
  const schedulerConfig = flags.schedulerConfig !== undefined ? await readJson(flags.schedulerConfig, '--scheduler-config') : undefined;
  checkAborted(io);

  // 4. A first plan from the scheduler config (at --steps, or a probe count every scheduler accepts) fixes the prediction type and the solver before the model.
  let plan0: SamplingPlan | undefined;
  if (schedulerConfig !== undefined) {
    const p = await at([flags.schedulerConfig!], () => planFromSchedulerConfig(schedulerConfig, flags.schedulerConfig!, stepsFlag ?? PROBE_STEPS));
    if (prediction !== undefined && prediction !== p.prediction) {
      throw new UserError(['--prediction'], `${prediction} contradicts prediction_type ${p.prediction} of ${flags.schedulerConfig}`);
    }
    plan0 = p;
  }

  // 5. Schedule the user asked for (the model's default otherwise) and the model.
  const makeKind = (kind: ScheduleKind, flag: string): Promise<Schedule> =>
    at([flag], () => (kind === 'vp-discrete' && betaSchedule ? makeSchedule('vp-discrete', { betaSchedule }) : makeSchedule(kind)));
  const userSchedule: Schedule | undefined = plan0?.schedule ?? (scheduleKind ? await makeKind(scheduleKind, '--schedule') : undefined);
  const loaded = await at(['--model'], () =>
    loadModel(normaliseModelSpec(flags.model), {
      schedule: userSchedule,
      prediction: prediction ?? plan0?.prediction,
      threads,
      cond: cond ? { data: cond.data, shape: cond.shape } : undefined,
      uncond: uncond ? { data: uncond.data, shape: uncond.shape } : undefined,
      classes,
      guidance,
      guidanceScale,
      sampleShape,
    }),
  );
  const { info } = loaded;
  const denoiser = loaded.denoiser;
  try {
    checkAborted(io);
    const modelShape = [...denoiser.sampleShape];

    // 6. The noise must be [n, ...model shape]; n defaults to its first axis.
    let n = nFlag ?? 64;
    if (noise) {
      const want = [nFlag ?? noise.shape[0], ...modelShape];
      if (noise.shape.length !== want.length || noise.shape.some((v, i) => v !== want[i])) {
        const nWhy = nFlag !== undefined ? `--n ${nFlag}` : 'n';
        throw new UserError(
          [flags.noise!, 'shape'],
          `expected [${nWhy}, ...model shape ${shapeStr(modelShape)}] = ${shapeStr(want)}, got ${shapeStr(noise.shape)}`,
        );
      }
      n = want[0];
    }
    if (outFormat === 'png' && !imageLayout(modelShape)) {
      throw new UserError(
        [flags.out!, '--out'],
        `a PNG grid needs image samples ([C, H, W] with C = 1 or 3, or [H, W]); ${info.name} has shape ${shapeStr(modelShape)}: write .npy instead`,
      );
    }

    // 7. Schedule (the model's unless given), grid, solver.
    const defaultSchedule = (kind: ScheduleKind): Promise<Schedule> => {
      if (betaSchedule && kind !== 'vp-discrete') {
        throw new UserError(['--beta-schedule'], `only with a vp-discrete schedule (${info.name} uses ${kind}; add --schedule vp-discrete)`);
      }
      return makeKind(kind, '--model');
    };
    const r = await resolveRun({
      solverFlag: flags.solver,
      schedulerConfigFile: flags.schedulerConfig,
      stepsFlag,
      nfeFlag,
      gridKind,
      sigmas,
      sigmaMin,
      sigmaMax,
      rho,
      userOptions,
      schedule: userSchedule ?? (await defaultSchedule(info.defaultSchedule)),
      schedulerConfig,
    });
    checkAborted(io);

    if ((io.env ?? process.env).IIA_DEBUG === '1') {
      const sig = r.grid.map((p) => Number(p.sigma.toPrecision(6))).join(', ');
      io.stderr(`iia: debug: ${r.solverName} ${JSON.stringify(r.solverOptions)}, ${r.steps} steps, ${r.schedule.kind} schedule, ${r.gridKind} grid, sigmas [${sig}], n ${n}\n`);
    }

    // 7b. IIA solvers: their coefficients, from --coeffs or calibrated once for this run and cached.
    if (isIiaVariantName(r.solverName)) {
      // A new options object: solvers may memoise what they resolved from the one they saw in check().
      const coefficients = await coefficientsFor({
        flags: { coeffs: flags.coeffs, force: flags.force, calibrationSeed: flags.calibrationSeed },
        spec: normaliseModelSpec(flags.model),
        denoiser,
        run: r,
        seed,
        io,
        quiet: !!flags.json,
      });
      r.solverOptions = { ...r.solverOptions, coefficients };
      checkAborted(io);
    }

    // 8. Run.
    const progress = createProgress({
      enabled: io.isTTY && !flags.json,
      stream: io.stderrStream,
      unit: 'steps',
    });
    let result;
    try {
      result = await sample({
        model: denoiser,
        solver: r.solver,
        grid: r.grid,
        schedule: r.schedule,
        n,
        seed,
        batch,
        noise: noise ? { data: noise.data, shape: noise.shape } : undefined,
        solverOptions: r.solverOptions,
        initNoiseScale: r.plan?.initNoiseScale,
        x0Transform: r.plan?.x0Transform,
        stateScaling: r.plan?.stateScaling,
        modelForChunk: perSampleModel(loaded.family, classes, n),
        onProgress: (done, total) => progress.update(done, total),
        signal: io.signal,
      });
    } catch (err) {
      if (err instanceof AbortError) throw new InterruptedError();
      if (err instanceof NonFiniteError) throw new UserError([info.name], err.message, { cause: err });
      throw withContext(['sample'], err);
    } finally {
      progress.stop();
    }
    checkAborted(io);

    // 9. Output, atomically.
    // The atomic rename is the commit point: a Ctrl-C after it is too late to undo the run.
    if (flags.out !== undefined) await writeSamples(flags.out, outFormat!, result.samples);

    const summary: SampleSummary = {
      model: info.name,
      solver: r.solverName,
      schedule: r.schedule.kind,
      grid: r.gridKind,
      steps: r.steps,
      nfe: result.nfe,
      networkEvaluations: result.networkEvaluations,
      n,
      seed,
      seconds: Number(result.seconds.toFixed(4)),
      out: flags.out ?? null,
      sigmaMax: r.grid[0].sigma,
      sigmaMin: r.grid[r.grid.length - 2]?.sigma ?? r.grid[0].sigma,
    };
    if (flags.json) io.stdout(JSON.stringify(summary) + '\n');
    else {
      io.stdout(
        `${summary.solver} on ${summary.model}: ${summary.steps} steps, ${summary.nfe} NFE${summary.networkEvaluations !== summary.nfe ? ` (${summary.networkEvaluations} network evaluations, guided)` : ''}, ${n} samples in ${summary.seconds.toFixed(2)} s` +
          (flags.out !== undefined ? ` -> ${flags.out}\n` : ' (no --out: samples not written)\n'),
      );
    }
  } finally {
    await denoiser.dispose?.();
  }
}

async function writeSamples(path: string, format: OutputFormat, samples: Batch): Promise<void> {
  if (format === 'npy') {
    await writeNpyFile(path, samples);
  } else {
    await writeAtomic(path, imageGridPng(samples).png);
  }
}

