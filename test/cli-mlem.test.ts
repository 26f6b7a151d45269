// The shipped trained MLPs from the CLI: `mlp:DATA:W` as an ordinary model, and `iia mlem` over their hierarchy.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { iia, readNpy, tempDir } from './cli-helpers.js';

const dir = tempDir('iia-cli-mlem-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('trained MLP models', () => {
  it('mlp:digits:128 samples with any solver, IIA included', async () => {
    const out = join(dir, 'm.npy');
    const r = await iia(['sample', '--model', 'mlp:digits:128', '--solver', 'iia-ddim', '--steps', '6', '--n', '8', '--out', out, '--json'], { env: { IIA_CACHE_DIR: join(dir, 'cache') } });
    expect(r.code).toBe(0);
    const y = readNpy(out);
    expect(y.shape).toEqual([8, 1, 8, 8]);
    expect(y.data.every((v) => Number.isFinite(v))).toBe(true);
  });

  it('iia mlem reports the cost in finest-level evaluations; a budget calls the finest level less', async () => {
    const full = await iia(['mlem', '--levels', 'mlp:digits:32,512', '--steps', '10', '--n', '16', '--json']);
    expect(full.code).toBe(0);
    const a = JSON.parse(full.stdout);
    expect(a.perLevel.map((p: { evaluationsPerSample: number }) => p.evaluationsPerSample)).toEqual([10, 10]);
    const cheap = JSON.parse((await iia(['mlem', '--levels', 'mlp:digits:32,512', '--steps', '10', '--n', '16', '--budget', '0.4', '--json'])).stdout);
    expect(cheap.perLevel[1].evaluationsPerSample).toBeLessThan(10);
    expect(cheap.finestEquivalents).toBeLessThan(a.finestEquivalents);
  });

  it('iia mlem --coarsest random --coupling independent: level 1 at a fraction of the steps, idle steps reported', async () => {
    const args = ['mlem', '--levels', 'mlp:digits:32,512', '--steps', '10', '--n', '32', '--budget', '0.05', '--json'];
    const r = await iia([...args, '--coarsest', 'random', '--coupling', 'independent']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.coarsest).toBe('random');
    expect(s.coupling).toBe('independent');
    expect(s.perLevel[0].evaluationsPerSample).toBeLessThan(10);
    expect(s.idleStepsPerSample).toBeGreaterThan(0);
    // The same budget with level 1 at every step: 10 evaluations of it per sample, no idle step.
    const fixed = JSON.parse((await iia([...args, '--coarsest', 'fixed'])).stdout);
    expect(fixed.coarsest).toBe('fixed');
    expect(fixed.perLevel[0].evaluationsPerSample).toBe(10);
    expect(fixed.idleStepsPerSample).toBe(0);
    const bad = await iia([...args, '--coarsest', 'sometimes']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--coarsest: expected one of fixed, random/);
  });

  it('bad level specs are named', async () => {
    const r = await iia(['mlem', '--levels', 'mlp:digits:33', '--steps', '4']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--levels: .*width 33/);
  });
});
