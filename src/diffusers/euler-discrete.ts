// diffusers EulerDiscreteScheduler -> a sampling plan: the sigmas and timesteps its set_timesteps builds (float32,
// as diffusers stores them), our `euler` solver, and the sample in sigma space (stateScaling 'none': the diffusers
// sample is y itself; its initial sample is noise * init_noise_sigma, which the caller scales).
// Also the sigma-space helpers the DPM-Solver converter shares: the float32 training sigmas, np.interp, and
// diffusers' Karras / exponential / beta sigma conversions.
import type { GridPoint } from '../schedules/schedule.js';
import { torchLinspaceFloat32, type VpDiscreteSchedule } from '../schedules/vp-discrete.js';
import type { SamplingPlan, SchedulerConverter } from './plan.js';
import {
  VP_DISCRETE_KEYS,
  eulerDiscreteTimesteps,
  numpyLinspace,
  readBoolean,
  readEnum,
  readInteger,
  readOptionalNumber,
  rejectUnknownKeys,
  vpDiscreteFromConfig,
  type DiffusersConfig,
  type TimestepSpacing,
} from './common.js';

const f32 = Math.fround;

/**
 * Keys of the diffusers schedulers that share the DDPM training schedule (KarrasDiffusionSchedulers). diffusers
 * silently ignores a sibling scheduler's keys when it loads a config into another class (pipelines save them so);
 * the converters do the same, and refuse any other unknown key.
 */
export const SIBLING_SCHEDULER_KEYS: readonly string[] = [
  ...VP_DISCRETE_KEYS,
  'algorithm_type', 'clip_sample', 'clip_sample_range', 'disable_corrector', 'dynamic_thresholding_ratio',
  'euler_at_final', 'final_sigmas_type', 'flow_shift', 'interpolation_type', 'lambda_min_clipped',
  'lower_order_final', 'noise_sampler_seed', 'predict_x0', 'prediction_type', 'sample_max_value', 'set_alpha_to_one',
  'shift_terminal', 'sigma_max', 'sigma_min', 'skip_prk_steps', 'solver_order', 'solver_p', 'solver_type',
  'steps_offset', 'thresholding', 'time_shift_type', 'timestep_spacing', 'timestep_type', 'use_beta_sigmas',
  'use_dynamic_shifting', 'use_exponential_sigmas', 'use_flow_sigmas', 'use_karras_sigmas', 'use_lu_lambdas',
  'variance_type',
];

/** Rejects keys that are neither this scheduler's nor a sibling scheduler's (a typo must not pass silently). */
export function rejectForeignKeys(config: DiffusersConfig, own: readonly string[], file: string): void {
  rejectUnknownKeys(config, [...new Set([...own, ...SIBLING_SCHEDULER_KEYS])], file);
}

/** The training sigmas as diffusers' float32 torch expression ((1 - abar) / abar) ** 0.5 gives them, t = 0..T-1. */
export function trainSigmasF32(schedule: VpDiscreteSchedule): Float64Array {
  const a = schedule.alphasCumprod;
  const out = new Float64Array(a.length);
  for (let k = 0; k < a.length; k++) out[k] = f32(Math.sqrt(f32(f32(1 - a[k]) / a[k])));
  return out;
}

/** np.interp(x, arange(n), fp) for x in [0, n-1]: fp[j] + (fp[j+1] - fp[j]) * (x - j), numpy's slope form. */
export function interpUnitGrid(x: number, fp: Float64Array): number {
  const n = fp.length;
  if (x <= 0) return fp[0];
  if (x >= n - 1) return fp[n - 1];
  const j = Math.floor(x);
  if (j === x) return fp[j];
  return (fp[j + 1] - fp[j]) * (x - j) + fp[j];
}

