// The discrete variance-preserving schedule of DDPM (Ho et al. 2020) as diffusers builds it: T training steps with
// betas from `beta_schedule`, abar_k = prod_{i<=k} (1 - beta_i), and EDM sigma_k = sqrt((1 - abar_k) / abar_k).
//
// Rounding: diffusers builds the betas as float32 torch tensors and alphas_cumprod with torch.cumprod on float32. The
// diffusers test expectations are float32 runs, so we replicate that rounding with Math.fround: torch.linspace in
// float32 (ATen's linspace kernel: start + step*i for the first half, end - step*(n-1-i) for the second), 1 - beta in
// float32, and torch's CPU cumprod, which accumulates in double (at::acc_type<float, /*is_cuda=*/false> = double) and
// rounds each output to float32. alphasCumprod holds those float32 values as float64; everything after is float64.
import { checkSigma, checkT } from './edm.js';
import type { GridPoint, Schedule } from './schedule.js';

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export const BETA_SCHEDULES: readonly BetaSchedule[] = ['linear', 'scaled_linear', 'squaredcos_cap_v2'];

export interface VpDiscreteScheduleOptions {
  /** diffusers num_train_timesteps (default 1000). */
  trainSteps?: number;
  /** diffusers beta_start (default 1e-4). */
  betaStart?: number;
  /** diffusers beta_end (default 0.02). */
  betaEnd?: number;
  /** diffusers beta_schedule (default 'linear'). */
  betaSchedule?: BetaSchedule;
  /** diffusers trained_betas: explicit betas (length = trainSteps, or sets it). */
  trainedBetas?: readonly number[];
  /** diffusers rescale_betas_zero_snr (Lin et al. 2024, Algorithm 1). */
  rescaleBetasZeroSnr?: boolean;
}

const f32 = Math.fround;

/** torch.linspace(start, end, n, dtype=float32) on CPU, rounding as ATen's serial linspace kernel does. */
export function torchLinspaceFloat32(start: number, end: number, n: number): Float32Array {
  const out = new Float32Array(n);
  if (n === 0) return out;
  const s = f32(start), e = f32(end);
  if (n === 1) {
    out[0] = s;
    return out;
  }
  const step = f32(f32(e - s) / (n - 1));
  const halfway = Math.floor(n / 2);
  for (let i = 0; i < n; i++) out[i] = i < halfway ? f32(s + f32(step * i)) : f32(e - f32(step * (n - i - 1)));
  return out;
}

/** Nichol & Dhariwal 2021 (Improved DDPM) eq. 17: abar(t) = cos^2((t + 0.008) / 1.008 * pi / 2). */
function cosineAlphaBar(t: number): number {
  return Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
}

/** Nichol & Dhariwal 2021, eq. 17 and Sec. 3.2: beta_k = min(1 - abar((k+1)/T) / abar(k/T), max_beta), in float64. */
export function cosineBetas(T: number, maxBeta = 0.999): Float64Array {
  const betas = new Float64Array(T);
  for (let i = 0; i < T; i++) betas[i] = Math.min(1 - cosineAlphaBar((i + 1) / T) / cosineAlphaBar(i / T), maxBeta);
  return betas;
}

/** The betas diffusers builds (float32 values) for a beta schedule. */
export function diffusersBetas(schedule: BetaSchedule, T: number, betaStart = 1e-4, betaEnd = 0.02): Float32Array {
  switch (schedule) {
    case 'linear':
      return torchLinspaceFloat32(betaStart, betaEnd, T);
    case 'scaled_linear': {
      // Latent-diffusion schedule: linspace of sqrt(beta) in float32, squared in float32.
      const r = torchLinspaceFloat32(Math.sqrt(betaStart), Math.sqrt(betaEnd), T);
      for (let i = 0; i < T; i++) r[i] = f32(r[i] * r[i]);
      return r;
    }
    case 'squaredcos_cap_v2':
      return Float32Array.from(cosineBetas(T));
    default:
      throw new Error(`vp-discrete schedule: betaSchedule is '${String(schedule)}'; expected one of ${BETA_SCHEDULES.map((b) => `'${b}'`).join(', ')}`);
  }
}

