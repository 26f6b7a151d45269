// Shared pieces of the multistep solvers (UniPC, DEIS, PNDM, S-PNDM, iPNDM): the data/noise
// prediction with the x0 post-processing applied, Adams-Bashforth weights, Lagrange-basis integrals in log sigma
// (DEIS), a small dense linear solve (UniPC's rho coefficients), and the pseudo-linear "DDIM transfer" update
// written in the IIA paper's vectors (x0_hat, eps_tilde). Browser-safe: no Node imports.
import { linComb, linCombChecked, sampleSize, type Batch } from '../core/batch.js';
import { predictionFromX0 } from '../models/denoiser.js';
import type { GridPoint } from '../schedules/schedule.js';
import type { LinearUpdate, StepContext } from './solver.js';

export { checkBooleanOption, checkGrid, checkIntegerOption, checkOptionKeys } from './checks.js';

/** A model evaluation as the multistep solvers use it: data and noise prediction after the x0 post-processing. */
export interface Evaluation {
  x0: Float32Array;
  eps: Float32Array;
  /** As Prediction.epsInto: present when eps is derived from x0 on demand. */
  epsInto?(out: Float32Array): Float32Array;
}

/** eps arrays the solvers allocated themselves for a derived eps (so they may write over them); never a model's own. */
const OWN_EPS = new WeakSet<Float32Array>();

/**
 * The step's eps. Under sample() (ctx.mayOverwriteState), when the model derives eps from x0 (epsInto), it goes into
 * an array a solver allocated itself: `spare` (one that left the solver's history and is read by nothing else now)
 * when it is one, else a new one; a run then allocates a solver's history length of them, not one per step. Otherwise
 * the evaluation's own eps. The same values either way, bit for bit.
 */
export function stepEps(ctx: StepContext, ev: Evaluation, y: Batch, spare?: Float32Array): Float32Array {
  if (!ctx.mayOverwriteState || !ev.epsInto) return ev.eps;
  const into = spare && OWN_EPS.has(spare) && spare !== y.data ? spare : new Float32Array(y.data.length);
  OWN_EPS.add(into);
  return ev.epsInto(into);
}

/**
 * One model call through ctx.predict; when ctx.x0Transform is set (diffusers clip_sample / thresholding), x0 is
 * post-processed on a copy and eps recomputed from it, eps = (y - x0) / sigma (Karras et al. 2022, eq. 4), as
 * diffusers' convert_model_output does.
 */
export async function evaluate(ctx: StepContext, y: Batch, at: GridPoint): Promise<Evaluation> {
  const p = await ctx.predict(y, at);
  // eps stays lazy (as the model's own): a solver that only reads x0 spends no pass on it.
  if (!ctx.x0Transform) return p;
  const x0 = p.x0.slice();
  ctx.x0Transform(x0, sampleSize(y.shape));
  if (!(at.sigma > 0)) return { x0, get eps() { return p.eps; } };
  return predictionFromX0(y.data, x0, at.sigma);
}

/** Adams-Bashforth weights of order 1-4, most recent first (Liu et al. 2022, PNDM, eq. 12; Hairer et al. III.1). */
export const ADAMS_BASHFORTH: readonly (readonly number[])[] = [
  [1],
  [3 / 2, -1 / 2],
  [23 / 12, -16 / 12, 5 / 12],
  [55 / 24, -59 / 24, 37 / 24, -9 / 24],
];

/**
 * The pseudo-linear update of PNDM-type solvers with the DDIM transfer, in the IIA paper's vectors
 * (Zhang et al. 2023, IIA, App. G Alg. 3-4): x0_hat = y - sigma_s eps_tilde, y_{i+1} = x0_hat + sigma_t eps_tilde.
 * `history` adds the previous step's (x0_hat, eps_tilde) with coefficient 0: IIA-SPNDM/IPNDM re-weight their
 * differences. `scale` multiplies the result (diffusers' hand-over of a sample that landed off the grid:
 * alpha_landed / alpha_next). The returned y is exactly the update's combination, checked for NaN/Inf in its pass.
 * `out`: arrays to form x0_hat and y in (y may be the input's data: x0_hat is formed first).
 */
