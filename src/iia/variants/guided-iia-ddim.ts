// Guided IIA-DDIM for classifier-free guidance (Zhang et al., IIA ICLR 2024 Sec. 3, eq. 8): the DDIM update with the
// guided noise prediction eps" plus beta_i eps", default 0 (one coefficient per step; the paper found it preferable
// to eq. 6's two for guided sampling). The model is the guided denoiser (src/models/guidance.ts); the least squares
// averages over (noise, condition) pairs: calibrate({ model: { family, conditions } }) pairs calibration noise b
// with conditions[b mod C]. Coefficients are in y = z / alpha (the paper's beta is alpha_{i+1} times ours).
import { ddim, type DdimOptions, type DdimState } from '../../solvers/ddim.js';
import { baseOverSubIntervals, DirectionBuilder, type IiaVariant } from '../variant.js';
import { checkDdimOptions } from './iia-ddim.js';

export const guidedIiaDdim: IiaVariant<DdimState, null, DdimOptions> = {
  name: 'guided-iia-ddim',
  base: ddim,
  reference: 'Zhang et al., IIA ICLR 2024 Sec. 3, eq. 8 (classifier-free guided DDIM); Ho & Salimans 2022 eq. 6',
  summary: 'beta on the guided eps',
  r: { default: 0, min: 0, max: 0 },
  defaultBatch: 20,
  checkOptions: (o) => checkDdimOptions('guided-iia-ddim', o),
  initHistory: () => null,
  async step(ctx, i, y, baseState, _history, _r, options) {
    const base = await ddim.step(ctx, i, y, baseState, options);
    const b = new DirectionBuilder(base, 'guided-iia-ddim');
    b.dir('beta', 0, { eps: 1 }); // eq. 8: + beta_i eps"(z_i, P; t_i)
    return { base, dirs: b.build(), advance: () => ({ history: null, baseState: base.state }) };
  },
  fineTarget: (ctx, i, y, state, M, options) => baseOverSubIntervals(ddim, ctx, i, y, state, M, options),
};
