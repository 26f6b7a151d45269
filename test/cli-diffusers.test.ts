// `iia sample --scheduler-config`, solver-option aliases and ONNX models through the CLI.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { normalBatch } from '../src/core/rng.js';
import { planFromSchedulerConfig } from '../src/diffusers/index.js';
import { loadModel } from '../src/models/registry.js';
import { sample } from '../src/sample.js';
import { getSolver } from '../src/solvers/index.js';
import { iia, readNpy, tempDir, writeNpy } from './cli-helpers.js';

const dir = tempDir('iia-cli-diffusers-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DDIM = {
  _class_name: 'DDIMScheduler',
  num_train_timesteps: 1000,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  beta_end: 0.012,
  prediction_type: 'epsilon',
  timestep_spacing: 'leading',
  steps_offset: 1,
  clip_sample: false,
  set_alpha_to_one: false,
};
const DPM = { _class_name: 'DPMSolverMultistepScheduler', num_train_timesteps: 1000, beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 };
const ddimFile = join(dir, 'ddim.json');
const dpmFile = join(dir, 'dpm.json');
writeFileSync(ddimFile, JSON.stringify(DDIM));
writeFileSync(dpmFile, JSON.stringify(DPM));

describe('--scheduler-config', () => {
  it('runs the plan of the config: the same numbers as the library call', async () => {
    const X = join(dir, 'X.npy');
    const x = normalBatch(3, 0, 8, 2, 1);
    writeNpy(X, x, [8, 2]);
    const out = join(dir, 'ddim.npy');
    const r = await iia(['sample', '--model', 'gmm:gmm-2d', '--scheduler-config', ddimFile, '--steps', '10', '--noise', X, '--out', out, '--json']);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ solver: 'ddim', schedule: 'vp-discrete', steps: 10, nfe: 10, n: 8 });
    const plan = planFromSchedulerConfig(DDIM, 'ddim.json', 10);
    const { denoiser } = await loadModel('gmm:gmm-2d');
    const lib = await sample({
      model: denoiser,
      solver: getSolver(plan.solver),
      grid: plan.grid,
      schedule: plan.schedule,
      solverOptions: plan.solverOptions,
      x0Transform: plan.x0Transform,
      stateScaling: plan.stateScaling,
      noise: { data: x, shape: [8, 2] },
    });
    expect(Array.from(readNpy(out).data)).toEqual(Array.from(lib.samples.data));
  });

  it('draws the default initial state as diffusers does (x_T = z for alpha-scaled schedulers)', async () => {
    const a = join(dir, 'default.npy'), b = join(dir, 'given.npy'), X = join(dir, 'Z.npy');
    writeNpy(X, normalBatch(9, 0, 5, 2, 1), [5, 2]);
    expect((await iia(['sample', '--model', 'gmm:gmm-2d', '--scheduler-config', ddimFile, '--steps', '4', '--n', '5', '--seed', '9', '--out', a])).code).toBe(0);
    expect((await iia(['sample', '--model', 'gmm:gmm-2d', '--scheduler-config', ddimFile, '--steps', '4', '--noise', X, '--out', b])).code).toBe(0);
    const da = readNpy(a).data, db = readNpy(b).data;
    da.forEach((v, i) => expect(Math.abs(v - db[i])).toBeLessThan(1e-5 * Math.max(1, Math.abs(db[i]))));
  });

  it('--nfe picks the step count for the config\'s solver; --solver replaces it on the config\'s grid', async () => {
    const r = await iia(['sample', '--model', 'gmm:gmm-2d', '--scheduler-config', dpmFile, '--nfe', '10', '--n', '2', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ solver: 'dpm-solver++2m', steps: 10, nfe: 10 });
    const h = await iia(['sample', '--model', 'gmm:gmm-2d', '--scheduler-config', dpmFile, '--nfe', '10', '--solver', 'heun', '--n', '2', '--json']);
    expect(JSON.parse(h.stdout)).toMatchObject({ solver: 'heun', steps: 5, nfe: 9 });
  });

  it('refuses grid and schedule flags next to it, and names bad configs', async () => {
    const r = await iia(['sample', '--model', 'gmm:gmm-2d', '--scheduler-config', dpmFile, '--steps', '4', '--grid', 'karras']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^iia: --grid: not with --scheduler-config/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ _class_name: 'FooScheduler' }));
    const b = await iia(['sample', '--model', 'gmm:gmm-2d', '--scheduler-config', bad, '--steps', '4']);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(new RegExp(`^iia: ${bad}: field '_class_name': 'FooScheduler' is not supported`));
    const notJson = join(dir, 'not.json');
    writeFileSync(notJson, '{');
    const c = await iia(['sample', '--model', 'gmm:gmm-2d', '--scheduler-config', notJson, '--steps', '4']);
    expect(c.stderr).toMatch(new RegExp(`^iia: ${notJson}: json: expected valid JSON`));
  });
});

describe('solver options', () => {
  it('--eta is --option eta=...; stochastic runs are reproducible from --seed', async () => {
    const base = ['sample', '--model', 'gmm:gmm-2d', '--solver', 'ddim', '--steps', '5', '--n', '4'];
    const run = async (extra: string[]) => {
      const out = join(dir, `eta-${extra.join('_')}.npy`);
      const r = await iia([...base, ...extra, '--out', out]);
      expect(r.stderr).toBe('');
      return Array.from(readNpy(out).data);
    };
    const e1 = await run(['--eta', '1']);
    expect(await run(['--option', 'eta=1'])).toEqual(e1);
    expect(await run(['-o', 'eta=1'])).toEqual(e1);
    expect(await run(['--eta', '0'])).not.toEqual(e1);
    expect(await run(['--eta', '1', '--seed', '1'])).not.toEqual(e1);
  });
});

describe('ONNX models', () => {
  const unet = fileURLToPath(new URL('./fixtures/models/dummy-unet.onnx', import.meta.url));
  it('a symbolic input shape needs --shape; then PNG grids work', async () => {
    const r = await iia(['sample', '--model', unet, '--solver', 'ddim', '--steps', '2', '--n', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^iia: --model: .*symbolic/);
    const out = join(dir, 'unet.png');
    const ok = await iia(['sample', '--model', `onnx:${unet}`, '--shape', '3,8,8', '--solver', 'ddim', '--steps', '2', '--n', '5', '--out', out, '--json']);
    expect(ok.stderr).toBe('');
    expect(JSON.parse(ok.stdout)).toMatchObject({ schedule: 'vp-discrete', steps: 2, nfe: 2, n: 5 });
    const png = PNG.sync.read(readFileSync(out));
    expect([png.width, png.height]).toEqual([3 * 8 + 2 * 2, 2 * 8 + 2]);
    const bad = await iia(['sample', '--model', unet, '--shape', '3,x', '--solver', 'ddim', '--steps', '2']);
    expect(bad.stderr).toBe("iia: --shape: expected positive integers separated by commas, like 3,32,32, got '3,x'\n");
  });
});
