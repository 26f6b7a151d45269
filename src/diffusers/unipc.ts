// diffusers UniPCMultistepScheduler -> SamplingPlan for our `unipc` solver. set_timesteps is reproduced exactly:
// timesteps from the spacing (linspace/leading/trailing, steps_offset), sigmas at those timesteps (or Karras /
// exponential sigmas with their timesteps from _sigma_to_t), and the final sigma 0 or sigma_min
// (final_sigmas_type). Like diffusers, sigmas are float32 values and alpha = 1 / sqrt(1 + sigma^2).
// Not supported (refused by name): solver_p, use_beta_sigmas, use_flow_sigmas, use_dynamic_shifting,
// shift_terminal, prediction_type 'flow_prediction'.
import type { GridPoint } from '../schedules/schedule.js';
import type { VpDiscreteSchedule } from '../schedules/vp-discrete.js';
import type { UniPcOptions } from '../solvers/unipc.js';
import {
  readBoolean,
  readEnum,
  readInteger,
  readNumber,
  readOptionalNumber,
  readString,
  rejectUnknownKeys,
  roundHalfEven,
  numpyLinspace,
  uniPCMultistepTimesteps,
  vpDiscreteFromConfig,
  TIMESTEP_SPACINGS,
  VP_DISCRETE_KEYS,
  type DiffusersConfig,
  type TimestepSpacing,
  readThresholding,
} from './common.js';
import type { PredictionType, SamplingPlan, SchedulerConverter } from './plan.js';

const f32 = Math.fround;

/** A VP grid point as diffusers' multistep schedulers use it: float32 sigma, alpha = 1/sqrt(1+sigma^2), the timestep. */
export function vpPoint(sigma: number, t: number): GridPoint {
  const s = f32(sigma);
  return { sigma: s, t, alpha: 1 / Math.sqrt(1 + s * s) };
}

export function checkSteps(steps: number, file: string): void {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`${file}: number of inference steps is ${steps}; expected an integer >= 1`);
}

/** Refuses a key whose non-default value we do not support, naming file, key and why. */
export function refuseUnless(ok: boolean, file: string, key: string, value: unknown, why: string): void {
  if (!ok) throw new Error(`${file}: key '${key}' = ${JSON.stringify(value)} is not supported (${why})`);
}

