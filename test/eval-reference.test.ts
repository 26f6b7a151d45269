// The reference ODE solver's own accuracy: closed-form Gaussian trajectories, a 2-mode mixture against a
// brute-force fixed-step RK4, the convergence check, and the float64 twins of the exact models.
import { describe, expect, it } from 'vitest';
import { normalBatch } from '../src/core/rng.js';
import { denoiserField, empiricalField, fieldFor, gmmField, type Field } from '../src/eval/exact64.js';
import { maxRelativeDifference, referenceSolve, referenceWithCheck } from '../src/eval/reference.js';
import { DOP853, DOPRI5 } from '../src/eval/tableaus.js';
import { TsEmpiricalDenoiser } from '../src/models/empirical.js';
import { GaussianMixture } from '../src/models/gmm.js';
import { makeSchedule } from '../src/schedules/index.js';

const T = 80;

/** N(mu, s^2 I) data: D(y; sigma) = mu + s^2 / (s^2 + sigma^2) (y - mu) (Bayes for Gaussian prior and noise). */
function gaussianField(dim: number, s: number, mu = 0): Field {
  return {
    dim,
    precision: 'float64',
    sigmaFloor: 0,
    sigmaScale: s,
    async denoise(y, rows, sigma) {
      const c = (s * s) / (s * s + sigma * sigma);
      return y.subarray(0, rows * dim).map((v) => mu + c * (v - mu));
    },
  };
}

/** The exact trajectory for N(mu, s^2) data: y(sigma) = mu + (y(T) - mu) sqrt(sigma^2 + s^2) / sqrt(T^2 + s^2). */
function exactGaussian(yT: ArrayLike<number>, s: number, sigma: number, mu = 0): Float64Array {
  const r = Math.sqrt(sigma * sigma + s * s) / Math.sqrt(T * T + s * s);
  return Float64Array.from(yT, (v) => mu + (v - mu) * r);
}

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]) / Math.abs(b[i]));
  return w;
}

describe('tableaus', () => {
  for (const tab of [DOPRI5, DOP853]) {
    it(`${tab.name}: row sums of a equal c, weights sum to 1, error weights to 0`, () => {
      tab.a.forEach((row, i) => expect(row.reduce((x, y) => x + y, 0)).toBeCloseTo(tab.c[i], 13));
      expect(tab.b.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 13);
      expect(tab.e.reduce((x, y) => x + y, 0)).toBeCloseTo(0, 13);
      // Order conditions sum b c = 1/2, sum b c^2 = 1/3, sum b c^3 = 1/4 (a quadrature of order >= 4).
      for (let q = 1; q <= 4; q++) expect(tab.b.reduce((acc, bi, i) => acc + bi * tab.c[i] ** q, 0)).toBeCloseTo(1 / (q + 1), 13);
    });
  }
});

describe('reference: closed-form Gaussian', () => {
  const s = 0.5, dim = 8, n = 16;
  const yT = { data: normalBatch(3, 0, n, dim, T), shape: [n, dim] };
  for (const method of ['dop853', 'dopri5'] as const) {
    for (const variable of ['asinh', 'log'] as const) {
      it(`${method}, ${variable}: relative error < 1e-8 to sigma = 0.3 and to sigma = 0`, async () => {
        const f = gaussianField(dim, s);
        const finite = await referenceSolve(f, yT, { from: T, to: 0.3 }, { rtol: 1e-10, method, variable });
        expect(maxRel(finite.y, exactGaussian(yT.data, s, 0.3))).toBeLessThan(1e-8);
        expect(finite.sigmaEnd).toBeNull();
        const zero = await referenceSolve(f, yT, { from: T, to: 0 }, { rtol: 1e-10, method, variable, sigmaEnd: 1e-6 });
        expect(maxRel(zero.y, exactGaussian(yT.data, s, 0))).toBeLessThan(1e-8);
        expect(zero.sigmaEnd).toBe(1e-6);
        expect(zero.nfe).toBeGreaterThan(20);
        expect(zero.accepted).toBeGreaterThan(0);
      });
    }
  }

  it('a one-component GaussianMixture (float64 twin) follows the closed form with a non-zero mean', async () => {
    const mu = [1.5, -2];
    const g = new GaussianMixture({ weights: [1], means: [mu], stds: [0.3] });
    const m = 32;
    const y0 = { data: normalBatch(4, 0, m, 2, T), shape: [m, 2] };
    const r = await referenceSolve(g, y0, { from: T, to: 0 }, { rtol: 1e-10 });
    expect(r.precision).toBe('float64');
    let worst = 0;
    const ratio = 0.3 / Math.sqrt(T * T + 0.09);
    for (let i = 0; i < m * 2; i++) {
      const exact = mu[i % 2] + (y0.data[i] - mu[i % 2]) * ratio;
      worst = Math.max(worst, Math.abs(r.y[i] - exact) / Math.max(Math.abs(exact), 1));
    }
    expect(worst).toBeLessThan(1e-8);
  });

  it('the sigma -> 0 limit D(y(sigmaEnd)) is off by about sigmaEnd^2 / (2 s^2) (why sigmaEnd is small)', async () => {
    const f = gaussianField(dim, s);
    const r = await referenceSolve(f, yT, { from: T, to: 0 }, { rtol: 1e-11, sigmaEnd: 1e-2 });
    const rel = maxRel(r.y, exactGaussian(yT.data, s, 0));
    expect(rel).toBeGreaterThan(0.5 * (1e-4 / (2 * s * s)));
    expect(rel).toBeLessThan(2 * (1e-4 / (2 * s * s)));
  });
});

