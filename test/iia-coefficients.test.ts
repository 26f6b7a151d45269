// Coefficient files: round trip, every field checked against the run (a mismatch names the field; force turns it
// into a warning), clear errors for truncated or hand-broken files, model fingerprints (SHA-256), and the IIA
// solver's own checks of the coefficients it is given.
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeGrid } from '../src/grids/index.js';
import {
  calibrate,
  checkCoefficients,
  CoefficientMismatchError,
  getIiaVariant,
  makeIiaSolver,
  modelFingerprint,
  parseCoefficients,
  serializeCoefficients,
  sha256Hex,
  sha256HexOfString,
  type CoefficientSet,
  type RunDescription,
} from '../src/iia/index.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { loadModel } from '../src/models/registry.js';
import { sample } from '../src/sample.js';
import { makeSchedule } from '../src/schedules/index.js';

const edm = makeSchedule('edm');
const grid = makeGrid(edm, { kind: 'karras', steps: 5 });
const FP = modelFingerprint('gmm:gmm-64d');
let gmm: Denoiser;
let set: CoefficientSet;
let text: string;
let run: RunDescription;

beforeAll(async () => {
  gmm = (await loadModel('gmm:gmm-64d')).denoiser;
  set = await calibrate({ model: gmm, variant: 'iia-edm', grid, schedule: edm, batch: 24, heldOut: 12, seed: 9, modelName: 'gmm:gmm-64d', fingerprint: FP });
  text = serializeCoefficients(set);
  run = { solver: 'iia-edm', baseOptions: {}, schedule: 'edm', grid, steps: 5, nfe: 9, modelFingerprint: FP, M: 3, r: 1, batch: 24, seed: 9 };
});

const edit = (f: (j: any) => void): string => {
  const j = JSON.parse(text);
  f(j);
  return JSON.stringify(j);
};

describe('round trip and checks against the run', () => {
  it('parses back to the same set, and the run it was made for passes', () => {
    const back = parseCoefficients(text, 'c.json');
    expect(back).toEqual(set);
    expect(checkCoefficients(back, run, { file: 'c.json' })).toEqual([]);
    expect(back.coefficients[2].residual.heldOut).not.toBeNull();
    expect(back.cost.ratio).toBeGreaterThan(0);
  });

  const cases: [string, Partial<RunDescription>, string][] = [
    ['solver', { solver: 'biia-edm' }, 'solver'],
    ['base options', { baseOptions: { lastStep: 'heun' } }, 'baseOptions'],
    ['schedule', { schedule: 've' }, 'schedule'],
    ['one grid sigma', { grid: grid.map((p, i) => (i === 3 ? { ...p, sigma: p.sigma * 1.001 } : p)) }, 'grid[3].sigma'],
    ['one grid t', { grid: grid.map((p, i) => (i === 1 ? { ...p, t: p.t + 1 } : p)) }, 'grid[1].t'],
    ['nfe', { nfe: 11 }, 'nfe'],
    ['model', { modelFingerprint: modelFingerprint('gmm:gmm-2d') }, 'model.fingerprint'],
    ['M', { M: 10 }, 'M'],
    ['r', { r: 2 }, 'r'],
    ['batch', { batch: 200 }, 'batch'],
    ['seed', { seed: 1 }, 'seed'],
    ['conditions', { conditions: [0, 1] }, 'conditions'],
  ];
  for (const [what, change, field] of cases) {
    it(`a different ${what} is an error naming '${field}', a warning with force`, () => {
      const r = { ...run, ...change };
      let err: unknown;
      try {
        checkCoefficients(set, r, { file: 'c.json' });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CoefficientMismatchError);
      expect((err as CoefficientMismatchError).field).toBe(field);
      expect((err as Error).message).toContain(`coefficients file 'c.json': field ${field} is `);
      expect((err as Error).message).toMatch(/--force/);
      const warnings = checkCoefficients(set, r, { file: 'c.json', force: true });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(new RegExp(`^warning: .*field ${field.replace(/[[\].]/g, '\\$&')} is .*--force`));
    });
  }

  it('a different number of steps cannot be forced', () => {
    const other = makeGrid(edm, { kind: 'karras', steps: 6 });
    expect(() => checkCoefficients(set, { ...run, steps: 6 }, { force: true })).toThrow(/field steps is 5 in the file but 6 in this run; calibrate for this run$/);
    expect(() => checkCoefficients(set, { ...run, grid: other }, { force: true })).toThrow(/field grid is/);
    expect(() => makeIiaSolver(getIiaVariant('iia-edm'), set).check!(other, edm)).toThrow(/the coefficients have 5 steps, the grid has 6/);
  });
});

