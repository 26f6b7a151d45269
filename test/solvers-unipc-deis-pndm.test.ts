// UniPC, DEIS, PNDM, S-PNDM and iPNDM beyond diffusers: exact NFE counts, exactness where the method is exact,
// convergence order on the closed-form Gaussian (data N(0, s^2): D(y; sigma) = y s^2 / (s^2 + sigma^2), exact
// y(sigma) = y(T) sqrt(sigma^2 + s^2) / sqrt(T^2 + s^2)), first-order variants = DDIM, the LinearUpdate of each
// step, explicit state, and option checking.
import { describe, expect, it } from 'vitest';
import { gaussianDenoiser } from './gaussian-model.js';
import { linComb, type Batch } from '../src/core/batch.js';
import { makeGrid } from '../src/grids/index.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { sample } from '../src/sample.js';
import { makeSchedule } from '../src/schedules/index.js';
import type { GridPoint, Schedule } from '../src/schedules/schedule.js';
import { deis } from '../src/solvers/deis.js';
import { ipndm } from '../src/solvers/ipndm.js';
import { logRhoLagrangeWeights, solveLinear } from '../src/solvers/multistep.js';
import { pndm } from '../src/solvers/pndm.js';
import type { LinearUpdate, Solver, StepContext } from '../src/solvers/solver.js';
import { spndm } from '../src/solvers/spndm.js';
import { unipc } from '../src/solvers/unipc.js';

type AnySolver = Solver<any, any>;

const S = [0.5, 1, 2, 1.5];
/** Closed-form Gaussian denoiser, data N(0, diag(S^2)) in 4 dimensions. */
const gaussian: Denoiser = gaussianDenoiser(S);

/** A point mass at c: D = c, eps = (y - c) / sigma; the exact trajectory is y(sigma) = c + sigma (y_T - c) / T. */
function pointMass(c: number[]): Denoiser {
  return {
    sampleShape: [c.length],
    name: 'point-mass',
    async predict(y: Batch, at: GridPoint) {
      const n = y.data.length;
      const x0 = new Float32Array(n), eps = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        x0[i] = c[i % c.length];
        eps[i] = at.sigma > 0 ? (y.data[i] - x0[i]) / at.sigma : 0;
      }
      return { x0, eps };
    },
  };
}

/** A pure quadrature: eps = p(sigma) whatever y, so y(sigma) = y_T + int_T^sigma p. */
function quadrature(p: (s: number) => number): Denoiser {
  return {
    sampleShape: [1],
    name: 'quadrature',
    async predict(y: Batch, at: GridPoint) {
      const eps = new Float32Array(y.data.length).fill(p(at.sigma));
      return { x0: linComb([1, -at.sigma], [y.data, eps]), eps };
    },
  };
}

const CONFIGS: [string, AnySolver, Record<string, unknown>][] = [
  ['unipc', unipc, {}],
  ['unipc order 1 bh1', unipc, { solverOrder: 1, solverType: 'bh1' }],
  ['unipc order 3', unipc, { solverOrder: 3, lowerOrderFinal: false }],
  ['unipc noise prediction', unipc, { predictX0: false, solverOrder: 3 }],
  ['unipc corrector off at 0, 2', unipc, { disableCorrector: [0, 2] }],
  ['deis', deis, {}],
  ['deis order 3', deis, { solverOrder: 3 }],
  ['deis order 1', deis, { solverOrder: 1 }],
  ['pndm', pndm, {}],
  ['pndm skipPrk', pndm, { skipPrk: true }],
  ['spndm', spndm, {}],
  ['ipndm', ipndm, {}],
  ['ipndm order 2', ipndm, { maxOrder: 2 }],
];

async function run(model: Denoiser, solver: AnySolver, grid: GridPoint[], schedule: Schedule, y0: number[], options: Record<string, unknown>, scaling: 'alpha' | 'none' = 'none') {
  const noise = { data: Float32Array.from(y0.map((v) => (scaling === 'alpha' ? v * grid[0].alpha : v))), shape: [y0.length / model.sampleShape[0], ...model.sampleShape] };
  const r = await sample({ model, solver, grid, schedule, noise, solverOptions: options, stateScaling: scaling });
  const y = Array.from(r.samples.data, (v) => (scaling === 'alpha' ? v / grid[grid.length - 1].alpha : v));
  return { y, nfe: r.nfe };
}

