import { describe, expect, it } from 'vitest';
import { makeGrid } from '../src/grids/index.js';
import { ddimTimesteps } from '../src/diffusers/common.js';
import { makeSchedule } from '../src/schedules/index.js';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
const edm = makeSchedule('edm');
const vp = makeSchedule('vp-discrete');

describe('karras grid (EDM eq. 5)', () => {
  it("EDM's defaults, 18 steps: 80 ... 0.002 then 0", () => {
    const g = makeGrid(edm, { kind: 'karras', steps: 18 });
    expect(g).toHaveLength(19);
    expect(g[0].sigma).toBe(80);
    expect(g[17].sigma).toBe(0.002);
    expect(g[18]).toEqual({ sigma: 0, t: 0, alpha: 1 });
    // NVlabs/edm generate.py: (smax^(1/rho) + i/(N-1) (smin^(1/rho) - smax^(1/rho)))^rho
    const a = 80 ** (1 / 7), b = 0.002 ** (1 / 7);
    for (let i = 0; i < 18; i++) expect(rel(g[i].sigma, (a + (i / 17) * (b - a)) ** 7)).toBeLessThan(1e-13);
    // python3 + numpy float64: a = 80**(1/7); b = 0.002**(1/7); (a + np.arange(18)/17*(b - a))**7
    const edmValues = [
      80.0, 57.58598472124816, 40.78557379650796, 28.374584604156844, 19.352452980325225, 12.91008238075732, 8.400935309099816,
      5.315194521796382, 3.256821519765537, 1.9233398370400518, 1.088170636545279, 0.5853481231945422, 0.29644228447915727,
      0.13951646873101678, 0.05994731123547159, 0.022934518372333384, 0.007528019962784078, 0.002000000000000003,
    ];
    for (let i = 0; i < 18; i++) expect(rel(g[i].sigma, edmValues[i])).toBeLessThan(1e-14);
    for (const p of g) expect(p.t).toBe(p.sigma);
  });
  it('rho, range and final sigma-min', () => {
    const g = makeGrid(edm, { kind: 'karras', steps: 4, sigmaMin: 0.1, sigmaMax: 10, rho: 1 });
    [10, 6.7, 3.4, 0.1, 0].forEach((v, i) => expect(g[i].sigma).toBeCloseTo(v, 13));
    const h = makeGrid(edm, { kind: 'karras', steps: 4, final: 'sigma-min' });
    expect(h).toHaveLength(5);
    expect(h[0].sigma).toBe(80);
    expect(h[4].sigma).toBe(0.002);
    expect(makeGrid(edm, { kind: 'karras', steps: 1 }).map((p) => p.sigma)).toEqual([80, 0]);
  });
  it('on a VP schedule: t from the schedule, alpha = 1/sqrt(1+sigma^2)', () => {
    const s = makeSchedule('vp-continuous');
    const g = makeGrid(s, { kind: 'karras', steps: 10 });
    expect(rel(g[0].t, 1)).toBeLessThan(1e-12);
    expect(rel(g[9].t, 1e-3)).toBeLessThan(1e-9);
    for (const p of g) expect(rel(p.alpha, 1 / Math.sqrt(1 + p.sigma ** 2))).toBeLessThan(1e-15);
  });
});

describe('uniform grids', () => {
  it('uniform-t on EDM is uniform in sigma', () => {
    const g = makeGrid(edm, { kind: 'uniform-t', steps: 4, sigmaMin: 1, sigmaMax: 7 });
    expect(g.map((p) => p.sigma)).toEqual([7, 5, 3, 1, 0]);
  });
  it('uniform-t on vp-continuous: t from 1 to 1e-3', () => {
    const s = makeSchedule('vp-continuous');
    const g = makeGrid(s, { kind: 'uniform-t', steps: 3, final: 'sigma-min' });
    const ts = g.map((p) => p.t);
    expect(rel(ts[0], 1)).toBeLessThan(1e-12);
    expect(rel(ts[1], 1 - 0.999 / 3)).toBeLessThan(1e-9);
    expect(rel(ts[3], 1e-3)).toBeLessThan(1e-9);
  });
  it('uniform-lambda: equal steps in -log(sigma)', () => {
    const g = makeGrid(edm, { kind: 'uniform-lambda', steps: 5, sigmaMin: 0.01, sigmaMax: 100 });
    expect(g).toHaveLength(6);
    const lam = g.slice(0, 5).map((p) => -Math.log(p.sigma));
    for (let i = 1; i < 5; i++) expect(Math.abs(lam[i] - lam[i - 1] - Math.log(1e4) / 4)).toBeLessThan(1e-12);
    expect(g[5].sigma).toBe(0);
  });
  it('quadratic: t = tMin + (tMax - tMin) u^2', () => {
    const g = makeGrid(edm, { kind: 'quadratic', steps: 3, sigmaMin: 1, sigmaMax: 10 });
    expect(g.map((p) => p.sigma)).toEqual([10, 1 + 9 * 0.25, 1, 0]);
    const h = makeGrid(edm, { kind: 'quadratic', steps: 2, sigmaMin: 1, sigmaMax: 10, final: 'sigma-min' });
    expect(h.map((p) => p.sigma)).toEqual([10, 1 + 9 * 0.25, 1]);
  });
});

