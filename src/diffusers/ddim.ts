// diffusers DDIMScheduler -> a sampling plan: its integer timesteps (set_timesteps), the point each step lands on
// (prev_timestep = t - T // steps, or the final alpha: 1 with set_alpha_to_one, else alphas_cumprod[0]), x0
// clipping / dynamic thresholding, and our `ddim` solver on x = alpha * y.
//
// Two details of diffusers are kept on purpose: (1) DDIMScheduler.step always lands on t - T // steps, which for
// 'linspace' and 'trailing' spacing may differ from the next timestep; the landed sample is then fed to the model
// at the next timestep as is (ddim's prevSigmas option does the same hand-over). (2) With rescale_betas_zero_snr
// diffusers' DDIM has alphas_cumprod[T-1] = 0 (infinite sigma); our vp-discrete schedule puts 2^-24 there (as
// diffusers' Euler does), so a run starting at t = T-1 differs from diffusers by ~2^-12 relative on its first step.
import type { GridPoint } from '../schedules/schedule.js';
import { clipSample } from '../solvers/x0-transforms.js';
import type { SamplingPlan, SchedulerConverter } from './plan.js';
import {
  VP_DISCRETE_KEYS,
  ddimTimesteps,
  readBoolean,
  readEnum,
  readInteger,
  readNumber,
  vpDiscreteFromConfig,
  type TimestepSpacing,
  readThresholding,
} from './common.js';
import { rejectForeignKeys } from './euler-discrete.js';

const DDIM_KEYS = [
  ...VP_DISCRETE_KEYS,
  'clip_sample', 'set_alpha_to_one', 'steps_offset', 'prediction_type', 'thresholding', 'dynamic_thresholding_ratio',
  'clip_sample_range', 'sample_max_value', 'timestep_spacing',
] as const;

/** diffusers DDIMScheduler (scheduling_ddim.py): every __init__ key with its default; set_timesteps and step. */
export const ddimConverter: SchedulerConverter = (config, steps, file): SamplingPlan => {
  rejectForeignKeys(config, DDIM_KEYS, file);
  const schedule = vpDiscreteFromConfig(config, file);
  const T = schedule.trainSteps;
  const clip = readBoolean(config, 'clip_sample', file, true);
  const setAlphaToOne = readBoolean(config, 'set_alpha_to_one', file, true);
  const stepsOffset = readInteger(config, 'steps_offset', file, 0);
  const prediction = readEnum(config, 'prediction_type', file, ['epsilon', 'sample', 'v_prediction'] as const, 'epsilon');
  const threshold = readThresholding(config, file);
  const clipRange = readNumber(config, 'clip_sample_range', file, 1);
  const spacing = readEnum<TimestepSpacing>(config, 'timestep_spacing', file, ['leading', 'trailing', 'linspace'], 'leading');
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`${file}: steps is ${steps}; expected an integer >= 1`);

  const timesteps = ddimTimesteps(spacing, T, steps, stepsOffset);
  for (const t of timesteps) {
    if (!(t >= 0 && t <= T - 1)) {
      throw new Error(`${file}: timestep ${t} (timestep_spacing '${spacing}', steps_offset ${stepsOffset}) is outside the training range [0, ${T - 1}]`);
    }
  }
  // The landing point of a step from t: prev_t = t - T // steps; below 0 the "final alpha" (set_alpha_to_one).
  const ratioSteps = Math.floor(T / steps);
  const finalPoint: GridPoint = setAlphaToOne ? schedule.pointAtSigma(0) : schedule.pointAtT(0);
  const landing = (t: number): GridPoint => (t - ratioSteps >= 0 ? schedule.pointAtT(t - ratioSteps) : finalPoint);
  const grid: GridPoint[] = timesteps.map((t) => schedule.pointAtT(t));
  grid.push(landing(timesteps[timesteps.length - 1]));
  const prevSigmas = timesteps.map((t) => landing(t).sigma);
  const consistent = prevSigmas.every((s, i) => s === grid[i + 1].sigma);
  // DDIM, eq. 12: thresholding wins over clip_sample (diffusers' step: `if thresholding ... elif clip_sample`).
  const x0Transform = threshold ?? (clip ? clipSample(clipRange) : undefined);
  return {
    schedule,
    grid,
    solver: 'ddim',
    solverOptions: consistent ? {} : { prevSigmas },
    x0Transform,
    prediction,
    stateScaling: 'alpha',
  };
};
