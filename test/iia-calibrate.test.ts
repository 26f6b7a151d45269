// IIA calibration: the least squares, the robustness rule (held-out acceptance, whole-run check), per-step residuals
// on the calibration batch and on fresh noise, endpoint errors against the exact ODE solution (gmm-64d, digits),
// the cost in model evaluations, and guided calibration over (noise, condition) pairs.
import { beforeAll, describe, expect, it } from 'vitest';
import { linComb, type Batch } from '../src/core/batch.js';
import { normalBatch } from '../src/core/rng.js';
import { referenceSolve } from '../src/eval/reference.js';
import { makeGrid } from '../src/grids/index.js';
import {
  calibrate,
  combineAtoms,
  DirectionBuilder,
  getIiaVariant,
  makeIiaSolver,
  normalEquations,
  solveRidge,
  type CoefficientSet,
  type IiaVariant,
} from '../src/iia/index.js';
import { createClassConditionalDenoiser, type ConditionalDenoiser } from '../src/models/conditional.js';
import { loadEmbeddedDataset } from '../src/models/data.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { guideConditional } from '../src/models/guidance.js';
import { loadModel } from '../src/models/registry.js';
import { sample } from '../src/sample.js';
import { makeSchedule } from '../src/schedules/index.js';
import type { GridPoint } from '../src/schedules/schedule.js';
import { ddim } from '../src/solvers/ddim.js';
import type { StepContext } from '../src/solvers/solver.js';

const edm = makeSchedule('edm');
let gmm: Denoiser;
beforeAll(async () => {
  gmm = (await loadModel('gmm:gmm-64d')).denoiser;
});

/** Per-sample RMS endpoint errors against the reference, sorted. */
function sortedErrors(a: Float32Array, ref: Float64Array, n: number): number[] {
  const d = a.length / n;
  return Array.from({ length: n }, (_, b) => {
    let s = 0;
    for (let k = b * d; k < (b + 1) * d; k++) s += (a[k] - ref[k]) ** 2;
    return Math.sqrt(s / d);
  }).sort((x, y) => x - y);
}

const median = (e: number[]): number => e[e.length >> 1];
const mean = (e: number[]): number => e.reduce((x, y) => x + y, 0) / e.length;

async function endpoint(model: Denoiser, solver: any, grid: readonly GridPoint[], noise: Batch): Promise<Float32Array> {
  return (await sample({ model, solver, grid, schedule: edm, noise, stateScaling: 'none' })).samples.data;
}

function stepsFor(v: IiaVariant, nfe: number): number {
  let s = 1;
  while (v.base.nfe(s + 1) <= nfe) s++;
  return s;
}

/** Per-step residuals (sum over samples of ||fine - y||^2) with defaults and with the set, along the calibrated run. */
async function freshResiduals(v: IiaVariant, set: CoefficientSet, model: Denoiser, grid: GridPoint[], seed: number, n: number) {
  const ctx: StepContext = { grid, schedule: edm, seed: 0, firstSample: 0, predict: (y, at) => model.predict(y, at) };
  let y: Batch = { data: normalBatch(seed, 0, n, 64, grid[0].sigma), shape: [n, 1, 8, 8] };
  let bs = v.base.init(y, undefined), hist = v.initHistory();
  const out: { before: number; after: number }[] = [];
  for (let i = 0; i + 1 < grid.length; i++) {
    const st = await v.step(ctx, i, y, bs, hist, set.r, undefined);
    const fine = await v.fineTarget(ctx, i, y, bs, set.M, undefined);
    const yc = combineAtoms(st.dirs, set.coefficients[i].values);
    let before = 0, after = 0;
    for (let k = 0; k < fine.length; k++) {
      before += (fine[k] - st.base.y.data[k]) ** 2;
      after += (fine[k] - yc[k]) ** 2;
    }
    out.push({ before, after });
    const nx = st.advance(set.coefficients[i].values, yc);
    y = { data: yc, shape: y.shape };
    bs = nx.baseState;
    hist = nx.history;
  }
  return out;
}

