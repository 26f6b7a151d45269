// IIA-IPNDM (Zhang et al., IIA ICLR 2024 App. G.2, Alg. 4): iPNDM's update plus phi_i0 (x^_i - x^_{i-1}) +
// phi_i1 (eps~_i - eps~_{i-1}), defaults 0, for i >= 1. Coefficients are in y = z / alpha (the paper's phi is
// alpha_{i+1} times ours). Fine target: pseudo-fine.ts (iPNDM's Adams-Bashforth with weights exact for the
// sub-interval spacing; the same order cap maxOrder).
import { ipndm, type IpndmOptions, type IpndmState } from '../../solvers/ipndm.js';
import { DirectionBuilder, type IiaVariant } from '../variant.js';
import { pairDifferenceDirections, pseudoFineTarget } from './pseudo-fine.js';

export const iiaIpndm: IiaVariant<IpndmState, null, IpndmOptions> = {
  name: 'iia-ipndm',
  base: ipndm,
  reference: 'Zhang et al., IIA ICLR 2024 App. G.2 (Alg. 4), on iPNDM (Zhang & Chen 2022)',
  summary: 'phi0 on (x0_hat_i - x0_hat_{i-1}), phi1 on (eps_tilde_i - eps_tilde_{i-1})',
  r: { default: 1, min: 1, max: 1 },
  defaultBatch: 16,
  checkOptions: (o) => void ipndm.init({ data: new Float32Array(0), shape: [0] }, o),
  initHistory: () => null,
  async step(ctx, i, y, baseState, _history, _r, options) {
    const base = await ipndm.step(ctx, i, y, baseState, options);
    const b = new DirectionBuilder(base, 'iia-ipndm');
    pairDifferenceDirections(b);
    return { base, dirs: b.build(), advance: () => ({ history: null, baseState: base.state }) };
  },
  fineTarget: (ctx, i, y, state, M, options) =>
    pseudoFineTarget(ipndm, { warmup: null, maxOrder: options?.maxOrder ?? 4, history: state.derivatives }, ctx, i, y, state, M, options),
};
