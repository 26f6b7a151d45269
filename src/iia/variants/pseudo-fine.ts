// The fine-grained target of the PNDM family (S-PNDM, iPNDM, PNDM). Their multistep phase combines the last k noise
// predictions with the fixed Adams-Bashforth weights (3, -1)/2, (23, -16, 5)/12, ..., which assume the earlier
// evaluations lie whole steps back. On the grid with step i refined, the first sub-steps would reuse the coarse
// history with those fixed weights as if it were one fine sub-step back, and the "fine" target would be no better
// than the coarse step. So the target is the same formula with its weights made exact for the actual spacing:
// Adams-Bashforth in the step index tau (the variable in which the fixed weights are exact: coarse evaluations at
// tau = i, i-1, ..., sub-interval points at tau = i + m/M, which is linear in t as the points are uniform in t),
//   eps_tilde = (1 / (tau_b - tau_a)) int_{tau_a}^{tau_b} P(tau) d tau,  P = the Lagrange interpolant of eps,
//   y_b = y_a + (sigma_b - sigma_a) eps_tilde   (the DDIM transfer in y; Liu et al. 2022, eq. 9),
// of order min(maxOrder, evaluations available). On whole steps it is the base's formula; M = 1 is the base step.
// Single-step warm-ups (S-PNDM's pseudo improved Euler, PNDM's pseudo Runge-Kutta) are single-step methods and use
// the plain base formula over the M sub-intervals (IIA ICLR 2024, App. G eq. 27: "applying SPNDM over a fine-grained
// set of timesteps").
import { linComb, type Batch } from '../../core/batch.js';
import type { GridPoint } from '../../schedules/schedule.js';
import { evaluate, lagrangeBasis } from '../../solvers/multistep.js';
import { pseudoStep, type PndmState, type PseudoConfig } from '../../solvers/pndm.js';
import type { StepContext } from '../../solvers/solver.js';
import { baseOverSubIntervals, subIntervalPoints, type DirectionBuilder } from '../variant.js';
import type { Solver } from '../../solvers/solver.js';

/** Weights w_k = (1/(b - a)) int_a^b l_k(tau) d tau of the Lagrange basis through `nodes` (most recent first). */
export function averagedLagrangeWeights(nodes: readonly number[], a: number, b: number): number[] {
  // Shift by a so the powers stay small (tau may be ~1000 on a long grid).
  const u = nodes.map((x) => x - a);
  const d = b - a;
  return u.map((_, j) => {
    const p = lagrangeBasis(u, j);
    let s = 0;
    for (let k = 0; k < p.length; k++) s += (p[k] * d ** (k + 1)) / (k + 1);
    return s / d;
  });
}

export interface PseudoFineSpec {
  /** Which single-step warm-up step i is, if any. */
  warmup: 'prk' | 'heun' | null;
  /** Highest multistep order. */
  maxOrder: number;
  /** Noise predictions of earlier steps, oldest first; the last one is at grid[i - 1]. */
  history: readonly Float32Array[];
}

/** Fine target of a PNDM-family step (see the file comment). */
export async function pseudoFineTarget(
  base: Solver<any, any>,
  spec: PseudoFineSpec,
  ctx: StepContext,
  i: number,
  y: Batch,
  state: unknown,
  M: number,
  options: unknown,
): Promise<Float32Array> {
  if (M === 1) return baseOverSubIntervals(base, ctx, i, y, state, 1, options);
  const a = ctx.grid[i], b = ctx.grid[i + 1];
  const points: GridPoint[] = [a, ...subIntervalPoints(ctx.schedule, a, b, M), b];
  let yy = y;
  if (spec.warmup) {
    // PRK (Liu et al. 2022, eq. 13) or pseudo improved Euler (S-PNDM), each sub-interval its own one-step run.
    const cfg: PseudoConfig = { name: base.info.name, warmup: spec.warmup, maxOrder: spec.warmup === 'prk' ? 4 : 2, rawV: false };
    for (let m = 0; m < M; m++) {
      const sub: StepContext = { ...ctx, grid: [points[m], points[m + 1]] };
      const empty: PndmState = { history: [] };
      yy = (await pseudoStep(sub, cfg, 0, yy, empty)).y;
    }
    return yy.data;
  }
  // Variable-step Adams-Bashforth in tau; nodes most recent first.
  const taus: number[] = [];
  const eps: Float32Array[] = [];
  for (let k = spec.history.length - 1; k >= 0 && taus.length < spec.maxOrder - 1; k--) {
    taus.push(i - (spec.history.length - k));
    eps.push(spec.history[k]);
  }
  for (let m = 0; m < M; m++) {
    const ta = i + m / M, tb = i + (m + 1) / M;
    const { eps: e } = await evaluate(ctx, yy, points[m]);
    taus.unshift(ta);
    eps.unshift(e);
    const order = Math.min(spec.maxOrder, taus.length);
    const w = averagedLagrangeWeights(taus.slice(0, order), ta, tb);
    const h = points[m + 1].sigma - points[m].sigma;
    yy = { data: linComb([1, ...w.map((x) => h * x)], [yy.data, ...eps.slice(0, order)]), shape: y.shape };
    if (taus.length > spec.maxOrder) {
      taus.pop();
      eps.pop();
    }
  }
  return yy.data;
}

/**
 * IIA-SPNDM / IIA-IPNDM directions (ICLR 2024 App. G, Alg. 3-4): phi0 (x0_hat_i - x0_hat_{i-1}) + phi1
 * (eps_tilde_i - eps_tilde_{i-1}), defaults 0, from step 1 on; the base update already names the previous pair.
 */
export function pairDifferenceDirections(b: DirectionBuilder): void {
  if (!b.has('x0_hat_prev')) return;
  b.dir('phi0', 0, { x0_hat: 1, x0_hat_prev: -1 });
  b.dir('phi1', 0, { eps_tilde: 1, eps_tilde_prev: -1 });
}
