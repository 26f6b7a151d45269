// SDEdit (Meng et al. 2022, "SDEdit: Guided Image Synthesis and Editing with Stochastic Differential Equations",
// Sec. 3): perturb the guide image to an intermediate noise level sigma(t0) and integrate the reverse process from
// there to 0 with any solver. t0 is given as a strength in (0, 1], as diffusers' img2img pipelines do: of an N-step
// grid, the run takes the last floor(N * strength) steps. Browser-safe.
import type { Batch } from '../core/batch.js';
import { sampleNormals } from '../core/rng.js';
import type { Denoiser } from '../models/denoiser.js';
import { sample, type SampleResult } from '../sample.js';
import type { GridPoint, Schedule } from '../schedules/schedule.js';
import type { Solver } from '../solvers/solver.js';

/**
 * The part of a full grid an SDEdit run of this strength walks: diffusers' img2img `get_timesteps`
 * (init_timestep = int(N * strength), t_start = N - init_timestep), i.e. grid[N - floor(N * strength) ..].
 */
export function sdeditGrid(grid: readonly GridPoint[], strength: number): GridPoint[] {
  const steps = grid.length - 1;
  if (steps < 1) throw new Error('sdedit.ts: the grid needs at least 2 points (1 step)');
  if (!(typeof strength === 'number' && strength > 0 && strength <= 1)) {
    throw new Error(`sdedit.ts: strength is ${strength}; expected a number in (0, 1]`);
  }
  const run = Math.floor(steps * strength);
  if (run < 1) {
    throw new Error(`sdedit.ts: strength ${strength} of ${steps} steps leaves ${run} steps; expected at least 1 (raise the strength or the step count)`);
  }
  return grid.slice(steps - run);
}

/**
 * The SDEdit start y = x + sigma z (EDM-normalised, y = x / alpha), z the initial noise of sample `index` of `seed`
 * (stream 0, as `sample` draws it), in float64 then rounded. Two images share z, so their starts differ exactly
 * where the images do.
 */
export function sdeditStart(image: Float32Array, sigma: number, seed: number, index = 0): Float32Array {
  const z = sampleNormals(seed, index, image.length, 0);
  const out = new Float32Array(image.length);
  for (let i = 0; i < image.length; i++) out[i] = image[i] + sigma * z[i];
  return out;
}

export interface SdeditRunOptions {
  model: Denoiser;
  solver: Solver<any, any>;
  /** The grid of the run itself (sdeditGrid of the full grid): it starts at the SDEdit noise level. */
  grid: readonly GridPoint[];
  schedule: Schedule;
  /** One image of the model's sample shape, pixels in the model's data range ([-1, 1] for images). */
  image: Float32Array;
  /** Seed of the perturbation noise and of stochastic solvers (uint32, default 0). */
  seed?: number;
  solverOptions?: Record<string, unknown>;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** One SDEdit run: perturb `image` to grid[0].sigma with seeded noise, integrate to the end of the grid. */
export async function runSdedit(o: SdeditRunOptions): Promise<SampleResult> {
  const shape = o.model.sampleShape;
  const d = shape.reduce((a, b) => a * b, 1);
  if (o.image.length !== d) throw new Error(`sdedit.ts: the image has ${o.image.length} values; the model's sample shape [${shape}] needs ${d}`);
  const seed = o.seed ?? 0;
  const noise: Batch = { data: sdeditStart(o.image, o.grid[0].sigma, seed), shape: [1, ...shape] };
  return sample({
    model: o.model,
    solver: o.solver,
    grid: o.grid,
    schedule: o.schedule,
    n: 1,
    seed,
    batch: 1,
    noise,
    // The state in and out is y itself: the start is built in y, and y = x0 at the end of the run.
    stateScaling: 'none',
    solverOptions: o.solverOptions,
    signal: o.signal,
    onProgress: o.onProgress,
  });
}
