// Parameterisation adapters: wrap a raw network (native input x = alpha * y, timestep t) that predicts eps, v, x0 or
// an EDM-preconditioned output into a Denoiser on the EDM-normalised state y = x0 + sigma * eps. Browser-safe.
import type { Batch } from '../core/batch.js';
import type { GridPoint } from '../schedules/schedule.js';
import type { Denoiser, Prediction } from './denoiser.js';

/** A network on its native input: x = alpha * y (or c_in * y for 'edm'), its shape, and the timestep it is fed. */
export type RawNetwork = (xNative: Float32Array, shape: number[], t: number) => Promise<Float32Array>;

/** What the network outputs: diffusers' prediction_type names, plus 'edm' (Karras et al. 2022 preconditioning). */
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample' | 'edm';

export const PREDICTION_TYPES: readonly PredictionType[] = ['epsilon', 'v_prediction', 'sample', 'edm'];

export interface AdapterOptions {
  prediction: PredictionType;
  sampleShape: number[];
  name: string;
  /** sigma_data of EDM preconditioning (default 0.5). */
  sigmaData?: number;
  dispose?: () => Promise<void>;
}

/** EDM preconditioning coefficients (Karras et al. 2022, Table 1, "Ours"). */
export function edmPreconditioning(sigma: number, sigmaData = 0.5): { cSkip: number; cOut: number; cIn: number; cNoise: number } {
  const s2 = sigma * sigma + sigmaData * sigmaData;
  return {
    cSkip: (sigmaData * sigmaData) / s2,
    cOut: (sigma * sigmaData) / Math.sqrt(s2),
    cIn: 1 / Math.sqrt(s2),
    cNoise: Math.log(sigma) / 4,
  };
}

export function checkPredictionType(p: string, where: string): PredictionType {
  if (!(PREDICTION_TYPES as readonly string[]).includes(p)) {
    throw new Error(`${where}: prediction '${p}' is not supported; expected one of ${PREDICTION_TYPES.join(', ')}`);
  }
  return p as PredictionType;
}

function scaled(v: Float32Array, c: number): Float32Array {
  if (c === 1) return v;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = c * v[i];
  return out;
}

/** Convert a raw network output into (x0, eps) on the normalised state y at noise level sigma. Exported for tests. */
export function convertOutput(prediction: PredictionType, y: Float32Array, out: Float32Array, sigma: number, sigmaData = 0.5): Prediction {
  const n = y.length;
  if (out.length !== n) {
    throw new Error(`adapters.ts: network output has ${out.length} values, expected ${n} (same as the input)`);
  }
  switch (prediction) {
    case 'epsilon': {
      // y = x0 + sigma * eps (Karras et al. 2022, eq. 4 with x = alpha * y)
      const x0 = new Float32Array(n);
      for (let i = 0; i < n; i++) x0[i] = y[i] - sigma * out[i];
      return { x0, eps: out };
    }
    case 'v_prediction': {
      // v = a eps - s x0 with a = 1/sqrt(1+sigma^2), s = sigma a (Salimans & Ho 2022, Progressive Distillation,
      // Sec. 4 / App. D): x0 = a x - s v, eps = s x + a v with the VP state x = a y.
      const a = 1 / Math.sqrt(1 + sigma * sigma), s = sigma * a;
      const x0 = new Float32Array(n);
      const eps = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const x = a * y[i], v = out[i];
        x0[i] = a * x - s * v;
        eps[i] = s * x + a * v;
      }
      return { x0, eps };
    }
    case 'sample': {
      // eps = (y - x0) / sigma (Karras et al. 2022, eq. 4); 0 at sigma = 0.
      const eps = new Float32Array(n);
      if (sigma > 0) for (let i = 0; i < n; i++) eps[i] = (y[i] - out[i]) / sigma;
      return { x0: out, eps };
    }
    case 'edm': {
      // D(y; sigma) = c_skip y + c_out F(c_in y; c_noise) (Karras et al. 2022, eq. 7)
      const { cSkip, cOut } = edmPreconditioning(sigma, sigmaData);
      const x0 = new Float32Array(n);
      const eps = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const d = cSkip * y[i] + cOut * out[i];
        x0[i] = d;
        eps[i] = (y[i] - d) / sigma;
      }
      return { x0, eps };
    }
  }
}

/**
 * A Denoiser over a raw network. For 'epsilon', 'v_prediction' and 'sample' the network gets x = alpha * y and the
 * grid point's t; for 'edm' it gets c_in * y and c_noise = ln(sigma) / 4 (and at sigma = 0, D = y without a call).
 */
export function wrapNetwork(net: RawNetwork, opts: AdapterOptions): Denoiser {
  const prediction = checkPredictionType(opts.prediction, 'adapters.ts');
  const sigmaData = opts.sigmaData ?? 0.5;
  if (!(sigmaData > 0)) throw new Error(`adapters.ts: sigmaData must be > 0, got ${sigmaData}`);
  const sampleShape = [...opts.sampleShape];
  return {
    sampleShape,
    name: opts.name,
    async predict(y: Batch, at: GridPoint): Promise<Prediction> {
      const { sigma } = at;
      if (!(sigma >= 0)) throw new Error(`adapters.ts: sigma must be >= 0, got ${sigma}`);
      if (prediction === 'edm') {
        if (sigma === 0) return { x0: y.data.slice(), eps: new Float32Array(y.data.length) };
        const { cIn, cNoise } = edmPreconditioning(sigma, sigmaData);
        const out = await net(scaled(y.data, cIn), y.shape, cNoise);
        return convertOutput(prediction, y.data, out, sigma, sigmaData);
      }
      let out = await net(scaled(y.data, at.alpha), y.shape, at.t);
      if (out === y.data) out = out.slice(); // never hand the caller's state back as a prediction
      return convertOutput(prediction, y.data, out, sigma, sigmaData);
    },
    dispose: opts.dispose,
  };
}