describe('exact NFE', () => {
  const schedule = makeSchedule('edm');
  it('solver.nfe(steps) equals the model calls the driver counts, 1-7 steps', async () => {
    for (const [name, solver, opts] of CONFIGS) {
      for (let steps = 1; steps <= 7; steps++) {
        const grid = makeGrid(schedule, { kind: 'karras', steps });
        const { nfe } = await run(gaussian, solver, grid, schedule, [1, 2, 3, 4], opts);
        expect(nfe, `${name}, ${steps} steps`).toBe(solver.nfe(steps, opts));
      }
    }
  });
  it('the documented counts', () => {
    expect([1, 2, 3, 4, 10].map((n) => pndm.nfe(n))).toEqual([4, 8, 12, 13, 19]); // diffusers: 12 PRK + 7 PLMS at 10
    expect([1, 2, 10].map((n) => pndm.nfe(n, { skipPrk: true }))).toEqual([1, 3, 11]);
    expect([1, 2, 10].map((n) => spndm.nfe(n))).toEqual([2, 3, 11]);
    expect([1, 10].map((n) => ipndm.nfe(n))).toEqual([1, 10]);
    expect(unipc.nfe(10)).toBe(10);
    expect(deis.nfe(10)).toBe(10);
  });
});

describe('exactness', () => {
  // Up to float32 round-off, which the noise-prediction UniPC corrector amplifies on this very uneven grid (its last
  // steps are 0.8 and 3.7 in lambda): ~1e-4 there against ~1e-8 in the data-prediction form.
  it('every solver is exact for a point mass (trajectory linear in sigma), VP grid ending at sigma 0', async () => {
    const schedule = makeSchedule('vp-continuous');
    const c = [0.3, -0.7, 1.1];
    const grid = makeGrid(schedule, { kind: 'uniform-t', steps: 9 });
    for (const [name, solver, opts] of CONFIGS) {
      const { y } = await run(pointMass(c), solver, grid, schedule, [80, -80, 40], opts, 'alpha');
      for (let i = 0; i < 3; i++) expect(y[i], name).toBeCloseTo(c[i], name.includes('noise') ? 3 : 5);
    }
  });
  it('PNDM (3 PRK steps + 4th-order PLMS) integrates a cubic eps exactly on a uniform sigma grid', async () => {
    const schedule = makeSchedule('edm', { sigmaMin: 0.5, sigmaMax: 4.5 });
    const p = (s: number) => 0.3 - 0.2 * s + 0.05 * s * s - 0.01 * s ** 3;
    const P = (s: number) => 0.3 * s - 0.1 * s * s + (0.05 / 3) * s ** 3 - 0.0025 * s ** 4;
    const grid = makeGrid(schedule, { kind: 'uniform-t', steps: 8, final: 'sigma-min' });
    const { y } = await run(quadrature(p), pndm, grid, schedule, [1], {});
    expect(y[0]).toBeCloseTo(1 + P(0.5) - P(4.5), 5);
    // S-PNDM and PNDM with skipPrk (improved-Euler start) are exact for a linear eps.
    const lin = (s: number) => 0.4 - 0.3 * s;
    for (const [solver, opts] of [[spndm, {}], [pndm, { skipPrk: true }]] as const) {
      const r = await run(quadrature(lin), solver as AnySolver, grid, schedule, [1], opts);
      expect(r.y[0]).toBeCloseTo(1 + (0.4 * 0.5 - 0.15 * 0.25) - (0.4 * 4.5 - 0.15 * 4.5 * 4.5), 5);
    }
  });
  it('DEIS weights integrate the Lagrange basis in log rho (they sum to rho_t - rho_s, end at rho = 0)', () => {
    const w = logRhoLagrangeWeights(2, 1, [2, 3, 5]);
    expect(w.reduce((a, b) => a + b, 0)).toBeCloseTo(-1, 12);
    // Order 2 against diffusers' closed form ind_fn(t, b, c) = t (log t - log c - 1) / (log b - log c).
    const ind = (t: number, b: number, c: number) => (t * (Math.log(t) - Math.log(c) - 1)) / (Math.log(b) - Math.log(c));
    const [c1, c2] = logRhoLagrangeWeights(2, 1.2, [2, 3]);
    expect(c1).toBeCloseTo(ind(1.2, 2, 3) - ind(2, 2, 3), 12);
    expect(c2).toBeCloseTo(ind(1.2, 3, 2) - ind(2, 3, 2), 12);
    const toZero = logRhoLagrangeWeights(2, 0, [2, 3, 5]);
    expect(toZero.every(Number.isFinite)).toBe(true);
    expect(solveLinear([[2, 1], [1, 3]], [3, 5])).toEqual([0.8, 1.4]);
  });
});

