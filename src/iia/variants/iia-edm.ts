// IIA-EDM (Zhang et al., IIA NeurIPS preprint Sec. 3.3, eqs. 15-19; ICLR 2024 Sec. 4): by Lemma 1 (eqs. 15-17) the
// Heun step is y' = y + h [(y - D)/sigma - (D' - D)/(2 sigma')], h = sigma' - sigma. IIA-EDM puts free step sizes in
// front of its two parts and of the r previous corrected gradients (eq. 18):
//   y' = y + h [beta0 (y - D) - beta1/(2 sigma') (D' - D) + sum_{k=1..r} gamma_k g~_{i-k}],
//   g~_j = beta0*_j (y_j - D_j) - beta1*_j/(2 sigma_{j+1}) (D'_j - D_j)   (the bracket of step j with its fitted
// betas, without its gammas), defaults beta0 = 1/sigma_i, beta1 = 1, gamma = 0 (eq. 19 fits them by least squares).
// On the final Euler step to sigma = 0 only beta0 and the gammas exist (there is no D'). Each g~ is stored as one
// array, formed in the same pass as its step's y (combineStep).
import { heun, type HeunOptions, type HeunState } from '../../solvers/heun.js';
import { DirectionBuilder, keptVector, type IiaVariant } from '../variant.js';
import { checkHeunOptions, heunFineTarget } from './heun-base.js';

/** Previous corrected gradients g~, most recent first (formed in the pass that forms their step's y). */
export type IiaEdmHistory = Float32Array[];

export const iiaEdm: IiaVariant<HeunState, IiaEdmHistory, HeunOptions> = {
  name: 'iia-edm',
  base: heun,
  reference: 'Zhang et al., IIA (NeurIPS preprint Sec. 3.3, eqs. 15-19; ICLR 2024 Sec. 4), on EDM Heun (Karras et al. 2022, Alg. 1)',
  summary: 'beta0 on h(y - D), beta1 on -h(D\' - D)/(2 sigma\'), gamma_k on h g~_{i-k} (r earlier corrected gradients)',
  r: { default: 1, min: 0, max: 3 },
  defaultBatch: 200,
  checkOptions: (o) => checkHeunOptions('iia-edm', o),
  initHistory: () => [],
  async step(ctx, i, y, baseState, history, r, options) {
    const base = await heun.step(ctx, i, y, baseState, options);
    const b = new DirectionBuilder(base, 'iia-edm');
    const s = ctx.grid[i].sigma, sn = ctx.grid[i + 1].sigma, h = sn - s;
    // eq. 18: beta0 (z_i - D(z_i; t_i)); default 1/t_i (Lemma 1, eq. 16).
    b.dir('beta0', 1 / s, { y: h, denoised: -h });
    const corrected = b.has('denoised_next');
    // eq. 18: -beta1/(2 t_{i+1}) [D(z~_{i+1}; t_{i+1}) - D(z_i; t_i)]; default 1 (eq. 17).
    if (corrected) b.dir('beta1', 1, { denoised_next: -h / (2 * sn), denoised: h / (2 * sn) });
    const used = Math.min(r, history.length);
    for (let k = 1; k <= used; k++) b.dir(`gamma${k}`, 0, { [b.addAtom(`grad_prev${k}`, history[k - 1])]: h });
    const dirs = b.build();
    const last = i === ctx.grid.length - 2;
    // g~_i of eq. 18 with the betas this step uses, on this step's atoms.
    const keep = (theta: readonly number[]) => {
      if (r === 0 || last) return undefined;
      const beta0 = theta[0];
      const coefficients = corrected
        ? b.coefficientsOf({ y: beta0, denoised: -beta0 + theta[1] / (2 * sn), denoised_next: -theta[1] / (2 * sn) })
        : b.coefficientsOf({ y: beta0, denoised: -beta0 });
      return { coefficients, replaces: history.length === r ? history[r - 1] : undefined };
    };
    return {
      base,
      dirs,
      keep,
      advance(theta, _y, kept) {
        const k = keep(theta);
        if (!k) return { history: [], baseState: base.state };
        const g = kept ?? keptVector(dirs, theta, k.coefficients);
        return { history: [g, ...history].slice(0, r), baseState: base.state };
      },
    };
  },
  fineTarget: heunFineTarget,
};
