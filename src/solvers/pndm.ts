// PNDM (Liu et al. 2022, "Pseudo Numerical Methods for Diffusion Models on Manifolds"): the DDIM transfer
// (eq. 9) driven by a combination of noise predictions. F-PNDM warms up with three pseudo Runge-Kutta steps (PRK,
// eq. 13: four evaluations each, two at the half step) and continues with the 4th-order pseudo linear multistep
// (PLMS, eq. 12), as diffusers' PNDMScheduler. With skipPrk (diffusers' skip_prk_steps, crowsonkb's PLMS) the first
// step is a pseudo improved-Euler step (2 evaluations) and the order then rises 2, 3, 4 (1 evaluation per step).
//
// In y = x / alpha the transfer from s to t is y_t = y_s + (sigma_t - sigma_s) eps, which is diffusers'
// _get_prev_sample (Liu et al. eq. 9) divided by alpha_t. PRK half steps are at `halfPoints` (diffusers:
// t_{i+1} + (T // N) // 2) or, by default, at the mid-point in t, schedule.pointAtT((t_i + t_{i+1}) / 2).
// The options halfTargets / prevPoints / heunSource / combineRawV only reproduce diffusers' bookkeeping quirks
// (the diffusers converter sets them); a plain run needs none of them.
import type { Batch } from '../core/batch.js';
import { linComb } from '../core/batch.js';
import type { GridPoint, Schedule } from '../schedules/schedule.js';
import {
  ADAMS_BASHFORTH,
  checkBooleanOption,
  checkGrid,
  checkOptionKeys,
  combine,
  evaluate,
  stepEps,
  transferUpdate,
} from './multistep.js';
import type { LinearUpdate, Solver, StepContext, StepOutput } from './solver.js';

export interface PndmOptions {
  /** diffusers' skip_prk_steps: a pseudo improved-Euler first step instead of three PRK steps (default false). */
  skipPrk?: boolean;
  /** Points of the PRK half steps, one per PRK step (default: the mid-point in t of each step). */
  halfPoints?: GridPoint[];
  /**
   * diffusers parity: where the first half-step transfer of each PRK step lands, when not at its half point
   * (diffusers: t_i - (T // N) // 2, one timestep above the half point t_{i+1} + (T // N) // 2 when T // N is odd).
   * The landed native sample x = alpha y is then evaluated at the half point, as diffusers does.
   */
  halfTargets?: GridPoint[];
  /**
   * diffusers parity: per step, the point its transfer lands on when not grid[i+1] (diffusers always steps to
   * t - T // N, off its own timesteps for 'linspace' and some 'trailing' spacings). The landed native sample
   * x = alpha y is handed on as the sample at grid[i+1], as diffusers does. Length = steps.
   */
  prevPoints?: GridPoint[];
  /**
   * diffusers parity with skipPrk: the point the first step's improved-Euler correction transfers from (diffusers:
   * t_1 + T // N, which is grid[0] only for evenly spaced timesteps); the start sample is read at it as is.
   */
  heunSource?: GridPoint;
  /**
   * diffusers parity for v-prediction models (default false): diffusers' PNDMScheduler combines the raw v outputs
   * first and converts the combination to eps with the step's start sample and alpha. With this set, the solver
   * recovers v from the denoiser's eps (v = (eps - sigma alpha^2 y) / alpha, VP) and does the same.
   */
  combineRawV?: boolean;
}

export interface PndmState {
  /** Raw outputs in the multistep history (noise predictions, or v with combineRawV), oldest first, at most 3. */
  history: Float32Array[];
  /** The previous step's x0_hat and eps_tilde (for IIA's difference directions). */
  prev?: { x0Hat: Float32Array; epsTilde: Float32Array };
  /** Under sample(): a raw-output array of this solver's that left the history, for the next step's eps. */
  spare?: Float32Array;
}


