// evaluate(): solvers against the reference from the same noises, on the exact GMM and on a small exact image set.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { normalBatch } from '../src/core/rng.js';
import { evaluate, type EvalRecord } from '../src/eval/evaluate.js';
import { loadEmbeddedDataset } from '../src/models/data.js';
import { TsEmpiricalDenoiser } from '../src/models/empirical.js';
import { createGmmDenoiser } from '../src/models/gmm.js';
import { euler } from '../src/solvers/euler.js';
import { heun } from '../src/solvers/heun.js';

const gmm = createGmmDenoiser(JSON.parse(readFileSync(new URL('../examples/gmm-64d.json', import.meta.url), 'utf8')), 'gmm-64d.json', 'gmm:gmm-64d');
const info = { name: 'gmm:gmm-64d', kind: 'gmm', defaultSchedule: 'edm' as const };

const byName = (records: EvalRecord[], solver: string): EvalRecord[] => records.filter((r) => r.solver === solver).sort((a, b) => a.steps - b.steps);

describe('evaluate on the 64-D GMM', () => {
  it('euler and heun: rmse falls with the step count, heun beats euler from 8 steps; the reference converged', async () => {
    const res = await evaluate({ model: gmm, info, solvers: ['euler', 'heun'], steps: [8, 16, 32], n: 96, seed: 3 });
    expect(res.reference.convergence.ok).toBe(true);
    expect(res.reference.convergence.maxRelDiff).toBeLessThanOrEqual(1e-6);
    expect(res.reference.precision).toBe('float64');
    expect(res.reference.nfe).toBeGreaterThan(100);
    expect(res.reference.ranges).toEqual([{ from: 80, to: 0, sigmaEnd: 5e-6 }]);
    // The reference endpoints are samples of the exact ODE: mode frequencies near the weights.
    expect(res.reference.metrics.mode_accuracy).toBeNull();
    expect(res.reference.metrics.mode_tv).toBeLessThan(0.15);
    const eu = byName(res.records, 'euler'), he = byName(res.records, 'heun');
    expect(eu.map((r) => r.nfe)).toEqual([8, 16, 32]);
    expect(he.map((r) => r.nfe)).toEqual([15, 31, 63]);
    for (const list of [eu, he]) {
      for (let i = 1; i < list.length; i++) {
        expect(list[i].rmse!).toBeLessThan(list[i - 1].rmse!);
        expect(list[i].median_error!).toBeLessThan(list[i - 1].median_error!);
      }
    }
    for (let i = 0; i < 3; i++) expect(he[i].rmse!).toBeLessThan(eu[i].rmse!);
    const r = he[2];
    expect(r).toMatchObject({ model: 'gmm:gmm-64d', solver: 'heun', steps: 32, n: 96, seed: 3, stochastic: false, calibration_seed: null, grid: 'karras', schedule: 'edm', sigma_max: 80, sigma_end: 0 });
    expect(r.max_error!).toBeGreaterThanOrEqual(r.median_error!);
    expect(r.psnr).toBeUndefined(); // not an image model
    expect(r.mode_accuracy).toBeGreaterThan(0.95);
    expect(Math.abs(r.loglik! - res.reference.metrics.loglik!)).toBeLessThan(Math.abs(eu[0].loglik! - res.reference.metrics.loglik!));
    expect(r.sw2!).toBeGreaterThan(0);
    expect(r.seconds).toBeGreaterThan(0);
    expect(JSON.parse(JSON.stringify(res.records))).toHaveLength(6);
  });

  it('--nfe budgets, a stochastic run, a calibration hook and explicit noise', async () => {
    const seed = 11, n = 32;
    const prepared: string[] = [];
    const res = await evaluate({
      model: gmm,
      info,
      solvers: ['euler', { name: 'heun', options: { sChurn: 10 }, label: 'heun-churn' }, 'iia-heun'],
      nfe: [10],
      n,
      seed,
      resolveSolver: (name) => (name === 'euler' ? euler : heun),
      prepare: (name, ctx) => {
        prepared.push(`${name}:${ctx.steps}:${ctx.seed}`);
        return name === 'iia-heun' ? { record: { calibration_nfe: 123 } } : undefined;
      },
    });
    expect(prepared).toEqual([`euler:10:${seed + 1}`, `heun:5:${seed + 1}`, `iia-heun:5:${seed + 1}`]);
    const [e, churn, iia] = res.records;
    expect(e).toMatchObject({ solver: 'euler', steps: 10, nfe: 10, nfe_budget: 10, calibration_seed: null });
    expect(churn).toMatchObject({ solver: 'heun-churn', steps: 5, nfe: 9, stochastic: true, rmse: null, median_error: null, mode_accuracy: null, options: { sChurn: 10 } });
    expect(churn.sw2).toBeGreaterThan(0);
    expect(churn.loglik).toBeDefined();
    expect(iia).toMatchObject({ solver: 'iia-heun', calibration_seed: seed + 1, calibration_nfe: 123 });

    // The same noises given explicitly as x_T = 80 z give the same numbers.
    const noise = { data: normalBatch(seed, 0, n, 64, 80), shape: [n, 1, 8, 8] };
    const again = await evaluate({ model: gmm, info, solvers: ['euler'], steps: [10], n, seed, noise });
    expect(again.records[0].rmse).toBeCloseTo(e.rmse!, 6);
  });

  it('names bad input', async () => {
    await expect(evaluate({ model: gmm, info, solvers: [], steps: [4], n: 4 })).rejects.toThrow(/evaluate\.ts: solvers: expected a non-empty list/);
    await expect(evaluate({ model: gmm, info, solvers: ['euler'], n: 4 })).rejects.toThrow(/evaluate\.ts: steps: give either steps or nfe/);
    await expect(evaluate({ model: gmm, info, solvers: ['euler'], steps: [0], n: 4 })).rejects.toThrow(/steps: expected positive integers, got 0/);
    await expect(evaluate({ model: gmm, info, solvers: ['nope'], steps: [4], n: 4 })).rejects.toThrow(/solvers\[0\]: .*unknown solver 'nope'/);
    // A network-like wrapper of the mixture (not a GaussianMixture, no denoise64) has no float64 twin.
    const wrapped = { predict: gmm.predict.bind(gmm), sampleShape: gmm.sampleShape, name: 'wrapped' };
    await expect(evaluate({ model: wrapped, info: { ...info, kind: 'onnx' }, solvers: ['euler'], steps: [4], n: 4, referenceOptions: { precision: 'float64' } })).rejects.toThrow(
      /referenceOptions\.precision: 'float64' needs an exact model/,
    );
  });
});

