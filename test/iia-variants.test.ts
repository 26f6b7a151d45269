// IIA variants: with their default coefficients every variant is its base solver bit for bit (same samples, same
// NFE), each step's atoms recombine to the base's update exactly, the directions are the papers' quantities, and
// the registry, option checks and fine-target helpers behave.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Batch } from '../src/core/batch.js';
import { normalBatch } from '../src/core/rng.js';
import { makeGrid } from '../src/grids/index.js';
import {
  averagedLagrangeWeights,
} from '../src/iia/variants/pseudo-fine.js';
import {
  calibrate,
  combineAtoms,
  defaultsOf,
  getIiaVariant,
  isIiaVariantName,
  listIiaVariants,
  makeIiaSolver,
  refineGrid,
  subIntervalPoints,
  type IiaVariant,
} from '../src/iia/index.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { loadModel } from '../src/models/registry.js';
import { sample } from '../src/sample.js';
import { makeSchedule } from '../src/schedules/index.js';
import type { GridPoint, Schedule } from '../src/schedules/schedule.js';
import { unipc } from '../src/solvers/unipc.js';
import { solverRegistry } from '../src/solvers/index.js';
import type { StepContext } from '../src/solvers/solver.js';

const edm = makeSchedule('edm');
const vp = makeSchedule('vp-discrete');
let gmm: Denoiser;

beforeAll(async () => {
  gmm = (await loadModel('gmm:gmm-64d')).denoiser;
});

const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

function context(model: Denoiser, grid: readonly GridPoint[], schedule: Schedule): StepContext {
  return { grid, schedule, seed: 0, firstSample: 0, predict: (y, at) => model.predict(y, at) };
}

const PAPER = ['iia-edm', 'biia-edm', 'iia-ddim', 'iia-dpm-solver++', 'iia-spndm', 'iia-ipndm', 'guided-iia-ddim'];
const ALL = [...PAPER, ...Object.keys(solverRegistry).map((s) => `iia:${s}`)];

interface Case {
  name: string;
  schedule: Schedule;
  grid: GridPoint[];
  base?: Record<string, unknown>;
}

/** Base options that make a stochastic-by-default base deterministic. */
const DETERMINISTIC: Record<string, Record<string, unknown>> = { 'iia:sa-solver': { tau: 0 } };

function cases(name: string): Case[] {
  const base = DETERMINISTIC[name];
  const out: Case[] = [{ name, schedule: edm, grid: makeGrid(edm, { kind: 'karras', steps: 6 }), base }];
  // A VP-discrete run too (diffusers-style trailing timesteps), where alpha != 1.
  out.push({ name, schedule: vp, grid: makeGrid(vp, { kind: 'trailing', steps: 5 }), base });
  if (name === 'iia:pndm') out.push({ name, schedule: edm, grid: makeGrid(edm, { kind: 'karras', steps: 6 }), base: { skipPrk: true } });
  if (name === 'iia:heun') out.push({ name, schedule: edm, grid: makeGrid(edm, { kind: 'karras', steps: 4, final: 'sigma-min' }), base: { lastStep: 'heun' } });
  return out;
}