/** How a PNDM-family solver starts and how high its multistep order goes. */
export interface PseudoConfig {
  name: string;
  /** 'prk': 3 PRK steps (F-PNDM); 'heun': a pseudo improved-Euler first step (S-PNDM); 'heun-unless-last': the
   * same, but a run of one step is a plain DDIM step (diffusers' skip_prk_steps with one inference step). */
  warmup: 'prk' | 'heun' | 'heun-unless-last';
  maxOrder: number;
  halfPoints?: readonly GridPoint[];
  halfTargets?: readonly GridPoint[];
  prevPoints?: readonly GridPoint[];
  heunSource?: GridPoint;
  rawV: boolean;
}

const NAME = 'pndm';
const KEYS = ['skipPrk', 'halfPoints', 'halfTargets', 'prevPoints', 'heunSource', 'combineRawV'] as const;
const PRK_STEPS = 3;

function resolve(o: PndmOptions | undefined): PseudoConfig {
  checkOptionKeys(NAME, o, KEYS);
  checkBooleanOption(NAME, 'skipPrk', o?.skipPrk);
  checkBooleanOption(NAME, 'combineRawV', o?.combineRawV);
  const halfPoints = checkPoints('halfPoints', o?.halfPoints);
  const halfTargets = checkPoints('halfTargets', o?.halfTargets);
  const prevPoints = checkPoints('prevPoints', o?.prevPoints);
  const heunSource = o?.heunSource === undefined ? undefined : checkPoints('heunSource', [o.heunSource])![0];
  return {
    name: NAME,
    warmup: o?.skipPrk ? 'heun-unless-last' : 'prk',
    maxOrder: 4,
    halfPoints,
    halfTargets,
    prevPoints,
    heunSource,
    rawV: o?.combineRawV ?? false,
  };
}

function checkPoints(field: string, pts: GridPoint[] | undefined): GridPoint[] | undefined {
  if (pts === undefined) return undefined;
  if (!Array.isArray(pts)) throw new Error(`${NAME}: option ${field} is ${String(pts)}; expected a list of grid points {sigma, t, alpha}`);
  pts.forEach((p, k) => {
    if (!(p && Number.isFinite(p.sigma) && p.sigma >= 0 && Number.isFinite(p.t) && p.alpha > 0)) {
      throw new Error(`${NAME}: option ${field}[${k}] is ${JSON.stringify(p)}; expected a grid point {sigma >= 0, t, alpha > 0}`);
    }
  });
  return pts;
}

/** Exact NFE of a PNDM-family run. */
export function pseudoNfe(cfg: PseudoConfig, steps: number): number {
  if (cfg.warmup === 'prk') return 4 * Math.min(PRK_STEPS, steps) + Math.max(0, steps - PRK_STEPS);
  if (cfg.warmup === 'heun-unless-last' && steps === 1) return 1;
  return steps + 1;
}

/** Checks the grid and, for PRK, that the half points fit between their step's ends. */
export function pseudoCheck(cfg: PseudoConfig, grid: readonly GridPoint[]): void {
  checkGrid(cfg.name, grid);
  if (cfg.prevPoints && cfg.prevPoints.length !== grid.length - 1) {
    throw new Error(`${cfg.name}: option prevPoints has ${cfg.prevPoints.length} points; expected one per step (${grid.length - 1})`);
  }
  if (cfg.warmup === 'prk' && cfg.heunSource) throw new Error(`${cfg.name}: option heunSource needs skipPrk`);
  if (cfg.warmup !== 'prk') return;
  const need = Math.min(PRK_STEPS, grid.length - 1);
  for (const [field, pts] of [['halfPoints', cfg.halfPoints], ['halfTargets', cfg.halfTargets]] as const) {
    if (!pts) continue;
    if (pts.length < need) throw new Error(`${cfg.name}: option ${field} has ${pts.length} points; expected ${need} (one per PRK step)`);
    for (let i = 0; i < need; i++) {
      const m = pts[i].sigma;
      if (!(m <= grid[i].sigma && m >= grid[i + 1].sigma)) {
        throw new Error(`${cfg.name}: option ${field}[${i}].sigma is ${m}; expected it between grid[${i}].sigma (${grid[i].sigma}) and grid[${i + 1}].sigma (${grid[i + 1].sigma})`);
      }
    }
  }
}

