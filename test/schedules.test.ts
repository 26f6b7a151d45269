import { describe, expect, it } from 'vitest';
import {
  EdmSchedule,
  makeSchedule,
  torchLinspaceFloat32,
  VpContinuousSchedule,
  VpDiscreteSchedule,
} from '../src/schedules/index.js';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

describe('edm / ve schedules', () => {
  it('edm: sigma = t, alpha = 1, EDM defaults', () => {
    const s = makeSchedule('edm');
    expect([s.sigmaMin, s.sigmaMax, s.tMin, s.tMax]).toEqual([0.002, 80, 0.002, 80]);
    expect(s.pointAtSigma(3.5)).toEqual({ sigma: 3.5, t: 3.5, alpha: 1 });
    expect(s.pointAtT(0)).toEqual({ sigma: 0, t: 0, alpha: 1 });
  });

  it('ve: sigma = sqrt(t) (EDM Table 1), t = sigma^2', () => {
    const s = makeSchedule('ve');
    expect([s.sigmaMin, s.sigmaMax]).toEqual([0.02, 100]);
    expect(s.tMax).toBe(10000);
    expect(s.sigmaOfT(2.25)).toBe(1.5);
    for (const sigma of [0.02, 0.7, 13, 100]) expect(rel(s.sigmaOfT(s.tOfSigma(sigma)), sigma)).toBeLessThan(1e-15);
    expect(s.alphaOfSigma(50)).toBe(1);
  });

  it('refuses bad ranges and arguments naming the field', () => {
    expect(() => new EdmSchedule({ sigmaMin: 5, sigmaMax: 1 })).toThrow(/sigmaMax is 1; expected .* > sigmaMin/);
    expect(() => makeSchedule('edm', { sigmaMin: -1 })).toThrow(/sigmaMin is -1/);
    expect(() => makeSchedule('edm').tOfSigma(-0.5)).toThrow(/sigma is -0.5/);
    expect(() => makeSchedule('ve').sigmaOfT(NaN)).toThrow(/t is NaN/);
    expect(() => makeSchedule('nope' as 'edm')).toThrow(/schedule kind is 'nope'/);
  });
});

describe('vp-continuous schedule (EDM Table 1, VP)', () => {
  const s = new VpContinuousSchedule();
  it('has the EDM paper range: sigma(1) ~ 152, sigma(1e-3) ~ 0.0105', () => {
    // sqrt(exp(19.9/2 + 0.1) - 1) and sqrt(exp(19.9e-6/2 + 1e-4) - 1) by hand.
    expect(rel(s.sigmaMax, Math.sqrt(Math.exp(19.9 / 2 + 0.1) - 1))).toBeLessThan(1e-14);
    expect(s.sigmaMax).toBeCloseTo(152.0, 0);
    expect(rel(s.sigmaMin, Math.sqrt(Math.exp(19.9e-6 / 2 + 1e-4) - 1))).toBeLessThan(1e-9);
    expect(s.sigmaMin).toBeCloseTo(0.010486, 6);
  });
  it('round-trips t -> sigma -> t and sigma -> t -> sigma', () => {
    for (const t of [1e-3, 0.01, 0.2, 0.5, 0.999, 1]) expect(rel(s.tOfSigma(s.sigmaOfT(t)), t)).toBeLessThan(1e-12);
    for (const sigma of [1e-4, 0.002, 0.5, 10, 80, 150]) expect(rel(s.sigmaOfT(s.tOfSigma(sigma)), sigma)).toBeLessThan(1e-12);
    expect(s.tOfSigma(0)).toBe(0);
  });
  it('alpha = 1/sqrt(1+sigma^2)', () => {
    const p = s.pointAtT(0.5);
    expect(rel(p.alpha, 1 / Math.sqrt(1 + p.sigma ** 2))).toBeLessThan(1e-15);
  });
});