/** alphas_cumprod from float32 betas as torch does on CPU: alpha = 1 - beta in float32, cumprod in double, outputs float32. */
export function alphasCumprodFromBetas(betas: Float32Array): Float64Array {
  const out = new Float64Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= f32(1 - betas[i]);
    out[i] = f32(acc);
  }
  return out;
}

/**
 * Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps are Flawed", Algorithm 1: shift and scale
 * sqrt(abar) so the last step has zero SNR, in float32 as diffusers' rescale_zero_terminal_snr.
 */
export function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const n = betas.length;
  const sq = new Float32Array(n);
  const abar = alphasCumprodFromBetas(betas);
  for (let i = 0; i < n; i++) sq[i] = f32(Math.sqrt(abar[i]));
  const s0 = sq[0], sT = sq[n - 1];
  const scale = f32(s0 / f32(s0 - sT));
  for (let i = 0; i < n; i++) sq[i] = f32(f32(sq[i] - sT) * scale);
  const ab = new Float32Array(n);
  for (let i = 0; i < n; i++) ab[i] = f32(sq[i] * sq[i]);
  const out = new Float32Array(n);
  out[0] = f32(1 - ab[0]);
  for (let i = 1; i < n; i++) out[i] = f32(1 - f32(ab[i] / ab[i - 1]));
  return out;
}

/**
 * With zero terminal SNR the last abar is 0 and sigma infinite; like diffusers' EulerDiscreteScheduler we put
 * abar = 2^-24 there so sigma stays finite (sigma_max ~ 4096).
 */
export const ZERO_SNR_ALPHA_CUMPROD = 2 ** -24;

export class VpDiscreteSchedule implements Schedule {
  readonly kind = 'vp-discrete' as const;
  readonly trainSteps: number;
  readonly betas: Float32Array;
  readonly alphasCumprod: Float64Array;
  /** sigma_k = sqrt((1 - abar_k) / abar_k), k = 0..T-1 (ascending). */
  readonly sigmas: Float64Array;
  readonly logSigmas: Float64Array;
  readonly sigmaMin: number;
  readonly sigmaMax: number;
  readonly tMin = 0;
  readonly tMax: number;

