// diffusers DEISMultistepScheduler -> SamplingPlan for our `deis` solver. set_timesteps as diffusers: timesteps from
// the spacing, float32 sigmas at them (or Karras / exponential sigmas), and a final point that is NOT sigma 0:
// the sigma at t = 0 for spaced timesteps, a repeat of the last sigma for Karras/exponential (a zero-length last
// step, one more NFE that leaves the sample unchanged, as in diffusers).
// diffusers itself rewrites algorithm_type 'dpmsolver'/'dpmsolver++' to 'deis' and solver_type 'midpoint'/'heun'/
// 'bh1'/'bh2' to 'logrho'; we do the same. Refused: use_beta_sigmas, use_flow_sigmas, use_dynamic_shifting,
// prediction_type 'flow_prediction'.
import type { GridPoint } from '../schedules/schedule.js';
import type { DeisOptions } from '../solvers/deis.js';
import {
  deisMultistepTimesteps,
  readBoolean,
  readEnum,
  readInteger,
  readNumber,
  readString,
  rejectUnknownKeys,
  vpDiscreteFromConfig,
  TIMESTEP_SPACINGS,
  VP_DISCRETE_KEYS,
  type TimestepSpacing,
  readThresholding,
} from './common.js';
import type { SamplingPlan, SchedulerConverter } from './plan.js';
import { checkSteps, multistepSigmas, readMultistepPrediction, readSigmaSpacing, refuseUnless, vpPoint } from './unipc.js';

const DEIS_KEYS = [
  ...VP_DISCRETE_KEYS.filter((k) => k !== 'rescale_betas_zero_snr'),
  'solver_order',
  'prediction_type',
  'thresholding',
  'dynamic_thresholding_ratio',
  'sample_max_value',
  'algorithm_type',
  'solver_type',
  'lower_order_final',
  'use_karras_sigmas',
  'use_exponential_sigmas',
  'use_beta_sigmas',
  'use_flow_sigmas',
  'flow_shift',
  'timestep_spacing',
  'steps_offset',
  'use_dynamic_shifting',
  'time_shift_type',
] as const;

export const deisMultistepConverter: SchedulerConverter = (config, steps, file): SamplingPlan => {
  // DEISMultistepScheduler has no rescale_betas_zero_snr: the key is unknown (and rejected) here.
  rejectUnknownKeys(config, DEIS_KEYS, file);
  checkSteps(steps, file);
  const schedule = vpDiscreteFromConfig(config, file);
  const T = schedule.trainSteps;

  const solverOrder = readInteger(config, 'solver_order', file, 2, 1);
  refuseUnless(solverOrder <= 3, file, 'solver_order', solverOrder, 'DEISMultistepScheduler steps with order 1, 2 or 3');
  const prediction = readMultistepPrediction(config, file);
  const x0Transform = readThresholding(config, file);
  readEnum(config, 'algorithm_type', file, ['deis', 'dpmsolver', 'dpmsolver++'] as const, 'deis');
  readEnum(config, 'solver_type', file, ['logrho', 'midpoint', 'heun', 'bh1', 'bh2'] as const, 'logrho');
  const lowerOrderFinal = readBoolean(config, 'lower_order_final', file, true);
  const sigmaSpacing = readSigmaSpacing(config, file);
  readNumber(config, 'flow_shift', file, 1.0); // only used with use_flow_sigmas (refused)
  const spacing = readEnum(config, 'timestep_spacing', file, TIMESTEP_SPACINGS, 'linspace') as TimestepSpacing;
  const stepsOffset = readInteger(config, 'steps_offset', file, 0);
  const dyn = readBoolean(config, 'use_dynamic_shifting', file, false);
  refuseUnless(!dyn, file, 'use_dynamic_shifting', dyn, 'dynamic shifting needs a pipeline mu and flow sigmas');
  readString(config, 'time_shift_type', file, 'exponential');

  const timesteps = deisMultistepTimesteps(spacing, T, steps, stepsOffset);
  for (const t of timesteps) {
    if (t < 0 || t > T - 1) throw new Error(`${file}: timestep ${t} (timestep_spacing '${spacing}', steps_offset ${stepsOffset}) is outside [0, ${T - 1}]`);
  }
  // DEIS' _convert_to_karras has no sigma_min/sigma_max config keys: the schedule's ends.
  const points = multistepSigmas(schedule, sigmaSpacing, timesteps, steps);
  const last: GridPoint = sigmaSpacing === 'timesteps' ? vpPoint(schedule.sigmas[0], 0) : points[points.length - 1];

  const solverOptions: DeisOptions = { solverOrder, lowerOrderFinal };
  return {
    schedule,
    grid: [...points, last],
    solver: 'deis',
    solverOptions: solverOptions as Record<string, unknown>,
    x0Transform,
    prediction,
    stateScaling: 'alpha',
  };
};
