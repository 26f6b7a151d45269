// diffusers PNDMScheduler -> SamplingPlan for our `pndm` solver, with diffusers' timestep bookkeeping:
// `_timesteps` from the spacing; every transfer goes from t to t - T // N (the final one to final_alpha_cumprod:
// 1 with set_alpha_to_one, else alphas_cumprod[0]); PRK mode (default) evaluates the three first steps at
// t_{i+1} + (T // N) // 2 as their half step, the first half transfer landing at t_i - (T // N) // 2;
// skip_prk_steps starts with the pseudo improved-Euler step instead. The grid is the descending `_timesteps` plus
// the final point; NFE = len(prk_timesteps) + len(plms_timesteps) (N + 9 with PRK, N + 1 with skip_prk_steps).
//
// When the timesteps are not T // N apart ('linspace', 'trailing' when N does not divide T) diffusers' transfers
// land off its own timesteps; the plan reproduces that (solver options prevPoints / halfTargets / heunSource: the
// landed native sample is handed on to the next timestep as is, as ddim's prevSigmas does).
// Refused: PRK mode with fewer than 4 steps (diffusers fails there). 'clip_sample', which Stable Diffusion's PNDM
// configs carry, is ignored as diffusers ignores it (PNDMScheduler has no such option).
import type { GridPoint } from '../schedules/schedule.js';
import type { PndmOptions } from '../solvers/pndm.js';
import {
  pndmTimesteps,
  readBoolean,
  readEnum,
  readInteger,
  rejectUnknownKeys,
  vpDiscreteFromConfig,
  TIMESTEP_SPACINGS,
  type TimestepSpacing,
} from './common.js';
import type { SamplingPlan, SchedulerConverter } from './plan.js';
import { checkSteps } from './unipc.js';

const PNDM_KEYS = [
  'num_train_timesteps',
  'beta_start',
  'beta_end',
  'beta_schedule',
  'trained_betas',
  'skip_prk_steps',
  'set_alpha_to_one',
  'prediction_type',
  'timestep_spacing',
  'steps_offset',
  'clip_sample',
] as const;

export const pndmConverter: SchedulerConverter = (config, steps, file): SamplingPlan => {
  rejectUnknownKeys(config, PNDM_KEYS, file);
  checkSteps(steps, file);
  readBoolean(config, 'clip_sample', file, false); // ignored by diffusers' PNDMScheduler
  const schedule = vpDiscreteFromConfig(config, file);
  const T = schedule.trainSteps;
  const skipPrk = readBoolean(config, 'skip_prk_steps', file, false);
  const setAlphaToOne = readBoolean(config, 'set_alpha_to_one', file, false);
  const prediction = readEnum(config, 'prediction_type', file, ['epsilon', 'v_prediction'] as const, 'epsilon');
  const spacing = readEnum(config, 'timestep_spacing', file, TIMESTEP_SPACINGS, 'leading') as TimestepSpacing;
  const stepsOffset = readInteger(config, 'steps_offset', file, 0);

  const ts = pndmTimesteps(spacing, T, steps, stepsOffset); // ascending
  const ratio = Math.floor(T / steps);
  for (const t of ts) {
    if (t < 0 || t > T - 1) throw new Error(`${file}: timestep ${t} (timestep_spacing '${spacing}', steps_offset ${stepsOffset}) is outside [0, ${T - 1}]`);
  }
  if (!skipPrk && steps < 4) {
    throw new Error(`${file}: ${steps} inference steps with skip_prk_steps false; PNDMScheduler needs at least 4 (its 3 Runge-Kutta steps + 1), or set skip_prk_steps`);
  }

  const desc = [...ts].reverse();
  const points: GridPoint[] = desc.map((t) => schedule.pointAtT(t));
  // final_alpha_cumprod: 1 with set_alpha_to_one, else alphas_cumprod[0].
  const finalPoint: GridPoint = setAlphaToOne ? { sigma: 0, t: 0, alpha: 1 } : schedule.pointAtT(0);
  // Where diffusers' transfers land: t - T // N (final_alpha_cumprod below 0); a PRK step lands on its end.
  const landing = (t: number): GridPoint => (t - ratio >= 0 ? schedule.pointAtT(t - ratio) : finalPoint);
  const grid = [...points, landing(ts[0])];
  const prevPoints = desc.map((t, i) => (!skipPrk && i < 3 ? grid[i + 1] : landing(t)));
  const same = (a: GridPoint, b: GridPoint) => a.sigma === b.sigma && a.alpha === b.alpha;

  const solverOptions: PndmOptions = { skipPrk };
  if (prevPoints.some((p, i) => !same(p, grid[i + 1]))) solverOptions.prevPoints = prevPoints;
  if (!skipPrk) {
    // prk_timesteps: the half step of a -> b is b + (T // N) // 2; the first half transfer lands at a - (T // N) // 2.
    const half = Math.floor(ratio / 2);
    solverOptions.halfPoints = [0, 1, 2].map((i) => schedule.pointAtT(desc[i + 1] + half));
    const targets = [0, 1, 2].map((i) => schedule.pointAtT(desc[i] - half));
    if (targets.some((p, i) => !same(p, solverOptions.halfPoints![i]))) solverOptions.halfTargets = targets;
  } else if (steps > 1) {
    // step_plms at counter 1 transfers the start sample from t_1 + T // N (= t_0 for evenly spaced timesteps).
    const source = desc[1] + ratio;
    if (source > T - 1) throw new Error(`${file}: timestep_spacing '${spacing}' puts diffusers' first PLMS correction at timestep ${source}, beyond ${T - 1}`);
    if (source !== desc[0]) solverOptions.heunSource = schedule.pointAtT(source);
  }
  if (prediction === 'v_prediction') solverOptions.combineRawV = true;
  return {
    schedule,
    grid,
    solver: 'pndm',
    solverOptions: solverOptions as Record<string, unknown>,
    prediction,
    stateScaling: 'alpha',
  };
};
