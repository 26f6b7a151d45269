// Multistep DPM-Solver++ (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic
// Models", Algorithm 2 for 2M) and the 3rd-order multistep of diffusers' DPMSolverMultistepScheduler, on the
// EDM-normalised state y = x / alpha (so sigma_t / sigma_s = s' / s and alpha_t cancels). algorithmType 'dpmsolver'
// is the noise-prediction multistep DPM-Solver (Lu et al. 2022, "DPM-Solver", eq. 3.7 and its multistep form) as
// diffusers has it. Warm-up and lower-order final steps follow diffusers exactly; the step to sigma = 0
// (lambda = inf) is always first order and gives y' = x0.
import { linComb, linCombChecked } from '../core/batch.js';
import type { Solver, SolverInfo } from './solver.js';
import { checkGrid, checkOptionKeys } from './checks.js';
import { perSample } from './euler.js';

export type DpmAlgorithmType = 'dpmsolver++' | 'dpmsolver';

export interface DpmSolverPPOptions {
  /** 2nd-order formula: 'midpoint' (default) or 'heun' (diffusers solver_type; the 3rd-order step has one form). */
  solverType?: 'midpoint' | 'heun';
  /** Lower order on the last steps when steps < 15 (diffusers lower_order_final, default true). */
  lowerOrderFinal?: boolean;
  /** First order on the last step whatever the step count (diffusers euler_at_final, default false). */
  eulerAtFinal?: boolean;
  /** 'dpmsolver++' (data prediction, default) or 'dpmsolver' (noise prediction). */
  algorithmType?: DpmAlgorithmType;
}

export interface DpmHistoryEntry {
  sigma: number;
  /** The converted model output at that sigma: x0 ('dpmsolver++') or eps ('dpmsolver'). */
  value: Float32Array;
}

export interface DpmSolverPPState {
  /** Previous converted model outputs, oldest first (at most order - 1). */
  history: DpmHistoryEntry[];
}

const KNOWN = ['solverType', 'lowerOrderFinal', 'eulerAtFinal', 'algorithmType'] as const;

function readOptions(name: string, options: DpmSolverPPOptions | undefined): Required<DpmSolverPPOptions> {
  checkOptionKeys(name, options, KNOWN);
  const o = {
    solverType: options?.solverType ?? 'midpoint',
    lowerOrderFinal: options?.lowerOrderFinal ?? true,
    eulerAtFinal: options?.eulerAtFinal ?? false,
    algorithmType: options?.algorithmType ?? 'dpmsolver++',
  };
  if (o.solverType !== 'midpoint' && o.solverType !== 'heun') {
    throw new Error(`solver ${name}: option solverType is '${String(o.solverType)}'; expected 'midpoint' or 'heun'`);
  }
  for (const k of ['lowerOrderFinal', 'eulerAtFinal'] as const) {
    if (typeof o[k] !== 'boolean') throw new Error(`solver ${name}: option ${k} is ${String(o[k])}; expected true or false`);
  }
  if (o.algorithmType !== 'dpmsolver++' && o.algorithmType !== 'dpmsolver') {
    const a = String(o.algorithmType);
    const why = a.startsWith('sde-') ? ' (the SDE variants are not implemented)' : '';
    throw new Error(`solver ${name}: option algorithmType is '${a}'${why}; expected 'dpmsolver++' or 'dpmsolver'`);
  }
  return o;
}

/**
 * The order diffusers' DPMSolverMultistepScheduler.step uses at step i of `steps` with `available` previous outputs:
 * first order for warm-up and for the final step (euler_at_final, lower_order_final with < 15 steps, or sigma' = 0),
 * at most second order on the step before it (lower_order_final with < 15 steps).
 */
export function dpmStepOrder(maxOrder: number, i: number, steps: number, available: number, sigmaNext: number, o: Required<DpmSolverPPOptions>): number {
  const lowerFinal = i === steps - 1 && (o.eulerAtFinal || (o.lowerOrderFinal && steps < 15) || sigmaNext === 0);
  const lowerSecond = i === steps - 2 && o.lowerOrderFinal && steps < 15;
  if (maxOrder === 1 || available < 1 || lowerFinal || sigmaNext === 0) return 1;
  if (maxOrder === 2 || available < 2 || lowerSecond) return 2;
  return 3;
}

/**
 * Weights of y and of the model outputs m0 (current), m1, m2 (previous) in one step from sigma s0 to s' (sigmas of
 * m1, m2: s1, s2), in y = x / alpha. Data prediction (DPM-Solver++, Lu et al. 2022b, eq. 9 and Algorithm 2):
 * y' = (s'/s0) y + (1 - e^-h) D0 + ... ; noise prediction (DPM-Solver, Lu et al. 2022a, eq. 3.7 multistep):
 * y' = y - (s0 - s') D0 + ... ; the D1, D2 terms as diffusers' multistep_dpm_solver_{second,third}_order_update,
 * with D1 = (m0 - m1) / r0 and the 3rd-order D1, D2 of two backward differences, expanded onto m0, m1, m2.
 */
