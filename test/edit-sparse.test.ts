// Spatially sparse SDEdit (src/edit/sparse.ts, sdedit.ts): for the local empirical denoiser the sparse result is the
// dense edited run bit for bit, for deterministic and stochastic solvers; global models fall back to dense and say
// so; the cache is reusable; the SIGE-style fixed mask is cheaper and not exact; a solver that mixes pixels is caught.
import { describe, expect, it } from 'vitest';
import { linComb } from '../src/core/batch.js';
import { normalBatch, sampleNormals } from '../src/core/rng.js';
import { cacheOriginal, sparseEdit, type EditOptions } from '../src/edit/sparse.js';
import { runSdedit, sdeditGrid, sdeditStart } from '../src/edit/sdedit.js';
import { makeGrid } from '../src/grids/index.js';
import { loadEmbeddedDataset } from '../src/models/data.js';
import { TsEmpiricalDenoiser } from '../src/models/empirical.js';
import { LocalEmpiricalDenoiser } from '../src/models/patch-denoiser.js';
import { makeSchedule } from '../src/schedules/index.js';
import { getSolver } from '../src/solvers/index.js';
import type { Solver } from '../src/solvers/solver.js';

const C = 3, H = 16, W = 16, N = 30, D = C * H * W, P = H * W;
const images = normalBatch(21, 0, N, D, 0.5);
const schedule = makeSchedule('edm');
const grid = makeGrid(schedule, { kind: 'karras', steps: 12 });
const original = images.slice(3 * D, 4 * D);

/** The original with a small square (side `s` at row i, column j) painted in every channel. */
function paint(i: number, j: number, s: number, value = 0.8): Float32Array {
  const e = original.slice();
  for (let c = 0; c < C; c++) for (let a = i; a < i + s; a++) for (let b = j; b < j + s; b++) e[c * P + a * W + b] = value;
  return e;
}

function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((v, q) => Object.is(v, b[q]));
}

describe('sparse SDEdit equals the dense edited run', () => {
  const cases: [string, Record<string, unknown>, number, number, boolean][] = [
    ['ddim', {}, 1, 4, false],
    ['euler', {}, 1, 1, false],
    ['heun', {}, 2, 4, false],
    ['dpm-solver++2m', {}, 1, 3, false],
    ['ddim', { eta: 1 }, 1, 4, false],
    ['ddim', {}, 1, 4, true],
    ['heun', {}, 2, 1, true],
    ['ddim', { eta: 1 }, 1, 2, true],
  ];
  for (const [solverName, solverOptions, radius, tile, adaptive] of cases) {
    const what = `${solverName} ${JSON.stringify(solverOptions)}, radius ${radius}, ${tile}x${tile} tiles${adaptive ? ', adaptive' : ''}`;
    it(`${what}: bit for bit, with fewer multiply-adds`, async () => {
      const model = new LocalEmpiricalDenoiser(images, [C, H, W], { radius, tile });
      const o: EditOptions = {
        model, solver: getSolver(solverName), solverOptions, grid, schedule, strength: 0.5, seed: 5,
        original, edited: paint(2, 3, 2), compareDense: true, adaptive,
      };
      const r = await sparseEdit(o);
      expect(r.adaptive).toBe(adaptive);
      if (adaptive) {
        // A subset of the cone at every call: never more work than the static plan.
        const fixed = await sparseEdit({ ...o, adaptive: false, compareDense: false, cache: r.cache });
        r.calls!.forEach((c, k) => expect(c.ops).toBeLessThanOrEqual(fixed.calls![k].ops));
        r.calls!.forEach((c) => expect(c.changedPixels).toBeLessThanOrEqual(c.conePixels));
      }
      expect(r.mode).toBe('sparse');
      expect(r.exact).toBe(true);
      expect(r.dense!.identical).toBe(true);
      expect(r.dense!.maxAbsDiff).toBe(0);
      expect(bitsEqual(r.result, r.dense!.result)).toBe(true);
      expect(r.steps).toBe(6);
      expect(r.editedPixels).toBe(4);
      const calls = r.calls!;
      expect(calls.length).toBe(r.nfe);
      // The dense count is the model's own, per call; the sparse count is what the recomputed tiles cost.
      expect(r.ops!.dense).toBe(r.nfe * model.denseOps());
      expect(r.ops!.sparse).toBe(calls.reduce((s, c) => s + c.ops, 0));
      expect(r.ops!.sparse).toBeLessThan(r.ops!.dense);
      expect(r.ops!.saving).toBeCloseTo(r.ops!.dense / r.ops!.sparse, 12);
      // The recomputed region grows by the receptive radius at every call.
      for (let k = 1; k < calls.length; k++) expect(calls[k].conePixels).toBeGreaterThanOrEqual(calls[k - 1].conePixels);
      expect(calls[0].conePixels).toBe((2 + 2 * radius) * (2 + 2 * radius));
    });
  }

  it('on a real image set (fashion, 28 x 28): bit for bit', async () => {
    const ds = loadEmbeddedDataset('fashion', 150);
    const model = new LocalEmpiricalDenoiser(ds.images, ds.shape, { radius: 1, tile: 4 });
    const d = 28 * 28;
    const img = ds.images.slice(7 * d, 8 * d);
    const ed = img.slice();
    for (let a = 20; a < 23; a++) for (let b = 4; b < 7; b++) ed[a * 28 + b] = 1;
    const g = makeGrid(schedule, { kind: 'karras', steps: 10 });
    const r = await sparseEdit({ model, solver: getSolver('ddim'), grid: g, schedule, strength: 0.4, original: img, edited: ed, compareDense: true });
    expect(r.dense!.identical).toBe(true);
    expect(r.ops!.saving!).toBeGreaterThan(3);
  });
});

