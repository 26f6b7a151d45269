// ML-EM benchmark (issue 5, item 3): the trained MLP hierarchy of a data set against the exact empirical denoiser.
//   1. Each level's error: RMS per pixel of D_level - D_exact at noisy data points y = Y_n + sigma z, at the 16
//      quantile midpoints of EDM's training sigma distribution (log-normal, P_mean -1.2, P_std 1.2; equal weights, so
//      the overall RMS is a quadrature of the training distribution), noise from Philox streams no training used.
//   2. Each level's cost: FLOPs per sample (model card) and measured time per sample (batch 256, 1 ORT thread).
//   3. gamma: least-squares slope of log cost against log error (cost ~ error^-gamma).
//   4. ML-EM against Euler-Maruyama with the finest level alone, SDE (eta = 1) and ODE (eta = 0), Karras grids of
//      N = 2^j + 1 points (then sigma = 0), all sub-grids of one fine grid of 513 points, the same Brownian path for
//      every run (increments summed from the fine grid). Error of a run: RMS per pixel of its samples against the
//      reference = EM with the finest level on the fine grid (512 steps), same initial noise and Brownian path (a
//      strong, pathwise error). Also reported: the same against EM with the exact denoiser on the fine grid (the
//      "true" SDE, where the finest level's own error sets a floor). ML-EM probabilities: the step-dependent MLMC
//      allocation of src/mlem/schedule.ts, p_{i,l} = min(1, kappa |a_i| sqrt(v_l(sigma_i) / c_l)), with
//      v_l(sigma) = E|D^l - D^{l-1}|^2 measured at 20 noise levels in [0.002, 80], and kappa set so that the expected
//      cost is a fraction (1/2 .. 1/32) of EM-finest's at the same N; its curve is the Pareto front of all runs.
//   Speed-up: at the error of each ML-EM Pareto point, the cost EM-finest needs (log-log interpolation of its curve)
//   divided by ML-EM's cost. Cost = FLOPs actually spent (the realised coins), per sample.
//   5. Estimator variants: every ML-EM run above is made for each of coarsest 'fixed' (level 1 at every step) and
//      'random' (level 1 drawn too, against D^0 = 0, with v_1 = E|D^1|^2) and couplings 'nested' and 'independent',
//      each with its own schedule for the same budgets, so at equal (N, budget) the runs cost the same in
//      expectation and share the initial noise and Brownian path: compared pairwise (error ratio) and by their Pareto
//      fronts (cost ratio at equal error). The main tables (and `mlEm`, which bench/claims.ts reads) are the
//      library's default estimator (DEFAULT_COARSEST, DEFAULT_COUPLING of src/mlem/ml-em.ts).
//   6. In `iia eval`: the library call behind `iia eval --model mlp:DATA:W --solvers euler,ml-em,ml-em:budget=0.5
//      --nfe 4,8,16,32` (evaluate() with mlemEvalHooks, src/mlem/eval.ts) on the finest MLP: every run from the same
//      noises, errors against the evaluation's reference (the finest level's probability-flow ODE, DOP853), ML-EM at
//      eta = 0 with the library's budget-1 default and at budget 1/2, its NFE the expected finest-level evaluations.
// `npm run bench -- mlem` runs it on digits and writes bench/results/mlem.json (bench/run.ts). Alone:
// `npx tsx bench/mlem.ts [digits|fashion] [--out FILE.json]` prints the Markdown (and writes the JSON to FILE.json);
// BENCH_MLEM_SEED etc. as in defaultMlemConfig. Never asserts.
import fs from 'node:fs';
import path from 'node:path';
import { loadEmbeddedDataset } from '../src/models/data.js';
import { createEmpiricalDenoiser } from '../src/models/empirical-onnx.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { makeSchedule } from '../src/schedules/index.js';
import { makeGrid, karrasSigmas } from '../src/grids/index.js';
import { DEFAULT_COARSEST, DEFAULT_COUPLING, mlEm, nestedBrownian, type BrownianSource, type Coarsest, type Coupling, type Level } from '../src/mlem/ml-em.js';
import { fromTable, scheduleForBudget, varianceTable } from '../src/mlem/schedule.js';
import { loadMlpLevels, meanSquareBySigma, mlpCards } from '../src/mlem/levels.js';
import { errorProbe, probePredictions, rmsBySigma } from '../src/mlem/error.js';
import { normalBatch } from '../src/core/rng.js';
import { slicedW2 } from '../src/eval/metrics.js';
import { evaluate } from '../src/eval/evaluate.js';
import { mlemEvalHooks } from '../src/mlem/eval.js';
import { loadModel } from '../src/models/registry.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

export interface MlemBenchConfig {
  data: string;
  /** Samples per sampling run. */
  n: number;
  /** Probe points per sigma for the level errors. */
  perSigma: number;
  /** Step counts of the compared runs (each N - 1 must divide FINE - 1). */
  steps: number[];
  /** ML-EM budgets swept, as fractions of EM-finest's cost at the same N. */
  fractions: number[];
  /** Sub-hierarchies compared (widths, coarsest first; each must end with the finest level); [] = all levels. */
  hierarchies: number[][];
  /** Estimator variants run for every hierarchy, budget and N (the default one always included). */
  estimators: Estimator[];
  /** Part 6 (`iia eval`): samples and NFE budgets. */
  evalN: number;
  evalNfe: number[];
  threads: number;
  seed: number;
}

