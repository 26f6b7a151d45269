// UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of Diffusion Models"):
// the multistep predictor UniP-p and the corrector UniC-p with B(h) = h (bh1) or e^h - 1 (bh2), in the data
// prediction (default, as diffusers' predict_x0) or the noise prediction form. Step for step as diffusers'
// UniPCMultistepScheduler: at step i the model is evaluated once at grid[i]; that evaluation first corrects the state
// the previous predictor produced (UniC, unless step i-1 is in disableCorrector), then drives the predictor to
// grid[i+1]. The last predictor is never corrected, so the run costs exactly one NFE per step.
//
// In the EDM-normalised state y = x / alpha (lambda = -log sigma, h = lambda_t - lambda_s), diffusers' VP update
// x_t = (sigma_t/sigma_s) x_s - alpha_t (e^{-h} - 1) m_0 - alpha_t B(-h) sum_k rho_k D1_k becomes
// y_t = e^{-h} y_s - (e^{-h} - 1) m_0 - B(-h) sum_k rho_k D1_k (data prediction), and
// y_t = y_s - sigma_t (e^h - 1) eps_0 - sigma_t B(h) sum_k rho_k D1_k (noise prediction).
//
// Deviations from diffusers, both where diffusers returns NaN: a step that ends at sigma = 0 uses the first-order
// predictor (higher orders extrapolate to lambda = infinity and diverge; diffusers gives NaN unless
// lower_order_final), and a zero-length step (a repeated final sigma) leaves y unchanged.
import type { Batch } from '../core/batch.js';
import { linComb, linCombChecked } from '../core/batch.js';
import type { GridPoint, Schedule } from '../schedules/schedule.js';
import {
  checkBooleanOption,
  checkGrid,
  checkIntegerOption,
  checkOptionKeys,
  evaluate,
  solveLinear,
} from './multistep.js';
import type { LinearUpdate, Solver, StepContext, StepOutput } from './solver.js';

export type UniPcSolverType = 'bh1' | 'bh2';

export interface UniPcOptions {
  /** p of UniP-p / UniC-p, 1-5 (default 2; diffusers' solver_order). The corrector raises the order to p + 1. */
  solverOrder?: number;
  /** B(h) = h ('bh1') or e^h - 1 ('bh2', default) (Zhao et al. 2023, Sec. 3.2 / App. B). */
  solverType?: UniPcSolverType;
  /** Data prediction form (default true; diffusers' predict_x0). false: the noise prediction form. */
  predictX0?: boolean;
  /** Steps whose result is not corrected (diffusers' disable_corrector: step i-1 listed -> no UniC at step i). */
  disableCorrector?: number[];
  /** Lower the order near the end: order <= steps - i (default true; diffusers' lower_order_final). */
  lowerOrderFinal?: boolean;
}

export interface UniPcState {
  /** Model outputs (data predictions, or noise predictions when predictX0 is false) of recent steps, oldest first. */
  outputs: Float32Array[];
  /** The grid points of `outputs`. */
  points: GridPoint[];
  /** The state the last predictor started from (diffusers' last_sample); the corrector restarts from it. */
  lastY?: Float32Array;
  /** Order of the last predictor (the corrector uses the same p). */
  lastOrder: number;
}

const NAME = 'unipc';
const KEYS = ['solverOrder', 'solverType', 'predictX0', 'disableCorrector', 'lowerOrderFinal'] as const;
const MAX_ORDER = 5;

interface Resolved {
  order: number;
  type: UniPcSolverType;
  predictX0: boolean;
  disable: ReadonlySet<number>;
  lowerOrderFinal: boolean;
}

