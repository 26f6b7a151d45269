// One solver abstraction for every sampler (after diffrax's init/step with explicit state): a solver is a small
// object with `init` and `step`, and its state (a multistep history) is passed in and out explicitly, so a run can
// be resumed, re-run from any step, and re-weighted by IIA.
import type { Batch } from '../core/batch.js';
import type { Denoiser, Prediction } from '../models/denoiser.js';
import type { GridPoint, Schedule } from '../schedules/schedule.js';

export interface SolverInfo {
  name: string;
  /** Order of accuracy of the deterministic update. */
  order: number;
  /** Network evaluations per step in the steady state (a solver with warm-up or a cheaper last step says so in `nfe`). */
  nfePerStep: number;
  stochastic: boolean;
  /** The paper (and equation) it follows. */
  reference: string;
}

/** x0 post-processing that diffusers applies to the data prediction (clip_sample / dynamic thresholding). */
export type X0Transform = (x0: Float32Array, sampleSize: number) => void;

export interface StepContext {
  /** Counts NFE and checks for non-finite outputs; solvers call the model only through this. */
  predict(y: Batch, at: GridPoint): Promise<Prediction>;
  grid: readonly GridPoint[];
  schedule: Schedule;
  /** Optional x0 post-processing (diffusers clip_sample / thresholding). */
  x0Transform?: X0Transform;
  /** Seed and index of the first sample in this batch, for stochastic solvers (noise stream = step + 1). */
  seed: number;
  firstSample: number;
  /**
   * The y passed to step() belongs to the caller's loop and nobody else holds it: the step may write its result into
   * y.data once it no longer needs the old values (it must not if its own state keeps y.data). Set only by the driver
   * (sample()); a wrapper that hands its ctx to an inner solver and keeps y, or reads the inner `update`, clears it.
   */
  mayOverwriteState?: boolean;
  /**
   * The caller forms the new state from the step's `update` itself (IIA with fitted coefficients): the step may skip
   * its own combination and then returns y with shape [0] and as data either nothing (length 0) or a scratch array of
   * the batch's length that nobody holds, for the caller to write its result into. It must still return `update`.
   * Set only by IIA.
   */
  updateOnly?: boolean;
  /**
   * Set only by the driver that owns the run (sample()): an array of `length` floats kept for the solver under `key`,
   * the same array at every step, for a vector that dies within the step (Heun's Euler point). Fresh memory costs a
   * page fault per 4 KiB on first write, so a run pays for it once instead of per step. Its contents are unspecified
   * on entry, and it must not leave the step: not as y, nor in the state, an update or a scratch handed over.
   */
  scratch?: (key: string, length: number) => Float32Array;
}

/**
 * The update of one step as a linear combination x_{i+1} = sum_k coefficients[k] * vectors[k] of named vectors.
 * IIA re-weights these; the default coefficients give back the base solver exactly.
 */
export interface LinearUpdate {
  names: string[];
  vectors: Float32Array[];
  coefficients: number[];
}

export interface StepOutput<S> {
  y: Batch;
  state: S;
  /** Absent when the step wrote y in place (ctx.mayOverwriteState): its vectors would alias the new state. */
  update?: LinearUpdate;
  /** Index of the first non-finite value of y, when the solver found it in the same pass (else the driver checks). */
  firstNonFinite?: number;
}

export interface Solver<S = unknown, O = Record<string, unknown>> {
  readonly info: SolverInfo;
  /** Exact number of model evaluations for a run of `steps` steps. */
  nfe(steps: number, options?: O): number;
  /** Throws a clear error when the solver is not defined on this schedule/grid/options. */
  check?(grid: readonly GridPoint[], schedule: Schedule, options?: O): void;
  init(y: Batch, options?: O): S;
  /** Step i takes the state from grid[i] to grid[i+1]. */
  step(ctx: StepContext, i: number, y: Batch, state: S, options?: O): Promise<StepOutput<S>>;
}