describe('defaults reproduce the base solver bit for bit', () => {
  for (const name of ALL) {
    for (const c of cases(name)) {
      it(`${name} on ${c.schedule.kind} (${c.grid.length - 1} steps${c.base ? `, ${JSON.stringify(c.base)}` : ''})`, async () => {
        const v = getIiaVariant(name);
        const n = 5;
        const base = await sample({ model: gmm, solver: v.base, grid: c.grid, schedule: c.schedule, n, seed: 11, solverOptions: c.base });
        const iia = await sample({ model: gmm, solver: makeIiaSolver(v), grid: c.grid, schedule: c.schedule, n, seed: 11, solverOptions: { base: c.base } });
        expect(bits(iia.samples.data)).toEqual(bits(base.samples.data));
        expect(iia.nfe).toBe(base.nfe);
        expect(makeIiaSolver(v).nfe(c.grid.length - 1, { base: c.base })).toBe(v.base.nfe(c.grid.length - 1, c.base));

        // Every step's atoms, recombined with the default coefficients, are the base step's y bit for bit.
        const ctx = context(gmm, c.grid, c.schedule);
        let y: Batch = { data: new Float32Array(n * 64).map((_, k) => Math.sin(k) * c.grid[0].sigma), shape: [n, 1, 8, 8] };
        let bs = v.base.init(y, c.base), hist = v.initHistory();
        for (let i = 0; i + 1 < c.grid.length; i++) {
          const st = await v.step(ctx, i, y, bs, hist, v.r.default, c.base);
          const defaults = defaultsOf(st.dirs);
          expect(bits(combineAtoms(st.dirs, defaults))).toEqual(bits(st.base.y.data));
          const nx = st.advance(defaults, st.base.y.data);
          y = st.base.y;
          bs = nx.baseState;
          hist = nx.history;
        }
      });
    }
  }

  it('explicit default coefficients (a coefficient set from M = 1) give the base too', async () => {
    const grid = makeGrid(edm, { kind: 'karras', steps: 5 });
    for (const name of ['iia-edm', 'iia-ipndm', 'iia:unipc']) {
      const v = getIiaVariant(name);
      const set = await calibrate({ model: gmm, variant: v, grid, schedule: edm, M: 1, batch: 8, heldOut: 4 });
      expect(set.coefficients.every((s) => !s.accepted && s.values.every((x, j) => x === s.defaults[j]))).toBe(true);
      const base = await sample({ model: gmm, solver: v.base, grid, schedule: edm, n: 4, seed: 2 });
      const iia = await sample({ model: gmm, solver: makeIiaSolver(v, set), grid, schedule: edm, n: 4, seed: 2 });
      expect(bits(iia.samples.data)).toEqual(bits(base.samples.data));
    }
  });
});

