// diffusers DPMSolverMultistepScheduler -> a sampling plan: the timesteps and float32 sigmas of its set_timesteps
// (spacing, lambda_min_clipped, Karras / lu-lambda / exponential / beta sigmas, final_sigmas_type), our
// dpm-solver++2m / 3m (or ddim for solver_order 1, which is DPM-Solver++(1)) with diffusers' order logic, and
// dynamic thresholding, on x = alpha * y.
import type { GridPoint } from '../schedules/schedule.js';
import type { SamplingPlan, SchedulerConverter } from './plan.js';
import {
  VP_DISCRETE_KEYS,
  dpmSolverLastTimestep,
  dpmSolverMultistepTimesteps,
  numpyLinspace,
  readBoolean,
  readEnum,
  readInteger,
  readNumber,
  readString,
  roundHalfEven,
  type DiffusersConfig,
  type TimestepSpacing,
  vpDiscreteFromConfig,
  readThresholding,
} from './common.js';
import { convertSigmas, readSigmaConversion, rejectForeignKeys, trainSigmasF32, vpPoint } from './euler-discrete.js';

const f32 = Math.fround;

const DPM_KEYS = [
  ...VP_DISCRETE_KEYS,
  'solver_order', 'prediction_type', 'thresholding', 'dynamic_thresholding_ratio', 'sample_max_value',
  'algorithm_type', 'solver_type', 'lower_order_final', 'euler_at_final', 'use_karras_sigmas', 'use_exponential_sigmas',
  'use_beta_sigmas', 'use_lu_lambdas', 'use_flow_sigmas', 'flow_shift', 'final_sigmas_type', 'lambda_min_clipped',
  'variance_type', 'timestep_spacing', 'steps_offset', 'use_dynamic_shifting', 'time_shift_type',
] as const;

/** lambda_min_clipped may be written as -Infinity / "-inf" by Python's json (diffusers' default is -inf). */
function readLambdaMinClipped(config: DiffusersConfig, file: string): number {
  const v = config.lambda_min_clipped;
  if (v === undefined || v === null) return -Infinity;
  if (v === '-inf' || v === '-Infinity' || v === -Infinity) return -Infinity;
  return readNumber(config, 'lambda_min_clipped', file, -Infinity);
}

