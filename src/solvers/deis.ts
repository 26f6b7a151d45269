// DEIS (Zhang & Chen 2022, "Fast Sampling of Diffusion Models with Exponential Integrator"): the exponential
// integrator of the probability-flow ODE with the noise prediction extrapolated by a Lagrange polynomial through the
// last `order` evaluations (tAB-DEIS), here in log rho as diffusers' DEISMultistepScheduler (algorithm_type 'deis',
// solver_type 'logrho'). rho is the EDM sigma (rho = sigma_t / alpha_t), and in y = x / alpha the update is
// y_t = y_s + sum_j c_j eps_j with c_j = int_{rho_s}^{rho_t} l_j(log rho) d rho. Order 1 is DDIM.
import type { Batch } from '../core/batch.js';
import { linCombChecked } from '../core/batch.js';
import type { GridPoint, Schedule } from '../schedules/schedule.js';
import {
  checkBooleanOption,
  checkGrid,
  checkIntegerOption,
  checkOptionKeys,
  evaluate,
  logRhoLagrangeWeights,
  stepEps,
} from './multistep.js';
import type { LinearUpdate, Solver, StepContext, StepOutput } from './solver.js';

export interface DeisOptions {
  /** Number of evaluations in the extrapolation, 1-3 (default 2; diffusers' solver_order). */
  solverOrder?: number;
  /**
   * As diffusers' lower_order_final (default true): with fewer than 15 steps, the last step is first order and the
   * one before at most second order.
   */
  lowerOrderFinal?: boolean;
}

export interface DeisState {
  /** Noise predictions of recent steps, oldest first. */
  eps: Float32Array[];
  /** Their grid points. */
  points: GridPoint[];
}

const NAME = 'deis';
const KEYS = ['solverOrder', 'lowerOrderFinal'] as const;

function resolve(o: DeisOptions | undefined): { order: number; lowerOrderFinal: boolean } {
  checkOptionKeys(NAME, o, KEYS);
  checkIntegerOption(NAME, 'solverOrder', o?.solverOrder, 1, 3);
  checkBooleanOption(NAME, 'lowerOrderFinal', o?.lowerOrderFinal);
  return { order: o?.solverOrder ?? 2, lowerOrderFinal: o?.lowerOrderFinal ?? true };
}

/** Order of step i as diffusers' DEISMultistepScheduler.step picks it (warm-up, then lower_order_final). */
export function deisStepOrder(i: number, steps: number, order: number, lowerOrderFinal: boolean): number {
  let p = Math.min(order, i + 1);
  if (lowerOrderFinal && steps < 15) {
    if (i === steps - 1) p = 1;
    else if (i === steps - 2) p = Math.min(p, 2);
  }
  return p;
}

export const deis: Solver<DeisState, DeisOptions> = {
  info: {
    name: NAME,
    order: 3,
    nfePerStep: 1,
    stochastic: false,
    reference: 'Zhang & Chen 2022, DEIS, eq. 14-15 (tAB-DEIS, Lagrange in log rho); diffusers DEISMultistepScheduler',
  },

  nfe(steps: number, options?: DeisOptions): number {
    resolve(options);
    return steps;
  },

  check(grid: readonly GridPoint[], _schedule: Schedule, options?: DeisOptions): void {
    resolve(options);
    checkGrid(NAME, grid);
  },

  init(_y: Batch, options?: DeisOptions): DeisState {
    resolve(options);
    return { eps: [], points: [] };
  },

  async step(ctx: StepContext, i: number, y: Batch, state: DeisState, options?: DeisOptions): Promise<StepOutput<DeisState>> {
    const r = resolve(options);
    const steps = ctx.grid.length - 1;
    const s = ctx.grid[i], t = ctx.grid[i + 1];
    const ev = await evaluate(ctx, y, s);
    // Under sample() a derived eps goes into the eps array that leaves the history this step.
    const leaving = state.eps.length >= r.order ? state.eps[state.eps.length - r.order] : undefined;
    const eps = [...state.eps, stepEps(ctx, ev, y, leaving)].slice(-r.order);
    const points = [...state.points, s].slice(-r.order);
    const p = Math.min(deisStepOrder(i, steps, r.order, r.lowerOrderFinal), eps.length);
    const hist = points.slice(-p).reverse();
    const outs = eps.slice(-p).reverse();
    // Zhang & Chen 2022, eq. 15: y_t = y_s + sum_j (int_{rho_s}^{rho_t} l_j(log rho) d rho) eps_j.
    const c = logRhoLagrangeWeights(s.sigma, t.sigma, hist.map((q) => q.sigma));
    const update: LinearUpdate = {
      names: ['y', ...outs.map((_, k) => (k === 0 ? 'eps' : `eps_prev${k}`))],
      vectors: [y.data, ...outs],
      coefficients: [1, ...c],
    };
    // The state keeps eps values, not y: with the driver's leave the new state goes over the old one (unless a
    // model handed y itself back). The combination checks for NaN/Inf in the same pass.
    const inPlace = !!ctx.mayOverwriteState && !eps.includes(y.data);
    const { data, firstNonFinite } = linCombChecked(update.coefficients, update.vectors, inPlace ? y.data : undefined);
    return { y: { data, shape: [...y.shape] }, state: { eps, points }, update: inPlace ? undefined : update, firstNonFinite };
  },
};
