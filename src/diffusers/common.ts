// Pure helpers shared by the diffusers scheduler converters: numpy's linspace/arange/round reproduced exactly in
// float64, each scheduler family's timestep spacing (as its set_timesteps computes it), the vp-discrete schedule
// from a scheduler config, and typed config-key readers whose errors name the file and the key. No fs here.
import { VpDiscreteSchedule, BETA_SCHEDULES, type BetaSchedule } from '../schedules/vp-discrete.js';
import { dynamicThreshold } from '../solvers/x0-transforms.js';
import type { X0Transform } from '../solvers/solver.js';

// ---------------------------------------------------------------------------------------------------------------
// numpy arithmetic

/** numpy's round (np.round / np.rint): halves go to the even neighbour (0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -2.5 -> -2). */
export function roundHalfEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const r = Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x);
  return r + 0; // no -0
}

/**
 * np.linspace(start, stop, num, endpoint) in float64, as numpy computes it: step = (stop - start) / div,
 * y_i = i * step + start, and the last element set to stop when endpoint.
 */
export function numpyLinspace(start: number, stop: number, num: number, endpoint = true): number[] {
  if (!Number.isInteger(num) || num < 0) throw new Error(`numpyLinspace: num is ${num}; expected an integer >= 0`);
  const div = endpoint ? num - 1 : num;
  const delta = stop - start;
  const out = new Array<number>(num);
  if (div > 0) {
    const step = delta / div;
    // numpy: when step == 0 (delta tiny), it computes (i / div) * delta instead.
    for (let i = 0; i < num; i++) out[i] = (step === 0 ? (i / div) * delta : i * step) + start;
  } else {
    for (let i = 0; i < num; i++) out[i] = i * delta + start;
  }
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/**
 * np.arange(start, stop, step) for float64: length ceil((stop - start) / step); the first two values are start and
 * start + step, the rest start + i * delta with delta = (start + step) - start (numpy's DOUBLE_fill).
 */
export function numpyArange(start: number, stop: number, step: number): number[] {
  if (!Number.isFinite(step) || step === 0) throw new Error(`numpyArange: step is ${step}; expected a finite nonzero number`);
  const len = Math.max(0, Math.ceil((stop - start) / step));
  const out = new Array<number>(len);
  if (len > 0) out[0] = start;
  if (len > 1) out[1] = start + step;
  const delta = start + step - start;
  for (let i = 2; i < len; i++) out[i] = start + i * delta;
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Timestep spacings of each scheduler family (integer timesteps, in the order diffusers stores them)

export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';
export const TIMESTEP_SPACINGS: readonly TimestepSpacing[] = ['leading', 'trailing', 'linspace'];

function checkCounts(family: string, T: number, N: number): void {
  if (!Number.isInteger(T) || T < 1) throw new Error(`${family} timesteps: num_train_timesteps is ${T}; expected an integer >= 1`);
  if (!Number.isInteger(N) || N < 1) throw new Error(`${family} timesteps: num_inference_steps is ${N}; expected an integer >= 1`);
  if (N > T) throw new Error(`${family} timesteps: num_inference_steps is ${N}; expected at most num_train_timesteps (${T})`);
}

function badSpacing(family: string, spacing: string): never {
  throw new Error(`${family} timesteps: timestep_spacing is '${spacing}'; expected one of 'leading', 'trailing', 'linspace'`);
}

/**
 * DDIMScheduler (and DDPMScheduler) set_timesteps, N descending integer timesteps:
 * leading: arange(0, N) * (T // N), reversed, + steps_offset; trailing: round(arange(T, 0, -T/N)) - 1;
 * linspace: linspace(0, T - 1, N).round()[::-1].
 */
export function ddimTimesteps(spacing: TimestepSpacing, T: number, N: number, stepsOffset = 0): number[] {
  checkCounts('DDIM', T, N);
  switch (spacing) {
    case 'leading': {
      const ratio = Math.floor(T / N);
      return Array.from({ length: N }, (_, i) => (N - 1 - i) * ratio + stepsOffset);
    }
    case 'trailing':
      return numpyArange(T, 0, -T / N).map((v) => roundHalfEven(v) - 1);
    case 'linspace':
      return numpyLinspace(0, T - 1, N).map(roundHalfEven).reverse();
    default:
      return badSpacing('DDIM', spacing);
  }
}

/**
 * DPMSolverMultistepScheduler set_timesteps (also UniPC and DEIS with lastTimestep = T), N descending timesteps:
 * linspace: linspace(0, last - 1, N + 1).round()[::-1][:-1];
 * leading: arange(0, N + 1) * (last // (N + 1)), reversed, drop the last, + steps_offset;
 * trailing: arange(last, 0, -T/N).round() - 1.
 * `lastTimestep` is T unless lambda_min_clipped cuts the end (see dpmSolverLastTimestep).
 */
export function dpmSolverMultistepTimesteps(spacing: TimestepSpacing, T: number, N: number, stepsOffset = 0, lastTimestep = T): number[] {
  const family = 'DPMSolverMultistep';
  checkCounts(family, T, N);
  if (!Number.isInteger(lastTimestep) || lastTimestep < 1 || lastTimestep > T) {
    throw new Error(`${family} timesteps: last timestep is ${lastTimestep}; expected an integer in [1, ${T}]`);
  }
  switch (spacing) {
    case 'linspace':
      return numpyLinspace(0, lastTimestep - 1, N + 1).map(roundHalfEven).reverse().slice(0, N);
    case 'leading': {
      const ratio = Math.floor(lastTimestep / (N + 1));
      return Array.from({ length: N }, (_, i) => (N - i) * ratio + stepsOffset);
    }
    case 'trailing':
      return numpyArange(lastTimestep, 0, -T / N).map((v) => roundHalfEven(v) - 1);
    default:
      return badSpacing(family, spacing);
  }
}

/** UniPCMultistepScheduler set_timesteps: the DPMSolverMultistep formulas with last timestep T. */
export function uniPCMultistepTimesteps(spacing: TimestepSpacing, T: number, N: number, stepsOffset = 0): number[] {
  return dpmSolverMultistepTimesteps(spacing, T, N, stepsOffset, T);
}

/** DEISMultistepScheduler set_timesteps: the DPMSolverMultistep formulas with last timestep T. */
export function deisMultistepTimesteps(spacing: TimestepSpacing, T: number, N: number, stepsOffset = 0): number[] {
  return dpmSolverMultistepTimesteps(spacing, T, N, stepsOffset, T);
}

/**
 * DPMSolverMultistep's last timestep: T minus the number of timesteps whose lambda_t = log(alpha_t) - log(sigma_t)
 * is below lambda_min_clipped (torch.searchsorted on the flipped lambdas; float32 as diffusers computes lambda_t).
 */
export function dpmSolverLastTimestep(alphasCumprod: Float64Array, lambdaMinClipped: number): number {
  const f = Math.fround;
  let clipped = 0;
  for (let k = 0; k < alphasCumprod.length; k++) {
    const a = alphasCumprod[k];
    const lam = f(f(Math.log(f(Math.sqrt(a)))) - f(Math.log(f(Math.sqrt(f(1 - a))))));
    if (lam < lambdaMinClipped) clipped++;
  }
  return alphasCumprod.length - clipped;
}

/**
 * PNDMScheduler set_timesteps: its `_timesteps`, ASCENDING as diffusers stores them (the PRK/PLMS bookkeeping
 * built on them is the PNDM converter's): linspace: linspace(0, T - 1, N).round(); leading: arange(0, N) * (T // N)
 * + steps_offset; trailing: round(arange(T, 0, -T/N))[::-1] - 1.
 */
export function pndmTimesteps(spacing: TimestepSpacing, T: number, N: number, stepsOffset = 0): number[] {
  checkCounts('PNDM', T, N);
  switch (spacing) {
    case 'linspace':
      return numpyLinspace(0, T - 1, N).map(roundHalfEven);
    case 'leading': {
      const ratio = Math.floor(T / N);
      return Array.from({ length: N }, (_, i) => i * ratio + stepsOffset);
    }
    case 'trailing':
      return numpyArange(T, 0, -T / N).map((v) => roundHalfEven(v) - 1).reverse();
    default:
      return badSpacing('PNDM', spacing);
  }
}

/**
 * EulerDiscreteScheduler (and the other sigma-space k-diffusion ports) set_timesteps: N descending, possibly
 * fractional timesteps as float32 values: linspace: np.linspace(0, T - 1, N, dtype=float32)[::-1] (not rounded);
 * leading: arange(0, N) * (T // N), reversed, + steps_offset; trailing: arange(T, 0, -T/N).round() - 1.
 */
export function eulerDiscreteTimesteps(spacing: TimestepSpacing, T: number, N: number, stepsOffset = 0): number[] {
  checkCounts('EulerDiscrete', T, N);
  switch (spacing) {
    case 'linspace':
      return numpyLinspace(0, T - 1, N).map(Math.fround).reverse();
    case 'leading':
      return ddimTimesteps('leading', T, N, stepsOffset);
    case 'trailing':
      return ddimTimesteps('trailing', T, N);
    default:
      return badSpacing('EulerDiscrete', spacing);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Config-key readers

export type DiffusersConfig = Record<string, unknown>;

function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v === null) return 'null';
  return typeof v === 'object' ? 'an object' : String(v);
}

function fail(file: string, key: string, v: unknown, expected: string): never {
  throw new Error(`${file}: key '${key}' is ${describe(v)}; expected ${expected}`);
}

/** True when diffusers would take its default: the key is absent or null (diffusers writes `"trained_betas": null`). */
function missing(config: DiffusersConfig, key: string): boolean {
  return !(key in config) || config[key] === null || config[key] === undefined;
}

export function readNumber(config: DiffusersConfig, key: string, file: string, def: number): number {
  if (missing(config, key)) return def;
  const v = config[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(file, key, v, 'a finite number');
  return v;
}

export function readOptionalNumber(config: DiffusersConfig, key: string, file: string): number | undefined {
  if (missing(config, key)) return undefined;
  return readNumber(config, key, file, 0);
}

export function readInteger(config: DiffusersConfig, key: string, file: string, def: number, min = -Infinity): number {
  if (missing(config, key)) return def;
  const v = config[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(file, key, v, min > -Infinity ? `an integer >= ${min}` : 'an integer');
  return v;
}

export function readBoolean(config: DiffusersConfig, key: string, file: string, def: boolean): boolean {
  if (missing(config, key)) return def;
  const v = config[key];
  if (typeof v !== 'boolean') fail(file, key, v, 'true or false');
  return v;
}

export function readString(config: DiffusersConfig, key: string, file: string, def: string): string {
  if (missing(config, key)) return def;
  const v = config[key];
  if (typeof v !== 'string') fail(file, key, v, 'a string');
  return v;
}

export function readEnum<T extends string>(config: DiffusersConfig, key: string, file: string, allowed: readonly T[], def: T): T {
  if (missing(config, key)) return def;
  const v = config[key];
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    fail(file, key, v, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`);
  }
  return v as T;
}

export function readNumberList(config: DiffusersConfig, key: string, file: string): number[] | undefined {
  if (missing(config, key)) return undefined;
  const v = config[key];
  if (!Array.isArray(v)) fail(file, key, v, 'a list of numbers');
  v.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new Error(`${file}: key '${key}' item ${i} is ${describe(x)}; expected a finite number`);
    }
  });
  return v as number[];
}

/** diffusers' own bookkeeping keys (`_class_name`, `_diffusers_version`, any key starting with `_`). */
export function isBookkeepingKey(key: string): boolean {
  return key.startsWith('_');
}

/** Throws for the first key that is neither known to the converter nor diffusers bookkeeping, naming file and key. */
export function rejectUnknownKeys(config: DiffusersConfig, known: readonly string[], file: string): void {
  const set = new Set(known);
  for (const key of Object.keys(config)) {
    if (isBookkeepingKey(key) || set.has(key)) continue;
    throw new Error(`${file}: key '${key}' is not supported by this converter; known keys: ${[...known].sort().join(', ')}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The DDPM schedule of a scheduler config

/** The keys vpDiscreteFromConfig reads (for rejectUnknownKeys lists). */
export const VP_DISCRETE_KEYS = [
  'num_train_timesteps',
  'beta_start',
  'beta_end',
  'beta_schedule',
  'trained_betas',
  'rescale_betas_zero_snr',
] as const;

/** diffusers' DDPM schedule keys -> a vp-discrete Schedule, with diffusers' defaults for missing keys. */
export function vpDiscreteFromConfig(config: DiffusersConfig, file: string): VpDiscreteSchedule {
  const trainSteps = readInteger(config, 'num_train_timesteps', file, 1000, 2);
  const betaStart = readNumber(config, 'beta_start', file, 0.0001);
  const betaEnd = readNumber(config, 'beta_end', file, 0.02);
  if (!(betaStart > 0 && betaStart < 1)) fail(file, 'beta_start', betaStart, 'a number in (0, 1)');
  if (!(betaEnd > 0 && betaEnd < 1)) fail(file, 'beta_end', betaEnd, 'a number in (0, 1)');
  const betaSchedule: BetaSchedule = readEnum(config, 'beta_schedule', file, BETA_SCHEDULES, 'linear');
  const trainedBetas = readNumberList(config, 'trained_betas', file);
  const rescaleBetasZeroSnr = readBoolean(config, 'rescale_betas_zero_snr', file, false);
  if (trainedBetas !== undefined && trainedBetas.length !== trainSteps && 'num_train_timesteps' in config) {
    throw new Error(`${file}: key 'trained_betas' has ${trainedBetas.length} values; expected num_train_timesteps = ${trainSteps}`);
  }
  try {
    return new VpDiscreteSchedule(
      trainedBetas !== undefined
        ? { trainedBetas, rescaleBetasZeroSnr }
        : { trainSteps, betaStart, betaEnd, betaSchedule, rescaleBetasZeroSnr },
    );
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}

/**
 * diffusers' dynamic thresholding keys (thresholding, dynamic_thresholding_ratio, sample_max_value; defaults false,
 * 0.995, 1), shared by the DDIM, DPM-Solver, UniPC and DEIS configs: the X0Transform, or undefined when off.
 */
export function readThresholding(config: DiffusersConfig, file: string): X0Transform | undefined {
  const thresholding = readBoolean(config, 'thresholding', file, false);
  const ratio = readNumber(config, 'dynamic_thresholding_ratio', file, 0.995);
  const maxValue = readNumber(config, 'sample_max_value', file, 1);
  return thresholding ? dynamicThreshold({ ratio, maxValue }) : undefined;
}