describe('convergence on the closed-form Gaussian', () => {
  // sigma in [0.1, 3] (nonlinear throughout); UniPC and DEIS on grids uniform in lambda, the Adams-Bashforth family
  // (fixed weights, meant for equal steps) uniform in sigma. Expected rates are the asymptotic global orders,
  // including the warm-up: a first step of local order q caps the global order at q (DEIS order 3 and iPNDM
  // order 4 warm up with a first-order step, so they converge at order 2; UniPC order 3 at 3).
  const schedule = makeSchedule('edm', { sigmaMin: 0.1, sigmaMax: 3 });
  const y0 = [3, -1.5, 2.5, 2];
  async function error(solver: AnySolver, opts: Record<string, unknown>, steps: number, kind: 'uniform-lambda' | 'uniform-t'): Promise<number> {
    const grid = makeGrid(schedule, { kind, steps, final: 'sigma-min' });
    const { y } = await run(gaussian, solver, grid, schedule, y0, opts);
    const T = grid[0].sigma, s = grid[steps].sigma;
    return Math.max(...y.map((v, i) => Math.abs(v - (y0[i] * Math.sqrt(s * s + S[i] ** 2)) / Math.sqrt(T * T + S[i] ** 2))));
  }
  const cases: [string, AnySolver, Record<string, unknown>, 'uniform-lambda' | 'uniform-t', number, number[]][] = [
    ['unipc order 1 (UniP-1 + UniC-1)', unipc, { solverOrder: 1, lowerOrderFinal: false }, 'uniform-lambda', 2, [16, 32, 64]],
    ['unipc order 2', unipc, { solverOrder: 2, lowerOrderFinal: false }, 'uniform-lambda', 3, [16, 32, 64]],
    ['unipc order 2 bh1', unipc, { solverOrder: 2, solverType: 'bh1', lowerOrderFinal: false }, 'uniform-lambda', 3, [16, 32, 64]],
    ['unipc order 2 noise prediction', unipc, { solverOrder: 2, predictX0: false, lowerOrderFinal: false }, 'uniform-lambda', 3, [16, 32, 64]],
    ['unipc order 3', unipc, { solverOrder: 3, lowerOrderFinal: false }, 'uniform-lambda', 3, [16, 32, 64]],
    ['unipc order 2 without corrector', unipc, { solverOrder: 2, lowerOrderFinal: false, disableCorrector: [...Array(64).keys()] }, 'uniform-lambda', 2, [16, 32, 64]],
    ['deis order 1', deis, { solverOrder: 1 }, 'uniform-lambda', 1, [16, 32, 64]],
    ['deis order 2', deis, { solverOrder: 2 }, 'uniform-lambda', 2, [16, 32, 64]],
    ['deis order 3', deis, { solverOrder: 3 }, 'uniform-lambda', 2, [16, 32, 64]],
    ['pndm (PRK warm-up)', pndm, {}, 'uniform-t', 4, [8, 16]],
    ['spndm', spndm, {}, 'uniform-t', 2, [16, 32, 64]],
    ['ipndm order 1', ipndm, { maxOrder: 1 }, 'uniform-t', 1, [16, 32, 64]],
    ['ipndm order 2', ipndm, { maxOrder: 2 }, 'uniform-t', 2, [16, 32, 64]],
    ['ipndm order 3', ipndm, { maxOrder: 3 }, 'uniform-t', 2, [16, 32, 64]],
    ['ipndm order 4', ipndm, { maxOrder: 4 }, 'uniform-t', 2, [32, 64, 128]],
  ];
  for (const [name, solver, opts, kind, order, ns] of cases) {
    it(`${name}: error falls as steps^-${order}`, async () => {
      const errs: number[] = [];
      for (const n of ns) errs.push(await error(solver, opts, n, kind));
      for (let k = 1; k < errs.length; k++) {
        const rate = Math.log2(errs[k - 1] / errs[k]);
        expect(rate, `${name}: errors ${errs.map((e) => e.toExponential(2)).join(', ')}`).toBeGreaterThan(order - 0.3);
      }
    });
  }
});

