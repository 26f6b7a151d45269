// IIA-DPM-Solver++ (Zhang et al., IIA ICLR 2024 App. C, eqs. 22-24): multistep DPM-Solver++(2M) plus
// phi_i0 z_i + phi_i1 x^_i (the current state and data prediction), defaults 0; the fine target is DPM-Solver++(2M)
// over M sub-intervals with its history (eq. 24). Coefficients are in y = z / alpha: the paper's (phi0, phi1) are
// (alpha_{i+1}/alpha_i phi0, alpha_{i+1} phi1) in our terms.
import { dpmSolverPP2M, type DpmSolverPPOptions, type DpmSolverPPState } from '../../solvers/dpm-solver-pp.js';
import { baseOverSubIntervals, DirectionBuilder, type IiaVariant } from '../variant.js';

export const iiaDpmSolverPP: IiaVariant<DpmSolverPPState, null, DpmSolverPPOptions> = {
  name: 'iia-dpm-solver++',
  base: dpmSolverPP2M,
  reference: 'Zhang et al., IIA ICLR 2024 App. C, eqs. 22-24, on DPM-Solver++(2M) (Lu et al. 2022, Alg. 2)',
  summary: 'phi0 on y_i, phi1 on x0_i',
  r: { default: 0, min: 0, max: 0 },
  defaultBatch: 20,
  checkOptions(o) {
    dpmSolverPP2M.init({ data: new Float32Array(0), shape: [0] }, o);
    if ((o?.algorithmType ?? 'dpmsolver++') !== 'dpmsolver++') {
      throw new Error(`iia-dpm-solver++: base option algorithmType is '${o?.algorithmType}'; eq. 23 needs the data prediction form 'dpmsolver++'`);
    }
  },
  initHistory: () => null,
  async step(ctx, i, y, baseState, _history, _r, options) {
    const base = await dpmSolverPP2M.step(ctx, i, y, baseState, options);
    const b = new DirectionBuilder(base, 'iia-dpm-solver++');
    b.dir('phi0', 0, { y: 1 }); // eq. 23: + phi_i0 z_i
    b.dir('phi1', 0, { denoised: 1 }); // eq. 23: + phi_i1 x^_theta(z_i, P, t_i)
    return { base, dirs: b.build(), advance: () => ({ history: null, baseState: base.state }) };
  },
  fineTarget: (ctx, i, y, state, M, options) => baseOverSubIntervals(dpmSolverPP2M, ctx, i, y, state, M, options),
};
