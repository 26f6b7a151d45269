// The exact optimal denoiser of an empirical data distribution (a finite set of images): the posterior mean
// D(y, sigma) = sum_n softmax_n(-|y - Y_n|^2 / (2 sigma^2)) Y_n. Plain TypeScript back-end, float64 arithmetic.
// Browser-safe.
import type { Batch } from '../core/batch.js';
import type { GridPoint } from '../schedules/schedule.js';
import type { Denoiser, Prediction } from './denoiser.js';

/** Images below exp(-60) of the largest weight are skipped (relative contribution < 1e-26). */
const LOGIT_CUTOFF = -60;
/** Rows of y processed together, so each image is read once per group. */
const ROWS = 4;

export function checkImages(images: Float32Array, sampleShape: readonly number[], where: string): { count: number; dim: number } {
  const dim = sampleShape.reduce((a, b) => a * b, 1);
  if (!(dim > 0) || sampleShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`${where}: sampleShape must be positive integers, got [${sampleShape}]`);
  }
  if (images.length === 0 || images.length % dim !== 0) {
    throw new Error(`${where}: images has ${images.length} values, expected a positive multiple of the sample size ${dim}`);
  }
  return { count: images.length / dim, dim };
}

/** Mean image in float64, rounded to float32 (the centring point of both back-ends). */
export function meanImage(images: Float32Array, count: number, dim: number): Float32Array {
  const acc = new Float64Array(dim);
  for (let n = 0; n < count; n++) {
    const off = n * dim;
    for (let d = 0; d < dim; d++) acc[d] += images[off + d];
  }
  const out = new Float32Array(dim);
  for (let d = 0; d < dim; d++) out[d] = acc[d] / count;
  return out;
}

export interface EmpiricalOptions {
  name?: string;
}

/**
 * Empirical optimal denoiser (Karras et al. 2022, App. B.3, eq. 57) in plain TypeScript, float64 inside. Distances
 * are computed about the mean image c: |y - Y_n|^2 = |y - c|^2 - 2 (y - c).(Y_n - c) + |Y_n - c|^2 and the first term
 * drops out of the softmax; the row maximum is subtracted before exp (log-sum-exp). `denoise64` is the same
 * evaluation without float32 rounding of the input or the output (the field of the reference ODE solution).
 */
export class TsEmpiricalDenoiser implements Denoiser {
  readonly sampleShape: number[];
  readonly name: string;
  readonly count: number;
  readonly dim: number;
  /** Y_n - c, count x dim (exact: both are float32). */
  private readonly centered: Float64Array;
  private readonly sqnorm: Float64Array;
  private readonly center: Float32Array;

  constructor(images: Float32Array, sampleShape: readonly number[], opts: EmpiricalOptions = {}) {
    const { count, dim } = checkImages(images, sampleShape, 'empirical.ts');
    this.sampleShape = [...sampleShape];
    this.name = opts.name ?? `empirical(${count})`;
    this.count = count;
    this.dim = dim;
    this.center = meanImage(images, count, dim);
    this.centered = new Float64Array(count * dim);
    this.sqnorm = new Float64Array(count);
    for (let n = 0; n < count; n++) {
      let s = 0;
      for (let d = 0; d < dim; d++) {
        const v = images[n * dim + d] - this.center[d];
        this.centered[n * dim + d] = v;
        s += v * v;
      }
      this.sqnorm[n] = s;
    }
  }

  async predict(y: Batch, at: GridPoint): Promise<Prediction> {
    return this.denoise(y.data, at.sigma);
  }

  /** D(y, sigma) and eps = (y - D) / sigma for a flat batch, each rounded to float32 once; at sigma = 0, D = y, eps = 0. */
  denoise(y: Float32Array, sigma: number): Prediction {
    if (y.length % this.dim !== 0) throw new Error(`empirical.ts: batch has ${y.length} values, not a multiple of the sample size ${this.dim}`);
    const x0 = new Float32Array(y.length);
    const eps = new Float32Array(y.length);
    this.denoiseInto(y, y.length / this.dim, sigma, x0, eps);
    return { x0, eps };
  }

  /** D(y, sigma) of `rows` float64 states, in float64. */
  denoise64(y: Float64Array, rows: number, sigma: number): Float64Array {
    const x0 = new Float64Array(rows * this.dim);
    this.denoiseInto(y, rows, sigma, x0);
    return x0;
  }

