// The EDM schedule (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative Models",
// Table 1 "EDM" column): sigma(t) = t, s(t) = 1, so alpha = 1 and the network's time value is sigma itself.
import type { GridPoint, Schedule } from './schedule.js';

export interface EdmScheduleOptions {
  /** Smallest noise level of the model (EDM paper Table 1: 0.002). */
  sigmaMin?: number;
  /** Largest noise level of the model (EDM paper Table 1: 80). */
  sigmaMax?: number;
}

/** Checks a sigma range given to a schedule; names the option that is wrong. */
export function checkSigmaRange(where: string, sigmaMin: number, sigmaMax: number): void {
  if (!Number.isFinite(sigmaMin) || sigmaMin <= 0) throw new Error(`${where}: sigmaMin is ${sigmaMin}; expected a finite number > 0`);
  if (!Number.isFinite(sigmaMax) || sigmaMax <= sigmaMin) {
    throw new Error(`${where}: sigmaMax is ${sigmaMax}; expected a finite number > sigmaMin (${sigmaMin})`);
  }
}

/** Checks a sigma argument (finite, >= 0); names the schedule and the function. */
export function checkSigma(where: string, sigma: number): void {
  if (!(sigma >= 0) || sigma === Infinity) throw new Error(`${where}: sigma is ${sigma}; expected a finite number >= 0`);
}

export function checkT(where: string, t: number, tLo = 0, tHi = Infinity): void {
  if (!(t >= tLo && t <= tHi) || !Number.isFinite(t)) {
    throw new Error(`${where}: t is ${t}; expected a finite number in [${tLo}, ${tHi}]`);
  }
}

export class EdmSchedule implements Schedule {
  readonly kind = 'edm' as const;
  readonly sigmaMin: number;
  readonly sigmaMax: number;
  readonly tMin: number;
  readonly tMax: number;

  constructor(opts: EdmScheduleOptions = {}) {
    this.sigmaMin = opts.sigmaMin ?? 0.002;
    this.sigmaMax = opts.sigmaMax ?? 80;
    checkSigmaRange('edm schedule', this.sigmaMin, this.sigmaMax);
    this.tMin = this.sigmaMin;
    this.tMax = this.sigmaMax;
  }

  /** EDM Table 1: sigma(t) = t. */
  sigmaOfT(t: number): number {
    checkT('edm schedule sigmaOfT', t);
    return t;
  }

  tOfSigma(sigma: number): number {
    checkSigma('edm schedule tOfSigma', sigma);
    return sigma;
  }

  alphaOfSigma(sigma: number): number {
    checkSigma('edm schedule alphaOfSigma', sigma);
    return 1;
  }

  pointAtSigma(sigma: number): GridPoint {
    return { sigma, t: this.tOfSigma(sigma), alpha: 1 };
  }

  pointAtT(t: number): GridPoint {
    return { sigma: this.sigmaOfT(t), t, alpha: 1 };
  }
}