function resolve(o: UniPcOptions | undefined): Resolved {
  checkOptionKeys(NAME, o, KEYS);
  checkIntegerOption(NAME, 'solverOrder', o?.solverOrder, 1, MAX_ORDER);
  const type = o?.solverType ?? 'bh2';
  if (type !== 'bh1' && type !== 'bh2') throw new Error(`${NAME}: option solverType is '${String(type)}'; expected 'bh1' or 'bh2'`);
  checkBooleanOption(NAME, 'predictX0', o?.predictX0);
  checkBooleanOption(NAME, 'lowerOrderFinal', o?.lowerOrderFinal);
  const dc = o?.disableCorrector ?? [];
  if (!Array.isArray(dc) || dc.some((v) => !Number.isInteger(v))) {
    throw new Error(`${NAME}: option disableCorrector is ${JSON.stringify(dc)}; expected a list of integer step indices`);
  }
  return {
    order: o?.solverOrder ?? 2,
    type,
    predictX0: o?.predictX0 ?? true,
    disable: new Set(dc),
    lowerOrderFinal: o?.lowerOrderFinal ?? true,
  };
}

/**
 * Coefficients of one UniP or UniC update, on the vectors [y_s, m_0, m_1, ..., m_{p-1}] (+ m_t for the corrector),
 * m_k the output at history point k (0 = the step's start s). Zhao et al. 2023, Alg. 2 (UniP) and Alg. 1 / eq. 8
 * (UniC) with the B(h) variants of App. B; the order-2 predictor and order-1 corrector use rho = 1/2 as diffusers.
 */
function uniCoefficients(
  r: Resolved,
  s: GridPoint,
  t: GridPoint,
  history: readonly GridPoint[],
  order: number,
  corrector: boolean,
): number[] {
  const n = 1 + order + (corrector ? 1 : 0);
  const coef = new Array<number>(n).fill(0);
  if (t.sigma === s.sigma) {
    coef[0] = 1; // zero-length step
    return coef;
  }
  const lambdaS = -Math.log(s.sigma);
  const h = -Math.log(t.sigma) - lambdaS; // Infinity when sigma_t = 0
  const hh = r.predictX0 ? -h : h;
  const hPhi1 = Math.expm1(hh);
  const Bh = r.type === 'bh1' ? hh : hPhi1;
  // Scale of the m-terms: 1 (data prediction) or sigma_t (noise prediction; sigma_t (e^h - 1) = sigma_s - sigma_t).
  const scaledPhi1 = r.predictX0 ? hPhi1 : s.sigma - t.sigma;
  const scaledB = r.predictX0 ? Bh : r.type === 'bh2' ? s.sigma - t.sigma : t.sigma * h;
  coef[0] = r.predictX0 ? t.sigma / s.sigma : 1; // e^{-h} y_s or y_s
  coef[1] = -scaledPhi1;

  // r_k = (lambda_{s_k} - lambda_s) / h for the history points k = 1..p-1, then r_p = 1 (Zhao et al. 2023, Alg. 2).
  const K = order - 1;
  if (K === 0 && !corrector) return coef;
  const rks: number[] = [];
  for (let k = 1; k <= K; k++) rks.push((-Math.log(history[k].sigma) - lambdaS) / h);
  rks.push(1);

  let rhos: number[];
  if (!corrector && order === 2) rhos = [0.5];
  else if (corrector && order === 1) rhos = [0.5];
  else {
    // b_k = k! phi_{k+1}(hh) hh / B(h) via diffusers' recursion h_phi_{k+1} = h_phi_k / hh - 1 / k!.
    const b: number[] = [];
    let hPhiK = hPhi1 / hh - 1;
    let factorial = 1;
    for (let i = 1; i <= order; i++) {
      b.push((hPhiK * factorial) / Bh);
      factorial *= i + 1;
      hPhiK = hPhiK / hh - 1 / factorial;
    }
    const m = corrector ? order : order - 1;
    const R = Array.from({ length: m }, (_, row) => Array.from({ length: m }, (_, col) => rks[col] ** row));
    rhos = solveLinear(R, b.slice(0, m));
  }
  // sum_k rho_k D1_k with D1_k = (m_k - m_0) / r_k; for the corrector the last term is rho_p (m_t - m_0).
  for (let k = 1; k <= K; k++) {
    const w = rhos[k - 1] / rks[k - 1];
    coef[1 + k] -= scaledB * w;
    coef[1] += scaledB * w;
  }
  if (corrector) {
    const w = rhos[order - 1];
    coef[n - 1] -= scaledB * w;
    coef[1] += scaledB * w;
  }
  return coef;
}