/** diffusers DPMSolverMultistepScheduler (scheduling_dpmsolver_multistep.py): __init__ keys, set_timesteps, step. */
export const dpmSolverMultistepConverter: SchedulerConverter = (config, steps, file): SamplingPlan => {
  rejectForeignKeys(config, DPM_KEYS, file);
  const schedule = vpDiscreteFromConfig(config, file);
  const T = schedule.trainSteps;
  const order = readInteger(config, 'solver_order', file, 2, 1);
  if (order > 3) throw new Error(`${file}: key 'solver_order' is ${order}; expected 1, 2 or 3`);
  const prediction = readString(config, 'prediction_type', file, 'epsilon');
  if (prediction !== 'epsilon' && prediction !== 'sample' && prediction !== 'v_prediction') {
    throw new Error(`${file}: key 'prediction_type' is '${prediction}'; expected 'epsilon', 'sample' or 'v_prediction' (flow_prediction is not supported)`);
  }
  const threshold = readThresholding(config, file);
  let algorithm = readString(config, 'algorithm_type', file, 'dpmsolver++');
  // diffusers registers 'deis' as 'dpmsolver++' (a DEIS config loaded into this class).
  if (algorithm === 'deis') algorithm = 'dpmsolver++';
  if (algorithm === 'sde-dpmsolver++' || algorithm === 'sde-dpmsolver') {
    throw new Error(`${file}: key 'algorithm_type' is '${algorithm}'; the SDE variants are not supported, expected 'dpmsolver++' or 'dpmsolver'`);
  }
  if (algorithm !== 'dpmsolver++' && algorithm !== 'dpmsolver') {
    throw new Error(`${file}: key 'algorithm_type' is '${algorithm}'; expected 'dpmsolver++' or 'dpmsolver'`);
  }
  let solverType = readString(config, 'solver_type', file, 'midpoint');
  // diffusers maps UniPC/DEIS solver types to 'midpoint'.
  if (solverType === 'logrho' || solverType === 'bh1' || solverType === 'bh2') solverType = 'midpoint';
  if (solverType !== 'midpoint' && solverType !== 'heun') {
    throw new Error(`${file}: key 'solver_type' is '${solverType}'; expected 'midpoint' or 'heun'`);
  }
  const lowerOrderFinal = readBoolean(config, 'lower_order_final', file, true);
  const eulerAtFinal = readBoolean(config, 'euler_at_final', file, false);
  const conversion = readSigmaConversion(config, file);
  const lu = readBoolean(config, 'use_lu_lambdas', file, false);
  if (readBoolean(config, 'use_flow_sigmas', file, false)) {
    throw new Error(`${file}: key 'use_flow_sigmas' is true; flow-matching sigmas are not supported (expected false)`);
  }
  if (readBoolean(config, 'use_dynamic_shifting', file, false)) {
    throw new Error(`${file}: key 'use_dynamic_shifting' is true; dynamic shifting (flow matching) is not supported (expected false)`);
  }
  readNumber(config, 'flow_shift', file, 1); // only used with use_flow_sigmas
  readString(config, 'time_shift_type', file, 'exponential'); // only used with use_dynamic_shifting
  const finalSigmas = readEnum(config, 'final_sigmas_type', file, ['zero', 'sigma_min'] as const, 'zero');
  const lambdaMinClipped = readLambdaMinClipped(config, file);
  const varianceType = config.variance_type;
  if (varianceType !== undefined && varianceType !== null) {
    throw new Error(`${file}: key 'variance_type' is ${JSON.stringify(varianceType)}; learned-variance models (output channels = 2 x input) are not supported, expected null`);
  }
  const spacing = readEnum<TimestepSpacing>(config, 'timestep_spacing', file, ['linspace', 'leading', 'trailing'], 'linspace');
  const stepsOffset = readInteger(config, 'steps_offset', file, 0);
  if (algorithm === 'dpmsolver' && finalSigmas === 'zero') {
    // diffusers raises this in __init__.
    throw new Error(`${file}: key 'final_sigmas_type' is 'zero', which diffusers does not support for algorithm_type 'dpmsolver'; use 'sigma_min'`);
  }
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`${file}: steps is ${steps}; expected an integer >= 1`);

  const last = dpmSolverLastTimestep(schedule.alphasCumprod, lambdaMinClipped);
  let timesteps = dpmSolverMultistepTimesteps(spacing, T, steps, stepsOffset, last);
  for (const t of timesteps) {
    if (!(t >= 0 && t <= T - 1)) throw new Error(`${file}: timestep ${t} (timestep_spacing '${spacing}', steps_offset ${stepsOffset}) is outside [0, ${T - 1}]`);
  }
  const train = trainSigmasF32(schedule);
  let sigmas: number[];
  const roundT = readString(config, 'beta_schedule', file, 'linear') !== 'squaredcos_cap_v2';
  if (conversion !== 'none' || lu) {
    // Karras / lu / exponential / beta over the whole training range (in_sigmas = the flipped training sigmas).
    const sMin = train[0], sMax = train[T - 1];
    sigmas = lu ? convertLu(steps, sMin, sMax) : convertSigmas(conversion as 'karras' | 'exponential' | 'beta', steps, sMin, sMax);
    const ts = sigmas.map((s) => schedule.tOfSigma(s));
    // Karras and lu timesteps are rounded (except squaredcos_cap_v2); all are then cast to int64 (truncation).
    timesteps = ts.map((t) => Math.trunc((conversion === 'karras' || lu) && roundT ? roundHalfEven(t) : t));
  } else {
    sigmas = timesteps.map((t) => train[t]);
  }
  const sigmaLast = finalSigmas === 'zero' ? 0 : train[0];
  const all = [...sigmas, sigmaLast].map(f32);
  const grid: GridPoint[] = timesteps.map((t, i) => vpPoint(all[i], t));
  grid.push(vpPoint(all[timesteps.length], 0));
  const x0Transform = threshold;
  if (order === 1) {
    // DPM-Solver++(1) = DDIM; with a transform diffusers' first-order update uses the thresholded x0 for both terms.
    return { schedule, grid, solver: 'ddim', solverOptions: x0Transform ? { useClippedModelOutput: true } : {}, x0Transform, prediction, stateScaling: 'alpha' };
  }
  return {
    schedule,
    grid,
    solver: order === 2 ? 'dpm-solver++2m' : 'dpm-solver++3m',
    solverOptions: { solverType, lowerOrderFinal, eulerAtFinal, algorithmType: algorithm },
    x0Transform,
    prediction,
    stateScaling: 'alpha',
  };
};

/** diffusers' _convert_to_lu (Lu et al. 2022, DPM-Solver, uniform logSNR): float32 log sigma evenly spaced, max to min. */
function convertLu(n: number, sigmaMin: number, sigmaMax: number): number[] {
  const lMax = f32(Math.log(sigmaMax)), lMin = f32(Math.log(sigmaMin));
  return numpyLinspace(0, 1, n).map((r) => Math.exp(lMax + r * (lMin - lMax)));
}
