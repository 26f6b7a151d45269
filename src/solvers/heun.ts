// Heun's 2nd-order method on the probability-flow ODE in sigma (Karras et al. 2022, "Elucidating the Design Space
// of Diffusion-Based Generative Models", Algorithm 1; with S_churn > 0 the stochastic Algorithm 2), as NVlabs/edm
// generate.py's edm_sampler: scalars in float64, an Euler step (no correction) on the last step, so N steps cost
// 2N - 1 network evaluations. The churn noise of step i comes from stream i + 1.
import { linComb, linCombChecked } from '../core/batch.js';
import { normalBatch } from '../core/rng.js';
import type { GridPoint } from '../schedules/schedule.js';
import type { Solver } from './solver.js';
import { checkGrid, checkOptionKeys } from './checks.js';
import { denoise, perSample, stateOutput } from './euler.js';

export interface HeunOptions {
  /** Karras et al. 2022, Algorithm 2 S_churn: total churn; gamma_i = min(S_churn / N, sqrt(2) - 1) (default 0). */
  sChurn?: number;
  /** S_tmin, S_tmax: churn only where S_tmin <= sigma_i <= S_tmax (defaults 0 and Infinity). */
  sTmin?: number;
  sTmax?: number;
  /** S_noise: scale of the churn noise (default 1). */
  sNoise?: number;
  /**
   * The last step: 'euler' (default, as edm_sampler: 2N - 1 NFE; required when the grid ends at sigma 0) or 'heun'
   * (2nd-order correction there too, 2N NFE; only for a grid ending at sigma > 0).
   */
  lastStep?: 'euler' | 'heun';
}

export type HeunState = null;

/** updateOnly's y data when there is no dead array to hand over (the final Euler step): shared, never written. */
const NO_SCRATCH = new Float32Array(0);

const KNOWN = ['sChurn', 'sTmin', 'sTmax', 'sNoise', 'lastStep'] as const;

function readOptions(options: HeunOptions | undefined): Required<HeunOptions> {
  checkOptionKeys('heun', options, KNOWN);
  const o = {
    sChurn: options?.sChurn ?? 0,
    sTmin: options?.sTmin ?? 0,
    sTmax: options?.sTmax ?? Infinity,
    sNoise: options?.sNoise ?? 1,
    lastStep: options?.lastStep ?? 'euler',
  };
  for (const k of ['sChurn', 'sTmin', 'sTmax', 'sNoise'] as const) {
    const v = o[k];
    if (!(typeof v === 'number' && v >= 0 && !Number.isNaN(v))) throw new Error(`solver heun: option ${k} is ${String(v)}; expected a number >= 0`);
  }
  if (o.lastStep !== 'euler' && o.lastStep !== 'heun') {
    throw new Error(`solver heun: option lastStep is ${String(o.lastStep)}; expected 'euler' or 'heun'`);
  }
  return o;
}

/**
 * Karras et al. 2022, Algorithm 2 lines 5-10 as combination weights: from y_hat (at sigma_hat) with the data
 * predictions D (at sigma_hat) and D' (at the Euler point, sigma'), the trapezoidal step
 * y' = y_hat + (sigma' - sigma_hat) (d + d') / 2 equals a y_hat + b D + c D'.
 */
export function heunCoefficients(sigmaHat: number, sigmaNext: number): [number, number, number] {
  const h = sigmaNext - sigmaHat;
  return [sigmaNext / sigmaHat, -(h / (2 * sigmaHat)) * (1 + h / sigmaNext), -h / (2 * sigmaNext)];
}

