// `iia eval` from the CLI: records against the reference, --json, --nfe budgets, --out, and errors.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { iia, tempDir } from './cli-helpers.js';

const dir = tempDir('iia-cli-eval-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('iia eval', () => {
  it('prints the reference check and a table; --json gives records whose error falls with steps', async () => {
    const table = await iia(['eval', '--model', 'gmm:gmm-2d', '--solvers', 'euler,heun', '--steps', '4,16', '--n', '64']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/reference: dop853, float64, \d+ evaluations per sample.*\(ok, <= 1e-6\)/);
    expect(table.stdout).toMatch(/heun\s+16\s+31/);
    const r = await iia(['eval', '--model', 'gmm:gmm-2d', '--solvers', 'euler,heun', '--steps', '4,16', '--n', '64', '--json']);
    const recs = JSON.parse(r.stdout) as { solver: string; steps: number; nfe: number; rmse: number; median_error: number }[];
    expect(recs.map((x) => `${x.solver}:${x.steps}:${x.nfe}`)).toEqual(['euler:4:4', 'euler:16:16', 'heun:4:7', 'heun:16:31']);
    const e = (s: string, k: number) => recs.find((x) => x.solver === s && x.steps === k)!;
    expect(e('euler', 16).rmse).toBeLessThan(e('euler', 4).rmse);
    expect(e('heun', 16).median_error).toBeLessThan(e('euler', 16).median_error);
  });

  it('--nfe picks each solver\'s steps within the budget; --out writes the full result', async () => {
    const out = join(dir, 'eval.json');
    const r = await iia(['eval', '--model', 'gmm:gmm-2d', '--solvers', 'heun,dpm-solver++2m', '--nfe', '9', '--n', '16', '--json', '--out', out]);
    expect(r.code).toBe(0);
    const recs = JSON.parse(r.stdout) as { solver: string; steps: number; nfe: number }[];
    expect(recs.map((x) => [x.solver, x.steps, x.nfe])).toEqual([['heun', 5, 9], ['dpm-solver++2m', 9, 9]]);
    const full = JSON.parse(readFileSync(out, 'utf8'));
    expect(full.reference.convergence.ok).toBe(true);
    expect(full.records).toHaveLength(2);
  });

  it('names bad flags', async () => {
    expect((await iia(['eval', '--model', 'gmm:gmm-2d', '--solvers', 'euler', '--n', '4'])).stderr).toMatch(/--steps: give exactly one of/);
    expect((await iia(['eval', '--model', 'gmm:gmm-2d', '--solvers', 'eulr', '--steps', '2', '--n', '4'])).stderr).toMatch(/unknown solver 'eulr'/);
    expect((await iia(['eval', '--model', 'gmm:gmm-2d', '--solvers', 'euler', '--steps', '2,x'])).stderr).toMatch(/--steps/);
  });
});

describe('iia eval on a class-conditional exact model', () => {
  it('data:NAME@CLASS: the class\'s images are the metrics\' training set and the float64 twin (same endpoints)', async () => {
    const out = join(dir, 'cond.json');
    const r = await iia(['eval', '--model', 'data:digits@3', '--solvers', 'euler', '--steps', '4', '--n', '6', '--json', '--out', out]);
    expect(r.code).toBe(0);
    const rec = JSON.parse(r.stdout)[0] as { nn_rms_mean: number };
    expect(Number.isFinite(rec.nn_rms_mean)).toBe(true);
    const full = JSON.parse(readFileSync(out, 'utf8'));
    expect(full.reference.crossCheck.maxRelDiff).toBeLessThan(1e-4);
    const f64 = await iia(['eval', '--model', 'data:digits@3', '--solvers', 'euler', '--steps', '4', '--n', '6', '--precision', 'float64', '--json']);
    expect(f64.code).toBe(0);
  });
});

describe('iia eval on network models', () => {
  it('runs on a shipped ONNX network (mlp:) and on a raw onnx: file with --prediction and --shape', async () => {
    const mlp = await iia(['eval', '--model', 'mlp:digits:64', '--solvers', 'euler,heun', '--steps', '3,6', '--n', '8', '--json']);
    expect(mlp.code).toBe(0);
    const recs = JSON.parse(mlp.stdout) as { solver: string; steps: number; rmse: number; nn_rms_mean?: number; fd_rp64?: number }[];
    expect(recs).toHaveLength(4);
    // The images the MLP was trained on (its card's data set) give the distribution metrics.
    for (const r of recs) expect(Number.isFinite(r.nn_rms_mean) && Number.isFinite(r.fd_rp64)).toBe(true);
    expect(recs.find((r) => r.solver === 'euler' && r.steps === 6)!.rmse).toBeLessThan(recs.find((r) => r.solver === 'euler' && r.steps === 3)!.rmse);
    // ... but they do not replace the network as the reference's field: there is no float64 twin to ask for.
    const f64 = await iia(['eval', '--model', 'mlp:digits:64', '--solvers', 'euler', '--steps', '3', '--n', '4', '--precision', 'float64']);
    expect(f64.code).not.toBe(0);
    expect(f64.stderr).toMatch(/'float64' needs an exact model.*mlp:digits:64 evaluates in float32/);
    const raw = await iia(['eval', '--model', 'onnx:test/fixtures/models/dummy-unet.onnx', '--shape', '3,8,8', '--solvers', 'ddim', '--steps', '5', '--n', '4', '--json']);
    expect(raw.code).toBe(0);
    expect(JSON.parse(raw.stdout)[0].nfe).toBe(5);
  });
});
