// The one model interface: a denoiser returns the data prediction D(y; sigma) and the noise prediction eps for the
// EDM-normalised state y = x0 + sigma * eps, at a grid point (sigma, t, alpha). Solvers never see what is behind it.
import type { Batch } from '../core/batch.js';
import { WASM_MIN_LENGTH, wasmScaledDiff } from '../core/kernels.js';
import type { GridPoint } from '../schedules/schedule.js';

export interface Prediction {
  /** Data prediction D(y; sigma) (x0), same length as y. */
  x0: Float32Array;
  /** Noise prediction eps = (y - x0) / sigma (at sigma = 0: whatever the network predicts, or zeros). */
  eps: Float32Array;
  /**
   * Present when eps is derived from x0 on demand (predictionFromX0): writes that eps into `out` (not kept), bit for
   * bit the `eps` getter's values, so a solver that needs eps only within its step can use an array it reuses.
   */
  epsInto?(out: Float32Array): Float32Array;
}

export interface Denoiser {
  /** Shape of one sample, e.g. [3, 32, 32] or [D]. */
  readonly sampleShape: number[];
  /** A stable description of the model (used in fingerprints and errors). */
  readonly name: string;
  /** Evaluate on a batch of EDM-normalised states at one grid point. One call = one NFE for each sample. */
  predict(y: Batch, at: GridPoint): Promise<Prediction>;
  /**
   * Network evaluations per sample behind one `predict` call (default 1). Classifier-free guidance sets 2: the
   * conditional and the unconditional prediction. NFE counts calls (as the IIA paper's guided text-to-image tables
   * do); the network cost of a run is NFE * evaluationsPerCall.
   */
  readonly evaluationsPerCall?: number;
  /** Release native resources (ONNX sessions). */
  dispose?(): Promise<void>;
}

/** Raised when a model returns NaN or Inf; names the step and sigma. */
export class NonFiniteError extends Error {
  constructor(readonly step: number, readonly sigma: number, what: string) {
    super(`non-finite value (NaN or Inf) in ${what} at step ${step}, sigma ${sigma}: the model returned NaN/Inf or the step overflowed`);
    this.name = 'NonFiniteError';
  }
}

/**
 * A prediction from the data prediction alone, with eps = (y - x0) / sigma computed on first use and cached: solvers
 * that only read x0 (Euler, Heun, DPM-Solver++, UniPC) skip a full pass over the batch. `y` must not change before
 * eps is read: a solver that writes its result into y (StepContext.mayOverwriteState) reads eps first or never. At
 * sigma = 0, eps = 0.
 */
export function predictionFromX0(y: Float32Array, x0: Float32Array, sigma: number): Prediction {
  let eps: Float32Array | undefined;
  const derive = (out: Float32Array): Float32Array => {
    if (sigma > 0) {
      const inv = 1 / sigma;
      // The WebAssembly kernel evaluates the same expression (bit for bit) in SIMD lanes.
      if (y.length < WASM_MIN_LENGTH || !wasmScaledDiff(y, x0, inv, out)) {
        for (let i = 0; i < y.length; i++) out[i] = (y[i] - x0[i]) * inv;
      }
    } else out.fill(0);
    return out;
  };
  return {
    x0,
    get eps(): Float32Array {
      if (!eps) eps = derive(new Float32Array(y.length));
      return eps;
    },
    epsInto(out: Float32Array): Float32Array {
      if (out.length !== y.length) throw new Error(`epsInto: out has ${out.length} values, the batch ${y.length}`);
      return eps ? (out.set(eps), out) : derive(out);
    },
  };
}