  constructor(opts: VpDiscreteScheduleOptions = {}) {
    let betas: Float32Array;
    if (opts.trainedBetas !== undefined) {
      const tb = opts.trainedBetas;
      if (opts.trainSteps !== undefined && tb.length !== opts.trainSteps) {
        throw new Error(`vp-discrete schedule: trainedBetas has ${tb.length} values; expected trainSteps = ${opts.trainSteps}`);
      }
      tb.forEach((b, i) => {
        if (!(b > 0 && b < 1)) throw new Error(`vp-discrete schedule: trainedBetas[${i}] is ${b}; expected a number in (0, 1)`);
      });
      betas = Float32Array.from(tb);
    } else {
      const T = opts.trainSteps ?? 1000;
      if (!Number.isInteger(T) || T < 2) throw new Error(`vp-discrete schedule: trainSteps is ${T}; expected an integer >= 2`);
      const bs = opts.betaStart ?? 1e-4, be = opts.betaEnd ?? 0.02;
      if (!(bs > 0 && bs < 1)) throw new Error(`vp-discrete schedule: betaStart is ${bs}; expected a number in (0, 1)`);
      if (!(be > 0 && be < 1)) throw new Error(`vp-discrete schedule: betaEnd is ${be}; expected a number in (0, 1)`);
      betas = diffusersBetas(opts.betaSchedule ?? 'linear', T, bs, be);
    }
    if (betas.length < 2) throw new Error(`vp-discrete schedule: trainedBetas has ${betas.length} values; expected at least 2`);
    if (opts.rescaleBetasZeroSnr) betas = rescaleZeroTerminalSnr(betas);
    const T = betas.length;
    const abar = alphasCumprodFromBetas(betas);
    if (opts.rescaleBetasZeroSnr) abar[T - 1] = ZERO_SNR_ALPHA_CUMPROD;
    this.trainSteps = T;
    this.betas = betas;
    this.alphasCumprod = abar;
    this.sigmas = new Float64Array(T);
    this.logSigmas = new Float64Array(T);
    for (let k = 0; k < T; k++) {
      // EDM sigma of a VP marginal: sigma = sqrt((1 - abar) / abar) (Karras et al. 2022, Table 1 / eq. 4).
      this.sigmas[k] = Math.sqrt((1 - abar[k]) / abar[k]);
      this.logSigmas[k] = Math.log(this.sigmas[k]);
    }
    for (let k = 1; k < T; k++) {
      if (!(this.sigmas[k] > this.sigmas[k - 1])) {
        throw new Error(`vp-discrete schedule: sigma is not increasing at timestep ${k} (${this.sigmas[k - 1]} then ${this.sigmas[k]}); check the betas`);
      }
    }
    this.sigmaMin = this.sigmas[0];
    this.sigmaMax = this.sigmas[T - 1];
    this.tMax = T - 1;
  }

  /** sigma at time t in [0, T-1]: sigma_k at integer t, linear in sigma between them (diffusers Euler's np.interp). */
  sigmaOfT(t: number): number {
    checkT('vp-discrete schedule sigmaOfT', t, 0, this.tMax);
    const lo = Math.floor(t);
    if (lo === t) return this.sigmas[lo];
    const w = t - lo;
    return (1 - w) * this.sigmas[lo] + w * this.sigmas[lo + 1];
  }

  /**
   * t of a sigma, interpolating linearly in log-sigma between timesteps (diffusers' _sigma_to_t, k-diffusion
   * DiscreteSchedule.sigma_to_t); clamped to [0, T-1] as they do, and sigma 0 gives t = 0.
   */
  tOfSigma(sigma: number): number {
    checkSigma('vp-discrete schedule tOfSigma', sigma);
    const ls = Math.log(Math.max(sigma, 1e-10));
    const L = this.logSigmas;
    const n = L.length;
    // low = last index with log_sigmas[low] <= ls, at most n-2 (diffusers: cumsum(dists >= 0).argmax, clipped).
    let lo = 0, hi = n - 1;
    if (ls < L[0]) lo = 0;
    else {
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (L[mid] <= ls) lo = mid;
        else hi = mid;
      }
      if (L[n - 1] <= ls) lo = n - 1;
      lo = Math.min(lo, n - 2);
    }
    let w = (L[lo] - ls) / (L[lo] - L[lo + 1]);
    w = Math.min(1, Math.max(0, w));
    return (1 - w) * lo + w * (lo + 1);
  }

  /** alpha = sqrt(abar) = 1 / sqrt(1 + sigma^2). */
  alphaOfSigma(sigma: number): number {
    checkSigma('vp-discrete schedule alphaOfSigma', sigma);
    return 1 / Math.sqrt(1 + sigma * sigma);
  }

  pointAtSigma(sigma: number): GridPoint {
    return { sigma, t: this.tOfSigma(sigma), alpha: this.alphaOfSigma(sigma) };
  }

  /** At integer t, alpha is sqrt(abar_t) computed directly (not through sigma) to keep diffusers' value. */
  pointAtT(t: number): GridPoint {
    const sigma = this.sigmaOfT(t);
    const alpha = Number.isInteger(t) ? Math.sqrt(this.alphasCumprod[t]) : this.alphaOfSigma(sigma);
    return { sigma, t, alpha };
  }
}
