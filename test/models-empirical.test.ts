import { describe, expect, it } from 'vitest';
import { makeBatch } from '../src/core/batch.js';
import { normalBatch } from '../src/core/rng.js';
import { EMBEDDED_DATASETS, loadEmbeddedDataset } from '../src/models/data.js';
import { TsEmpiricalDenoiser } from '../src/models/empirical.js';
import { OnnxEmpiricalDenoiser, createEmpiricalDenoiser } from '../src/models/empirical-onnx.js';

const SIGMAS = [0.01, 0.5, 10, 80];

/** y = Y_n + sigma z for a few images n (plus one state between two images), seeded. */
function noisyStates(images: Float32Array, dim: number, picks: number[], sigma: number, seed: number): Float32Array {
  const z = normalBatch(seed, 0, picks.length + 1, dim, sigma);
  const y = new Float32Array((picks.length + 1) * dim);
  picks.forEach((n, b) => {
    for (let d = 0; d < dim; d++) y[b * dim + d] = images[n * dim + d] + z[b * dim + d];
  });
  const b = picks.length;
  for (let d = 0; d < dim; d++) y[b * dim + d] = 0.5 * (images[picks[0] * dim + d] + images[picks[1] * dim + d]) + z[b * dim + d];
  return y;
}

/** D(y, sigma) by the definition with direct distances, float64. */
function bruteForce(images: Float32Array, count: number, dim: number, y: Float32Array, sigma: number): Float64Array {
  const rows = y.length / dim;
  const out = new Float64Array(y.length);
  for (let r = 0; r < rows; r++) {
    const l = new Float64Array(count);
    for (let n = 0; n < count; n++) {
      let d2 = 0;
      for (let d = 0; d < dim; d++) d2 += (y[r * dim + d] - images[n * dim + d]) ** 2;
      l[n] = -d2 / (2 * sigma * sigma);
    }
    const m = Math.max(...l);
    let z = 0;
    for (let n = 0; n < count; n++) {
      const w = Math.exp(l[n] - m);
      z += w;
      for (let d = 0; d < dim; d++) out[r * dim + d] += w * images[n * dim + d];
    }
    for (let d = 0; d < dim; d++) out[r * dim + d] /= z;
  }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('embedded data sets', () => {
  it('load with their counts, shapes, pixel range and labels', () => {
    for (const info of EMBEDDED_DATASETS) {
      const ds = loadEmbeddedDataset(info.name);
      const dim = info.shape.reduce((a, b) => a * b, 1);
      expect(ds.images.length).toBe(info.count * dim);
      expect(ds.labels.length).toBe(info.count);
      let lo = Infinity, hi = -Infinity;
      for (const v of ds.images) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
      expect(lo).toBe(-1);
      expect(hi).toBe(1);
      for (const l of ds.labels) expect(l >= 0 && l < ds.classNames.length).toBe(true);
    }
    const digits = loadEmbeddedDataset('digits');
    expect(Array.from(digits.labels.subarray(0, 4))).toEqual([0, 1, 2, 3]);
    expect(digits.images[2]).toBe(5 / 8 - 1); // first row: 0,0,5,13,...
    const fashion = loadEmbeddedDataset('fashion');
    expect(fashion.classNames[9]).toBe('Ankle boot');
    const perClass = new Array(10).fill(0);
    for (const l of fashion.labels) perClass[l]++;
    expect(perClass).toEqual(new Array(10).fill(200));
    const emoji = loadEmbeddedDataset('emoji');
    expect(emoji.classNames).toContain('Smileys & Emotion');
    expect(emoji.classNames).toHaveLength(10);
    expect(emoji.classNames[emoji.labels[0]]).toBe('Smileys & Emotion');
  });

  it('takes the first N images and checks N and the name', () => {
    const sub = loadEmbeddedDataset('digits', 10);
    expect(sub.count).toBe(10);
    expect(sub.images.length).toBe(640);
    expect(() => loadEmbeddedDataset('mnist')).toThrow(/unknown data set 'mnist'; known: digits, fashion, emoji/);
    expect(() => loadEmbeddedDataset('digits', 0)).toThrow(/N = 0 is out of range for data set 'digits'; allowed 1\.\.1797/);
    expect(() => loadEmbeddedDataset('emoji', 5000)).toThrow(/allowed 1\.\.1897/);
  });
});

describe('empirical denoiser', () => {
  it('TS back-end matches the brute-force definition (float64) on a small set', () => {
    const ds = loadEmbeddedDataset('digits', 50);
    const ts = new TsEmpiricalDenoiser(ds.images, ds.shape);
    for (const sigma of [0.05, 0.5, 3, 80]) {
      const y = noisyStates(ds.images, 64, [3, 17, 42], sigma, 1);
      const p = ts.denoise(y, sigma);
      const want = bruteForce(ds.images, 50, 64, y, sigma);
      expect(maxAbsDiff(p.x0, want)).toBeLessThan(1e-6);
      for (let i = 0; i < y.length; i++) expect(p.eps[i]).toBeCloseTo((y[i] - want[i]) / sigma, 3);
    }
  });

  it('ONNX and TS back-ends agree within 1e-4 on digits (all 1797)', async () => {
    const ds = loadEmbeddedDataset('digits');
    const ts = new TsEmpiricalDenoiser(ds.images, ds.shape);
    const ox = await OnnxEmpiricalDenoiser.create(ds.images, ds.shape, { threads: 2 });
    for (const sigma of SIGMAS) {
      const y = noisyStates(ds.images, 64, [0, 5, 100, 1000, 1796], sigma, 2);
      const a = ts.denoise(y, sigma);
      const b = await ox.denoise(y, sigma);
      expect(maxAbsDiff(a.x0, b.x0)).toBeLessThan(1e-4);
      expect(maxAbsDiff(a.eps, b.eps) * sigma).toBeLessThan(1e-4);
    }
    await ox.dispose();
    await expect(ox.denoise(new Float32Array(64), 1)).rejects.toThrow(/after dispose/);
  });

  it('ONNX and TS back-ends agree within 1e-4 on 300 emoji', async () => {
    const ds = loadEmbeddedDataset('emoji', 300);
    const ts = new TsEmpiricalDenoiser(ds.images, ds.shape);
    const ox = await createEmpiricalDenoiser(ds.images, ds.shape, { threads: 2 });
    for (const sigma of SIGMAS) {
      const y = noisyStates(ds.images, 3072, [0, 150, 299], sigma, 3);
      const batch = makeBatch([4, 3, 32, 32], y);
      const a = await ts.predict(batch, { sigma, t: sigma, alpha: 1 });
      const b = await ox.predict(batch, { sigma, t: sigma, alpha: 1 });
      expect(maxAbsDiff(a.x0, b.x0)).toBeLessThan(1e-4);
    }
    await ox.dispose!();
  });

  it('small sigma gives the nearest image, huge sigma the mean image; sigma 0 returns y', async () => {
    const ds = loadEmbeddedDataset('digits');
    const ox = await OnnxEmpiricalDenoiser.create(ds.images, ds.shape, { threads: 1 });
    const y = noisyStates(ds.images, 64, [7, 8], 0.01, 4).subarray(0, 128);
    const near = await ox.denoise(y, 0.01);
    expect(maxAbsDiff(near.x0, ds.images.subarray(7 * 64, 9 * 64))).toBeLessThan(1e-5);
    const far = await ox.denoise(y, 1e4);
    const mean = new Float64Array(64);
    for (let n = 0; n < ds.count; n++) for (let d = 0; d < 64; d++) mean[d] += ds.images[n * 64 + d] / ds.count;
    expect(maxAbsDiff(far.x0.subarray(0, 64), mean)).toBeLessThan(1e-4);
    const zero = await ox.denoise(y, 0);
    expect(Array.from(zero.x0)).toEqual(Array.from(y));
    expect(zero.eps.every((v) => v === 0)).toBe(true);
    await ox.dispose();
  });

  it('rejects bad inputs with the file and what was expected', async () => {
    expect(() => new TsEmpiricalDenoiser(new Float32Array(10), [1, 2, 2])).toThrow(/empirical.ts: images has 10 values, expected a positive multiple of the sample size 4/);
    await expect(createEmpiricalDenoiser(new Float32Array(8), [4], { backend: 'gpu' as 'ts' })).rejects.toThrow(/backend 'gpu' is unknown/);
    const ts = new TsEmpiricalDenoiser(new Float32Array(8), [4]);
    expect(() => ts.denoise(new Float32Array(6), 1)).toThrow(/not a multiple of the sample size 4/);
  });
});
