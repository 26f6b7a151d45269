// Float64 views of the exact models, for the reference ODE solution. The Denoiser interface moves Float32Array
// batches, which rounds both the state and D(y; sigma) to ~6e-8 relative on every call; an adaptive solver with
// rtol 1e-10 cannot converge through that noise. These twins evaluate the same formulas as src/models/gmm.ts and
// src/models/empirical.ts with float64 input and output. Browser-safe.
import type { Denoiser } from '../models/denoiser.js';
import { GaussianMixture } from '../models/gmm.js';
import type { GridPoint, Schedule } from '../schedules/schedule.js';
import { dotRows } from './linalg.js';

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

/** A model that offers its own float64 evaluation (duck-typed; e.g. a future `Denoiser.denoise64`). */
export interface Float64Capable {
  denoise64(y: Float64Array, rows: number, sigma: number): Float64Array | Promise<Float64Array>;
}

function hasDenoise64(m: unknown): m is Float64Capable {
  return typeof (m as Partial<Float64Capable>)?.denoise64 === 'function';
}

/**
 * Exact posterior mean of an isotropic Gaussian mixture in float64 (Bayes for a Gaussian-mixture prior under
 * Gaussian noise; Karras et al. 2022, eq. 2-3): D(y) = sum_k r_k(y) (s_k^2 y + sigma^2 mu_k) / (s_k^2 + sigma^2),
 * responsibilities r_k by log-sum-exp. The same formula as GaussianMixture.posterior, without float32 rounding.
 */
export function gmmField(g: GaussianMixture): Field {
  const { K, D, means, stds, weights } = g;
  const logW = Float64Array.from(weights, Math.log);
  const lr = new Float64Array(K);
  const inv2v = new Float64Array(K);
  const logNorm = new Float64Array(K);
  return {
    dim: D,
    precision: 'float64',
    sigmaFloor: 0,
    // y(sigma) of one component is analytic in sigma with singularities at +-i s_k (see the closed form in
    // reference.ts): the smallest std is where log-sigma steps stop paying.
    sigmaScale: Math.min(...stds),
    async denoise(y, rows, sigma) {
      const out = new Float64Array(rows * D);
      if (sigma === 0) {
        out.set(y.subarray(0, rows * D));
        return out;
      }
      const s2 = sigma * sigma;
      for (let k = 0; k < K; k++) {
        const v = stds[k] * stds[k] + s2;
        inv2v[k] = 0.5 / v;
        logNorm[k] = logW[k] - 0.5 * D * Math.log(v);
      }
      // Squared distances |y_b - mu_k|^2, four rows per pass over a mean.
      const d2 = new Float64Array(rows * K);
      let b0 = 0;
      for (; b0 + 3 < rows; b0 += 4) {
        const o0 = b0 * D, o1 = o0 + D, o2 = o1 + D, o3 = o2 + D;
        for (let k = 0; k < K; k++) {
          const mo = k * D;
          let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
          for (let i = 0; i < D; i++) {
            const m = means[mo + i];
            const e0 = y[o0 + i] - m, e1 = y[o1 + i] - m, e2 = y[o2 + i] - m, e3 = y[o3 + i] - m;
            a0 += e0 * e0;
            a1 += e1 * e1;
            a2 += e2 * e2;
            a3 += e3 * e3;
          }
          d2[b0 * K + k] = a0;
          d2[(b0 + 1) * K + k] = a1;
          d2[(b0 + 2) * K + k] = a2;
          d2[(b0 + 3) * K + k] = a3;
        }
      }
      for (; b0 < rows; b0++) {
        for (let k = 0; k < K; k++) {
          let a = 0;
          for (let i = 0; i < D; i++) {
            const e = y[b0 * D + i] - means[k * D + i];
            a += e * e;
          }
          d2[b0 * K + k] = a;
        }
      }
      for (let b = 0; b < rows; b++) {
        const off = b * D;
        let max = -Infinity;
        for (let k = 0; k < K; k++) {
          const l = logNorm[k] - d2[b * K + k] * inv2v[k];
          lr[k] = l;
          if (l > max) max = l;
        }
        let z = 0;
        for (let k = 0; k < K; k++) z += lr[k] = Math.exp(lr[k] - max);
        let skip = 0;
        for (let k = 0; k < K; k++) {
          lr[k] *= (2 * inv2v[k]) / z; // r_k / v_k
          skip += lr[k] * stds[k] * stds[k];
        }
        for (let i = 0; i < D; i++) out[off + i] = skip * y[off + i];
        for (let k = 0; k < K; k++) {
          const a = lr[k] * s2;
          if (a < 1e-20 * skip) continue; // negligible next to the skip term (|y| ~ |mu|)
          const mo = k * D;
          for (let i = 0; i < D; i++) out[off + i] += a * means[mo + i];
        }
      }
      return out;
    },
  };
}

/** Images below exp(-60) of the largest softmax weight are skipped (relative contribution < 1e-26). */
const LOGIT_CUTOFF = -60;

