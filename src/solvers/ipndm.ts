// iPNDM (improved PNDM, Zhang & Chen 2022, "Fast Sampling of Diffusion Models with Exponential Integrator", App. on
// PNDM; as zju-pi/diff-sampler's ipndm_sampler and the IIA paper's App. G Alg. 4-5): Adams-Bashforth in sigma on
// the EDM derivative d = (y - D(y; sigma)) / sigma (= eps), y_{i+1} = y_i + (sigma_{i+1} - sigma_i) d_tilde, with
// d_tilde the order-k combination of the last k derivatives, k = min(maxOrder, i + 1): weights 1; (3, -1)/2;
// (23, -16, 5)/12; (55, -59, 37, -9)/24. One NFE per step, no extra warm-up evaluations. In y = x / alpha this is
// exactly the VP form of Alg. 4 (x0_hat = y_i - sigma_i eps_tilde, y_{i+1} = x0_hat + sigma_{i+1} eps_tilde), and
// the step's update is given in those vectors, plus the previous step's pair with coefficient 0 (IIA-IPNDM).
import type { Batch } from '../core/batch.js';
import type { GridPoint, Schedule } from '../schedules/schedule.js';
import {
  ADAMS_BASHFORTH,
  checkGrid,
  checkIntegerOption,
  checkOptionKeys,
  combine,
  evaluate,
  stepEps,
  transferUpdate,
} from './multistep.js';
import type { Solver, StepContext, StepOutput } from './solver.js';

export interface IpndmOptions {
  /** Highest Adams-Bashforth order, 1-4 (default 4). */
  maxOrder?: number;
}

export interface IpndmState {
  /** Derivatives d = eps of recent steps, oldest first (at most maxOrder - 1). */
  derivatives: Float32Array[];
  /** The previous step's x0_hat and eps_tilde (for IIA's difference directions). */
  prev?: { x0Hat: Float32Array; epsTilde: Float32Array };
  /** Under sample(): a derivative array of this solver's that left the history, for the next step's eps. */
  spare?: Float32Array;
}


const NAME = 'ipndm';
const KEYS = ['maxOrder'] as const;

function resolve(o: IpndmOptions | undefined): number {
  checkOptionKeys(NAME, o, KEYS);
  checkIntegerOption(NAME, 'maxOrder', o?.maxOrder, 1, 4);
  return o?.maxOrder ?? 4;
}

export const ipndm: Solver<IpndmState, IpndmOptions> = {
  info: {
    name: NAME,
    order: 4,
    nfePerStep: 1,
    stochastic: false,
    reference: 'Zhang & Chen 2022, DEIS, App. (iPNDM); Zhang et al. 2023, IIA, App. G Alg. 4-5',
  },

  nfe(steps: number, options?: IpndmOptions): number {
    resolve(options);
    return steps;
  },

  check(grid: readonly GridPoint[], _schedule: Schedule, options?: IpndmOptions): void {
    resolve(options);
    checkGrid(NAME, grid);
  },

  init(_y: Batch, options?: IpndmOptions): IpndmState {
    resolve(options);
    return { derivatives: [] };
  },

  async step(ctx: StepContext, i: number, y: Batch, state: IpndmState, options?: IpndmOptions): Promise<StepOutput<IpndmState>> {
    const maxOrder = resolve(options);
    const s = ctx.grid[i], t = ctx.grid[i + 1];
    // d = (y - D) / sigma (Karras et al. 2022, eq. 3 with sigma(t) = t), which is eps. Under sample(), when the model
    // derives eps from x0, into an array of this solver's (the one the history let go last step).
    const d = stepEps(ctx, await evaluate(ctx, y, s), y, state.spare);
    const all = [...state.derivatives, d];
    const order = Math.min(maxOrder, all.length);
    const derivatives = maxOrder === 1 ? [] : all.slice(-(maxOrder - 1));
    // Under sample() nothing reads this step's update or the previous step's pair (only IIA does, through a context
    // of its own): eps_tilde and x0_hat go into arrays the driver keeps for the run and the new state over the old one
    // (y is read only to form x0_hat, and the state keeps derivatives, never y). Bit for bit as with fresh arrays.
    const owned = !!ctx.mayOverwriteState && !!ctx.scratch && !all.includes(y.data);
    const n = y.data.length;
    // IIA App. G Alg. 5: eps_tilde = Adams-Bashforth combination of the last `order` derivatives.
    const epsTilde = combine(ADAMS_BASHFORTH[order - 1], all.slice(-order).reverse(), owned ? ctx.scratch!('ipndm-eps-tilde', n) : undefined);
    if (owned) {
      const r = transferUpdate(y, s, t, epsTilde, undefined, 1, { x0Hat: ctx.scratch!('ipndm-x0-hat', n), y: y.data });
      const left = all.find((a) => !derivatives.includes(a));
      return { y: r.y, state: { derivatives, spare: left }, firstNonFinite: r.firstNonFinite };
    }
    const r = transferUpdate(y, s, t, epsTilde, state.prev);
    return {
      y: r.y,
      state: { derivatives, prev: { x0Hat: r.x0Hat, epsTilde } },
      update: r.update,
      firstNonFinite: r.firstNonFinite,
    };
  },
};
