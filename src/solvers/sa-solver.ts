// SA-Solver (Xue et al. 2023, "SA-Solver: Stochastic Adams Solver for Fast Sampling of Diffusion Models", NeurIPS):
// the variance-controlled diffusion SDE (Prop. 4.1: tau = 0 is the probability-flow ODE, tau = 1 the reverse SDE)
// solved in data prediction with its exact linear part (Prop. 4.2) and Lagrange interpolation of D in lambda:
// SA-Predictor (stochastic Adams-Bashforth, eq. 15) and SA-Corrector (stochastic Adams-Moulton, eq. 18) in PEC mode,
// step for step as diffusers' SASolverScheduler (data_prediction): the step-i evaluation at the predicted y_i first
// corrects y_i (same noise as the step that predicted it), then the next predictor starts from the corrected y_i;
// the final prediction is not corrected, so NFE = steps. diffusers' order-2 "rescaling" terms (the authors'
// App. D, *_few_steps) are included by default (option rescale). On y = x / alpha with lambda = -log sigma,
// h = lambda' - lambda, k = 1 + tau^2:
//   y' = e^{-k h} y + sum_j w_j D_j + sigma' sqrt(1 - e^{-2 tau^2 h}) xi,
//   w_j = k int_{lambda}^{lambda'} e^{k (u - lambda')} l_j(u) du   (l_j: Lagrange basis through the nodes lambda_j),
// diffusers' (1 + tau^2) sigma_t e^{-tau^2 lambda_t} int e^{(1+tau^2) u} l_j(u) du divided by alpha_t, written in
// the shifted variable so nothing overflows. tau = 0 with one node is DDIM: y' = (sigma'/sigma) y + (1 - sigma'/sigma) D.
// tau(t) is read at the step's start point grid[i].t, as diffusers' tau_func(timestep) (the authors' code reads it at
// the step's end). A step to sigma' = 0 (lambda' = inf) is first order and noise-free: y' = D.
import { linComb, linCombChecked } from '../core/batch.js';
import { normalBatch } from '../core/rng.js';
import type { GridPoint } from '../schedules/schedule.js';
import type { Solver } from './solver.js';
import { checkBooleanOption, checkGrid, checkIntegerOption, checkOptionKeys } from './checks.js';
import { perSample } from './euler.js';
import { evaluate, lagrangeBasis } from './multistep.js';

export interface SaSolverOptions {
  /** SA-Predictor order 1-4 (default 2, as diffusers; the authors recommend 3 for unconditional sampling). */
  predictorOrder?: number;
  /** SA-Corrector order 1-4, or 0 for no corrector (default 2, as diffusers). */
  correctorOrder?: number;
  /**
   * Variance control tau >= 0 (default 1): a number (constant, or inside [tauTMin, tauTMax] only), or a function of
   * the schedule time t (diffusers' tau_func, e.g. t => (t >= 200 && t <= 800 ? 1 : 0), its default).
   */
  tau?: number | ((t: number) => number);
  /** With a numeric tau: tau applies where tauTMin <= t <= tauTMax (schedule time t; for EDM t = sigma), else 0. */
  tauTMin?: number;
  tauTMax?: number;
  /** Lower orders on the final steps: predictor <= steps - i, corrector <= steps - i + 1 (diffusers, default true). */
  lowerOrderFinal?: boolean;
  /**
   * The order-2 "rescaling" terms of diffusers and the authors' sample_few_steps (App. D; default true). They turn
   * the order-2 weight of D_0 - D_1 from the exact integral into an h^2/2 one (UniPC's B(h) = h), which extrapolates
   * harder on long steps; false gives the plain stochastic Adams weights (the authors' sample_more_steps).
   */
  rescale?: boolean;
}

export interface SaSolverHistoryEntry {
  sigma: number;
  /** Data prediction at that grid point (evaluated at the predicted state). */
  x0: Float32Array;
}

export interface SaSolverState {
  /** Previous data predictions, oldest first (at most max(predictorOrder, correctorOrder - 1)). */
  history: SaSolverHistoryEntry[];
  /** What the corrector of the next step needs: the (corrected) start of the last step, its noise and tau. */
  previous: { y: Float32Array; noise: Float32Array | null; tau: number } | null;
}

