// The types of evaluate(): its options, the calibration hook, the records it returns. Browser-safe.
import type { Batch } from '../core/batch.js';
import type { GridOptions } from '../grids/index.js';
import type { Denoiser } from '../models/denoiser.js';
import type { GridPoint, Schedule } from '../schedules/schedule.js';
import type { Solver, X0Transform } from '../solvers/solver.js';
import type { CheckOptions, Convergence } from './reference.js';

/** What evaluate needs to know about the model (a subset of registry.ts ModelInfo, which is Node-only). */
export interface EvalModelInfo {
  name: string;
  /** 'gmm' and 'data' are exact models (defined at every sigma > 0); anything else is a network. */
  kind: string;
  defaultSchedule: 'edm' | 'vp-discrete';
}

/** A solver to evaluate: its registry name, options, an optional label for the report. */
export interface EvalSolverSpec {
  name: string;
  options?: Record<string, unknown>;
  label?: string;
  /** Overrides the detection (solver.info.stochastic, or eta > 0, or sChurn > 0). */
  stochastic?: boolean;
}

/** What a calibrating solver (IIA) gets before its run; it must draw its calibration noises from `seed`. */
export interface PrepareContext {
  solverName: string;
  solver: Solver<any, any>;
  solverOptions: Record<string, unknown>;
  model: Denoiser;
  schedule: Schedule;
  grid: readonly GridPoint[];
  steps: number;
  /** Calibration seed: different from the evaluation seed (default seed + 1). */
  seed: number;
  n: number;
  batch?: number;
  signal?: AbortSignal;
}

/** A prepared (calibrated) solver; undefined from `prepare` means "no calibration, run as is". */
export interface Prepared {
  solver?: Solver<any, any>;
  solverOptions?: Record<string, unknown>;
  x0Transform?: X0Transform;
  /** Extra fields copied into the record (e.g. the calibration's own cost). */
  record?: Record<string, unknown>;
  /**
   * The record's calibration_seed: default the context's seed (the preparation drew its noises from it); null when
   * it drew none (ML-EM: its level variances come from a fixed probe of the data set).
   */
  calibrationSeed?: number | null;
  /**
   * Runs the solver in place of sample(), for a method the one-model driver cannot run (ML-EM: several models at
   * once). Its `nfe` is the record's nfe as it stands (in whatever unit the method documents), since the driver
   * cannot count it.
   */
  run?: (args: PreparedRunArgs) => Promise<PreparedRunResult>;
}