describe('diffusers spacings on vp-discrete', () => {
  it('leading with steps_offset 1: timesteps [901 ... 1], then sigma 0 / alpha 1', () => {
    const g = makeGrid(vp, { kind: 'leading', steps: 10, stepsOffset: 1 });
    expect(g.slice(0, 10).map((p) => p.t)).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(g[10].sigma).toBe(0);
    expect(g[10].alpha).toBe(1);
    expect(g[0].alpha).toBe(Math.sqrt(vp.alphasCumprod![901]));
    expect(g[0].sigma).toBe(vp.sigmaOfT(901));
  });
  it('trailing and linspace follow DDIMScheduler', () => {
    expect(makeGrid(vp, { kind: 'trailing', steps: 7 }).slice(0, 7).map((p) => p.t)).toEqual(ddimTimesteps('trailing', 1000, 7));
    expect(makeGrid(vp, { kind: 'linspace', steps: 6 }).slice(0, 6).map((p) => p.t)).toEqual([999, 799, 599, 400, 200, 0]);
  });
  it("final 'sigma-min' ends on sigma at t = 0 (diffusers final_sigmas_type 'sigma_min')", () => {
    const g = makeGrid(vp, { kind: 'trailing', steps: 5, final: 'sigma-min' });
    expect(g).toHaveLength(6);
    expect(g[5].sigma).toBe(vp.sigmaMin);
    // linspace already ends on t = 0, so its sigma-min final would repeat it
    expect(() => makeGrid(vp, { kind: 'linspace', steps: 6, final: 'sigma-min' })).toThrow(/not strictly decreasing at point 6/);
  });
  it('refuses other schedules and out-of-range timesteps', () => {
    expect(() => makeGrid(edm, { kind: 'leading', steps: 10 })).toThrow(/grid kind 'leading' needs a 'vp-discrete' schedule.*'edm'/);
    expect(() => makeGrid(vp, { kind: 'leading', steps: 1000, stepsOffset: 1 })).toThrow(/timestep 1000 .* outside the training range \[0, 999\]/);
  });
});

describe('explicit grid and validation', () => {
  it('takes a sigma list', () => {
    const g = makeGrid(edm, { kind: 'explicit', values: [10, 2, 0.5, 0] });
    expect(g.map((p) => p.sigma)).toEqual([10, 2, 0.5, 0]);
    expect(makeGrid(vp, { kind: 'explicit', values: [10, 1], steps: 1 })[1].alpha).toBe(1 / Math.sqrt(2));
  });
  it('names what is wrong', () => {
    expect(() => makeGrid(edm, { kind: 'explicit', values: [10, 2, 3] })).toThrow(/values\[2\] is 3 after values\[1\] = 2; expected strictly decreasing/);
    expect(() => makeGrid(edm, { kind: 'explicit', values: [10, -1] })).toThrow(/values\[1\] is -1; expected a sigma >= 0/);
    expect(() => makeGrid(edm, { kind: 'explicit', values: [NaN, 1] })).toThrow(/values\[0\] is NaN; expected a finite number/);
    expect(() => makeGrid(edm, { kind: 'explicit', values: [1] })).toThrow(/values has 1 sigma/);
    expect(() => makeGrid(edm, { kind: 'explicit' })).toThrow(/needs values/);
    expect(() => makeGrid(edm, { kind: 'explicit', values: [2, 1, 0], steps: 3 })).toThrow(/steps is 3/);
    expect(() => makeGrid(edm, { kind: 'karras', steps: 0 })).toThrow(/grid: steps is 0; expected an integer >= 1/);
    expect(() => makeGrid(edm, { kind: 'karras', steps: 2.5 })).toThrow(/steps is 2.5/);
    expect(() => makeGrid(edm, { kind: 'karras', steps: 5, sigmaMin: 5, sigmaMax: 1 })).toThrow(/sigmaMin \(5\) must be smaller than sigmaMax \(1\)/);
    expect(() => makeGrid(edm, { kind: 'karras', steps: 5, rho: 0 })).toThrow(/rho is 0; expected a finite number > 0/);
    expect(() => makeGrid(edm, { kind: 'uniform-lambda', steps: 5, sigmaMin: 0 })).toThrow(/sigmaMin is 0; expected a finite number > 0/);
    expect(() => makeGrid(edm, { kind: 'spiral' as 'karras', steps: 5 })).toThrow(/kind is 'spiral'/);
    expect(() => makeGrid(edm, { kind: 'karras', steps: 5, final: 'one' as 'zero' })).toThrow(/final is 'one'/);
  });
});
