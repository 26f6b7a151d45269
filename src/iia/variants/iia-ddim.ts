// IIA-DDIM (Zhang et al., IIA NeurIPS preprint Sec. 4, eqs. 20-23; ICLR 2024 Sec. 3, eqs. 5-7): the DDIM update
// plus phi_i0 (x^_i - x^_{i-1}) + phi_i1 (eps^_i - eps^_{i-1}), defaults 0, from step 1 on (step 0 has no previous
// prediction). Coefficients are in the EDM-normalised y = z / alpha: the paper's phi (in z) is alpha_{i+1} times
// ours. The fine target is DDIM over M sub-intervals (eq. 23).
import { ddim, type DdimOptions, type DdimState } from '../../solvers/ddim.js';
import { baseOverSubIntervals, DirectionBuilder, type IiaVariant } from '../variant.js';

export interface PreviousPrediction {
  x0: Float32Array;
  eps: Float32Array;
}

export function checkDdimOptions(name: string, options: DdimOptions | undefined): void {
  ddim.init({ data: new Float32Array(0), shape: [0] }, options);
  if ((options?.eta ?? 0) !== 0) throw new Error(`${name}: base option eta is ${options?.eta}; IIA needs deterministic DDIM (eta = 0)`);
  if (options?.prevSigmas !== undefined) {
    throw new Error(`${name}: base option prevSigmas (diffusers' off-grid bookkeeping) is not supported by IIA; calibrate on the grid itself`);
  }
}

export const iiaDdim: IiaVariant<DdimState, PreviousPrediction | null, DdimOptions> = {
  name: 'iia-ddim',
  base: ddim,
  reference: 'Zhang et al., IIA (NeurIPS preprint Sec. 4, eqs. 20-23; ICLR 2024 eqs. 5-7), on DDIM (Song et al. 2021, eq. 12)',
  summary: 'phi0 on (x0_i - x0_{i-1}), phi1 on (eps_i - eps_{i-1})',
  r: { default: 1, min: 1, max: 1 },
  defaultBatch: 16,
  checkOptions: (o) => checkDdimOptions('iia-ddim', o),
  initHistory: () => null,
  async step(ctx, i, y, baseState, history, _r, options) {
    const base = await ddim.step(ctx, i, y, baseState, options);
    const b = new DirectionBuilder(base, 'iia-ddim');
    if (history) {
      // eq. 22: phi_i0 (x^(z_i, t_i) - x^(z_{i-1}, t_{i-1})) + phi_i1 (eps^(z_i, t_i) - eps^(z_{i-1}, t_{i-1})).
      b.dir('phi0', 0, { denoised: 1, [b.addAtom('denoised_prev', history.x0)]: -1 });
      b.dir('phi1', 0, { eps: 1, [b.addAtom('eps_prev', history.eps)]: -1 });
    }
    return {
      base,
      dirs: b.build(),
      advance: () => ({ history: { x0: b.atom('denoised'), eps: b.atom('eps') }, baseState: base.state }),
    };
  },
  fineTarget: (ctx, i, y, state, M, options) => baseOverSubIntervals(ddim, ctx, i, y, state, M, options),
};
