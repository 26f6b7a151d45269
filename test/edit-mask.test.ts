// Difference masks, their dilation and the exact dependency cone (src/edit/mask.ts), checked against brute force and
// against what two dense runs actually do: a single changed pixel's influence stays inside its cone.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { normalBatch } from '../src/core/rng.js';
import { dependencyCone, differenceMask, dilateMask, maskCount, tilePixels, tilesTouching } from '../src/edit/mask.js';
import { RecordingDenoiser } from '../src/edit/sparse.js';
import { runSdedit, sdeditGrid } from '../src/edit/sdedit.js';
import { makeGrid } from '../src/grids/index.js';
import { LocalEmpiricalDenoiser, makeTiling } from '../src/models/patch-denoiser.js';
import { makeSchedule } from '../src/schedules/index.js';
import { getSolver } from '../src/solvers/index.js';

function bruteDilate(mask: Uint8Array, H: number, W: number, r: number): Uint8Array {
  const out = new Uint8Array(H * W);
  for (let i = 0; i < H; i++) {
    for (let j = 0; j < W; j++) {
      for (let a = Math.max(0, i - r); a <= Math.min(H - 1, i + r); a++) {
        for (let b = Math.max(0, j - r); b <= Math.min(W - 1, j + r); b++) if (mask[a * W + b]) out[i * W + j] = 1;
      }
    }
  }
  return out;
}

describe('masks', () => {
  it('dilation is the clipped (2r+1) x (2r+1) square, for any r', () => {
    const H = 11, W = 17;
    const u = normalBatch(3, 0, 1, H * W);
    const mask = Uint8Array.from(u, (v) => (v > 1.6 ? 1 : 0));
    expect(maskCount(mask)).toBeGreaterThan(3);
    for (const r of [0, 1, 2, 3, 7, 40]) expect(Array.from(dilateMask(mask, H, W, r))).toEqual(Array.from(bruteDilate(mask, H, W, r)));
  });

  it("a single changed pixel's cone: after k calls of radius r, the clipped square of radius k r", () => {
    const H = 16, W = 16, r = 2;
    const mask0 = new Uint8Array(H * W);
    mask0[2 * W + 13] = 1;
    const cone = dependencyCone(mask0, H, W, r, 4);
    for (let k = 0; k < 4; k++) {
      for (const [m, rad] of [[cone.inputs[k], k * r], [cone.outputs[k], (k + 1) * r]] as const) {
        const rows = Math.min(H - 1, 2 + rad) - Math.max(0, 2 - rad) + 1;
        const cols = Math.min(W - 1, 13 + rad) - Math.max(0, 13 - rad) + 1;
        expect(maskCount(m)).toBe(rows * cols);
        for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) expect(m[i * W + j]).toBe(Math.max(Math.abs(i - 2), Math.abs(j - 13)) <= rad ? 1 : 0);
      }
    }
  });

  it('the difference mask marks a pixel when any channel differs by more than the threshold', () => {
    const a = new Float32Array(2 * 3 * 4);
    const b = a.slice();
    b[0 * 12 + 5] = 0.5; // channel 0, pixel 5
    b[1 * 12 + 7] = 0.01; // channel 1, pixel 7
    b[1 * 12 + 5] = -0.2;
    expect(Array.from(differenceMask(a, b, [2, 3, 4])).flatMap((v, p) => (v ? [p] : []))).toEqual([5, 7]);
    expect(Array.from(differenceMask(a, b, [2, 3, 4], 0.05)).flatMap((v, p) => (v ? [p] : []))).toEqual([5]);
    expect(() => differenceMask(a, b, [2, 12])).toThrow(/\[C, H, W\]/);
    expect(() => differenceMask(a, b.subarray(1), [2, 3, 4])).toThrow(/24/);
  });

  it('tiles touching a mask, and their pixels (partial tiles at the edges)', () => {
    const t = makeTiling(10, 7, 4); // 3 x 2 tiles: rows 0-3, 4-7, 8-9; columns 0-3, 4-6
    const mask = new Uint8Array(70);
    mask[3 * 7 + 4] = 1; // tile 1
    mask[9 * 7 + 0] = 1; // tile 4
    expect(Array.from(tilesTouching(mask, t))).toEqual([1, 4]);
    expect(tilePixels([1, 4], t)).toBe(4 * 3 + 2 * 4);
    expect(tilePixels([0, 1, 2, 3, 4, 5], t)).toBe(70);
  });
});

