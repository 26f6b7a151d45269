import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { makeBatch } from '../src/core/batch.js';
import { GaussianMixture, parseGmm, type GmmSpec } from '../src/models/gmm.js';

const spec2d: GmmSpec = {
  weights: [0.2, 0.5, 0.3],
  means: [
    [1, 2],
    [-3, 0.5],
    [0.2, -1.5],
  ],
  stds: [0.4, 1.1, 0.05],
};

/** Posterior mean by the definition, densities without log-sum-exp, all float64. */
function bruteForce(spec: GmmSpec, y: number[], sigma: number): number[] {
  const D = y.length;
  let z = 0;
  const num = new Array(D).fill(0);
  spec.weights.forEach((w, k) => {
    const v = spec.stds[k] ** 2 + sigma ** 2;
    let d2 = 0;
    for (let i = 0; i < D; i++) d2 += (y[i] - spec.means[k][i]) ** 2;
    const p = w * (2 * Math.PI * v) ** (-D / 2) * Math.exp(-d2 / (2 * v));
    z += p;
    for (let i = 0; i < D; i++) num[i] += (p * (spec.stds[k] ** 2 * y[i] + sigma ** 2 * spec.means[k][i])) / v;
  });
  return num.map((v) => v / z);
}

describe('gmm: validation', () => {
  const cases: [unknown, RegExp][] = [
    [{ weights: [0.5, 0.6], means: [[0], [1]], stds: [1, 1] }, /weights: expected weights summing to 1/],
    [{ weights: [1.5, -0.5], means: [[0], [1]], stds: [1, 1] }, /weights\.1: expected a number > 0/],
    [{ weights: [0.5, 0.5], means: [[0, 1], [1]], stds: [1, 1] }, /means\.1: expected length D = 2/],
    [{ weights: [0.5, 0.5], means: [[0], [1]], stds: [1, 0] }, /stds\.1: expected a number > 0/],
    [{ weights: [0.5, 0.5], means: [[0], [1]], stds: [1] }, /stds: expected K = 2 stds/],
    [{ weights: [], means: [], stds: [] }, /weights: expected at least one component/],
    [{ weights: [1], means: [['a']], stds: [1] }, /means\.0\.0: expected a finite number/],
    [{ weights: [1], means: [[0, 0]], stds: [1], shape: [3] }, /shape: expected a shape whose product is D = 2/],
    [[1, 2], /\(top level\)/],
  ];
  for (const [json, re] of cases) {
    it(`rejects ${JSON.stringify(json)}`, () => {
      expect(() => parseGmm(json, 'bad.json')).toThrow(/gmm\.ts: invalid mixture in 'bad\.json'/);
      expect(() => parseGmm(json, 'bad.json')).toThrow(re);
    });
  }
});