const NAME = 'sa-solver';
const KNOWN = ['predictorOrder', 'correctorOrder', 'tau', 'tauTMin', 'tauTMax', 'lowerOrderFinal', 'rescale'] as const;

interface Resolved {
  predictorOrder: number;
  correctorOrder: number;
  tauAt: (t: number) => number;
  lowerOrderFinal: boolean;
  rescale: boolean;
}

function readOptions(options: SaSolverOptions | undefined): Resolved {
  checkOptionKeys(NAME, options, KNOWN);
  checkIntegerOption(NAME, 'predictorOrder', options?.predictorOrder, 1, 4);
  checkIntegerOption(NAME, 'correctorOrder', options?.correctorOrder, 0, 4);
  checkBooleanOption(NAME, 'lowerOrderFinal', options?.lowerOrderFinal);
  checkBooleanOption(NAME, 'rescale', options?.rescale);
  const tau = options?.tau ?? 1;
  const tMin = options?.tauTMin ?? -Infinity, tMax = options?.tauTMax ?? Infinity;
  for (const [k, v] of [['tauTMin', options?.tauTMin], ['tauTMax', options?.tauTMax]] as const) {
    if (v !== undefined && !(typeof v === 'number' && !Number.isNaN(v))) throw new Error(`${NAME}: option ${k} is ${String(v)}; expected a number (schedule time t)`);
  }
  if (!(tMin <= tMax)) throw new Error(`${NAME}: options tauTMin (${tMin}) and tauTMax (${tMax}): expected tauTMin <= tauTMax`);
  let tauAt: (t: number) => number;
  if (typeof tau === 'function') {
    if (options?.tauTMin !== undefined || options?.tauTMax !== undefined) {
      throw new Error(`${NAME}: options tauTMin/tauTMax go with a numeric tau; a tau function sets its own interval`);
    }
    tauAt = (t) => {
      const v = tau(t);
      if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw new Error(`${NAME}: option tau(${t}) returned ${String(v)}; expected a finite number >= 0`);
      return v;
    };
  } else {
    if (!(typeof tau === 'number' && Number.isFinite(tau) && tau >= 0)) throw new Error(`${NAME}: option tau is ${String(tau)}; expected a finite number >= 0 or a function of t`);
    tauAt = (t) => (t >= tMin && t <= tMax ? tau : 0);
  }
  return {
    predictorOrder: options?.predictorOrder ?? 2,
    correctorOrder: options?.correctorOrder ?? 2,
    tauAt,
    lowerOrderFinal: options?.lowerOrderFinal ?? true,
    rescale: options?.rescale ?? true,
  };
}

/** int_0^x v^m e^{-v} dv = m! P(m + 1, x) (lower incomplete gamma), without cancellation for small x. */
function lowerGamma(m: number, x: number): number {
  let fact = 1;
  for (let j = 2; j <= m; j++) fact *= j;
  if (x < 1) {
    // e^{-x} sum_{n > m} x^n / n!, times m!
    let term = x ** (m + 1) / (fact * (m + 1)), sum = 0;
    for (let n = m + 1; term > 1e-18 * sum || n < m + 3; n++) {
      sum += term;
      term *= x / (n + 1);
    }
    return fact * Math.exp(-x) * sum;
  }
  let partial = 0, term = 1;
  for (let n = 0; n <= m; n++) {
    partial += term;
    term *= x / (n + 1);
  }
  return fact * (1 - Math.exp(-x) * partial);
}

/** g(x) = x^2/2 - x + 1 - e^{-x} = x^3/6 - x^4/24 + ..., the order-2 rescaling terms' numerator (series for small x). */
function rescaleG(x: number): number {
  if (x < 0.1) {
    let term = (x * x * x) / 6, sum = 0;
    for (let n = 3; n < 12; n++) {
      sum += term;
      term *= -x / (n + 1);
    }
    return sum;
  }
  return (x * x) / 2 - x - Math.expm1(-x);
}

