// SA-Solver (Xue et al. 2023): step for step against an independent transcription of diffusers' SASolverScheduler.step
// (data_prediction, its closed-form exponential integrals, Lagrange coefficients and order-2 terms, in its own VP
// variables x = alpha y) fed the same noise, deterministic and stochastic; tau = 0, order 1, no corrector = DDIM step
// for step, and without the order-2 rescaling order 2 = DPM-Solver++(2M, 'heun'); exact NFE; reproducible for a
// seed and batch-split invariant; convergence orders of the tau = 0 (ODE) variants on the closed-form Gaussian; and,
// with 200 steps, samples from gmm-2d's true distribution.
//
// diffusers' own full-loop numbers (tests/schedulers/test_scheduler_sasolver.py) cannot be ported: every one of them
// runs the default tau_func (tau = 1 for 200 <= t <= 800), so its result depends on torch's random generator.
import { describe, expect, it } from 'vitest';
import { gaussianDenoiser } from './gaussian-model.js';
import { linComb, type Batch } from '../src/core/batch.js';
import { normalBatch } from '../src/core/rng.js';
import { makeGrid } from '../src/grids/index.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { GaussianMixture } from '../src/models/gmm.js';
import { loadModel } from '../src/models/registry.js';
import { sample } from '../src/sample.js';
import { makeSchedule } from '../src/schedules/index.js';
import type { GridPoint, Schedule } from '../src/schedules/schedule.js';
import { ddim } from '../src/solvers/ddim.js';
import { dpmSolverPP2M } from '../src/solvers/dpm-solver-pp.js';
import { saSolver, saSolverCoefficients, saSolverWeights } from '../src/solvers/sa-solver.js';
import type { LinearUpdate, Solver, StepContext } from '../src/solvers/solver.js';

const edm = makeSchedule('edm');
const vp = makeSchedule('vp-discrete');
const S = 0.5;
const gaussian: Denoiser = gaussianDenoiser(S, 2);
const twoModes = new GaussianMixture({ weights: [0.4, 0.6], means: [[1.5, -1, 0.5], [-1, 0.5, 2]], stds: [0.3, 0.6] }, 'two-modes');

// ---------------------------------------------------------------------------------------------------------------
// diffusers' SASolverScheduler.step (data_prediction), transcribed in float64 in its own variables

/** int_start^end e^{k x} x^m dx as diffusers' get_coefficients_exponential_positive (its closed forms, m = 0..3). */
function expPositive(m: number, start: number, end: number, tau: number): number {
  const k = 1 + tau * tau, e = k * end, s = k * start, d = Math.exp(-(e - s));
  if (m === 0) return (Math.exp(e) * (1 - d)) / k;
  if (m === 1) return (Math.exp(e) * (e - 1 - (s - 1) * d)) / k ** 2;
  if (m === 2) return (Math.exp(e) * (e * e - 2 * e + 2 - (s * s - 2 * s + 2) * d)) / k ** 3;
  return (Math.exp(e) * (e ** 3 - 3 * e * e + 6 * e - 6 - (s ** 3 - 3 * s * s + 6 * s - 6) * d)) / k ** 4;
}

/** Coefficients of l_i(lambda) = prod_{j != i} (lambda - lambda_j) / (lambda_i - lambda_j), highest power first. */
function lagrangeCoefficients(lambdas: number[]): number[][] {
  return lambdas.map((li, i) => {
    let p = [1];
    let den = 1;
    lambdas.forEach((lj, j) => {
      if (j === i) return;
      den *= li - lj;
      const q = new Array<number>(p.length + 1).fill(0);
      p.forEach((c, k) => {
        q[k] += c;
        q[k + 1] -= c * lj;
      });
      p = q;
    });
    return p.map((c) => c / den);
  });
}

interface Oracle {
  step(x0: Float64Array, sample: Float64Array, noise: Float64Array): Float64Array;
}

