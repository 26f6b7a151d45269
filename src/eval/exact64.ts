// Float64 views of the models, for the reference ODE solution. The Denoiser interface moves Float32Array batches,
// which rounds both the state and D(y; sigma) to ~6e-8 relative on every call; an adaptive solver with rtol 1e-10
// cannot converge through that noise. The exact models evaluate in float64 themselves (GaussianMixture and
// TsEmpiricalDenoiser.denoise64, the code their float32 `predict` runs); this file only wraps them as Fields.
// Browser-safe.
import type { Denoiser } from '../models/denoiser.js';
import { TsEmpiricalDenoiser } from '../models/empirical.js';
import { GaussianMixture } from '../models/gmm.js';
import type { GridPoint, Schedule } from '../schedules/schedule.js';

/** D(y; sigma) on float64 states: the vector field the reference solver integrates. */
export interface Field {
  /** Values per sample. */
  readonly dim: number;
  /** 'float64': exact in double precision; 'float32': a Denoiser seen through Float32Array batches. */
  readonly precision: 'float64' | 'float32';
  /** Smallest sigma the model may be evaluated at (0 for exact models). */
  readonly sigmaFloor: number;
  /** Noise level below which the solution stops changing on the log scale (the reference's asinh variable scale). */
  readonly sigmaScale?: number;
  /** Data prediction for `rows` states stored row-major in `y` (rows * dim values). */
  denoise(y: Float64Array, rows: number, sigma: number): Promise<Float64Array>;
}

/** A model that offers its own float64 evaluation (duck-typed: GaussianMixture, TsEmpiricalDenoiser, ...). */
export interface Float64Capable {
  denoise64(y: Float64Array, rows: number, sigma: number): Float64Array | Promise<Float64Array>;
}

function hasDenoise64(m: unknown): m is Float64Capable {
  return typeof (m as Partial<Float64Capable>)?.denoise64 === 'function';
}

/** A float64 evaluation as a Field. */
function float64Field(m: Float64Capable, dim: number, sigmaScale?: number): Field {
  return { dim, precision: 'float64', sigmaFloor: 0, sigmaScale, denoise: async (y, rows, sigma) => m.denoise64(y, rows, sigma) };
}

/** The exact posterior mean of a Gaussian mixture in float64 (GaussianMixture.denoise64). */
export function gmmField(g: GaussianMixture): Field {
  // y(sigma) of one component is analytic in sigma with singularities at +-i s_k (see the closed form in
  // reference.ts): the smallest std is where log-sigma steps stop paying.
  return float64Field(g, g.D, Math.min(...g.stds));
}

/** The exact empirical denoiser over `images` in float64 (TsEmpiricalDenoiser.denoise64). */
export function empiricalField(images: Float32Array, sampleShape: readonly number[]): Field {
  const m = new TsEmpiricalDenoiser(images, sampleShape);
  return float64Field(m, m.dim);
}

/**
 * Any Denoiser as a Field: states rounded to float32 for `predict`, the answer widened back. Its precision is
 * 'float32' and the reference built on it is limited accordingly. Grid points come from `schedule` (so networks
 * see their own t and alpha); without one, the EDM point {sigma, t: sigma, alpha: 1}.
 */
export function denoiserField(model: Denoiser, schedule?: Schedule): Field {
  const dim = model.sampleShape.reduce((a, b) => a * b, 1);
  const point = (sigma: number): GridPoint => (schedule ? schedule.pointAtSigma(sigma) : { sigma, t: sigma, alpha: 1 });
  return {
    dim,
    precision: 'float32',
    sigmaFloor: schedule?.sigmaMin ?? 0,
    async denoise(y, rows, sigma) {
      const y32 = new Float32Array(rows * dim);
      for (let i = 0; i < y32.length; i++) y32[i] = y[i];
      const p = await model.predict({ data: y32, shape: [rows, ...model.sampleShape] }, point(sigma));
      return Float64Array.from(p.x0);
    },
  };
}

export interface FieldOptions {
  /** The run's schedule (network models are evaluated at its grid points and not below its sigmaMin). */
  schedule?: Schedule;
  /** Training images of an exact empirical model (data:), to evaluate it in float64. */
  images?: Float32Array;
}

/**
 * The most accurate field available for a model: its own denoise64 (a GaussianMixture, the TypeScript empirical
 * denoiser, any Float64Capable model), the empirical denoiser over `images` in float64 (data: models on other
 * back-ends), else the Denoiser through float32 batches.
 */
export function fieldFor(model: Denoiser, opts: FieldOptions = {}): Field {
  const dim = model.sampleShape.reduce((a, b) => a * b, 1);
  if (model instanceof GaussianMixture) return gmmField(model);
  if (hasDenoise64(model)) return float64Field(model, dim);
  if (opts.images) {
    const f = empiricalField(opts.images, model.sampleShape);
    if (f.dim !== dim) throw new Error(`exact64.ts: images have sample size ${f.dim}, the model ${model.name} has ${dim}`);
    return f;
  }
  return denoiserField(model, opts.schedule);
}
