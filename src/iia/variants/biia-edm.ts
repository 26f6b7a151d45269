// BIIA-EDM, basic IIA for EDM (Zhang et al., IIA NeurIPS preprint Sec. 3.2, eqs. 11-14, Alg. 1): the step is
// z_{i+1} = z_i + sum_{k=0..r} gamma_ik Delta_i(z_{i-k}), Delta_i(z_{i-k}) = (t_{i+1} - t_i)(d_{i-k} + d'_{i-k+1|i-k})/2,
// the r + 1 most recent Heun gradients (each computed at its own state of the corrected trajectory) times the
// current step size; defaults gamma_i0 = 1, gamma_ik = 0 (Alg. 1 remark). On the final Euler step to sigma = 0 the
// current gradient is d_i alone.
import { heun, type HeunOptions, type HeunState } from '../../solvers/heun.js';
import { DirectionBuilder, keptVector, type IiaVariant } from '../variant.js';
import { checkHeunOptions, heunFineTarget } from './heun-base.js';

/** Previous Heun gradients (d + d')/2, most recent first (formed in the pass that forms their step's y). */
export type BiiaEdmHistory = Float32Array[];

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
    for (let k = 1; k <= used; k++) b.dir(`gamma${k}`, 0, { [b.addAtom(`grad_prev${k}`, history[k - 1])]: h });
    const dirs = b.build();
    const last = i === ctx.grid.length - 2;
    // The plain Heun gradient of this step, (d_i + d'_i)/2 = Delta_i(z_i) / h, whatever the gammas.
    const gradient = r === 0 || last || h === 0 ? undefined : b.coefficientsOf(Object.fromEntries(names.map((n) => [n, incr[n] / h])));
    const keep = () => (gradient ? { coefficients: gradient, replaces: history.length === r ? history[r - 1] : undefined } : undefined);
    return {
      base,
      dirs,
      keep,
      advance(theta, _y, kept) {
        if (r === 0 || last) return { history: [], baseState: base.state };
        if (!gradient) return { history, baseState: base.state }; // a repeated final sigma: no step
        const g = kept ?? keptVector(dirs, theta, gradient);
        return { history: [g, ...history].slice(0, r), baseState: base.state };
      },
    };
  },
  fineTarget: heunFineTarget,
};
