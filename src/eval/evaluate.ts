// evaluate(): the measuring instrument of `iia eval`. Every solver runs from the same initial noises as a reference
// solution of the same probability-flow ODE (reference.ts), and each endpoint is compared with the reference's;
// distribution metrics are added where the truth is known (exact mixture; training images). Browser-safe: training
// images are passed in (node-data.ts loads the embedded ones).
import { sampleSize } from '../core/batch.js';
import { normalBatch } from '../core/rng.js';
import { makeGrid, type GridOptions } from '../grids/index.js';
import { GaussianMixture } from '../models/gmm.js';
import { sample, stepsForNfe } from '../sample.js';
import { makeSchedule } from '../schedules/index.js';
import type { GridPoint, Schedule } from '../schedules/schedule.js';
import { getSolver } from '../solvers/index.js';
import type { Solver, X0Transform } from '../solvers/solver.js';
import { denoiserField, fieldFor, type Field } from './exact64.js';
import { imageLayoutOf } from './features.js';
import {
  gmmLogLikelihood,
  imageDistances,
  modeAccuracy,
  modeTotalVariation,
  nearestImage,
  perSampleRms,
  psnr,
  rmse,
  rp64Set,
  slicedW2,
  median,
  type FeatureSet,
} from './metrics.js';
import type {
  DistributionMetrics,
  EvalReferenceSummary,
  EvalRecord,
  EvalSolverSpec,
  EvaluateOptions,
  EvaluateResult,
  Prepared,
} from './eval-types.js';
import { maxRelativeDifference, referenceSolve, referenceWithCheck, type CheckedReference, type Convergence } from './reference.js';

export type * from './eval-types.js';

function fail(field: string, msg: string): never {
  throw new Error(`evaluate.ts: ${field}: ${msg}`);
}

function normaliseSpec(s: string | EvalSolverSpec, i: number): EvalSolverSpec {
  if (typeof s === 'string') {
    if (!s) fail(`solvers[${i}]`, 'expected a solver name, got an empty string');
    return { name: s };
  }
  if (!s || typeof s.name !== 'string' || !s.name) fail(`solvers[${i}]`, 'expected a solver name or { name, options }');
  return s;
}

function positiveInts(field: string, v: number[] | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0) fail(field, 'expected a non-empty list of positive integers');
  for (const x of v) if (!(Number.isInteger(x) && x >= 1)) fail(field, `expected positive integers, got ${x}`);
  return v;
}

function isStochastic(spec: EvalSolverSpec, solver: Solver<any, any>, options: Record<string, unknown>): boolean {
  if (spec.stochastic !== undefined) return spec.stochastic;
  const positive = (k: string): boolean => typeof options[k] === 'number' && (options[k] as number) > 0;
  return solver.info.stochastic || positive('eta') || positive('sChurn');
}

/** The field the reference integrates, by the precision asked for (see EvalReferenceOptions.precision). */
function referenceField(o: EvaluateOptions, schedule: Schedule): { field: Field; twin: Field | undefined } {
  const exactModel = o.info.kind === 'gmm' || o.info.kind === 'data';
  // Images define the model only for a data: model; a network trained on them keeps its own field.
  const twin0 = fieldFor(o.model, { images: o.info.kind === 'data' ? o.images : undefined });
  const twin = twin0.precision === 'float64' ? twin0 : undefined;
  // Exact models are defined at every sigma > 0 (no schedule floor); networks are evaluated on their schedule.
  const asModel = denoiserField(o.model, exactModel ? undefined : schedule);
  const precision = o.referenceOptions?.precision ?? 'auto';
  switch (precision) {
    case 'float64':
      if (!twin) fail('referenceOptions.precision', `'float64' needs an exact model with a float64 evaluation (a GMM, or data: with its images); ${o.info.name} evaluates in float32`);
      return { field: twin, twin };
    case 'model':
      return { field: asModel, twin };
    case 'auto':
      return { field: twin && o.info.kind !== 'data' ? twin : asModel, twin };
    default:
      fail('referenceOptions.precision', `expected 'auto', 'float64' or 'model', got '${String(precision)}'`);
  }
}