/** The scheduler's state machine: model_outputs, timestep_list, lower_order_nums, last_sample/last_noise, step_index. */
function diffusersSaSolver(sigmas: number[], timesteps: number[], cfg: { p: number; c: number; tauFunc: (t: number) => number; lowerOrderFinal: boolean }): Oracle {
  const keep = Math.max(cfg.p, cfg.c - 1);
  const modelOutputs: (Float64Array | null)[] = new Array(keep).fill(null);
  const timestepList: (number | null)[] = new Array(keep).fill(null);
  let lowerOrderNums = 0, stepIndex = 0;
  let lastSample: Float64Array | null = null, lastNoise: Float64Array | null = null;
  let thisCorrectorOrder = 0;
  const at = (s: number) => {
    const alpha = 1 / Math.sqrt(s * s + 1), sigma = s * alpha;
    return { alpha, sigma, lambda: Math.log(alpha) - Math.log(sigma) };
  };
  const coefficientsFn = (order: number, start: number, end: number, lambdas: number[], tau: number) => {
    const L = lagrangeCoefficients(lambdas);
    return L.map((row) => row.reduce((s, c, j) => s + c * expPositive(order - 1 - j, start, end, tau), 0));
  };
  function update(kind: 'AB' | 'AM', x: Float64Array, noise: Float64Array, order: number, tau: number, outputs: Float64Array[]): Float64Array {
    const [iT, iS] = kind === 'AB' ? [stepIndex + 1, stepIndex] : [stepIndex, stepIndex - 1];
    const t = at(sigmas[iT]), s0 = at(sigmas[iS]);
    const h = t.lambda - s0.lambda;
    const lambdas = Array.from({ length: order }, (_, i) => at(sigmas[stepIndex - i]).lambda);
    const g = coefficientsFn(order, s0.lambda, t.lambda, lambdas, tau);
    const k = 1 + tau * tau;
    if (order === 2) {
      const core = h * k - 1 + Math.exp(-k * h);
      const add =
        kind === 'AB'
          ? (Math.exp(k * t.lambda) * (h * h / 2 - core / k ** 2)) / (s0.lambda - at(sigmas[stepIndex - 1]).lambda)
          : Math.exp(k * t.lambda) * (h / 2 - core / (k ** 2 * h));
      g[0] += add;
      g[1] -= add;
    }
    const out = new Float64Array(x.length);
    const cx = Math.exp(-tau * tau * h) * (t.sigma / s0.sigma), cn = t.sigma * Math.sqrt(1 - Math.exp(-2 * tau * tau * h));
    for (let e = 0; e < x.length; e++) {
      let grad = 0;
      for (let i = 0; i < order; i++) grad += k * t.sigma * Math.exp(-tau * tau * t.lambda) * g[i] * outputs[outputs.length - 1 - i][e];
      out[e] = cx * x[e] + grad + cn * noise[e];
    }
    return out;
  }
  return {
    step(x0, sampleIn, noise) {
      let sample = sampleIn;
      if (stepIndex > 0 && lastSample) {
        const tau = cfg.tauFunc(timestepList[keep - 1]!);
        sample = update('AM', lastSample, lastNoise!, thisCorrectorOrder, tau, [...(modelOutputs.filter(Boolean) as Float64Array[]), x0]);
      }
      for (let i = 0; i < keep - 1; i++) {
        modelOutputs[i] = modelOutputs[i + 1];
        timestepList[i] = timestepList[i + 1];
      }
      modelOutputs[keep - 1] = x0;
      timestepList[keep - 1] = timesteps[stepIndex];
      const steps = timesteps.length;
      let thisPredictorOrder = cfg.lowerOrderFinal ? Math.min(cfg.p, steps - stepIndex) : cfg.p;
      thisCorrectorOrder = cfg.lowerOrderFinal ? Math.min(cfg.c, steps - stepIndex + 1) : cfg.c;
      thisPredictorOrder = Math.min(thisPredictorOrder, lowerOrderNums + 1);
      thisCorrectorOrder = Math.min(thisCorrectorOrder, lowerOrderNums + 2);
      lastSample = sample;
      lastNoise = noise;
      const tau = cfg.tauFunc(timestepList[keep - 1]!);
      const prev = update('AB', sample, noise, thisPredictorOrder, tau, modelOutputs.filter(Boolean) as Float64Array[]);
      if (lowerOrderNums < keep) lowerOrderNums++;
      stepIndex++;
      return prev;
    },
  };
}