describe('least squares', () => {
  it('solves a well-conditioned problem exactly and shrinks towards 0 with lambda', () => {
    const n = 200;
    const U = [0, 1, 2].map((j) => Float64Array.from({ length: n }, (_, i) => Math.sin((j + 1) * i) + (j === 2 ? 1e-3 * i : 0)));
    const truth = [0.5, -2, 3];
    const r = Float64Array.from({ length: n }, (_, i) => truth.reduce((s, t, j) => s + t * U[j][i], 0));
    const { G, b } = normalEquations(U, r);
    solveRidge(G, b, 0).forEach((x, j) => expect(x).toBeCloseTo(truth[j], 10));
    const big = solveRidge(G, b, 1e8);
    big.forEach((x) => expect(Math.abs(x)).toBeLessThan(1e-6));
  });

  it('drops a direction in the span of earlier ones (its coefficient stays at the default)', () => {
    const n = 50;
    const u0 = Float64Array.from({ length: n }, (_, i) => Math.cos(i));
    const u1 = Float64Array.from({ length: n }, (_, i) => Math.sin(3 * i));
    const u2 = Float64Array.from({ length: n }, (_, i) => 2 * u0[i] - u1[i]); // dependent
    const r = Float64Array.from({ length: n }, (_, i) => u0[i] + 4 * u1[i]);
    const { G, b } = normalEquations([u0, u1, u2], r);
    const delta = solveRidge(G, b, 0);
    expect(delta[2]).toBe(0);
    expect(delta[0]).toBeCloseTo(1, 8);
    expect(delta[1]).toBeCloseTo(4, 8);
    expect(solveRidge([[0]], [0], 0)).toEqual([0]);
  });
});

describe('calibration of IIA-EDM on gmm-64d', () => {
  const grid = makeGrid(edm, { kind: 'karras', steps: 6 }); // NFE 11
  let set: CoefficientSet;
  beforeAll(async () => {
    set = await calibrate({ model: gmm, variant: 'iia-edm', grid, schedule: edm, batch: 64, heldOut: 32, seed: 5 });
  });

  it('records the run and per-step residuals, lowered on the calibration batch and held out', () => {
    expect(set).toMatchObject({ solver: 'iia-edm', baseSolver: 'heun', schedule: 'edm', steps: 6, nfe: 11, M: 3, r: 1, batch: 64, heldOut: 32, seed: 5 });
    expect(set.grid).toEqual(grid);
    expect(set.globalCheck?.accepted).toBe(true);
    expect(set.coefficients.map((s) => s.names)).toEqual([['beta0', 'beta1'], ...Array(4).fill(['beta0', 'beta1', 'gamma1']), ['beta0', 'gamma1']]);
    let before = 0, after = 0;
    for (const s of set.coefficients) {
      const h = s.residual.heldOut!;
      if (s.accepted) {
        expect(s.residual.calibration.after).toBeLessThan(s.residual.calibration.before);
        expect(h.after).toBeLessThan(h.before);
      } else expect(s.values).toEqual(s.defaults);
      before += h.before;
      after += h.after;
    }
    expect(after).toBeLessThan(before / 20);
  });

  it('lowers the per-step residual on fresh noise the calibration never saw', async () => {
    const r = await freshResiduals(getIiaVariant('iia-edm'), set, gmm, grid, 991, 32);
    const before = r.reduce((s, x) => s + x.before, 0), after = r.reduce((s, x) => s + x.after, 0);
    expect(after).toBeLessThan(before / 10);
    r.forEach((x, i) => {
      if (set.coefficients[i].accepted && x.before > 0) expect(x.after).toBeLessThan(x.before);
    });
  });

  it('M = 1 (the fine target is the base step itself) keeps the defaults', async () => {
    const s1 = await calibrate({ model: gmm, variant: 'iia-edm', grid, schedule: edm, M: 1, batch: 16, heldOut: 8 });
    for (const s of s1.coefficients) {
      expect(s.values).toEqual(s.defaults);
      expect(s.residual.calibration.before).toBe(0);
    }
  });

  it('costs at most (M + 1) x sampling the calibration noises with the base (exact count)', async () => {
    const B = 16, H = 8, N = 6, M = 3;
    const s = await calibrate({ model: gmm, variant: 'iia-edm', grid, schedule: edm, batch: B, heldOut: H, M, globalCheck: false });
    // Per sample: Heun steps 2 + fine 2M - 1 (the fine run's first call is the base step's), last step 1 + 2M - 2.
    const fit = B * ((N - 1) * (2 + 2 * M - 1) + (1 + 2 * M - 2));
    expect(s.cost.modelEvaluations).toBe(fit);
    expect(s.cost.baseSamplingEvaluations).toBe(B * 11);
    expect(s.cost.ratio).toBeLessThan(M + 1);
    const d = await calibrate({ model: gmm, variant: 'iia-ddim', grid, schedule: edm, batch: B, heldOut: H, M });
    // DDIM: 1 + (M - 1) per step; the whole-run check samples each held-out noise calibrated, with the base, and with
    // the base on the M-times refined grid: (M + 2) N.
    expect(d.globalCheck).not.toBeNull();
    expect(d.cost.modelEvaluations).toBe(B * N * M + H * N * (M + 2));
  });

  it('by default spends what the (M + 1) x |B| budget leaves after the fit on the whole-run check', async () => {
    const N = 6, M = 3;
    // The refined grid has 3N steps: Heun there costs 2 * 18 - 1 = 35 evaluations, DDIM 18.
    for (const [variant, B, nfe, refined] of [['iia-edm', 64, 11, 35], ['iia-ddim', 16, 6, 18]] as const) {
      const s = await calibrate({ model: gmm, variant, grid, schedule: edm, batch: B, M });
      const fit = variant === 'iia-edm' ? B * ((N - 1) * (2 + 2 * M - 1) + (1 + 2 * M - 2)) : B * N * M;
      const perHeld = 2 * nfe + refined; // calibrated, base, base on the refined grid
      expect(s.heldOut, variant).toBe(Math.floor(((M + 1) * nfe * B - fit) / perHeld));
      expect(s.heldOut, variant).toBeGreaterThan(0);
      expect(s.globalCheck, variant).not.toBeNull();
      expect(s.cost.modelEvaluations, variant).toBe(fit + s.heldOut * perHeld);
      expect(s.cost.ratio, variant).toBeLessThanOrEqual(M + 1);
    }
  });
});

