// IIA calibration (Zhang et al., IIA NeurIPS preprint eqs. 13, 19, 23; ICLR 2024 eqs. 7, 24), generic over variants:
// for i = 0, 1, ... in order, from the states the calibrated sampler itself reaches (the trajectory advanced with
// the coefficients fitted so far, eq. 13: "z_{i-k} are implicitly determined by the initial state"), fit the
// coefficients of step i so that the coarse update is as close as possible, over a batch B of initial noises, to the
// fine target (the base over M sub-intervals of the same step, from the same state):
//     min_delta sum_{b in B} || (y_fine - y_base) - sum_j delta_j u_j ||^2,  theta = theta0 + delta.
// Least squares in float64 on the Jacobi-scaled normal equations (lstsq.ts: Cholesky, dependent directions dropped).
//
// Robustness rule (why a calibrated sampler is never worse than its base on fresh noise, step by step): near
// sigma -> 0 the directions shrink and turn nearly parallel, and a least-squares fit on |B| samples can fit noise.
// So each step tries the ridge path delta(lambda) = argmin ||r - U delta||^2 + lambda sum_j G_jj delta_j^2 for
// lambda in SHRINKAGE (0 = plain least squares; large lambda = back to the defaults) and measures every candidate
// out of fold: 2-fold cross-validation on B (fit on one half of the noises, residual on the other, and the other way
// round). It keeps the lambda with the lowest out-of-fold residual, and only if that is strictly below the defaults'
// (and the fit on all of B does not raise the calibration residual); otherwise the step keeps its defaults. The step
// then takes the fit on all of B with that lambda. Cross-validation reuses the fit's own model evaluations.
// Then the whole run is checked on H held-out noises the fit never saw (wholeRunCheck): the calibrated sampler must
// end closer than the base to the base on the M-times refined grid (mean per-sample distance lower by more than
// two standard errors of the paired differences, median not higher), else every step goes back to its defaults.
// crossValidate: false and heldOut: 0 leave only the plain fit.
//
// Noises: calibration sample b is exactly sample b of `iia sample --seed S` (seed S, stream 0, scale sigma_0);
// held-out sample b is seed S, stream IIA_HELD_OUT_STREAM, a stream no sampler draws from.
//
// Cost: per sample and step, the base step plus the base over M sub-intervals, whose first model call (at y_i,
// sigma_i) is the base step's own and is reused: below (M + 1) x the base's cost of sampling the |B| noises. The
// whole-run check samples each held-out noise three times (calibrated, base, base on the M-times refined grid:
// about (M + 2) x the base's cost); by default H is what is left of the (M + 1) x |B| budget after the fit, so the
// whole calibration stays within (M + 1) x sampling |B| with the base. Reported in `cost`.
import { firstNonFinite, sampleSize, type Batch } from '../core/batch.js';
import { normalBatch } from '../core/rng.js';
import type { ConditionalDenoiser } from '../models/conditional.js';
import { NonFiniteError, type Denoiser, type Prediction } from '../models/denoiser.js';
import type { GridPoint, Schedule } from '../schedules/schedule.js';
import type { StepContext, X0Transform } from '../solvers/solver.js';
import { COEFFICIENTS_FORMAT, COEFFICIENTS_SCHEMA_VERSION, modelFingerprint, type CoefficientSet, type StepCoefficients } from './coefficients.js';
import { addNormalEquations, normalEquations, solveRidge } from './lstsq.js';
import { getIiaVariant } from './registry.js';
import { checkR, combineStep, defaultsOf, directionVector, refineWholeGrid, type IiaStep, type IiaVariant } from './variant.js';

/** Noise stream of the held-out batch (0 = initial noise, i + 1 = stochastic step i, 0xfffffff0.. = GMM sampling). */
export const IIA_HELD_OUT_STREAM = 0xfffffff8;

/** Ridge weights tried per step, relative to each direction's squared norm (0 = plain least squares). */
export const SHRINKAGE: readonly number[] = [0, 1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1, 3, 10];

