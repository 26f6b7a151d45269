// ML-EM inside evaluate() / `iia eval` (src/mlem/eval.ts): the hierarchy of the evaluated MLP's data set, the cost in
// finest-level evaluations, the error against the evaluation's reference, and the error for models without levels.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { normalBatch } from '../src/core/rng.js';
import { evaluate, type EvalRecord } from '../src/eval/evaluate.js';
import { mlemEvalHooks } from '../src/mlem/eval.js';
import { mlEm } from '../src/mlem/ml-em.js';
import { createGmmDenoiser } from '../src/models/gmm.js';
import { loadModel, type LoadedModel } from '../src/models/registry.js';
import { AbortError } from '../src/sample.js';
import { iia } from './cli-helpers.js';

const loaded: LoadedModel[] = [];
afterAll(async () => {
  for (const m of loaded) await m.denoiser.dispose?.();
});
async function mlp(spec: string): Promise<LoadedModel> {
  const m = await loadModel(spec);
  loaded.push(m);
  return m;
}

const of = (records: EvalRecord[], solver: string) => records.filter((r) => r.solver === solver).sort((a, b) => a.nfe - b.nfe);

describe('ml-em in evaluate()', () => {
  it('on mlp:digits:512: levels 32..512, nfe = expected finest-level evaluations within the budget, error falls with the budget', async () => {
    const { denoiser, info } = await mlp('mlp:digits:512');
    const ml = mlemEvalHooks({ modelName: info.name });
    try {
      const res = await evaluate({
        model: denoiser,
        info,
        solvers: ['ml-em', 'euler', { name: 'ml-em', options: { budget: 0.5 }, label: 'ml-em/2' }, { name: 'ml-em', options: { eta: 1 }, label: 'ml-em sde' }],
        nfe: [4, 16],
        n: 32,
        resolveSolver: ml.resolveSolver,
        prepare: ml.prepare,
      });
      const [m4, m16] = of(res.records, 'ml-em');
      // Budget 1 (the default): Euler's grid at Euler's expected cost.
      expect([m4.steps, m16.steps]).toEqual([4, 16]);
      for (const [r, budget] of [[m4, 4], [m16, 16]] as const) {
        expect(r).toMatchObject({ nfe_budget: budget, nfe_unit: 'finest-level evaluations (expected, per sample)', mlem_widths: [32, 64, 128, 256, 512], mlem_eta: 0, stochastic: false, calibration_seed: null });
        expect(r.nfe).toBeLessThanOrEqual(budget);
        expect(r.nfe).toBeGreaterThan(budget * 0.999);
        // The realised coins cost about the expected amount; the finest level ran at fewer steps than Euler's.
        expect(Math.abs((r.nfe_realised as number) - budget)).toBeLessThan(0.25 * budget);
        expect((r.mlem_level_evaluations as number[])[4]).toBeLessThan(budget);
        expect(Number.isFinite(r.rmse)).toBe(true);
      }
      expect(m16.rmse!).toBeLessThan(m4.rmse! * 0.6);
      // Half the budget: twice the steps for the same NFE.
      expect(of(res.records, 'ml-em/2').map((r) => r.steps)).toEqual([8, 32]);
      // eta = 1 is a stochastic run: no pathwise error, as for any stochastic solver.
      const sde = of(res.records, 'ml-em sde');
      expect(sde.map((r) => [r.stochastic, r.rmse])).toEqual([[true, null], [true, null]]);
    } finally {
      await ml.dispose();
    }
  });

  it('with one level at the full budget it is Euler on the same noise (grid, noise and scaling conventions agree)', async () => {
    const { denoiser, info } = await mlp('mlp:digits:32');
    const ml = mlemEvalHooks({ modelName: info.name });
    const noise = { data: normalBatch(5, 0, 8, 64, 80, 0), shape: [8, 1, 8, 8] };
    try {
      const res = await evaluate({ model: denoiser, info, solvers: ['ml-em', 'euler'], steps: [6], n: 8, noise, resolveSolver: ml.resolveSolver, prepare: ml.prepare });
      const [m, e] = [of(res.records, 'ml-em')[0], of(res.records, 'euler')[0]];
      expect(m.mlem_widths).toEqual([32]);
      expect(e.rmse!).toBeGreaterThan(1e-3);
      expect(Math.abs(m.rmse! - e.rmse!)).toBeLessThan(1e-4 * e.rmse!);
    } finally {
      await ml.dispose();
    }
  });

  it('an aborted signal stops the run between steps (AbortError, as sample())', async () => {
    const { denoiser } = await mlp('mlp:digits:32');
    const ac = new AbortController();
    ac.abort();
    const grid = [80, 1, 0].map((sigma) => ({ sigma, t: sigma, alpha: 1 }));
    await expect(mlEm({ levels: [{ denoiser, cost: 1 }], grid, n: 2, signal: ac.signal })).rejects.toBeInstanceOf(AbortError);
  });

  it('refuses a model outside a shipped hierarchy before any run, and says how without the hooks', async () => {
    const gmm = createGmmDenoiser(JSON.parse(readFileSync(new URL('../examples/gmm-2d.json', import.meta.url), 'utf8')), 'gmm-2d.json', 'gmm:gmm-2d');
    const info = { name: 'gmm:gmm-2d', kind: 'gmm', defaultSchedule: 'edm' as const };
    const ml = mlemEvalHooks({ modelName: info.name });
    await expect(evaluate({ model: gmm, info, solvers: ['euler', 'ml-em'], steps: [4], n: 4, resolveSolver: ml.resolveSolver, prepare: ml.prepare })).rejects.toThrow(
      /solvers\[1\]: ml-em needs a hierarchy of trained levels: use mlp:DATA:W as the model .*got 'gmm:gmm-2d'/,
    );
    await expect(evaluate({ model: gmm, info, solvers: ['ml-em'], steps: [4], n: 4 })).rejects.toThrow(/unknown solver 'ml-em'.*mlemEvalHooks/);
    await ml.dispose();
  });
});

