// The adaptive embedded Runge-Kutta integrator behind reference.ts: one chunk of samples, float64 state, FSAL, PI
// step-size control, the error norm taken per sample and maximised over the chunk. Browser-safe.
import type { Field } from './exact64.js';
import type { Tableau } from './tableaus.js';

/** Per-sample weights 1 / (atol + rtol max(|a_i|, |b_i|)) (Hairer et al., Solving ODEs I, II.4 eq. 4.10). */
function scaleInto(out: Float64Array, a: Float64Array, b: Float64Array, rtol: number, atol: number): void {
  for (let i = 0; i < out.length; i++) out[i] = 1 / (atol + rtol * Math.max(Math.abs(a[i]), Math.abs(b[i])));
}

/** Max over samples of the RMS of v_i * w_i (Hairer et al., Solving ODEs I, II.4 eq. 4.11, per sample). */
function maxRms(v: Float64Array, w: Float64Array, rows: number, dim: number): number {
  let worst = 0;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = r * dim; i < (r + 1) * dim; i++) {
      const q = v[i] * w[i];
      s += q * q;
    }
    const e = Math.sqrt(s / dim);
    if (!(e <= worst)) worst = e; // NaN propagates
  }
  return worst;
}

interface Scratch {
  zero: Float64Array;
  e5: Float64Array;
  e3: Float64Array;
}

/**
 * The step's error norm, max over samples. dopri5: RMS of h sum_j e_j k_j (Hairer et al., eq. 4.11). dop853: the
 * combined estimate of Hairer's dop853.f, |h| |e5|^2 / sqrt(dim (|e5|^2 + 0.01 |e3|^2)) (Solving ODEs I, II.10).
 */