/** A conditional model: calibration noise b is paired with conditions[b mod C] (round-robin), held-out likewise. */
export interface ConditionalModel {
  family: ConditionalDenoiser;
  /** Conditions to average over (default: all of the family's, 0..K-1). */
  conditions?: readonly number[];
}

export interface CalibrateOptions {
  model: Denoiser | ConditionalModel;
  variant: IiaVariant | string;
  grid: readonly GridPoint[];
  schedule: Schedule;
  /** Name of the schedule as the run states it (recorded, compared on load; default schedule.kind). */
  scheduleName?: string;
  /** |B|, the calibration batch (default: the variant's, e.g. 200 for EDM, 16 for DDIM). */
  batch?: number;
  /** Sub-intervals of the fine target (default 3). */
  M?: number;
  /** Earlier steps the directions use (default: the variant's, 1 for IIA-EDM). */
  r?: number;
  /** Seed S of the calibration (and held-out) noises (default 0). */
  seed?: number;
  /**
   * Held-out noises of the whole-run check (default 'budget': as many as the (M + 1) x |B| cost budget leaves after
   * the fit, see the header); 0 disables the check.
   */
  heldOut?: number | 'budget';
  /** Per-step acceptance by 2-fold cross-validation on B (default true); false: the plain least-squares fit. */
  crossValidate?: boolean;
  baseOptions?: Record<string, unknown>;
  x0Transform?: X0Transform;
  /** Model spec and fingerprint to record (default: the model's name and the SHA-256 of it). */
  modelName?: string;
  fingerprint?: string;
  /**
   * Whole-run acceptance on the held-out noises (default true when heldOut > 0): keep the calibrated coefficients
   * only if the calibrated sampler's endpoints are closer than the base's to the base run on the M-times refined
   * grid (see wholeRunCheck); otherwise every step falls back to its defaults.
   */
  globalCheck?: boolean;
  /** Ridge path (default SHRINKAGE). */
  shrinkage?: readonly number[];
  onProgress?: (done: number, total: number, step: StepCoefficients) => void;
  signal?: AbortSignal;
}

/** The calibration noises, stepped along the calibrated trajectory. */
interface Track {
  n: number;
  ctx: StepContext;
  y: Batch;
  baseState: unknown;
  history: unknown;
}

function isConditional(m: Denoiser | ConditionalModel): m is ConditionalModel {
  return (m as ConditionalModel).family !== undefined;
}

function positiveInt(field: string, v: number, min = 1): number {
  if (!(Number.isInteger(v) && v >= min)) throw new Error(`calibrate: ${field} is ${v}; expected an integer >= ${min}`);
  return v;
}

/**
 * The step context of one batch: counts evaluated rows and answers a repeated (state array, sigma, t) from a small
 * memo — the fine target's first call repeats the base step's first call (same y_i, same sigma_i).
 */
function makeContext(model: Denoiser, grid: readonly GridPoint[], schedule: Schedule, seed: number, x0Transform: X0Transform | undefined, count: { rows: number }): StepContext {
  const memo: { y: Float32Array; sigma: number; t: number; p: Promise<Prediction> }[] = [];
  return {
    grid,
    schedule,
    x0Transform,
    seed,
    firstSample: 0,
    predict(y: Batch, at: GridPoint): Promise<Prediction> {
      const hit = memo.find((m) => m.y === y.data && m.sigma === at.sigma && m.t === at.t);
      if (hit) return hit.p;
      count.rows += y.shape[0];
      const p = model.predict(y, at);
      memo.push({ y: y.data, sigma: at.sigma, t: at.t, p });
      if (memo.length > 4) memo.shift();
      return p;
    },
  };
}

/** Squared residual ||r - sum_j delta_j u_j||^2 summed over elements [from, to) (whole rows of the batch). */
function residual(r: Float64Array, U: readonly Float64Array[], delta: readonly number[], from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) {
    let e = r[i];
    for (let j = 0; j < U.length; j++) if (delta[j] !== 0) e -= delta[j] * U[j][i];
    s += e * e;
  }
  return s;
}