/** diffusers' _convert_to_karras (Karras et al. 2022, eq. 5, rho = 7) in float64 with numpy's linspace. */
export function diffusersKarrasSigmas(sigmaMin: number, sigmaMax: number, n: number): number[] {
  const rho = 7;
  const minInv = sigmaMin ** (1 / rho), maxInv = sigmaMax ** (1 / rho);
  return numpyLinspace(0, 1, n).map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/** diffusers' _convert_to_exponential: exp(linspace(log sigma_max, log sigma_min, n)). */
export function diffusersExponentialSigmas(sigmaMin: number, sigmaMax: number, n: number): number[] {
  return numpyLinspace(Math.log(sigmaMax), Math.log(sigmaMin), n).map(Math.exp);
}

export type SigmaSpacing = 'timesteps' | 'karras' | 'exponential';

/**
 * The N sigmas and timesteps of a DPM-Solver-family set_timesteps: at the spaced timesteps, or Karras/exponential
 * sigmas between the schedule's ends (or sigmaMin/sigmaMax) with timesteps from _sigma_to_t (Karras: rounded half
 * to even; exponential: truncated by the int64 cast).
 */
export function multistepSigmas(
  schedule: VpDiscreteSchedule,
  spacing: SigmaSpacing,
  timesteps: number[],
  n: number,
  range: { sigmaMin?: number; sigmaMax?: number } = {},
): GridPoint[] {
  if (spacing === 'timesteps') return timesteps.map((t) => vpPoint(schedule.sigmas[t], t));
  // diffusers takes the ends from the float32 sigma table (in_sigmas[-1], in_sigmas[0]).
  const lo = range.sigmaMin ?? f32(schedule.sigmas[0]);
  const hi = range.sigmaMax ?? f32(schedule.sigmas[schedule.trainSteps - 1]);
  const sig = spacing === 'karras' ? diffusersKarrasSigmas(lo, hi, n) : diffusersExponentialSigmas(lo, hi, n);
  return sig.map((s) => {
    const t = schedule.tOfSigma(s);
    return vpPoint(s, spacing === 'karras' ? roundHalfEven(t) : Math.trunc(t));
  });
}

/** Which of use_karras_sigmas / use_exponential_sigmas / use_beta_sigmas / use_flow_sigmas is on (at most one). */
export function readSigmaSpacing(config: DiffusersConfig, file: string): SigmaSpacing {
  const karras = readBoolean(config, 'use_karras_sigmas', file, false);
  const exponential = readBoolean(config, 'use_exponential_sigmas', file, false);
  const beta = readBoolean(config, 'use_beta_sigmas', file, false);
  const flow = readBoolean(config, 'use_flow_sigmas', file, false);
  if ([karras, exponential, beta].filter(Boolean).length > 1) {
    throw new Error(`${file}: only one of 'use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas' may be true (diffusers refuses the config)`);
  }
  refuseUnless(!beta, file, 'use_beta_sigmas', beta, 'beta sigmas need scipy.stats.beta.ppf; use use_karras_sigmas or use_exponential_sigmas');
  refuseUnless(!flow, file, 'use_flow_sigmas', flow, 'flow-matching models are not a VP schedule');
  return karras ? 'karras' : exponential ? 'exponential' : 'timesteps';
}

/** prediction_type of UniPC/DEIS: epsilon, sample or v_prediction (flow_prediction refused). */
export function readMultistepPrediction(config: DiffusersConfig, file: string): PredictionType {
  const p = readString(config, 'prediction_type', file, 'epsilon');
  refuseUnless(p !== 'flow_prediction', file, 'prediction_type', p, 'flow-matching models are not a VP schedule');
  return readEnum(config, 'prediction_type', file, ['epsilon', 'sample', 'v_prediction'] as const, 'epsilon');
}

const UNIPC_KEYS = [
  ...VP_DISCRETE_KEYS,
  'solver_order',
  'prediction_type',
  'thresholding',
  'dynamic_thresholding_ratio',
  'sample_max_value',
  'predict_x0',
  'solver_type',
  'lower_order_final',
  'disable_corrector',
  'solver_p',
  'use_karras_sigmas',
  'use_exponential_sigmas',
  'use_beta_sigmas',
  'use_flow_sigmas',
  'flow_shift',
  'timestep_spacing',
  'steps_offset',
  'final_sigmas_type',
  'use_dynamic_shifting',
  'time_shift_type',
  'sigma_min',
  'sigma_max',
  'shift_terminal',
] as const;

export const uniPCMultistepConverter: SchedulerConverter = (config, steps, file): SamplingPlan => {
  rejectUnknownKeys(config, UNIPC_KEYS, file);
  checkSteps(steps, file);
  const schedule = vpDiscreteFromConfig(config, file);
  const T = schedule.trainSteps;

  const solverOrder = readInteger(config, 'solver_order', file, 2, 1);
  refuseUnless(solverOrder <= 5, file, 'solver_order', solverOrder, 'the unipc solver goes up to order 5');
  const prediction = readMultistepPrediction(config, file);
  const threshold = readThresholding(config, file);
  const predictX0 = readBoolean(config, 'predict_x0', file, true);
  // diffusers registers 'midpoint', 'heun' and 'logrho' (other schedulers' names) as 'bh2'.
  let solverType = readEnum(config, 'solver_type', file, ['bh1', 'bh2', 'midpoint', 'heun', 'logrho'] as const, 'bh2');
  if (solverType !== 'bh1') solverType = 'bh2';
  const lowerOrderFinal = readBoolean(config, 'lower_order_final', file, true);
  const dc = config['disable_corrector'] ?? [];
  if (!Array.isArray(dc) || dc.some((v) => typeof v !== 'number' || !Number.isInteger(v))) {
    throw new Error(`${file}: key 'disable_corrector' is ${JSON.stringify(dc)}; expected a list of integer step indices`);
  }
  const solverP = config['solver_p'];
  refuseUnless(solverP === undefined || solverP === null, file, 'solver_p', solverP, 'UniPC with another predictor is not supported');
  const sigmaSpacing = readSigmaSpacing(config, file);
  readNumber(config, 'flow_shift', file, 1.0); // only used with use_flow_sigmas (refused)
  const spacing = readEnum(config, 'timestep_spacing', file, TIMESTEP_SPACINGS, 'linspace') as TimestepSpacing;
  const stepsOffset = readInteger(config, 'steps_offset', file, 0);
  const finalType = readEnum(config, 'final_sigmas_type', file, ['zero', 'sigma_min'] as const, 'zero');
  const dyn = readBoolean(config, 'use_dynamic_shifting', file, false);
  refuseUnless(!dyn, file, 'use_dynamic_shifting', dyn, 'dynamic shifting needs a pipeline mu and flow sigmas');
  readString(config, 'time_shift_type', file, 'exponential'); // only used with use_dynamic_shifting (refused)
  const sigmaMin = readOptionalNumber(config, 'sigma_min', file);
  const sigmaMax = readOptionalNumber(config, 'sigma_max', file);
  const shiftTerminal = config['shift_terminal'];
  refuseUnless(shiftTerminal === undefined || shiftTerminal === null, file, 'shift_terminal', shiftTerminal, 'only used with flow sigmas');

  const timesteps = uniPCMultistepTimesteps(spacing, T, steps, stepsOffset);
  for (const t of timesteps) {
    if (t < 0 || t > T - 1) throw new Error(`${file}: timestep ${t} (timestep_spacing '${spacing}', steps_offset ${stepsOffset}) is outside [0, ${T - 1}]`);
  }
  const points = multistepSigmas(schedule, sigmaSpacing, timesteps, steps, { sigmaMin, sigmaMax });
  let last: GridPoint;
  if (finalType === 'zero') last = { sigma: 0, t: 0, alpha: 1 };
  else if (sigmaSpacing === 'timesteps') last = vpPoint(schedule.sigmas[0], 0);
  else last = points[points.length - 1];

  const solverOptions: UniPcOptions = {
    solverOrder,
    solverType,
    predictX0,
    disableCorrector: [...dc] as number[],
    lowerOrderFinal,
  };
  return {
    schedule,
    grid: [...points, last],
    solver: 'unipc',
    solverOptions: solverOptions as Record<string, unknown>,
    // diffusers thresholds only in the data-prediction form.
    x0Transform: predictX0 ? threshold : undefined,
    prediction,
    stateScaling: 'alpha',
  };
};
