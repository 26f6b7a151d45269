// DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models", eq. 12) on the EDM-normalised state y = x / alpha:
// y' = x0 + sqrt(sigma'^2 - sigma_up^2) eps + sigma_up z. With eta = 0 it is Euler in sigma; with eta > 0 it adds
// the DDIM noise sigma_t(eta) (eq. 16), which in y is sigma_up = eta sqrt(sigma'^2 (sigma^2 - sigma'^2) / sigma^2)
// (Euler-ancestral's sigma_up). Like diffusers' DDIMScheduler it clips/thresholds x0 (ctx.x0Transform) and keeps the
// model's eps unless useClippedModelOutput re-derives eps from the clipped x0.
import { linComb, linCombChecked } from '../core/batch.js';
import { normalBatch } from '../core/rng.js';
import type { Solver } from './solver.js';
import { checkGrid, checkOptionKeys } from './checks.js';
import { perSample, stateOutput } from './euler.js';

export interface DdimOptions {
  /** DDIM eta in [0, 1]: 0 deterministic (default), 1 DDPM-like ancestral noise. */
  eta?: number;
  /** diffusers use_clipped_model_output: eps = (y - x0) / sigma from the clipped x0 (default false). */
  useClippedModelOutput?: boolean;
  /**
   * diffusers compatibility: per step, the EDM sigma that DDIMScheduler lands on (alphas_cumprod[t - T // steps],
   * whatever the timestep spacing). When it differs from grid[i+1].sigma, the landed sample x = alpha(sigma) y is
   * handed on as the sample at grid[i+1], as diffusers does. Length = steps. Omit it for a consistent grid.
   */
  prevSigmas?: readonly number[];
}

export type DdimState = null;

const KNOWN = ['eta', 'useClippedModelOutput', 'prevSigmas'] as const;

function readOptions(options: DdimOptions | undefined): Required<Omit<DdimOptions, 'prevSigmas'>> & Pick<DdimOptions, 'prevSigmas'> {
  checkOptionKeys('ddim', options, KNOWN);
  const eta = options?.eta ?? 0;
  if (!(typeof eta === 'number' && eta >= 0 && eta <= 1)) throw new Error(`solver ddim: option eta is ${String(eta)}; expected a number in [0, 1]`);
  const useClippedModelOutput = options?.useClippedModelOutput ?? false;
  if (typeof useClippedModelOutput !== 'boolean') {
    throw new Error(`solver ddim: option useClippedModelOutput is ${String(useClippedModelOutput)}; expected true or false`);
  }
  const prevSigmas = options?.prevSigmas;
  if (prevSigmas !== undefined) {
    if (!Array.isArray(prevSigmas)) throw new Error('solver ddim: option prevSigmas must be an array of sigmas');
    prevSigmas.forEach((s, k) => {
      if (!(typeof s === 'number' && Number.isFinite(s) && s >= 0)) {
        throw new Error(`solver ddim: option prevSigmas[${k}] is ${String(s)}; expected a finite number >= 0`);
      }
    });
  }
  return { eta, useClippedModelOutput, prevSigmas };
}

/**
 * DDIM's noise in y: sigma_up = eta sqrt(sigma'^2 (sigma^2 - sigma'^2) / sigma^2), i.e. Song et al. 2021, eq. 16,
 * sigma_t(eta) = eta sqrt((1 - abar') / (1 - abar)) sqrt(1 - abar / abar'), divided by alpha' = sqrt(abar').
 */
export function ddimSigmaUp(sigma: number, sigmaNext: number, eta: number): number {
  if (eta === 0) return 0;
  return eta * Math.sqrt(Math.max(0, (sigmaNext * sigmaNext * (sigma * sigma - sigmaNext * sigmaNext)) / (sigma * sigma)));
}

export const ddim: Solver<DdimState, DdimOptions> = {
  info: {
    name: 'ddim',
    order: 1,
    nfePerStep: 1,
    // Deterministic by default (eta = 0); eta > 0 draws noise from stream i + 1.
    stochastic: false,
    reference: 'Song et al. 2021, Denoising Diffusion Implicit Models, eq. 12 and 16',
  },
  nfe(steps: number): number {
    return steps;
  },
  check(grid, _schedule, options) {
    const o = readOptions(options);
    checkGrid('ddim', grid);
    if (o.prevSigmas && o.prevSigmas.length !== grid.length - 1) {
      throw new Error(`solver ddim: option prevSigmas has ${o.prevSigmas.length} values; expected one per step (${grid.length - 1})`);
    }
  },
  init(_y, options) {
    readOptions(options);
    return null;
  },
  async step(ctx, i, y, state, options) {
    const o = readOptions(options);
    const at = ctx.grid[i], next = ctx.grid[i + 1];
    const s = at.sigma;
    const sNext = o.prevSigmas ? o.prevSigmas[i] : next.sigma;
    // Hand-over of diffusers' landed sample to the next grid point: x = alpha(sNext) y_landed = alpha_next y_next.
    const handover = o.prevSigmas && sNext !== next.sigma ? ctx.schedule.alphaOfSigma(sNext) / next.alpha : 1;
    const p = await ctx.predict(y, at);
    let x0 = p.x0;
    // Under sample() eps lives only within this step (no update is handed on): a derived eps goes into an array the
    // driver keeps for the run instead of a fresh one.
    const owned = !!ctx.mayOverwriteState && !!ctx.scratch && !!p.epsInto && !o.useClippedModelOutput;
    let eps = owned ? p.epsInto!(ctx.scratch!('ddim-eps', y.data.length)) : p.eps;
    if (ctx.x0Transform) {
      x0 = p.x0.slice();
      ctx.x0Transform(x0, perSample(y));
    }
    // diffusers: "the pred_epsilon is always re-derived from the clipped x_0 in Glide"
    if (o.useClippedModelOutput) eps = linComb([1 / s, -1 / s], [y.data, x0]);
    const sigmaUp = ddimSigmaUp(s, sNext, o.eta);
    // Song et al. 2021, eq. 12 in y = x / alpha: y' = x0 + sqrt(sigma'^2 - sigma_up^2) eps + sigma_up z.
    const cEps = Math.sqrt(Math.max(0, sNext * sNext - sigmaUp * sigmaUp));
    const names = ['denoised', 'eps'];
    const vectors = [x0, eps];
    const coefficients = [handover, handover * cEps];
    if (sigmaUp > 0) {
      const n = y.shape[0];
      names.push('noise');
      // Under sample() the noise, like eps, lives only within this step: drawn into a run-long scratch array.
      vectors.push(normalBatch(ctx.seed, ctx.firstSample, n, perSample(y), 1, i + 1, ctx.mayOverwriteState ? ctx.scratch?.('ddim-noise', y.data.length) : undefined));
      coefficients.push(handover * sigmaUp);
    }
    // Element-wise, and y.data is no longer read (eps was taken above): it may take the result (ctx.mayOverwriteState).
    const { data, firstNonFinite } = linCombChecked(coefficients, vectors, stateOutput(ctx, y));
    return { y: { data, shape: y.shape }, state, update: ctx.mayOverwriteState ? undefined : { names, vectors, coefficients }, firstNonFinite };
  },
};
