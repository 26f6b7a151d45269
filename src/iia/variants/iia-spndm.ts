// IIA-SPNDM (Zhang et al., IIA ICLR 2024 App. G.1, Alg. 3, eqs. 27-28): S-PNDM's pseudo linear multistep update plus
// phi_i0 (x^[i:i-1] - x^[i-1:i-2]) + phi_i1 (eps~[i:i-1] - eps~[i-1:i-2]), defaults 0, for i >= 1 (step 0, the
// pseudo improved Euler step, stays as it is). Coefficients are in y = z / alpha (the paper's phi is alpha_{i+1}
// times ours). Fine target: pseudo-fine.ts (S-PNDM over M sub-intervals, its weights exact for the spacing).
import { spndm, type SpndmOptions, type SpndmState } from '../../solvers/spndm.js';
import { DirectionBuilder, type IiaVariant } from '../variant.js';
import { pairDifferenceDirections, pseudoFineTarget } from './pseudo-fine.js';

export const iiaSpndm: IiaVariant<SpndmState, null, SpndmOptions> = {
  name: 'iia-spndm',
  base: spndm,
  reference: 'Zhang et al., IIA ICLR 2024 App. G.1 (Alg. 3, eqs. 27-28), on S-PNDM (Liu et al. 2022, Sec. 4.2)',
  summary: 'phi0 on (x0_hat_i - x0_hat_{i-1}), phi1 on (eps_tilde_i - eps_tilde_{i-1})',
  r: { default: 1, min: 1, max: 1 },
  defaultBatch: 16,
  checkOptions: (o) => void spndm.init({ data: new Float32Array(0), shape: [0] }, o),
  initHistory: () => null,
  async step(ctx, i, y, baseState, _history, _r, options) {
    const base = await spndm.step(ctx, i, y, baseState, options);
    const b = new DirectionBuilder(base, 'iia-spndm');
    pairDifferenceDirections(b);
    return { base, dirs: b.build(), advance: () => ({ history: null, baseState: base.state }) };
  },
  fineTarget: (ctx, i, y, state, M, options) =>
    pseudoFineTarget(spndm, { warmup: i === 0 ? 'heun' : null, maxOrder: 2, history: state.history }, ctx, i, y, state, M, options),
};
