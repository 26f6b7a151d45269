// BIIA-EDM, basic IIA for EDM (Zhang et al., IIA NeurIPS preprint Sec. 3.2, eqs. 11-14, Alg. 1): the step is
// z_{i+1} = z_i + sum_{k=0..r} gamma_ik Delta_i(z_{i-k}), Delta_i(z_{i-k}) = (t_{i+1} - t_i)(d_{i-k} + d'_{i-k+1|i-k})/2,
// the r + 1 most recent Heun gradients (each computed at its own state of the corrected trajectory) times the
// current step size; defaults gamma_i0 = 1, gamma_ik = 0 (Alg. 1 remark). On the final Euler step to sigma = 0 the
// current gradient is d_i alone.
import { heun, type HeunOptions, type HeunState } from '../../solvers/heun.js';
import { DirectionBuilder, type IiaVariant, type StoredCombination } from '../variant.js';
import { checkHeunOptions, heunFineTarget } from './heun-base.js';

/** Previous Heun gradients (d + d')/2, most recent first, each kept as its parts (the step's atoms and weights). */
export type BiiaEdmHistory = StoredCombination[];

export const biiaEdm: IiaVariant<HeunState, BiiaEdmHistory, HeunOptions> = {
  name: 'biia-edm',
  base: heun,
  reference: 'Zhang et al., IIA (NeurIPS preprint Sec. 3.2, eqs. 11-14, Alg. 1), on EDM Heun (Karras et al. 2022, Alg. 1)',
  summary: 'gamma_k on h (d_{i-k} + d\'_{i-k})/2, the current and r earlier Heun gradients',
  r: { default: 1, min: 0, max: 3 },
  defaultBatch: 200,
  checkOptions: (o) => checkHeunOptions('biia-edm', o),
  initHistory: () => [],
  async step(ctx, i, y, baseState, history, r, options) {
    const base = await heun.step(ctx, i, y, baseState, options);
    const b = new DirectionBuilder(base, 'biia-edm');
    const h = ctx.grid[i + 1].sigma - ctx.grid[i].sigma;
    // eq. 11, k = 0: Delta_i(z_i) = y_heun - y, i.e. the base coefficients with 1 taken off y's.
    const c = base.update!.coefficients;
    const names = base.update!.names;
    const incr: Record<string, number> = {};
    names.forEach((n, k) => (incr[n] = n === 'y' ? c[k] - 1 : c[k]));
    b.dir('gamma0', 1, incr);
    const used = Math.min(r, history.length);
    for (let k = 1; k <= used; k++) b.dirAlong(`gamma${k}`, 0, h, history[k - 1], `grad_prev${k}`);
    const dirs = b.build();
    const last = i === ctx.grid.length - 2;
    return {
      base,
      dirs,
      advance() {
        if (r === 0 || last) return { history: [], baseState: base.state };
        if (h === 0) return { history, baseState: base.state }; // a repeated final sigma: no step
        // The plain Heun gradient of this step, (d_i + d'_i)/2 = Delta_i(z_i) / h.
        const grad: StoredCombination = { vectors: [...base.update!.vectors], weights: names.map((n) => incr[n] / h) };
        return { history: [grad, ...history].slice(0, r), baseState: base.state };
      },
    };
  },
  fineTarget: heunFineTarget,
};