describe('vp-discrete schedule (diffusers DDPM betas)', () => {
  // Expected alphas_cumprod computed with python3 + numpy 2.4 on this machine, the way diffusers does on CPU:
  // betas = torch.linspace(..., dtype=float32) emulated in np.float32 (start + step*i / end - step*(n-1-i)),
  // squaredcos_cap_v2 betas in float64 then cast to float32, alphas = 1 - betas in float32, cumprod accumulated in
  // float64 and each output cast to float32 (torch CPU cumprod accumulates in double).
  it('linear (1e-4 .. 0.02, T = 1000)', () => {
    const s = new VpDiscreteSchedule();
    const a = s.alphasCumprod;
    expect(a[0]).toBe(0.9998999834060669);
    expect(a[1]).toBe(0.9997800588607788);
    expect(a[10]).toBe(0.9978064894676208);
    expect(a[100]).toBe(0.8951413631439209);
    expect(a[500]).toBe(0.07779666036367416);
    expect(a[999]).toBe(4.0358307160204276e-5);
    expect(s.trainSteps).toBe(1000);
    expect([s.tMin, s.tMax]).toEqual([0, 999]);
  });
  it('scaled_linear (Stable Diffusion: 0.00085 .. 0.012)', () => {
    const a = makeSchedule('vp-discrete', { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 }).alphasCumprod!;
    expect(a[0]).toBe(0.9991499781608582);
    expect(a[1]).toBe(0.9982960224151611);
    expect(a[10]).toBe(0.9904313087463379);
    expect(a[100]).toBe(0.894223153591156);
    expect(a[500]).toBe(0.27633246779441833);
    expect(a[999]).toBe(0.00466009508818388);
  });
  it('squaredcos_cap_v2 (Nichol & Dhariwal cosine)', () => {
    const a = makeSchedule('vp-discrete', { betaSchedule: 'squaredcos_cap_v2' }).alphasCumprod!;
    expect(a[0]).toBe(0.9999586939811707);
    expect(a[1]).toBe(0.9999125599861145);
    expect(a[10]).toBe(0.9992788434028625);
    expect(a[100]).toBe(0.9715756177902222);
    expect(a[500]).toBe(0.4922850430011749);
    expect(a[999]).toBe(2.4287349909002387e-9);
  });
  it("matches diffusers' DDIM variance test (tests/schedulers/test_scheduler_ddim.py test_variance)", () => {
    const a = new VpDiscreteSchedule().alphasCumprod;
    const variance = (t: number, p: number) => ((1 - a[p]) / (1 - a[t])) * (1 - a[t] / a[p]);
    expect(Math.abs(variance(0, 0))).toBeLessThan(1e-5);
    expect(Math.abs(variance(420, 400) - 0.14771)).toBeLessThan(1e-5);
    expect(Math.abs(variance(980, 960) - 0.3246)).toBeLessThan(1e-5);
    expect(Math.abs(variance(487, 486) - 0.00979)).toBeLessThan(1e-5);
    expect(Math.abs(variance(999, 998) - 0.02)).toBeLessThan(1e-5);
  });
  it('torch.linspace float32 keeps both ends exact', () => {
    const l = torchLinspaceFloat32(1e-4, 0.02, 1000);
    expect(l[0]).toBe(Math.fround(1e-4));
    expect(l[999]).toBe(Math.fround(0.02));
  });
  it('sigma_k = sqrt((1 - abar_k) / abar_k); sigma linear between timesteps; t from sigma in log-sigma', () => {
    const s = new VpDiscreteSchedule();
    const a = s.alphasCumprod;
    for (const k of [0, 1, 250, 999]) expect(s.sigmaOfT(k)).toBe(Math.sqrt((1 - a[k]) / a[k]));
    expect(s.sigmaMin).toBe(s.sigmaOfT(0));
    expect(s.sigmaMax).toBe(s.sigmaOfT(999));
    expect(s.sigmaMax).toBeCloseTo(157.4, 0);
    // linear interpolation in sigma at fractional t
    const mid = s.sigmaOfT(500.25);
    expect(rel(mid, 0.75 * s.sigmaOfT(500) + 0.25 * s.sigmaOfT(501))).toBeLessThan(1e-15);
    // tOfSigma: exact at the integer timesteps, log-sigma interpolation between them
    for (const k of [0, 3, 400, 998, 999]) expect(Math.abs(s.tOfSigma(s.sigmaOfT(k)) - k)).toBeLessThan(1e-9);
    const g = Math.sqrt(s.sigmaOfT(400) * s.sigmaOfT(401));
    expect(Math.abs(s.tOfSigma(g) - 400.5)).toBeLessThan(1e-9);
    // clamped like diffusers' _sigma_to_t
    expect(s.tOfSigma(0)).toBe(0);
    expect(s.tOfSigma(1e6)).toBe(999);
    // alpha at integer t is sqrt(abar)
    expect(s.pointAtT(250).alpha).toBe(Math.sqrt(a[250]));
    expect(rel(s.pointAtSigma(s.sigmaOfT(250)).alpha, Math.sqrt(a[250]))).toBeLessThan(1e-14);
    expect(() => s.sigmaOfT(999.5)).toThrow(/t is 999.5; expected .* \[0, 999\]/);
  });
  it('trained_betas and zero terminal SNR', () => {
    const lin = new VpDiscreteSchedule();
    const tb = new VpDiscreteSchedule({ trainedBetas: Array.from(lin.betas) });
    expect(tb.alphasCumprod).toEqual(lin.alphasCumprod);
    expect(() => new VpDiscreteSchedule({ trainedBetas: [0.1, 1.5] })).toThrow(/trainedBetas\[1\] is 1.5/);
    const z = new VpDiscreteSchedule({ betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012, rescaleBetasZeroSnr: true });
    // Lin et al. 2024: first abar kept, last abar 0 (held at 2^-24 so sigma stays finite, as diffusers' Euler does)
    expect(rel(z.alphasCumprod[0], 0.9991499781608582)).toBeLessThan(1e-6);
    expect(z.alphasCumprod[999]).toBe(2 ** -24);
    expect(z.sigmaMax).toBeCloseTo(4096, 0);
  });
  it('refuses bad options', () => {
    expect(() => makeSchedule('vp-discrete', { trainSteps: 1.5 })).toThrow(/trainSteps is 1.5/);
    expect(() => makeSchedule('vp-discrete', { betaSchedule: 'sigmoid' as 'linear' })).toThrow(/betaSchedule is 'sigmoid'/);
    expect(() => makeSchedule('vp-discrete', { betaEnd: 2 })).toThrow(/betaEnd is 2/);
  });
});