/** Runs the oracle on our grid (its sigmas; t as the scheduler's timesteps) with the model and our noise streams. */
async function runOracle(model: Denoiser, grid: GridPoint[], y0: Float32Array, n: number, seed: number, cfg: Parameters<typeof diffusersSaSolver>[2]) {
  const steps = grid.length - 1, d = y0.length / n;
  const oracle = diffusersSaSolver(grid.map((p) => p.sigma), grid.slice(0, steps).map((p) => p.t), cfg);
  const alpha = (s: number) => 1 / Math.sqrt(s * s + 1);
  let x: Float64Array = Float64Array.from(y0, (v) => v * alpha(grid[0].sigma));
  for (let i = 0; i < steps; i++) {
    const a = alpha(grid[i].sigma);
    const p = await model.predict({ data: Float32Array.from(x, (v) => v / a), shape: [n, d] }, grid[i]);
    x = oracle.step(Float64Array.from(p.x0), x, Float64Array.from(normalBatch(seed, 0, n, d, 1, i + 1)));
  }
  return Float64Array.from(x, (v) => v / alpha(grid[steps].sigma));
}

/** diffusers' linspace timesteps for SA-Solver: linspace(0, T - 1, N + 1).round() reversed, last dropped; then t = 0. */
function diffusersGrid(schedule: Schedule, steps: number): GridPoint[] {
  const T = 1000;
  const ts: number[] = [];
  for (let i = steps; i >= 1; i--) ts.push(Math.round((i * (T - 1)) / steps));
  return [...ts, 0].map((t) => schedule.pointAtT(t));
}

describe("sa-solver is diffusers' SASolverScheduler step for step", () => {
  const n = 4, seed = 5;
  const y0 = normalBatch(seed, 0, n, 3, 1, 0).map((v) => v * 150);
  const diffusersTau = (t: number) => (t >= 200 && t <= 800 ? 1 : 0);
  const cases: [string, { p: number; c: number; lowerOrderFinal: boolean }, number][] = [
    ['defaults (predictor 2, corrector 2)', { p: 2, c: 2, lowerOrderFinal: true }, 10],
    ['predictor 3, corrector 4 (the authors\' unconditional choice)', { p: 3, c: 4, lowerOrderFinal: true }, 10],
    ['predictor 4, corrector 3, lowerOrderFinal false', { p: 4, c: 3, lowerOrderFinal: false }, 12],
    ['predictor 1, corrector 1', { p: 1, c: 1, lowerOrderFinal: true }, 7],
  ];
  for (const [name, cfg, steps] of cases) {
    for (const tauName of ['tau = 0', "diffusers' default tau_func", 'tau = 0.7 everywhere'] as const) {
      it(`${name}, ${tauName} (vp-discrete, diffusers' linspace timesteps)`, async () => {
        const grid = diffusersGrid(vp, steps);
        const tauFunc = tauName === 'tau = 0' ? () => 0 : tauName === 'tau = 0.7 everywhere' ? () => 0.7 : diffusersTau;
        const options =
          tauName === 'tau = 0'
            ? { tau: 0 }
            : tauName === 'tau = 0.7 everywhere'
              ? { tau: 0.7 }
              : { tau: 1, tauTMin: 200, tauTMax: 800 };
        const want = await runOracle(twoModes, grid, y0, n, seed, { ...cfg, tauFunc });
        const r = await sample({
          model: twoModes,
          solver: saSolver,
          grid,
          schedule: vp,
          noise: { data: y0, shape: [n, 3] },
          stateScaling: 'none',
          seed,
          solverOptions: { predictorOrder: cfg.p, correctorOrder: cfg.c, lowerOrderFinal: cfg.lowerOrderFinal, ...options },
        });
        for (let k = 0; k < want.length; k++) expect(Math.abs(r.samples.data[k] - want[k]), `value ${k}`).toBeLessThan(2e-5 * Math.max(1, Math.abs(want[k])));
      });
    }
  }

  it("a tau function of t is diffusers' tau_func; on an EDM Karras grid ending at a repeated sigma_min too", async () => {
    const sigmas = makeGrid(edm, { kind: 'karras', steps: 8, final: 'sigma-min' }).map((p) => p.sigma);
    const grid = [...sigmas, sigmas[sigmas.length - 1]].map((s) => edm.pointAtSigma(s));
    const tauFunc = (t: number) => (t > 0.5 && t < 20 ? 0.8 : 0);
    const want = await runOracle(twoModes, grid, y0, n, seed, { p: 3, c: 3, lowerOrderFinal: true, tauFunc });
    const r = await sample({ model: twoModes, solver: saSolver, grid, schedule: edm, noise: { data: y0, shape: [n, 3] }, seed, solverOptions: { predictorOrder: 3, correctorOrder: 3, tau: tauFunc } });
    for (let k = 0; k < want.length; k++) expect(Math.abs(r.samples.data[k] - want[k])).toBeLessThan(2e-5 * Math.max(1, Math.abs(want[k])));
  });
});

