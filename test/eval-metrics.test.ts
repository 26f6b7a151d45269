// Metrics on cases with known answers.
import { describe, expect, it } from 'vitest';
import { normalBatch, sampleNormals } from '../src/core/rng.js';
import { imageLayoutOf, rp64Features, RP64_DIM } from '../src/eval/features.js';
import { covariance, symmetricEigen, traceSqrtProduct } from '../src/eval/linalg.js';
import {
  featureSet,
  frechetDistance,
  frechetDistanceSets,
  gmmLogLikelihood,
  imageDistances,
  kernelDistance,
  median,
  medianError,
  modeAccuracy,
  modeTotalVariation,
  nearestImage,
  perSampleRms,
  psnr,
  rmse,
  slicedW2,
  w2Squared1d,
  type FeatureSet,
} from '../src/eval/metrics.js';
import { GaussianMixture } from '../src/models/gmm.js';

describe('errors against the reference', () => {
  const a = Float32Array.of(0, 0, 1, 1, 3, 3);
  const b = new Float64Array(6);
  it('rmse, per-sample RMS, median_error by hand', () => {
    expect(rmse(a, b)).toBeCloseTo(Math.sqrt(20 / 6), 14);
    expect([...perSampleRms(a, b, 2)]).toEqual([0, 1, 3]);
    expect(medianError(a, b, 2)).toBe(1);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
  it('PSNR of known errors (peak-to-peak 2 for images in [-1, 1])', () => {
    expect(psnr(0.02)).toBeCloseTo(40, 12);
    expect(psnr(2)).toBeCloseTo(0, 12);
    expect(psnr(0.1, 1)).toBeCloseTo(20, 12);
    expect(psnr(0)).toBe(Infinity);
  });
  it('names bad input', () => {
    expect(() => rmse(a, new Float64Array(4))).toThrow(/metrics\.ts: rmse: the sets have 6 and 4 values/);
    expect(() => perSampleRms(a, b, 4)).toThrow(/6 values are not a positive whole number of samples of 4/);
  });
});

describe('sliced Wasserstein-2', () => {
  it('1-D W2 between N(0,1) and N(1,1) samples is 1 (same draws shifted; and independent draws)', () => {
    const z = Float64Array.from(normalBatch(1, 0, 4000, 1, 1));
    const shifted = z.map((v) => v + 1);
    expect(slicedW2(z, shifted, 1, { projections: 4 })).toBeCloseTo(1, 12);
    const other = Float64Array.from(normalBatch(2, 0, 4000, 1, 1)).map((v) => v + 1);
    expect(Math.abs(slicedW2(z, other, 1, { projections: 4 }) - 1)).toBeLessThan(0.05);
  });
  it('unequal sizes use the quantile coupling: W2^2([0, 1], [0, 0.5, 1]) = 1/12', () => {
    expect(w2Squared1d(Float64Array.of(0, 1), Float64Array.of(0, 0.5, 1))).toBeCloseTo(1 / 12, 14);
    expect(w2Squared1d(Float64Array.of(0, 1), Float64Array.of(0, 1))).toBe(0);
  });
  it('in D dimensions a shift c gives sqrt(mean (theta.c)^2) ~ |c| / sqrt(D); seeded and deterministic', () => {
    const D = 8, n = 200;
    const x = Float64Array.from(normalBatch(3, 0, n, D, 1));
    const c = [3, 0, 0, 0, 0, 0, 0, 0];
    const y = x.map((v, i) => v + c[i % D]);
    const sw = slicedW2(x, y, D, { projections: 2000 });
    expect(Math.abs(sw - 3 / Math.sqrt(D))).toBeLessThan(0.05);
    expect(slicedW2(x, y, D, { projections: 16, seed: 5 })).toBe(slicedW2(x, y, D, { projections: 16, seed: 5 }));
    expect(slicedW2(x, x, D)).toBe(0);
  });
});

describe('GMM metrics', () => {
  const g = new GaussianMixture({ weights: [0.5, 0.5], means: [[-3, 0], [3, 0]], stds: [0.5, 0.5] });
  it('log-likelihood of a point at a mode (two far modes): log(0.5 N(0; 0, 0.25 I))', () => {
    const ll = gmmLogLikelihood(g, Float32Array.of(-3, 0, 3, 0));
    expect(ll).toBeCloseTo(Math.log(0.5) - Math.log(2 * Math.PI * 0.25), 10);
  });
  it('mode accuracy against the reference endpoints, and mode TV against the weights', () => {
    const samples = Float32Array.of(-3, 0, 3, 0, -2.9, 0.1, 0.1, 0);
    const ref = Float32Array.of(-3, 0, 3, 0, 3, 0, 0.2, 0);
    expect(modeAccuracy(g, samples, ref)).toBe(0.75);
    expect(modeTotalVariation(g, Float32Array.of(-3, 0, -3, 0))).toBeCloseTo(0.5, 14);
    expect(modeTotalVariation(g, Float32Array.of(-3, 0, 3, 0))).toBeCloseTo(0, 14);
  });
});

describe('linear algebra', () => {
  it('Jacobi: A = V diag V^T with V orthonormal', () => {
    const d = 20;
    const x = Float64Array.from(normalBatch(4, 0, 40, d, 1));
    const a = covariance(x, 40, d);
    const { values, vectors: v } = symmetricEigen(a, d);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let rec = 0, orth = 0;
        for (let k = 0; k < d; k++) {
          rec += v[i * d + k] * values[k] * v[j * d + k];
          orth += v[k * d + i] * v[k * d + j];
        }
        expect(Math.abs(rec - a[i * d + j])).toBeLessThan(1e-12);
        expect(Math.abs(orth - (i === j ? 1 : 0))).toBeLessThan(1e-12);
      }
    }
  });
  it('tr sqrt(S1 S2) for non-commuting 2 x 2 matrices: sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2))', () => {
    const s1 = [2, 0.7, 0.7, 1], s2 = [0.5, -0.3, -0.3, 3];
    const tr12 = s1[0] * s2[0] + s1[1] * s2[2] + s1[2] * s2[1] + s1[3] * s2[3];
    const det = (m: number[]): number => m[0] * m[3] - m[1] * m[2];
    expect(traceSqrtProduct(s1, s2, 2)).toBeCloseTo(Math.sqrt(tr12 + 2 * Math.sqrt(det(s1) * det(s2))), 12);
  });
});