describe('iia eval --solvers ml-em', () => {
  it('runs next to euler on mlp:digits:512, with its cost unit in the records and the table', async () => {
    const j = await iia(['eval', '--model', 'mlp:digits:512', '--solvers', 'ml-em,euler,ml-em:budget=0.5', '--nfe', '4,8', '--n', '16', '--json']);
    expect(j.code).toBe(0);
    const recs = JSON.parse(j.stdout) as EvalRecord[];
    expect(recs.map((r) => `${r.solver}:${r.steps}`)).toEqual(['ml-em:4', 'ml-em:8', 'euler:4', 'euler:8', 'ml-em:budget=0.5:8', 'ml-em:budget=0.5:16']);
    const ml = recs.filter((r) => r.solver.startsWith('ml-em'));
    for (const r of ml) {
      expect(r.nfe_unit).toMatch(/finest-level evaluations/);
      expect(r.nfe).toBeLessThanOrEqual(r.nfe_budget as number);
      expect(Number.isFinite(r.rmse)).toBe(true);
    }
    expect(ml[2].options).toEqual({ budget: 0.5 });
    const t = await iia(['eval', '--model', 'mlp:digits:512', '--solvers', 'ml-em', '--steps', '4', '--n', '8']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/\nml-em\s+4\s+4\.00\s/);
    expect(t.stdout).toMatch(/ml-em: levels 32, 64, 128, 256, 512 of mlp:digits .*nfe = expected cost per sample in evaluations of the finest level/);
  });

  it('names --model when the model has no levels (exit 1), and bad ml-em options', async () => {
    const r = await iia(['eval', '--model', 'gmm:gmm-2d', '--solvers', 'euler,ml-em', '--nfe', '4', '--n', '4']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^iia: --model: ml-em needs a hierarchy of trained levels: use mlp:DATA:W as the model \(the shipped MLPs of DATA up to width W are the levels.*got 'gmm:gmm-2d'\n$/);
    const w = await iia(['eval', '--model', 'mlp:digits:48', '--solvers', 'ml-em', '--steps', '4', '--n', '4']);
    expect(w.code).toBe(1);
    expect(w.stderr).toMatch(/--model: .*no shipped width 48 for 'digits' \(shipped: 32, 64, 128, 256, 512\)/);
    const o = await iia(['eval', '--model', 'mlp:digits:64', '--solvers', 'ml-em:speed=2', '--steps', '4', '--n', '4']);
    expect(o.code).toBe(1);
    expect(o.stderr).toMatch(/ml-em: unknown option 'speed'; expected eta, budget, coarsest, coupling/);
    const b = await iia(['eval', '--model', 'mlp:digits:64', '--solvers', 'ml-em:budget', '--steps', '4', '--n', '4']);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/--solvers: expected key=value/);
  });
});
