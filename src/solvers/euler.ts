// Euler's method on the probability-flow ODE in sigma (Karras et al. 2022, "Elucidating the Design Space of
// Diffusion-Based Generative Models", Algorithm 1 without the 2nd-order correction): dy/dsigma = (y - D(y; sigma)) / sigma.
// Also home of small helpers the single-step solvers share (per-sample size, the post-processed data prediction).
import { linCombChecked, type Batch } from '../core/batch.js';
import type { GridPoint } from '../schedules/schedule.js';
import type { Solver, StepContext } from './solver.js';
import { checkGrid, checkOptionKeys } from './checks.js';

/** Per-sample size of a batch (all axes after the first). */
export function perSample(y: Batch): number {
  return y.shape.length > 1 ? y.data.length / y.shape[0] : 1;
}

/**
 * The data prediction at grid[i], with ctx.x0Transform applied to a copy (the model's own arrays stay as given); eps
 * stays the model's, read on demand (a model may derive it from x0 in a pass of its own).
 */
export async function denoise(ctx: StepContext, y: Batch, at: GridPoint): Promise<{ x0: Float32Array; eps: Float32Array }> {
  const p = await ctx.predict(y, at);
  if (!ctx.x0Transform) return p;
  const x0 = p.x0.slice();
  ctx.x0Transform(x0, perSample(y));
  return { x0, get eps() { return p.eps; } };
}

/** Where a step's final combination goes: y.data itself when the caller lets the step overwrite its state, else a fresh array. */
export function stateOutput(ctx: StepContext, y: Batch): Float32Array | undefined {
  return ctx.mayOverwriteState ? y.data : undefined;
}

export type EulerOptions = Record<string, never>;

/**
 * Karras et al. 2022, Algorithm 1 (Euler, lines 4-5): y' = y + (sigma' - sigma) (y - D) / sigma, written as the
 * combination (sigma'/sigma) y + (1 - sigma'/sigma) D of the state and the data prediction.
 */
export function eulerCoefficients(sigma: number, sigmaNext: number): [number, number] {
  const r = sigmaNext / sigma;
  return [r, 1 - r];
}

export const euler: Solver<null, EulerOptions> = {
  info: {
    name: 'euler',
    order: 1,
    nfePerStep: 1,
    stochastic: false,
    reference: 'Karras et al. 2022, Elucidating the Design Space of Diffusion-Based Generative Models, Algorithm 1 (Euler step only)',
  },
  nfe(steps: number): number {
    return steps;
  },
  check(grid, _schedule, options) {
    checkOptionKeys('euler', options, []);
    checkGrid('euler', grid);
  },
  init(_y, options) {
    checkOptionKeys('euler', options, []);
    return null;
  },
  async step(ctx, i, y, state) {
    const at = ctx.grid[i], next = ctx.grid[i + 1];
    const { x0 } = await denoise(ctx, y, at);
    const coefficients = eulerCoefficients(at.sigma, next.sigma);
    const vectors = [y.data, x0];
    // Element-wise, so it may overwrite y.data (ctx.mayOverwriteState): each y[k] is read before it is written.
    const { data, firstNonFinite } = linCombChecked(coefficients, vectors, stateOutput(ctx, y));
    const update = ctx.mayOverwriteState ? undefined : { names: ['y', 'denoised'], vectors, coefficients };
    return { y: { data, shape: y.shape }, state, update, firstNonFinite };
  },
};
