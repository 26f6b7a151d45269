// `iia sample` in-process: the EDM-Heun contract against a hand-written loop, --nfe, flag and file errors, PNG
// grids, atomic output, --json.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { normalBatch } from '../src/core/rng.js';
import { makeGrid } from '../src/grids/index.js';
import { loadModel } from '../src/models/registry.js';
import { sample } from '../src/sample.js';
import { makeSchedule } from '../src/schedules/index.js';
import { getSolver } from '../src/solvers/index.js';
import { iia, readNpy, tempDir, writeNpy } from './cli-helpers.js';

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GMM = { weights: [0.5, 0.3, 0.2], means: [[2, 0], [-1, 1.5], [0, -2]], stds: [0.3, 0.5, 0.2] };
const G = join(dir, 'G.json');
writeFileSync(G, JSON.stringify(GMM));
const N = 16;
const X = join(dir, 'X.npy');
const xData = normalBatch(12345, 0, N, 2, 80);
writeNpy(X, xData, [N, 2]);

/** Exact posterior mean of the isotropic mixture at noise level sigma, float64. */
function gmmDenoise(y: Float64Array, sigma: number): Float64Array {
  const D = 2, K = GMM.weights.length;
  const out = new Float64Array(y.length);
  for (let s = 0; s < y.length / D; s++) {
    const logr: number[] = [];
    for (let k = 0; k < K; k++) {
      const v = GMM.stds[k] ** 2 + sigma ** 2;
      let d2 = 0;
      for (let j = 0; j < D; j++) d2 += (y[s * D + j] - GMM.means[k][j]) ** 2;
      logr.push(Math.log(GMM.weights[k]) - (D / 2) * Math.log(v) - d2 / (2 * v));
    }
    const m = Math.max(...logr);
    const r = logr.map((l) => Math.exp(l - m));
    const z = r.reduce((a, b) => a + b, 0);
    for (let j = 0; j < D; j++) {
      let acc = 0;
      for (let k = 0; k < K; k++) {
        const v = GMM.stds[k] ** 2 + sigma ** 2;
        acc += (r[k] / z) * ((GMM.stds[k] ** 2 * y[s * D + j] + sigma ** 2 * GMM.means[k][j]) / v);
      }
      out[s * D + j] = acc;
    }
  }
  return out;
}

/** NVlabs/edm edm_sampler, deterministic, written out: Karras grid (rho 7), Heun with an Euler last step. */
function edmHeun(x0: Float32Array, steps: number, sigmaMin = 0.002, sigmaMax = 80, rho = 7): { x: Float64Array; nfe: number } {
  const t: number[] = [];
  for (let i = 0; i < steps; i++) {
    t.push((sigmaMax ** (1 / rho) + (i / (steps - 1)) * (sigmaMin ** (1 / rho) - sigmaMax ** (1 / rho))) ** rho);
  }
  t.push(0);
  let x = Float64Array.from(x0);
  let nfe = 0;
  for (let i = 0; i < steps; i++) {
    const den = gmmDenoise(x, t[i]);
    nfe++;
    const d = x.map((v, j) => (v - den[j]) / t[i]);
    let next = x.map((v, j) => v + (t[i + 1] - t[i]) * d[j]);
    if (i < steps - 1) {
      const den2 = gmmDenoise(next, t[i + 1]);
      nfe++;
      const d2 = next.map((v, j) => (v - den2[j]) / t[i + 1]);
      next = x.map((v, j) => v + (t[i + 1] - t[i]) * 0.5 * (d[j] + d2[j]));
    }
    x = next;
  }
  return { x, nfe };
}