describe('edit set-up', () => {
  const model = new LocalEmpiricalDenoiser(images, [C, H, W], { radius: 1, tile: 4 });
  const base: Omit<EditOptions, 'edited'> = { model, solver: getSolver('ddim'), grid, schedule, strength: 0.5, original };

  it('global models fall back to dense and say so', async () => {
    const global = new TsEmpiricalDenoiser(images, [C, H, W], { name: 'empirical-test' });
    const edited = paint(4, 4, 3);
    const r = await sparseEdit({ ...base, model: global, edited });
    expect(r.mode).toBe('dense');
    expect(r.fallback).toMatch(/^empirical-test has no finite receptive field .* the edited image ran densely/);
    expect(r.ops).toBeUndefined();
    const dense = await runSdedit({ model: global, solver: getSolver('ddim'), grid: sdeditGrid(grid, 0.5), schedule, image: edited });
    expect(bitsEqual(r.result, dense.samples.data)).toBe(true);
  });

  it('a cached original serves further edits, and must match their set-up', async () => {
    const cache = await cacheOriginal(base, original);
    expect(cache.records.length).toBe(6);
    expect(cache.ops).toBe(6 * model.denseOps());
    const e1 = paint(10, 12, 2);
    const withCache = await sparseEdit({ ...base, edited: e1, cache });
    const without = await sparseEdit({ ...base, edited: e1 });
    expect(bitsEqual(withCache.result, without.result)).toBe(true);
    expect(withCache.seconds.original).toBe(cache.seconds);
    await expect(sparseEdit({ ...base, edited: e1, cache, seed: 1 })).rejects.toThrow(/cache was made with another model, solver, grid, strength, seed or original image/);
    await expect(sparseEdit({ ...base, strength: 0.75, edited: e1, cache })).rejects.toThrow(/cache was made/);
  });

  it('an unchanged image costs nothing and gives the original run', async () => {
    const r = await sparseEdit({ ...base, edited: original.slice() });
    expect(r.editedPixels).toBe(0);
    expect(r.ops!.sparse).toBe(0);
    expect(r.ops!.saving).toBeNull();
    expect(bitsEqual(r.result, r.originalResult!)).toBe(true);
  });

  it('changes below the threshold do not count: the edited image keeps the original there', async () => {
    const e = paint(5, 5, 2);
    e[7] += 0.004; // a faint change far from the square
    const r = await sparseEdit({ ...base, edited: e, threshold: 0.01, compareDense: true });
    expect(r.editedPixels).toBe(4);
    expect(r.dense!.identical).toBe(true);
    const exact = await sparseEdit({ ...base, edited: paint(5, 5, 2) });
    expect(bitsEqual(r.result, exact.result)).toBe(true);
  });

  it("SIGE's fixed mask: fewer operations, not exact, the original's values outside its tiles", async () => {
    const edited = paint(6, 6, 2);
    const exact = await sparseEdit({ ...base, edited });
    const fixed = await sparseEdit({ ...base, edited, dilation: 1, compareDense: true });
    expect(fixed.exact).toBe(false);
    expect(fixed.dilation).toBe(1);
    expect(fixed.ops!.sparse).toBeLessThan(exact.ops!.sparse);
    // Every call recomputes the same tiles: rows/columns 5..8 touch tiles (1..2) x (1..2).
    expect(fixed.calls!.every((c) => c.recomputedTiles === 4)).toBe(true);
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < W; j++) {
          const q = c * P + i * W + j;
          if (i < 4 || i >= 12 || j < 4 || j >= 12) expect(Object.is(fixed.result[q], fixed.originalResult![q])).toBe(true);
        }
      }
    }
    await expect(sparseEdit({ ...base, edited, dilation: -1 })).rejects.toThrow(/dilation is -1/);
    await expect(sparseEdit({ ...base, edited, dilation: 1, adaptive: true })).rejects.toThrow(/adaptive follows the exact cone/);
  });

  it('a solver that mixes pixels is caught, not silently wrong', async () => {
    // Euler plus the image mean of the prediction: every pixel depends on every other.
    const mixing: Solver<null> = {
      ...getSolver('euler'),
      async step(ctx, i, y, state) {
        const p = await ctx.predict(y, ctx.grid[i]);
        const r = ctx.grid[i + 1].sigma / ctx.grid[i].sigma;
        const mean = p.x0.reduce((s, v) => s + v, 0) / p.x0.length;
        const data = linComb([r, 1 - r], [y.data, p.x0]).map((v) => v + 0.01 * mean);
        return { y: { data, shape: y.shape }, state };
      },
    } as Solver<null>;
    await expect(sparseEdit({ ...base, solver: mixing, edited: paint(1, 1, 1) })).rejects.toThrow(
      /at model call 1 the edited state differs from the original's at pixel \d+, outside the dependency cone; the solver is not pixel-wise/,
    );
  });

  it('rejects images of the wrong size', async () => {
    await expect(sparseEdit({ ...base, edited: original.subarray(1) })).rejects.toThrow(/the images have 768 and 767 values; the model's sample shape \[3,16,16\] needs 768/);
  });
});

