import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { firstNonFinite, makeBatch, type Batch } from '../src/core/batch.js';
import { makeGrid } from '../src/grids/index.js';
import { conditionalDenoiser, NULL_CONDITION, type ConditionalDenoiser } from '../src/models/conditional.js';
import { combineGuidance, guideConditional, guidedDenoiser, resolveGuidance } from '../src/models/guidance.js';
import { createOnnxConditionalDenoiser } from '../src/models/onnx-denoiser.js';
import { buildDummyUnet } from '../src/models/onnx-graphs.js';
import { loadModel } from '../src/models/registry.js';
import { sample } from '../src/sample.js';
import { makeSchedule } from '../src/schedules/index.js';
import { getSolver } from '../src/solvers/index.js';

const at = { sigma: 0.8, t: 0.8, alpha: 1 };

function digitsBatch(rows: number, seed = 1): Batch {
  return makeBatch([rows, 1, 8, 8], Float32Array.from({ length: rows * 64 }, (_, i) => Math.sin(seed * 0.37 * i + seed) * 1.2));
}

/** A toy family with eps(y, c) = 0.5 y + (c + 2) and x0 = y - sigma eps; records every call. */
function toyFamily(calls: { rows: number; conds: number[] }[]): ConditionalDenoiser {
  return conditionalDenoiser({
    sampleShape: [3],
    name: 'toy',
    conditionNames: ['a', 'b'],
    hasUnconditional: true,
    async predictConditional(y, point, conditions) {
      calls.push({ rows: y.shape[0], conds: Array.from(conditions) });
      const eps = new Float32Array(y.data.length);
      const x0 = new Float32Array(y.data.length);
      for (let i = 0; i < eps.length; i++) {
        eps[i] = 0.5 * y.data[i] + conditions[Math.floor(i / 3)] + 2;
        x0[i] = y.data[i] - point.sigma * eps[i];
      }
      return { x0, eps };
    },
  });
}