export function transferUpdate(
  y: Batch,
  from: GridPoint,
  to: GridPoint,
  epsTilde: Float32Array,
  history?: { x0Hat: Float32Array; epsTilde: Float32Array },
  scale = 1,
  out?: { x0Hat?: Float32Array; y?: Float32Array },
): { y: Batch; x0Hat: Float32Array; update: LinearUpdate; firstNonFinite: number } {
  const x0Hat = linComb([1, -from.sigma], [y.data, epsTilde], out?.x0Hat);
  const update: LinearUpdate = { names: ['x0_hat', 'eps_tilde'], vectors: [x0Hat, epsTilde], coefficients: [scale, scale * to.sigma] };
  if (history) {
    update.names.push('x0_hat_prev', 'eps_tilde_prev');
    update.vectors.push(history.x0Hat, history.epsTilde);
    update.coefficients.push(0, 0);
  }
  const { data, firstNonFinite } = linCombChecked(update.coefficients.slice(0, 2), update.vectors.slice(0, 2), out?.y);
  return { y: { data, shape: [...y.shape] }, x0Hat, update, firstNonFinite };
}

/** Combination of vectors with weights (into `out`, else a fresh array); a single vector with weight 1 is returned as is. */
export function combine(weights: readonly number[], vectors: readonly Float32Array[], out?: Float32Array): Float32Array {
  if (weights.length === 1 && weights[0] === 1) return vectors[0];
  return linComb(weights, vectors, out);
}

// ---------------------------------------------------------------------------------------------------------------
// Polynomials (coefficients lowest degree first) and Lagrange bases, for DEIS

function polyMulLinear(p: number[], root: number, scale: number): number[] {
  // p(u) * (u - root) * scale
  const out = new Array<number>(p.length + 1).fill(0);
  for (let k = 0; k < p.length; k++) {
    out[k + 1] += p[k] * scale;
    out[k] -= p[k] * root * scale;
  }
  return out;
}

/** Lagrange basis polynomial l_j(u) = prod_{k != j} (u - u_k) / (u_j - u_k), coefficients lowest degree first. */
export function lagrangeBasis(nodes: readonly number[], j: number): number[] {
  let p = [1];
  for (let k = 0; k < nodes.length; k++) {
    if (k === j) continue;
    const d = nodes[j] - nodes[k];
    if (d === 0) throw new Error(`lagrangeBasis: nodes ${j} and ${k} coincide (${nodes[j]})`);
    p = polyMulLinear(p, nodes[k], 1 / d);
  }
  return p;
}

function polyEval(p: readonly number[], u: number): number {
  let s = 0;
  for (let k = p.length - 1; k >= 0; k--) s = s * u + p[k];
  return s;
}

function polyDerivative(p: readonly number[]): number[] {
  const out: number[] = [];
  for (let k = 1; k < p.length; k++) out.push(k * p[k]);
  return out;
}

/**
 * Antiderivative in rho of p(log rho): with u = log rho, int p(u) e^u du = e^u (p - p' + p'' - ...). At rho = 0
 * it is 0 (the limit rho p(log rho) -> 0), so integrals may end at sigma = 0.
 */
export function logPolyAntiderivative(p: readonly number[], rho: number): number {
  if (rho === 0) return 0;
  const u = Math.log(rho);
  let q: number[] = [...p];
  let s = 0;
  let sign = 1;
  while (q.length > 0) {
    s += sign * polyEval(q, u);
    q = polyDerivative(q);
    sign = -sign;
  }
  return rho * s;
}

/**
 * Weights c_j = int_{rho_s}^{rho_t} l_j(log rho) d rho of the Lagrange basis through log(rho_k): DEIS's exponential
 * integrator with polynomial extrapolation of eps in log rho (Zhang & Chen 2022, DEIS, eq. 14-15; diffusers
 * DEISMultistepScheduler 'logrho'). In y-space: y_t = y_s + sum_j c_j eps_j.
 */
export function logRhoLagrangeWeights(rhoS: number, rhoT: number, nodes: readonly number[]): number[] {
  const logs = nodes.map((r) => Math.log(r));
  return logs.map((_, j) => {
    if (rhoS === rhoT) return 0;
    const p = lagrangeBasis(logs, j);
    return logPolyAntiderivative(p, rhoT) - logPolyAntiderivative(p, rhoS);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Dense linear algebra (tiny systems)

/** Solves A x = b (n <= ~5) by Gaussian elimination with partial pivoting, in float64. */
export function solveLinear(A: readonly (readonly number[])[], b: readonly number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[piv][c])) piv = r;
    if (M[piv][c] === 0) throw new Error('solveLinear: singular matrix (coinciding grid points?)');
    [M[c], M[piv]] = [M[piv], M[c]];
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c];
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r][n];
    for (let k = r + 1; k < n; k++) s -= M[r][k] * x[k];
    x[r] = s / M[r][r];
  }
  return x;
}