describe('SDEdit pieces', () => {
  it('the run takes the last floor(N * strength) steps of the grid (diffusers img2img)', () => {
    expect(sdeditGrid(grid, 0.5).map((p) => p.sigma)).toEqual(grid.slice(6).map((p) => p.sigma));
    expect(sdeditGrid(grid, 1)).toHaveLength(13);
    expect(sdeditGrid(grid, 0.25)).toHaveLength(4); // 12 * 0.25 = 3 steps
    expect(sdeditGrid(grid, 0.99)).toHaveLength(12); // floor(11.88) = 11 steps
    expect(() => sdeditGrid(grid, 0.05)).toThrow(/strength 0.05 of 12 steps leaves 0 steps; expected at least 1/);
    expect(() => sdeditGrid(grid, 0)).toThrow(/strength is 0; expected a number in \(0, 1\]/);
    expect(() => sdeditGrid(grid, 1.5)).toThrow(/expected a number in \(0, 1\]/);
  });

  it('the start is x + sigma z with the seed\'s initial noise, shared by both images', () => {
    const z = sampleNormals(9, 0, D, 0);
    const a = sdeditStart(original, 2.5, 9);
    for (const q of [0, 100, 767]) expect(a[q]).toBe(Math.fround(original[q] + 2.5 * z[q]));
    const e = paint(0, 0, 1);
    const b = sdeditStart(e, 2.5, 9);
    const differs = Array.from(a).flatMap((v, q) => (v !== b[q] ? [q] : []));
    expect(differs).toEqual([0, P, 2 * P].filter((q) => original[q] !== e[q]));
  });
});