describe('broken files', () => {
  it('a truncated or empty file is a clear error, not a crash', () => {
    expect(() => parseCoefficients(text.slice(0, Math.floor(text.length / 2)), 'c.json')).toThrow(
      /^coefficients file 'c.json': it is not valid JSON \(.*\); the file may be truncated or hand-edited/,
    );
    expect(() => parseCoefficients('', 'c.json')).toThrow(/coefficients file 'c.json': it is empty/);
    expect(() => parseCoefficients('[1, 2]', 'c.json')).toThrow(/coefficients file 'c.json': field \(top level\): expected a JSON object/);
  });

  const broken: [string, (j: any) => void, RegExp][] = [
    ['values of one step too short', (j) => j.coefficients[2].values.pop(), /field coefficients\[2\]\.values: expected 3 values \(one per name\), got 2/],
    ['a value that is not a number', (j) => (j.coefficients[1].values[0] = 'x'), /field coefficients\[1\]\.values\[0\]: expected a finite number/],
    ['a missing grid', (j) => delete j.grid, /field grid: expected an array of grid points/],
    ['M as a string', (j) => (j.M = '3'), /field M: expected an integer/],
    ['a bad fingerprint', (j) => (j.model.fingerprint = 'md5:abc'), /field model\.fingerprint: expected 'sha256:' and 64 hex digits/],
    ['a step count that does not fit the grid', (j) => (j.steps = 4), /field grid: expected steps \+ 1 = 5 points, got 6/],
    ['a step whose sigmas are not the grid\'s', (j) => (j.coefficients[3].sigma = 1), /field coefficients\[3\]\.sigma: expected the grid's sigmas/],
    ['another format', (j) => (j.format = 'something'), /field format: expected 'iia-coefficients'/],
    ['an older schema version', (j) => (j.schemaVersion = 0), /field schemaVersion: expected 1 or 2/],
    ['a newer schema version', (j) => (j.schemaVersion = 7), /field schemaVersion is 7, newer than this version of iia-diffusion reads \(2\)/],
  ];
  for (const [what, f, re] of broken) {
    it(`${what}: names the file and the field`, () => {
      expect(() => parseCoefficients(edit(f), 'c.json')).toThrow(/^coefficients file 'c.json': /);
      expect(() => parseCoefficients(edit(f), 'c.json')).toThrow(re);
    });
  }

  it('a schema 1 file (before cross-validation) still loads', () => {
    expect(parseCoefficients(edit((j) => (j.schemaVersion = 1)), 'c.json').schemaVersion).toBe(1);
  });
});

describe('model fingerprints', () => {
  it('SHA-256 of the spec, or of the model bytes', () => {
    expect(sha256HexOfString('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256HexOfString('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    for (const n of [1, 55, 56, 63, 64, 65, 1000, 70001]) {
      const b = Uint8Array.from({ length: n + 3 }, (_, i) => (i * 131 + 7) & 255).subarray(3);
      expect(sha256Hex(b)).toBe(createHash('sha256').update(b).digest('hex'));
    }
    expect(modelFingerprint('gmm:gmm-64d')).toBe(`sha256:${createHash('sha256').update('gmm:gmm-64d').digest('hex')}`);
    const bytes = new Uint8Array([1, 2, 3]);
    expect(modelFingerprint('ignored', bytes)).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  });
});

describe('the IIA solver with a coefficient set', () => {
  it('samples the same with the parsed file as with the set in memory', async () => {
    const v = getIiaVariant('iia-edm');
    const a = await sample({ model: gmm, solver: makeIiaSolver(v, set), grid, schedule: edm, n: 4, seed: 3 });
    const b = await sample({ model: gmm, solver: makeIiaSolver(v), grid, schedule: edm, n: 4, seed: 3, solverOptions: { coefficients: parseCoefficients(text, 'c.json') } });
    expect(b.samples.data).toEqual(a.samples.data);
    expect(a.nfe).toBe(9);
  });

  it('refuses coefficients of another solver, or made with another r', async () => {
    await expect(sample({ model: gmm, solver: makeIiaSolver(getIiaVariant('biia-edm'), set), grid, schedule: edm, n: 2 })).rejects.toThrow(
      /solver biia-edm: the coefficients are for solver 'iia-edm'; expected 'biia-edm'/,
    );
    await expect(sample({ model: gmm, solver: makeIiaSolver(getIiaVariant('iia-edm'), set), grid, schedule: edm, n: 2, solverOptions: { r: 0 } })).rejects.toThrow(
      /solver iia-edm: coefficients\[1\]\.names are \[beta0, beta1, gamma1\] but step 1 has directions \[beta0, beta1\]/,
    );
    const bad = edit((j) => (j.coefficients[0].values[0] = 1e400));
    expect(() => parseCoefficients(bad, 'c.json')).toThrow(/coefficients\[0\]\.values\[0\]/);
  });
});