  /**
   * D(y, sigma) = sum_n softmax_n(-|y - Y_n|^2 / (2 sigma^2)) Y_n for `rows` samples of `y` in float64, written to
   * `x0` (and eps = (y - D) / sigma to `eps`). Images below exp(LOGIT_CUTOFF) of the largest weight are skipped. Four
   * rows share each read of an image, in both the logits and the weighted sum; every sum runs in the same order
   * for every row, so a sample's result does not depend on the batch it comes in.
   */
  denoiseInto(y: ArrayLike<number>, rows: number, sigma: number, x0: Float32Array | Float64Array, eps?: Float32Array | Float64Array): void {
    const { dim, count, centered, sqnorm, center } = this;
    const n = rows * dim;
    if (!(Number.isInteger(rows) && rows >= 0) || y.length < n || x0.length < n || (eps && eps.length < n)) {
      throw new Error(`empirical.ts: expected ${rows} rows of ${dim} values (y has ${y.length}, x0 ${x0.length}${eps ? `, eps ${eps.length}` : ''})`);
    }
    if (!(sigma >= 0)) throw new Error(`empirical.ts: sigma must be >= 0, got ${sigma}`);
    if (sigma === 0) {
      for (let i = 0; i < n; i++) x0[i] = y[i];
      eps?.fill(0, 0, n);
      return;
    }
    const inv2var = 1 / (2 * sigma * sigma);
    const yc = new Float64Array(ROWS * dim);
    const w = new Float64Array(ROWS * count);
    const acc = new Float64Array(ROWS * dim);
    const total = new Float64Array(ROWS);
    for (let r0 = 0; r0 < rows; r0 += ROWS) {
      const nr = Math.min(ROWS, rows - r0);
      for (let r = 0; r < nr; r++) for (let d = 0; d < dim; d++) yc[r * dim + d] = y[(r0 + r) * dim + d] - center[d];
      // logits_n = (2 yc.Yc_n - |Yc_n|^2) / (2 sigma^2).
      if (nr === ROWS) {
        for (let j = 0; j < count; j++) {
          const io = j * dim;
          let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
          for (let d = 0; d < dim; d++) {
            const v = centered[io + d];
            s0 += yc[d] * v;
            s1 += yc[dim + d] * v;
            s2 += yc[2 * dim + d] * v;
            s3 += yc[3 * dim + d] * v;
          }
          w[j] = (2 * s0 - sqnorm[j]) * inv2var;
          w[count + j] = (2 * s1 - sqnorm[j]) * inv2var;
          w[2 * count + j] = (2 * s2 - sqnorm[j]) * inv2var;
          w[3 * count + j] = (2 * s3 - sqnorm[j]) * inv2var;
        }
      } else {
        for (let r = 0; r < nr; r++) {
          const ro = r * dim;
          for (let j = 0; j < count; j++) {
            const io = j * dim;
            let s = 0;
            for (let d = 0; d < dim; d++) s += yc[ro + d] * centered[io + d];
            w[r * count + j] = (2 * s - sqnorm[j]) * inv2var;
          }
        }
      }
      // Weights exp(logit - max), 0 below the cutoff.
      let dense = false;
      for (let r = 0; r < nr; r++) {
        const lo = r * count;
        let max = -Infinity;
        for (let j = 0; j < count; j++) if (w[lo + j] > max) max = w[lo + j];
        let t = 0, live = 0;
        for (let j = 0; j < count; j++) {
          const l = w[lo + j] - max;
          const e = l < LOGIT_CUTOFF ? 0 : Math.exp(l);
          w[lo + j] = e;
          t += e;
          if (e !== 0) live++;
        }
        total[r] = t;
        if (live * 8 > count) dense = true;
      }
      // acc_r = sum_n w_rn Yc_n, n ascending. Dense groups of four rows share each read of an image; otherwise each
      // row visits its live images only (the zero weights it skips would add exact zeros).
      acc.fill(0);
      if (dense && nr === ROWS) {
        for (let j = 0; j < count; j++) {
          const w0 = w[j], w1 = w[count + j], w2 = w[2 * count + j], w3 = w[3 * count + j];
          const io = j * dim;
          for (let d = 0; d < dim; d++) {
            const v = centered[io + d];
            acc[d] += w0 * v;
            acc[dim + d] += w1 * v;
            acc[2 * dim + d] += w2 * v;
            acc[3 * dim + d] += w3 * v;
          }
        }
      } else {
        for (let r = 0; r < nr; r++) {
          const lo = r * count, ao = r * dim;
          for (let j = 0; j < count; j++) {
            const wj = w[lo + j];
            if (wj === 0) continue;
            const io = j * dim;
            for (let d = 0; d < dim; d++) acc[ao + d] += wj * centered[io + d];
          }
        }
      }
      for (let r = 0; r < nr; r++) {
        const off = (r0 + r) * dim, ao = r * dim;
        const t = total[r];
        for (let d = 0; d < dim; d++) {
          const den = acc[ao + d] / t + center[d];
          x0[off + d] = den;
          if (eps) eps[off + d] = (y[off + d] - den) / sigma;
        }
      }
    }
  }
}
