// From parsed flags to a run: the schedule/grid/solver (from the flags, or from a diffusers scheduler config), the
// diffusers initial-noise scale, model-spec shorthands, and a model wrapper that lets Ctrl-C stop a run.
import { planFromSchedulerConfig } from '../diffusers/index.js';
import type { SamplingPlan } from '../diffusers/plan.js';
import { makeGrid, type GridKind } from '../grids/index.js';
import { UserError, withContext } from '../io/errors.js';
import { NonFiniteError, type Denoiser } from '../models/denoiser.js';
import { AbortError, stepsForNfe } from '../sample.js';
import type { GridPoint, Schedule } from '../schedules/schedule.js';
import { isIiaVariantName, resolveSolver } from '../iia/registry.js';
import type { Solver } from '../solvers/solver.js';

export interface ResolvedRun {
  schedule: Schedule;
  grid: GridPoint[];
  gridKind: string;
  solverName: string;
  solver: Solver<any, any>;
  solverOptions: Record<string, unknown>;
  steps: number;
  plan?: SamplingPlan;
}

/** Wrap a library call: its errors become one-line UserErrors located at `where`. */
export async function at<T>(where: string[], f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof AbortError || err instanceof NonFiniteError) throw err;
    throw withContext(where, err);
  }
}

/** `FILE.onnx` and `FILE.json` without a prefix mean `onnx:FILE.onnx` and `gmm:FILE.json`. */
export function normaliseModelSpec(spec: string): string {
  if (/^(gmm|data|onnx):/.test(spec)) return spec;
  if (/\.onnx$/i.test(spec)) return `onnx:${spec}`;
  if (/\.json$/i.test(spec)) return `gmm:${spec}`;
  return spec;
}

export interface ResolveInput {
  /** --solver (undefined with a scheduler config: the config's solver). */
  solverFlag?: string;
  /** The --scheduler-config file name (errors name it); its parsed JSON is `schedulerConfig`. */
  schedulerConfigFile?: string;
  stepsFlag?: number;
  nfeFlag?: number;
  gridKind?: GridKind;
  sigmas?: number[];
  sigmaMin?: number;
  sigmaMax?: number;
  rho?: number;
  userOptions: Record<string, unknown>;
  schedule: Schedule;
  schedulerConfig?: unknown;
}

/** A step count every diffusers scheduler accepts (PNDM with PRK needs >= 4), to read a config's solver before --nfe is resolved. */
export const PROBE_STEPS = 20;

/** An IIA solver's options: `r` is its own; every other --option belongs to the base solver. */
export function iiaOptions(user: Record<string, unknown>): Record<string, unknown> {
  const { r, ...base } = user;
  return { ...(r !== undefined ? { r } : {}), ...(Object.keys(base).length ? { base } : {}) };
}

export async function resolveRun(o: ResolveInput): Promise<ResolvedRun> {
  if (o.schedulerConfig !== undefined) {
    const file = o.schedulerConfigFile!;
    const plan1 = await at([file], () => planFromSchedulerConfig(o.schedulerConfig, file, o.stepsFlag ?? PROBE_STEPS));
    const solverName = o.solverFlag ?? plan1.solver;
    const solver = await at(['--solver'], () => resolveSolver(solverName));
    // A --solver given with a scheduler config replaces the config's solver (and its options) on the config's grid.
    const solverOptions = o.solverFlag !== undefined ? { ...o.userOptions } : { ...plan1.solverOptions, ...o.userOptions };
    const steps = o.stepsFlag ?? (await at(['--nfe'], () => stepsForNfe(solver, o.nfeFlag!, solverOptions)));
    const plan = await at([file], () => planFromSchedulerConfig(o.schedulerConfig, file, steps));
    return { schedule: plan.schedule, grid: plan.grid, gridKind: `diffusers:${file}`, solverName, solver, solverOptions, steps, plan };
  }
  const solverName = o.solverFlag!;
  const solver = await at(['--solver'], () => resolveSolver(solverName));
  const solverOptions = isIiaVariantName(solverName) ? iiaOptions(o.userOptions) : { ...o.userOptions };
  const kind: GridKind = o.gridKind ?? (o.sigmas ? 'explicit' : 'karras');
  let steps: number;
  if (kind === 'explicit') {
    steps = o.sigmas!.length - 1;
    if (steps < 1) throw new UserError(['--sigmas'], 'expected at least 2 sigmas (1 step)');
    if (o.stepsFlag !== undefined && o.stepsFlag !== steps) {
      throw new UserError(['--steps'], `${o.stepsFlag} contradicts --sigmas, which gives ${steps} steps`);
    }
    if (o.nfeFlag !== undefined) {
      const cost = solver.nfe(steps, solverOptions);
      if (cost > o.nfeFlag) throw new UserError(['--nfe'], `--sigmas gives ${steps} steps = ${cost} NFE with ${solverName}, over the budget ${o.nfeFlag}`);
    }
  } else {
    steps = o.stepsFlag ?? (await at(['--nfe'], () => stepsForNfe(solver, o.nfeFlag!, solverOptions)));
  }
  const grid = await at(['--grid'], () =>
    makeGrid(o.schedule, {
      kind,
      steps,
      sigmaMin: o.sigmaMin,
      sigmaMax: o.sigmaMax,
      rho: o.rho,
      values: kind === 'explicit' ? o.sigmas : undefined,
    }),
  );
  await at(['--solver'], () => solver.check?.(grid, o.schedule, solverOptions));
  return { schedule: o.schedule, grid, gridKind: kind, solverName, solver, solverOptions, steps };
}