describe('endpoint error against the exact ODE solution (gmm-64d)', () => {
  const n = 128;
  let noise: Batch;
  let refs: Map<number, Float64Array>;
  beforeAll(async () => {
    noise = { data: normalBatch(123, 0, n, 64, 80), shape: [n, 1, 8, 8] };
    refs = new Map([[0, (await referenceSolve(gmm, noise, { from: 80, to: 0 })).y]]);
  });

  it('IIA-EDM: >= 3x lower median error than EDM at NFE 11, never worse at NFE 5-25', async () => {
    const v = getIiaVariant('iia-edm');
    const ratios: Record<number, number> = {};
    for (const nfe of [5, 7, 9, 11, 13, 15, 19, 25]) {
      const grid = makeGrid(edm, { kind: 'karras', steps: stepsFor(v, nfe) });
      const set = await calibrate({ model: gmm, variant: v, grid, schedule: edm, seed: 0 });
      const eb = sortedErrors(await endpoint(gmm, v.base, grid, noise), refs.get(0)!, n);
      const ei = sortedErrors(await endpoint(gmm, makeIiaSolver(v, set), grid, noise), refs.get(0)!, n);
      ratios[nfe] = median(eb) / median(ei);
      expect(median(ei)).toBeLessThanOrEqual(median(eb));
      expect(mean(ei)).toBeLessThanOrEqual(mean(eb));
    }
    expect(ratios[11]).toBeGreaterThanOrEqual(3);
    console.log('IIA-EDM median error ratio EDM / IIA-EDM by NFE:', JSON.stringify(ratios));
  });

  it('every paper variant and iia:<solver> is never worse than its base (the robustness rules)', async () => {
    const out: string[] = [];
    for (const name of ['biia-edm', 'iia-ddim', 'iia-dpm-solver++', 'iia-spndm', 'iia-ipndm', 'iia:unipc', 'iia:deis', 'iia:dpm-solver++3m', 'iia:euler', 'iia:pndm']) {
      const v = getIiaVariant(name);
      for (const nfe of [7, 15]) {
        const grid = makeGrid(edm, { kind: 'karras', steps: stepsFor(v, nfe) });
        const set = await calibrate({ model: gmm, variant: v, grid, schedule: edm, batch: 64, heldOut: 32 });
        const eb = sortedErrors(await endpoint(gmm, v.base, grid, noise), refs.get(0)!, n);
        const ei = sortedErrors(await endpoint(gmm, makeIiaSolver(v, set), grid, noise), refs.get(0)!, n);
        out.push(`${name}@${nfe}: ${(median(eb) / median(ei)).toFixed(2)}`);
        expect(mean(ei), `${name} NFE ${nfe}`).toBeLessThanOrEqual(mean(eb) * 1.02);
        expect(median(ei), `${name} NFE ${nfe}`).toBeLessThanOrEqual(median(eb) * 1.02);
      }
    }
    console.log('median error ratio base / IIA:', out.join(', '));
  });
});

