// The continuous variance-preserving schedule (Song et al. 2021, VP SDE) in the EDM paper's form (Karras et al. 2022,
// Table 1 "VP" column): sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1), s(t) = 1 / sqrt(1 + sigma(t)^2),
// t in [eps_s, 1] with eps_s = 1e-3, beta_d = 19.9, beta_min = 0.1.
import { checkSigma, checkT } from './edm.js';
import type { GridPoint, Schedule } from './schedule.js';

export interface VpContinuousScheduleOptions {
  /** EDM Table 1 (VP): beta_d = 19.9. */
  betaD?: number;
  /** EDM Table 1 (VP): beta_min = 0.1. */
  betaMin?: number;
  /** Smallest time, EDM Table 1 (VP): eps_s = 1e-3. */
  epsS?: number;
  /** Largest time (1). */
  tMax?: number;
}

export class VpContinuousSchedule implements Schedule {
  readonly kind = 'vp-continuous' as const;
  readonly betaD: number;
  readonly betaMin: number;
  readonly sigmaMin: number;
  readonly sigmaMax: number;
  readonly tMin: number;
  readonly tMax: number;

  constructor(opts: VpContinuousScheduleOptions = {}) {
    this.betaD = opts.betaD ?? 19.9;
    this.betaMin = opts.betaMin ?? 0.1;
    this.tMin = opts.epsS ?? 1e-3;
    this.tMax = opts.tMax ?? 1;
    if (!Number.isFinite(this.betaD) || this.betaD <= 0) throw new Error(`vp-continuous schedule: betaD is ${this.betaD}; expected a finite number > 0`);
    if (!Number.isFinite(this.betaMin) || this.betaMin < 0) throw new Error(`vp-continuous schedule: betaMin is ${this.betaMin}; expected a finite number >= 0`);
    if (!Number.isFinite(this.tMin) || this.tMin <= 0) throw new Error(`vp-continuous schedule: epsS is ${this.tMin}; expected a finite number > 0`);
    if (!Number.isFinite(this.tMax) || this.tMax <= this.tMin) throw new Error(`vp-continuous schedule: tMax is ${this.tMax}; expected a finite number > epsS (${this.tMin})`);
    this.sigmaMin = this.sigmaOfT(this.tMin);
    this.sigmaMax = this.sigmaOfT(this.tMax);
  }

  /** EDM Table 1 (VP): sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1). */
  sigmaOfT(t: number): number {
    checkT('vp-continuous schedule sigmaOfT', t);
    return Math.sqrt(Math.expm1(0.5 * this.betaD * t * t + this.betaMin * t));
  }

  /** EDM Table 1 (VP): sigma^{-1}(sigma) = (sqrt(beta_min^2 + 2 beta_d log(sigma^2 + 1)) - beta_min) / beta_d. */
  tOfSigma(sigma: number): number {
    checkSigma('vp-continuous schedule tOfSigma', sigma);
    const L = Math.log1p(sigma * sigma);
    if (L === 0) return 0;
    // Same root written as 2L / (sqrt(b^2 + 2 b_d L) + b): no cancellation at small sigma.
    return (2 * L) / (Math.sqrt(this.betaMin * this.betaMin + 2 * this.betaD * L) + this.betaMin);
  }

  /** alpha = s(t) = 1 / sqrt(1 + sigma^2) (EDM Table 1, VP). */
  alphaOfSigma(sigma: number): number {
    checkSigma('vp-continuous schedule alphaOfSigma', sigma);
    return 1 / Math.sqrt(1 + sigma * sigma);
  }

  pointAtSigma(sigma: number): GridPoint {
    return { sigma, t: this.tOfSigma(sigma), alpha: this.alphaOfSigma(sigma) };
  }

  pointAtT(t: number): GridPoint {
    const sigma = this.sigmaOfT(t);
    return { sigma, t, alpha: this.alphaOfSigma(sigma) };
  }
}
