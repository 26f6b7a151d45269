// The local empirical denoiser (src/models/patch-denoiser.ts): the exact windowed posterior mean against a
// brute-force float64 oracle, its finite receptive field, tile-wise evaluation equal bit for bit to the dense call,
// and exact multiply-add counts.
import { describe, expect, it } from 'vitest';
import { normalBatch } from '../src/core/rng.js';
import { LocalEmpiricalDenoiser, isLocalDenoiser, makeTiling, tileBounds } from '../src/models/patch-denoiser.js';
import { TsEmpiricalDenoiser } from '../src/models/empirical.js';

const C = 2, H = 7, W = 9, N = 13;
const D = C * H * W;
const images = normalBatch(7, 0, N, D, 0.6);
const at = (sigma: number) => ({ sigma, t: sigma, alpha: 1 });

/** E[x_p | y_W(p)] written out: candidates = the training images' windows at p shifted by (di, dj), |di|,|dj| <= S. */
function oracle(y: Float32Array, sigma: number, r: number, S: number, i: number, j: number): number[] {
  const a0 = Math.max(0, i - r), a1 = Math.min(H - 1, i + r), b0 = Math.max(0, j - r), b1 = Math.min(W - 1, j + r);
  const logits: number[] = [];
  const centres: number[][] = [];
  for (let n = 0; n < N; n++) {
    for (let di = -S; di <= S; di++) {
      for (let dj = -S; dj <= S; dj++) {
        if (a0 + di < 0 || a1 + di >= H || b0 + dj < 0 || b1 + dj >= W) continue;
        let d2 = 0;
        for (let c = 0; c < C; c++) {
          for (let a = a0; a <= a1; a++) {
            for (let b = b0; b <= b1; b++) d2 += (y[c * H * W + a * W + b] - images[n * D + c * H * W + (a + di) * W + b + dj]) ** 2;
          }
        }
        logits.push(-d2 / (2 * sigma * sigma));
        centres.push(Array.from({ length: C }, (_, c) => images[n * D + c * H * W + (i + di) * W + j + dj]));
      }
    }
  }
  const m = Math.max(...logits);
  const w = logits.map((l) => Math.exp(l - m));
  const z = w.reduce((s, v) => s + v, 0);
  return Array.from({ length: C }, (_, c) => centres.reduce((s, ce, k) => s + (w[k] / z) * ce[c], 0));
}

