// The reference solution of the probability-flow ODE, against which every few-step solver is measured: an
// adaptive embedded Runge-Kutta integrator with a float64 state (DOP853 by default, Dormand-Prince 5(4) on
// request), FSAL and PI step-size control. Browser-safe.
//
// ODE. On the EDM state y = x / alpha the probability-flow ODE is dy/dsigma = (y - D(y; sigma)) / sigma (Karras
// et al. 2022, eq. 4 with s = 1). In u = log(sigma) it reads dy/du = y - D, smooth over the whole range. We use
// u = asinh(sigma / c) instead (variable 'log' is kept): dy/du = coth(u) (y - D) = sqrt(sigma^2 + c^2) eps. For
// sigma >> c it is log(2 sigma / c), the log variable; for sigma << c it is sigma / c, so the converged tail is
// not paid for decade by decade (the solution is smooth in sigma there: for one Gaussian component it is analytic
// with singularities at sigma = +-i s). Measured on N(0, 0.25) data, DOP853 at rtol 1e-10 to sigma = 0: 472 NFE
// with log, 279 with asinh; on gmm-64d ~20 % fewer NFE.
//
// sigma -> 0. For to = 0 we integrate to sigmaEnd (1e-5 for exact models, the schedule's sigmaMin for networks)
// and take y(0) ~ D(y(sigmaEnd); sigmaEnd). That limit is exact for an empirical model once one image dominates and
// off by ~sigmaEnd^2 / (2 s^2) relative for data of spread s (N(0, s^2): D / y(0) = s / sqrt(s^2 + sigmaEnd^2)),
// 2e-10 for s = 0.25. referenceWithCheck halves sigmaEnd along with rtol where the model allows it.
//
// Step control is shared by all samples of a chunk (`batch`): each stage is one model call for the whole chunk,
// which for a network is what makes the reference affordable (per-sample control would need one call per sample
// and stage, as each sample would sit at its own sigma). The error norm is the max over samples of each sample's
// RMS-weighted error (Hairer, Norsett & Wanner, "Solving ODEs I", II.4 eq. 4.11), so every sample meets the
// tolerance on its own. The price, that the worst sample sets the step, is small: on gmm-64d chunks of 1, 8, 64
// and 256 samples need 475, 509, 560 and 591 NFE (rtol 1e-8); exact float64 models default to 8, networks to 256.
//
// Accuracy (measured; the tests check the first two):
//   - closed-form Gaussian: relative error ~1e-11 at rtol 1e-10, ~3e-10 at the default rtol 1e-9;
//   - 2-mode mixture vs a 6000-step RK4 in float64: < 1e-8 at rtol 1e-11;
//   - float64 models (GaussianMixture, the empirical denoiser through exact64.ts): rtol vs rtol/2 differ by
//     ~1e-9 (gmm-2d 3e-9, gmm-64d 1e-9; 256 samples, ~430 NFE per run, 0.1 s and 0.35 s per run);
//   - float32 models (the Denoiser interface rounds y and D to float32): rtol below ~1e-7 stalls on rounding
//     noise; the check reaches 1e-6..1e-5 (a VP network at rtol 1e-6: 1.7e-6). The exact empirical models are the
//     exception: their sigma -> 0 endpoint is a training image, and the float32 (ONNX) reference lands on exactly
//     the same images as the float64 one (digits: difference 0 and 2e-17 over 32 samples).
import type { Batch } from '../core/batch.js';
import type { Denoiser } from '../models/denoiser.js';
import type { Schedule } from '../schedules/schedule.js';
import { fieldFor, type Field } from './exact64.js';
import { integrateChunk, variable } from './rk.js';
import { DOP853, DOPRI5, type Tableau } from './tableaus.js';

export interface ReferenceOptions {
  /** Integration variable: 'asinh' (default), u = asinh(sigma / sigmaScale), or 'log', u = log(sigma). */
  variable?: 'asinh' | 'log';
  /** c of the asinh variable (default: the model's hint, e.g. the smallest GMM std, else 0.5 = EDM sigma_data). */
  sigmaScale?: number;
  /** 'dop853' (default: at rtol 1e-9..1e-10 it needs about half the evaluations of 'dopri5') or 'dopri5'. */
  method?: 'dop853' | 'dopri5';
  /** Relative tolerance per step (default 1e-9 for float64 models, 1e-6 for float32 ones, where rounding noise in D stalls tighter runs). */
  rtol?: number;
  /** Absolute tolerance per step (default rtol). */
  atol?: number;
  /** For to = 0: integrate to sigmaEnd, then y(0) = D(y(sigmaEnd); sigmaEnd) (default 1e-5, or the model's floor). */
  sigmaEnd?: number;
  /** Samples integrated together under one step-size control (default 8 for float64 models, 256 otherwise). */
  batch?: number;
  /** Safety cap on accepted + rejected steps per chunk (default 100000). */
  maxSteps?: number;
  /** Network models: the schedule whose grid points (t, alpha) and floor sigmaMin the model is evaluated at. */
  schedule?: Schedule;
  /** Training images of a data: model, to evaluate the exact empirical denoiser in float64. */
  images?: Float32Array;
  /** Called with the fraction done (0..1). */
  onProgress?: (fraction: number) => void;
  signal?: AbortSignal;
}