/**
 * Weights w_j = k int_{lambda}^{lambda'} e^{k (u - lambda')} l_j(u) du, k = 1 + tau^2, of the data predictions at
 * `nodes` (lambdas, any order) for one step lambda -> lambda' (SA-Solver eq. 15 / 18 after the change to y = x/alpha).
 * In v = lambda' - u: w_j = k sum_m c_jm int_0^h v^m e^{-k v} dv with l_j(lambda' - v) = sum_m c_jm v^m.
 */
export function saSolverWeights(lambda: number, lambdaNext: number, nodes: readonly number[], tau: number): number[] {
  const h = lambdaNext - lambda;
  if (h === 0) return nodes.map(() => 0);
  const k = 1 + tau * tau;
  // M_m = int_0^h v^m e^{-k v} dv = k^{-(m+1)} int_0^{kh} w^m e^{-w} dw.
  const M = nodes.map((_, m) => lowerGamma(m, k * h) / k ** (m + 1));
  const vNodes = nodes.map((l) => lambdaNext - l);
  return nodes.map((_, j) => {
    const c = lagrangeBasis(vNodes, j);
    let s = 0;
    for (let m = 0; m < c.length; m++) s += c[m] * M[m];
    return k * s;
  });
}

/**
 * One SA-Predictor (corrector = false) or SA-Corrector step from sigma to sigmaNext on y: the coefficient of y, the
 * weights of the data predictions at `nodeSigmas` (most recent first; for the corrector the first node is
 * sigmaNext, for the predictor sigma) and of the noise; `rescale` adds the order-2 terms (App. D).
 */
export function saSolverCoefficients(corrector: boolean, sigma: number, sigmaNext: number, nodeSigmas: readonly number[], tau: number, rescale = true): { y: number; x0: number[]; noise: number } {
  if (sigmaNext === 0) {
    // lambda' = inf: the exact first-order limit y' = D (only ever a one-node predictor).
    return { y: 0, x0: nodeSigmas.map((_, j) => (j === 0 ? 1 : 0)), noise: 0 };
  }
  const lambda = -Math.log(sigma), lambdaNext = -Math.log(sigmaNext), h = lambdaNext - lambda;
  if (h === 0) return { y: 1, x0: nodeSigmas.map(() => 0), noise: 0 };
  const k = 1 + tau * tau;
  const w = saSolverWeights(lambda, lambdaNext, nodeSigmas.map((s) => -Math.log(s)), tau);
  if (rescale && nodeSigmas.length === 2) {
    // diffusers' / the authors' order-2 modification (App. D), O(h^3): predictor k (h^2/2 - (kh - 1 + e^{-kh})/k^2) /
    // (lambda - lambda_prev), corrector k (h/2 - (kh - 1 + e^{-kh})/(k^2 h)), moved from the older node to the newer.
    const d = corrector ? rescaleG(k * h) / (k * h) : rescaleG(k * h) / (k * (lambda + Math.log(nodeSigmas[1])));
    w[0] += d;
    w[1] -= d;
  }
  // Prop. 4.2 in y: e^{-tau^2 h} (sigma'/sigma) = e^{-k h}; noise sigma' sqrt(1 - e^{-2 tau^2 h}).
  return { y: Math.exp(-k * h), x0: w, noise: sigmaNext * Math.sqrt(-Math.expm1(-2 * tau * tau * h)) };
}

/** Orders diffusers' SASolverScheduler uses at step i of `steps`: the predictor of step i, the corrector of step i's result. */
export function saSolverOrders(i: number, steps: number, o: Pick<Resolved, 'predictorOrder' | 'correctorOrder' | 'lowerOrderFinal'>): { predictor: number; corrector: number } {
  let predictor = Math.min(o.predictorOrder, i + 1);
  let corrector = Math.min(o.correctorOrder, i + 2);
  if (o.lowerOrderFinal) {
    predictor = Math.min(predictor, steps - i);
    corrector = Math.min(corrector, steps - i + 1);
  }
  return { predictor, corrector };
}

const X0_NAMES = ['denoised', 'denoised_prev', 'denoised_prev2', 'denoised_prev3'];