/** One batch's step: its directions, the residual of the defaults (fine - base) and the directions as float64. */
/** Float64 arrays of one step's residual and directions, reused from step to step (they are as long as the batch). */
interface StepScratch {
  res?: Float64Array;
  U: Float64Array[];
}

async function stepTrack(v: IiaVariant, t: Track, i: number, r: number, M: number, baseOptions: unknown, scratch: StepScratch) {
  const st: IiaStep<unknown, unknown> = await v.step(t.ctx, i, t.y, t.baseState, t.history, r, baseOptions);
  const fine = await v.fineTarget(t.ctx, i, t.y, t.baseState, M, baseOptions);
  const base = st.base.y.data;
  for (const [what, v] of [['base step', base], ['fine target', fine]] as const) {
    if (firstNonFinite(v) >= 0) throw new NonFiniteError(i, t.ctx.grid[i].sigma, `the ${what} during IIA calibration`);
  }
  const res = scratch.res?.length === base.length ? scratch.res : (scratch.res = new Float64Array(base.length));
  for (let k = 0; k < res.length; k++) res[k] = fine[k] - base[k];
  const U = st.dirs.directions.map((_, j) => {
    if (scratch.U[j]?.length !== base.length) scratch.U[j] = new Float64Array(base.length);
    return directionVector(st.dirs, j, scratch.U[j]);
  });
  return { st, res, U };
}

/** Per-sample L2 distances of two batches' rows. */
function rowErrors(a: ArrayLike<number>, b: ArrayLike<number>, n: number): number[] {
  const d = a.length / n;
  return Array.from({ length: n }, (_, k) => {
    let s = 0;
    for (let i = k * d; i < (k + 1) * d; i++) s += (a[i] - b[i]) ** 2;
    return Math.sqrt(s);
  });
}

function meanMedian(e: number[]): { mean: number; median: number } {
  const s = [...e].sort((x, y) => x - y);
  const m = s.length >> 1;
  return { mean: e.reduce((x, y) => x + y, 0) / e.length, median: s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2 };
}

/**
 * The whole-run acceptance test: per-step fits lower each step's residual, but a multistep base's local errors can
 * partly cancel over the run (fixed-weight Adams-Bashforth, UniPC's corrector), so a sampler better at every step
 * is not always better at the end. Compares, on the held-out noises, the calibrated endpoints (the held-out track)
 * and the base's endpoints with the base on the grid refined M times (sub-intervals as in the fine targets).
 * Accepted when the mean per-sample distance (L2 over the sample) is lower by more than two standard errors of the
 * paired differences (a one-sided paired test: with few held-out noises, one sample that happens to end closer must
 * not decide) and the median is not higher.
 */
async function wholeRunCheck(
  v: IiaVariant,
  held: { model: Denoiser; y0: Batch; y: Float32Array; n: number },
  grid: readonly GridPoint[],
  schedule: Schedule,
  M: number,
  seed: number,
  baseOptions: unknown,
  x0Transform: X0Transform | undefined,
  rows: { rows: number },
): Promise<NonNullable<CoefficientSet['globalCheck']>> {
  const run = async (g: readonly GridPoint[]): Promise<Float32Array> => {
    const ctx = makeContext(held.model, g, schedule, seed, x0Transform, rows);
    let y = held.y0;
    let s = v.base.init(y, baseOptions);
    for (let i = 0; i + 1 < g.length; i++) {
      const r = await v.base.step(ctx, i, y, s, baseOptions);
      y = r.y;
      s = r.state;
    }
    return y.data;
  };
  const ref = await run(refineWholeGrid(grid, schedule, M));
  const eb = rowErrors(await run(grid), ref, held.n);
  const ei = rowErrors(held.y, ref, held.n);
  const base = meanMedian(eb), calibrated = meanMedian(ei);
  const improved = ei.filter((e, k) => e < eb[k]).length;
  // Distances, not squared distances: a held-out sample that ends in another mode than the reference would
  // otherwise decide the mean alone.
  const diff = eb.map((e, k) => e - ei[k]);
  const gain = diff.reduce((a, x) => a + x, 0) / diff.length;
  const sd = diff.length > 1 ? Math.sqrt(diff.reduce((a, x) => a + (x - gain) ** 2, 0) / (diff.length - 1)) : 0;
  const accepted = gain > 2 * (sd / Math.sqrt(diff.length)) && calibrated.median <= base.median;
  return { reference: `base on the grid refined ${M} times`, base, calibrated, improved, accepted };
}