export interface ReferenceResult {
  /** y at sigma = to, float64, shape [n, ...sample shape]. */
  y: Float64Array;
  shape: number[];
  /** Model evaluations per sample (each sample's chunk's calls; averaged over samples). */
  nfe: number;
  /** Model calls in total (over all chunks). */
  calls: number;
  accepted: number;
  rejected: number;
  seconds: number;
  /** sigmaEnd used for a to = 0 run (null when to > 0). */
  sigmaEnd: number | null;
  rtol: number;
  atol: number;
  /** Precision of the model evaluations: 'float32' bounds what the reference can reach. */
  precision: 'float64' | 'float32';
}

export interface SigmaRange {
  /** sigma of yT (> 0). */
  from: number;
  /** sigma of the answer, 0 <= to < from. */
  to: number;
}

function checkRange(s: SigmaRange): void {
  if (!(Number.isFinite(s.from) && s.from > 0)) throw new Error(`reference.ts: sigmas.from is ${s.from}; expected a finite number > 0`);
  if (!(Number.isFinite(s.to) && s.to >= 0 && s.to < s.from)) {
    throw new Error(`reference.ts: sigmas.to is ${s.to}; expected a number >= 0 and below sigmas.from (${s.from})`);
  }
}

function positive(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new Error(`reference.ts: option ${name} is ${String(v)}; expected a finite number > 0`);
  return v;
}

/** Resolved numeric options for a field. */
function resolve(field: Field, o: ReferenceOptions) {
  const exact = field.precision === 'float64';
  const rtol = positive('rtol', o.rtol, exact ? 1e-9 : 1e-6);
  const atol = positive('atol', o.atol, rtol);
  const sigmaEnd = positive('sigmaEnd', o.sigmaEnd, Math.max(1e-5, field.sigmaFloor));
  if (sigmaEnd < field.sigmaFloor) {
    throw new Error(`reference.ts: option sigmaEnd is ${sigmaEnd}; the model is not defined below sigma ${field.sigmaFloor}`);
  }
  const batch = positive('batch', o.batch, exact ? 8 : 256);
  if (!Number.isInteger(batch)) throw new Error(`reference.ts: option batch is ${batch}; expected a positive integer`);
  const maxSteps = positive('maxSteps', o.maxSteps, 100_000);
  const variable = o.variable ?? 'asinh';
  if (variable !== 'asinh' && variable !== 'log') throw new Error(`reference.ts: option variable is '${String(variable)}'; expected 'asinh' or 'log'`);
  const sigmaScale = positive('sigmaScale', o.sigmaScale, field.sigmaScale ?? 0.5);
  const method = o.method ?? 'dop853';
  if (method !== 'dop853' && method !== 'dopri5') throw new Error(`reference.ts: option method is '${String(method)}'; expected 'dop853' or 'dopri5'`);
  const tableau: Tableau = method === 'dop853' ? DOP853 : DOPRI5;
  return { rtol, atol, sigmaEnd, batch, maxSteps, tableau, variable, sigmaScale };
}

/**
 * The probability-flow ODE solution from yT at sigma `from` to sigma `to` (0 allowed), per sample, in float64.
 * `model` is a Denoiser (its float64 twin is used when there is one, see exact64.ts fieldFor) or a Field.
 */
export async function referenceSolve(model: Denoiser | Field, yT: Batch | { data: Float64Array; shape: number[] }, sigmas: SigmaRange, opts: ReferenceOptions = {}): Promise<ReferenceResult> {
  checkRange(sigmas);
  const field: Field = 'predict' in model ? fieldFor(model, { schedule: opts.schedule, images: opts.images }) : model;
  const o = resolve(field, opts);
  const dim = field.dim;
  const n = yT.shape[0];
  if (yT.data.length !== n * dim) throw new Error(`reference.ts: yT has ${yT.data.length} values, expected ${n} samples of ${dim}`);
  if (sigmas.to > 0 && sigmas.to < field.sigmaFloor) {
    throw new Error(`reference.ts: sigmas.to is ${sigmas.to}; the model is not defined below sigma ${field.sigmaFloor}`);
  }
  const t0 = performance.now();
  const toZero = sigmas.to === 0;
  const sTarget = toZero ? Math.min(o.sigmaEnd, sigmas.from) : sigmas.to;
  const v = variable(o.variable, o.sigmaScale);
  const s0 = v.of(sigmas.from), s1 = v.of(sTarget);
  const out = new Float64Array(n * dim);
  let calls = 0, accepted = 0, rejected = 0, evals = 0;
  for (let start = 0; start < n; start += o.batch) {
    const rows = Math.min(o.batch, n - start);
    const y0 = Float64Array.from(yT.data.subarray(start * dim, (start + rows) * dim));
    const progress = (s: number): void => opts.onProgress?.((start + rows * ((s - s0) / (s1 - s0))) / n);
    let { y, stats } = s1 < s0 ? await integrateChunk(field, o.tableau, v, y0, rows, s0, s1, o, progress, opts.signal) : { y: y0, stats: { calls: 0, accepted: 0, rejected: 0 } };
    if (toZero) {
      // y(0) ~ D(y(sigmaEnd); sigmaEnd): the data prediction is the sigma -> 0 limit of the ODE (see the header).
      y = await field.denoise(y, rows, sTarget);
      stats.calls++;
    }
    out.set(y, start * dim);
    calls += stats.calls;
    accepted += stats.accepted;
    rejected += stats.rejected;
    evals += stats.calls * rows;
  }
  opts.onProgress?.(1);
  return {
    y: out,
    shape: [...yT.shape],
    nfe: evals / n,
    calls,
    accepted,
    rejected,
    seconds: (performance.now() - t0) / 1000,
    sigmaEnd: toZero ? sTarget : null,
    rtol: o.rtol,
    atol: o.atol,
    precision: field.precision,
  };
}

