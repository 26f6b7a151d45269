// The shipped hierarchies of trained MLP denoisers (models/mlp-<data>-w<width>.onnx + .json cards, made by
// scripts/train-mlp.ts) as ML-EM levels: each an ONNX denoiser with EDM preconditioning, its cost the card's FLOPs per
// sample. Node-only (files, onnxruntime-node).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createOnnxDenoiser } from '../models/onnx-denoiser.js';
import { loadEmbeddedDataset } from '../models/data.js';
import type { GridPoint } from '../schedules/schedule.js';
import { DEFAULT_COARSEST, DEFAULT_COUPLING, multilevel, type Coarsest, type Coupling, type Level, type LevelProbabilities, type MultilevelDenoiser } from './ml-em.js';
import { errorProbe, probePredictions, rmsBySigma } from './error.js';
import { fromTable, scheduleForBudget, varianceTable } from './schedule.js';

export interface MlpCard {
  name: string;
  file: string;
  bytes: number;
  dataset: { name: string; count: number; shape: number[] };
  load: { prediction: 'edm'; schedule: 'edm'; sigmaData: number };
  architecture: { hidden: number[]; params: number; flopsPerSample: number };
  training: { steps: number; finalLoss: number; heldOutLoss: number; seconds: number };
}

/** The package's models/ directory (this file is src/mlem/levels.ts or dist/mlem/levels.js). */
export function modelsDir(): string {
  return fileURLToPath(new URL('../../models/', import.meta.url));
}

/** Cards of the shipped MLPs of a data set, cheapest first. */
export function mlpCards(data: string, dir = modelsDir()): MlpCard[] {
  if (!existsSync(dir)) throw new Error(`levels.ts: models directory '${dir}' not found`);
  const prefix = `mlp-${data}-w`;
  const cards = readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(dir + (dir.endsWith('/') ? '' : '/') + f, 'utf8')) as MlpCard);
  if (cards.length === 0) throw new Error(`levels.ts: no trained MLPs for data set '${data}' in ${dir} (expected ${prefix}*.json; make them with scripts/train-mlp.ts)`);
  return cards.sort((a, b) => a.architecture.flopsPerSample - b.architecture.flopsPerSample);
}

export interface LoadLevelsOptions {
  /** Only these widths (default all shipped ones), e.g. [32, 128, 512]. */
  widths?: number[];
  /** ORT intra-op threads per level. */
  threads?: number;
  dir?: string;
}

/** A hierarchy of the shipped MLPs of a data set (coarsest first). Dispose its levels' denoisers when done. */
export async function loadMlpLevels(data: string, opts: LoadLevelsOptions = {}): Promise<MultilevelDenoiser> {
  const dir = opts.dir ?? modelsDir();
  let cards = mlpCards(data, dir);
  if (opts.widths) {
    const missing = opts.widths.filter((w) => !cards.some((c) => c.architecture.hidden[0] === w));
    if (missing.length) throw new Error(`levels.ts: no shipped MLP of width ${missing.join(', ')} for '${data}'; shipped: ${cards.map((c) => c.architecture.hidden[0]).join(', ')}`);
    cards = cards.filter((c) => opts.widths!.includes(c.architecture.hidden[0]));
  }
  const levels: Level[] = [];
  for (const c of cards) {
    const denoiser = await createOnnxDenoiser(dir + (dir.endsWith('/') ? '' : '/') + c.file, {
      prediction: 'edm',
      sigmaData: c.load.sigmaData,
      threads: opts.threads,
      name: c.name,
    });
    levels.push({ denoiser, cost: c.architecture.flopsPerSample, name: c.name });
  }
  return multilevel(levels, `mlp:${data}[${cards.map((c) => c.architecture.hidden[0]).join(',')}]`);
}

