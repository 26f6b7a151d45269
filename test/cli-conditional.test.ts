// `iia sample` with conditions: --class (one, or one per sample across batches), --guidance / --guidance-scale.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/models/registry.js';
import { makeGrid } from '../src/grids/index.js';
import { makeSchedule } from '../src/schedules/index.js';
import { sample } from '../src/sample.js';
import { getSolver } from '../src/solvers/index.js';
import { iia, readNpy, tempDir } from './cli-helpers.js';

const dir = tempDir('iia-cli-cond-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('iia sample with classes and guidance', () => {
  it('--class C equals the class-conditional model data:NAME@C', async () => {
    const out = join(dir, 'c3.npy');
    const r = await iia(['sample', '--model', 'data:digits', '--class', '3', '--solver', 'heun', '--steps', '5', '--n', '6', '--out', out, '--json']);
    expect(r.code).toBe(0);
    const { denoiser } = await loadModel('data:digits@3', { backend: 'ts' });
    const schedule = makeSchedule('edm');
    const ref = await sample({ model: denoiser, solver: getSolver('heun'), grid: makeGrid(schedule, { kind: 'karras', steps: 5 }), schedule, n: 6 });
    const got = readNpy(out).data;
    let maxDiff = 0;
    for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - ref.samples.data[i]));
    expect(maxDiff).toBeLessThan(1e-4); // ONNX (CLI) vs TypeScript back-end
  });

  it('one class per sample gives the same samples whatever --batch is', async () => {
    const a = join(dir, 'a.npy'), b = join(dir, 'b.npy');
    const args = ['sample', '--model', 'data:digits', '--class', '0,1,2,3,4,5,6,7', '--solver', 'ddim', '--steps', '4', '--n', '8', '--json'];
    expect((await iia([...args, '--batch', '8', '--out', a])).code).toBe(0);
    expect((await iia([...args, '--batch', '3', '--out', b])).code).toBe(0);
    expect(Array.from(readNpy(b).data)).toEqual(Array.from(readNpy(a).data));
  });

  it('guidance doubles the network evaluations and --guidance-scale s equals --guidance s - 1', async () => {
    const w = join(dir, 'w.npy'), s = join(dir, 's.npy');
    const base = ['sample', '--model', 'data:digits', '--class', '7', '--solver', 'ddim', '--steps', '6', '--n', '4', '--json'];
    const rw = await iia([...base, '--guidance', '1.5', '--out', w]);
    const rs = await iia([...base, '--guidance-scale', '2.5', '--out', s]);
    expect(rw.code).toBe(0);
    const summary = JSON.parse(rw.stdout);
    expect(summary.nfe).toBe(6);
    expect(summary.networkEvaluations).toBe(12);
    expect(Array.from(readNpy(s).data)).toEqual(Array.from(readNpy(w).data));
  });

  it('bad conditions are one-line errors naming what was expected', async () => {
    const bad = await iia(['sample', '--model', 'data:digits', '--class', '11', '--solver', 'ddim', '--steps', '2', '--n', '2']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/class 11 is out of range; valid classes: 0, 1/);
    const both = await iia(['sample', '--model', 'data:digits', '--class', '1', '--guidance', '1', '--guidance-scale', '2', '--solver', 'ddim', '--steps', '2']);
    expect(both.stderr).toMatch(/--guidance-scale: not with --guidance/);
    const count = await iia(['sample', '--model', 'data:digits', '--class', '1,2', '--solver', 'ddim', '--steps', '2', '--n', '3']);
    expect(count.code).toBe(1);
    expect(count.stderr).toMatch(/--class/);
  });
});
