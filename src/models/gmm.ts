// Isotropic Gaussian mixtures: an exact denoiser (the posterior mean under Gaussian noise), the mixture's log-density
// and exact samples with their mode labels. Browser-safe: parses an already-read JSON value.
import { z } from 'zod';
import type { Batch } from '../core/batch.js';
import { philox4x32, sampleNormals } from '../core/rng.js';
import type { GridPoint } from '../schedules/schedule.js';
import type { Denoiser, Prediction } from './denoiser.js';

/** Noise streams of exact sampling, far from the solvers' streams (0 = initial noise, i + 1 = step i). */
export const GMM_NORMAL_STREAM = 0xfffffff0;
export const GMM_MODE_STREAM = 0xfffffff1;

const positive = z.number({ error: 'expected a number' }).positive({ error: 'expected a number > 0' });

const GmmSchema = z
  .object({
    weights: z.array(positive, { error: 'expected an array of positive numbers' }).min(1, { error: 'expected at least one component (K >= 1)' }),
    means: z.array(z.array(z.number({ error: 'expected a finite number' }), { error: 'expected an array of numbers' }), {
      error: 'expected an array of K arrays of D numbers',
    }),
    stds: z.array(positive, { error: 'expected an array of positive numbers' }),
    /** Optional shape of one sample (product = D), e.g. [1, 8, 8]; default [D]. */
    shape: z.array(z.number().int().positive({ error: 'expected positive integers' })).optional(),
  })
  .superRefine((g, ctx) => {
    const K = g.weights.length;
    const sum = g.weights.reduce((a, b) => a + b, 0);
    if (Math.abs(sum - 1) > 1e-6) ctx.addIssue({ code: 'custom', path: ['weights'], message: `expected weights summing to 1 (within 1e-6), they sum to ${sum}` });
    if (g.means.length !== K) ctx.addIssue({ code: 'custom', path: ['means'], message: `expected K = ${K} means (one per weight), got ${g.means.length}` });
    if (g.stds.length !== K) ctx.addIssue({ code: 'custom', path: ['stds'], message: `expected K = ${K} stds (one per weight), got ${g.stds.length}` });
    const D = g.means[0]?.length ?? 0;
    if (D < 1) ctx.addIssue({ code: 'custom', path: ['means', 0], message: 'expected a mean of length D >= 1' });
    g.means.forEach((m, k) => {
      if (m.length !== D) ctx.addIssue({ code: 'custom', path: ['means', k], message: `expected length D = ${D} (as means[0]), got ${m.length}` });
    });
    if (g.shape && g.shape.reduce((a, b) => a * b, 1) !== D) {
      ctx.addIssue({ code: 'custom', path: ['shape'], message: `expected a shape whose product is D = ${D}, got [${g.shape}]` });
    }
  });

export type GmmSpec = z.infer<typeof GmmSchema>;

/** Validate a parsed JSON value as a mixture; errors name the file, the field path and what was expected. */
export function parseGmm(json: unknown, file: string): GmmSpec {
  const r = GmmSchema.safeParse(json);
  if (!r.success) {
    const lines = r.error.issues.slice(0, 8).map((i) => `${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`);
    throw new Error(`gmm.ts: invalid mixture in '${file}': ${lines.join('; ')}`);
  }
  return r.data;
}

export class GaussianMixture implements Denoiser {
  readonly K: number;
  readonly D: number;
  readonly sampleShape: number[];
  readonly name: string;
  readonly weights: Float64Array;
  /** K x D, row-major. */
  readonly means: Float64Array;
  readonly stds: Float64Array;
  private readonly logW: Float64Array;

  constructor(spec: GmmSpec, name = 'gmm') {
    this.K = spec.weights.length;
    this.D = spec.means[0].length;
    this.sampleShape = spec.shape ? [...spec.shape] : [this.D];
    this.name = name;
    this.weights = Float64Array.from(spec.weights);
    this.stds = Float64Array.from(spec.stds);
    this.means = new Float64Array(this.K * this.D);
    spec.means.forEach((m, k) => this.means.set(m, k * this.D));
    this.logW = this.weights.map(Math.log);
  }