function manualSet(mean: number[], cov: number[]): FeatureSet {
  return { features: new Float64Array(0), n: 0, d: mean.length, mean: Float64Array.from(mean), cov: Float64Array.from(cov), selfKernel: 0 };
}

describe('Frechet and kernel distances', () => {
  const d = 16, n = 400;
  const x = Float64Array.from(normalBatch(5, 0, n, d, 1));
  it('FD between identical sets is 0; between a set and its shift by c it is |c|^2', () => {
    expect(Math.abs(frechetDistance(x, x, d))).toBeLessThan(1e-9);
    const c = Array.from({ length: d }, (_, i) => (i % 3) - 1);
    const shifted = x.map((v, i) => v + c[i % d]);
    const c2 = c.reduce((s, v) => s + v * v, 0);
    expect(frechetDistance(x, shifted, d)).toBeCloseTo(c2, 8);
  });
  it('FD of diagonal Gaussians: |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2', () => {
    const fd = frechetDistanceSets(manualSet([0, 1, 0], [1, 0, 0, 0, 4, 0, 0, 0, 9]), manualSet([1, 1, 2], [4, 0, 0, 0, 1, 0, 0, 0, 9]));
    expect(fd).toBeCloseTo(1 + 4 + 1 + 1 + 0, 12);
  });
  it('KID: the unbiased MMD^2 by hand on a tiny 1-D case, ~0 for two draws of one distribution', () => {
    // k(x, y) = (x y + 1)^3: Kxx = k(0,1) = 1, Kyy = k(2,3) = 343, Kxy = 1 + 1 + 27 + 64 = 93.
    expect(kernelDistance([0, 1], [2, 3], 1)).toBeCloseTo(1 + 343 - 46.5, 12);
    const y = Float64Array.from(normalBatch(6, 0, n, d, 1));
    const same = kernelDistance(x, y, d);
    const shifted = kernelDistance(x, y.map((v) => v + 0.5), d);
    expect(Math.abs(same)).toBeLessThan(0.02 * shifted);
    expect(shifted).toBeGreaterThan(0);
  });
  it('featureSet needs two rows', () => {
    expect(() => featureSet([1, 2], 2)).toThrow(/FD and KID need at least 2 samples, got 1/);
  });
});