/** Karras et al. 2022, eq. 5 as diffusers' _convert_to_karras: ramp = linspace(0, 1, N), rho = 7. */
export function diffusersKarrasSigmas(n: number, sigmaMin: number, sigmaMax: number): number[] {
  const rho = 7;
  const minInv = sigmaMin ** (1 / rho), maxInv = sigmaMax ** (1 / rho);
  return numpyLinspace(0, 1, n).map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/** diffusers' _convert_to_exponential: exp(linspace(log sigma_max, log sigma_min, N)). */
export function diffusersExponentialSigmas(n: number, sigmaMin: number, sigmaMax: number): number[] {
  return numpyLinspace(Math.log(sigmaMax), Math.log(sigmaMin), n).map(Math.exp);
}

/** log Gamma (Lanczos, g = 7, 9 terms; ~1e-15 relative for x > 0). */
function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz), for x < (a + 1) / (a + b + 2). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1, d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 500; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d; if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c; if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d; h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d; if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c; if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return h;
}

/** The regularised incomplete beta function I_x(a, b) (the Beta(a, b) CDF). */
export function betaCdf(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(lnFront) * betaContinuedFraction(1 - x, b, a)) / b;
}

/** scipy.stats.beta.ppf(p, a, b): the inverse of betaCdf by bisection to float64 resolution. */
export function betaPpf(p: number, a: number, b: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  let lo = 0, hi = 1;
  for (let k = 0; k < 200 && hi - lo > 0; k++) {
    const mid = 0.5 * (lo + hi);
    if (mid === lo || mid === hi) break;
    if (betaCdf(mid, a, b) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/**
 * Lee et al. 2024, "Beta Sampling is All You Need", as diffusers' _convert_to_beta (alpha = beta = 0.6):
 * sigma_i = sigma_min + ppf(1 - linspace(0, 1, N)_i) (sigma_max - sigma_min).
 */
export function diffusersBetaSigmas(n: number, sigmaMin: number, sigmaMax: number, alpha = 0.6, beta = 0.6): number[] {
  return numpyLinspace(0, 1, n).map((u) => sigmaMin + betaPpf(1 - u, alpha, beta) * (sigmaMax - sigmaMin));
}

export type SigmaConversion = 'karras' | 'exponential' | 'beta' | 'none';

/** Which of use_karras_sigmas / use_exponential_sigmas / use_beta_sigmas is on (diffusers allows at most one). */
export function readSigmaConversion(config: DiffusersConfig, file: string): SigmaConversion {
  const on = (['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas'] as const).filter((k) => readBoolean(config, k, file, false));
  if (on.length > 1) throw new Error(`${file}: keys ${on.map((k) => `'${k}'`).join(' and ')} are all true; diffusers allows only one of use_beta_sigmas, use_exponential_sigmas, use_karras_sigmas`);
  if (on.length === 0) return 'none';
  return on[0] === 'use_karras_sigmas' ? 'karras' : on[0] === 'use_exponential_sigmas' ? 'exponential' : 'beta';
}

export function convertSigmas(kind: Exclude<SigmaConversion, 'none'>, n: number, sigmaMin: number, sigmaMax: number): number[] {
  if (kind === 'karras') return diffusersKarrasSigmas(n, sigmaMin, sigmaMax);
  if (kind === 'exponential') return diffusersExponentialSigmas(n, sigmaMin, sigmaMax);
  return diffusersBetaSigmas(n, sigmaMin, sigmaMax);
}

/** A grid point of a VP model at EDM sigma (float32 as diffusers stores it) fed timestep t: alpha = 1/sqrt(1+sigma^2). */
export function vpPoint(sigma: number, t: number): GridPoint {
  return { sigma, t, alpha: 1 / Math.sqrt(1 + sigma * sigma) };
}

const EULER_KEYS = [
  ...VP_DISCRETE_KEYS,
  'prediction_type', 'interpolation_type', 'use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas',
  'sigma_min', 'sigma_max', 'timestep_spacing', 'timestep_type', 'steps_offset', 'final_sigmas_type',
] as const;

/** diffusers EulerDiscreteScheduler (scheduling_euler_discrete.py): __init__ keys with its defaults, set_timesteps. */
export const eulerDiscreteConverter: SchedulerConverter = (config, steps, file): SamplingPlan => {
  rejectForeignKeys(config, EULER_KEYS, file);
  const schedule = vpDiscreteFromConfig(config, file);
  const T = schedule.trainSteps;
  const predictionRaw = readEnum(config, 'prediction_type', file, ['epsilon', 'v_prediction', 'sample', 'original_sample'] as const, 'epsilon');
  const prediction = predictionRaw === 'original_sample' ? 'sample' : predictionRaw;
  const interpolation = readEnum(config, 'interpolation_type', file, ['linear', 'log_linear'] as const, 'linear');
  const conversion = readSigmaConversion(config, file);
  const sigmaMinCfg = readOptionalNumber(config, 'sigma_min', file);
  const sigmaMaxCfg = readOptionalNumber(config, 'sigma_max', file);
  const spacing = readEnum<TimestepSpacing>(config, 'timestep_spacing', file, ['linspace', 'leading', 'trailing'], 'linspace');
  const timestepType = readEnum(config, 'timestep_type', file, ['discrete', 'continuous'] as const, 'discrete');
  const stepsOffset = readInteger(config, 'steps_offset', file, 0);
  const finalSigmas = readEnum(config, 'final_sigmas_type', file, ['zero', 'sigma_min'] as const, 'zero');
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`${file}: steps is ${steps}; expected an integer >= 1`);

  let timesteps = eulerDiscreteTimesteps(spacing, T, steps, stepsOffset);
  for (const t of timesteps) {
    if (!(t >= 0 && t <= T - 1)) throw new Error(`${file}: timestep ${t} (timestep_spacing '${spacing}', steps_offset ${stepsOffset}) is outside [0, ${T - 1}]`);
  }
  const train = trainSigmasF32(schedule);
  let sigmas: number[];
  if (interpolation === 'linear') sigmas = timesteps.map((t) => interpUnitGrid(t, train));
  else {
    // torch.linspace(log sigma_max, log sigma_min, N + 1) in float32, then exp: N + 1 sigmas (diffusers keeps them
    // all, so its N steps end at sigma_min and never reach the appended final sigma).
    const logs = torchLinspaceFloat32(f32(Math.log(train[T - 1])), f32(Math.log(train[0])), steps + 1);
    sigmas = Array.from(logs, (l) => f32(Math.exp(l)));
  }
  if (conversion !== 'none') {
    const sMin = sigmaMinCfg ?? sigmas[sigmas.length - 1];
    const sMax = sigmaMaxCfg ?? sigmas[0];
    sigmas = convertSigmas(conversion, steps, sMin, sMax);
    timesteps = sigmas.map((s) => schedule.tOfSigma(s));
  }
  const sigmaLast = finalSigmas === 'zero' ? 0 : train[0];
  const all = [...sigmas, sigmaLast].map(f32);
  // timestep_type 'continuous' with v-prediction: the network is fed 0.25 log(sigma) (EDM's c_noise).
  const ts = timestepType === 'continuous' && prediction === 'v_prediction'
    ? all.slice(0, -1).map((s) => f32(0.25 * f32(Math.log(s))))
    : timesteps.map(f32);
  const n = ts.length; // diffusers steps once per timestep
  const grid: GridPoint[] = [];
  for (let i = 0; i < n; i++) grid.push(vpPoint(all[i], ts[i]));
  grid.push(vpPoint(all[n], 0));
  const plan: SamplingPlan = { schedule, grid, solver: 'euler', solverOptions: {}, prediction, stateScaling: 'none' };
  plan.initNoiseScale = eulerInitNoiseSigma(config, plan, file);
  return plan;
};

/** diffusers' init_noise_sigma for a plan's grid: max sigma, or sqrt(max^2 + 1) for 'leading' spacing. */
export function eulerInitNoiseSigma(config: DiffusersConfig, plan: SamplingPlan, file: string): number {
  const spacing = readEnum<TimestepSpacing>(config, 'timestep_spacing', file, ['linspace', 'leading', 'trailing'], 'linspace');
  const max = Math.max(...plan.grid.map((p) => p.sigma));
  return spacing === 'leading' ? Math.sqrt(max * max + 1) : max;
}
