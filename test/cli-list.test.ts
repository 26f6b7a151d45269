import { describe, expect, it } from 'vitest';
import { iia } from './cli-helpers.js';

describe('iia models', () => {
  it('prints a table, and a JSON array with --json', async () => {
    const t = await iia(['models']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^name\s+kind\s+count\s+shape/);
    expect(t.stdout).toContain('gmm:gmm-2d');
    const j = await iia(['models', '--json']);
    expect(j.code).toBe(0);
    const models = JSON.parse(j.stdout);
    expect(Array.isArray(models)).toBe(true);
    for (const m of models) {
      expect(typeof m.name).toBe('string');
      expect(['gmm', 'data', 'onnx']).toContain(m.kind);
      expect(Array.isArray(m.shape)).toBe(true);
    }
    expect(models.map((m: { name: string }) => m.name)).toContain('gmm:gmm-2d');
  });
});

describe('iia solvers', () => {
  it('prints a table, and a JSON array with --json', async () => {
    const t = await iia(['solvers']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^name\s+order\s+NFE\/step\s+stochastic/);
    expect(t.stdout).toMatch(/\nheun\s+2\s+2\s+no/);
    const j = await iia(['solvers', '--json']);
    expect(j.code).toBe(0);
    const solvers = JSON.parse(j.stdout);
    expect(solvers.find((s: { name: string }) => s.name === 'heun')).toMatchObject({ name: 'heun', order: 2, nfePerStep: 2, stochastic: false });
    for (const s of solvers) {
      expect(typeof s.name).toBe('string');
      expect(typeof s.order).toBe('number');
      expect(typeof s.nfePerStep).toBe('number');
      expect(typeof s.stochastic).toBe('boolean');
    }
  });
  it('rejects unknown options with a usage error', async () => {
    expect((await iia(['solvers', '--bogus'])).code).toBe(2);
  });
});