interface Truth {
  gmm?: GaussianMixture;
  exact?: Float32Array;
  images?: Float32Array;
  imageSet?: FeatureSet;
  dim: number;
  shape: number[];
}

function distributionMetrics(t: Truth, x: ArrayLike<number>, reference: ArrayLike<number> | null, o: EvaluateOptions): DistributionMetrics {
  const m: DistributionMetrics = {};
  if (t.gmm) {
    m.loglik = gmmLogLikelihood(t.gmm, x);
    m.mode_accuracy = reference ? modeAccuracy(t.gmm, x, reference) : null;
    m.mode_tv = modeTotalVariation(t.gmm, x);
    m.sw2 = slicedW2(x, t.exact!, t.dim, { projections: o.metricOptions?.projections, seed: o.seed ?? 0 });
  }
  if (t.images) {
    const nn = nearestImage(x, t.images, t.dim);
    m.nn_rms_mean = nn.mean;
    m.nn_rms_median = nn.median;
    if (t.imageSet && x.length / t.dim >= 2) Object.assign(m, imageDistances(x, t.imageSet, t.shape));
  }
  return m;
}

function isImageShape(shape: readonly number[]): boolean {
  try {
    imageLayoutOf(shape);
    return true;
  } catch {
    return false;
  }
}

/** Runs every solver at every step count (or NFE budget) from the same noises and measures it. */
export async function evaluate(o: EvaluateOptions): Promise<EvaluateResult> {
  const { model, info } = o;
  if (!Array.isArray(o.solvers) || o.solvers.length === 0) fail('solvers', 'expected a non-empty list of solver names');
  const specs = o.solvers.map(normaliseSpec);
  const stepsList = positiveInts('steps', o.steps);
  const nfeList = positiveInts('nfe', o.nfe);
  if (!!stepsList === !!nfeList) fail('steps', 'give either steps or nfe (one list), not both and not neither');
  if (!(Number.isInteger(o.n) && o.n >= 1)) fail('n', `expected a positive integer, got ${o.n}`);
  const seed = o.seed ?? 0;
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) fail('seed', `expected an integer in [0, 2^32), got ${seed}`);
  const calibrationSeed = o.calibrationSeed ?? (seed + 1) >>> 0;
  const shape = [...model.sampleShape];
  const dim = sampleSize([0, ...shape]);
  const n = o.n;
  if (o.noise) {
    const want = [n, ...shape];
    if (o.noise.shape.length !== want.length || o.noise.shape.some((v, i) => v !== want[i])) {
      fail('noise', `shape [${o.noise.shape}] does not fit; expected [${want}]`);
    }
  }
  if (o.images && (o.images.length === 0 || o.images.length % dim !== 0)) {
    fail('images', `${o.images.length} values are not a whole number of [${shape}] images`);
  }
  const schedule = o.schedule ?? makeSchedule(info.defaultSchedule);
  const gridOpts: Omit<GridOptions, 'steps'> = o.grid ?? { kind: 'karras' };
  const resolveSolver = o.resolveSolver ?? getSolver;
  const refOpts = o.referenceOptions ?? {};
  const progress = o.onProgress;

  // The truth the distribution metrics compare against.
  const truth: Truth = { dim, shape };
  if (model instanceof GaussianMixture) {
    truth.gmm = model;
    const m = o.metricOptions?.exactSamples ?? Math.max(n, 1024);
    truth.exact = model.sampleExact(m, seed).data;
  }
  if (o.images) {
    truth.images = o.images;
    if (isImageShape(shape)) truth.imageSet = rp64Set(o.images, shape);
  }
  const images = isImageShape(shape) && info.kind !== 'gmm';

  // Reference solutions, one per distinct (sigma_from, sigma_to) of the grids; all from the same z.
  const { field, twin } = referenceField(o, schedule);
  const z = o.noise ? undefined : normalBatch(seed, 0, n, dim, 1, 0);
  const references = new Map<string, { ref: CheckedReference; from: number; to: number }>();
  let crossCheck: EvalReferenceSummary['crossCheck'];
  const referenceFor = async (grid: readonly GridPoint[]) => {
    const first = grid[0], last = grid[grid.length - 1];
    const key = `${first.sigma}|${last.sigma}|${first.alpha}`;
    const hit = references.get(key);
    if (hit) return hit;
    // y_T exactly as sample() builds it: sigma_max * z in float32, or the given x_T / alpha_0.
    let yT32: Float32Array;
    if (o.noise) {
      yT32 = o.noise.data.slice();
      if (first.alpha !== 1) for (let i = 0; i < yT32.length; i++) yT32[i] /= first.alpha;
    } else {
      yT32 = new Float32Array(n * dim);
      for (let i = 0; i < yT32.length; i++) yT32[i] = first.sigma * z![i];
    }
    const yT = { data: Float64Array.from(yT32), shape: [n, ...shape] };
    const ref = await referenceWithCheck(field, yT, { from: first.sigma, to: last.sigma }, {
      ...refOpts,
      batch: refOpts.batch ?? (field.precision === 'float64' ? undefined : o.batch),
      onProgress: progress && ((f) => progress({ phase: 'reference', label: `reference ${first.sigma} -> ${last.sigma}`, fraction: f })),
      signal: o.signal,
    });
    // Float64 cross-check of the first samples when the reference itself ran on the float32 model.
    const wantCross = refOpts.crossCheck ?? (twin && field !== twin && (o.images?.length ?? Infinity) <= 2e5 ? 4 : 0);
    if (twin && field !== twin && wantCross > 0 && !crossCheck) {
      const k = Math.min(n, wantCross);
      const part = { data: yT.data.subarray(0, k * dim), shape: [k, ...shape] };
      const r64 = await referenceSolve(twin, part, { from: first.sigma, to: last.sigma }, { signal: o.signal });
      crossCheck = { samples: k, maxRelDiff: maxRelativeDifference(ref.y.subarray(0, k * dim), r64.y, dim), seconds: r64.seconds };
    }
    const entry = { ref, from: first.sigma, to: last.sigma };
    references.set(key, entry);
    return entry;
  };

  const records: EvalRecord[] = [];
  const runs: { spec: EvalSolverSpec; solver: Solver<any, any>; steps: number; budget?: number }[] = [];
  specs.forEach((spec, i) => {
    let solver: Solver<any, any>;
    try {
      solver = resolveSolver(spec.name);
    } catch (e) {
      // ML-EM runs on a hierarchy of models, which only its hooks (src/mlem/eval.ts, Node) can load.
      const hint = spec.name === 'ml-em' && !o.resolveSolver ? '; ml-em needs a hierarchy of trained levels: pass the hooks of mlemEvalHooks (iia-diffusion/node) as resolveSolver and prepare' : '';
      fail(`solvers[${i}]`, (e as Error).message + hint);
    }
    if (stepsList) for (const steps of stepsList) runs.push({ spec, solver, steps });
    else {
      // A budget below the solver's one-step cost (PNDM's warm-up) is skipped, not an error, when others fit.
      const fits = nfeList!.filter((budget) => solver.nfe(1, spec.options) <= budget);
      if (!fits.length) stepsForNfe(solver, Math.max(...nfeList!), spec.options); // throws the clear message
      for (const budget of fits) runs.push({ spec, solver, steps: stepsForNfe(solver, budget, spec.options), budget });
    }
  });

  let firstReference: CheckedReference | undefined;
  for (const run of runs) {
    const { spec, steps } = run;
    const label = `${spec.label ?? spec.name}, ${steps} steps`;
    let grid: GridPoint[];
    try {
      grid = makeGrid(schedule, { ...gridOpts, steps } as GridOptions);
    } catch (e) {
      fail(`grid (${label})`, (e as Error).message);
    }
    let solver = run.solver;
    let solverOptions: Record<string, unknown> = { ...(spec.options ?? {}) };
    let x0Transform: X0Transform | undefined;
    let calibrated: Prepared | undefined;
    if (o.prepare) {
      const p = await o.prepare(spec.name, { solverName: spec.name, solver, solverOptions, model, schedule, grid, steps, seed: calibrationSeed, n, batch: o.batch, signal: o.signal });
      if (p) {
        calibrated = p;
        solver = p.solver ?? solver;
        solverOptions = p.solverOptions ?? solverOptions;
        x0Transform = p.x0Transform;
      }
    }
    const stochastic = isStochastic(spec, solver, solverOptions);
    const ref = await referenceFor(grid);
    firstReference ??= ref.ref;
    const onProgress = progress && ((done: number, total: number) => progress({ phase: 'solver', label, fraction: done / total }));
    const res = calibrated?.run
      ? await calibrated.run({ grid, schedule, n, seed, noise: o.noise, batch: o.batch, onProgress, signal: o.signal })
      : await sample({
      model,
      solver,
      grid,
      schedule,
      n,
      seed,
      batch: o.batch,
      noise: o.noise,
      solverOptions,
      x0Transform,
      onProgress,
      signal: o.signal,
    });
    const x = res.samples.data;
    // sample() returns x = alpha_N y; the reference is y.
    const aN = grid[grid.length - 1].alpha;
    const refY = aN === 1 ? ref.ref.y : ref.ref.y.map((v) => aN * v);
    const rec: EvalRecord = {
      model: info.name,
      solver: spec.label ?? spec.name,
      ...(spec.options && Object.keys(spec.options).length ? { options: spec.options } : {}),
      steps,
      nfe: res.nfe,
      ...(run.budget !== undefined ? { nfe_budget: run.budget } : {}),
      n,
      seed,
      stochastic,
      calibration_seed: calibrated ? (calibrated.calibrationSeed === undefined ? calibrationSeed : calibrated.calibrationSeed) : null,
      grid: gridOpts.kind,
      schedule: schedule.kind,
      sigma_max: grid[0].sigma,
      sigma_end: grid[grid.length - 1].sigma,
      rmse: null,
      median_error: null,
      max_error: null,
      seconds: res.seconds,
    };
    if (!stochastic) {
      const per = perSampleRms(x, refY, dim);
      rec.rmse = rmse(x, refY);
      rec.median_error = median(per);
      rec.max_error = per.reduce((a, b) => Math.max(a, b), 0);
      if (images) rec.psnr = psnr(rec.rmse);
    } else if (images) rec.psnr = null;
    progress?.({ phase: 'metrics', label, fraction: 0 });
    Object.assign(rec, distributionMetrics(truth, x, stochastic ? null : refY, o));
    if (calibrated?.record) Object.assign(rec, calibrated.record);
    if ('record' in res && res.record) Object.assign(rec, res.record);
    records.push(rec);
  }

  // Summary of the reference: summed over the distinct ranges.
  const all = [...references.values()];
  const worst = all.reduce((w, r) => (r.ref.convergence.maxRelDiff > w.ref.convergence.maxRelDiff ? r : w), all[0]);
  const convergence: Convergence = { ...worst.ref.convergence, nfe: all.reduce((a, r) => a + r.ref.convergence.nfe, 0) };
  convergence.ok = all.every((r) => r.ref.convergence.ok);
  const refMetrics = distributionMetrics(truth, firstReference!.y, null, o);
  return {
    model: info.name,
    n,
    seed,
    reference: {
      nfe: convergence.nfe,
      seconds: all.reduce((a, r) => a + r.ref.seconds, 0),
      convergence,
      precision: field.precision,
      method: refOpts.method ?? 'dop853',
      ranges: all.map((r) => ({ from: r.from, to: r.to, sigmaEnd: r.ref.sigmaEnd })),
      ...(crossCheck ? { crossCheck } : {}),
      metrics: refMetrics,
    },
    records,
  };
}