describe('robustness rule', () => {
  it('rejects a direction that only fits the calibration noise (out-of-fold residual does not drop)', async () => {
    // iia-ddim plus a direction of fresh random noise: least squares fits it on the calibration batch, held-out
    // noise shows it is useless, so the steps keep their defaults for it (or the whole fit is refused).
    let calls = 0;
    const noisy: IiaVariant = {
      ...getIiaVariant('iia-ddim'),
      name: 'noisy-ddim',
      async step(ctx, i, y, bs, _h, _r, o) {
        const base = await ddim.step(ctx, i, y, bs, o);
        const b = new DirectionBuilder(base, 'noisy');
        b.dir('junk', 0, { [b.addAtom('junk', normalBatch(777, 0, y.shape[0], 64, 1, 100 + calls++))]: 1 });
        return { base, dirs: b.build(), advance: () => ({ history: null, baseState: base.state }) };
      },
    };
    const grid = makeGrid(edm, { kind: 'karras', steps: 5 });
    // Without cross-validation and held-out noise the plain fit takes the junk at every step...
    const naive = await calibrate({ model: gmm, variant: noisy, grid, schedule: edm, batch: 8, heldOut: 0, crossValidate: false });
    expect(naive.coefficients.every((s) => s.accepted && s.values[0] !== 0)).toBe(true);
    expect(naive.globalCheck).toBeNull();
    expect(naive.coefficients.every((s) => s.residual.heldOut === null)).toBe(true);
    // ... with 2-fold cross-validation, a step takes a fit only where the out-of-fold residual drops.
    const set = await calibrate({ model: gmm, variant: noisy, grid, schedule: edm, batch: 8, heldOut: 16 });
    for (const s of set.coefficients) {
      if (s.accepted) expect(s.residual.heldOut!.after).toBeLessThan(s.residual.heldOut!.before);
      else expect(s.values).toEqual([0]);
    }
    expect(set.coefficients.filter((s) => s.accepted).length).toBeLessThan(5);
  });

  it('a model that returns NaN stops calibration with an error naming the step and sigma', async () => {
    const grid = makeGrid(edm, { kind: 'karras', steps: 4 });
    // Heun's step 1 evaluates at sigma 0.47 (its Euler point): NaN there.
    const bad: Denoiser = {
      sampleShape: gmm.sampleShape,
      name: 'nan-below-1',
      predict: async (y, at) => {
        const p = await gmm.predict(y, at);
        return at.sigma < 1 ? { x0: p.x0.map(() => NaN), eps: p.eps } : p;
      },
    };
    await expect(calibrate({ model: bad, variant: 'iia-edm', grid, schedule: edm, batch: 4, heldOut: 2 })).rejects.toThrow(
      /non-finite value \(NaN or Inf\) in the (base step|fine target) during IIA calibration at step 1, sigma 9\.72/,
    );
  });

  it('falls back to the defaults everywhere when the whole run is not better held out (iPNDM at NFE 11)', async () => {
    const grid = makeGrid(edm, { kind: 'karras', steps: 11 });
    const set = await calibrate({ model: gmm, variant: 'iia-ipndm', grid, schedule: edm, batch: 64, heldOut: 32 });
    expect(set.globalCheck).not.toBeNull();
    expect(set.globalCheck!.accepted).toBe(false);
    expect(set.coefficients.every((s) => !s.accepted && s.values.every((x, j) => x === s.defaults[j]))).toBe(true);
  });
});