export interface Estimator {
  coarsest: Coarsest;
  coupling: Coupling;
}

const estimatorName = (e: Estimator) => `${e.coarsest}/${e.coupling}`;
const isDefault = (e: Estimator) => e.coarsest === DEFAULT_COARSEST && e.coupling === DEFAULT_COUPLING;

const FINE = 513;

/** Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9). */
function probit(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const q = Math.min(p, 1 - p);
  let x: number;
  if (q < 0.02425) {
    const t = Math.sqrt(-2 * Math.log(q));
    x = (((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5]) / ((((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1);
    return p < 0.5 ? x : -x;
  }
  const t = p - 0.5, r = t * t;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * t) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/** Least-squares slope of y on x. */
function slope(x: number[], y: number[]): number {
  const mx = x.reduce((a, b) => a + b, 0) / x.length, my = y.reduce((a, b) => a + b, 0) / y.length;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
  }
  return sxy / sxx;
}

/** Memoised increments: every run at the same N and seed sees the same path; computed once. */
function cachedBrownian(inner: BrownianSource): BrownianSource {
  const cache = new Map<string, Float32Array>();
  return {
    increment(step, sigma, sigmaNext, first, m, dim) {
      const key = `${sigma}|${sigmaNext}|${first}|${m}`;
      let v = cache.get(key);
      if (!v) cache.set(key, (v = inner.increment(step, sigma, sigmaNext, first, m, dim)));
      return v;
    },
  };
}

async function timePerSample(model: Denoiser, batch: number, dim: number, calls: number): Promise<number> {
  const y = { data: normalBatch(1, 0, batch, dim, 1, 0), shape: [batch, ...model.sampleShape] };
  const at = { sigma: 0.5, t: 0.5, alpha: 1 };
  await model.predict(y, at);
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) await model.predict(y, at);
  return (performance.now() - t0) / 1000 / (calls * batch);
}

function rms(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s / a.length);
}

interface LevelRow {
  name: string;
  width: number;
  params: number;
  megabytes: number;
  trainSteps: number;
  trainSeconds: number;
  finalLoss: number;
  heldOutLoss: number;
  flopsPerSample: number;
  secondsPerSample256: number;
  secondsPerSample16: number;
  errorVsExact: number;
  errorVsExactBySigma: number[];
  diffToPrevious: number | null;
}

interface RunPoint {
  method: string;
  steps: number;
  fraction?: number;
  /** ML-EM: estimator variant. */
  coarsest?: Coarsest;
  coupling?: Coupling;
  /** ML-EM: (sample, step) pairs per sample that drew no level (coarsest 'random'). */
  idleStepsPerSample?: number;
  /** Mean over steps of each level's p (ML-EM). */
  meanProbabilities?: number[];
  costFlops: number;
  finestEquivalents: number;
  seconds: number;
  evaluationsPerSample: number[];
  error: number;
  errorVsExact: number;
  sw2: number;
}

type Metric = 'error' | 'errorVsExact' | 'sw2';
const METRICS: { key: Metric; label: string }[] = [
  { key: 'error', label: 'pathwise RMS vs EM-finest on the fine grid' },
  { key: 'errorVsExact', label: 'pathwise RMS vs the same integrator with the exact denoiser on the fine grid (the true SDE/ODE)' },
  { key: 'sw2', label: 'sliced W2 (128 directions) vs the samples of EM-finest on the fine grid' },
];

/**
 * EM-finest cost needed to first reach a value <= e of the metric, walking its curve in order of cost and
 * interpolating in log-log between the last point above e and the first at or below it; null when its cheapest point
 * is already at or below e (no speed-up can be claimed) or no point reaches e.
 */
function emCostAt(curve: RunPoint[], e: number, metric: Metric): number | null {
  const pts = [...curve].sort((a, b) => a.costFlops - b.costFlops);
  const i = pts.findIndex((p) => p[metric] <= e);
  if (i <= 0) return null;
  const a = pts[i - 1], b = pts[i];
  const t = (Math.log(e) - Math.log(a[metric])) / (Math.log(b[metric]) - Math.log(a[metric]));
  return Math.exp(Math.log(a.costFlops) + t * (Math.log(b.costFlops) - Math.log(a.costFlops)));
}

function pareto(points: RunPoint[], metric: Metric): RunPoint[] {
  const s = [...points].sort((a, b) => a.costFlops - b.costFlops);
  const out: RunPoint[] = [];
  for (const p of s) if (out.length === 0 || p[metric] < out[out.length - 1][metric]) out.push(p);
  return out;
}

/** For each ML-EM Pareto point of a metric: the EM-finest cost at its error, and the ratio. */
function speedupsFor(ml: RunPoint[], emFinest: RunPoint[], metric: Metric) {
  const points = pareto(ml, metric).map((p) => {
    const c = emCostAt(emFinest, p[metric], metric);
    return { steps: p.steps, fraction: p.fraction, value: p[metric], costFlops: p.costFlops, emFinestCostAtValue: c, speedup: c === null ? null : c / p.costFlops };
  });
  const finite = points.filter((x) => x.speedup !== null).map((x) => x.speedup as number);
  return { metric, points, maxSpeedup: finite.length ? Math.max(...finite) : null };
}

/** Pareto points of `b` matched on the Pareto front of `a` at equal value: cost a needs / cost b spends (> 1: b cheaper). */
function frontRatios(a: RunPoint[], b: RunPoint[], metric: Metric): number[] {
  const fa = pareto(a, metric);
  const out: number[] = [];
  for (const p of pareto(b, metric)) {
    const c = emCostAt(fa, p[metric], metric);
    if (c !== null) out.push(c / p.costFlops);
  }
  return out;
}

const geomean = (x: number[]) => (x.length ? Math.exp(x.reduce((s, v) => s + Math.log(v), 0) / x.length) : null);

/** Estimator b against a (same hierarchy, eta): paired error ratios at equal (N, budget), and Pareto cost ratios. */
function compareEstimators(a: RunPoint[], b: RunPoint[]) {
  return Object.fromEntries(METRICS.map(({ key }) => {
    const ratios: number[] = [];
    const byFraction = new Map<number, number[]>();
    for (const p of b) {
      const q = a.find((x) => x.steps === p.steps && x.fraction === p.fraction);
      if (!q) continue;
      ratios.push(p[key] / q[key]);
      const list = byFraction.get(p.fraction ?? 1) ?? [];
      list.push(p[key] / q[key]);
      byFraction.set(p.fraction ?? 1, list);
    }
    const front = frontRatios(a, b, key);
    return [key, {
      pairs: ratios.length,
      /** Geometric mean of b's value / a's at equal (N, budget) (< 1: b more accurate at the same expected cost). */
      valueRatio: geomean(ratios),
      wins: ratios.filter((r) => r < 1).length,
      losses: ratios.filter((r) => r > 1).length,
      /** valueRatio per budget fraction (over N), largest budget first. */
      byFraction: [...byFraction.entries()].sort((x, y) => y[0] - x[0]).map(([fraction, r]) => ({ fraction, valueRatio: geomean(r)! })),
      /** Only b reaches the budget (a's cheapest schedule costs more). */
      onlyB: b.filter((p) => !a.some((x) => x.steps === p.steps && x.fraction === p.fraction)).length,
      /** Geometric mean over b's Pareto points matched on a's front of a's cost / b's at equal value (> 1: b cheaper). */
      frontCostRatio: geomean(front),
      frontMatches: front.length,
    }];
  })) as Record<Metric, { pairs: number; valueRatio: number | null; wins: number; losses: number; byFraction: { fraction: number; valueRatio: number }[]; onlyB: number; frontCostRatio: number | null; frontMatches: number }>;
}

export async function runMlem(cfg: MlemBenchConfig) {
  const ds = loadEmbeddedDataset(cfg.data);
  const dim = ds.images.length / ds.count;
  const cards = mlpCards(cfg.data);
  const h = await loadMlpLevels(cfg.data, { threads: cfg.threads });
  const k = h.levels.length;
  const exact = await createEmpiricalDenoiser(ds.images, ds.shape, { threads: cfg.threads, name: `data:${cfg.data}` });
  const schedule = makeSchedule('edm');

  // 1-3. Level errors, costs, gamma.
  const sigmas = Array.from({ length: 16 }, (_, i) => Math.exp(-1.2 + 1.2 * probit((i + 0.5) / 16)));
  const probe = errorProbe(ds.images, dim, sigmas, cfg.perSigma, cfg.seed + 0x4d4c);
  const ref = await probePredictions(exact, probe);
  const preds: Float32Array[][] = [];
  for (const l of h.levels) preds.push(await probePredictions(l.denoiser, probe));
  const levels: LevelRow[] = [];
  for (let l = 0; l < k; l++) {
    const err = rmsBySigma(preds[l], ref);
    const diff = l > 0 ? rmsBySigma(preds[l], preds[l - 1]) : null;
    const c = cards[l];
    levels.push({
      name: c.name,
      width: c.architecture.hidden[0],
      params: c.architecture.params,
      megabytes: c.bytes / 1e6,
      trainSteps: c.training.steps,
      trainSeconds: c.training.seconds,
      finalLoss: c.training.finalLoss,
      heldOutLoss: c.training.heldOutLoss,
      flopsPerSample: c.architecture.flopsPerSample,
      secondsPerSample256: await timePerSample(h.levels[l].denoiser, 256, dim, 20),
      secondsPerSample16: await timePerSample(h.levels[l].denoiser, 16, dim, 50),
      errorVsExact: err.overall,
      errorVsExactBySigma: err.perSigma,
      diffToPrevious: diff ? diff.overall : null,
    });
  }
  const exactSeconds = await timePerSample(exact, 256, dim, 5);
  const logErr = levels.map((l) => Math.log(l.errorVsExact));
  const gammaFlops = -slope(logErr, levels.map((l) => Math.log(l.flopsPerSample)));
  const gammaTime = -slope(logErr, levels.map((l) => Math.log(l.secondsPerSample256)));
  // Tail fit over the three finest levels (where the matmuls dominate the FLOPs).
  const tail = levels.slice(-3);
  const gammaFlopsTail = -slope(tail.map((l) => Math.log(l.errorVsExact)), tail.map((l) => Math.log(l.flopsPerSample)));

  // v_l(sigma) for the schedule, on a log grid of sigma covering the sampling range.
  const vSigmas = Array.from({ length: 20 }, (_, j) => Math.exp(Math.log(0.002) + (j / 19) * Math.log(80 / 0.002)));
  const vProbe = errorProbe(ds.images, dim, vSigmas, Math.max(32, cfg.perSigma >> 1), cfg.seed + 0x5653);
  const vPreds: Float32Array[][] = [];
  for (const l of h.levels) vPreds.push(await probePredictions(l.denoiser, vProbe));
  // Level 0: E|D^1|^2 (against D^0 = 0), what coarsest 'random' allocates level 1 by.
  const vValues = vPreds.map((p, l) => (l === 0 ? meanSquareBySigma(p) : rmsBySigma(p, vPreds[l - 1]).perSigma.map((x) => x * x)));
  const costs = levels.map((l) => l.flopsPerSample);
  const hierarchies = (cfg.hierarchies.length ? cfg.hierarchies : [[]]).map((widths) => {
    const idx = widths.length ? widths.map((w) => levels.findIndex((l) => l.width === w)) : levels.map((_, i) => i);
    if (idx.some((i) => i < 0) || idx[idx.length - 1] !== k - 1) throw new Error(`bench/mlem: hierarchy [${widths}] must use shipped widths and end with the finest`);
    const values = idx.map((i, j) => (j === 0 ? meanSquareBySigma(vPreds[i]) : rmsBySigma(vPreds[i], vPreds[idx[j - 1]]).perSigma.map((x) => x * x)));
    return { widths: idx.map((i) => levels[i].width), levels: idx.map((i) => h.levels[i]), costs: idx.map((i) => costs[i]), variance: varianceTable(vSigmas, values) };
  });

  // 4. Sampling: EM with each level, ML-EM swept; SDE and ODE.
  const fineSigmas = karrasSigmas(FINE, schedule.sigmaMin, schedule.sigmaMax);
  const estimators = cfg.estimators.some(isDefault) ? cfg.estimators : [{ coarsest: DEFAULT_COARSEST, coupling: DEFAULT_COUPLING }, ...cfg.estimators];
  const variants = [];
  for (const eta of [1, 0]) {
    const brownian = cachedBrownian(nestedBrownian(cfg.seed, fineSigmas));
    const fineGrid = makeGrid(schedule, { kind: 'karras', steps: FINE });
    const gridOf = (steps: number) => (steps === FINE ? fineGrid : makeGrid(schedule, { kind: 'karras', steps }));
    const run = async (lv: readonly Level[], steps: number, table?: number[][], est?: Estimator) =>
      mlEm({ levels: lv, grid: gridOf(steps), eta, n: cfg.n, seed: cfg.seed, batch: cfg.n, probabilities: table ? fromTable(table) : undefined, brownian, coarsest: est?.coarsest, coupling: est?.coupling });
    const reference = await run([h.levels[k - 1]], FINE);
    const referenceExact = await run([{ denoiser: exact, cost: 1 }], FINE);
    const point = (method: string, steps: number, r: Awaited<ReturnType<typeof run>>, fraction?: number, table?: number[][], est?: Estimator): RunPoint => ({
      method,
      steps,
      fraction,
      coarsest: est?.coarsest,
      coupling: est?.coupling,
      idleStepsPerSample: est ? r.account.idle / cfg.n : undefined,
      meanProbabilities: table ? table[0].map((_, l) => table.reduce((a, p) => a + p[l], 0) / table.length) : undefined,
      costFlops: r.costPerSample,
      finestEquivalents: r.finestEquivalents,
      seconds: r.seconds,
      evaluationsPerSample: r.account.evaluations.map((e) => e / cfg.n),
      error: rms(r.samples.data, reference.samples.data),
      errorVsExact: rms(r.samples.data, referenceExact.samples.data),
      sw2: slicedW2(r.samples.data, reference.samples.data, dim),
    });
    const em: RunPoint[][] = Array.from({ length: k }, () => []);
    // mls[estimator][hierarchy]
    const mls: RunPoint[][][] = estimators.map(() => hierarchies.map(() => []));
    for (const steps of cfg.steps) {
      for (let l = 0; l < k; l++) {
        const r = await run([h.levels[l]], steps);
        // Costs in the hierarchy's units (its own level's FLOPs).
        em[l].push(point(`em-${levels[l].name}`, steps, r));
      }
      for (const [j, hh] of hierarchies.entries()) {
        for (const [e, est] of estimators.entries()) {
          for (const fraction of cfg.fractions) {
            const s = scheduleForBudget({ grid: gridOf(steps), eta, costs: hh.costs, variance: hh.variance, coarsest: est.coarsest }, fraction * steps * costs[k - 1], est.coupling);
            if (!s) continue;
            const r = await run(hh.levels, steps, s.table, est);
            mls[e][j].push(point(`ml-em[${hh.widths}] ${estimatorName(est)}`, steps, r, fraction, s.table, est));
          }
        }
      }
    }
    const emFinest = em[k - 1];
    const perEstimator = estimators.map((est, e) => ({
      ...est,
      hierarchies: hierarchies.map((hh, j) => ({ widths: hh.widths, runs: mls[e][j], speedups: METRICS.map((m) => speedupsFor(mls[e][j], emFinest, m.key)) })),
    }));
    const base = estimators.findIndex((x) => x.coarsest === 'fixed' && x.coupling === 'nested');
    const def = estimators.findIndex(isDefault);
    variants.push({
      eta,
      kind: eta === 0 ? 'ODE (Euler)' : 'SDE (Euler-Maruyama, reverse SDE)',
      referenceSteps: FINE,
      referenceVsExact: rms(reference.samples.data, referenceExact.samples.data),
      em: em.map((pts, l) => ({ level: levels[l].name, points: pts })),
      /** The default estimator's runs (what bench/claims.ts reads). */
      mlEm: perEstimator[def].hierarchies,
      estimators: perEstimator,
      /** Each estimator against fixed/nested (the original form), per hierarchy. */
      comparisons: base < 0 ? [] : estimators.flatMap((est, e) => (e === base ? [] : hierarchies.map((hh, j) => ({ against: estimatorName(estimators[base]), estimator: estimatorName(est), widths: hh.widths, ...compareEstimators(mls[base][j], mls[e][j]) })))),
    });
  }
  for (const l of h.levels) await l.denoiser.dispose?.();
  await exact.dispose?.();
  const evaluation = await runEvalTable(cfg, levels[k - 1].width);
  return {
    config: { ...cfg, estimators, defaultEstimator: { coarsest: DEFAULT_COARSEST, coupling: DEFAULT_COUPLING }, fine: FINE, grid: 'karras (sigma 0.002..80, rho 7), then sigma = 0', errorSigmas: sigmas },
    levels,
    exact: { name: `data:${cfg.data}`, images: ds.count, flopsPerSample: 4 * ds.count * dim, secondsPerSample256: exactSeconds },
    gamma: { flops: gammaFlops, time: gammaTime, flopsFinestThree: gammaFlopsTail },
    variance: { sigmas: vSigmas, values: vValues },
    variants,
    evaluation,
  };
}

/** Part 6: `iia eval --model mlp:DATA:W --solvers euler,ml-em,ml-em:budget=0.5 --nfe ...` as a library call. */
export async function runEvalTable(cfg: MlemBenchConfig, width: number) {
  const spec = `mlp:${cfg.data}:${width}`;
  const { denoiser, info } = await loadModel(spec, { threads: cfg.threads });
  const ml = mlemEvalHooks({ modelName: info.name, threads: cfg.threads });
  const t0 = performance.now();
  try {
    const r = await evaluate({
      model: denoiser,
      info,
      solvers: ['euler', 'ml-em', { name: 'ml-em', options: { budget: 0.5 }, label: 'ml-em:budget=0.5' }],
      nfe: cfg.evalNfe,
      n: cfg.evalN,
      seed: cfg.seed,
      resolveSolver: ml.resolveSolver,
      prepare: ml.prepare,
    });
    return {
      model: spec,
      n: cfg.evalN,
      seed: cfg.seed,
      seconds: (performance.now() - t0) / 1000,
      reference: { method: r.reference.method, precision: r.reference.precision, nfe: r.reference.nfe, maxRelDiff: r.reference.convergence.maxRelDiff, ok: r.reference.convergence.ok },
      records: r.records.map((x) => ({
        solver: x.solver,
        budget: (x.mlem_budget as number | undefined) ?? null,
        nfeBudget: x.nfe_budget ?? null,
        steps: x.steps,
        nfe: x.nfe,
        nfeRealised: (x.nfe_realised as number | undefined) ?? null,
        finestEvaluations: (x.mlem_level_evaluations as number[] | undefined)?.at(-1) ?? x.nfe,
        rmse: x.rmse,
        medianError: x.median_error,
        psnr: x.psnr ?? null,
        seconds: x.seconds,
      })),
    };
  } finally {
    await ml.dispose();
    await denoiser.dispose?.();
  }
}

export function evalMarkdown(e: Awaited<ReturnType<typeof runEvalTable>>): string[] {
  const out: string[] = [];
  out.push(
    `### In \`iia eval\`: ML-EM next to Euler on ${e.model}`,
    '',
    `\`iia eval --model ${e.model} --solvers euler,ml-em,ml-em:budget=0.5 --nfe ${[...new Set(e.records.map((x) => x.nfeBudget))].join(',')} --n ${e.n} --seed ${e.seed}\` as a library call`,
    `(evaluate() with mlemEvalHooks). Every run starts from the same noises; errors are against the evaluation's reference, the`,
    `probability-flow ODE of ${e.model} (${e.reference.method}, ${e.reference.precision}, ${Math.round(e.reference.nfe)} evaluations per sample; tolerance halving moved it by ${e.reference.maxRelDiff.toExponential(1)}`,
    `relative${e.reference.ok ? '' : ', above the 1e-6 the check asks for: a float32 network'}). ML-EM runs at eta = 0 over all the shipped widths up to ${e.model.split(':').pop()} (the`,
    `evaluated model is the finest level); its NFE is the expected cost per sample in evaluations of the finest level (FLOPs`,
    `of all levels run / FLOPs of the finest), and a budget B runs B / budget steps: budget 1 (the default) is Euler's grid at`,
    `Euler's cost, budget 1/2 twice the steps at half Euler's cost per step. "realised": the cost of the coins drawn;`,
    `"finest": evaluations of the finest level per sample.`,
    '',
    '| NFE | Euler rmse | ML-EM (budget 1): steps | realised | finest | rmse | / Euler | ML-EM (budget 1/2): steps | realised | finest | rmse | / Euler |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const b of [...new Set(e.records.map((x) => x.nfeBudget))]) {
    const eu = e.records.find((x) => x.solver === 'euler' && x.nfeBudget === b);
    const cell = (label: string) => {
      const m = e.records.find((x) => x.solver === label && x.nfeBudget === b);
      if (!m || !eu || m.rmse === null || eu.rmse === null) return '- | - | - | - | -';
      return `${m.steps} | ${f(m.nfeRealised, 2)} | ${f(m.finestEvaluations, 2)} | ${f(m.rmse, 4)} | ${(m.rmse / eu.rmse).toFixed(2)}x`;
    };
    out.push(`| ${b} | ${f(eu?.rmse, 4)} | ${cell('ml-em')} | ${cell('ml-em:budget=0.5')} |`);
  }
  const ratios = (label: string) => e.records.filter((x) => x.solver === label).map((m) => {
    const eu = e.records.find((x) => x.solver === 'euler' && x.nfeBudget === m.nfeBudget);
    return { b: m.nfeBudget, r: eu && m.rmse !== null && eu.rmse !== null ? m.rmse / eu.rmse : NaN };
  }).filter((x) => Number.isFinite(x.r));
  const range = (label: string) => {
    const r = ratios(label).map((x) => x.r);
    return r.length ? `${Math.min(...r).toFixed(2)}-${Math.max(...r).toFixed(2)}x` : 'n/a';
  };
  const below = [...ratios('ml-em'), ...ratios('ml-em:budget=0.5').map((x) => ({ ...x, half: true }))].filter((x) => x.r < 1);
  out.push(
    '',
    `At equal NFE ML-EM's error against the ODE reference is ${range('ml-em')} Euler's at budget 1 and ${range('ml-em:budget=0.5')} at budget 1/2` +
      (below.length ? ` (below Euler only at ${below.map((x) => `NFE ${x.b}${'half' in x ? ', budget 1/2' : ', budget 1'}`).join('; ')})` : '') + ':',
    `replacing the finest level by its randomised estimate adds noise to every step, and on the ODE Euler's own error falls`,
    `fast with the step count, as in the fine-grid study above. ML-EM's case is the SDE, where it reaches EM's pathwise error`,
    `at lower cost; \`iia eval\` measures that only as a stochastic run (\`ml-em:eta=1\`: no error against the ODE reference,`,
    `like DDIM with eta > 0). Whole table: ${e.seconds.toFixed(1)} s.`,
    '',
  );
  return out;
}

const f = (x: number | null | undefined, d = 3): string => (x === null || x === undefined ? 'n/a' : Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(2) : x.toFixed(d));

export function mlemMarkdown(r: Awaited<ReturnType<typeof runMlem>>): string {
  const out: string[] = [];
  out.push(`## ML-EM: trained MLP hierarchy on ${r.config.data} (issue 5)`, '');
  out.push(
    `Levels: EDM-preconditioned MLPs (3 hidden SiLU layers of the width shown), trained by \`scripts/train-mlp.ts\`. Error = RMS per pixel of D_level - D_exact`,
    `(the exact empirical denoiser of data:${r.config.data}) over ${r.config.perSigma} noisy data points at each of the 16 quantile midpoints of EDM's training sigma distribution.`,
    '',
    '| level | params | MB | train loss | held-out loss | FLOPs/sample | us/sample (b=256) | us/sample (b=16) | RMS vs exact | RMS vs previous level |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const l of r.levels) {
    out.push(`| ${l.name} | ${l.params} | ${l.megabytes.toFixed(2)} | ${l.finalLoss} | ${l.heldOutLoss} | ${l.flopsPerSample} | ${(l.secondsPerSample256 * 1e6).toFixed(2)} | ${(l.secondsPerSample16 * 1e6).toFixed(2)} | ${f(l.errorVsExact, 4)} | ${f(l.diffToPrevious, 4)} |`);
  }
  out.push(`| exact (${r.exact.name}) | - | - | - | - | ${r.exact.flopsPerSample} | ${(r.exact.secondsPerSample256 * 1e6).toFixed(2)} | - | 0 | - |`, '');
  out.push(`gamma (cost ~ error^-gamma, least squares over all levels): **${r.gamma.flops.toFixed(2)}** in FLOPs, ${r.gamma.time.toFixed(2)} in measured time; over the three finest levels ${r.gamma.flopsFinestThree.toFixed(2)} (FLOPs).`, '');
  const fin = r.levels[r.levels.length - 1].flopsPerSample;
  for (const v of r.variants) {
    out.push(`### ${v.kind}, eta = ${v.eta}`, '');
    out.push(
      `${r.config.n} samples, the same initial noise and Brownian path for every run. Errors: pathwise RMS per pixel against EM-finest on the ${v.referenceSteps}-point grid ("error"), against the same integrator with the exact denoiser on that grid ("vs exact"; the finest level's own fine-grid run is ${f(v.referenceVsExact, 4)} from it, a floor no run with the learned levels can beat), and sliced W2 against EM-finest's fine-grid samples. Cost: FLOPs per sample actually spent, in evaluations of the finest level. ML-EM column (levels ${v.mlEm[0].widths.join(', ')}; the default estimator, coarsest ${r.config.defaultEstimator.coarsest}, coupling ${r.config.defaultEstimator.coupling}): its most accurate run at this N that costs less than EM-finest (budget = expected cost / EM-finest's).`,
      '',
      '| N | EM-finest cost | error | vs exact | SW2 | ML-EM budget | ML-EM cost | error | vs exact | SW2 | ML-EM time / EM time |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const p of v.em[v.em.length - 1].points) {
      const cands = v.mlEm[0].runs.filter((m) => m.steps === p.steps && m.costFlops < p.costFlops).sort((a, b) => a.error - b.error);
      const b = cands[0];
      const ml = b ? `1/${Math.round(1 / (b.fraction ?? 1))} | ${b.finestEquivalents.toFixed(1)} | ${f(b.error, 4)} | ${f(b.errorVsExact, 4)} | ${f(b.sw2, 4)} | ${(b.seconds / p.seconds).toFixed(2)}` : '- | - | - | - | - | -';
      out.push(`| ${p.steps} | ${p.finestEquivalents.toFixed(1)} | ${f(p.error, 4)} | ${f(p.errorVsExact, 4)} | ${f(p.sw2, 4)} | ${ml} |`);
    }
    out.push('', `Speed-up at equal error (default estimator, ${estimatorName(r.config.defaultEstimator)}): for each ML-EM run on the Pareto front of a metric (all N and budgets), the cost at which EM-finest first reaches the same value (log-log interpolation along its curve over N) over ML-EM's cost; n/a when EM-finest's cheapest run (N = 9) is already as good, or none of its runs is.`, '');
    out.push('| levels (widths) | metric | largest speed-up | Pareto points with an EM-finest match (N, budget: value, cost -> EM-finest cost, speed-up) |', '| --- | --- | --- | --- |');
    for (const hh of v.mlEm) for (const s of hh.speedups) {
      const label = METRICS.find((m) => m.key === s.metric)!.label;
      const pts = s.points.filter((x) => x.speedup !== null).map((x) => `N ${x.steps}, 1/${Math.round(1 / (x.fraction ?? 1))}: ${f(x.value, 3)}, ${(x.costFlops / fin).toFixed(1)} -> ${x.emFinestCostAtValue === null ? 'n/a' : (x.emFinestCostAtValue / fin).toFixed(1)}, ${x.speedup === null ? 'n/a' : x.speedup.toFixed(2) + 'x'}`).join('; ');
      out.push(`| ${hh.widths.join(', ')} | ${label} | **${s.maxSpeedup === null ? 'n/a' : s.maxSpeedup.toFixed(2) + 'x'}** | ${pts} |`);
    }
    out.push('');
    if (v.estimators.length > 1) {
      out.push(
        `Estimator variants (same N, budgets, initial noise and Brownian path; each with its own schedule for the budget): coarsest 'fixed' = level 1 at every step, 'random' = level 1 drawn too against D^0 = 0; coupling 'nested' = one uniform per sample and step for all levels, 'independent' = one per level. Largest speed-up over EM-finest at equal value, per metric (error / vs exact / SW2), and the cheapest run (finest-level evaluations per sample):`,
        '',
        '| levels (widths) | estimator | runs | largest speed-up: error | vs exact | SW2 | cheapest run | idle (sample, step) pairs per sample at the cheapest run |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |',
      );
      for (let j = 0; j < v.mlEm.length; j++) {
        for (const e of v.estimators) {
          const hh = e.hierarchies[j];
          const sp = hh.speedups.map((s) => (s.maxSpeedup === null ? 'n/a' : s.maxSpeedup.toFixed(2) + 'x'));
          const cheapest = [...hh.runs].sort((a, b) => a.costFlops - b.costFlops)[0];
          const tag = isDefault(e) ? ' (default)' : '';
          out.push(`| ${hh.widths.join(', ')} | ${estimatorName(e)}${tag} | ${hh.runs.length} | ${sp[0]} | ${sp[1]} | ${sp[2]} | ${cheapest ? cheapest.finestEquivalents.toFixed(2) : '-'} | ${cheapest ? (cheapest.idleStepsPerSample ?? 0).toFixed(1) + ' of ' + cheapest.steps : '-'} |`);
        }
      }
      out.push(
        '',
        `Each variant against ${v.comparisons[0]?.against ?? 'fixed/nested'}: at equal (N, budget), the geometric mean of its value over the other's (< 1: more accurate at the same expected cost; pairs where it is lower / higher / of all pairs, the rest identical), the same per budget for the error, and over its Pareto points that the other's front reaches, the geometric mean of the other's cost at equal value over its own (> 1: cheaper at equal accuracy).`,
        '',
        '| levels (widths) | estimator | error: value ratio (lower/higher/pairs) | error ratio by budget | front cost ratio (points) | vs exact: value ratio | front cost ratio | SW2: value ratio | front cost ratio | budgets only it reaches |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      );
      for (const c of v.comparisons) {
        const ratio = (m: Metric) => `${f(c[m].valueRatio, 3)} (${c[m].wins}/${c[m].losses}/${c[m].pairs})`;
        const byBudget = c.error.byFraction.map((x) => `1/${Math.round(1 / x.fraction)}: ${f(x.valueRatio, 3)}`).join(', ');
        const front = (m: Metric) => `${f(c[m].frontCostRatio, 2)} (${c[m].frontMatches})`;
        out.push(`| ${c.widths.join(', ')} | ${c.estimator} | ${ratio('error')} | ${byBudget} | ${front('error')} | ${ratio('errorVsExact')} | ${front('errorVsExact')} | ${ratio('sw2')} | ${front('sw2')} | ${c.error.onlyB} |`);
      }
      out.push('');
    }
  }
  if (r.evaluation) out.push(...evalMarkdown(r.evaluation));
  return out.join('\n');
}

/** The benchmark's default configuration for a data set (environment overrides: BENCH_N, BENCH_MLEM_STEPS, ...). */
export function defaultMlemConfig(data = 'digits'): MlemBenchConfig {
  // Fashion (784 pixels): fewer samples and steps, so its Brownian paths and exact references stay within a minute.
  const small = data !== 'digits';
  return {
    data,
    n: Number(process.env.BENCH_N_MLEM ?? (small ? 128 : 512)),
    perSigma: Number(process.env.BENCH_PER_SIGMA ?? (small ? 128 : 256)),
    steps: (process.env.BENCH_MLEM_STEPS ?? (small ? '9,17,33,65,129' : '9,17,33,65,129,257')).split(',').map(Number),
    fractions: (process.env.BENCH_MLEM_FRACTIONS ?? '0.5,0.25,0.125,0.0625,0.03125').split(',').map(Number),
    hierarchies: (process.env.BENCH_MLEM_HIERARCHIES ?? 'all;32,128,512;32,512').split(';').map((x) => (x === 'all' ? [] : x.split(',').map(Number))),
    // coarsest/coupling pairs; BENCH_MLEM_ESTIMATORS=default runs the default one only.
    estimators: (process.env.BENCH_MLEM_ESTIMATORS ?? 'fixed/nested;random/nested;fixed/independent;random/independent')
      .split(';')
      .map((x) => {
        if (x === 'default') return { coarsest: DEFAULT_COARSEST, coupling: DEFAULT_COUPLING };
        const [coarsest, coupling] = x.split('/');
        if ((coarsest !== 'fixed' && coarsest !== 'random') || (coupling !== 'nested' && coupling !== 'independent')) throw new Error(`bench/mlem: estimator '${x}' is not COARSEST/COUPLING (fixed|random / nested|independent)`);
        return { coarsest, coupling } as Estimator;
      }),
    threads: Number(process.env.BENCH_THREADS ?? 1),
    seed: Number(process.env.BENCH_MLEM_SEED ?? 2026),
    evalN: Number(process.env.BENCH_MLEM_EVAL_N ?? (small ? 128 : 256)),
    evalNfe: (process.env.BENCH_MLEM_EVAL_NFE ?? '4,8,16,32').split(',').map(Number),
  };
}

// Run directly (not imported by bench/run.ts): one data set, Markdown on stdout.
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const args = process.argv.slice(2);
  const o = args.indexOf('--out');
  const out = o >= 0 ? args[o + 1] : undefined;
  const data = args.find((a, i) => !a.startsWith('--') && (o < 0 || i !== o + 1)) ?? 'digits';
  const r = await runMlem(defaultMlemConfig(data));
  if (out) fs.writeFileSync(out, JSON.stringify(r, null, 2) + '\n');
  process.stdout.write(mlemMarkdown(r) + '\n');
}