describe('image metrics', () => {
  it('nearest training image: RMS distance of samples placed off known images', () => {
    const dim = 4;
    const images = Float32Array.of(0, 0, 0, 0, 1, 1, 1, 1, -1, 0, 1, 0);
    const samples = Float32Array.of(1, 1, 1, 1.2, -1, 0, 1, 0, 0.1, -0.1, 0.1, -0.1);
    const r = nearestImage(samples, images, dim);
    expect([...r.index]).toEqual([1, 2, 0]);
    expect(r.distances[0]).toBeCloseTo(0.1, 6);
    expect(r.distances[1]).toBe(0);
    expect(r.distances[2]).toBeCloseTo(0.1, 6);
    expect(r.median).toBeCloseTo(0.1, 6);
    expect(r.mean).toBeCloseTo(0.2 / 3, 6);
  });

  it('RP64 features: fixed (seeded), 64 per image, gradient part 0 on a flat image, image shapes only', () => {
    const imgs = normalBatch(7, 0, 3, 64, 0.5);
    const f1 = rp64Features(imgs, [1, 8, 8]);
    expect(f1.length).toBe(3 * RP64_DIM);
    expect([...rp64Features(imgs, [1, 8, 8])]).toEqual([...f1]);
    // A constant image c: pooled pixels all c, gradients 0, so features = c * (row sums of the first 16 columns of W).
    const flat1 = rp64Features(new Float32Array(64).fill(1), [8, 8]);
    const flat2 = rp64Features(new Float32Array(64).fill(-0.5), [8, 8]);
    for (let k = 0; k < RP64_DIM; k++) expect(flat2[k]).toBeCloseTo(-0.5 * flat1[k], 12);
    expect(imageLayoutOf([3, 32, 32])).toEqual({ channels: 3, height: 32, width: 32 });
    expect(() => rp64Features(imgs, [64])).toThrow(/RP64 features need image samples \[C, H, W\] or \[H, W\] with H, W >= 4, got \[64\]/);
  });

  it('FD-RP64 and KID-RP64: 0-ish for the same images, larger for blurred ones', () => {
    const n = 300;
    const imgs = new Float32Array(n * 64);
    // Random blobs: a bright 3x3 square at a random place in an 8x8 image.
    for (let s = 0; s < n; s++) {
      const u = sampleNormals(8, s, 2);
      const r = Math.min(5, Math.max(0, Math.floor(2.5 + 1.5 * u[0]))), c = Math.min(5, Math.max(0, Math.floor(2.5 + 1.5 * u[1])));
      for (let i = 0; i < 64; i++) imgs[s * 64 + i] = -1;
      for (let i = r; i < r + 3; i++) for (let j = c; j < c + 3; j++) imgs[s * 64 + i * 8 + j] = 1;
    }
    const same = imageDistances(imgs, imgs, [1, 8, 8]);
    // Rank-deficient covariances (36 distinct images; 32 raw features in 64-D): the square roots of ~1e-16
    // eigenvalues leave a ~1e-6 floor.
    expect(Math.abs(same.fd_rp64)).toBeLessThan(1e-5);
    const blurred = imgs.map((v) => 0.5 * v - 0.25);
    const far = imageDistances(blurred, imgs, [1, 8, 8]);
    expect(far.fd_rp64).toBeGreaterThan(0.1);
    expect(far.kid_rp64).toBeGreaterThan(Math.abs(same.kid_rp64) * 10);
  });
});