/** What a Prepared.run gets: the evaluation's own noises and grid (sample()'s conventions). */
export interface PreparedRunArgs {
  grid: readonly GridPoint[];
  schedule: Schedule;
  n: number;
  /** The evaluation seed: initial noise y_T = sigma_max z from stream 0 of it, as sample() draws it. */
  seed: number;
  /** Initial state x_T in the model's native scaling (x_T = alpha_0 y_T), when the evaluation was given one. */
  noise?: Batch;
  batch?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface PreparedRunResult {
  /** x = alpha_N y at the last grid point, [n, ...shape] (as sample() returns it). */
  samples: Batch;
  /** The record's nfe. */
  nfe: number;
  seconds: number;
  /** Extra fields for the record (the run's own accounting). */
  record?: Record<string, unknown>;
}

export interface EvalReferenceOptions extends CheckOptions {
  /**
   * 'auto' (default): the float64 twin of a GaussianMixture (or a model with denoise64); the model itself otherwise
   * (ONNX float32 for data: models, where the sigma -> 0 endpoint is a training image and float32 reaches the same
   * image; cross-checked in float64 on a few samples). 'float64': the twin, or an error. 'model': always the model.
   */
  precision?: 'auto' | 'float64' | 'model';
  /** Samples re-solved with the float64 twin when the reference ran on the model (default 4 when affordable, else 0). */
  crossCheck?: number;
}

export interface EvalMetricOptions {
  /** Random directions of the sliced W2 (default 128). */
  projections?: number;
  /** Fresh exact GMM samples the sliced W2 compares against (default max(n, 1024)). */
  exactSamples?: number;
}

export interface EvalProgress {
  phase: 'reference' | 'solver' | 'metrics';
  /** e.g. 'heun, 8 steps'. */
  label: string;
  fraction: number;
}

export interface EvaluateOptions {
  model: Denoiser;
  info: EvalModelInfo;
  solvers: (string | EvalSolverSpec)[];
  /** Step counts to run (or give nfe). */
  steps?: number[];
  /** NFE budgets: the largest step count of each solver that fits (sample.ts stepsForNfe). */
  nfe?: number[];
  n: number;
  /** Seed of the initial noises y_T = sigma_max z (default 0). */
  seed?: number;
  /** Initial state x_T in the model's native scaling, [n, ...shape], used exactly as given (as sample()). */
  noise?: Batch;
  /** Samples per model call (solvers; the reference on a network). */
  batch?: number;
  /** Default: makeSchedule(info.defaultSchedule). */
  schedule?: Schedule;
  /** Grid of every run without its step count (default karras with the schedule's range, ending at 0). */
  grid?: Omit<GridOptions, 'steps'>;
  /**
   * Training images (count x prod(shape), in [-1, 1]) for the nearest-image and FD/KID-RP64 metrics. For a data: model
   * (info.kind 'data') they are also the model itself, whose float64 twin the reference integrates; for any other
   * model (a network trained on them, say) they only serve the metrics.
   */
  images?: Float32Array;
  referenceOptions?: EvalReferenceOptions;
  metricOptions?: EvalMetricOptions;
  /** Solver by name (default: the registry, src/solvers/index.ts). */
  resolveSolver?: (name: string) => Solver<any, any>;
  /** Calibration hook for solvers that need it (IIA); called once per solver and step count. */
  prepare?: (solverName: string, ctx: PrepareContext) => Promise<Prepared | undefined | void> | Prepared | undefined | void;
  /** Seed handed to `prepare` (default seed + 1). */
  calibrationSeed?: number;
  onProgress?: (p: EvalProgress) => void;
  signal?: AbortSignal;
}

/** Metrics against known truth; which ones appear depends on the model. */
export interface DistributionMetrics {
  /**
   * GMM: mean exact log-density of the samples under the mixture (nats per sample). Compare it with the reference's:
   * higher is not better (samples collapsed onto the means score above the truth).
   */
  loglik?: number;
  /** GMM: fraction of samples in the same mode as the reference endpoint of their noise (null for stochastic runs). */
  mode_accuracy?: number | null;
  /** GMM: total variation between the samples' mode frequencies and the mixture weights. */
  mode_tv?: number;
  /** GMM: sliced Wasserstein-2 to fresh exact samples. */
  sw2?: number;
  /** Images: mean and median over samples of the RMS distance to the nearest training image. */
  nn_rms_mean?: number;
  nn_rms_median?: number;
  /** Images: Frechet distance and KID-style MMD^2 in the RP64 feature space (features.ts; not Inception). */
  fd_rp64?: number;
  kid_rp64?: number;
}

export interface EvalRecord extends DistributionMetrics {
  model: string;
  solver: string;
  /** The solver's options when any were given. */
  options?: Record<string, unknown>;
  steps: number;
  /**
   * Model calls per sample of the run. A solver run by Prepared.run reports its own cost here (ML-EM: the expected
   * cost per sample in evaluations of the finest level, not an integer; its record says so in nfe_unit).
   */
  nfe: number;
  /** The --nfe budget this step count was chosen for (nfe mode only). */
  nfe_budget?: number;
  n: number;
  seed: number;
  stochastic: boolean;
  /** Seed of the calibration noises when the solver was calibrated (prepare returned something), else null. */
  calibration_seed: number | null;
  grid: string;
  schedule: string;
  sigma_max: number;
  /** Last grid sigma (0 for a grid ending at 0). */
  sigma_end: number;
  /** Against the reference solution from the same noise; null for stochastic runs. */
  rmse: number | null;
  median_error: number | null;
  max_error: number | null;
  /** Image models: 20 log10(2 / rmse) (images in [-1, 1]); Infinity when rmse is 0. */
  psnr?: number | null;
  /** Wall time of the sampling run. */
  seconds: number;
  [extra: string]: unknown;
}

export interface EvalReferenceSummary {
  /** Model evaluations per sample of the reference (both runs of the convergence check). */
  nfe: number;
  seconds: number;
  /** rtol vs rtol / 2 (and sigmaEnd vs sigmaEnd / 2 for exact models): max relative difference, must be <= 1e-6. */
  convergence: Convergence;
  precision: 'float64' | 'float32';
  method: string;
  /** Where the reference starts and ends, one entry per distinct grid range. */
  ranges: { from: number; to: number; sigmaEnd: number | null }[];
  /** Float64 re-solve of the first samples when the reference ran in float32. */
  crossCheck?: { samples: number; maxRelDiff: number; seconds: number };
  /** Distribution metrics of the reference endpoints themselves (the floor a perfect ODE solver reaches; mode_accuracy null). */
  metrics: DistributionMetrics;
}

export interface EvaluateResult {
  model: string;
  n: number;
  seed: number;
  reference: EvalReferenceSummary;
  records: EvalRecord[];
}