/** The state after step i of a calibrated run: the step's coefficients (or its base update when it kept them). */
function advanceTrack(t: Track, st: IiaStep<unknown, unknown>, step: StepCoefficients): void {
  const formed = step.accepted ? combineStep(st, step.values) : undefined;
  const y = formed ? formed.data : st.base.y.data;
  const next = st.advance(step.values, y, formed?.kept);
  t.y = { data: y, shape: t.y.shape };
  t.baseState = next.baseState;
  t.history = next.history;
}

/** The normal equations of rows [from, to) (element offsets) and the defaults' residual there. */
function foldEquations(res: Float64Array, U: readonly Float64Array[], from: number, to: number) {
  const ne = normalEquations(U.map((u) => u.subarray(from, to)), res.subarray(from, to));
  return { ...ne, e0: residual(res, U, new Array<number>(U.length).fill(0), from, to) };
}

/** e(delta) = e0 - 2 b.delta + delta.G.delta, the residual of delta through a fold's normal equations. */
function quad(q: { G: number[][]; b: number[]; e0: number }, delta: readonly number[]): number {
  let e = q.e0;
  for (let j = 0; j < delta.length; j++) {
    e -= 2 * q.b[j] * delta[j];
    for (let l = 0; l < delta.length; l++) e += delta[j] * q.G[j][l] * delta[l];
  }
  return Math.max(0, e);
}

const usable = (delta: number[]): boolean => !delta.every((x) => x === 0) && delta.every((x) => Number.isFinite(x));

/**
 * The fit of one step (see the header): the ridge path, each lambda scored out of fold (fit on rows [0, half), residual
 * on [half, n), and the other way round), the best lambda's fit on all rows; null when no candidate beats the
 * defaults out of fold or the fit raises the calibration residual. Without cross-validation: the plain fit.
 */
function fitStep(res: Float64Array, U: readonly Float64Array[], d: number, batch: number, shrinkage: readonly number[], crossValidate: boolean) {
  const all = batch * d;
  if (!crossValidate || batch < 2) {
    const full = normalEquations(U, res);
    const calBefore = residual(res, U, new Array<number>(U.length).fill(0), 0, all);
    const delta = solveRidge(full.G, full.b, shrinkage[0] ?? 0);
    if (!usable(delta)) return { calBefore, best: null };
    const cal = residual(res, U, delta, 0, all);
    return { calBefore, best: cal <= calBefore ? { delta, lambda: shrinkage[0] ?? 0, cal, outOfFold: null } : null };
  }
  const half = Math.floor(batch / 2) * d;
  const A = foldEquations(res, U, 0, half), B = foldEquations(res, U, half, all);
  // All of B's equations and the defaults' residual are the folds' sums: no third pass over the vectors.
  const full = { G: A.G.map((row) => [...row]), b: [...A.b] };
  addNormalEquations(full, B);
  const calBefore = A.e0 + B.e0;
  let pick: { lambda: number; oof: number } | null = null;
  for (const lambda of shrinkage) {
    const dA = solveRidge(A.G, A.b, lambda), dB = solveRidge(B.G, B.b, lambda);
    if (!usable(dA) || !usable(dB)) continue;
    const oof = quad(B, dA) + quad(A, dB);
    if (oof < calBefore * (1 - 1e-9) && (!pick || oof < pick.oof)) pick = { lambda, oof };
  }
  if (!pick) return { calBefore, best: null };
  // The direct residuals decide in the end (the quadratic form can lose digits when the fit is near exact).
  const delta = solveRidge(full.G, full.b, pick.lambda);
  if (!usable(delta)) return { calBefore, best: null };
  const cal = residual(res, U, delta, 0, all);
  const outOfFold = residual(res, U, solveRidge(A.G, A.b, pick.lambda), half, all) + residual(res, U, solveRidge(B.G, B.b, pick.lambda), 0, half);
  if (!(cal <= calBefore) || !(outOfFold < calBefore)) return { calBefore, best: null };
  return { calBefore, best: { delta, lambda: pick.lambda, cal, outOfFold } };
}