describe('first-order variants are DDIM', () => {
  it('UniP-1 without corrector (both forms), DEIS order 1 and iPNDM order 1 equal y_{i+1} = x0 + sigma_{i+1} eps', async () => {
    const schedule = makeSchedule('vp-discrete');
    const grid = makeGrid(schedule, { kind: 'linspace', steps: 8 });
    const y0 = [30, -20, 10, 50];
    // DDIM (Song et al. 2021, eq. 12 with eta = 0) in y: y' = D + sigma' eps.
    let ddim = [...y0];
    for (let i = 0; i < 8; i++) {
      const p = await gaussian.predict({ data: Float32Array.from(ddim), shape: [1, 4] }, grid[i]);
      ddim = ddim.map((_, k) => p.x0[k] + grid[i + 1].sigma * p.eps[k]);
    }
    const noCorrector = { solverOrder: 1, disableCorrector: [0, 1, 2, 3, 4, 5, 6, 7] };
    for (const [solver, opts] of [
      [unipc, noCorrector],
      [unipc, { ...noCorrector, predictX0: false }],
      [unipc, { ...noCorrector, solverType: 'bh1' }],
      [deis, { solverOrder: 1 }],
      [ipndm, { maxOrder: 1 }],
    ] as const) {
      const { y } = await run(gaussian, solver as AnySolver, grid, schedule, y0, opts, 'alpha');
      for (let k = 0; k < 4; k++) expect(y[k]).toBeCloseTo(ddim[k], 3);
    }
  });
});

/** Steps a solver by hand, collecting each step's update. */
async function stepAll(solver: AnySolver, opts: Record<string, unknown>, grid: GridPoint[], schedule: Schedule, y0: number[]) {
  let calls = 0;
  const ctx: StepContext = {
    predict: (y, at) => {
      calls++;
      return gaussian.predict(y, at);
    },
    grid,
    schedule,
    seed: 0,
    firstSample: 0,
  };
  let y: Batch = { data: Float32Array.from(y0), shape: [1, 4] };
  let state = solver.init(y, opts);
  const out: { y: Batch; update: LinearUpdate; state: unknown; before: { y: Batch; state: unknown } }[] = [];
  for (let i = 0; i < grid.length - 1; i++) {
    const before = { y, state };
    const r = await solver.step(ctx, i, y, state, opts);
    out.push({ y: r.y, update: r.update!, state: r.state, before });
    y = r.y;
    state = r.state;
  }
  return { out, calls, ctx };
}

