// iia:<solver>, IIA for any deterministic solver of the library (no published implementation does this; the choice
// of directions is ours). Directions of step i:
//   w_<term>: a relative weight on each term of the base step's own update (c_k v_k, default 1). These are exactly
//     the quantities whose fixed coefficients the base derived from a Taylor or polynomial model of the ODE, so
//     re-weighting them corrects the base where its model is off for this model and grid (IIA's design principle,
//     ICLR 2024 Sec. 3: "optimize the stepsizes in front of certain selected quantities"). A vector the base names
//     with coefficient 0 this step (S-PNDM's previous pair, UniPC's corrected state on its step to sigma = 0) gets an
//     absolute weight a_<term> (default 0).
//   dx0_k: the difference of consecutive data predictions x0_{i-k+1} - x0_{i-k}, k = 1..r (default 0): the
//     curvature information of IIA-DDIM's phi0 term (ICLR 2024 eq. 6) and of the lookahead/extrapolation of
//     Zhang et al. 2023 (LA-DPM), which a single-step base (Euler, Heun, DDIM) does not use at all. Where the base
//     already uses x0_{i-1} (DPM-Solver++, UniPC), the difference is linearly dependent on its terms and the
//     least squares drop it.
// x0_i is the data prediction of the step's first model call (at (y_i, sigma_i); F-DDIM's is its forward value).
// UniPC and SA-Solver restart their corrector at the next step from the state the predictor started from (lastY,
// previous.y) and would discard an IIA change of y_{i+1}; the change is carried into that state (divided by the
// corrector's weight on it) so it persists.
// Measured (gmm-64d, Karras grids): large gains on Euler/DDIM/Heun/DEIS/DPM-Solver++ at NFE 7-25; on the fixed-weight
// Adams-Bashforth bases and UniPC the per-step gains often do not carry over to the whole run there, and calibrate's
// whole-run check keeps their defaults.
import { linComb } from '../../core/batch.js';
import type { Solver } from '../../solvers/solver.js';
import { atomCoefficients, baseOverSubIntervals, DirectionBuilder, recordingContext, type IiaVariant } from '../variant.js';
import { pseudoFineTarget, type PseudoFineSpec } from './pseudo-fine.js';

/** Earlier first-call data predictions, most recent first. */
export type GenericHistory = Float32Array[];

type Options = Record<string, unknown> | undefined;

const PNDM_PARITY_OPTIONS = ['halfPoints', 'halfTargets', 'prevPoints', 'heunSource', 'combineRawV'];

function checkGenericOptions(name: string, base: Solver<any, any>, o: Options): void {
  base.init({ data: new Float32Array(0), shape: [0] }, o);
  const b = base.info.name;
  if (b === 'heun' && ((o?.sChurn as number | undefined) ?? 0) !== 0) throw new Error(`${name}: base option sChurn is ${o?.sChurn}; IIA needs a deterministic base (sChurn = 0)`);
  if (b === 'ddim' && ((o?.eta as number | undefined) ?? 0) !== 0) throw new Error(`${name}: base option eta is ${o?.eta}; IIA needs a deterministic base (eta = 0)`);
  if (b === 'sa-solver' && o?.tau !== 0) {
    throw new Error(`${name}: base option tau is ${typeof o?.tau === 'function' ? 'a function' : String(o?.tau ?? '1 (the default)')}; IIA needs the deterministic SA-Solver (tau: 0, the probability-flow ODE)`);
  }
  const parity = b === 'ddim' ? ['prevSigmas'] : b === 'pndm' ? PNDM_PARITY_OPTIONS : [];
  for (const k of parity) {
    if (o?.[k] !== undefined) throw new Error(`${name}: base option ${k} (diffusers' bookkeeping) is not supported by IIA; calibrate on the grid itself`);
  }
}

/** The fine target spec of a PNDM-family base at step i, or null for a base that is refined as it is. */
function pseudoSpec(base: Solver<any, any>, i: number, steps: number, state: any, o: Options): PseudoFineSpec | null {
  switch (base.info.name) {
    case 'spndm':
      return { warmup: i === 0 ? 'heun' : null, maxOrder: 2, history: state.history };
    case 'ipndm':
      return { warmup: null, maxOrder: (o?.maxOrder as number | undefined) ?? 4, history: state.derivatives };
    case 'pndm': {
      const warmup = o?.skipPrk ? (i === 0 && steps > 1 ? 'heun' : null) : i < 3 ? 'prk' : null;
      return { warmup, maxOrder: 4, history: state.history };
    }
    default:
      return null;
  }
}