describe('gmm: exact denoiser', () => {
  const g = new GaussianMixture(spec2d);
  const points = [
    [0.3, -0.2],
    [1.1, 2.05],
    [-2.5, 0.9],
    [0.21, -1.49],
    [7, -4],
  ];

  it('matches the brute-force float64 posterior mean for sigma in [0.1, 30]', async () => {
    for (const sigma of [0.1, 0.5, 2, 30]) {
      const y = Float32Array.from(points.flat());
      const p = await g.predict(makeBatch([points.length, 2], y), { sigma, t: sigma, alpha: 1 });
      points.forEach((_, b) => {
        const want = bruteForce(spec2d, [y[2 * b], y[2 * b + 1]], sigma);
        for (let i = 0; i < 2; i++) {
          expect(p.x0[2 * b + i]).toBeCloseTo(want[i], 5);
          expect(p.eps[2 * b + i]).toBeCloseTo((y[2 * b + i] - want[i]) / sigma, 3);
        }
      });
    }
  });

  it('equals the single-Gaussian closed form mu + s^2 (y - mu) / (s^2 + sigma^2) for sigma 1e-3 .. 1e3', () => {
    const D = 64;
    const mu = Array.from({ length: D }, (_, i) => Math.sin(i));
    const s = 0.7;
    const one = new GaussianMixture({ weights: [1], means: [mu], stds: [s] });
    const y = Float32Array.from({ length: 2 * D }, (_, i) => 3 * Math.cos(1.3 * i));
    for (const sigma of [1e-3, 1e-2, 0.1, 1, 10, 100, 1e3]) {
      const p = one.posterior(y, sigma);
      for (let i = 0; i < 2 * D; i++) {
        const m = mu[i % D];
        const want = m + (s * s * (y[i] - m)) / (s * s + sigma * sigma);
        expect(Math.abs(p.x0[i] - want)).toBeLessThan(1e-6 * (1 + Math.abs(want)));
        const wantEps = (sigma * (y[i] - m)) / (s * s + sigma * sigma);
        expect(Math.abs(p.eps[i] - wantEps)).toBeLessThan(1e-6 * (1 + Math.abs(wantEps)));
      }
    }
  });

  it('stays finite and correct at extreme sigma and far-away points (log-sum-exp)', () => {
    const y = Float32Array.from([1e3, -1e3, 0.2, -1.5, 1, 2]);
    for (const sigma of [1e-3, 1e3]) {
      const p = g.posterior(y, sigma);
      expect(p.x0.every(Number.isFinite) && p.eps.every(Number.isFinite)).toBe(true);
      if (sigma === 1e-3) {
        // A point sitting on a mode is (almost) its own denoised value.
        expect(p.x0[2]).toBeCloseTo(0.2, 3);
        expect(p.x0[4]).toBeCloseTo(1, 3);
      } else {
        // At huge noise the posterior mean is the mixture mean.
        const mean0 = 0.2 * 1 + 0.5 * -3 + 0.3 * 0.2;
        expect(p.x0[2]).toBeCloseTo(mean0, 3);
      }
    }
  });

  it('returns D = y and eps = 0 at sigma 0', () => {
    const y = Float32Array.from([0.3, -0.2]);
    const p = g.posterior(y, 0);
    expect(Array.from(p.x0)).toEqual(Array.from(y));
    expect(Array.from(p.eps)).toEqual([0, 0]);
  });

  it('logDensity matches the definition, also for the noised mixture', () => {
    const x = points.flat();
    for (const sigma of [0, 0.3]) {
      const ld = g.logDensity(x, sigma);
      points.forEach((pt, b) => {
        let p = 0;
        spec2d.weights.forEach((w, k) => {
          const v = spec2d.stds[k] ** 2 + sigma ** 2;
          const d2 = (pt[0] - spec2d.means[k][0]) ** 2 + (pt[1] - spec2d.means[k][1]) ** 2;
          p += (w / (2 * Math.PI * v)) * Math.exp(-d2 / (2 * v));
        });
        expect(ld[b]).toBeCloseTo(Math.log(p), 8);
      });
    }
  });

  it('sampleExact is reproducible, independent of batch split, and has the right statistics', () => {
    const a = g.sampleExact(4000, 7);
    const b = g.sampleExact(10, 7, 3990);
    expect(Array.from(b.data)).toEqual(Array.from(a.data.subarray(3990 * 2)));
    expect(Array.from(b.labels)).toEqual(Array.from(a.labels.subarray(3990)));
    expect(a.shape).toEqual([4000, 2]);
    const freq = [0, 0, 0];
    for (const l of a.labels) freq[l]++;
    spec2d.weights.forEach((w, k) => expect(Math.abs(freq[k] / 4000 - w)).toBeLessThan(0.03));
    // Each sample lies near its labelled mode (within 5 std), and classify recovers the label.
    const cls = g.classify(a.data);
    let agree = 0;
    for (let j = 0; j < 4000; j++) {
      const k = a.labels[j];
      const d = Math.hypot(a.data[2 * j] - spec2d.means[k][0], a.data[2 * j + 1] - spec2d.means[k][1]);
      expect(d).toBeLessThan(5 * spec2d.stds[k] * Math.SQRT2);
      if (cls[j] === k) agree++;
    }
    expect(agree / 4000).toBeGreaterThan(0.97);
    expect(Array.from(g.sampleExact(5, 8).data)).not.toEqual(Array.from(a.data.subarray(0, 10)));
  });

  it('ships valid example mixtures', () => {
    const g2 = new GaussianMixture(parseGmm(JSON.parse(readFileSync('examples/gmm-2d.json', 'utf8')), 'gmm-2d.json'));
    expect([g2.K, g2.D]).toEqual([8, 2]);
    const g64 = new GaussianMixture(parseGmm(JSON.parse(readFileSync('examples/gmm-64d.json', 'utf8')), 'gmm-64d.json'));
    expect([g64.K, g64.D]).toEqual([10, 64]);
    expect(g64.sampleShape).toEqual([1, 8, 8]);
  });
});