  /**
   * Log responsibilities (unnormalised) of sample `x[off..off+D)` under the mixture convolved with N(0, sigma^2 I):
   * log w_k + log N(x; mu_k, (s_k^2 + sigma^2) I). Writes into `out`, returns the log-sum-exp.
   */
  private logJoint(x: ArrayLike<number>, off: number, sigma: number, out: Float64Array): number {
    const { K, D, means } = this;
    let max = -Infinity;
    for (let k = 0; k < K; k++) {
      const v = this.stds[k] * this.stds[k] + sigma * sigma;
      let d2 = 0;
      const mo = k * D;
      for (let i = 0; i < D; i++) {
        const d = x[off + i] - means[mo + i];
        d2 += d * d;
      }
      const l = this.logW[k] - 0.5 * D * Math.log(2 * Math.PI * v) - (0.5 * d2) / v;
      out[k] = l;
      if (l > max) max = l;
    }
    let s = 0;
    for (let k = 0; k < K; k++) s += Math.exp(out[k] - max);
    return max + Math.log(s);
  }

  async predict(y: Batch, at: GridPoint): Promise<Prediction> {
    return this.posterior(y.data, at.sigma);
  }

  /** The posterior mean (see posteriorInto) and eps, rounded to float32 once. */
  posterior(y: Float32Array, sigma: number): Prediction {
    if (y.length % this.D !== 0) throw new Error(`gmm.ts: batch has ${y.length} values, not a multiple of D = ${this.D}`);
    const x0 = new Float32Array(y.length);
    const eps = new Float32Array(y.length);
    this.posteriorInto(y, y.length / this.D, sigma, x0, eps);
    return { x0, eps };
  }

  /** The posterior mean of `rows` float64 states, in float64 (the field of the reference ODE solution). */
  denoise64(y: Float64Array, rows: number, sigma: number): Float64Array {
    const x0 = new Float64Array(rows * this.D);
    this.posteriorInto(y, rows, sigma, x0);
    return x0;
  }