export function dpmCoefficients(order: number, algorithm: DpmAlgorithmType, solverType: 'midpoint' | 'heun', s0: number, sNext: number, s1 = NaN, s2 = NaN): number[] {
  const data = algorithm === 'dpmsolver++';
  // First-order term: DPM-Solver++(1) = DDIM, exact at sNext = 0 (lambda' = inf).
  const a = data ? sNext / s0 : 1;
  const b = data ? 1 - sNext / s0 : -(s0 - sNext);
  if (order === 1) return [a, b];
  // A repeated final sigma (diffusers' Karras grid ending at sigma_min twice): h = 0, the step is the identity.
  if (sNext === s0) return [1, ...new Array<number>(order).fill(0)];
  const h = Math.log(s0 / sNext); // lambda' - lambda_0, lambda = -log(sigma)
  const r0 = Math.log(s1 / s0) / h; // h_0 / h
  // phi-type weights (diffusers' coefficient of D1 and D2); expm1 keeps them accurate for small h.
  const em = Math.expm1(-h); // e^-h - 1
  const ep = Math.expm1(h); // e^h - 1, times s' = s0 - s'
  let cD1: number;
  if (order === 2 && solverType === 'midpoint') cD1 = data ? -0.5 * em : -0.5 * (s0 - sNext);
  else cD1 = data ? em / h + 1 : -((s0 - sNext) / h - sNext);
  if (order === 2) return [a, b + cD1 / r0, -cD1 / r0];
  const r1 = Math.log(s2 / s1) / h; // h_1 / h
  // D2 weight: data -((e^-h - 1 + h)/h^2 - 0.5); noise -s'((e^h - 1 - h)/h^2 - 0.5).
  const cD2 = data ? -((em + h) / (h * h) - 0.5) : -sNext * ((ep - h) / (h * h) - 0.5);
  // D1 = D1_0 + r0/(r0+r1) (D1_0 - D1_1), D2 = (D1_0 - D1_1)/(r0+r1), D1_0 = (m0-m1)/r0, D1_1 = (m1-m2)/r1.
  const c10 = cD1 * (1 + r0 / (r0 + r1)) + cD2 / (r0 + r1);
  const c11 = -cD1 * (r0 / (r0 + r1)) - cD2 / (r0 + r1);
  return [a, b + c10 / r0, -c10 / r0 + c11 / r1, -c11 / r1];
}

function makeDpmSolverPP(maxOrder: 2 | 3): Solver<DpmSolverPPState, DpmSolverPPOptions> {
  const name = `dpm-solver++${maxOrder}m`;
  const info: SolverInfo = {
    name,
    order: maxOrder,
    nfePerStep: 1,
    stochastic: false,
    reference:
      maxOrder === 2
        ? 'Lu et al. 2022, DPM-Solver++, Algorithm 2 (multistep 2nd order)'
        : "Lu et al. 2022, DPM-Solver++, Sec. 4 / diffusers DPMSolverMultistepScheduler's 3rd-order multistep",
  };
  return {
    info,
    nfe(steps: number): number {
      return steps;
    },
    check(grid, _schedule, options) {
      readOptions(name, options);
      checkGrid(name, grid);
    },
    init(_y, options) {
      readOptions(name, options);
      return { history: [] };
    },
    async step(ctx, i, y, state, options) {
      const o = readOptions(name, options);
      const steps = ctx.grid.length - 1;
      const at = ctx.grid[i], next = ctx.grid[i + 1];
      const s0 = at.sigma, sNext = next.sigma;
      const p = await ctx.predict(y, at);
      // diffusers convert_model_output: x0 (thresholded) for 'dpmsolver++'; eps for 'dpmsolver', re-derived from
      // the thresholded x0 when there is a transform.
      let m0: Float32Array;
      if (o.algorithmType === 'dpmsolver++') {
        m0 = p.x0;
        if (ctx.x0Transform) {
          m0 = p.x0.slice();
          ctx.x0Transform(m0, perSample(y));
        }
      } else {
        m0 = p.eps;
        if (ctx.x0Transform) {
          const x0 = p.x0.slice();
          ctx.x0Transform(x0, perSample(y));
          m0 = linComb([1 / s0, -1 / s0], [y.data, x0]);
        }
      }
      const hist = state.history;
      const order = dpmStepOrder(maxOrder, i, steps, hist.length, sNext, o);
      const m1 = hist[hist.length - 1], m2 = hist[hist.length - 2];
      const coefficients = dpmCoefficients(order, o.algorithmType, o.solverType, s0, sNext, m1?.sigma, m2?.sigma);
      const vectors = [y.data, m0];
      if (order >= 2) vectors.push(m1.value);
      if (order >= 3) vectors.push(m2.value);
      const out = o.algorithmType === 'dpmsolver++' ? 'denoised' : 'eps';
      const names = ['y', out, `${out}_prev`, `${out}_prev2`].slice(0, vectors.length);
      const history = [...hist, { sigma: s0, value: m0 }].slice(-(maxOrder - 1));
      // The history keeps model outputs, not y: with the driver's leave the new state goes over the old one (unless
      // a model handed y itself back as its output). The combination checks for NaN/Inf in the same pass.
      const inPlace = !!ctx.mayOverwriteState && !history.some((h) => h.value === y.data);
      const { data, firstNonFinite } = linCombChecked(coefficients, vectors, inPlace ? y.data : undefined);
      return { y: { data, shape: y.shape }, state: { history }, update: inPlace ? undefined : { names, vectors, coefficients }, firstNonFinite };
    },
  };
}

/** DPM-Solver++(2M): Lu et al. 2022, Algorithm 2. */
export const dpmSolverPP2M = makeDpmSolverPP(2);
/** DPM-Solver++(3M): the 3rd-order multistep of diffusers' DPMSolverMultistepScheduler. */
export const dpmSolverPP3M = makeDpmSolverPP(3);