/**
 * Exact empirical denoiser (Karras et al. 2022, App. B.3, eq. 57) in float64: D(y) = sum_n softmax_n(-|y - Y_n|^2 /
 * (2 sigma^2)) Y_n, distances about the mean image c (|y - c|^2 drops out of the softmax), log-sum-exp. Both
 * products are blocked over four rows; the weighted sum runs over the transposed images when most weights are
 * non-zero and over the surviving images only when the softmax is sparse (small sigma).
 */
export function empiricalField(images: Float32Array, sampleShape: readonly number[]): Field {
  const dim = sampleShape.reduce((a, b) => a * b, 1);
  if (!(dim > 0) || images.length === 0 || images.length % dim !== 0) {
    throw new Error(`exact64.ts: images has ${images.length} values, expected a positive multiple of the sample size ${dim}`);
  }
  const count = images.length / dim;
  const center = new Float64Array(dim);
  for (let n = 0; n < count; n++) for (let d = 0; d < dim; d++) center[d] += images[n * dim + d];
  for (let d = 0; d < dim; d++) center[d] /= count;
  const centered = new Float64Array(count * dim);
  const transposed = new Float64Array(dim * count);
  const sqnorm = new Float64Array(count);
  for (let n = 0; n < count; n++) {
    let s = 0;
    for (let d = 0; d < dim; d++) {
      const v = images[n * dim + d] - center[d];
      centered[n * dim + d] = v;
      transposed[d * count + n] = v;
      s += v * v;
    }
    sqnorm[n] = s;
  }
  return {
    dim,
    precision: 'float64',
    sigmaFloor: 0,
    async denoise(y, rows, sigma) {
      const out = new Float64Array(rows * dim);
      if (sigma === 0) {
        out.set(y.subarray(0, rows * dim));
        return out;
      }
      const inv2var = 1 / (2 * sigma * sigma);
      const yc = new Float64Array(rows * dim);
      for (let r = 0; r < rows; r++) for (let d = 0; d < dim; d++) yc[r * dim + d] = y[r * dim + d] - center[d];
      // logits_rn = (2 yc_r . Yc_n - |Yc_n|^2) / (2 sigma^2), then weights exp(logit - max) (0 below the cutoff).
      const w = new Float64Array(rows * count);
      dotRows(yc, rows, centered, count, dim, w);
      const dense: number[] = [];
      for (let r = 0; r < rows; r++) {
        const lo = r * count;
        let max = -Infinity;
        for (let n = 0; n < count; n++) {
          const l = (2 * w[lo + n] - sqnorm[n]) * inv2var;
          w[lo + n] = l;
          if (l > max) max = l;
        }
        let total = 0, live = 0;
        for (let n = 0; n < count; n++) {
          const l = w[lo + n] - max;
          const e = l < LOGIT_CUTOFF ? 0 : Math.exp(l);
          w[lo + n] = e;
          total += e;
          if (e !== 0) live++;
        }
        const inv = 1 / total;
        for (let n = 0; n < count; n++) w[lo + n] *= inv;
        if (live * 8 > count) {
          dense.push(r);
          continue;
        }
        const off = r * dim;
        for (let n = 0; n < count; n++) {
          const wn = w[lo + n];
          if (wn === 0) continue;
          const io = n * dim;
          for (let d = 0; d < dim; d++) out[off + d] += wn * centered[io + d];
        }
      }
      if (dense.length > 0) {
        // out_r = W_r . Yc^T for the dense rows, four at a time.
        const m = dense.length;
        const wd = new Float64Array(m * count);
        dense.forEach((r, i) => wd.set(w.subarray(r * count, (r + 1) * count), i * count));
        const od = new Float64Array(m * dim);
        dotRows(wd, m, transposed, dim, count, od);
        dense.forEach((r, i) => out.set(od.subarray(i * dim, (i + 1) * dim), r * dim));
      }
      for (let r = 0; r < rows; r++) for (let d = 0; d < dim; d++) out[r * dim + d] += center[d];
      return out;
    },
  };
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
 * The most accurate field available for a model: its own denoise64, a float64 twin of an exact model (a
 * GaussianMixture, or the empirical denoiser over `images`), else the Denoiser through float32 batches.
 */
export function fieldFor(model: Denoiser, opts: FieldOptions = {}): Field {
  const dim = model.sampleShape.reduce((a, b) => a * b, 1);
  if (hasDenoise64(model)) {
    const m = model;
    return { dim, precision: 'float64', sigmaFloor: 0, denoise: async (y, rows, sigma) => m.denoise64(y, rows, sigma) };
  }
  if (model instanceof GaussianMixture) return gmmField(model);
  if (opts.images) {
    const f = empiricalField(opts.images, model.sampleShape);
    if (f.dim !== dim) throw new Error(`exact64.ts: images have sample size ${f.dim}, the model ${model.name} has ${dim}`);
    return f;
  }
  return denoiserField(model, opts.schedule);
}