describe('iia sample: the EDM Heun contract', () => {
  it('gmm:G.json, heun, 6 steps from X.npy = the hand-written EDM Heun loop (NFE 11)', async () => {
    const Y = join(dir, 'Y.npy');
    const r = await iia(['sample', '--model', `gmm:${G}`, '--solver', 'heun', '--steps', '6', '--noise', X, '--out', Y]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/6 steps, 11 NFE, 16 samples/);
    const y = readNpy(Y);
    expect(y.shape).toEqual([N, 2]);
    const ref = edmHeun(xData, 6);
    expect(ref.nfe).toBe(11);
    let maxErr = 0;
    for (let i = 0; i < ref.x.length; i++) maxErr = Math.max(maxErr, Math.abs(y.data[i] - ref.x[i]));
    // float32 state vs float64 reference: agreement to float32 rounding.
    expect(maxErr).toBeLessThan(2e-5 * Math.max(1, ...Array.from(ref.x, Math.abs)));
    // and the samples did move to the mixture's modes
    expect(Math.max(...Array.from(y.data, Math.abs))).toBeLessThan(5);
  });

  it('writes exactly what the library call writes (the CLI is a thin shell)', async () => {
    const Y = join(dir, 'Y2.npy');
    const r = await iia(['sample', '--model', `gmm:${G}`, '--solver', 'heun', '--steps', '6', '--noise', X, '--out', Y, '--batch', '5']);
    expect(r.code).toBe(0);
    const { denoiser } = await loadModel(`gmm:${G}`);
    const schedule = makeSchedule('edm');
    const grid = makeGrid(schedule, { kind: 'karras', steps: 6, sigmaMin: 0.002, sigmaMax: 80, rho: 7 });
    const lib = await sample({ model: denoiser, solver: getSolver('heun'), grid, schedule, noise: { data: xData, shape: [N, 2] } });
    expect(lib.nfe).toBe(11);
    expect(Array.from(readNpy(Y).data)).toEqual(Array.from(lib.samples.data));
  });

  it('--json prints a parseable summary', async () => {
    const Y = join(dir, 'Y3.npy');
    const r = await iia(['sample', '--model', `gmm:${G}`, '--solver', 'heun', '--steps', '6', '--noise', X, '--out', Y, '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ model: `gmm:${G}`, solver: 'heun', steps: 6, nfe: 11, n: N, out: Y, grid: 'karras', schedule: 'edm' });
    expect(typeof s.seconds).toBe('number');
    expect(s.sigmaMax).toBe(80);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('without --noise draws sigma_max * N(0, I) from --seed, reproducibly and independent of --batch', async () => {
    const a = join(dir, 'seed-a.npy'), b = join(dir, 'seed-b.npy'), c = join(dir, 'seed-c.npy');
    const base = ['sample', '--model', `gmm:${G}`, '--solver', 'heun', '--steps', '3', '--n', '7'];
    expect((await iia([...base, '--seed', '5', '--out', a])).code).toBe(0);
    expect((await iia([...base, '--seed', '5', '--batch', '3', '--out', b])).code).toBe(0);
    expect((await iia([...base, '--seed', '6', '--out', c])).code).toBe(0);
    expect(readNpy(a).shape).toEqual([7, 2]);
    expect(Array.from(readNpy(a).data)).toEqual(Array.from(readNpy(b).data));
    expect(Array.from(readNpy(a).data)).not.toEqual(Array.from(readNpy(c).data));
    const ref = edmHeun(normalBatch(5, 0, 7, 2, 80), 3).x;
    readNpy(a).data.forEach((v, i) => expect(Math.abs(v - ref[i])).toBeLessThan(2e-5 * Math.max(1, Math.abs(ref[i]))));
  });
});

describe('iia sample: --nfe', () => {
  const cases: [string, number, number][] = [
    ['heun', 11, 6],
    ['heun', 12, 6],
    ['heun', 13, 7],
    ['heun', 1, 1],
    ['euler', 7, 7],
  ];
  for (const [solver, nfe, steps] of cases) {
    it(`${solver} --nfe ${nfe} -> ${steps} steps`, async () => {
      const r = await iia(['sample', '--model', `gmm:${G}`, '--solver', solver, '--nfe', String(nfe), '--n', '2', '--json']);
      expect(r.stderr).toBe('');
      const s = JSON.parse(r.stdout);
      expect(s.steps).toBe(steps);
      expect(s.nfe).toBeLessThanOrEqual(nfe);
      expect(s.out).toBeNull();
    });
  }
});

/** A failing run: exit 1, exactly one line on stderr, nothing on stdout. */
async function expectUserError(argv: string[], pattern: RegExp): Promise<string> {
  const r = await iia(argv);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^iia: /);
  expect(lines[0]).toMatch(pattern);
  return lines[0];
}

describe('iia sample: bad flags', () => {
  const base = ['sample', '--model', `gmm:${G}`, '--solver', 'heun'];
  it('needs --steps or --nfe, not both', async () => {
    await expectUserError(base, /--steps: expected --steps N or --nfe N/);
    await expectUserError([...base, '--steps', '4', '--nfe', '7'], /--steps: give either --steps or --nfe, not both/);
  });
  it('refuses bad numbers', async () => {
    await expectUserError([...base, '--steps', 'six'], /^iia: --steps: expected a positive integer, got 'six'$/);
    await expectUserError([...base, '--steps', '4', '--n', '0'], /--n: expected a positive integer/);
    await expectUserError([...base, '--steps', '4', '--seed', '-1'], /--seed: expected an integer in \[0, 4294967295\]/);
    await expectUserError([...base, '--steps', '4', '--rho', 'x'], /--rho: expected a positive number/);
    await expectUserError([...base, '--steps', '4', '--sigma-min', '5', '--sigma-max', '1'], /--sigma-min: expected a value below --sigma-max/);
  });
  it('refuses unknown names and lists the known ones', async () => {
    await expectUserError([...base, '--steps', '4', '--grid', 'cosine'], /--grid: expected one of karras, uniform-t, .*explicit, got 'cosine'/);
    await expectUserError([...base, '--steps', '4', '--schedule', 'vp'], /--schedule: expected one of edm, ve, vp-discrete, vp-continuous/);
    await expectUserError(['sample', '--model', `gmm:${G}`, '--solver', 'nope', '--steps', '4'], /--solver: .*nope.*heun/);
  });
  it('refuses bad solver options', async () => {
    await expectUserError([...base, '--steps', '4', '--option', 'sChurn'], /--option: expected key=value/);
    await expectUserError([...base, '--steps', '4', '--option', 'bogus=1'], /bogus/);
    await expectUserError([...base, '--steps', '4', '--s-churn', '1', '--option', 'sChurn=2'], /--s-churn: conflicts with --option sChurn/);
  });
  it('needs --solver without --scheduler-config', async () => {
    await expectUserError(['sample', '--model', `gmm:${G}`, '--steps', '4'], /--solver: expected a solver name/);
  });
  it('explicit grids come from --sigmas', async () => {
    await expectUserError([...base, '--grid', 'explicit', '--steps', '3'], /--grid: explicit: expected --sigmas/);
    await expectUserError([...base, '--sigmas', '80,1,0', '--steps', '3'], /--steps: 3 contradicts --sigmas, which gives 2 steps/);
    await expectUserError([...base, '--sigmas', '80,1,x'], /--sigmas: expected comma-separated numbers/);
    const r = await iia([...base, '--sigmas', '80,10,1,0', '--n', '2', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ grid: 'explicit', steps: 3, nfe: 5 });
  });
  it('usage errors (unknown option, missing argument, unknown command, no --model) exit 2', async () => {
    for (const argv of [
      [...base, '--steps', '4', '--bogus'],
      [...base, '--steps'],
      ['smaple'],
      ['sample', '--solver', 'heun', '--steps', '4'],
      [],
    ]) {
      const r = await iia(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/iia: |Usage:/);
    }
  });
  it('--help and --version exit 0', async () => {
    const h = await iia(['sample', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('--scheduler-config');
    expect((await iia(['--version'])).code).toBe(0);
  });
});

describe('iia sample: files', () => {
  it('a noise file of the wrong shape says what was expected', async () => {
    const bad = join(dir, 'bad-shape.npy');
    writeNpy(bad, new Float32Array(30), [10, 3]);
    const line = await expectUserError(['sample', '--model', `gmm:${G}`, '--solver', 'heun', '--steps', '2', '--noise', bad], /shape/);
    expect(line).toBe(`iia: ${bad}: shape: expected [n, ...model shape [2]] = [10, 2], got [10, 3]`);
    await expectUserError(
      ['sample', '--model', `gmm:${G}`, '--solver', 'heun', '--steps', '2', '--noise', X, '--n', '4'],
      new RegExp(`${X}: shape: expected \\[--n 4, \\.\\.\\.model shape \\[2\\]\\] = \\[4, 2\\], got \\[16, 2\\]`),
    );
  });
  it('--n defaults to the first axis of --noise; float64 noise is read as float32', async () => {
    const x64 = join(dir, 'X64.npy');
    writeNpy(x64, xData.subarray(0, 6), [3, 2], '<f8');
    const r = await iia(['sample', '--model', `gmm:${G}`, '--solver', 'heun', '--steps', '2', '--noise', x64, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).n).toBe(3);
  });
  it('a file that is not npy is named', async () => {
    const junk = join(dir, 'junk.npy');
    writeFileSync(junk, 'hello');
    await expectUserError(['sample', '--model', `gmm:${G}`, '--solver', 'heun', '--steps', '2', '--noise', junk], new RegExp(junk));
  });
  it('missing files are named with their flag', async () => {
    const missing = join(dir, 'missing.npy');
    await expectUserError(
      ['sample', '--model', `gmm:${G}`, '--solver', 'heun', '--steps', '2', '--noise', missing],
      new RegExp(`^iia: ${missing}: --noise: no such file`),
    );
    await expectUserError(['sample', '--model', `gmm:${join(dir, 'nope.json')}`, '--solver', 'heun', '--steps', '2'], /--model: .*nope\.json/);
    await expectUserError(
      ['sample', '--model', `gmm:${G}`, '--scheduler-config', join(dir, 'nope-config.json'), '--steps', '2'],
      /nope-config\.json: --scheduler-config: no such file/,
    );
  });
  it('an invalid mixture file names the field', async () => {
    const bad = join(dir, 'bad-gmm.json');
    writeFileSync(bad, JSON.stringify({ weights: [0.5, 0.5], means: [[0, 0]], stds: [1, 1] }));
    await expectUserError(['sample', '--model', `gmm:${bad}`, '--solver', 'heun', '--steps', '2'], /means/);
  });
  it('--out must end in .npy or .png and its directory must exist (checked before the run)', async () => {
    await expectUserError(['sample', '--model', `gmm:${G}`, '--solver', 'heun', '--steps', '2', '--out', join(dir, 'a.txt')], /--out: expected a file name ending in .npy or .png/);
    await expectUserError(
      ['sample', '--model', `gmm:${G}`, '--solver', 'heun', '--steps', '2', '--out', join(dir, 'no', 'such', 'dir.npy')],
      /--out: the directory .* does not exist/,
    );
  });
});

describe('iia sample: PNG grids', () => {
  it('an image model gives a near-square grid with a 2 px gap', async () => {
    const img = join(dir, 'img.json');
    writeFileSync(img, JSON.stringify({ weights: [0.5, 0.5], means: [Array(48).fill(0.5), Array(48).fill(-0.5)], stds: [0.1, 0.1], shape: [3, 4, 4] }));
    const out = join(dir, 'grid.png');
    const r = await iia(['sample', '--model', `gmm:${img}`, '--solver', 'heun', '--steps', '4', '--n', '10', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const png = PNG.sync.read(readFileSync(out));
    // 10 images -> 4 columns x 3 rows of 4x4 pixels, 2 px gaps
    expect([png.width, png.height]).toEqual([4 * 4 + 3 * 2, 3 * 4 + 2 * 2]);
  });
  it('a non-image model refuses PNG before running, and writes nothing', async () => {
    const out = join(dir, 'nope.png');
    await expectUserError(['sample', '--model', `gmm:${G}`, '--solver', 'heun', '--steps', '2', '--out', out], /nope\.png: --out: a PNG grid needs image samples.*shape \[2\].*\.npy/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('iia sample: failures leave no output', () => {
  it('NaN/Inf from the model names the step and sigma, exits 1 and leaves the old file untouched', async () => {
    const sub = tempDir('iia-cli-nan-');
    const bad = join(sub, 'inf.json');
    writeFileSync(bad, JSON.stringify({ weights: [1], means: [[1e39, 0]], stds: [1] }));
    const out = join(sub, 'out.npy');
    writeFileSync(out, 'old');
    const line = await expectUserError(['sample', '--model', `gmm:${bad}`, '--solver', 'heun', '--steps', '4', '--n', '3', '--out', out], /non-finite/);
    expect(line).toMatch(/step 0, sigma 80/);
    expect(readFileSync(out, 'utf8')).toBe('old');
    expect(readdirSync(sub).sort()).toEqual(['inf.json', 'out.npy']);
    rmSync(sub, { recursive: true, force: true });
  });
  it('an aborted run exits 130 and writes nothing', async () => {
    const out = join(dir, 'aborted.npy');
    let reads = 0;
    // A signal that turns aborted after a few checks: mid-run, deterministically.
    const signal = { get aborted() { return ++reads > 6; } } as unknown as AbortSignal;
    const r = await iia(['sample', '--model', `gmm:${G}`, '--solver', 'heun', '--steps', '20', '--n', '4', '--out', out], { signal });
    expect(r.code).toBe(130);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('iia: interrupted; no output written\n');
    expect(existsSync(out)).toBe(false);
  });
  it('IIA_DEBUG=1 adds the stack', async () => {
    const r = await iia(['sample', '--model', `gmm:${G}`, '--solver', 'heun', '--steps', 'x'], { env: { IIA_DEBUG: '1' } });
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').length).toBeGreaterThan(2);
    expect(r.stderr).toMatch(/\n\s+at /);
  });
});