describe('evaluate on an exact image model (200 digits)', () => {
  it('image metrics, PSNR, the float32 reference with its float64 cross-check', async () => {
    const ds = loadEmbeddedDataset('digits', 200);
    const model = new TsEmpiricalDenoiser(ds.images, ds.shape, { name: 'data:digits:200' });
    const res = await evaluate({
      model,
      info: { name: 'data:digits:200', kind: 'data', defaultSchedule: 'edm' },
      solvers: ['euler', 'heun'],
      steps: [6, 12],
      n: 24,
      seed: 1,
      images: ds.images,
    });
    expect(res.reference.precision).toBe('float32');
    expect(res.reference.convergence.ok).toBe(true);
    expect(res.reference.crossCheck!.samples).toBe(4);
    expect(res.reference.crossCheck!.maxRelDiff).toBeLessThan(1e-6);
    // The exact ODE ends on training images.
    expect(res.reference.metrics.nn_rms_mean).toBeLessThan(1e-6);
    for (const r of res.records) {
      expect(r.psnr).toBeCloseTo(20 * Math.log10(2 / r.rmse!), 10);
      for (const k of ['nn_rms_mean', 'nn_rms_median', 'fd_rp64', 'kid_rp64'] as const) expect(Number.isFinite(r[k])).toBe(true);
    }
    const he = byName(res.records, 'heun');
    expect(he[1].rmse!).toBeLessThan(he[0].rmse!);
  });
});