describe('directions are the papers\' quantities', () => {
  const grid = makeGrid(edm, { kind: 'karras', steps: 5 });
  const n = 3, d = 64;
  const y0 = (): Batch => ({ data: new Float32Array(n * d).map((_, k) => Math.cos(0.7 * k) * 80), shape: [n, 1, 8, 8] });

  /** Runs the variant with the defaults to step i and returns that step's data. */
  async function stepAt(v: IiaVariant, i: number) {
    const ctx = context(gmm, grid, edm);
    let y = y0(), bs = v.base.init(y, undefined), hist = v.initHistory();
    for (let k = 0; ; k++) {
      const st = await v.step(ctx, k, y, bs, hist, v.r.default, undefined);
      if (k === i) return { st, y, ctx };
      const nx = st.advance(defaultsOf(st.dirs), st.base.y.data);
      y = st.base.y;
      bs = nx.baseState;
      hist = nx.history;
    }
  }

  /**
   * Step i - 1's gradient from scratch (the run takes the defaults there): IIA-EDM's corrected gradient g~ of eq. 18
   * with beta0 = 1/sigma, beta1 = 1, or BIIA-EDM's Heun gradient (d + d')/2 of eq. 11.
   */
  async function previousGradient(i: number, kind: 'corrected' | 'heun'): Promise<number[]> {
    const { y: yp } = await stepAt(getIiaVariant(kind === 'corrected' ? 'iia-edm' : 'biia-edm'), i - 1);
    const sp = grid[i - 1].sigma, s = grid[i].sigma, hp = s - sp;
    const D = (await gmm.predict(yp, grid[i - 1])).x0;
    const yE = Float32Array.from(yp.data, (v, k) => v + (hp * (v - D[k])) / sp);
    const D2 = (await gmm.predict({ data: yE, shape: yp.shape }, grid[i])).x0;
    return Array.from(yp.data, (v, k) =>
      kind === 'corrected' ? (v - D[k]) / sp - (D2[k] - D[k]) / (2 * s) : ((v - D[k]) / sp + (yE[k] - D2[k]) / s) / 2,
    );
  }

  const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 2e-5): void => {
    let worst = 0, scale = 1e-30;
    for (let k = 0; k < a.length; k++) {
      worst = Math.max(worst, Math.abs(a[k] - b[k]));
      scale = Math.max(scale, Math.abs(b[k]));
    }
    expect(worst / scale).toBeLessThan(tol);
  };

  it('iia-edm: y + h [beta0 (y - D) - beta1/(2 sigma\') (D\' - D) + gamma1 g~_{i-1}] (eq. 18), defaults = Heun (Lemma 1)', async () => {
    const i = 2;
    const { st, y } = await stepAt(getIiaVariant('iia-edm'), i);
    expect(st.dirs.directions.map((x) => x.name)).toEqual(['beta0', 'beta1', 'gamma1']);
    const s = grid[i].sigma, sn = grid[i + 1].sigma, h = sn - s;
    expect(defaultsOf(st.dirs)).toEqual([1 / s, 1, 0]);
    const D = await gmm.predict(y, grid[i]);
    const yE = y.data.map((v, k) => v + (h * (v - D.x0[k])) / s);
    const D2 = await gmm.predict({ data: Float32Array.from(yE), shape: y.shape }, grid[i + 1]);
    const g = await previousGradient(i, 'corrected');
    const theta = [0.9 / s, 1.3, -0.2];
    const want = Array.from(y.data, (v, k) => v + h * (theta[0] * (v - D.x0[k]) - (theta[1] / (2 * sn)) * (D2.x0[k] - D.x0[k]) + theta[2] * g[k]));
    close(combineAtoms(st.dirs, theta), want);
    const heunLemma = Array.from(y.data, (v, k) => v + h * ((v - D.x0[k]) / s - (D2.x0[k] - D.x0[k]) / (2 * sn)));
    close(st.base.y.data, heunLemma);
  });

  it('biia-edm: y + gamma0 Delta_i + gamma1 h (d_{i-1} + d\'_{i-1})/2 (eq. 11)', async () => {
    const i = 2;
    const { st, y } = await stepAt(getIiaVariant('biia-edm'), i);
    expect(st.dirs.directions.map((x) => x.name)).toEqual(['gamma0', 'gamma1']);
    expect(defaultsOf(st.dirs)).toEqual([1, 0]);
    const h = grid[i + 1].sigma - grid[i].sigma;
    const g = await previousGradient(i, 'heun');
    const want = Array.from(y.data, (v, k) => v + 0.8 * (st.base.y.data[k] - v) + 0.3 * h * g[k]);
    close(combineAtoms(st.dirs, [0.8, 0.3]), want);
  });

  it('iia-ddim: D + sigma\' eps + phi0 (x0_i - x0_{i-1}) + phi1 (eps_i - eps_{i-1}) (eq. 22)', async () => {
    const v = getIiaVariant('iia-ddim');
    const i = 2;
    const { st: prev } = await stepAt(v, i - 1);
    const { st, y } = await stepAt(v, i);
    expect(st.dirs.directions.map((x) => x.name)).toEqual(['phi0', 'phi1']);
    expect(defaultsOf(st.dirs)).toEqual([0, 0]);
    const p = await gmm.predict(y, grid[i]);
    const pD = prev.dirs.atoms[prev.dirs.atomNames.indexOf('denoised')], pE = prev.dirs.atoms[prev.dirs.atomNames.indexOf('eps')];
    const sn = grid[i + 1].sigma;
    const want = Array.from(p.x0, (x, k) => x + sn * p.eps[k] + 0.4 * (x - pD[k]) - 0.7 * (p.eps[k] - pE[k]));
    close(combineAtoms(st.dirs, [0.4, -0.7]), want);
    const first = await stepAt(v, 0);
    expect(first.st.dirs.directions).toEqual([]); // step 0 has no previous prediction
  });

  it('iia-dpm-solver++: DPM-Solver++(2M) + phi0 y_i + phi1 x0_i (ICLR eq. 23)', async () => {
    const { st, y } = await stepAt(getIiaVariant('iia-dpm-solver++'), 3);
    expect(defaultsOf(st.dirs)).toEqual([0, 0]);
    const p = await gmm.predict(y, grid[3]);
    const want = Array.from(st.base.y.data, (b, k) => b + 0.05 * y.data[k] - 0.1 * p.x0[k]);
    close(combineAtoms(st.dirs, [0.05, -0.1]), want);
  });

  it('iia-spndm / iia-ipndm: + phi0 (x0_hat_i - x0_hat_{i-1}) + phi1 (eps_tilde_i - eps_tilde_{i-1}) (ICLR App. G)', async () => {
    for (const name of ['iia-spndm', 'iia-ipndm']) {
      const v = getIiaVariant(name);
      const { st } = await stepAt(v, 3);
      expect(defaultsOf(st.dirs)).toEqual([0, 0]);
      const at = (nm: string) => st.dirs.atoms[st.dirs.atomNames.indexOf(nm)];
      const want = Array.from(st.base.y.data, (b, k) => b + 0.2 * (at('x0_hat')[k] - at('x0_hat_prev')[k]) + 3 * (at('eps_tilde')[k] - at('eps_tilde_prev')[k]));
      close(combineAtoms(st.dirs, [0.2, 3]), want);
      expect((await stepAt(v, 0)).st.dirs.directions).toEqual([]);
    }
  });

  it('guided-iia-ddim: DDIM + beta eps (ICLR eq. 8)', async () => {
    const { st, y } = await stepAt(getIiaVariant('guided-iia-ddim'), 1);
    expect(defaultsOf(st.dirs)).toEqual([0]);
    const p = await gmm.predict(y, grid[1]);
    close(combineAtoms(st.dirs, [0.25]), Array.from(st.base.y.data, (b, k) => b + 0.25 * p.eps[k]));
  });

  it('iia:sa-solver (tau 0) carries the change into its corrector too, and needs tau = 0', async () => {
    const v = getIiaVariant('iia:sa-solver');
    expect(() => v.checkOptions(undefined)).toThrow(/iia:sa-solver: base option tau is 1 \(the default\); IIA needs the deterministic SA-Solver/);
    const o = { tau: 0 };
    const ctx = context(gmm, grid, edm);
    let y = y0(), bs = v.base.init(y, o), hist = v.initHistory();
    for (let k = 0; k < 2; k++) {
      const st = await v.step(ctx, k, y, bs, hist, 1, o);
      const nx = st.advance(defaultsOf(st.dirs), st.base.y.data);
      y = st.base.y;
      bs = nx.baseState;
      hist = nx.history;
    }
    const st = await v.step(ctx, 2, y, bs, hist, 1, o);
    const theta = defaultsOf(st.dirs).map((x, j) => x + 0.01 * (j + 1));
    const yIia = combineAtoms(st.dirs, theta);
    const nx = st.advance(theta, yIia);
    const next = await v.base.step(ctx, 3, { data: yIia, shape: y.shape }, nx.baseState, o);
    const plain = await v.base.step(ctx, 3, { data: yIia, shape: y.shape }, st.base.state, o);
    const change = Array.from(yIia, (v2, k) => v2 - st.base.y.data[k]);
    close(Array.from(next.update!.vectors[0], (v2, k) => v2 - plain.update!.vectors[0][k]), change, 1e-4);
  });

  it('iia:<solver>: relative weights on the base terms and x0 differences; UniPC carries the change into its corrector', async () => {
    const v = getIiaVariant('iia:unipc');
    const { st, y, ctx } = await stepAt(v, 2);
    expect(st.dirs.directions.map((x) => x.name)).toEqual(['w_y', 'w_denoised', 'w_denoised_prev1', 'dx0_1']);
    expect(defaultsOf(st.dirs)).toEqual([1, 1, 1, 0]);
    const theta = [1.01, 0.98, 1.02, 0.1];
    const yIia = combineAtoms(st.dirs, theta);
    const nx = st.advance(theta, yIia);
    // Next step from the IIA state: its corrected start is the plain corrector's plus the IIA change.
    const next = await unipc.step(ctx, 3, { data: yIia, shape: y.shape }, nx.baseState, undefined);
    const plain = await unipc.step(ctx, 3, { data: yIia, shape: y.shape }, st.base.state, undefined);
    const change = Array.from(yIia, (v2, k) => v2 - st.base.y.data[k]);
    close(Array.from(next.update!.vectors[0], (v2, k) => v2 - plain.update!.vectors[0][k]), change, 1e-4);
  });
});