/** Posterior mean of a mixture by the definition (densities without log-sum-exp), float64. */
function bruteD(g: { w: number[]; mu: number[][]; s: number[] }, y: Float64Array, off: number, sigma: number, out: Float64Array): void {
  const D = g.mu[0].length;
  let z = 0;
  const num = new Float64Array(D);
  g.w.forEach((w, k) => {
    const v = g.s[k] ** 2 + sigma ** 2;
    let d2 = 0;
    for (let i = 0; i < D; i++) d2 += (y[off + i] - g.mu[k][i]) ** 2;
    const p = w * v ** (-D / 2) * Math.exp(-d2 / (2 * v));
    z += p;
    for (let i = 0; i < D; i++) num[i] += (p * (g.s[k] ** 2 * y[off + i] + sigma ** 2 * g.mu[k][i])) / v;
  });
  for (let i = 0; i < D; i++) out[off + i] = num[i] / z;
}

/** Classical RK4 on dy/du = y - D(y; e^u), u = log sigma, with `steps` equal steps: the brute-force oracle. */
function rk4(g: { w: number[]; mu: number[][]; s: number[] }, y0: Float64Array, n: number, from: number, to: number, steps: number): Float64Array {
  const D = g.mu[0].length;
  const f = (u: number, y: Float64Array): Float64Array => {
    const d = new Float64Array(y.length);
    for (let b = 0; b < n; b++) bruteD(g, y, b * D, Math.exp(u), d);
    return y.map((v, i) => v - d[i]);
  };
  let y = Float64Array.from(y0);
  const u0 = Math.log(from), h = (Math.log(to) - u0) / steps;
  for (let k = 0; k < steps; k++) {
    const u = u0 + k * h;
    const k1 = f(u, y);
    const k2 = f(u + h / 2, y.map((v, i) => v + (h / 2) * k1[i]));
    const k3 = f(u + h / 2, y.map((v, i) => v + (h / 2) * k2[i]));
    const k4 = f(u + h, y.map((v, i) => v + h * k3[i]));
    y = y.map((v, i) => v + (h / 6) * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]));
  }
  return y;
}

describe('reference: 2-mode mixture against a fine fixed-step RK4', () => {
  const spec = { w: [0.3, 0.7], mu: [[-2, 0.5], [1.5, -1]], s: [0.4, 0.25] };
  const g = new GaussianMixture({ weights: spec.w, means: spec.mu, stds: spec.s });
  const n = 12;
  const yT = { data: normalBatch(5, 0, n, 2, T), shape: [n, 2] };

  it('agrees to 1e-8 at sigma = 0.02 (RK4 with 6000 steps in log sigma)', async () => {
    const oracle = rk4(spec, Float64Array.from(yT.data), n, T, 0.02, 6000);
    for (const method of ['dop853', 'dopri5'] as const) {
      const r = await referenceSolve(g, yT, { from: T, to: 0.02 }, { rtol: 1e-11, method });
      expect(maxRelativeDifference(r.y, oracle, 2)).toBeLessThan(1e-8);
    }
  });

  it('referenceWithCheck: rtol vs rtol/2 and sigmaEnd vs sigmaEnd/2 agree to 1e-6 and the answer is reported', async () => {
    const r = await referenceWithCheck(g, yT, { from: T, to: 0 });
    expect(r.convergence.ok).toBe(true);
    expect(r.convergence.maxRelDiff).toBeLessThanOrEqual(1e-6);
    expect(r.convergence.maxRelDiff).toBeGreaterThan(0);
    expect(r.convergence.threshold).toBe(1e-6);
    expect(r.convergence.rtol).toEqual([1e-9, 5e-10]);
    expect(r.convergence.sigmaEnd).toEqual([1e-5, 5e-6]);
    expect(r.convergence.precision).toBe('float64');
    expect(r.convergence.nfe).toBeGreaterThan(r.nfe);
    // The to = 0 answer is the RK4 answer at a tiny sigma followed by the data prediction.
    const oracle = rk4(spec, Float64Array.from(yT.data), n, T, 1e-3, 8000);
    const limit = new Float64Array(oracle.length);
    for (let b = 0; b < n; b++) bruteD(spec, oracle, b * 2, 1e-3, limit);
    expect(maxRelativeDifference(r.y, limit, 2)).toBeLessThan(1e-5); // sigmaEnd 1e-3 vs 5e-6: O(1e-6 / s^2)
  });

  it('a loose tolerance fails the check and says so instead of throwing', async () => {
    const r = await referenceWithCheck(g, yT, { from: T, to: 0 }, { rtol: 1e-2, threshold: 1e-9 });
    expect(r.convergence.ok).toBe(false);
    expect(r.convergence.maxRelDiff).toBeGreaterThan(1e-9);
  });

  it('through float32 batches (the Denoiser interface) the check is limited by float32 rounding, and says so', async () => {
    const f32 = denoiserField(g);
    expect(f32.precision).toBe('float32');
    const r = await referenceWithCheck(f32, yT, { from: T, to: 0 });
    expect(r.convergence.precision).toBe('float32');
    expect(r.rtol).toBe(5e-7);
    const exact = await referenceSolve(g, yT, { from: T, to: 0 });
    const err = maxRelativeDifference(r.y, exact.y, 2);
    expect(err).toBeLessThan(1e-4);
    expect(r.convergence.maxRelDiff).toBeLessThan(1e-4);
  });
});

