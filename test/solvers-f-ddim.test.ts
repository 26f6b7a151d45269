// F-DDIM (Jiao, Li, Cai & Li 2025, forward-value first-order sampler, and its higher-order lookahead F-DPMSolver):
// step for step against an independent transcription of the authors' Forward_DPMSolver (VP variables, Vandermonde
// fit of eps in lambda and phi_k recursion), exact NFE, the final DDIM step to sigma = 0, the sign of its leading
// error against DDIM's and first-order convergence on the closed-form Gaussian, and its accuracy against DDIM at the
// same NFE on the exact models (gmm-64d, data:digits) measured against the reference ODE solution.
import { describe, expect, it } from 'vitest';
import { linComb, type Batch } from '../src/core/batch.js';
import { normalBatch } from '../src/core/rng.js';
import { evalImagesFor } from '../src/eval/node-data.js';
import { nearestImage } from '../src/eval/metrics.js';
import { referenceSolve } from '../src/eval/reference.js';
import { makeGrid } from '../src/grids/index.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { GaussianMixture } from '../src/models/gmm.js';
import { loadModel } from '../src/models/registry.js';
import { sample } from '../src/sample.js';
import { makeSchedule } from '../src/schedules/index.js';
import type { GridPoint } from '../src/schedules/schedule.js';
import { ddim } from '../src/solvers/ddim.js';
import { fDdim, fDdimLookaheadWeights } from '../src/solvers/f-ddim.js';
import type { LinearUpdate, Solver, StepContext } from '../src/solvers/solver.js';
import { solveLinear } from '../src/solvers/multistep.js';
import { gaussianDenoiser } from './gaussian-model.js';

const edm = makeSchedule('edm');
const S = 0.5;
const gaussian: Denoiser = gaussianDenoiser(S, 2);

function counting(model: Denoiser): { model: Denoiser; calls: () => number } {
  let calls = 0;
  return {
    model: { ...model, sampleShape: model.sampleShape, name: model.name, predict: (y, at) => (calls++, model.predict(y, at)) },
    calls: () => calls,
  };
}


/**
 * The authors' Forward_DPMSolver transcribed in their own variables: x = sqrt(abar) y with abar = 1/(1 + sigma^2),
 * eps history seeded with copies of x_T, lookahead = ODESampler_onestep (eps = sum_k c_k (lambda - lambda_0)^k by a
 * Vandermonde solve, Delta = sum_k phi_k c_k, phi_0 = 1 - e^-delta, phi_k = k phi_{k-1} - delta^k e^-delta), the model
 * at (x_hat, sigma'), then x' = coeff_x x - coeff_x0 x0_pred. Float64 except the model call. Returns y per step.
 */
async function authorsForward(model: Denoiser, sigmas: number[], y0: Float32Array, order: number): Promise<Float64Array[]> {
  const n = y0.length;
  const abar = sigmas.map((s) => 1 / (s * s + 1));
  let x = Float64Array.from(y0, (v) => v * Math.sqrt(abar[0]));
  const epsVec: Float64Array[] = Array.from({ length: order }, () => Float64Array.from(x));
  const out: Float64Array[] = [];
  for (let t = 0; t < sigmas.length - 1; t++) {
    const tStart = Math.max(t - order + 1, 0);
    const atVec = abar.slice(tStart, t + 1).reverse();
    const aNext = abar[t + 1], a = abar[t];
    const p = Math.min(t + 1, order);
    // ODESampler_onestep(x, p, aNext, atVec, epsVec[0 : t - tStart + 1])
    const lam = atVec.slice(0, p).map((v) => 0.5 * Math.log(v / (1 - v)));
    const A = lam.map((l) => Array.from({ length: p }, (_, k) => (l - lam[0]) ** k));
    const delta = 0.5 * Math.log(aNext / (1 - aNext)) - lam[0];
    const phi = [1 - Math.exp(-delta)];
    for (let k = 1; k < p; k++) phi.push(k * phi[k - 1] - delta ** k * Math.exp(-delta));
    const xHat = new Float64Array(n);
    for (let e = 0; e < n; e++) {
      const c = solveLinear(A, lam.map((_, j) => epsVec[j][e]));
      let Delta = 0;
      for (let k = 0; k < p; k++) Delta += phi[k] * c[k];
      xHat[e] = Math.sqrt(aNext / atVec[0]) * x[e] - Math.sqrt(aNext) * Math.exp(-lam[0]) * Delta;
    }
    const coeffX = Math.sqrt((1 - aNext) / (1 - a));
    const coeffX0 = Math.sqrt(((1 - aNext) / (1 - a)) * a) - Math.sqrt(aNext);
    const pr = await model.predict({ data: Float32Array.from(xHat, (v) => v / Math.sqrt(aNext)), shape: [1, n] }, edm.pointAtSigma(sigmas[t + 1]));
    const eps = Float64Array.from(pr.eps);
    const x0 = Float64Array.from(xHat, (v, e) => (v - Math.sqrt(1 - aNext) * eps[e]) / Math.sqrt(aNext));
    x = Float64Array.from(x, (v, e) => coeffX * v - coeffX0 * x0[e]);
    for (let k = order - 1; k > 0; k--) epsVec[k] = epsVec[k - 1];
    epsVec[0] = eps;
    out.push(Float64Array.from(x, (v) => v / Math.sqrt(aNext)));
  }
  return out;
}