export const heun: Solver<HeunState, HeunOptions> = {
  info: {
    name: 'heun',
    order: 2,
    nfePerStep: 2,
    // Deterministic by default (sChurn = 0); sChurn > 0 draws noise from stream i + 1.
    stochastic: false,
    reference: 'Karras et al. 2022, Elucidating the Design Space of Diffusion-Based Generative Models, Algorithms 1 and 2',
  },
  nfe(steps: number, options?: HeunOptions): number {
    const o = readOptions(options);
    return o.lastStep === 'euler' ? 2 * steps - 1 : 2 * steps;
  },
  check(grid, _schedule, options) {
    const o = readOptions(options);
    checkGrid('heun', grid);
    if (o.lastStep === 'heun' && grid[grid.length - 1].sigma === 0) {
      throw new Error("solver heun: option lastStep is 'heun' but the grid ends at sigma = 0, where the ODE's derivative is undefined; use lastStep 'euler'");
    }
  },
  init(_y, options) {
    readOptions(options);
    return null;
  },
  async step(ctx, i, y, state, options) {
    const o = readOptions(options);
    const steps = ctx.grid.length - 1;
    const at = ctx.grid[i], next = ctx.grid[i + 1];
    const sigma = at.sigma, sigmaNext = next.sigma;
    // Algorithm 2 line 4-6: gamma_i, sigma_hat = sigma (1 + gamma), y_hat = y + sqrt(sigma_hat^2 - sigma^2) S_noise z.
    const gamma = o.sChurn > 0 && o.sTmin <= sigma && sigma <= o.sTmax ? Math.min(o.sChurn / steps, Math.SQRT2 - 1) : 0;
    const sigmaHat = sigma + gamma * sigma;
    const names: string[] = ['y'];
    const base: Float32Array[] = [y.data];
    const baseCoef: number[] = [1];
    let yHat = y;
    let atHat: GridPoint = at;
    if (gamma > 0) {
      const z = normalBatch(ctx.seed, ctx.firstSample, y.shape[0], perSample(y), 1, i + 1);
      const cz = Math.sqrt(sigmaHat * sigmaHat - sigma * sigma) * o.sNoise;
      names.push('noise');
      base.push(z);
      baseCoef.push(cz);
      yHat = { data: linComb([1, cz], [y.data, z]), shape: y.shape };
      atHat = ctx.schedule.pointAtSigma(sigmaHat);
    }
    const d = await denoise(ctx, yHat, atHat);
    const euler = [sigmaNext / sigmaHat, 1 - sigmaNext / sigmaHat];
    const correct = i < steps - 1 || o.lastStep === 'heun';
    let coefficients: number[];
    let vectors: Float32Array[];
    let scratch: Float32Array = NO_SCRATCH;
    if (!correct) {
      // Algorithm 1 line 5 (and edm_sampler on its last step): Euler from sigma_hat to sigma'.
      names.push('denoised');
      vectors = [...base, d.x0];
      coefficients = [...baseCoef.map((c) => c * euler[0]), euler[1]];
    } else {
      // The Euler point dies once D' is computed (nothing here reads d2's eps): the driver's scratch array when it
      // offers one, else a fresh array that updateOnly may hand over.
      const buf = ctx.scratch?.('heun-euler-point', y.data.length);
      const yEuler = { data: linComb([euler[0], euler[1]], [yHat.data, d.x0], buf), shape: y.shape };
      const d2 = await denoise(ctx, yEuler, next);
      if (!buf) scratch = yEuler.data;
      const [a, b, c] = heunCoefficients(sigmaHat, sigmaNext);
      names.push('denoised', 'denoised_next');
      vectors = [...base, d.x0, d2.x0];
      coefficients = [...baseCoef.map((k) => k * a), b, c];
    }
    if (ctx.updateOnly) return { y: { data: scratch, shape: [0] }, state, update: { names, vectors, coefficients } };
    // Element-wise over vectors that include y.data: it may overwrite y.data (ctx.mayOverwriteState); state is null.
    const { data, firstNonFinite } = linCombChecked(coefficients, vectors, stateOutput(ctx, y));
    return { y: { data, shape: y.shape }, state, update: ctx.mayOverwriteState ? undefined : { names, vectors, coefficients }, firstNonFinite };
  },
};
