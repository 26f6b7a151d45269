// The noise schedule of a model: how its time variable t maps to the EDM noise level sigma and the scale alpha.
// Every solver works on the EDM-normalised state y = x / alpha with y = x0 + sigma * eps (Karras et al. 2022,
// "Elucidating the Design Space...", eq. 4 with s(t) = alpha); lambda = log(alpha_t / sigma_t) = -log(sigma).

/** One point of a sampling grid: EDM sigma, the model's time value t, and the scale alpha of x = alpha * y. */
export interface GridPoint {
  /** EDM noise level (noise-to-signal ratio), >= 0. */
  sigma: number;
  /** The model's own time value at this point (what a network is fed as its timestep). */
  t: number;
  /** Scale of the model's native state: x = alpha * y. 1 for EDM and VE, 1/sqrt(1+sigma^2) for VP. */
  alpha: number;
}

export type ScheduleKind = 'edm' | 've' | 'vp-discrete' | 'vp-continuous';

export interface Schedule {
  readonly kind: ScheduleKind;
  /** Smallest and largest sigma the model is defined on (a discrete VP schedule: its first and last timestep). */
  readonly sigmaMin: number;
  readonly sigmaMax: number;
  /** Range of t (tMin at sigmaMin, tMax at sigmaMax). */
  readonly tMin: number;
  readonly tMax: number;
  sigmaOfT(t: number): number;
  tOfSigma(sigma: number): number;
  /** Scale alpha at EDM noise level sigma (1 for EDM/VE, 1/sqrt(1+sigma^2) for VP). */
  alphaOfSigma(sigma: number): number;
  /** A grid point at sigma (t and alpha from this schedule). */
  pointAtSigma(sigma: number): GridPoint;
  pointAtT(t: number): GridPoint;
  /** Discrete VP schedules only: cumulative alpha products of the T training steps, and T. */
  readonly alphasCumprod?: Float64Array;
  readonly trainSteps?: number;
}

/** lambda = log(alpha_t / sigma_t) = -log(sigma_edm) (Lu et al. 2022, DPM-Solver, Sec. 3.1). */
export function lambdaOfSigma(sigma: number): number {
  return -Math.log(sigma);
}

export function sigmaOfLambda(lambda: number): number {
  return Math.exp(-lambda);
}
