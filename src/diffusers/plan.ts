// What a diffusers scheduler_config.json turns into: a schedule, the exact grid diffusers would walk, one of our
// solvers with options, and how the diffusers sample relates to our EDM-normalised state y.
import type { GridPoint, Schedule } from '../schedules/schedule.js';
import type { X0Transform } from '../solvers/solver.js';

export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';

export interface SamplingPlan {
  schedule: Schedule;
  /** steps + 1 points: the diffusers timesteps/sigmas in order, then the final point. */
  grid: GridPoint[];
  solver: string;
  solverOptions: Record<string, unknown>;
  x0Transform?: X0Transform;
  prediction: PredictionType;
  /**
   * 'alpha': the diffusers sample is x = alpha * y (DDIM, PNDM, DPM-Solver, UniPC, DEIS);
   * 'none': the sample is y itself (EulerDiscrete and other sigma-space schedulers).
   */
  stateScaling: 'alpha' | 'none';
  /**
   * Scale of diffusers' default initial state in y-space (y_T = initNoiseScale * z): init_noise_sigma = 1 for the
   * alpha-scaled schedulers gives x_T = z, so 1 / alpha_0; EulerDiscrete: its init_noise_sigma. Filled in by
   * planFromSchedulerConfig when a converter leaves it out.
   */
  initNoiseScale?: number;
}

/** A scheduler converter: a parsed config (diffusers defaults filled in) and the step count -> a plan. */
export type SchedulerConverter = (config: Record<string, unknown>, steps: number, file: string) => SamplingPlan;
