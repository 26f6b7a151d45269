// makeGrid: the sampling grid of a run, steps + 1 points of descending sigma (the last usually sigma = 0).
import type { GridPoint, Schedule } from '../schedules/schedule.js';
import { diffusersSpacingTimes } from './diffusers-spacing.js';
import { checkExplicitSigmas } from './explicit.js';
import { karrasSigmas } from './karras.js';
import { quadraticTimes, uniformLambdaSigmas, uniformTimes } from './uniform.js';

export { karrasSigmas } from './karras.js';
export { uniformTimes, uniformLambdaSigmas, quadraticTimes } from './uniform.js';
export { checkExplicitSigmas } from './explicit.js';
export { diffusersSpacingTimes } from './diffusers-spacing.js';

export type GridKind = 'karras' | 'uniform-t' | 'uniform-lambda' | 'quadratic' | 'leading' | 'trailing' | 'linspace' | 'explicit';
export const GRID_KINDS: readonly GridKind[] = ['karras', 'uniform-t', 'uniform-lambda', 'quadratic', 'leading', 'trailing', 'linspace', 'explicit'];

export type GridFinal = 'zero' | 'sigma-min';

export interface GridOptions {
  kind: GridKind;
  /** Number of intervals; the grid has steps + 1 points. For 'explicit' it may be left out (values.length - 1). */
  steps?: number;
  /** Range of the grid; defaults from the schedule. */
  sigmaMin?: number;
  sigmaMax?: number;
  /** Karras eq. 5 exponent (default 7). */
  rho?: number;
  /** 'explicit': the sigmas, steps + 1 values, strictly decreasing, >= 0. */
  values?: readonly number[];
  /**
   * 'zero' (default): N values of the spacing then sigma 0. 'sigma-min': no 0; for karras / uniform-t /
   * uniform-lambda / quadratic the N + 1 points of the spacing span [sigmaMax, sigmaMin]; for leading / trailing /
   * linspace the final 0 is replaced by the schedule's sigma at t = 0 (diffusers' final_sigmas_type 'sigma_min').
   */
  final?: GridFinal;
  /** leading: diffusers steps_offset (default 0). */
  stepsOffset?: number;
}

export function isGridKind(s: string): s is GridKind {
  return (GRID_KINDS as readonly string[]).includes(s);
}

function checkPositiveNumber(field: string, v: number, allowZero: boolean): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new Error(`grid: ${field} is ${v}; expected a finite number ${allowZero ? '>= 0' : '> 0'}`);
  }
}

/** Builds the grid; errors name the option that is wrong. */
export function makeGrid(schedule: Schedule, opts: GridOptions): GridPoint[] {
  const { kind } = opts;
  if (!isGridKind(kind)) throw new Error(`grid: kind is '${String(kind)}'; expected one of ${GRID_KINDS.map((k) => `'${k}'`).join(', ')}`);
  const final = opts.final ?? 'zero';
  if (final !== 'zero' && final !== 'sigma-min') throw new Error(`grid: final is '${String(final)}'; expected 'zero' or 'sigma-min'`);

  if (kind === 'explicit') {
    if (opts.values === undefined) throw new Error(`grid: kind 'explicit' needs values (a list of sigmas)`);
    checkExplicitSigmas(opts.values, 'grid (explicit)');
    if (opts.steps !== undefined && opts.steps !== opts.values.length - 1) {
      throw new Error(`grid: steps is ${opts.steps}; the explicit values give ${opts.values.length - 1} steps (${opts.values.length} sigmas)`);
    }
    return opts.values.map((s) => schedule.pointAtSigma(s));
  }

  const steps = opts.steps;
  if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 1) throw new Error(`grid: steps is ${steps}; expected an integer >= 1`);
  const sigmaMin = opts.sigmaMin ?? schedule.sigmaMin;
  const sigmaMax = opts.sigmaMax ?? schedule.sigmaMax;
  checkPositiveNumber('sigmaMin', sigmaMin, kind !== 'uniform-lambda');
  checkPositiveNumber('sigmaMax', sigmaMax, false);
  if (!(sigmaMin < sigmaMax)) throw new Error(`grid: sigmaMin (${sigmaMin}) must be smaller than sigmaMax (${sigmaMax})`);
  const rho = opts.rho ?? 7;
  if (typeof rho !== 'number' || !Number.isFinite(rho) || rho <= 0) throw new Error(`grid: rho is ${rho}; expected a finite number > 0`);
  const stepsOffset = opts.stepsOffset ?? 0;
  if (!Number.isInteger(stepsOffset)) throw new Error(`grid: stepsOffset is ${stepsOffset}; expected an integer`);

  // Points of the spacing: N then a final 0, or N + 1 spanning [sigmaMax, sigmaMin].
  const n = final === 'sigma-min' ? steps + 1 : steps;
  let points: GridPoint[];
  let lastIsSigmaMinReplacement = false;
  switch (kind) {
    case 'karras':
      points = karrasSigmas(n, sigmaMin, sigmaMax, rho).map((s) => schedule.pointAtSigma(s));
      break;
    case 'uniform-lambda':
      points = uniformLambdaSigmas(n, sigmaMin, sigmaMax).map((s) => schedule.pointAtSigma(s));
      break;
    case 'uniform-t':
    case 'quadratic': {
      const tMin = schedule.tOfSigma(sigmaMin), tMax = schedule.tOfSigma(sigmaMax);
      const ts = kind === 'uniform-t' ? uniformTimes(n, tMin, tMax) : quadraticTimes(n, tMin, tMax);
      points = ts.map((t) => schedule.pointAtT(t));
      break;
    }
    case 'leading':
    case 'trailing':
    case 'linspace':
      points = diffusersSpacingTimes(schedule, kind, steps, stepsOffset).map((t) => schedule.pointAtT(t));
      lastIsSigmaMinReplacement = final === 'sigma-min';
      break;
  }
  if (lastIsSigmaMinReplacement) points.push(schedule.pointAtT(0));
  else if (final === 'zero') points.push(schedule.pointAtSigma(0));

  for (let i = 1; i < points.length; i++) {
    if (!(points[i].sigma < points[i - 1].sigma)) {
      throw new Error(
        `grid '${kind}' with ${steps} steps: sigma is not strictly decreasing at point ${i} (${points[i - 1].sigma} then ${points[i].sigma}); use fewer steps or another grid`,
      );
    }
  }
  return points;
}