describe('LinearUpdate and explicit state', () => {
  const schedule = makeSchedule('edm');
  const grid = makeGrid(schedule, { kind: 'karras', steps: 6 });
  it("each step's update combines exactly to the new y", async () => {
    for (const [name, solver, opts] of CONFIGS) {
      const { out } = await stepAll(solver, opts, grid, schedule, [80, -40, 20, 60]);
      for (const { y, update } of out) {
        expect(update.names.length, name).toBe(update.vectors.length);
        expect(update.coefficients.length, name).toBe(update.vectors.length);
        const comb = linComb(update.coefficients, update.vectors);
        for (let k = 0; k < 4; k++) expect(comb[k], name).toBe(y.data[k]);
      }
    }
  });
  it('names: UniPC data predictions, DEIS eps, PNDM family in the IIA paper vectors with the previous pair at 0', async () => {
    const u = await stepAll(unipc, { solverOrder: 3 }, grid, schedule, [80, -40, 20, 60]);
    expect(u.out.map((o) => o.update.names.join(' '))).toEqual([
      'y denoised',
      'y denoised denoised_prev1',
      'y denoised denoised_prev1 denoised_prev2',
      'y denoised denoised_prev1 denoised_prev2',
      'y denoised denoised_prev1',
      'y denoised', // last step to sigma 0
    ]);
    const d = await stepAll(deis, { solverOrder: 3 }, grid, schedule, [80, -40, 20, 60]);
    expect(d.out[2].update.names).toEqual(['y', 'eps', 'eps_prev1', 'eps_prev2']);
    for (const solver of [spndm, ipndm, pndm]) {
      const r = await stepAll(solver, {}, grid, schedule, [80, -40, 20, 60]);
      expect(r.out[0].update.names).toEqual(['x0_hat', 'eps_tilde']);
      expect(r.out[3].update.names).toEqual(['x0_hat', 'eps_tilde', 'x0_hat_prev', 'eps_tilde_prev']);
      expect(r.out[3].update.coefficients.slice(2)).toEqual([0, 0]);
      expect(r.out[3].update.coefficients[1]).toBe(grid[4].sigma);
      // The previous pair is the previous step's own x0_hat and eps_tilde.
      expect(r.out[3].update.vectors[2]).toBe(r.out[2].update.vectors[0]);
      expect(r.out[3].update.vectors[3]).toBe(r.out[2].update.vectors[1]);
    }
  });
  it('a step re-run from a saved state gives the same result (no hidden counters)', async () => {
    for (const [name, solver, opts] of CONFIGS) {
      const { out, ctx } = await stepAll(solver, opts, grid, schedule, [80, -40, 20, 60]);
      const again = await solver.step(ctx, 3, out[3].before.y, out[3].before.state, opts);
      expect(Array.from(again.y.data), name).toEqual(Array.from(out[3].y.data));
    }
  });
  it('steps do not mutate the state they are given', async () => {
    for (const solver of [unipc, deis, pndm, ipndm] as AnySolver[]) {
      const { out, ctx } = await stepAll(solver, {}, grid, schedule, [80, -40, 20, 60]);
      const st = out[2].before.state as Record<string, unknown>;
      const snapshot = JSON.stringify(Object.keys(st).map((k) => (Array.isArray(st[k]) ? (st[k] as unknown[]).length : 0)));
      await solver.step(ctx, 2, out[2].before.y, out[2].before.state, {});
      expect(JSON.stringify(Object.keys(st).map((k) => (Array.isArray(st[k]) ? (st[k] as unknown[]).length : 0)))).toBe(snapshot);
    }
  });
});

