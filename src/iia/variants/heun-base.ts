// What IIA-EDM and BIIA-EDM share: the base is EDM's deterministic Heun sampler (Karras et al. 2022, Algorithm 1;
// our `heun` with sChurn = 0), whose step i is y' = a y + b D + c D' on the atoms y, denoised = D(y; sigma_i),
// denoised_next = D(y_euler; sigma_{i+1}) (just y, denoised on the final Euler step to sigma = 0). The fine target
// is Heun over M sub-intervals of [sigma_i, sigma_{i+1}], uniform in sigma (IIA preprint eq. 12).
import type { Batch } from '../../core/batch.js';
import { heun, type HeunOptions, type HeunState } from '../../solvers/heun.js';
import type { StepContext } from '../../solvers/solver.js';
import { baseOverSubIntervals } from '../variant.js';

export function checkHeunOptions(name: string, options: HeunOptions | undefined): void {
  heun.init({ data: new Float32Array(0), shape: [0] }, options); // unknown keys and bad values
  if ((options?.sChurn ?? 0) !== 0) {
    throw new Error(`${name}: base option sChurn is ${options?.sChurn}; IIA needs the deterministic sampler (sChurn = 0)`);
  }
}

export function heunFineTarget(ctx: StepContext, i: number, y: Batch, state: HeunState, M: number, options: HeunOptions | undefined): Promise<Float32Array> {
  return baseOverSubIntervals(heun, ctx, i, y, state, M, options);
}