describe('browser safety', () => {
  it('src/iia reaches no Node-only module', async () => {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const root = path.resolve(__dirname, '..', 'src');
    const seen = new Set<string>(), bad: string[] = [];
    const stack = [path.join(root, 'iia', 'index.ts')];
    while (stack.length) {
      const f = stack.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      for (const m of fs.readFileSync(f, 'utf8').matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)) {
        if (m[1].startsWith('.')) stack.push(path.resolve(path.dirname(f), m[1].replace(/\.js$/, '.ts')));
        else if (m[1] !== 'zod') bad.push(`${path.relative(root, f)} imports '${m[1]}'`);
      }
    }
    expect(seen.size).toBeGreaterThan(15);
    expect(bad).toEqual([]);
  });
});

describe('registry and options', () => {
  it('names every variant and rejects unknown ones', () => {
    for (const name of ALL) {
      expect(isIiaVariantName(name)).toBe(true);
      expect(getIiaVariant(name).name).toBe(name);
    }
    expect(listIiaVariants().map((v) => v.name)).toEqual(ALL);
    expect(() => getIiaVariant('iia-foo')).toThrow(/unknown IIA variant 'iia-foo'.*iia-edm/);
    expect(() => getIiaVariant('iia:bogus')).toThrow(/unknown base solver 'bogus'.*unipc/);
    expect(isIiaVariantName('heun')).toBe(false);
  });

  it('needs a deterministic base and a valid r', async () => {
    const grid = makeGrid(edm, { kind: 'karras', steps: 3 });
    expect(() => makeIiaSolver(getIiaVariant('iia-edm')).check!(grid, edm, { base: { sChurn: 10 } })).toThrow(/iia-edm: base option sChurn is 10/);
    expect(() => makeIiaSolver(getIiaVariant('iia-ddim')).check!(grid, edm, { base: { eta: 1 } })).toThrow(/iia-ddim: base option eta is 1/);
    expect(() => makeIiaSolver(getIiaVariant('iia:ddim')).check!(grid, edm, { base: { eta: 0.5 } })).toThrow(/eta is 0.5/);
    expect(() => makeIiaSolver(getIiaVariant('iia:heun')).check!(grid, edm, { base: { bogus: 1 } } as never)).toThrow(/unknown option 'bogus'/);
    expect(() => makeIiaSolver(getIiaVariant('iia-edm')).check!(grid, edm, { r: 7 })).toThrow(/iia-edm: r is 7; expected an integer in \[0, 3\]/);
    expect(() => makeIiaSolver(getIiaVariant('iia-ddim')).check!(grid, edm, { r: 2 })).toThrow(/r is 2; expected 1 \(fixed/);
    expect(() => makeIiaSolver(getIiaVariant('iia-edm')).check!(grid, edm, { eta: 0 } as never)).toThrow(/unknown option 'eta'.*'base'/);
    await expect(calibrate({ model: gmm, variant: 'iia-edm', grid, schedule: edm, M: 0 })).rejects.toThrow(/calibrate: M is 0/);
  });
});

describe('fine-target helpers', () => {
  it('sub-interval points are uniform in the grid\'s t and strictly inside the step', () => {
    const g = makeGrid(edm, { kind: 'karras', steps: 4 });
    const p = subIntervalPoints(edm, g[1], g[2], 3);
    expect(p.map((q) => q.sigma)).toEqual([g[1].sigma + (g[2].sigma - g[1].sigma) / 3, g[1].sigma + (2 * (g[2].sigma - g[1].sigma)) / 3]);
    const gv = makeGrid(vp, { kind: 'trailing', steps: 4 });
    for (let i = 0; i < 4; i++) {
      const q = subIntervalPoints(vp, gv[i], gv[i + 1], 4);
      expect(q.map((x) => x.t)).toEqual([1, 2, 3].map((m) => gv[i].t + ((gv[i + 1].t - gv[i].t) * m) / 4));
      const s = [gv[i].sigma, ...q.map((x) => x.sigma), gv[i + 1].sigma];
      for (let k = 1; k < s.length; k++) expect(s[k]).toBeLessThan(s[k - 1]);
    }
    const r = refineGrid(g, edm, 2, 3);
    expect(r.length).toBe(g.length + 2);
    expect(r[2]).toBe(g[2]);
    expect(r[5]).toBe(g[3]);
  });

  it('variable-step Adams-Bashforth weights are the fixed ones on whole steps', () => {
    const ab = [[1], [3 / 2, -1 / 2], [23 / 12, -16 / 12, 5 / 12], [55 / 24, -59 / 24, 37 / 24, -9 / 24]];
    for (let k = 1; k <= 4; k++) {
      const w = averagedLagrangeWeights([7, 6, 5, 4].slice(0, k), 7, 8);
      w.forEach((x, j) => expect(x).toBeCloseTo(ab[k - 1][j], 12));
    }
    // A half step with nodes one whole step back: eps_i + (1/4)(eps_i - eps_{i-1}).
    const w = averagedLagrangeWeights([0, -1], 0, 0.5);
    expect(w[0]).toBeCloseTo(1.25, 14);
    expect(w[1]).toBeCloseTo(-0.25, 14);
  });
});

describe('sampling with fitted coefficients', () => {
  it('iia-edm and biia-edm: sample() (base asked for its update only, no in-place) equals re-combining each full step', async () => {
    const grid = makeGrid(edm, { kind: 'karras', steps: 6 });
    for (const name of ['iia-edm', 'biia-edm']) {
      const v = getIiaVariant(name);
      const set = await calibrate({ model: gmm, variant: v, grid, schedule: edm, batch: 32, heldOut: 0 });
      expect(set.coefficients.some((c) => c.accepted), name).toBe(true);
      const r = await sample({ model: gmm, solver: makeIiaSolver(v, set), grid, schedule: edm, n: 8, seed: 3 });
      // By hand: every step formed in full by the variant (base y included), then the fitted combination.
      const ctx = context(gmm, grid, edm);
      let y: Batch = { data: normalBatch(3, 0, 8, 64, grid[0].sigma, 0), shape: [8, 1, 8, 8] };
      let bs = v.base.init(y, undefined), hist = v.initHistory();
      for (let i = 0; i < grid.length - 1; i++) {
        const st = await v.step(ctx, i, y, bs, hist, set.r, undefined);
        expect(st.base.y.data.length, `${name} step ${i}`).toBe(y.data.length);
        const c = set.coefficients[i];
        const data = c.accepted ? combineAtoms(st.dirs, c.values) : st.base.y.data;
        const nx = st.advance(c.values, data);
        y = { data, shape: y.shape };
        bs = nx.baseState;
        hist = nx.history;
      }
      expect(bits(r.samples.data), name).toEqual(bits(y.data));
    }
  });

  it('under sample() each kept gradient goes over the one it pushes out (r arrays per run), with the same samples', async () => {
    const grid = makeGrid(edm, { kind: 'karras', steps: 7 });
    for (const name of ['iia-edm', 'biia-edm']) {
      for (const r of [1, 2, 3]) {
        const v = getIiaVariant(name);
        const label = `${name} r = ${r}`;
        // Every step off its defaults, so every step re-combines.
        const ctx0 = context(gmm, grid, edm);
        const probe: { names: string[]; values: number[] }[] = [];
        let y: Batch = { data: normalBatch(5, 0, 8, 64, grid[0].sigma, 0), shape: [8, 1, 8, 8] };
        let bs = v.base.init(y, undefined), hist = v.initHistory();
        for (let i = 0; i < grid.length - 1; i++) {
          const st = await v.step(ctx0, i, y, bs, hist, r, undefined);
          probe.push({ names: st.dirs.directions.map((d) => d.name), values: defaultsOf(st.dirs).map((x) => x * 1.01 + 1e-3) });
          const nx = st.advance(defaultsOf(st.dirs), st.base.y.data);
          y = st.base.y;
          bs = nx.baseState;
          hist = nx.history;
        }
        // The directions of a step depend on how much history there is, not on the values: the probe's names hold.
        const solver = makeIiaSolver(v, probe);
        const options = { r };
        const kept = new Set<Float32Array>();
        const spy = { ...solver, step: async (...a: Parameters<typeof solver.step>) => {
          const out = await solver.step(...a);
          for (const h of out.state.history as Float32Array[]) kept.add(h);
          return out;
        } };
        const owned = await sample({ model: gmm, solver: spy, grid, schedule: edm, n: 8, seed: 5, solverOptions: options });
        expect(kept.size, `${label}: r history arrays for the run`).toBe(r);
        // A caller that does not own the state (no mayOverwriteState): a fresh array per kept gradient, the same bits.
        const ctx = context(gmm, grid, edm);
        y = { data: normalBatch(5, 0, 8, 64, grid[0].sigma, 0), shape: [8, 1, 8, 8] };
        let state = solver.init(y, options);
        const fresh = new Set<Float32Array>();
        for (let i = 0; i < grid.length - 1; i++) {
          const out = await solver.step(ctx, i, y, state, options);
          y = out.y;
          state = out.state;
          for (const h of state.history as Float32Array[]) fresh.add(h);
        }
        expect(fresh.size, label).toBe(grid.length - 2);
        expect(bits(owned.samples.data), label).toEqual(bits(y.data));
      }
    }
  });
});