describe('edge cases and options', () => {
  const schedule = makeSchedule('edm');
  it('UniPC without lowerOrderFinal stays finite on a grid ending at sigma 0 (diffusers gives NaN there)', async () => {
    const grid = makeGrid(schedule, { kind: 'karras', steps: 5 });
    for (const opts of [{ solverOrder: 3, lowerOrderFinal: false }, { solverOrder: 2, lowerOrderFinal: false, solverType: 'bh1' }, { predictX0: false, lowerOrderFinal: false }]) {
      const { y } = await run(gaussian, unipc, grid, schedule, [80, -40, 20, 60], opts);
      expect(y.every(Number.isFinite)).toBe(true);
    }
  });
  it('a repeated final sigma (diffusers DEIS/UniPC Karras grids) is a no-op step', async () => {
    const grid = makeGrid(schedule, { kind: 'karras', steps: 5, final: 'sigma-min' });
    const rep = [...grid, grid[grid.length - 1]];
    for (const [solver, opts] of [[deis, { solverOrder: 3, lowerOrderFinal: false }], [unipc, { lowerOrderFinal: false }]] as const) {
      const a = await run(gaussian, solver as AnySolver, grid, schedule, [80, -40, 20, 60], opts);
      const b = await run(gaussian, solver as AnySolver, rep, schedule, [80, -40, 20, 60], opts);
      // UniPC: the extra step corrects the last predictor; DEIS: the extra step leaves y as is.
      if (solver === deis) expect(b.y).toEqual(a.y);
      expect(b.y.every(Number.isFinite)).toBe(true);
      expect(b.nfe).toBe(a.nfe + 1);
    }
  });
  it('PNDM takes explicit half points; without them the mid-point in t', async () => {
    const grid = makeGrid(schedule, { kind: 'karras', steps: 5 });
    const mids = [0, 1, 2].map((i) => schedule.pointAtT((grid[i].t + grid[i + 1].t) / 2));
    const a = await run(gaussian, pndm, grid, schedule, [80, -40, 20, 60], {});
    const b = await run(gaussian, pndm, grid, schedule, [80, -40, 20, 60], { halfPoints: mids });
    expect(b.y).toEqual(a.y);
    const other = [0, 1, 2].map((i) => schedule.pointAtSigma(Math.sqrt(grid[i].sigma * grid[i + 1].sigma)));
    const c = await run(gaussian, pndm, grid, schedule, [80, -40, 20, 60], { halfPoints: other });
    expect(c.y).not.toEqual(a.y);
    expect(() => pndm.check!(grid, schedule, { halfPoints: mids.slice(0, 2) })).toThrow(/halfPoints has 2 points; expected 3/);
    expect(() => pndm.check!(grid, schedule, { halfPoints: [mids[1], mids[1], mids[2]] })).toThrow(/halfPoints\[0\]\.sigma/);
    expect(() => pndm.check!(grid, schedule, { prevPoints: grid.slice(1, 3) })).toThrow(/prevPoints has 2 points; expected one per step \(5\)/);
    expect(() => pndm.check!(grid, schedule, { heunSource: grid[0] })).toThrow(/heunSource needs skipPrk/);
    expect(() => pndm.check!(grid, schedule, { combineRawV: true })).toThrow(/combineRawV needs a VP schedule/);
    expect(() => pndm.nfe(5, { halfPoints: [{ sigma: -1, t: 0, alpha: 1 }] })).toThrow(/halfPoints\[0\]/);
  });
  it('unknown options are rejected by name; bad values name the option', () => {
    expect(() => unipc.nfe(5, { solverOrdr: 2 } as never)).toThrow(/unipc: unknown option 'solverOrdr'/);
    expect(() => deis.init({ data: new Float32Array(1), shape: [1, 1] }, { order: 2 } as never)).toThrow(/deis: unknown option 'order'/);
    expect(() => pndm.nfe(5, { skipPRK: true } as never)).toThrow(/pndm: unknown option 'skipPRK'/);
    expect(() => spndm.nfe(5, { maxOrder: 2 } as never)).toThrow(/spndm: unknown option 'maxOrder'/);
    expect(() => ipndm.nfe(5, { max_order: 2 } as never)).toThrow(/ipndm: unknown option 'max_order'/);
    expect(() => unipc.nfe(5, { solverOrder: 0 })).toThrow(/solverOrder is 0/);
    expect(() => unipc.nfe(5, { solverType: 'bh3' as never })).toThrow(/solverType is 'bh3'/);
    expect(() => unipc.nfe(5, { disableCorrector: 'all' as never })).toThrow(/disableCorrector/);
    expect(() => deis.nfe(5, { solverOrder: 4 })).toThrow(/solverOrder is 4/);
    expect(() => ipndm.nfe(5, { maxOrder: 5 })).toThrow(/maxOrder is 5/);
    expect(() => pndm.nfe(5, { skipPrk: 'yes' as never })).toThrow(/skipPrk is yes/);
  });
  it('check() rejects grids the solvers are not defined on', () => {
    const p = (sigma: number): GridPoint => ({ sigma, t: sigma, alpha: 1 });
    for (const solver of [unipc, deis, pndm, spndm, ipndm] as AnySolver[]) {
      expect(() => solver.check!([p(1)], schedule, {})).toThrow(/at least 2/);
      expect(() => solver.check!([p(1), p(2)], schedule, {})).toThrow(/not decreasing at point 1/);
      expect(() => solver.check!([p(2), p(0), p(0)], schedule, {})).toThrow(/grid\[1\]\.sigma is 0/);
      expect(() => solver.check!([p(3), p(2), p(2), p(1)], schedule, {})).toThrow(/not decreasing at point 2/);
      expect(() => solver.check!([p(3), p(2), p(2)], schedule, {})).not.toThrow();
    }
  });
});