/**
 * Bases whose next step restarts a corrector from a stored copy of the state this step's predictor started from
 * (UniPC's lastY, SA-Solver's previous.y): that state, its weight c0 in the corrected y_{i+1} (sigma_{i+1}/sigma_i in
 * the data-prediction form, 1 in UniPC's noise-prediction form) and how to replace it.
 */
function correctorRestart(
  name: string,
  state: any,
  o: Record<string, unknown>,
  i: number,
  sigma: number,
  sigmaNext: number,
): { start: Float32Array; c0: number; with(v: Float32Array): unknown } | null {
  if (name === 'unipc' && state.lastY && !((o.disableCorrector as number[] | undefined) ?? []).includes(i)) {
    return { start: state.lastY, c0: o.predictX0 === false ? 1 : sigmaNext / sigma, with: (v) => ({ ...state, lastY: v }) };
  }
  if (name === 'sa-solver' && state.previous && o.correctorOrder !== 0) {
    return { start: state.previous.y, c0: sigmaNext / sigma, with: (v) => ({ ...state, previous: { ...state.previous, y: v } }) };
  }
  return null;
}

export function genericVariant(base: Solver<any, any>): IiaVariant<any, GenericHistory, Options> {
  const name = `iia:${base.info.name}`;
  return {
    name,
    base,
    reference: `IIA (Zhang et al., ICLR 2024) generalised: the ${base.info.name} update's own terms re-weighted plus x0 differences; base: ${base.info.reference}`,
    summary: "w_<term> on each term of the base update (relative, default 1), dx0_k on x0_{i-k+1} - x0_{i-k}",
    r: { default: 1, min: 0, max: 3 },
    defaultBatch: 64,
    checkOptions: (o) => checkGenericOptions(name, base, o),
    initHistory: () => [],
    async step(ctx, i, y, baseState, history, r, options) {
      const rec = recordingContext(ctx);
      const out = await base.step(rec.ctx, i, y, baseState, options);
      const b = new DirectionBuilder(out, name);
      const u = out.update!;
      u.names.forEach((n, k) => {
        if (u.coefficients[k] !== 0) b.dir(`w_${n}`, 1, { [n]: u.coefficients[k] });
        else b.dir(`a_${n}`, 0, { [n]: 1 }); // a vector the base names but does not use this step (e.g. UniPC's y at sigma' = 0)
      });
      const x0 = rec.first()?.x0;
      const used = x0 ? Math.min(r, history.length) : 0;
      if (used > 0) {
        const names = [b.addAtom('x0', x0!)];
        for (let k = 1; k <= used; k++) names.push(b.addAtom(`x0_prev${k}`, history[k - 1]));
        for (let k = 1; k <= used; k++) b.dir(`dx0_${k}`, 0, { [names[k - 1]]: 1, [names[k]]: -1 });
      }
      const dirs = b.build();
      const grid = ctx.grid;
      return {
        base: out,
        dirs,
        advance(theta) {
          const next = r > 0 && x0 ? [x0, ...history].slice(0, r) : [];
          let baseState = out.state;
          const sn = grid[i + 1].sigma;
          const restart = sn > 0 && i + 2 < grid.length ? correctorRestart(base.info.name, baseState, options ?? {}, i, grid[i].sigma, sn) : null;
          if (restart) {
            // The next step's corrector recomputes y_{i+1} = c0 * start + ...; carry the IIA change into `start`.
            const coef = atomCoefficients(dirs, theta).map((c, k) => (c - dirs.baseCoefficients[k]) / restart.c0);
            const c: number[] = [1], v: Float32Array[] = [restart.start];
            coef.forEach((k, a) => {
              if (k !== 0) {
                c.push(k);
                v.push(dirs.atoms[a]);
              }
            });
            if (c.length > 1) baseState = restart.with(linComb(c, v));
          }
          return { history: next, baseState };
        },
      };
    },
    fineTarget(ctx, i, y, state, M, options) {
      const spec = pseudoSpec(base, i, ctx.grid.length - 1, state, options);
      if (spec) return pseudoFineTarget(base, spec, ctx, i, y, state, M, options);
      return baseOverSubIntervals(base, ctx, i, y, state, M, options);
    },
  };
}
