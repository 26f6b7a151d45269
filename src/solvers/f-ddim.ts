// F-DDIM, the forward-value first-order sampler of Jiao, Li, Cai & Li 2025, "Are First-Order Diffusion Samplers Really
// Slower? A Fast Forward-Value Approach" (arXiv 2512.24927), as the authors' code has it (Na-Li66/F-DPMSolver,
// sampler.py, Forward_DPMSolver; their F-DDIM is order 1, F-DPMSolver order >= 2). On y = x / alpha, step i from
// sigma to sigma':
//   1. lookahead (cheap predictor, no evaluation): y_hat = y + int_sigma^sigma' eps dsigma with eps extrapolated from
//      the previous lookahead evaluations; order 1 is DDIM with the previous eps, y_hat = y - (sigma - sigma') eps_prev;
//      order p fits a polynomial in lambda = -log sigma through the last p of them (the DPM-Solver / DEIS multistep
//      in noise prediction, exact integral of the polynomial).
//   2. the forward value: one evaluation D_hat = D(y_hat; sigma') at the right end of the interval.
//   3. first-order update with it: y' = (sigma'/sigma) y + (1 - sigma'/sigma) D_hat (DDIM's data-prediction form with
//      the forward value in place of D(y; sigma); its leading error has the opposite sign to DDIM's).
// The eps of step 2 becomes the next step's eps_prev. First step: no evaluation exists yet, so the authors seed the
// history with x_T itself, their VP-scaled initial noise, as the eps at sigma_max: in y that is
// eps_prev = y_0 / sqrt(1 + sigma_0^2) (the eps of pure noise for unit-scale data).
// One NFE per step. A step to sigma' = 0 is DDIM's y' = D(y; sigma): there the forward value D(y_hat; 0) = y_hat
// carries no information (and networks are not defined at sigma = 0); the authors' grids end at sigma_min instead.
import { linComb, linCombChecked, type Batch } from '../core/batch.js';
import type { Solver } from './solver.js';
import { checkGrid, checkIntegerOption, checkOptionKeys } from './checks.js';
import { evaluate, logRhoLagrangeWeights, stepEps } from './multistep.js';

export interface FDdimOptions {
  /**
   * Order of the lookahead predictor, 1-4 (default 1 = F-DDIM: DDIM with the previous eps; >= 2 = the authors'
   * F-DPMSolver: polynomial extrapolation of the previous lookahead eps in lambda). The update stays first order.
   */
  predictorOrder?: number;
}

export interface FDdimHistoryEntry {
  sigma: number;
  /** eps at the lookahead point of that sigma (or the initial guess at sigma_0). */
  eps: Float32Array;
}

export interface FDdimState {
  /** Previous lookahead eps, oldest first (at most predictorOrder); empty before the first step. */
  history: FDdimHistoryEntry[];
}

const NAME = 'f-ddim';
const KNOWN = ['predictorOrder'] as const;

function readOptions(options: FDdimOptions | undefined): Required<FDdimOptions> {
  checkOptionKeys(NAME, options, KNOWN);
  checkIntegerOption(NAME, 'predictorOrder', options?.predictorOrder, 1, 4);
  return { predictorOrder: options?.predictorOrder ?? 1 };
}

/**
 * Weights c_j of the lookahead y_hat = y + sum_j c_j eps_j from sigma to sigmaNext, eps_j at `sigmas` (most recent
 * first): the exact integral of eps dsigma for the interpolating polynomial in log sigma (= the authors'
 * ODESampler_onestep: Vandermonde fit in lambda - lambda_0 and phi_k = int_0^h u^k e^-u du; one node gives DDIM,
 * c = -(sigma - sigma')).
 */
export function fDdimLookaheadWeights(sigma: number, sigmaNext: number, sigmas: readonly number[]): number[] {
  if (sigmas.length === 1) return [-(sigma - sigmaNext)];
  return logRhoLagrangeWeights(sigma, sigmaNext, sigmas);
}

export const fDdim: Solver<FDdimState, FDdimOptions> = {
  info: {
    name: NAME,
    order: 1,
    nfePerStep: 1,
    stochastic: false,
    reference:
      'Jiao, Li, Cai & Li 2025, Are First-Order Diffusion Samplers Really Slower? A Fast Forward-Value Approach (arXiv 2512.24927): F-DDIM / F-DPMSolver (predictorOrder >= 2), as the authors\' code',
  },
  nfe(steps: number): number {
    return steps;
  },
  check(grid, _schedule, options) {
    readOptions(options);
    checkGrid(NAME, grid);
  },
  init(_y, options) {
    readOptions(options);
    return { history: [] };
  },
  async step(ctx, i, y, state, options) {
    const o = readOptions(options);
    const at = ctx.grid[i], next = ctx.grid[i + 1];
    const s = at.sigma, sNext = next.sigma;
    const r = sNext / s;
    const coefficients = [r, 1 - r];
    if (sNext === 0) {
      // Last step to sigma = 0: DDIM, y' = D(y; sigma) (the forward value at sigma = 0 would be y_hat itself).
      const { x0 } = await evaluate(ctx, y, at);
      const vectors = [y.data, x0];
      return { y: { data: linComb(coefficients, vectors), shape: y.shape }, state: { history: [] }, update: { names: ['y', 'denoised'], vectors, coefficients } };
    }
    // The authors' first-step seed: x_T (VP-scaled) as the eps at sigma_0, i.e. y_0 / sqrt(1 + sigma_0^2) in y.
    const history = state.history.length > 0 ? state.history : [{ sigma: s, eps: linComb([1 / Math.sqrt(1 + s * s)], [y.data]) }];
    // Lookahead with the last min(i + 1, order) eps, most recent first.
    const used = history.slice(-o.predictorOrder).reverse();
    const w = fDdimLookaheadWeights(s, sNext, used.map((h) => h.sigma));
    // Under sample() (nothing reads the update then) the lookahead goes into a run-long scratch array, a derived eps
    // into the eps array that leaves the history (one of this solver's), and the new state over the old one (the
    // history keeps eps, never y). Bit for bit as with fresh arrays.
    const owned = !!ctx.mayOverwriteState && !!ctx.scratch;
    const n = y.data.length;
    const yHat: Batch = { data: linComb([1, ...w], [y.data, ...used.map((h) => h.eps)], owned ? ctx.scratch!('f-ddim-lookahead', n) : undefined), shape: y.shape };
    // The forward value: the denoiser at the lookahead point and the right end of the interval.
    const ev = await evaluate(ctx, yHat, next);
    const leaving = history.length >= o.predictorOrder ? history[history.length - o.predictorOrder].eps : undefined;
    const eps = stepEps(ctx, ev, y, leaving);
    const vectors = [y.data, ev.x0];
    const nextHistory = [...history, { sigma: sNext, eps }].slice(-o.predictorOrder);
    const inPlace = owned && !nextHistory.some((h) => h.eps === y.data) && ev.x0 !== y.data;
    const { data, firstNonFinite } = linCombChecked(coefficients, vectors, inPlace ? y.data : undefined);
    return { y: { data, shape: y.shape }, state: { history: nextHistory }, update: inPlace ? undefined : { names: ['y', 'denoised'], vectors, coefficients }, firstNonFinite };
  },
};