export const unipc: Solver<UniPcState, UniPcOptions> = {
  info: {
    name: NAME,
    order: 3,
    nfePerStep: 1,
    stochastic: false,
    reference: 'Zhao et al. 2023, UniPC, Alg. 1-2 (UniP-p + UniC-p, B(h) bh1/bh2); diffusers UniPCMultistepScheduler',
  },

  nfe(steps: number, options?: UniPcOptions): number {
    resolve(options);
    return steps;
  },

  check(grid: readonly GridPoint[], _schedule: Schedule, options?: UniPcOptions): void {
    resolve(options);
    checkGrid(NAME, grid);
  },

  init(_y: Batch, options?: UniPcOptions): UniPcState {
    resolve(options);
    return { outputs: [], points: [], lastOrder: 0 };
  },

  async step(ctx: StepContext, i: number, y: Batch, state: UniPcState, options?: UniPcOptions): Promise<StepOutput<UniPcState>> {
    const r = resolve(options);
    const grid = ctx.grid;
    const steps = grid.length - 1;
    const s = grid[i], t = grid[i + 1];
    const ev = await evaluate(ctx, y, s);
    const m = r.predictX0 ? ev.x0 : ev.eps;

    // Under sample() (ctx.mayOverwriteState) the arrays this solver made are its own: the corrected state goes over
    // the previous one (lastY, read by nothing else), and the predictor's result over y unless y is the corrector's
    // start. Element-wise, so bit for bit as with fresh arrays.
    const owned = !!ctx.mayOverwriteState;
    // UniC: correct the previous predictor's result with this evaluation (Zhao et al. 2023, eq. 8).
    let ys = y.data;
    if (state.lastY && state.outputs.length > 0 && !r.disable.has(i - 1)) {
      const p = state.lastOrder;
      const hist = state.points.slice(-p).reverse();
      const outs = state.outputs.slice(-p).reverse();
      const c = uniCoefficients(r, hist[0], s, hist, p, true);
      const reuse = owned && state.lastY !== y.data && !state.outputs.includes(state.lastY) && state.lastY !== m;
      ys = linComb(c, [state.lastY, ...outs, m], reuse ? state.lastY : undefined);
    }

    const outputs = [...state.outputs, m].slice(-r.order);
    const points = [...state.points, s].slice(-r.order);
    let order = Math.min(r.order, outputs.length);
    if (r.lowerOrderFinal) order = Math.min(order, steps - i);
    if (t.sigma === 0) order = 1;

    // UniP-p (Zhao et al. 2023, Alg. 2): y_t from y_s and the last p outputs.
    const hist = points.slice(-order).reverse();
    const outs = outputs.slice(-order).reverse();
    const c = uniCoefficients(r, s, t, hist, order, false);
    const mName = r.predictX0 ? 'denoised' : 'eps';
    const update: LinearUpdate = {
      names: ['y', ...outs.map((_, k) => (k === 0 ? mName : `${mName}_prev${k}`))],
      vectors: [ys, ...outs],
      coefficients: c,
    };
    // The state keeps ys (the next corrector starts from it), so the new state goes over y only when y is not ys (and
    // not a model output); NaN/Inf are checked in the same pass.
    const inPlace = owned && ys !== y.data && !outputs.includes(y.data);
    const { data, firstNonFinite } = linCombChecked(update.coefficients, update.vectors, inPlace ? y.data : undefined);
    return {
      y: { data, shape: [...y.shape] },
      state: { outputs, points, lastY: ys, lastOrder: order },
      update,
      firstNonFinite,
    };
  },
};