describe('classifier-free guidance', () => {
  it('eps = (1 + w) eps_c - w eps_u on a known case, in one family call on the doubled batch', async () => {
    const calls: { rows: number; conds: number[] }[] = [];
    const family = toyFamily(calls);
    const y = makeBatch([2, 3], Float32Array.of(1, -2, 0.5, 3, 0, -1));
    const w = 2;
    const guided = guidedDenoiser(family, Int32Array.of(1, 0), { w });
    expect(guided.evaluationsPerCall).toBe(2);
    expect(guided.name).toBe('toy+cfg(w=2)@per-sample(2)');
    const p = await guided.predict(y, at);
    expect(calls).toEqual([{ rows: 4, conds: [1, 0, -1, -1] }]);
    for (let i = 0; i < 6; i++) {
      const c = i < 3 ? 1 : 0;
      const epsC = 0.5 * y.data[i] + c + 2, epsU = 0.5 * y.data[i] + 1;
      // Here eps_c - eps_u = c + 1, so the guided eps is eps_c + w (c + 1).
      expect(p.eps[i]).toBeCloseTo((1 + w) * epsC - w * epsU, 6);
      expect(p.eps[i]).toBeCloseTo(epsC + w * (c + 1), 6);
      // x0 is the one of the guided eps.
      expect(p.x0[i]).toBeCloseTo(y.data[i] - at.sigma * p.eps[i], 5);
    }
    // diffusers' guidance_scale s = 1 + w is the same model.
    const s = await guidedDenoiser(family, Int32Array.of(1, 0), { guidanceScale: 3 }).predict(y, at);
    expect(Array.from(s.x0)).toEqual(Array.from(p.x0));
    expect(Array.from(s.eps)).toEqual(Array.from(p.eps));
    // Guiding the null condition gives the unconditional model.
    const u = await guidedDenoiser(family, NULL_CONDITION, { w: 5 }).predict(y, at);
    for (let i = 0; i < 6; i++) expect(u.eps[i]).toBeCloseTo(0.5 * y.data[i] + 1, 6);
  });

  it('combineGuidance: w = 0 is the conditional and w = -1 the unconditional prediction, bit for bit', () => {
    const cond = { x0: Float32Array.of(0.1, 1e-8, -3), eps: Float32Array.of(1 / 3, 7, -2e-7) };
    const uncond = { x0: Float32Array.of(5, -1e8, 0.7), eps: Float32Array.of(-1, 2.5, 1e9) };
    const a = combineGuidance(cond, uncond, resolveGuidance({ w: 0 }));
    expect(Array.from(a.x0)).toEqual(Array.from(cond.x0));
    expect(Array.from(a.eps)).toEqual(Array.from(cond.eps));
    const b = combineGuidance(cond, uncond, resolveGuidance({ guidanceScale: 0 }));
    expect(Array.from(b.x0)).toEqual(Array.from(uncond.x0));
    expect(Array.from(b.eps)).toEqual(Array.from(uncond.eps));
    expect(resolveGuidance({ w: 6.5 })).toEqual({ w: 6.5, s: 7.5 });
    expect(resolveGuidance({ guidanceScale: 7.5 })).toEqual({ w: 6.5, s: 7.5 });
  });

  it('on exact models: w = 0 equals the class-conditional model; w > 0 combines it with the unconditional one', async () => {
    const y = digitsBatch(3);
    const cond = await loadModel('data:digits:300@3', { backend: 'ts' });
    const uncond = await loadModel('data:digits:300', { backend: 'ts' });
    const zero = await loadModel('data:digits:300@3', { backend: 'ts', guidance: 0 });
    expect(zero.info).toMatchObject({ guidance: { w: 0, s: 1 }, evaluationsPerCall: 2, condition: 3 });
    const pc = await cond.denoiser.predict(y, at);
    const pz = await zero.denoiser.predict(y, at);
    expect(Array.from(pz.x0)).toEqual(Array.from(pc.x0));
    expect(Array.from(pz.eps)).toEqual(Array.from(pc.eps));

    const g = await loadModel('data:digits:300@3', { backend: 'ts', guidance: 1.5 });
    const pg = await g.denoiser.predict(y, at);
    const pu = await uncond.denoiser.predict(y, at);
    for (let i = 0; i < pg.x0.length; i++) {
      expect(pg.eps[i]).toBeCloseTo(2.5 * pc.eps[i] - 1.5 * pu.eps[i], 4);
      expect(pg.x0[i]).toBeCloseTo(y.data[i] - at.sigma * pg.eps[i], 5);
    }
    const gs = await loadModel('data:digits:300@3', { backend: 'ts', guidanceScale: 2.5 });
    expect(Array.from((await gs.denoiser.predict(y, at)).x0)).toEqual(Array.from(pg.x0));
  });

  it('a mixed-class guided batch equals per-class guided runs', async () => {
    const m = await loadModel('data:digits:400', { backend: 'ts' });
    const guided = guideConditional(m.family!, { w: 2 });
    expect(guided.evaluationsPerCall).toBe(2);
    const conds = Int32Array.of(4, 1, 4, NULL_CONDITION, 8);
    const y = digitsBatch(conds.length, 3);
    const mixed = await guided.predictConditional(y, at, conds);
    for (let i = 0; i < conds.length; i++) {
      const one = await guided.withCondition(conds[i]).predict({ data: y.data.slice(i * 64, (i + 1) * 64), shape: [1, 1, 8, 8] }, at);
      expect(Array.from(mixed.x0.subarray(i * 64, (i + 1) * 64))).toEqual(Array.from(one.x0));
    }
  });

  it('guided DDIM on an exact model through the driver: NFE counts calls, each call two evaluations', async () => {
    const schedule = makeSchedule('edm');
    const grid = makeGrid(schedule, { kind: 'karras', steps: 6, sigmaMin: 0.002, sigmaMax: 80 });
    const run = async (opts: { guidance?: number }) => {
      const m = await loadModel('data:digits@7', { threads: 1, ...opts });
      const r = await sample({ model: m.denoiser, solver: getSolver('ddim'), grid, schedule, n: 8, seed: 3 });
      await m.denoiser.dispose!();
      return { r, per: m.denoiser.evaluationsPerCall ?? 1 };
    };
    const plain = await run({});
    const zero = await run({ guidance: 0 });
    const strong = await run({ guidance: 3 });
    expect(plain.r.nfe).toBe(6);
    expect(strong.r.nfe).toBe(6);
    expect([plain.per, strong.per]).toEqual([1, 2]);
    expect(Array.from(zero.r.samples.data)).toEqual(Array.from(plain.r.samples.data));
    expect(firstNonFinite(strong.r.samples.data)).toBe(-1);
  });

  it('ONNX guidance with cond and uncond: x0 = x0_u + s (x0_c - x0_u)', async () => {
    const shape = [1, 2, 2];
    const cond = { data: Float32Array.of(1, 1, 1, 1, 2, 2, 2, 2), shape: [2, 2, 2] };
    const uncond = { data: Float32Array.of(-1, 0, -1, 0), shape: [2, 2] };
    const y = makeBatch([3, ...shape], Float32Array.from({ length: 12 }, (_, i) => i / 3 - 2));
    const point = { sigma: 1, t: 4, alpha: 1 };
    const family = await createOnnxConditionalDenoiser(buildDummyUnet({ encoderHiddenStates: true }), { cond, uncond, prediction: 'sample', sampleShape: shape, threads: 1 });
    const p = await guidedDenoiser(family, Int32Array.of(1, 0, 1), { guidanceScale: 7.5 }).predict(y, point);
    const means = [1, 0, 1].map((c) => [1, 2][c]);
    for (let i = 0; i < 12; i++) {
      const base = y.data[i] * 0.8;
      expect(p.x0[i]).toBeCloseTo(base - 0.5 + 7.5 * (means[Math.floor(i / 4)] + 0.5), 4);
    }
    await family.dispose!();

    const dir = mkdtempSync(join(tmpdir(), 'iia-cfg-'));
    const file = join(dir, 'unet-ehs.onnx');
    writeFileSync(file, buildDummyUnet({ encoderHiddenStates: true }));
    const base = { prediction: 'sample' as const, sampleShape: shape, threads: 1 };
    const m = await loadModel(`onnx:${file}`, { ...base, cond: { data: cond.data.slice(4), shape: [1, 2, 2] }, uncond, guidance: 1 });
    expect(m.info).toMatchObject({ condition: 0, guidance: { w: 1, s: 2 }, evaluationsPerCall: 2 });
    const q = await m.denoiser.predict(y, point);
    for (let i = 0; i < 12; i++) expect(q.x0[i]).toBeCloseTo(y.data[i] * 0.8 - 0.5 + 2 * 2.5, 4);
    await m.denoiser.dispose!();
    await expect(loadModel(`onnx:${file}`, { ...base, cond, guidance: 1 })).rejects.toThrow(/guidance needs uncond, the unconditional encoder_hidden_states \(e\.g\. the empty-prompt embedding\)/);
    await expect(loadModel(`onnx:${file}`, { ...base, uncond, guidance: 1 })).rejects.toThrow(/guidance needs cond/);
  });

  it('errors: both conventions, neither, non-finite, no class, no unconditional member', async () => {
    expect(() => resolveGuidance({ w: 1, guidanceScale: 2 })).toThrow(/give the guidance weight w or guidanceScale \(s = 1 \+ w\), not both/);
    expect(() => resolveGuidance({})).toThrow(/guidance needs w \(Ho & Salimans\) or guidanceScale \(diffusers\)/);
    expect(() => resolveGuidance({ w: NaN })).toThrow(/w = NaN must be a finite number/);
    expect(() => resolveGuidance({ guidanceScale: Infinity })).toThrow(/guidanceScale = Infinity must be a finite number/);
    await expect(loadModel('data:digits', { guidance: 2 })).rejects.toThrow(/guidance needs a class to guide towards: data:digits@CLASS or classes; valid classes: 0, 1/);
    await expect(loadModel('data:digits@2', { guidance: 2, guidanceScale: 3 })).rejects.toThrow(/model 'data:digits@2': give the guidance weight w or guidanceScale/);
    await expect(loadModel('gmm:gmm-2d', { guidance: 2 })).rejects.toThrow(/not conditional, so it takes no guidance/);
    const noUncond = conditionalDenoiser({ ...toyFamily([]), hasUnconditional: false, predictConditional: async () => ({ x0: new Float32Array(), eps: new Float32Array() }) });
    expect(() => guideConditional(noUncond, { w: 1 })).toThrow(/needs the unconditional prediction, and model 'toy' has none/);
  });
});