/** Steps a solver by hand from y0 (one sample), returning y and the update after every step. */
async function stepAll(solver: Solver<any, any>, opts: Record<string, unknown>, model: Denoiser, grid: GridPoint[], y0: Float32Array) {
  const ctx: StepContext = { predict: (y, at) => model.predict(y, at), grid, schedule: edm, seed: 0, firstSample: 0 };
  let y: Batch = { data: Float32Array.from(y0), shape: [1, y0.length] };
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

describe("f-ddim is the authors' Forward_DPMSolver", () => {
  const gmm = new GaussianMixture(
    { weights: [0.3, 0.7], means: [[1, -1, 0.5], [-1, 0.5, 2]], stds: [0.4, 0.7] },
    'two-modes',
  );
  const y0 = Float32Array.of(70, -30, 45);
  for (const order of [1, 2, 3, 4]) {
    it(`step for step on their Karras grid (80 -> 0.002, rho 7), predictor order ${order}`, async () => {
      const grid = makeGrid(edm, { kind: 'karras', steps: 8, final: 'sigma-min' });
      const ref = await authorsForward(gmm, grid.map((p) => p.sigma), y0, order);
      const { out } = await stepAll(fDdim, { predictorOrder: order }, gmm, grid, y0);
      out.forEach((o, i) => {
        for (let e = 0; e < 3; e++) expect(Math.abs(o.y[e] - ref[i][e]), `step ${i}`).toBeLessThan(2e-5 * Math.max(1, Math.abs(ref[i][e])));
      });
    });
  }

  it('the lookahead weights are the exact integral of the eps polynomial in lambda (DDIM for one node)', () => {
    expect(fDdimLookaheadWeights(10, 4, [10])).toEqual([-6]);
    // Any polynomial of degree < p in lambda is integrated exactly: int_s^s' eps dsigma.
    const eps = (s: number) => 2 - 3 * Math.log(s) + 0.5 * Math.log(s) ** 2;
    const nodes = [3, 5, 9];
    const w = fDdimLookaheadWeights(3, 1.5, nodes);
    let quad = 0;
    const m = 20000, a = 3, b = 1.5;
    for (let k = 0; k < m; k++) quad += eps(a + ((k + 0.5) * (b - a)) / m) * ((b - a) / m);
    expect(w.reduce((s, wj, j) => s + wj * eps(nodes[j]), 0)).toBeCloseTo(quad, 6);
  });
});

describe('f-ddim: NFE, the last step, state and update', () => {
  it('costs exactly one evaluation per step, every order, grids to 0 and to sigma_min', async () => {
    for (const predictorOrder of [1, 2, 3, 4]) {
      for (const final of ['zero', 'sigma-min'] as const) {
        for (const steps of [1, 2, 5, 11]) {
          const c = counting(gaussian);
          const grid = makeGrid(edm, { kind: 'karras', steps, final });
          const r = await sample({ model: c.model, solver: fDdim, grid, schedule: edm, n: 3, seed: 2, solverOptions: { predictorOrder } });
          expect(r.nfe).toBe(steps);
          expect(c.calls()).toBe(fDdim.nfe(steps));
        }
      }
    }
  });

  it('evaluates at the lookahead point and the right end; the step to sigma = 0 is DDIM (y\' = D(y; sigma))', async () => {
    const seen: number[] = [];
    const model: Denoiser = { ...gaussian, predict: (y, at) => (seen.push(at.sigma), gaussian.predict(y, at)) };
    const grid = makeGrid(edm, { kind: 'karras', steps: 4 });
    const { out } = await stepAll(fDdim, {}, model, grid, Float32Array.of(50, -20));
    expect(seen).toEqual([grid[1].sigma, grid[2].sigma, grid[3].sigma, grid[3].sigma]);
    const last = out[3];
    const p = await gaussian.predict(last.before.y, grid[3]);
    expect(Array.from(last.y)).toEqual(Array.from(p.x0));
  });

  it('first step: the lookahead is DDIM with eps_prev = y_0 / sqrt(1 + sigma_0^2) (the authors\' x_T seed)', async () => {
    const grid = makeGrid(edm, { kind: 'karras', steps: 5, final: 'sigma-min' });
    const y0 = Float32Array.of(80, -40);
    let first: Float32Array | undefined;
    const model: Denoiser = { ...gaussian, predict: (y, at) => ((first ??= Float32Array.from(y.data)), gaussian.predict(y, at)) };
    await stepAll(fDdim, {}, model, grid, y0);
    const s0 = grid[0].sigma, s1 = grid[1].sigma;
    for (let e = 0; e < 2; e++) expect(first![e]).toBeCloseTo(y0[e] - (s0 - s1) * (y0[e] / Math.sqrt(1 + s0 * s0)), 4);
  });

  it("each step's update combines exactly to the new y, and a step re-run from a saved state repeats it", async () => {
    const grid = makeGrid(edm, { kind: 'karras', steps: 6 });
    for (const predictorOrder of [1, 3]) {
      const { out, ctx } = await stepAll(fDdim, { predictorOrder }, gaussian, grid, Float32Array.of(60, 20));
      for (const o of out) {
        expect(o.update.names).toEqual(['y', 'denoised']);
        expect(Array.from(linComb(o.update.coefficients, o.update.vectors))).toEqual(Array.from(o.y));
      }
      const again = await fDdim.step(ctx, 3, out[3].before.y, out[3].before.state as never, { predictorOrder });
      expect(Array.from(again.y.data)).toEqual(Array.from(out[3].y));
    }
  });

  it('rejects bad options with the field and what was expected', () => {
    const grid = makeGrid(edm, { kind: 'karras', steps: 3 });
    expect(() => fDdim.check!(grid, edm, { predictorOrder: 5 })).toThrow(/predictorOrder is 5; expected an integer in \[1, 4\]/);
    expect(() => fDdim.check!(grid, edm, { order: 2 } as never)).toThrow(/unknown option 'order'/);
    expect(() => fDdim.check!([grid[0]], edm, {})).toThrow(/expected at least 2/);
  });
});

describe('f-ddim: error against DDIM', () => {
  /** Final-point error on the Gaussian from y_T = 80 (exact: y(sigma) = y_T sqrt(sigma^2 + S^2) / sqrt(T^2 + S^2)). */
  async function gaussError(solver: Solver<any, any>, steps: number, opts: Record<string, unknown> = {}): Promise<number> {
    const grid = makeGrid(edm, { kind: 'karras', steps, final: 'sigma-min' });
    const r = await sample({ model: gaussian, solver, grid, schedule: edm, noise: { data: Float32Array.of(80, -80), shape: [1, 2] }, solverOptions: opts });
    const end = grid[steps].sigma;
    return r.samples.data[0] - (80 * Math.sqrt(end * end + S * S)) / Math.sqrt(80 * 80 + S * S);
  }

  it("leading error of the opposite sign to DDIM's, first order (error ratio ~2 when the steps double)", async () => {
    for (const steps of [40, 80, 160]) {
      const e = await gaussError(fDdim, steps), d = await gaussError(ddim, steps);
      expect(Math.sign(e)).toBe(-Math.sign(d));
    }
    const e80 = await gaussError(fDdim, 80), e160 = await gaussError(fDdim, 160);
    expect(e80 / e160).toBeGreaterThan(1.7);
    expect(e80 / e160).toBeLessThan(2.3);
    // The higher-order lookahead tracks the ideal forward-value (implicit) trajectory: still first order.
    const p80 = await gaussError(fDdim, 80, { predictorOrder: 3 }), p160 = await gaussError(fDdim, 160, { predictorOrder: 3 });
    expect(p80 / p160).toBeGreaterThan(1.7);
    expect(p80 / p160).toBeLessThan(2.3);
  });

  /**
   * Per NFE, the RMS error of ddim and f-ddim against the reference ODE solution from the same initial noise, and
   * (with training images) the fraction of samples that end on the reference's nearest training image.
   */
  async function againstReference(model: Denoiser, n: number, nfes: number[], final: 'zero' | 'sigma-min', images?: Float32Array) {
    const d = model.sampleShape.reduce((a, b) => a * b, 1);
    const noise = { data: normalBatch(11, 0, n, d, 80, 0), shape: [n, ...model.sampleShape] };
    const ref = await referenceSolve(model, noise, { from: 80, to: final === 'zero' ? 0 : 0.002 }, { images });
    const refImage = images ? nearestImage(ref.y, images, d).index : undefined;
    const rows: { nfe: number; rms: Record<string, number>; sameImage: Record<string, number> }[] = [];
    for (const nfe of nfes) {
      const row = { nfe, rms: {} as Record<string, number>, sameImage: {} as Record<string, number> };
      for (const [name, solver] of [['ddim', ddim], ['f-ddim', fDdim]] as const) {
        const grid = makeGrid(edm, { kind: 'karras', steps: nfe, final });
        const r = await sample({ model, solver, grid, schedule: edm, noise });
        expect(r.nfe).toBe(nfe);
        let se = 0;
        for (let k = 0; k < r.samples.data.length; k++) se += (r.samples.data[k] - ref.y[k]) ** 2;
        row.rms[name] = Math.sqrt(se / r.samples.data.length);
        if (images && refImage) row.sameImage[name] = nearestImage(r.samples.data, images, d).index.filter((v, b) => v === refImage[b]).length / n;
      }
      rows.push(row);
    }
    return rows;
  }

  // Measured (n = 64, seed 11 noise; RMS per value): gmm-64d, Karras grid to 0: NFE 5 ddim 0.216 / f-ddim 0.149,
  // NFE 10 0.101 / 0.028, NFE 20 0.050 / 0.021 (n = 256, seeds 11 and 12: the same picture). On the authors' grid
  // ending at sigma_min = 0.002 f-ddim wins at NFE 10 (0.092 / 0.019) and 20 (0.048 / 0.021) but loses at NFE 5
  // (0.171 / 0.197; n = 256: 0.175 / 0.197): not asserted there.
  it('gmm-64d: lower error than DDIM at NFE 5, 10, 20 (Karras grid to 0) and at NFE 10, 20 on the grid to sigma_min', async () => {
    const { denoiser } = await loadModel('gmm:gmm-64d');
    for (const row of await againstReference(denoiser, 64, [5, 10, 20], 'zero')) expect(row.rms['f-ddim'], `NFE ${row.nfe}`).toBeLessThan(0.8 * row.rms.ddim);
    for (const row of await againstReference(denoiser, 64, [10, 20], 'sigma-min')) expect(row.rms['f-ddim'], `NFE ${row.nfe}`).toBeLessThan(0.6 * row.rms.ddim);
  });

  // Measured (n = 64, seed 11, grid to 0; RMS, then the share of samples on the reference's training image): NFE 5
  // ddim 0.386 / f-ddim 0.344 (0.28 / 0.36), NFE 10 0.261 / 0.185 (0.66 / 0.75), NFE 20 0.166 / 0.047 (0.83 / 0.97);
  // seeds 12, 13 and n = 128 the same way round. With n = 32 the NFE-5 RMS can go either way (a few basin switches
  // dominate it), hence n = 64.
  it('data:digits: lower error than DDIM and more samples on the reference\'s training image at NFE 5, 10, 20', async () => {
    const { denoiser } = await loadModel('data:digits');
    try {
      for (const row of await againstReference(denoiser, 64, [5, 10, 20], 'zero', evalImagesFor('data:digits'))) {
        expect(row.rms['f-ddim'], `NFE ${row.nfe}`).toBeLessThan(row.rms.ddim);
        expect(row.sameImage['f-ddim'], `NFE ${row.nfe}`).toBeGreaterThan(row.sameImage.ddim);
      }
    } finally {
      await denoiser.dispose?.();
    }
  }, 60_000);
});
