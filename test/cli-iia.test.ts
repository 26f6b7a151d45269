// IIA from the CLI: iia calibrate -> coefficient file -> iia sample --coeffs; checks against the run; the cache;
// IIA solvers inside iia eval (calibrated on another seed).
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { iia, readNpy, tempDir } from './cli-helpers.js';

const dir = tempDir('iia-cli-iia-');
const cache = join(dir, 'cache');
const env = { IIA_CACHE_DIR: cache };
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('iia calibrate and iia sample --coeffs', () => {
  const coeffs = join(dir, 'c.json');

  it('calibrate prints the residual table and writes a file that sample accepts', async () => {
    const c = await iia(['calibrate', '--model', 'gmm:gmm-64d', '--solver', 'iia-edm', '--nfe', '11', '--seed', '3', '--out', coeffs]);
    expect(c.stderr).toBe('');
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/iia-edm on gmm:gmm-64d: 6 steps, 11 NFE, M 3, r 1, \|B\| 200 \(out-of-fold: 2-fold cross-validation on it\), 14 held-out noises for the whole-run check, seed 3/);
    expect(c.stdout).toMatch(/calib before/);
    const file = JSON.parse(readFileSync(coeffs, 'utf8'));
    expect(file.coefficients).toHaveLength(6);
    const out = join(dir, 's.npy');
    const s = await iia(['sample', '--model', 'gmm:gmm-64d', '--solver', 'iia-edm', '--nfe', '11', '--coeffs', coeffs, '--n', '8', '--out', out, '--json']);
    expect(s.code).toBe(0);
    expect(JSON.parse(s.stdout).nfe).toBe(11);
    const base = join(dir, 'b.npy');
    await iia(['sample', '--model', 'gmm:gmm-64d', '--solver', 'heun', '--nfe', '11', '--n', '8', '--out', base, '--json']);
    expect(Array.from(readNpy(out).data)).not.toEqual(Array.from(readNpy(base).data));
  });

  it('refuses coefficients made for another run, naming the field; --force warns and goes on', async () => {
    const other = await iia(['sample', '--model', 'gmm:gmm-64d', '--solver', 'iia-edm', '--nfe', '11', '--rho', '5', '--coeffs', coeffs, '--n', '2']);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/field grid.*in the file but/);
    const forced = await iia(['sample', '--model', 'gmm:gmm-64d', '--solver', 'iia-edm', '--nfe', '11', '--rho', '5', '--coeffs', coeffs, '--force', '--n', '2']);
    expect(forced.code).toBe(0);
    expect(forced.stderr).toMatch(/warning: .*grid.*--force/);
    const model = await iia(['sample', '--model', 'gmm:gmm-2d', '--solver', 'iia-edm', '--nfe', '11', '--coeffs', coeffs, '--n', '2']);
    expect(model.stderr).toMatch(/field model\.fingerprint/);
    const steps = await iia(['sample', '--model', 'gmm:gmm-64d', '--solver', 'iia-edm', '--nfe', '13', '--coeffs', coeffs, '--force', '--n', '2']);
    expect(steps.code).toBe(1);
    expect(steps.stderr).toMatch(/field steps is 6 in the file but 7/);
  });

  it('a truncated or hand-broken file is a clear error, not a crash', async () => {
    const text = readFileSync(coeffs, 'utf8');
    const cut = join(dir, 'cut.json');
    writeFileSync(cut, text.slice(0, text.length / 2));
    const r = await iia(['sample', '--model', 'gmm:gmm-64d', '--solver', 'iia-edm', '--nfe', '11', '--coeffs', cut, '--n', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cut\.json.*not valid JSON.*truncated/);
    const broken = join(dir, 'broken.json');
    const j = JSON.parse(text);
    j.coefficients[2].values = ['x'];
    writeFileSync(broken, JSON.stringify(j));
    const b = await iia(['sample', '--model', 'gmm:gmm-64d', '--solver', 'iia-edm', '--nfe', '11', '--coeffs', broken, '--n', '2']);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/broken\.json.*coefficients\[2\]\.values/);
  });

  it('without --coeffs it calibrates once and then uses the cache', async () => {
    const args = ['sample', '--model', 'gmm:gmm-2d', '--solver', 'iia-ddim', '--steps', '6', '--n', '4'];
    const first = await iia(args, { env });
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/calibrating iia-ddim for this run \(seed 1\)/);
    expect(readdirSync(cache).filter((f) => f.startsWith('iia-ddim-'))).toHaveLength(1);
    const second = await iia(args, { env });
    expect(second.stderr).toMatch(/using cached IIA coefficients/);
  });
});

describe('IIA in iia eval', () => {
  it('calibrates on seed + 1 and beats its base at NFE 11 on the GMM', async () => {
    const r = await iia(['eval', '--model', 'gmm:gmm-64d', '--solvers', 'heun,iia-edm', '--nfe', '11', '--n', '64', '--json']);
    expect(r.code).toBe(0);
    const recs = JSON.parse(r.stdout) as { solver: string; median_error: number; calibration_seed: number | null; nfe: number }[];
    const heun = recs.find((x) => x.solver === 'heun')!;
    const iiaEdm = recs.find((x) => x.solver === 'iia-edm')!;
    expect(heun.calibration_seed).toBeNull();
    expect(iiaEdm.calibration_seed).toBe(1);
    expect(iiaEdm.nfe).toBe(heun.nfe);
    expect(iiaEdm.median_error).toBeLessThan(heun.median_error / 3);
  });
});