describe('the cone against real runs', () => {
  const C = 3, H = 12, W = 12, N = 25, D = C * H * W;
  const images = normalBatch(11, 0, N, D, 0.5);
  const schedule = makeSchedule('edm');
  const grid = makeGrid(schedule, { kind: 'karras', steps: 8 });

  for (const [solverName, r] of [['ddim', 1], ['heun', 2]] as const) {
    it(`${solverName}, radius ${r}: the two dense runs differ only inside the cone, and fill it at the first call`, async () => {
      const model = new LocalEmpiricalDenoiser(images, [C, H, W], { radius: r });
      const original = images.slice(0, D);
      const edited = original.slice();
      edited[1 * H * W + 5 * W + 3] = 0.9;
      const runGrid = sdeditGrid(grid, 1);
      const recA = new RecordingDenoiser(model), recB = new RecordingDenoiser(model);
      const solver = getSolver(solverName);
      const a = await runSdedit({ model: recA, solver, grid: runGrid, schedule, image: original });
      const b = await runSdedit({ model: recB, solver, grid: runGrid, schedule, image: edited });
      const mask0 = differenceMask(original, edited, [C, H, W]);
      const calls = recA.records.length;
      expect(calls).toBe(solverName === 'heun' ? 15 : 8);
      const cone = dependencyCone(mask0, H, W, r, calls);
      const diff = (x: Float32Array, y: Float32Array) => {
        const m = new Uint8Array(H * W);
        for (let q = 0; q < D; q++) if (x[q] !== y[q]) m[q % (H * W)] = 1;
        return m;
      };
      const within = (m: Uint8Array, cover: Uint8Array) => m.every((v, p) => !v || cover[p] === 1);
      for (let k = 0; k < calls; k++) {
        expect(within(diff(recA.records[k].y, recB.records[k].y), cone.inputs[k])).toBe(true);
        expect(within(diff(recA.records[k].x0, recB.records[k].x0), cone.outputs[k])).toBe(true);
      }
      // The first call's outputs change on the whole square of radius r around the pixel (the cone is tight there).
      expect(Array.from(diff(recA.records[0].x0, recB.records[0].x0))).toEqual(Array.from(cone.outputs[0]));
      expect(within(diff(a.samples.data, b.samples.data), cone.outputs[calls - 1])).toBe(true);
      // The change did spread: some later call's inputs differ beyond the first call's square. (The results themselves
      // may agree: at small sigma the windowed posterior snaps to training pixels.)
      const spread = Math.max(...recA.records.map((rec, k) => maskCount(diff(rec.y, recB.records[k].y))));
      expect(spread).toBeGreaterThan(maskCount(cone.outputs[0]));
    });
  }
});

describe('browser safety', () => {
  it('src/edit reaches no Node-only module', () => {
    const SRC = path.resolve(__dirname, '..', 'src');
    const NODE_ONLY = /^(node:|fs$|path$|zlib$|os$|child_process$|crypto$|url$|onnxruntime-node$|pngjs$)/;
    const seen = new Set<string>();
    const offenders: string[] = [];
    const stack = [path.join(SRC, 'edit', 'index.ts')];
    while (stack.length) {
      const f = stack.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      const text = fs.readFileSync(f, 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)) {
        if (m[1].startsWith('.')) stack.push(path.resolve(path.dirname(f), m[1].replace(/\.js$/, '.ts')));
        else if (NODE_ONLY.test(m[1])) offenders.push(`${path.relative(SRC, f)} imports '${m[1]}'`);
      }
    }
    expect(seen.has(path.join(SRC, 'models', 'patch-denoiser.ts'))).toBe(true);
    expect(offenders).toEqual([]);
  });
});