/** Steps a solver by hand, returning y and the update after every step. */
async function stepAll(solver: Solver<any, any>, opts: Record<string, unknown>, model: Denoiser, grid: GridPoint[], y0: Float32Array, n: number) {
  const ctx: StepContext = { predict: (y, at) => model.predict(y, at), grid, schedule: edm, seed: 9, firstSample: 0 };
  let y: Batch = { data: Float32Array.from(y0), shape: [n, y0.length / n] };
  let state = solver.init(y, opts);
  const out: { y: Float32Array; update: LinearUpdate; before: { y: Batch; state: unknown } }[] = [];
  for (let i = 0; i < grid.length - 1; i++) {
    const before = { y, state };
    const r = await solver.step(ctx, i, y, state, opts);
    out.push({ y: r.y.data, update: r.update!, before });
    y = r.y;
    state = r.state;
  }
  return { out, ctx };
}

describe('sa-solver: DDIM, NFE, noise, state', () => {
  it('tau = 0, predictor order 1, no corrector is DDIM step for step', async () => {
    const y0 = normalBatch(1, 0, 3, 3, 80, 0);
    for (const final of ['zero', 'sigma-min'] as const) {
      const grid = makeGrid(edm, { kind: 'karras', steps: 9, final });
      const a = await stepAll(saSolver, { tau: 0, predictorOrder: 1, correctorOrder: 0 }, twoModes, grid, y0, 3);
      const b = await stepAll(ddim, {}, twoModes, grid, y0, 3);
      a.out.forEach((o, i) => {
        for (let k = 0; k < o.y.length; k++) expect(Math.abs(o.y[k] - b.out[i].y[k]), `step ${i}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(b.out[i].y[k])));
      });
    }
  });

  it("without the order-2 rescaling, tau = 0, predictor 2, no corrector is DPM-Solver++(2M) ('heun' type) step for step", async () => {
    const y0 = normalBatch(2, 0, 3, 3, 80, 0);
    for (const final of ['zero', 'sigma-min'] as const) {
      const grid = makeGrid(edm, { kind: 'karras', steps: 8, final });
      const a = await stepAll(saSolver, { tau: 0, predictorOrder: 2, correctorOrder: 0, rescale: false, lowerOrderFinal: false }, twoModes, grid, y0, 3);
      const b = await stepAll(dpmSolverPP2M, { solverType: 'heun', lowerOrderFinal: false }, twoModes, grid, y0, 3);
      a.out.forEach((o, i) => {
        for (let k = 0; k < o.y.length; k++) expect(Math.abs(o.y[k] - b.out[i].y[k]), `step ${i}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(b.out[i].y[k])));
      });
    }
  });

  it('costs exactly one evaluation per step, whatever the orders, tau and grid', async () => {
    for (const opts of [{}, { predictorOrder: 4, correctorOrder: 4 }, { predictorOrder: 1, correctorOrder: 0, tau: 0 }, { correctorOrder: 1, lowerOrderFinal: false }]) {
      for (const final of ['zero', 'sigma-min'] as const) {
        for (const steps of [1, 2, 3, 6, 13]) {
          let calls = 0;
          const model: Denoiser = { ...gaussian, predict: (y, at) => (calls++, gaussian.predict(y, at)) };
          const r = await sample({ model, solver: saSolver, grid: makeGrid(edm, { kind: 'karras', steps, final }), schedule: edm, n: 3, seed: 4, solverOptions: opts });
          expect(r.nfe).toBe(steps);
          expect(calls).toBe(saSolver.nfe(steps));
          expect(Array.from(r.samples.data).every(Number.isFinite)).toBe(true);
        }
      }
    }
  });

  it('reproducible for a seed, different for another, and the same whatever the batch split', async () => {
    const grid = makeGrid(edm, { kind: 'karras', steps: 12 });
    const run = (o: { seed: number; n: number; batch?: number; firstSample?: number }) =>
      sample({ model: twoModes, solver: saSolver, grid, schedule: edm, solverOptions: { predictorOrder: 3, correctorOrder: 3, tau: 1 }, ...o });
    const full = await run({ seed: 7, n: 10 });
    expect(Array.from((await run({ seed: 7, n: 10 })).samples.data)).toEqual(Array.from(full.samples.data));
    expect(Array.from((await run({ seed: 7, n: 10, batch: 3 })).samples.data)).toEqual(Array.from(full.samples.data));
    const head = await run({ seed: 7, n: 4 });
    const tail = await run({ seed: 7, n: 6, firstSample: 4, batch: 4 });
    expect([...head.samples.data, ...tail.samples.data]).toEqual(Array.from(full.samples.data));
    const other = await run({ seed: 8, n: 10 });
    expect(Array.from(other.samples.data)).not.toEqual(Array.from(full.samples.data));
    // The noise of step i is stream i + 1 of (seed, sample index): the same initial noise with another seed of the
    // solver noise only is not expressible, but tau = 0 must make the run deterministic given y_T.
    const y0 = normalBatch(7, 0, 10, 3, 80, 0);
    const det = (seed: number) => sample({ model: twoModes, solver: saSolver, grid, schedule: edm, noise: { data: y0, shape: [10, 3] }, seed, solverOptions: { tau: 0 } });
    expect(Array.from((await det(1)).samples.data)).toEqual(Array.from((await det(2)).samples.data));
  });

  it("each step's update combines exactly to the new y; the noise of step i is stream i + 1; a step re-run from a saved state repeats it", async () => {
    const grid = makeGrid(edm, { kind: 'karras', steps: 7 });
    const y0 = normalBatch(3, 0, 2, 3, 80, 0);
    const { out, ctx } = await stepAll(saSolver, { predictorOrder: 3, correctorOrder: 2 }, twoModes, grid, y0, 2);
    expect(out.map((o) => o.update.names.join(' '))).toEqual([
      'y denoised noise',
      'y_corrected denoised denoised_prev noise',
      'y_corrected denoised denoised_prev denoised_prev2 noise',
      'y_corrected denoised denoised_prev denoised_prev2 noise',
      'y_corrected denoised denoised_prev denoised_prev2 noise',
      'y_corrected denoised denoised_prev noise', // lower order on the final steps
      'y_corrected denoised', // to sigma = 0: y' = D, no noise
    ]);
    expect(out[6].update.coefficients).toEqual([0, 1]);
    out.forEach((o, i) => {
      expect(Array.from(linComb(o.update.coefficients, o.update.vectors))).toEqual(Array.from(o.y));
      const k = o.update.names.indexOf('noise');
      if (k >= 0) expect(Array.from(o.update.vectors[k])).toEqual(Array.from(normalBatch(9, 0, 2, 3, 1, i + 1)));
    });
    const again = await saSolver.step(ctx, 4, out[4].before.y, out[4].before.state as never, { predictorOrder: 3, correctorOrder: 2 });
    expect(Array.from(again.y.data)).toEqual(Array.from(out[4].y));
  });

  it('tauTMin/tauTMax switch the noise off outside [tMin, tMax] (t = sigma on the EDM schedule)', async () => {
    const grid = makeGrid(edm, { kind: 'karras', steps: 10 });
    const { out } = await stepAll(saSolver, { tau: 1, tauTMin: 0.5, tauTMax: 10 }, twoModes, grid, normalBatch(3, 0, 1, 3, 80, 0), 1);
    out.forEach((o, i) => expect(o.update.names.includes('noise'), `step ${i}, t = ${grid[i].t}`).toBe(grid[i].t >= 0.5 && grid[i].t <= 10));
  });

  it('rejects bad options with the field and what was expected', () => {
    const grid = makeGrid(edm, { kind: 'karras', steps: 3 });
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ predictorOrder: 5 }, /predictorOrder is 5; expected an integer in \[1, 4\]/],
      [{ correctorOrder: -1 }, /correctorOrder is -1; expected an integer in \[0, 4\]/],
      [{ tau: -1 }, /tau is -1; expected a finite number >= 0 or a function of t/],
      [{ tau: 'x' }, /tau is x/],
      [{ tauTMin: 5, tauTMax: 1 }, /expected tauTMin <= tauTMax/],
      [{ tau: () => 1, tauTMin: 0 }, /tauTMin\/tauTMax go with a numeric tau/],
      [{ lowerOrderFinal: 1 }, /lowerOrderFinal is 1; expected true or false/],
      [{ rescale: 'no' }, /rescale is no; expected true or false/],
      [{ eta: 1 }, /unknown option 'eta'/],
    ];
    for (const [o, re] of bad) expect(() => saSolver.check!(grid, edm, o as never)).toThrow(re);
  });
});