/** Largest per-sample relative difference max_i |a_i - b_i|_2 / max(|b_i|_2, floor * sqrt(dim)). */
export function maxRelativeDifference(a: ArrayLike<number>, b: ArrayLike<number>, dim: number, floor = 1e-3): number {
  if (a.length !== b.length || a.length % dim !== 0) throw new Error(`reference.ts: cannot compare ${a.length} and ${b.length} values of samples of ${dim}`);
  let worst = 0;
  for (let off = 0; off < a.length; off += dim) {
    let dd = 0, bb = 0;
    for (let i = off; i < off + dim; i++) {
      const d = a[i] - b[i];
      dd += d * d;
      bb += b[i] * b[i];
    }
    const r = Math.sqrt(dd) / Math.max(Math.sqrt(bb), floor * Math.sqrt(dim));
    if (!(r <= worst)) worst = r;
  }
  return worst;
}

export interface Convergence {
  /** max over samples of |y(rtol) - y(rtol/2)| / |y(rtol/2)| (per-sample Euclidean norms). */
  maxRelDiff: number;
  /** The bar the check is held to (1e-6). */
  threshold: number;
  ok: boolean;
  rtol: [number, number];
  /** sigmaEnd of the two runs (halved too when the model is defined there); null for to > 0. */
  sigmaEnd: [number, number] | null;
  precision: 'float64' | 'float32';
  /** Model evaluations per sample of the two runs together. */
  nfe: number;
}

export interface CheckedReference extends ReferenceResult {
  convergence: Convergence;
}

export interface CheckOptions extends ReferenceOptions {
  /** Halve sigmaEnd too in the second run (default: when the model is defined there, i.e. exact models). */
  halveSigmaEnd?: boolean;
  /** Threshold of the check (default 1e-6). */
  threshold?: number;
}

/**
 * The reference run twice, at rtol and rtol / 2 (and sigmaEnd / 2 where the model allows it), so one difference
 * bounds both the integration error and the sigma -> 0 limit. Returns the finer run with the difference; does not
 * throw when the check fails (the caller reports `convergence.ok`).
 */
export async function referenceWithCheck(model: Denoiser | Field, yT: Batch | { data: Float64Array; shape: number[] }, sigmas: SigmaRange, opts: CheckOptions = {}): Promise<CheckedReference> {
  const field: Field = 'predict' in model ? fieldFor(model, { schedule: opts.schedule, images: opts.images }) : model;
  const o = resolve(field, opts);
  const threshold = opts.threshold ?? 1e-6;
  const halve = opts.halveSigmaEnd ?? o.sigmaEnd / 2 >= field.sigmaFloor;
  const progress = opts.onProgress;
  const coarse = await referenceSolve(field, yT, sigmas, { ...opts, rtol: o.rtol, atol: o.atol, sigmaEnd: o.sigmaEnd, onProgress: progress && ((f) => progress(f / 3)) });
  const fine = await referenceSolve(field, yT, sigmas, {
    ...opts,
    rtol: o.rtol / 2,
    atol: o.atol / 2,
    sigmaEnd: halve ? o.sigmaEnd / 2 : o.sigmaEnd,
    onProgress: progress && ((f) => progress(1 / 3 + (2 * f) / 3)),
  });
  const maxRelDiff = maxRelativeDifference(coarse.y, fine.y, field.dim);
  return {
    ...fine,
    seconds: coarse.seconds + fine.seconds,
    convergence: {
      maxRelDiff,
      threshold,
      ok: maxRelDiff <= threshold,
      rtol: [coarse.rtol, fine.rtol],
      sigmaEnd: coarse.sigmaEnd === null ? null : [coarse.sigmaEnd, fine.sigmaEnd!],
      precision: field.precision,
      nfe: coarse.nfe + fine.nfe,
    },
  };
}