/**
 * One evaluation's raw output: eps, or with rawV the v-prediction recovered from it (VP, Salimans & Ho 2022:
 * eps = alpha v + sigma_vp x with x = alpha y, sigma_vp = sigma alpha).
 */
async function rawOutput(ctx: StepContext, cfg: PseudoConfig, y: Batch, at: GridPoint): Promise<Float32Array> {
  const { eps } = await evaluate(ctx, y, at);
  if (!cfg.rawV) return eps;
  const a = 1 / Math.sqrt(1 + at.sigma * at.sigma);
  return linComb([1 / a, -at.sigma * a], [eps, y.data]);
}

/** eps used by a transfer starting at `base` from a combination of raw outputs (diffusers converts v there). */
function epsAtBase(cfg: PseudoConfig, raw: Float32Array, y: Batch, base: GridPoint): Float32Array {
  if (!cfg.rawV) return raw;
  const a = 1 / Math.sqrt(1 + base.sigma * base.sigma);
  return linComb([a, base.sigma * a * a], [raw, y.data]);
}

/** DDIM transfer y_s -> y_t with a given eps (Liu et al. 2022, eq. 9 in y = x / alpha). */
function transfer(y: Batch, s: GridPoint, t: GridPoint, eps: Float32Array): Batch {
  return { data: linComb([1, t.sigma - s.sigma], [y.data, eps]), shape: y.shape };
}

