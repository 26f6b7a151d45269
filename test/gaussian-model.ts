// The closed-form Gaussian model the solver tests share: data N(0, diag(s^2)) gives D(y; sigma) = y s^2 / (s^2 +
// sigma^2) and eps = y sigma / (s^2 + sigma^2) exactly (Karras et al. 2022, eq. 3 for a Gaussian), and the exact
// probability-flow ODE solution y(sigma) = y(T) sqrt(sigma^2 + s^2) / sqrt(T^2 + s^2).
import type { Batch } from '../src/core/batch.js';
import type { Denoiser } from '../src/models/denoiser.js';
import type { GridPoint } from '../src/schedules/schedule.js';

/** `stds`: one data std for every coordinate, or one per coordinate (then dim = stds.length). */
export function gaussianDenoiser(stds: number | readonly number[], dim = typeof stds === 'number' ? 4 : stds.length, counter?: { calls: number }): Denoiser {
  const s = typeof stds === 'number' ? [stds] : stds;
  return {
    sampleShape: [dim],
    name: 'gaussian',
    async predict(y: Batch, at: GridPoint) {
      if (counter) counter.calls++;
      const n = y.data.length;
      const x0 = new Float32Array(n), eps = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const s2 = s[(i % dim) % s.length] ** 2, v = s2 + at.sigma * at.sigma;
        x0[i] = (y.data[i] * s2) / v;
        eps[i] = (y.data[i] * at.sigma) / v;
      }
      return { x0, eps };
    },
  };
}
