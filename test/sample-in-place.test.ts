// The ownership rule StepContext.mayOverwriteState: with it the single-step solvers (and the multistep ones whose
// history holds model outputs only: DPM-Solver++, DEIS, iPNDM; UniPC over its own earlier arrays) write each new
// state over the old one, and the samples are bit for bit those of a run that allocates every state; sample() never
// writes the caller's noise (its first state is a copy).
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gaussianDenoiser } from './gaussian-model.js';
import { normalBatch } from '../src/core/rng.js';
import { makeGrid } from '../src/grids/index.js';
import { loadEmbeddedDataset } from '../src/models/data.js';
import { predictionFromX0, type Denoiser } from '../src/models/denoiser.js';
import { OnnxEmpiricalDenoiser } from '../src/models/empirical-onnx.js';
import { createGmmDenoiser } from '../src/models/gmm.js';
import { sample } from '../src/sample.js';
import { makeSchedule } from '../src/schedules/index.js';
import { ddim } from '../src/solvers/ddim.js';
import { euler } from '../src/solvers/euler.js';
import { heun } from '../src/solvers/heun.js';
import { unipc } from '../src/solvers/unipc.js';
import { ipndm } from '../src/solvers/ipndm.js';
import { pndm } from '../src/solvers/pndm.js';
import { spndm } from '../src/solvers/spndm.js';
import { fDdim } from '../src/solvers/f-ddim.js';
import { saSolver } from '../src/solvers/sa-solver.js';
import { deis } from '../src/solvers/deis.js';
import { dpmSolverPP2M, dpmSolverPP3M } from '../src/solvers/dpm-solver-pp.js';
import type { Solver, X0Transform } from '../src/solvers/solver.js';
import { clipSample } from '../src/solvers/x0-transforms.js';

const edm = makeSchedule('edm');
const vp = makeSchedule('vp-discrete');

/** The bits of a float32 array (so -0 differs from 0 and NaN payloads count). */
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** A model whose eps is derived from x0 on first read (as the empirical back-ends do): it reads y after predict(). */
function lazyEps(inner: Denoiser): Denoiser {
  return {
    sampleShape: inner.sampleShape,
    name: `lazy(${inner.name})`,
    async predict(y, at) {
      return predictionFromX0(y.data, (await inner.predict(y, at)).x0, at.sigma);
    },
  };
}

/**
 * The solver with its steps observed; `flag` true or false overrides ctx.mayOverwriteState (false: a run that
 * allocates every state, as a wrapper that keeps y would make it), undefined passes the driver's ctx as it is.
 */
function observed(solver: Solver<any, any>, flag: boolean | undefined, seen: { inPlace: number; update: number; steps: number }): Solver<any, any> {
  return {
    ...solver,
    async step(ctx, i, y, state, options) {
      const r = await solver.step(flag === undefined ? ctx : { ...ctx, mayOverwriteState: flag }, i, y, state, options);
      seen.steps++;
      if (r.y.data === y.data) seen.inPlace++;
      if (r.update) seen.update++;
      return r;
    },
  };
}

const gmm = createGmmDenoiser(JSON.parse(fs.readFileSync('examples/gmm-2d.json', 'utf8')), 'gmm-2d.json');

const SOLVERS: [Solver<any, any>, Record<string, unknown>][] = [
  [euler, {}],
  [ddim, {}],
  [ddim, { eta: 0.5 }],
  [heun, {}],
  [heun, { sChurn: 10 }],
  // Multistep solvers whose history keeps model outputs, never the state.
  [dpmSolverPP2M, {}],
  [dpmSolverPP3M, { algorithmType: 'dpmsolver' }],
  [deis, {}],
  // iPNDM: its eps_tilde and x0_hat in run-long scratch arrays, the state over the old one.
  [ipndm, {}],
  [ipndm, { maxOrder: 2 }],
];

describe('with mayOverwriteState the single-step solvers write their states in place, bit for bit as without', () => {
  const models: [string, Denoiser, X0Transform | undefined][] = [
    ['gaussian', gaussianDenoiser(0.5, 6), undefined],
    ['gaussian, lazy eps', lazyEps(gaussianDenoiser(0.5, 6)), undefined],
    ['gaussian, lazy eps, clip_sample', lazyEps(gaussianDenoiser(0.5, 6)), clipSample(1)],
    ['gmm-2d', gmm, undefined],
  ];
  for (const [name, model, x0Transform] of models) {
    for (const [solver, solverOptions] of SOLVERS) {
      it(`${solver.info.name} ${JSON.stringify(solverOptions)} on ${name}`, async () => {
        const grid = makeGrid(edm, { kind: 'karras', steps: 7 });
        const run = async (flag: boolean) => {
          const seen = { inPlace: 0, update: 0, steps: 0 };
          const r = await sample({ model, solver: observed(solver, flag, seen), grid, schedule: edm, n: 10, batch: 4, seed: 3, solverOptions, x0Transform });
          return { samples: r.samples.data, seen };
        };
        const inPlace = await run(true), fresh = await run(false);
        expect(bits(inPlace.samples)).toEqual(bits(fresh.samples));
        // 3 chunks of 7 steps: every step wrote over its input and returned no update (its vectors would alias it).
        expect(inPlace.seen).toEqual({ inPlace: 21, update: 0, steps: 21 });
        expect(fresh.seen).toEqual({ inPlace: 0, update: 21, steps: 21 });
      });
    }
  }

  it('sample() sets it: its first state is its own copy, and each later one what the solver returned', async () => {
    const grid = makeGrid(edm, { kind: 'karras', steps: 7 });
    for (const [solver, solverOptions] of SOLVERS) {
      const seen = { inPlace: 0, update: 0, steps: 0 };
      await sample({ model: gaussianDenoiser(0.5, 6), solver: observed(solver, undefined, seen), grid, schedule: edm, n: 10, batch: 4, solverOptions });
      expect(seen).toEqual({ inPlace: 21, update: 0, steps: 21 });
    }
  });

  it('on the ONNX empirical denoiser (digits), Euler and DDIM', async () => {
    const ds = loadEmbeddedDataset('digits', 200);
    const model = await OnnxEmpiricalDenoiser.create(ds.images, ds.shape, { threads: 2 });
    const grid = makeGrid(edm, { kind: 'karras', steps: 6 });
    for (const solver of [euler, ddim]) {
      const run = async (flag: boolean) => {
        const seen = { inPlace: 0, update: 0, steps: 0 };
        return (await sample({ model, solver: observed(solver, flag, seen), grid, schedule: edm, n: 16, batch: 8 })).samples.data;
      };
      expect(bits(await run(true))).toEqual(bits(await run(false)));
    }
    await model.dispose();
  });
});

