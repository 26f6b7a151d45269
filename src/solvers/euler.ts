// Euler's method on the probability-flow ODE in sigma (Karras et al. 2022, "Elucidating the Design Space of
// Diffusion-Based Generative Models", Algorithm 1 without the 2nd-order correction): dy/dsigma = (y - D(y; sigma)) / sigma.
// Also home of the small checks every solver of this family shares (options by name, a descending grid).
import { linComb, type Batch } from '../core/batch.js';
import type { GridPoint } from '../schedules/schedule.js';
import type { Solver, StepContext } from './solver.js';

/** Throws when `options` holds a key the solver does not know (a typo must not pass silently). */
export function rejectUnknownOptions(solver: string, options: object | undefined, known: readonly string[]): void {
  if (options === undefined || options === null) return;
  for (const k of Object.keys(options)) {
    if ((options as Record<string, unknown>)[k] === undefined) continue;
    if (!known.includes(k)) {
      const list = known.length ? known.map((s) => `'${s}'`).join(', ') : 'none';
      throw new Error(`solver ${solver}: unknown option '${k}'; expected one of: ${list}`);
    }
  }
}

/**
 * A grid of at least 2 points, sigma strictly decreasing, every sigma > 0 except possibly the last (= 0). The last
 * sigma may repeat the one before it (diffusers' Karras / lu-lambda grids with final_sigmas_type 'sigma_min' end
 * so); that step leaves y as it is.
 */
export function checkDescendingGrid(solver: string, grid: readonly GridPoint[]): void {
  if (grid.length < 2) throw new Error(`solver ${solver}: grid has ${grid.length} points; expected at least 2`);
  for (let i = 0; i < grid.length; i++) {
    const s = grid[i].sigma;
    const last = i === grid.length - 1;
    if (!(Number.isFinite(s) && (last ? s >= 0 : s > 0))) {
      throw new Error(`solver ${solver}: grid[${i}].sigma is ${s}; expected a finite number > 0${last ? ' (or 0 at the last point)' : ''}`);
    }
    if (i > 0 && !(s < grid[i - 1].sigma || (last && s === grid[i - 1].sigma))) {
      throw new Error(
        `solver ${solver}: grid[${i}].sigma = ${s} is not below grid[${i - 1}].sigma = ${grid[i - 1].sigma}; expected strictly decreasing sigma (a repeat only at the last point)`,
      );
    }
  }
}

/** Per-sample size of a batch (all axes after the first). */
export function perSample(y: Batch): number {
  return y.shape.length > 1 ? y.data.length / y.shape[0] : 1;
}

/** The data prediction at grid[i], with ctx.x0Transform applied to a copy (the model's own arrays stay as given). */
export async function denoise(ctx: StepContext, y: Batch, at: GridPoint): Promise<{ x0: Float32Array; eps: Float32Array }> {
  const p = await ctx.predict(y, at);
  if (!ctx.x0Transform) return p;
  const x0 = p.x0.slice();
  ctx.x0Transform(x0, perSample(y));
  return { x0, eps: p.eps };
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
    rejectUnknownOptions('euler', options, []);
    checkDescendingGrid('euler', grid);
  },
  init(_y, options) {
    rejectUnknownOptions('euler', options, []);
    return null;
  },
  async step(ctx, i, y, state) {
    const at = ctx.grid[i], next = ctx.grid[i + 1];
    const { x0 } = await denoise(ctx, y, at);
    const coefficients = eulerCoefficients(at.sigma, next.sigma);
    const vectors = [y.data, x0];
    const data = linComb(coefficients, vectors);
    return { y: { data, shape: y.shape }, state, update: { names: ['y', 'denoised'], vectors, coefficients } };
  },
};
