// The level schedule of ML-EM: which fraction p_{i,l} of the steps evaluates level l. The randomisation noise that
// step i adds to the state is a_i sum_l (B_{i,l} / p_{i,l} - 1) (D^l - D^{l-1}), with a_i the weight of D in the
// step (ml-em.ts), so its variance is a_i^2 sum_l (1 / p_{i,l} - 1) v_l(sigma_i), v_l = E|D^l - D^{l-1}|^2 (cross
// terms left out: they vanish for independent coins), and these add up over the independent steps. Minimising the
// expected cost sum_{i,l} p_{i,l} c_l at a fixed total variance (a Lagrange multiplier, as for the sample sizes of
// multilevel Monte Carlo: Giles 2008, "Multilevel Monte Carlo path simulation", Sec. 3, N_l ~ sqrt(V_l / C_l)) gives
//     p_{i,l} = min(1, kappa |a_i| sqrt(v_l(sigma_i) / c_l)),
// with kappa trading cost for accuracy, for l >= 2, and for l = 1 too when the coarsest level is drawn (coarsest
// 'random', D^0 = 0, v_1 = E|D^1|^2); with coarsest 'fixed', p_{i,1} = 1. This is the rule p_k ~ sqrt(v_k / c_k) of
// Paing & Jacot's Proposition 3 (p_k = min{C 2^{-(1 + gamma/2) k}, 1} for v_k ~ 4^-k, c_k ~ 2^{gamma k}), with the
// step's weight |a_i| as a factor. Small steps (|a_i| ~ h) evaluate the fine levels rarely; the step to sigma = 0
// (a = 1: its estimate is the output) almost always evaluates them. Browser-safe.
import type { GridPoint } from '../schedules/schedule.js';
import { DEFAULT_COARSEST, DEFAULT_COUPLING, type Coarsest, type Coupling, type LevelProbabilities } from './ml-em.js';

/** Weight of D in step i of (ML-)EM: (1 + eta)(sigma_i - sigma_{i+1}) / sigma_i, and 1 for the step to sigma = 0. */
export function driftWeight(grid: readonly GridPoint[], i: number, eta: number): number {
  const s = grid[i].sigma, s1 = grid[i + 1].sigma;
  return s1 === 0 ? 1 : ((1 + eta) * (s - s1)) / s;
}

/** p = min(1, kappa w sqrt(v / c)), floored at 1e-9 (a level is never excluded outright). */
function allocate(kappa: number, w: number, v: number, c: number): number {
  return Math.min(1, Math.max(1e-9, kappa * w * Math.sqrt(v / c)));
}

/**
 * v_1 = E|D^1|^2 for coarsest 'random'. A zero would draw level 1 almost never and weight it by 1e9 when it is drawn;
 * it is what a table made for coarsest 'fixed' (first row unused, zeros) gives, so it is refused.
 */
function coarsestVariance(v: number, sigma?: number): number {
  if (!(v > 0) || !Number.isFinite(v)) {
    throw new Error(`ml-em: coarsest 'random' allocates level 1 by v_1 = E|D^1|^2, which must be a positive number${sigma === undefined ? '' : ` (sigma ${sigma})`}, got ${v}; pass coarsest 'fixed' for a variance without it`);
  }
  return v;
}

/**
 * Constant probabilities by the MLMC allocation p_l = min(1, kappa sqrt(v_l / c_l)) (no step dependence). variances[0]
 * is v_1 = E|D^1|^2, used only with coarsest 'random' (with 'fixed', p_1 = 1).
 */
export function mlmcProbabilities(costs: readonly number[], variances: readonly number[], kappa: number, coarsest: Coarsest = DEFAULT_COARSEST): number[] {
  if (costs.length !== variances.length) throw new Error('ml-em: one variance per level');
  if (!(kappa > 0)) throw new Error(`ml-em: kappa must be > 0, got ${kappa}`);
  return costs.map((c, l) => (l > 0 ? allocate(kappa, 1, variances[l], c) : coarsest === 'fixed' ? 1 : allocate(kappa, 1, coarsestVariance(variances[0]), c)));
}

/**
 * v_l(sigma) from a table measured at `sigmas` (ascending or not): values[l][j] = E|D^l - D^{l-1}|^2 per pixel at
 * sigmas[j] (values[0] unused). Linear interpolation in log sigma, constant beyond the ends.
 */