describe('multistep solvers under sample(): states, eps and noise over their own arrays, bit for bit as with fresh ones', () => {
  // [solver, options, steps of 8 per chunk that write over their input]
  const cases: [Solver<any, any>, Record<string, unknown>, number][] = [
    // UniPC: every step but the first and those after a disabled corrector (their y is the corrector's start).
    [unipc, {}, 7],
    [unipc, { solverType: 'bh1' }, 7],
    [unipc, { predictX0: false }, 7],
    [unipc, { solverOrder: 3, lowerOrderFinal: false }, 7],
    [unipc, { disableCorrector: [2] }, 6],
    // F-DDIM: every step but the last (plain DDIM to sigma = 0).
    [fDdim, {}, 7],
    [fDdim, { predictorOrder: 2 }, 7],
    [fDdim, { predictorOrder: 3 }, 7],
    // SA-Solver: once its corrector has replaced the state (every step after the first), never without a corrector.
    [saSolver, {}, 7],
    [saSolver, { tau: 0 }, 7],
    [saSolver, { predictorOrder: 3, correctorOrder: 4 }, 7],
    [saSolver, { correctorOrder: 0 }, 0],
    // The warm-up steps (PRK: 3, pseudo improved Euler: 1) allocate; every multistep step writes over its input.
    [pndm, {}, 5],
    [spndm, {}, 7],
  ];
  for (const [solver, solverOptions, perChunk] of cases) {
    it(`${solver.info.name} ${JSON.stringify(solverOptions)}`, async () => {
      const grid = makeGrid(edm, { kind: 'karras', steps: 8 });
      const run = async (flag: boolean) => {
        const seen = { inPlace: 0, update: 0, steps: 0 };
        const r = await sample({ model: lazyEps(gaussianDenoiser(0.5, 6)), solver: observed(solver, flag, seen), grid, schedule: edm, n: 10, batch: 4, seed: 3, solverOptions });
        return { samples: r.samples.data, seen };
      };
      const owned = await run(true), fresh = await run(false);
      expect(bits(owned.samples)).toEqual(bits(fresh.samples));
      // 10 samples in batches of 4: 3 chunks.
      expect(owned.seen.inPlace).toBe(3 * perChunk);
      expect(fresh.seen.inPlace).toBe(0);
    });
  }
});

describe('StepContext.scratch: an array the driver keeps for the whole run', () => {
  it('Heun forms every Euler point in one array (a page-faulted fresh array per step otherwise), bit for bit as without', async () => {
    const grid = makeGrid(edm, { kind: 'karras', steps: 7 });
    for (const solverOptions of [{}, { sChurn: 10 }]) {
      const handed: Float32Array[] = [];
      const spy = (keep: boolean): Solver<any, any> => ({
        ...heun,
        step: (ctx, i, y, state, options) => {
          const scratch = ctx.scratch;
          const inner = keep && scratch ? { ...ctx, scratch: (key: string, n: number) => { const b = scratch(key, n); handed.push(b); return b; } } : { ...ctx, scratch: undefined };
          return heun.step(inner, i, y, state, options);
        },
      });
      const withScratch = await sample({ model: gmm, solver: spy(true), grid, schedule: edm, n: 10, batch: 4, seed: 3, solverOptions });
      const without = await sample({ model: gmm, solver: spy(false), grid, schedule: edm, n: 10, batch: 4, seed: 3, solverOptions });
      expect(bits(withScratch.samples.data)).toEqual(bits(without.samples.data));
      // 3 chunks (4, 4, 2 samples) of 6 corrected steps: one array per batch length.
      expect(handed.length).toBe(18);
      expect(new Set(handed).size).toBe(2);
    }
  });
});

describe('sample() never writes the caller\'s noise', () => {
  for (const [label, schedule, stateScaling] of [['edm', edm, 'alpha'], ['vp, alpha scaling', vp, 'alpha'], ['vp, no scaling', vp, 'none']] as const) {
    it(`${label}`, async () => {
      const grid = makeGrid(schedule, { kind: 'karras', steps: 5 });
      const data = normalBatch(9, 0, 6, 4, grid[0].sigma * grid[0].alpha);
      const before = bits(data);
      for (const [solver, solverOptions] of SOLVERS) {
        const seen = { inPlace: 0, update: 0, steps: 0 };
        await sample({ model: gaussianDenoiser(0.5, 4), solver: observed(solver, true, seen), grid, schedule, noise: { data, shape: [6, 4] }, batch: 6, solverOptions, stateScaling });
        expect(seen.inPlace).toBe(5);
        expect(bits(data)).toEqual(before);
      }
    });
  }
});