/** Noise arrays SA-Solver drew itself (so it may draw over them). */
const OWN_NOISE = new WeakSet<Float32Array>();

export const saSolver: Solver<SaSolverState, SaSolverOptions> = {
  info: {
    name: NAME,
    order: 4,
    nfePerStep: 1,
    stochastic: true,
    reference: 'Xue et al. 2023, SA-Solver: Stochastic Adams Solver for Fast Sampling of Diffusion Models, Prop. 4.1-4.2, eq. 15 and 18 (PEC), as diffusers SASolverScheduler',
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
    return { history: [], previous: null };
  },
  async step(ctx, i, y, state, options) {
    const o = readOptions(options);
    const steps = ctx.grid.length - 1;
    const at: GridPoint = ctx.grid[i], next: GridPoint = ctx.grid[i + 1];
    const { x0 } = await evaluate(ctx, y, at);
    const history = [...state.history, { sigma: at.sigma, x0 }];
    // Under sample() (nothing reads the update then) the arrays this solver made are its own: the corrected state
    // goes over the previous one, this step's noise over the previous step's (both read only by the corrector), and
    // the predicted state over y once the corrector has replaced it. Bit for bit as with fresh arrays.
    const owned = !!ctx.mayOverwriteState;
    const prevOwn = owned && state.previous !== null && state.previous.y !== y.data && !history.some((e) => e.x0 === state.previous!.y);
    // SA-Corrector (eq. 18) of the previous step with this evaluation, its noise and its tau.
    let start = y.data;
    let corrected = false;
    if (i > 0 && state.previous && o.correctorOrder > 0) {
      const order = saSolverOrders(i - 1, steps, o).corrector;
      const nodes = history.slice(-order).reverse();
      const prev = ctx.grid[i - 1];
      const c = saSolverCoefficients(true, prev.sigma, at.sigma, nodes.map((e) => e.sigma), state.previous.tau, o.rescale);
      const coeffs = [c.y, ...c.x0];
      const vecs = [state.previous.y, ...nodes.map((e) => e.x0)];
      if (c.noise !== 0 && state.previous.noise) coeffs.push(c.noise), vecs.push(state.previous.noise);
      start = linComb(coeffs, vecs, prevOwn ? state.previous.y : undefined);
      corrected = true;
    }
    // SA-Predictor (eq. 15) from the (corrected) y_i; first order into sigma = 0.
    const tau = o.tauAt(at.t);
    const order = next.sigma === 0 ? 1 : saSolverOrders(i, steps, o).predictor;
    const nodes = history.slice(-order).reverse();
    const c = saSolverCoefficients(false, at.sigma, next.sigma, nodes.map((e) => e.sigma), tau, o.rescale);
    const names = [corrected ? 'y_corrected' : 'y', ...X0_NAMES.slice(0, nodes.length)];
    const vectors = [start, ...nodes.map((e) => e.x0)];
    const coefficients = [c.y, ...c.x0];
    let noise: Float32Array | null = null;
    if (c.noise > 0) {
      const spare = owned && state.previous?.noise && OWN_NOISE.has(state.previous.noise) ? state.previous.noise : undefined;
      noise = normalBatch(ctx.seed, ctx.firstSample, y.shape[0], perSample(y), 1, i + 1, spare);
      if (owned) OWN_NOISE.add(noise);
      names.push('noise');
      vectors.push(noise);
      coefficients.push(c.noise);
    }
    const keep = Math.max(o.predictorOrder, o.correctorOrder - 1, 1);
    const kept = history.slice(-keep);
    // y.data is free once the corrector has formed `start` from the previous state (and no x0 is y itself).
    const inPlace = owned && start !== y.data && !kept.some((e) => e.x0 === y.data);
    const { data, firstNonFinite } = linCombChecked(coefficients, vectors, inPlace ? y.data : undefined);
    return {
      y: { data, shape: y.shape },
      state: { history: kept, previous: { y: start, noise, tau } },
      update: owned ? undefined : { names, vectors, coefficients },
      firstNonFinite,
    };
  },
};
