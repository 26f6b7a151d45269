// The one model interface: a denoiser returns the data prediction D(y; sigma) and the noise prediction eps for the
// EDM-normalised state y = x0 + sigma * eps, at a grid point (sigma, t, alpha). Solvers never see what is behind it.
import type { Batch } from '../core/batch.js';
import type { GridPoint } from '../schedules/schedule.js';

export interface Prediction {
  /** Data prediction D(y; sigma) (x0), same length as y. */
  x0: Float32Array;
  /** Noise prediction eps = (y - x0) / sigma (at sigma = 0: whatever the network predicts, or zeros). */
  eps: Float32Array;
}

export interface Denoiser {
  /** Shape of one sample, e.g. [3, 32, 32] or [D]. */
  readonly sampleShape: number[];
  /** A stable description of the model (used in fingerprints and errors). */
  readonly name: string;
  /** Evaluate on a batch of EDM-normalised states at one grid point. One call = one NFE for each sample. */
  predict(y: Batch, at: GridPoint): Promise<Prediction>;
  /** Release native resources (ONNX sessions). */
  dispose?(): Promise<void>;
}

/** Raised when a model returns NaN or Inf; names the step and sigma. */
export class NonFiniteError extends Error {
  constructor(readonly step: number, readonly sigma: number, what: string) {
    super(`model returned a non-finite value (${what}) at step ${step}, sigma ${sigma}`);
    this.name = 'NonFiniteError';
  }
}
