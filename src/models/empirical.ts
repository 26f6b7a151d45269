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
 * Empirical optimal denoiser (Karras et al. 2022, App. B.3, eq. 57) in plain TypeScript. Distances are computed
 * about the mean image c: |y - Y_n|^2 = |y - c|^2 - 2 (y - c).(Y_n - c) + |Y_n - c|^2 and the first term drops out
 * of the softmax; the row maximum is subtracted before exp (log-sum-exp). All in float64.
 */
export class TsEmpiricalDenoiser implements Denoiser {
  readonly sampleShape: number[];
  readonly name: string;
  readonly count: number;
  readonly dim: number;
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

  /** D(y, sigma) and eps = (y - D) / sigma for a flat batch; at sigma = 0, D = y and eps = 0. */
  denoise(y: Float32Array, sigma: number): Prediction {
    const { dim, count, centered, sqnorm, center } = this;
    if (y.length % dim !== 0) throw new Error(`empirical.ts: batch has ${y.length} values, not a multiple of the sample size ${dim}`);
    if (!(sigma >= 0)) throw new Error(`empirical.ts: sigma must be >= 0, got ${sigma}`);
    const rows = y.length / dim;
    const x0 = new Float32Array(y.length);
    const eps = new Float32Array(y.length);
    if (sigma === 0) {
      x0.set(y);
      return { x0, eps };
    }
    const inv2var = 1 / (2 * sigma * sigma);
    const yc = new Float64Array(ROWS * dim);
    const logits = new Float64Array(ROWS * count);
    const acc = new Float64Array(ROWS * dim);
    const dots = new Float64Array(ROWS);
    for (let r0 = 0; r0 < rows; r0 += ROWS) {
      const nr = Math.min(ROWS, rows - r0);
      for (let r = 0; r < nr; r++) {
        const off = (r0 + r) * dim;
        for (let d = 0; d < dim; d++) yc[r * dim + d] = y[off + d] - center[d];
      }
      // logits_n = (2 yc.Yc_n - |Yc_n|^2) / (2 sigma^2), for ROWS rows per pass over the images.
      for (let n = 0; n < count; n++) {
        const io = n * dim;
        dots.fill(0);
        for (let r = 0; r < nr; r++) {
          const ro = r * dim;
          let s0 = 0, s1 = 0, s2 = 0, s3 = 0, d = 0;
          for (; d + 3 < dim; d += 4) {
            s0 += yc[ro + d] * centered[io + d];
            s1 += yc[ro + d + 1] * centered[io + d + 1];
            s2 += yc[ro + d + 2] * centered[io + d + 2];
            s3 += yc[ro + d + 3] * centered[io + d + 3];
          }
          for (; d < dim; d++) s0 += yc[ro + d] * centered[io + d];
          logits[r * count + n] = (2 * (s0 + s1 + s2 + s3) - sqnorm[n]) * inv2var;
        }
      }
      acc.fill(0);
      for (let r = 0; r < nr; r++) {
        const lo = r * count;
        let max = -Infinity;
        for (let n = 0; n < count; n++) if (logits[lo + n] > max) max = logits[lo + n];
        let total = 0;
        const ao = r * dim;
        for (let n = 0; n < count; n++) {
          const l = logits[lo + n] - max;
          if (l < LOGIT_CUTOFF) continue;
          const w = Math.exp(l);
          total += w;
          const io = n * dim;
          for (let d = 0; d < dim; d++) acc[ao + d] += w * centered[io + d];
        }
        const off = (r0 + r) * dim;
        for (let d = 0; d < dim; d++) {
          const den = acc[ao + d] / total + center[d];
          x0[off + d] = den;
          eps[off + d] = (y[off + d] - den) / sigma;
        }
      }
    }
    return { x0, eps };
  }
}