  /**
   * Exact posterior mean D(y, sigma) = sum_k r_k(y) (s_k^2 y + sigma^2 mu_k) / (s_k^2 + sigma^2) (Bayes for a
   * Gaussian mixture prior and Gaussian noise; cf. Karras et al. 2022, eq. 2-3) of `rows` samples of `y`, in float64,
   * written to `x0` (rounded once if it is a Float32Array); responsibilities r_k by log-sum-exp. With `eps`, also
   * eps = (y - D) / sigma = sigma sum_k r_k (y - mu_k) / (s_k^2 + sigma^2), computed without cancellation. At sigma 0,
   * D = y and eps = 0. Without eps, components whose weight is below 1e-20 of the skip term are left out.
   */
  posteriorInto(y: ArrayLike<number>, rows: number, sigma: number, x0: Float32Array | Float64Array, eps?: Float32Array | Float64Array): void {
    const { K, D, means, stds } = this;
    const n = rows * D;
    if (!(Number.isInteger(rows) && rows >= 0) || y.length < n || x0.length < n || (eps && eps.length < n)) {
      throw new Error(`gmm.ts: expected ${rows} rows of D = ${D} values (y has ${y.length}, x0 ${x0.length}${eps ? `, eps ${eps.length}` : ''})`);
    }
    if (!(sigma >= 0)) throw new Error(`gmm.ts: sigma must be >= 0, got ${sigma}`);
    if (sigma === 0) {
      for (let i = 0; i < n; i++) x0[i] = y[i];
      eps?.fill(0, 0, n);
      return;
    }
    const s2 = sigma * sigma;
    const inv2v = new Float64Array(K);
    const logNorm = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      const v = stds[k] * stds[k] + s2;
      inv2v[k] = 0.5 / v;
      logNorm[k] = this.logW[k] - 0.5 * D * Math.log(v);
    }
    const d2 = this.sqDistances(y, rows);
    const a = new Float64Array(K); // r_k / v_k
    const acc = new Float64Array(D);
    const accEps = new Float64Array(eps ? D : 0);
    const tiny = eps ? 0 : 1e-20;
    for (let b = 0; b < rows; b++) {
      const off = b * D;
      let max = -Infinity;
      for (let k = 0; k < K; k++) {
        const l = logNorm[k] - d2[b * K + k] * inv2v[k];
        a[k] = l;
        if (l > max) max = l;
      }
      let z = 0;
      for (let k = 0; k < K; k++) z += a[k] = Math.exp(a[k] - max);
      let skip = 0; // sum_k r_k s_k^2 / v_k
      for (let k = 0; k < K; k++) {
        a[k] *= (2 * inv2v[k]) / z;
        skip += a[k] * stds[k] * stds[k];
      }
      for (let i = 0; i < D; i++) acc[i] = skip * y[off + i];
      if (eps) accEps.fill(0);
      for (let k = 0; k < K; k++) {
        const am = a[k] * s2;
        if (am === 0 || am < tiny * skip) continue; // negligible next to the skip term (|y| ~ |mu|)
        const mo = k * D;
        if (eps) {
          const ak = a[k];
          for (let i = 0; i < D; i++) {
            const m = means[mo + i];
            acc[i] += am * m;
            accEps[i] += ak * (y[off + i] - m);
          }
        } else {
          for (let i = 0; i < D; i++) acc[i] += am * means[mo + i];
        }
      }
      for (let i = 0; i < D; i++) x0[off + i] = acc[i];
      if (eps) for (let i = 0; i < D; i++) eps[off + i] = sigma * accEps[i];
    }
  }

  /** |y_b - mu_k|^2 for `rows` samples (rows x K, row-major), four samples per pass over a mean. */
  private sqDistances(y: ArrayLike<number>, rows: number): Float64Array {
    const { K, D, means } = this;
    const d2 = new Float64Array(rows * K);
    let b = 0;
    for (; b + 3 < rows; b += 4) {
      const o0 = b * D, o1 = o0 + D, o2 = o1 + D, o3 = o2 + D;
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
        d2[b * K + k] = a0;
        d2[(b + 1) * K + k] = a1;
        d2[(b + 2) * K + k] = a2;
        d2[(b + 3) * K + k] = a3;
      }
    }
    for (; b < rows; b++) {
      const o = b * D;
      for (let k = 0; k < K; k++) {
        const mo = k * D;
        let s = 0;
        for (let i = 0; i < D; i++) {
          const e = y[o + i] - means[mo + i];
          s += e * e;
        }
        d2[b * K + k] = s;
      }
    }
    return d2;
  }

  /** Log-density of each sample under the mixture convolved with N(0, sigma^2 I) (sigma = 0: the mixture itself). */
  logDensity(x: ArrayLike<number>, sigma = 0): Float64Array {
    const { D, K } = this;
    if (x.length % D !== 0) throw new Error(`gmm.ts: logDensity input has ${x.length} values, not a multiple of D = ${D}`);
    const n = x.length / D;
    const out = new Float64Array(n);
    const lr = new Float64Array(K);
    for (let b = 0; b < n; b++) out[b] = this.logJoint(x, b * D, sigma, lr);
    return out;
  }

  /** Most responsible mode of each sample (at noise level sigma; 0 = the clean mixture). */
  classify(x: ArrayLike<number>, sigma = 0): Int32Array {
    const { D, K } = this;
    const n = x.length / D;
    const out = new Int32Array(n);
    const lr = new Float64Array(K);
    for (let b = 0; b < n; b++) {
      this.logJoint(x, b * D, sigma, lr);
      let best = 0;
      for (let k = 1; k < K; k++) if (lr[k] > lr[best]) best = k;
      out[b] = best;
    }
    return out;
  }

  /**
   * Exact samples first..first+n-1 of `seed` and their mode labels. Sample j draws its mode from Philox stream
   * GMM_MODE_STREAM and its normals from GMM_NORMAL_STREAM (key (seed, j)), so it does not depend on n or first.
   */
  sampleExact(n: number, seed: number, first = 0): { data: Float32Array; labels: Int32Array; shape: number[] } {
    const { D, K, means } = this;
    const data = new Float32Array(n * D);
    const labels = new Int32Array(n);
    const z = new Float64Array(D);
    const cum = new Float64Array(K);
    let c = 0;
    for (let k = 0; k < K; k++) cum[k] = c += this.weights[k];
    for (let j = 0; j < n; j++) {
      const u = philox4x32([0, GMM_MODE_STREAM, 0, 0], [seed, first + j]);
      const uni = ((u[0] + (u[1] >>> 11) / 2097152 + 0.5 / 2097152) / 4294967296) * c;
      let k = 0;
      while (k < K - 1 && uni >= cum[k]) k++;
      labels[j] = k;
      sampleNormals(seed, first + j, D, GMM_NORMAL_STREAM, z);
      const s = this.stds[k];
      for (let i = 0; i < D; i++) data[j * D + i] = means[k * D + i] + s * z[i];
    }
    return { data, labels, shape: [n, ...this.sampleShape] };
  }
}

/** A mixture denoiser from a JSON value (validated). */
export function createGmmDenoiser(json: unknown, file: string, name = `gmm:${file}`): GaussianMixture {
  return new GaussianMixture(parseGmm(json, file), name);
}