function stepError(tab: Tableau, k: Float64Array[], h: number, w: Float64Array, rows: number, dim: number, scratch: Scratch): number {
  const zero = scratch.zero.length === w.length ? scratch.zero : (scratch.zero = new Float64Array(w.length));
  const e5 = scratch.e5.length === w.length ? scratch.e5 : (scratch.e5 = new Float64Array(w.length));
  const e3 = scratch.e3.length === w.length ? scratch.e3 : (scratch.e3 = new Float64Array(w.length));
  combine(e5, zero, 1, tab.e, k);
  if (tab.e3) combine(e3, zero, 1, tab.e3, k);
  let worst = 0;
  for (let r = 0; r < rows; r++) {
    let s5 = 0, s3 = 0;
    for (let i = r * dim; i < (r + 1) * dim; i++) {
      const q5 = e5[i] * w[i];
      s5 += q5 * q5;
      const q3 = e3[i] * w[i];
      s3 += q3 * q3;
    }
    let e: number;
    if (tab.e3) {
      const deno = s5 + 0.01 * s3;
      e = (Math.abs(h) * s5) / Math.sqrt(dim * (deno > 0 ? deno : 1));
    } else {
      e = Math.abs(h) * Math.sqrt(s5 / dim);
    }
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

/** The integration variable u(sigma): sigma(u) and rate(u) = dsigma/du / sigma, so dy/du = rate (y - D). */
export interface Variable {
  of(sigma: number): number;
  sigma(u: number): number;
  rate(u: number): number;
}

/**
 * 'log': u = log(sigma), dy/du = y - D (Karras et al. 2022, eq. 4 with s = 1, times sigma). 'asinh': u =
 * asinh(sigma / c), dy/du = coth(u) (y - D) = sqrt(sigma^2 + c^2) eps: log(2 sigma / c) for sigma >> c, sigma / c
 * for sigma << c, where the log variable would spend steps on every decade of an already converged solution.
 */
export function variable(kind: 'log' | 'asinh', c: number): Variable {
  if (kind === 'log') return { of: Math.log, sigma: Math.exp, rate: () => 1 };
  return { of: (sigma) => Math.asinh(sigma / c), sigma: (u) => c * Math.sinh(u), rate: (u) => 1 / Math.tanh(u) };
}

/** out = y + h sum_j w_j k_j, one vector pass per nonzero weight. */
function combine(out: Float64Array, y: Float64Array, h: number, w: readonly number[], k: Float64Array[]): void {
  out.set(y);
  for (let j = 0; j < w.length; j++) {
    const c = h * w[j];
    if (c === 0) continue;
    const kj = k[j];
    for (let i = 0; i < out.length; i++) out[i] += c * kj[i];
  }
}

export interface ChunkStats {
  calls: number;
  accepted: number;
  rejected: number;
}

/**
 * Integrate dy/du = rate(u) (y - D(y; sigma(u))) from s0 down to s1 < s0 for one chunk with an embedded pair (first-same-as-last:
 * the slope at the accepted point starts the next step) and the PI step-size controller of Hairer's DOPRI5 /
 * DOP853 codes (Hairer et al., Solving ODEs I, II.4 and IV.2: fac = err^(1/(q+1) - 0.75 beta) / err_old^beta,
 * beta = 0.04, safety 0.9).
 */
export async function integrateChunk(
  field: Field,
  tab: Tableau,
  v: Variable,
  y0: Float64Array,
  rows: number,
  s0: number,
  s1: number,
  o: { rtol: number; atol: number; maxSteps: number },
  progress: (s: number) => void,
  signal?: AbortSignal,
): Promise<{ y: Float64Array; stats: ChunkStats }> {
  const dim = field.dim;
  const len = rows * dim;
  const stats: ChunkStats = { calls: 0, accepted: 0, rejected: 0 };
  const f = async (s: number, y: Float64Array, out: Float64Array): Promise<void> => {
    if (signal?.aborted) throw new Error('reference.ts: cancelled');
    stats.calls++;
    const sigma = v.sigma(s), g = v.rate(s);
    const d = await field.denoise(y, rows, sigma);
    for (let i = 0; i < len; i++) {
      const r = g * (y[i] - d[i]);
      if (!Number.isFinite(r)) throw new Error(`reference.ts: the model returned a non-finite value at sigma ${sigma}`);
      out[i] = r;
    }
  };
  const S = tab.c.length;
  const fsalInError = tab.e.length > S; // dopri5's estimate uses the slope at the new point
  let y = Float64Array.from(y0);
  const k = Array.from({ length: S + 1 }, () => new Float64Array(len));
  const tmp = new Float64Array(len);
  let yNew = new Float64Array(len);
  const w = new Float64Array(len);
  const scratch: Scratch = { zero: new Float64Array(0), e5: new Float64Array(0), e3: new Float64Array(0) };
  const { rtol, atol } = o;
  const span = s0 - s1; // > 0; we step in -s
  await f(s0, y, k[0]);

  // Initial step: Hairer et al., Solving ODEs I, II.4 "Starting step size" (HINIT of DOPRI5/DOP853).
  scaleInto(w, y, y, rtol, atol);
  const d0 = maxRms(y, w, rows, dim);
  const d1 = maxRms(k[0], w, rows, dim);
  let h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * (d0 / d1);
  h0 = Math.min(h0, span);
  for (let i = 0; i < len; i++) tmp[i] = y[i] - h0 * k[0][i];
  await f(s0 - h0, tmp, k[1]);
  for (let i = 0; i < len; i++) tmp[i] = (k[1][i] - k[0][i]) / h0;
  const d2 = maxRms(tmp, w, rows, dim);
  const dm = Math.max(d1, d2);
  const h1 = dm <= 1e-15 ? Math.max(1e-6, h0 * 1e-3) : Math.pow(0.01 / dm, 1 / (tab.order + 1));
  let h = Math.min(100 * h0, h1, span);

  const beta = 0.04, expo1 = 1 / (tab.errorOrder + 1) - 0.75 * beta, safe = 0.9, facMin = 0.2, facMax = 10;
  let errOld = 1e-4;
  let lastRejected = false;
  let s = s0;
  while (s - s1 > 1e-14 * span) {
    if (stats.accepted + stats.rejected >= o.maxSteps) {
      throw new Error(`reference.ts: more than ${o.maxSteps} steps, stopped at sigma ${v.sigma(s)} (rtol ${rtol}); loosen rtol or raise maxSteps`);
    }
    const left = s - s1;
    if (h < 1e-12 * span) throw new Error(`reference.ts: step size underflow at sigma ${v.sigma(s)} (rtol ${rtol})`);
    const last = 1.1 * h >= left; // land exactly on s1, without a sliver of a last step
    if (last) h = left;
    const hs = -h;
    for (let st = 1; st < S; st++) {
      combine(tmp, y, hs, tab.a[st], k);
      await f(s + tab.c[st] * hs, tmp, k[st]);
    }
    combine(yNew, y, hs, tab.b, k);
    const sNew = last ? s1 : s + hs;
    if (fsalInError) await f(sNew, yNew, k[S]);
    scaleInto(w, y, yNew, rtol, atol);
    const e = stepError(tab, k, hs, w, rows, dim, scratch);
    if (!Number.isFinite(e)) throw new Error(`reference.ts: non-finite error estimate at sigma ${v.sigma(s)}`);
    const fac11 = Math.pow(e, expo1);
    if (e <= 1) {
      // PI controller: fac = err^expo1 / errOld^beta, bounded, with the safety factor.
      let fac = fac11 / Math.pow(errOld, beta);
      fac = Math.max(1 / facMax, Math.min(1 / facMin, fac / safe));
      errOld = Math.max(e, 1e-4);
      if (!fsalInError) await f(sNew, yNew, k[S]);
      // First same as last: the slope at (s_new, y_new) is the next step's first stage.
      const k0 = k[0];
      k[0] = k[S];
      k[S] = k0;
      const y1 = y;
      y = yNew;
      yNew = y1;
      s = sNew;
      stats.accepted++;
      let hNew = h / fac;
      if (lastRejected) hNew = Math.min(hNew, h);
      lastRejected = false;
      h = hNew;
      progress(s);
    } else {
      h = h / Math.min(1 / facMin, fac11 / safe);
      lastRejected = true;
      stats.rejected++;
    }
  }
  return { y, stats };
}
