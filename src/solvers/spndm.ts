// S-PNDM (Liu et al. 2022, "Pseudo Numerical Methods for Diffusion Models on Manifolds", Sec. 4.2; method 'S-PNDM'
// of luping-liu/PNDM): the DDIM transfer driven by a second-order pseudo linear multistep on the noise predictions,
// eps_tilde_i = (3 eps_i - eps_{i-1}) / 2, warmed up by one pseudo improved-Euler step (two evaluations). The IIA
// paper (Zhang et al. 2023, App. G, Alg. 3) builds IIA-SPNDM on it; each step's update is given in its vectors
// x0_hat = y_i - sigma_i eps_tilde and eps_tilde (y_{i+1} = x0_hat + sigma_{i+1} eps_tilde), plus the previous step's
// pair with coefficient 0. NFE = steps + 1.
import type { Batch } from '../core/batch.js';
import type { GridPoint, Schedule } from '../schedules/schedule.js';
import { checkOptionKeys } from './multistep.js';
import { pseudoCheck, pseudoNfe, pseudoStep, type PndmState, type PseudoConfig } from './pndm.js';
import type { Solver, StepContext, StepOutput } from './solver.js';

/** S-PNDM has no options. */
export type SpndmOptions = Record<string, never>;
export type SpndmState = PndmState;

const NAME = 'spndm';

function resolve(o: SpndmOptions | undefined): PseudoConfig {
  checkOptionKeys(NAME, o, []);
  return { name: NAME, warmup: 'heun', maxOrder: 2, rawV: false };
}

export const spndm: Solver<SpndmState, SpndmOptions> = {
  info: {
    name: NAME,
    order: 2,
    nfePerStep: 1,
    stochastic: false,
    reference: 'Liu et al. 2022, PNDM, Sec. 4.2 (S-PNDM: pseudo improved Euler, then 2nd-order PLMS); IIA App. G Alg. 3',
  },

  nfe(steps: number, options?: SpndmOptions): number {
    return pseudoNfe(resolve(options), steps);
  },

  check(grid: readonly GridPoint[], _schedule: Schedule, options?: SpndmOptions): void {
    pseudoCheck(resolve(options), grid);
  },

  init(_y: Batch, options?: SpndmOptions): SpndmState {
    resolve(options);
    return { history: [] };
  },

  step(ctx: StepContext, i: number, y: Batch, state: SpndmState, options?: SpndmOptions): Promise<StepOutput<SpndmState>> {
    return pseudoStep(ctx, resolve(options), i, y, state);
  },
};
