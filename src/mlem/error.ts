// How far a denoiser is from a reference (the exact empirical denoiser): RMS per pixel of D(y; sigma) - D*(y; sigma)
// over noisy data points y = Y_n + sigma z, at given noise levels, with n and z from Philox streams that no training
// run used (keyed by `seed`, stream 0x45525200 + sigma index). Browser-safe.
import { philox4x32, sampleNormals } from '../core/rng.js';
import type { Denoiser } from '../models/denoiser.js';

export interface ErrorProbe {
  /** Noise levels of the probe points. */
  sigmas: number[];
  /** Points per noise level, [sigmas.length][perSigma * dim]. */
  points: Float32Array[];
  dim: number;
  perSigma: number;
}

const STREAM = 0x45525200; // "ER"

/** Noisy data points: for each sigma, `perSigma` images (uniform, with replacement) plus sigma z. */
export function errorProbe(images: Float32Array, dim: number, sigmas: readonly number[], perSigma: number, seed: number): ErrorProbe {
  const count = images.length / dim;
  const z = new Float64Array(dim);
  const points = sigmas.map((sigma, s) => {
    const out = new Float32Array(perSigma * dim);
    for (let r = 0; r < perSigma; r++) {
      const n = Math.floor((philox4x32([r, STREAM + s, 1, 0], [seed, 0])[0] / 4294967296) * count);
      sampleNormals(seed, r, dim, STREAM + s, z);
      for (let d = 0; d < dim; d++) out[r * dim + d] = images[n * dim + d] + sigma * z[d];
    }
    return out;
  });
  return { sigmas: [...sigmas], points, dim, perSigma };
}

/** The model's prediction at every probe point, per sigma. */
export async function probePredictions(model: Denoiser, probe: ErrorProbe): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let s = 0; s < probe.sigmas.length; s++) {
    const sigma = probe.sigmas[s];
    const p = await model.predict({ data: probe.points[s], shape: [probe.perSigma, ...model.sampleShape] }, { sigma, t: sigma, alpha: 1 });
    out.push(p.x0);
  }
  return out;
}

/** RMS per pixel of a - b at each sigma, and over all sigmas (the mean of the squares). */
export function rmsBySigma(a: Float32Array[], b: Float32Array[]): { perSigma: number[]; overall: number } {
  let total = 0, count = 0;
  const perSigma = a.map((v, s) => {
    let acc = 0;
    for (let i = 0; i < v.length; i++) acc += (v[i] - b[s][i]) ** 2;
    total += acc;
    count += v.length;
    return Math.sqrt(acc / v.length);
  });
  return { perSigma, overall: Math.sqrt(total / count) };
}