describe('sa-solver: coefficients and convergence', () => {
  it('weights: DDIM for one node at tau = 0, sum 1 - e^{-kh} (the basis sums to 1), exact for polynomials in lambda', () => {
    const [w] = saSolverWeights(-Math.log(10), -Math.log(4), [-Math.log(10)], 0);
    expect(w).toBeCloseTo(1 - 4 / 10, 14);
    for (const tau of [0, 0.5, 1.3]) {
      const k = 1 + tau * tau, l0 = -1.2, l1 = -0.4, nodes = [-1.2, -1.9, -2.3, -3];
      const w4 = saSolverWeights(l0, l1, nodes, tau);
      expect(w4.reduce((a, b) => a + b, 0)).toBeCloseTo(-Math.expm1(-k * (l1 - l0)), 12);
      // k int e^{k (u - l1)} q(u) du for q = u^3 - u, by the midpoint rule.
      const q = (u: number) => u ** 3 - u;
      let quad = 0;
      const m = 200000;
      for (let j = 0; j < m; j++) {
        const u = l0 + ((j + 0.5) * (l1 - l0)) / m;
        quad += k * Math.exp(k * (u - l1)) * q(u) * ((l1 - l0) / m);
      }
      expect(w4.reduce((s, wj, j) => s + wj * q(nodes[j]), 0)).toBeCloseTo(quad, 8);
    }
    // Tiny steps keep their digits (no cancellation): h = 1e-6, tau = 1.
    const t = saSolverWeights(0, 1e-6, [0, -0.1], 1);
    expect(t[0] + t[1]).toBeCloseTo(-Math.expm1(-2e-6), 18);
  });

  it('a step to sigma = 0 is y\' = D; a repeated sigma is the identity', () => {
    expect(saSolverCoefficients(false, 0.002, 0, [0.002], 1)).toEqual({ y: 0, x0: [1], noise: 0 });
    expect(saSolverCoefficients(false, 0.5, 0.5, [0.5, 0.8], 1)).toEqual({ y: 1, x0: [0, 0], noise: 0 });
  });

  /** |error| at sigma_min on the Gaussian from y_T = 80 (exact y(sigma) = y_T sqrt(sigma^2 + S^2) / sqrt(T^2 + S^2)). */
  async function gaussError(steps: number, opts: Record<string, unknown>): Promise<number> {
    const grid = makeGrid(edm, { kind: 'karras', steps, final: 'sigma-min' });
    const r = await sample({ model: gaussian, solver: saSolver, grid, schedule: edm, noise: { data: Float32Array.of(80, -80), shape: [1, 2] }, solverOptions: { tau: 0, lowerOrderFinal: false, ...opts } });
    const end = grid[steps].sigma;
    return Math.abs(r.samples.data[0] - (80 * Math.sqrt(end * end + S * S)) / Math.sqrt(80 * 80 + S * S));
  }

  it('tau = 0 (the ODE): predictor order p alone converges at order p; with the corrector one order more', async () => {
    const ratio = async (o: Record<string, unknown>) => (await gaussError(64, o)) / (await gaussError(128, o));
    const r1 = await ratio({ predictorOrder: 1, correctorOrder: 0 });
    expect(r1).toBeGreaterThan(1.8), expect(r1).toBeLessThan(2.3);
    const r2 = await ratio({ predictorOrder: 2, correctorOrder: 0 });
    expect(r2).toBeGreaterThan(3.6), expect(r2).toBeLessThan(5);
    const r3 = await ratio({ predictorOrder: 3, correctorOrder: 0 });
    expect(r3).toBeGreaterThan(7), expect(r3).toBeLessThan(10);
    const r34 = await ratio({ predictorOrder: 3, correctorOrder: 4 });
    expect(r34).toBeGreaterThan(14), expect(r34).toBeLessThan(19);
  });
});