export async function calibrate(o: CalibrateOptions): Promise<CoefficientSet> {
  const t0 = performance.now();
  const v = typeof o.variant === 'string' ? getIiaVariant(o.variant) : o.variant;
  const grid = o.grid;
  const steps = grid.length - 1;
  if (steps < 1) throw new Error('calibrate: grid has fewer than 2 points; expected at least one step');
  const M = positiveInt('M', o.M ?? 3);
  const batch = positiveInt('batch', o.batch ?? v.defaultBatch);
  const heldOutOption = o.heldOut ?? 'budget';
  if (heldOutOption !== 'budget') positiveInt('heldOut', heldOutOption, 0);
  const crossValidate = o.crossValidate ?? true;
  const r = o.r ?? v.r.default;
  checkR(v, r);
  const seed = o.seed ?? 0;
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw new Error(`calibrate: seed is ${seed}; expected an integer in [0, 2^32)`);
  const baseOptions = o.baseOptions;
  v.checkOptions(baseOptions);
  v.base.check?.(grid, o.schedule, baseOptions);
  const shrinkage = o.shrinkage ?? SHRINKAGE;
  const nfe = v.base.nfe(steps, baseOptions);

  const conditional = isConditional(o.model) ? o.model : undefined;
  const sampleShape = conditional ? conditional.family.sampleShape : (o.model as Denoiser).sampleShape;
  const conditions = conditional ? [...(conditional.conditions ?? conditional.family.conditionNames.map((_, k) => k))] : null;
  if (conditions && conditions.length === 0) throw new Error('calibrate: model.conditions is empty; expected at least one condition');
  const modelName = o.modelName ?? (conditional ? conditional.family.name : (o.model as Denoiser).name);
  const d = sampleSize([0, ...sampleShape]);

  // Calibration noise b: sample b of seed S (stream 0, as `sample` draws it); held-out noise b: stream
  // IIA_HELD_OUT_STREAM. Conditions round-robin over both, the held-out ones continuing after the calibration's.
  const condOf = (b: number): number => conditions![b % conditions!.length];
  const modelFor = (from: number, count: number): Denoiser =>
    conditional ? conditional.family.withCondition(Array.from({ length: count }, (_, b) => condOf(from + b))) : (o.model as Denoiser);
  const y0: Batch = { data: normalBatch(seed, 0, batch, d, grid[0].sigma, 0), shape: [batch, ...sampleShape] };
  const rows = { rows: 0 };
  const t: Track = { n: batch, ctx: makeContext(modelFor(0, batch), grid, o.schedule, seed, o.x0Transform, rows), y: y0, baseState: v.base.init(y0, baseOptions), history: v.initHistory() };

  const out: StepCoefficients[] = [];
  const scratch: StepScratch = { U: [] };
  for (let i = 0; i < steps; i++) {
    if (o.signal?.aborted) throw new Error('calibration was cancelled');
    const c = await stepTrack(v, t, i, r, M, baseOptions, scratch);
    const defaults = defaultsOf(c.st.dirs);
    const names = c.st.dirs.directions.map((x) => x.name);
    const fit = names.length > 0 ? fitStep(c.res, c.U, d, batch, shrinkage, crossValidate) : { calBefore: 0, best: null };
    const best = fit.best;
    const delta = best?.delta ?? new Array<number>(names.length).fill(0);
    const step: StepCoefficients = {
      step: i,
      sigma: grid[i].sigma,
      sigmaNext: grid[i + 1].sigma,
      names,
      values: defaults.map((x, j) => x + delta[j]),
      defaults,
      accepted: best !== null,
      shrinkage: best ? best.lambda : null,
      residual: {
        calibration: { before: fit.calBefore / batch, after: (best ? best.cal : fit.calBefore) / batch },
        // Out of fold: the defaults' residual is the same on every fold, so "before" is the calibration's.
        heldOut: crossValidate && batch >= 2 ? { before: fit.calBefore / batch, after: (best?.outOfFold ?? fit.calBefore) / batch } : null,
      },
    };
    out.push(step);
    advanceTrack(t, c.st, step); // along the calibrated trajectory
    o.onProgress?.(i + 1, steps, step);
  }

  // The whole-run check's noises: by default what the (M + 1) x |B| budget leaves after the fit, each costing the
  // calibrated run, the base run and the base on the M-times refined grid.
  const fitRows = rows.rows;
  const refinedNfe = v.base.nfe(refineWholeGrid(grid, o.schedule, M).length - 1, baseOptions);
  const heldOut = heldOutOption === 'budget' ? Math.max(0, Math.floor(((M + 1) * nfe * batch - fitRows) / (2 * nfe + refinedNfe))) : heldOutOption;
  let globalCheck: CoefficientSet['globalCheck'] = null;
  if (heldOut > 0 && (o.globalCheck ?? true) && out.some((s) => s.accepted)) {
    const model = modelFor(batch, heldOut);
    const h0: Batch = { data: normalBatch(seed, 0, heldOut, d, grid[0].sigma, IIA_HELD_OUT_STREAM), shape: [heldOut, ...sampleShape] };
    const held: Track = { n: heldOut, ctx: makeContext(model, grid, o.schedule, seed, o.x0Transform, rows), y: h0, baseState: v.base.init(h0, baseOptions), history: v.initHistory() };
    for (let i = 0; i < steps; i++) advanceTrack(held, await v.step(held.ctx, i, held.y, held.baseState, held.history, r, baseOptions), out[i]);
    globalCheck = await wholeRunCheck(v, { model, y0: h0, y: held.y.data, n: heldOut }, grid, o.schedule, M, seed, baseOptions, o.x0Transform, rows);
    if (!globalCheck.accepted) {
      for (const s of out) {
        s.values = [...s.defaults];
        s.accepted = false;
        s.shrinkage = null;
        s.residual.calibration.after = s.residual.calibration.before;
        if (s.residual.heldOut) s.residual.heldOut.after = s.residual.heldOut.before;
      }
    }
  }

  const modelEvaluations = rows.rows;
  const baseSamplingEvaluations = nfe * batch;
  return {
    format: COEFFICIENTS_FORMAT,
    schemaVersion: COEFFICIENTS_SCHEMA_VERSION,
    solver: v.name,
    baseSolver: v.base.info.name,
    baseOptions: { ...(baseOptions ?? {}) },
    schedule: o.scheduleName ?? o.schedule.kind,
    grid: grid.map((p) => ({ sigma: p.sigma, t: p.t, alpha: p.alpha })),
    steps,
    nfe,
    M,
    r,
    batch,
    heldOut,
    seed,
    heldOutStream: IIA_HELD_OUT_STREAM,
    model: { name: modelName, fingerprint: o.fingerprint ?? modelFingerprint(modelName) },
    conditions,
    coefficients: out,
    globalCheck,
    cost: { modelEvaluations, baseSamplingEvaluations, ratio: modelEvaluations / baseSamplingEvaluations, seconds: (performance.now() - t0) / 1000 },
    created: new Date().toISOString(),
  };
}