/** One step of a PNDM-family solver (PNDM, S-PNDM). */
export async function pseudoStep(
  ctx: StepContext,
  cfg: PseudoConfig,
  i: number,
  y: Batch,
  state: PndmState,
): Promise<StepOutput<PndmState>> {
  const grid = ctx.grid;
  const steps = grid.length - 1;
  const s = grid[i], t = grid[i + 1];
  // The final transfer goes from (yFrom at `from`) to `to`, then hands the native sample on to t.
  let from = s, yFrom = y;
  let to = cfg.prevPoints?.[i] ?? t;
  let raw: Float32Array;
  let history: Float32Array[];

  if (cfg.warmup === 'prk' && i < PRK_STEPS) {
    // Pseudo Runge-Kutta (Liu et al. 2022, eq. 13): e1 at s, e2 and e3 at the half step, e4 at t.
    const m = cfg.halfPoints?.[i] ?? ctx.schedule.pointAtT((s.t + t.t) / 2);
    const m1 = cfg.halfTargets?.[i] ?? m;
    const e1 = await rawOutput(ctx, cfg, y, s);
    // The first half transfer lands at m1; the native sample x = alpha(m1) y is evaluated at m (diffusers).
    const e2 = await rawOutput(ctx, cfg, handOver(transfer(y, s, m1, epsAtBase(cfg, e1, y, s)), m1, m), m);
    const e3 = await rawOutput(ctx, cfg, transfer(y, s, m, epsAtBase(cfg, e2, y, s)), m);
    const e4 = await rawOutput(ctx, cfg, handOver(transfer(y, s, to, epsAtBase(cfg, e3, y, s)), to, t), t);
    raw = linComb([1 / 6, 1 / 3, 1 / 3, 1 / 6], [e1, e2, e3, e4]);
    history = [...state.history, e1];
  } else if (cfg.warmup !== 'prk' && i === 0) {
    // Pseudo improved Euler (Liu et al. 2022, Sec. 4.2 / S-PNDM): e2 at the DDIM prediction of y_t.
    const e1 = await rawOutput(ctx, cfg, y, s);
    if (cfg.warmup === 'heun-unless-last' && steps === 1) raw = e1;
    else {
      const e2 = await rawOutput(ctx, cfg, handOver(transfer(y, s, to, epsAtBase(cfg, e1, y, s)), to, t), t);
      raw = linComb([0.5, 0.5], [e1, e2]);
      // diffusers' correction re-reads the start sample at heunSource and lands on t itself.
      if (cfg.heunSource) {
        from = cfg.heunSource;
        yFrom = handOver(y, s, from);
      }
      to = t;
    }
    history = [e1];
  } else {
    // Under sample() nothing reads a multistep step's update or the previous pair (only IIA does, through a context
    // of its own): a derived eps goes into the raw-output array the history let go last step, the Adams-Bashforth
    // combination and x0_hat into run-long scratch arrays, and the new state over the old one. Bit for bit the same.
    const owned = !!ctx.mayOverwriteState && !!ctx.scratch && !cfg.rawV;
    // (rawOutput is the evaluation's eps itself when not rawV.)
    const e = owned ? stepEps(ctx, await evaluate(ctx, y, s), y, state.spare) : await rawOutput(ctx, cfg, y, s);
    // Pseudo linear multistep (Liu et al. 2022, eq. 12): Adams-Bashforth on the noise predictions.
    const all = [...state.history, e];
    const order = Math.min(cfg.maxOrder, all.length);
    const recent = all.slice(-order).reverse();
    raw = combine(ADAMS_BASHFORTH[order - 1], recent, owned ? ctx.scratch!('pndm-eps-tilde', y.data.length) : undefined);
    history = all.slice(-(cfg.maxOrder - 1));
    if (owned && !all.includes(y.data)) {
      const scale = to === t ? 1 : to.alpha / t.alpha;
      const r = transferUpdate(y, s, to, raw, undefined, scale, { x0Hat: ctx.scratch!('pndm-x0-hat', y.data.length), y: y.data });
      return { y: r.y, state: { history, spare: all.find((a) => !history.includes(a)) }, firstNonFinite: r.firstNonFinite };
    }
  }
  history = history.slice(-(cfg.maxOrder - 1));

  const epsTilde = epsAtBase(cfg, raw, yFrom, from);
  const r = transferUpdate(yFrom, from, to, epsTilde, state.prev, to === t ? 1 : to.alpha / t.alpha);
  const update: LinearUpdate = r.update;
  return { y: r.y, state: { history, prev: { x0Hat: r.x0Hat, epsTilde } }, update, firstNonFinite: r.firstNonFinite };
}

/** The native sample x = alpha(a) y read at point b: y_b = y alpha(a) / alpha(b) (diffusers' hand-over). */
function handOver(y: Batch, a: GridPoint, b: GridPoint): Batch {
  if (a === b || (a.sigma === b.sigma && a.alpha === b.alpha)) return y;
  return { data: linComb([a.alpha / b.alpha], [y.data]), shape: y.shape };
}

export const pndm: Solver<PndmState, PndmOptions> = {
  info: {
    name: NAME,
    order: 4,
    nfePerStep: 1,
    stochastic: false,
    reference: 'Liu et al. 2022, PNDM, eq. 9 (transfer), 12 (PLMS), 13 (PRK); diffusers PNDMScheduler',
  },

  nfe(steps: number, options?: PndmOptions): number {
    return pseudoNfe(resolve(options), steps);
  },

  check(grid: readonly GridPoint[], schedule: Schedule, options?: PndmOptions): void {
    const cfg = resolve(options);
    pseudoCheck(cfg, grid);
    if (cfg.rawV && schedule.kind !== 'vp-discrete' && schedule.kind !== 'vp-continuous') {
      throw new Error(`${NAME}: option combineRawV needs a VP schedule (v-prediction); got a '${schedule.kind}' schedule`);
    }
  },

  init(_y: Batch, options?: PndmOptions): PndmState {
    resolve(options);
    return { history: [] };
  },

  step(ctx: StepContext, i: number, y: Batch, state: PndmState, options?: PndmOptions): Promise<StepOutput<PndmState>> {
    return pseudoStep(ctx, resolve(options), i, y, state);
  },
};