export function varianceTable(sigmas: readonly number[], values: readonly (readonly number[])[]): (level: number, sigma: number) => number {
  const order = sigmas.map((s, j) => j).sort((a, b) => sigmas[a] - sigmas[b]);
  const xs = order.map((j) => Math.log(sigmas[j]));
  return (level, sigma) => {
    const v = order.map((j) => values[level][j]);
    const x = Math.log(Math.max(sigma, 1e-300));
    if (x <= xs[0]) return v[0];
    if (x >= xs[xs.length - 1]) return v[v.length - 1];
    let j = 1;
    while (xs[j] < x) j++;
    const t = (x - xs[j - 1]) / (xs[j] - xs[j - 1]);
    return v[j - 1] + t * (v[j] - v[j - 1]);
  };
}

export interface MlmcScheduleOptions {
  grid: readonly GridPoint[];
  /** The eta of the run (1 SDE, 0 ODE). */
  eta: number;
  /** Cost per sample of each level. */
  costs: readonly number[];
  /** v_l(sigma) = E|D^l - D^{l-1}|^2 (0-based level l >= 1), and E|D^1|^2 for level 0 (used with coarsest 'random'). */
  variance: (level: number, sigma: number) => number;
  /** Whether the coarsest level is drawn too (default DEFAULT_COARSEST). */
  coarsest?: Coarsest;
}

/**
 * The step-dependent allocation p_{i,l} = min(1, kappa |a_i| sqrt(v_l(sigma_i) / c_l)) as a table [step][level]
 * (p_{i,1} = 1 with coarsest 'fixed').
 */
export function mlmcSchedule(o: MlmcScheduleOptions, kappa: number): number[][] {
  if (!(kappa > 0)) throw new Error(`ml-em: kappa must be > 0, got ${kappa}`);
  const k = o.costs.length;
  const fixed = (o.coarsest ?? DEFAULT_COARSEST) === 'fixed';
  return o.grid.slice(0, -1).map((at, i) => {
    const a = Math.abs(driftWeight(o.grid, i, o.eta));
    return Array.from({ length: k }, (_, l) =>
      l > 0 ? allocate(kappa, a, o.variance(l, at.sigma), o.costs[l]) : fixed ? 1 : allocate(kappa, a, coarsestVariance(o.variance(0, at.sigma), at.sigma), o.costs[0]),
    );
  });
}

/** A [step][level] table as the sampler's LevelProbabilities. */
export function fromTable(table: readonly (readonly number[])[]): LevelProbabilities {
  return (level, step) => table[step][level];
}

/**
 * Expected cost per sample of a run: sum over steps and levels of c_l P(level l is evaluated). Level l is needed
 * where B_l or B_{l+1} is up: with 'nested' coins P = max(p_l, p_{l+1}), with 'independent' 1 - (1 - p_l)(1 - p_{l+1});
 * B_1 is always up with coarsest 'fixed'.
 */
export function expectedCost(table: readonly (readonly number[])[], costs: readonly number[], coupling: Coupling = DEFAULT_COUPLING, coarsest: Coarsest = DEFAULT_COARSEST): number {
  const k = costs.length;
  let total = 0;
  for (const p of table) {
    for (let l = 0; l < k; l++) {
      const own = l === 0 && coarsest === 'fixed' ? 1 : p[l];
      const up = l + 1 < k ? p[l + 1] : 0;
      total += costs[l] * (coupling === 'nested' ? Math.max(own, up) : 1 - (1 - own) * (1 - up));
    }
  }
  return total;
}

/** The kappa whose schedule's expected cost is `budget` (bisection in log kappa); null if the budget is out of reach. */
export function scheduleForBudget(o: MlmcScheduleOptions, budget: number, coupling: Coupling = DEFAULT_COUPLING): { kappa: number; table: number[][]; cost: number } | null {
  let lo = 1e-12, hi = 1e12;
  const coarsest = o.coarsest ?? DEFAULT_COARSEST;
  const cost = (kappa: number) => expectedCost(mlmcSchedule(o, kappa), o.costs, coupling, coarsest);
  if (cost(lo) > budget || cost(hi) < budget) return null;
  for (let it = 0; it < 200; it++) {
    const mid = Math.sqrt(lo * hi);
    if (cost(mid) < budget) lo = mid;
    else hi = mid;
    if (hi / lo < 1 + 1e-9) break;
  }
  const table = mlmcSchedule(o, lo);
  return { kappa: lo, table, cost: expectedCost(table, o.costs, coupling, coarsest) };
}