describe('sa-solver samples the true distribution with many steps', () => {
  it('gmm-2d, 200 steps: mode frequencies within 0.02 of the weights, mean log-likelihood as exact samples', async () => {
    const { denoiser } = await loadModel('gmm:gmm-2d');
    const g = denoiser as GaussianMixture;
    const n = 4000;
    const exact = g.sampleExact(n, 3);
    const llExact = g.logDensity(exact.data).reduce((a, b) => a + b, 0) / n;
    const grid = makeGrid(edm, { kind: 'karras', steps: 200 });
    for (const opts of [{}, { predictorOrder: 3, correctorOrder: 4, tau: 1, tauTMin: 0.05, tauTMax: 10 }]) {
      const r = await sample({ model: g, solver: saSolver, grid, schedule: edm, n, seed: 3, solverOptions: opts });
      const freq = new Array<number>(g.K).fill(0);
      for (const k of g.classify(r.samples.data)) freq[k] += 1 / n;
      freq.forEach((f, k) => expect(Math.abs(f - g.weights[k]), `mode ${k}`).toBeLessThan(0.02));
      const ll = g.logDensity(r.samples.data).reduce((a, b) => a + b, 0) / n;
      // Standard error of a mean over 4000 samples is ~0.016 nats; the two means differ by ~0.03 here.
      expect(Math.abs(ll - llExact), JSON.stringify(opts)).toBeLessThan(0.08);
    }
  }, 20_000);
});
