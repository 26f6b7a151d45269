// The variance-exploding schedule (Song et al. 2021, SMLD/NCSN++) in the EDM paper's form (Karras et al. 2022,
// Table 1 "VE" column): sigma(t) = sqrt(t), s(t) = 1, so alpha = 1 and t = sigma^2.
import { checkSigma, checkSigmaRange, checkT } from './edm.js';
import type { GridPoint, Schedule } from './schedule.js';

export interface VeScheduleOptions {
  /** EDM paper Table 1 (VE): sigma_min = 0.02. */
  sigmaMin?: number;
  /** EDM paper Table 1 (VE): sigma_max = 100. */
  sigmaMax?: number;
}

export class VeSchedule implements Schedule {
  readonly kind = 've' as const;
  readonly sigmaMin: number;
  readonly sigmaMax: number;
  readonly tMin: number;
  readonly tMax: number;

  constructor(opts: VeScheduleOptions = {}) {
    this.sigmaMin = opts.sigmaMin ?? 0.02;
    this.sigmaMax = opts.sigmaMax ?? 100;
    checkSigmaRange('ve schedule', this.sigmaMin, this.sigmaMax);
    this.tMin = this.sigmaMin * this.sigmaMin;
    this.tMax = this.sigmaMax * this.sigmaMax;
  }

  /** EDM Table 1 (VE): sigma(t) = sqrt(t). */
  sigmaOfT(t: number): number {
    checkT('ve schedule sigmaOfT', t);
    return Math.sqrt(t);
  }

  /** EDM Table 1 (VE): sigma^{-1}(sigma) = sigma^2. */
  tOfSigma(sigma: number): number {
    checkSigma('ve schedule tOfSigma', sigma);
    return sigma * sigma;
  }

  alphaOfSigma(sigma: number): number {
    checkSigma('ve schedule alphaOfSigma', sigma);
    return 1;
  }

  pointAtSigma(sigma: number): GridPoint {
    return { sigma, t: this.tOfSigma(sigma), alpha: 1 };
  }

  pointAtT(t: number): GridPoint {
    return { sigma: this.sigmaOfT(t), t, alpha: 1 };
  }
}