describe('float64 twins of the exact models', () => {
  it('gmmField equals GaussianMixture.posterior up to float32 rounding, and fieldFor picks it', async () => {
    const g = new GaussianMixture({ weights: [0.2, 0.5, 0.3], means: [[1, 2], [-3, 0.5], [0.2, -1.5]], stds: [0.4, 1.1, 0.05] });
    const f = gmmField(g);
    expect(fieldFor(g).precision).toBe('float64');
    const y32 = normalBatch(6, 0, 7, 2, 2);
    for (const sigma of [0.01, 0.3, 2, 40]) {
      const d64 = await f.denoise(Float64Array.from(y32), 7, sigma);
      const d32 = g.posterior(y32, sigma).x0;
      for (let i = 0; i < d64.length; i++) expect(Math.abs(d64[i] - d32[i])).toBeLessThan(1e-6 * Math.max(1, Math.abs(d64[i])));
    }
  });

  it('empiricalField equals the TypeScript empirical denoiser (float64 inside) up to float32 rounding', async () => {
    const count = 50, shape = [1, 4, 4];
    const images = normalBatch(7, 0, count, 16, 0.5);
    const ts = new TsEmpiricalDenoiser(images, shape);
    const f = empiricalField(images, shape);
    expect(fieldFor(ts, { images }).precision).toBe('float64');
    for (const rows of [1, 3, 4, 9]) {
      const y32 = normalBatch(8, 0, rows, 16, 1);
      for (const sigma of [0.05, 0.5, 5]) {
        const d64 = await f.denoise(Float64Array.from(y32), rows, sigma);
        const d32 = ts.denoise(y32, sigma).x0;
        for (let i = 0; i < d64.length; i++) expect(Math.abs(d64[i] - d32[i])).toBeLessThan(2e-6);
      }
    }
  });

  it('the empirical reference ends on a training image', async () => {
    const count = 20;
    const images = normalBatch(9, 0, count, 4, 1);
    const f = empiricalField(images, [4]);
    const yT = { data: normalBatch(10, 0, 6, 4, T), shape: [6, 4] };
    const r = await referenceSolve(f, yT, { from: T, to: 0 });
    for (let b = 0; b < 6; b++) {
      let best = Infinity;
      for (let j = 0; j < count; j++) {
        let d = 0;
        for (let i = 0; i < 4; i++) d += (r.y[b * 4 + i] - images[j * 4 + i]) ** 2;
        best = Math.min(best, d);
      }
      expect(Math.sqrt(best)).toBeLessThan(1e-6);
    }
  });
});

describe('reference: input checks', () => {
  const g = new GaussianMixture({ weights: [1], means: [[0, 0]], stds: [1] });
  const yT = { data: normalBatch(1, 0, 2, 2, T), shape: [2, 2] };
  it('names the bad field', async () => {
    await expect(referenceSolve(g, yT, { from: 0, to: 0 })).rejects.toThrow(/reference\.ts: sigmas\.from is 0; expected a finite number > 0/);
    await expect(referenceSolve(g, yT, { from: 1, to: 2 })).rejects.toThrow(/sigmas\.to is 2; expected a number >= 0 and below sigmas\.from/);
    await expect(referenceSolve(g, { data: new Float32Array(3), shape: [2, 2] }, { from: 1, to: 0 })).rejects.toThrow(/yT has 3 values, expected 2 samples of 2/);
    await expect(referenceSolve(g, yT, { from: T, to: 0 }, { rtol: -1 })).rejects.toThrow(/option rtol is -1/);
    await expect(referenceSolve(g, yT, { from: T, to: 0 }, { method: 'rk45' as never })).rejects.toThrow(/option method is 'rk45'/);
  });

  it('a network is not integrated below its schedule floor', async () => {
    const schedule = makeSchedule('edm', { sigmaMin: 0.01, sigmaMax: 80 });
    const f = denoiserField(g, schedule);
    expect(f.sigmaFloor).toBe(0.01);
    await expect(referenceSolve(f, yT, { from: T, to: 0.001 })).rejects.toThrow(/not defined below sigma 0\.01/);
    const r = await referenceSolve(f, yT, { from: T, to: 0 });
    expect(r.sigmaEnd).toBe(0.01);
  });
});
