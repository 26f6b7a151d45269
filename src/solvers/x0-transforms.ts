// The x0 post-processing diffusers applies to a step's data prediction: clip_sample (a fixed range) and dynamic
// thresholding (a per-sample quantile of |x0|). Both act in place on a batch of x0 (sampleSize values per sample).
import type { X0Transform } from './solver.js';

function checkPositive(where: string, field: string, v: number): void {
  if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) {
    throw new Error(`${where}: ${field} is ${String(v)}; expected a finite number > 0`);
  }
}

/** diffusers clip_sample: x0 clamped to [-range, range] (clip_sample_range, default 1). */
export function clipSample(range = 1): X0Transform {
  checkPositive('clipSample', 'clip_sample_range', range);
  return (x0: Float32Array): void => {
    for (let i = 0; i < x0.length; i++) {
      const v = x0[i];
      if (v > range) x0[i] = range;
      else if (v < -range) x0[i] = -range;
    }
  };
}

/** torch.quantile(v, q) with its default linear interpolation; sorts `v` in place. */
export function quantileLinear(v: Float32Array | Float64Array, q: number): number {
  v.sort();
  const pos = q * (v.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, v.length - 1);
  const w = pos - lo;
  return v[lo] + w * (v[hi] - v[lo]);
}

export interface DynamicThresholdOptions {
  /** diffusers dynamic_thresholding_ratio: the quantile of |x0| per sample (default 0.995). */
  ratio?: number;
  /** diffusers sample_max_value: the largest threshold s (default 1). */
  maxValue?: number;
}

/**
 * Saharia et al. 2022 (Imagen), Sec. 2.3 "dynamic thresholding", as diffusers' _threshold_sample: per sample,
 * s = clamp(quantile(|x0|, ratio), 1, maxValue); x0 <- clamp(x0, -s, s) / s.
 */
export function dynamicThreshold(opts: DynamicThresholdOptions = {}): X0Transform {
  const ratio = opts.ratio ?? 0.995;
  const maxValue = opts.maxValue ?? 1;
  if (!(typeof ratio === 'number' && ratio >= 0 && ratio <= 1)) {
    throw new Error(`dynamicThreshold: dynamic_thresholding_ratio is ${String(ratio)}; expected a number in [0, 1]`);
  }
  checkPositive('dynamicThreshold', 'sample_max_value', maxValue);
  return (x0: Float32Array, sampleSize: number): void => {
    if (!(Number.isInteger(sampleSize) && sampleSize > 0 && x0.length % sampleSize === 0)) {
      throw new Error(`dynamicThreshold: sample size ${sampleSize} does not divide the batch of ${x0.length} values`);
    }
    const abs = new Float32Array(sampleSize);
    for (let off = 0; off < x0.length; off += sampleSize) {
      for (let i = 0; i < sampleSize; i++) abs[i] = Math.abs(x0[off + i]);
      const q = quantileLinear(abs, ratio);
      // torch.clamp(s, min=1, max=maxValue): min first, then max (so maxValue < 1 wins).
      const s = Math.fround(Math.min(Math.max(q, 1), maxValue));
      for (let i = 0; i < sampleSize; i++) {
        const v = Math.min(Math.max(x0[off + i], -s), s);
        x0[off + i] = v / s;
      }
    }
  };
}