describe('digits (exact empirical model, 300 images)', () => {
  it('iia:euler and iia-ddim never raise the mean endpoint error at NFE 7 and 11, and lower it in most cases', async () => {
    const model = (await loadModel('data:digits:300', { backend: 'ts' })).denoiser;
    const n = 32;
    const noise = { data: normalBatch(321, 0, n, 64, 80), shape: [n, 1, 8, 8] };
    const ref = (await referenceSolve(model, noise, { from: 80, to: 0 }, { rtol: 1e-6 })).y;
    const out: string[] = [];
    let better = 0;
    for (const name of ['iia:euler', 'iia-ddim']) {
      const v = getIiaVariant(name);
      for (const steps of [7, 11]) {
        const grid = makeGrid(edm, { kind: 'karras', steps });
        const set = await calibrate({ model, variant: v, grid, schedule: edm, batch: 32, heldOut: 64 });
        const eb = sortedErrors(await endpoint(model, v.base, grid, noise), ref, n);
        const ei = sortedErrors(await endpoint(model, makeIiaSolver(v, set), grid, noise), ref, n);
        out.push(`${name}@${steps}: mean ${(mean(eb) / mean(ei)).toFixed(2)}`);
        expect(mean(ei), `${name} ${steps}`).toBeLessThanOrEqual(mean(eb));
        if (mean(ei) < mean(eb)) better++;
      }
    }
    console.log('digits mean error ratio base / IIA:', out.join(', '));
    // The whole-run check keeps the defaults where the held-out evidence is thin (a paired test over the held-out
    // noises): 64 of them let most cases take the fit.
    expect(better).toBeGreaterThanOrEqual(3);
  });
});

describe('guided IIA-DDIM over (noise, condition) pairs', () => {
  it('pairs calibration noise b with condition b mod C, fits beta, and samples each class with the coefficients', async () => {
    const ds = loadEmbeddedDataset('digits', 200);
    const guided = guideConditional(createClassConditionalDenoiser(ds.images, ds.labels, ds.classNames, ds.shape), { w: 1.5 });
    const seen: number[][] = [];
    const spy: ConditionalDenoiser = {
      ...guided,
      withCondition(c) {
        seen.push(typeof c === 'number' ? [c] : Array.from(c));
        return guided.withCondition(c);
      },
    };
    const grid = makeGrid(edm, { kind: 'karras', steps: 5 });
    const set = await calibrate({ model: { family: spy, conditions: [1, 4, 7] }, variant: 'guided-iia-ddim', grid, schedule: edm, batch: 10, heldOut: 6 });
    // The 10 calibration noises, then (if the whole-run check runs) the 6 held out, continuing the round-robin.
    expect(seen[0]).toEqual([1, 4, 7, 1, 4, 7, 1, 4, 7, 1]);
    if (set.globalCheck) expect(seen[1]).toEqual([4, 7, 1, 4, 7, 1]);
    expect(set.conditions).toEqual([1, 4, 7]);
    expect(set.coefficients.every((s) => s.names.length === 1 && s.names[0] === 'beta')).toBe(true);
    for (const s of set.coefficients) expect(s.residual.calibration.after).toBeLessThanOrEqual(s.residual.calibration.before);
    const model = guided.withCondition(4);
    const r = await sample({ model, solver: makeIiaSolver(getIiaVariant('guided-iia-ddim'), set), grid, schedule: edm, n: 3 });
    const b = await sample({ model, solver: ddim, grid, schedule: edm, n: 3 });
    expect(r.nfe).toBe(b.nfe);
    expect(Array.from(r.samples.data).every(Number.isFinite)).toBe(true);
    // The IIA step is the DDIM step plus beta eps, so the samples differ only if some beta was accepted.
    const same = r.samples.data.every((x, k) => x === b.samples.data[k]);
    expect(same).toBe(set.coefficients.every((s) => s.values[0] === 0));
    expect(linComb([1], [r.samples.data]).length).toBe(3 * 64);
  });
});