/** Parse `mlp:DATA[:w1,w2,...]` (the proposed --levels / --model spec) into the data set and widths. */
export function parseMlpSpec(spec: string): { data: string; widths?: number[] } {
  const m = /^mlp:([a-z]+)(?::([0-9,w]+))?$/.exec(spec);
  if (!m) throw new Error(`levels.ts: '${spec}' is not an MLP hierarchy spec; expected mlp:DATA or mlp:DATA:W1,W2,... (e.g. mlp:digits:32,128,512)`);
  const widths = m[2]?.split(',').map((w) => Number(w.replace(/^w/, '')));
  if (widths?.some((w) => !Number.isInteger(w) || w < 1)) throw new Error(`levels.ts: widths in '${spec}' must be positive integers`);
  return { data: m[1], widths };
}

/** Mean square per pixel at each sigma of a list of per-sigma predictions: E|D|^2, the v_1 of D^1 against D^0 = 0. */
export function meanSquareBySigma(a: Float32Array[]): number[] {
  return a.map((v) => v.reduce((s, x) => s + x * x, 0) / v.length);
}

/**
 * v_l(sigma) = E|D^l - D^{l-1}|^2 per pixel of a hierarchy (level 0: E|D^1|^2, D^0 = 0), measured at 20 noise levels
 * log-spaced in [0.002, 80] on noisy images of its data set (errorProbe), as the schedule's variance function.
 * Milliseconds for the shipped models; what the CLI needs to turn a budget into level probabilities.
 */
export async function measureLevelVariances(h: MultilevelDenoiser, data: string, perSigma = 64, seed = 0x5653): Promise<(level: number, sigma: number) => number> {
  const ds = loadEmbeddedDataset(data);
  const dim = ds.images.length / ds.count;
  const sigmas = Array.from({ length: 20 }, (_, j) => Math.exp(Math.log(0.002) + (j / 19) * Math.log(80 / 0.002)));
  const probe = errorProbe(ds.images, dim, sigmas, perSigma, seed);
  const preds: Float32Array[][] = [];
  for (const l of h.levels) preds.push(await probePredictions(l.denoiser, probe));
  const values = preds.map((p, l) => (l === 0 ? meanSquareBySigma(p) : rmsBySigma(p, preds[l - 1]).perSigma.map((x) => x * x)));
  return varianceTable(sigmas, values);
}

/** The level schedule of a budget (budgetTable). */
export interface BudgetTable {
  probabilities: LevelProbabilities;
  /** p_{i,l} as [step][level]. */
  table: number[][];
  kappa: number;
  /** Expected cost per sample in evaluations of the finest level (fraction x steps, up to the bisection). */
  finestEquivalents: number;
}

/**
 * Level probabilities for a run of `grid` whose expected cost is `fraction` of Euler-Maruyama with the finest level
 * alone on the same grid (the step-dependent MLMC allocation of schedule.ts), for the run's coupling and coarsest
 * mode (pass the same ones to mlEm), with the variances already measured (measureLevelVariances). Throws when the
 * budget is out of reach (with coarsest 'fixed': below the cost of level 1 at every step; or above every level at
 * every step).
 */
export function budgetTable(
  h: MultilevelDenoiser,
  grid: readonly GridPoint[],
  eta: number,
  fraction: number,
  variance: (level: number, sigma: number) => number,
  opts: { coupling?: Coupling; coarsest?: Coarsest } = {},
): BudgetTable {
  const costs = h.levels.map((l) => l.cost);
  const finest = costs[costs.length - 1];
  const budget = fraction * (grid.length - 1) * finest;
  const s = scheduleForBudget({ grid, eta, costs, variance, coarsest: opts.coarsest ?? DEFAULT_COARSEST }, budget, opts.coupling ?? DEFAULT_COUPLING);
  if (!s) throw new Error(`levels.ts: a budget of ${fraction} x the finest level's cost is out of reach for this hierarchy and grid`);
  return { probabilities: fromTable(s.table), table: s.table, kappa: s.kappa, finestEquivalents: s.cost / finest };
}

/** budgetTable with the variances measured here (what `iia mlem --budget` runs). */
export async function budgetSchedule(
  h: MultilevelDenoiser,
  data: string,
  grid: readonly GridPoint[],
  eta: number,
  fraction: number,
  opts: { coupling?: Coupling; coarsest?: Coarsest } = {},
): Promise<LevelProbabilities> {
  return budgetTable(h, grid, eta, fraction, await measureLevelVariances(h, data), opts).probabilities;
}