describe('local empirical denoiser', () => {
  const y = normalBatch(8, 0, 1, D, 1);

  for (const [r, S] of [[1, 0], [2, 0], [1, 1]] as const) {
    it(`is the exact windowed posterior mean (radius ${r}, shift ${S}), borders included`, async () => {
      const m = new LocalEmpiricalDenoiser(images, [C, H, W], { radius: r, shift: S, tile: 3 });
      for (const sigma of [0.3, 1.5]) {
        const p = await m.predict({ data: y, shape: [1, C, H, W] }, at(sigma));
        for (const [i, j] of [[0, 0], [3, 4], [6, 8], [0, 5], [2, 8]]) {
          const want = oracle(y, sigma, r, S, i, j);
          for (let c = 0; c < C; c++) expect(p.x0[c * H * W + i * W + j]).toBeCloseTo(want[c], 5);
        }
      }
    });
  }

  it('with a radius covering the image and no shift, is the exact empirical denoiser', async () => {
    const m = new LocalEmpiricalDenoiser(images, [C, H, W], { radius: Math.max(H, W) });
    const e = new TsEmpiricalDenoiser(images, [C, H, W]);
    const a = await m.predict({ data: y, shape: [1, C, H, W] }, at(0.8));
    const b = await e.predict({ data: y, shape: [1, C, H, W] }, at(0.8));
    for (let q = 0; q < D; q++) expect(a.x0[q]).toBeCloseTo(b.x0[q], 5);
  });

  it('has a finite receptive field: a change moves exactly the outputs within the radius', async () => {
    const r = 2;
    const m = new LocalEmpiricalDenoiser(images, [C, H, W], { radius: r });
    const y2 = y.slice();
    const [pi, pj] = [3, 2];
    y2[1 * H * W + pi * W + pj] += 0.7;
    const a = (await m.predict({ data: y, shape: [1, C, H, W] }, at(1))).x0;
    const b = (await m.predict({ data: y2, shape: [1, C, H, W] }, at(1))).x0;
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        const inside = Math.max(Math.abs(i - pi), Math.abs(j - pj)) <= r;
        const changed = [0, 1].some((c) => a[c * H * W + i * W + j] !== b[c * H * W + i * W + j]);
        expect(changed).toBe(inside);
      }
    }
  });

  it('predictRegion computes the listed tiles only, bit for bit as the dense call, for a batch', async () => {
    const m = new LocalEmpiricalDenoiser(images, [C, H, W], { radius: 1, tile: 4 });
    expect(m.tiling).toMatchObject({ rows: 2, cols: 3, count: 6 });
    const batch = normalBatch(9, 0, 2, D, 1);
    const dense = (await m.predict({ data: batch, shape: [2, C, H, W] }, at(0.5))).x0;
    const out = new Float32Array(batch.length).fill(NaN);
    const tiles = [1, 5];
    m.predictRegion(batch, 0.5, tiles, out);
    const inTile = (i: number, j: number) => tiles.some((t) => {
      const b = tileBounds(m.tiling, t);
      return i >= b.y0 && i < b.y1 && j >= b.x0 && j < b.x1;
    });
    for (let s = 0; s < 2; s++) {
      for (let c = 0; c < C; c++) {
        for (let i = 0; i < H; i++) {
          for (let j = 0; j < W; j++) {
            const q = s * D + c * H * W + i * W + j;
            if (inTile(i, j)) expect(Object.is(out[q], dense[q])).toBe(true);
            else expect(out[q]).toBeNaN();
          }
        }
      }
    }
  });

  it('counts multiply-adds exactly: executed = planned = the closed form', () => {
    const r = 1;
    const m = new LocalEmpiricalDenoiser(images, [C, H, W], { radius: r, tile: 2 });
    // Closed form: each pixel compares N windows of (rows x cols x C) values and averages C centre values.
    let want = 0;
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        const rows = Math.min(H - 1, i + r) - Math.max(0, i - r) + 1;
        const cols = Math.min(W - 1, j + r) - Math.max(0, j - r) + 1;
        want += N * (rows * cols * C + C);
      }
    }
    expect(m.denseOps()).toBe(want);
    // 35 interior pixels read 3 x 3 windows, 24 edge pixels 2 x 3, 4 corners 2 x 2 (each + C centre values).
    expect(want).toBe(N * (35 * 10 * C + 24 * 7 * C + 4 * 5 * C));
    const all = Array.from({ length: m.tiling.count }, (_, k) => k);
    const out = new Float32Array(2 * D);
    expect(m.predictRegion(normalBatch(1, 0, 2, D), 0.7, all, out)).toBe(2 * want);
    const some = [0, 3, 7];
    expect(m.predictRegion(y, 0.7, some, new Float32Array(D))).toBe(m.regionOps(some));
    expect(m.regionOps(all)).toBe(want);
    expect(m.regionOps(some, 0)).toBe(0);
    expect(m.predictRegion(y, 0, some, new Float32Array(D))).toBe(0);
  });

  it('at sigma = 0 returns y (eps 0)', async () => {
    const m = new LocalEmpiricalDenoiser(images, [C, H, W]);
    const p = await m.predict({ data: y, shape: [1, C, H, W] }, at(0));
    expect(Array.from(p.x0)).toEqual(Array.from(y));
    expect(p.eps.every((v) => v === 0)).toBe(true);
  });

  it('is recognised as local; other denoisers are not', () => {
    expect(isLocalDenoiser(new LocalEmpiricalDenoiser(images, [C, H, W]))).toBe(true);
    expect(isLocalDenoiser(new TsEmpiricalDenoiser(images, [C, H, W]))).toBe(false);
  });

  it('rejects bad options and shapes, naming them', () => {
    expect(() => new LocalEmpiricalDenoiser(images, [C, H, W], { radius: -1 })).toThrow(/radius is -1; expected an integer >= 0/);
    expect(() => new LocalEmpiricalDenoiser(images, [C, H, W], { tile: 0 })).toThrow(/tile is 0/);
    expect(() => new LocalEmpiricalDenoiser(images, [D])).toThrow(/sampleShape must be \[C, H, W\]/);
    expect(() => new LocalEmpiricalDenoiser(images.subarray(0, D + 1), [C, H, W])).toThrow(/multiple of the sample size/);
    expect(() => makeTiling(4, 4, 0)).toThrow(/tile size is 0/);
    expect(() => tileBounds(makeTiling(4, 4, 2), 4)).toThrow(/tile 4 is out of range 0..3/);
  });
});
