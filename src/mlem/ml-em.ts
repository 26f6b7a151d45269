// ML-EM: the Multilevel Euler-Maruyama method (Jacot 2026, "Polynomial Speedup in Diffusion Models with the
// Multilevel Euler-Maruyama Method", arXiv:2603.24594) over a hierarchy of denoisers D^1..D^k of increasing accuracy
// and cost. Browser-safe.
//
// The SDE (Karras et al. 2022, eq. 6, with sigma(t) = t and beta(t) = eta / sigma), on the EDM-normalised state y
// and with sigma as time (d sigma < 0):
//     dy = (1 + eta) (y - D(y; sigma)) / sigma d sigma + sqrt(2 eta sigma) dW,
// eta = 1 the reverse SDE (Song et al. 2021 / EDM's beta = sigma'/sigma), eta = 0 the probability-flow ODE.
// Euler-Maruyama on a grid sigma_0 > ... > sigma_N:
//     y_{i+1} = y_i + (1 + eta) (sigma_{i+1} - sigma_i) / sigma_i (y_i - D_i) + sqrt(2 eta sigma_i) dW_i,
//     dW_i ~ N(0, (sigma_i - sigma_{i+1}) I); the step to sigma = 0 is the noise-free y_N = D_{N-1} (the ODE's
//     Euler step: the SDE's drift coefficient (1 + eta) would overshoot the data by eta (y - D)).
//
// The estimator, as implemented. ML-EM replaces D_i by a randomised telescoping sum over the levels (the multilevel
// construction of Giles 2008, here applied to the drift rather than to the time step):
//     coarsest 'random' (default):  D^_i = sum_{l=1..k} (B_{i,l} / p_{i,l}) (D^l(y_i) - D^{l-1}(y_i)),  D^0 = 0;
//     coarsest 'fixed':             the same with B_{i,1} = p_{i,1} = 1, i.e. D^1(y_i) at every step;
// B_{i,l} ~ Bernoulli(p_{i,l}), drawn afresh for every sample and step. Each B / p has mean 1, so given y_i the
// estimate is unbiased for the finest level, E D^_i = D^k(y_i). A level runs only on the samples that need it (B_l or
// B_{l+1} up); a sample that draws no level at a step gets D^_i = 0 there and no model sees it (its update is then
// y_{i+1} = (1 + c_i) y_i plus the Brownian increment, c_i = (1 + eta)(sigma_{i+1} - sigma_i) / sigma_i; on the step to
// sigma = 0 the output is D^ itself, where the schedule's weight a = 1 keeps p at or near 1). The cost of a run
// (MlEmResult, LevelAccount) counts exactly the rows the models ran.
// p_{i,l} comes from the caller; schedule.ts gives the multilevel Monte Carlo allocation
//     p_{i,l} = min(1, kappa |a_i| sqrt(v_l(sigma_i) / c_l)),   v_l = E|D^l - D^{l-1}|^2 (v_1 = E|D^1|^2), c_l the cost,
// a_i the weight of D in step i, kappa set by a cost budget. Why it can pay (the MLMC heuristic, not the paper's
// proof, which was not read): step i adds randomisation noise of variance a_i^2 sum_l (1 / p_{i,l} - 1) v_l,
// independent between steps, so it adds up over the run like Brownian noise. Minimising the expected cost
// sum_{i,l} p_{i,l} c_l at a total variance eps^2 gives the rule above with kappa = S / eps^2 and a cost of S^2 / eps^2,
// S = sum_i |a_i| sum_l sqrt(v_l c_l) (while every p < 1). As a_i ~ h_i, sum_i |a_i| stays O(1) however many steps:
// a finer grid costs nothing more (the follow-up's "a smaller step is free") provided every level, the coarsest one
// included, is drawn at a fraction ~ h of the steps; with coarsest 'fixed' level 1 adds N c_1. With v_l ~ eps_{l-1}^2
// and c_l ~ eps_l^-gamma, sqrt(v_l c_l) ~ eps_l^(1 - gamma/2) is dominated by the finest level when gamma > 2, so the
// cost is ~ eps^-gamma, against eps^-(gamma+1) for EM with the finest level (the abstract's claim for that regime).
//
// Sources. The paper's full text could not be read from this workplace; the estimator follows secondary descriptions:
//   - the arxivnews.org summary (https://www.arxivnews.org/en/articles/8ad7083d-7277-498b-81f8-08b27db767fe): a
//     telescoping sum of differences between successive levels, each included with a chosen probability, so that
//     the expected step is the update with the best denoiser; the probabilities are fixed or coefficients learned; a
//     short search (best of 15 trials) picks a good random sampling pattern;
//   - Paing & Jacot, "Convex Optimization Is Free When Accuracy Is Expensive", a follow-up by the same author that
//     states its Assumption 1 is Assumption 1 of Jacot (2026): its Proposition 3 estimator
//     f~ = sum_{k=kmin..kmax} (B_k / p_k)(A_k - A_{k-1}), A_{kmin-1} = 0, B_k ~ Bernoulli(p_k) independent and drawn
//     at each call, p_k = min{C 2^{-(1+gamma/2)k}, 1} (p ~ sqrt(v_k / c_k)); and the remark that ML-EM's small-step
//     limit is a Poisson jump process, "a smaller step is free". That is coarsest 'random' with coupling 'independent';
//   - a Chinese-language digest of the paper (its address was not recorded): per step a weighted sum of inter-level
//     differences, one Bernoulli draw per level deciding whether it is evaluated, probabilities decreasing as accuracy
//     rises, the expectation equal to the largest network's drift, time-dependent probabilities learned by SGD.
// Where this file differs from those descriptions, or cannot know what the paper does:
//   - the defaults, coarsest 'random' and coupling 'nested' (one uniform for all levels, so with p_1 >= p_2 >= ... a
//     level is only evaluated where the one below is), were chosen by measurement (bench/mlem.ts, docs/RESULTS.md):
//     drawing level 1 too lowers the error at the smallest budgets and is identical or within noise elsewhere;
//     'independent' coins cost more per step (level l runs where either of its two coins is up) and had 1.2-1.4x the
//     error at equal budget over five levels, and mixed results over two and three. 'fixed' (level 1 at every step)
//     was this file's original form;
//   - p is set in closed form by the MLMC rule from measured v_l(sigma) and FLOP costs, not learned by SGD;
//   - there is no best-of-15 search over sampling patterns: the coins are fresh Philox draws keyed by (seed, sample,
//     step);
//   - the discretisation is EM on the EDM SDE with sigma as time on a Karras grid (last step to sigma = 0, noise-free);
//     the paper's experiments are reported (by the summaries) on DDPM-type models, and its time discretisation, noise
//     schedule and network parametrisation are unknown here. Drawing D (the x0 prediction) against D^0 = 0 is one
//     choice; drawing the noise prediction against 0 (D^0 = y) would be another, not tried.
//
// Randomness, all keyed by (seed, sample index) with Philox4x32-10 (core/rng.ts), so sample j of seed s is the same
// whatever the batch size (up to float32 rounding of a network run on a different sub-batch):
//   - initial state y_0 = sigma_0 z, z from stream 0 (as sample() does);
//   - Brownian increments: stream i + 1 for step i (the project's convention for stochastic solvers), or a
//     BrownianSource (nestedBrownian: increments summed from a finer grid, for strong-error studies);
//   - level coins: Philox blocks at counter (step, j, COIN_TAG, 0) per sample and step (levelCoins). 'nested': one u
//     for all levels, B_l = [u < p_l]; 'independent': one u_l per level.
import { makeBatch, sampleSize, type Batch } from '../core/batch.js';
import { normalBatch, philox4x32, sampleNormals } from '../core/rng.js';
import type { Denoiser } from '../models/denoiser.js';
import type { GridPoint } from '../schedules/schedule.js';
import { AbortError, yieldToEventLoop } from '../sample.js';

/** One level of the hierarchy: a denoiser and its cost per sample (FLOPs, or any consistent unit). */
export interface Level {
  denoiser: Denoiser;
  cost: number;
  name?: string;
}

/** A hierarchy of denoisers, coarsest (cheapest, least accurate) first. */
export interface MultilevelDenoiser {
  readonly levels: readonly Level[];
  readonly sampleShape: number[];
  readonly name: string;
}

export function multilevel(levels: readonly Level[], name?: string): MultilevelDenoiser {
  if (levels.length === 0) throw new Error('ml-em: a hierarchy needs at least one level');
  const shape = levels[0].denoiser.sampleShape;
  levels.forEach((l, i) => {
    if (l.denoiser.sampleShape.join() !== shape.join()) {
      throw new Error(`ml-em: level ${i + 1} (${l.name ?? l.denoiser.name}) has sample shape [${l.denoiser.sampleShape}], level 1 has [${shape}]`);
    }
    if (!(l.cost > 0) || !Number.isFinite(l.cost)) throw new Error(`ml-em: level ${i + 1} cost must be a positive number, got ${l.cost}`);
  });
  return { levels: [...levels], sampleShape: [...shape], name: name ?? levels.map((l) => l.name ?? l.denoiser.name).join(' < ') };
}

/**
 * p_l for level l (0-based) at step i. With coarsest 'fixed' level 0 is evaluated at every step and its entry is
 * ignored (never asked for); with 'random' it is used like the others. A list gives one constant per level, a
 * function may depend on the step and its sigma.
 */
export type LevelProbabilities = readonly number[] | ((level: number, step: number, sigma: number) => number);

/** How the level coins of one sample and step are drawn: one uniform for all levels, or one per level. */
export type Coupling = 'nested' | 'independent';

/**
 * 'fixed': the coarsest level is evaluated at every step, D^ = D^1 + sum_{l >= 2} (B_l / p_l)(D^l - D^{l-1}).
 * 'random': it is drawn like the others against D^0 = 0, D^ = sum_{l >= 1} (B_l / p_l)(D^l - D^{l-1}) (the form of
 * Paing & Jacot's Proposition 3); a sample that draws no level at a step gets D^ = 0 there and costs nothing.
 */
export type Coarsest = 'fixed' | 'random';

/** The defaults of mlEm, of the schedule's cost model and of the CLI (chosen by bench/mlem.ts; see README). */
export const DEFAULT_COUPLING: Coupling = 'nested';
export const DEFAULT_COARSEST: Coarsest = 'random';

/** Source of the Brownian increments dW_i ~ N(0, (sigma_i - sigma_{i+1}) I). */
export interface BrownianSource {
  /** Increments of samples [first, first + m), `dim` values each, for step `step` from sigma to sigmaNext. */
  increment(step: number, sigma: number, sigmaNext: number, first: number, m: number, dim: number): Float32Array;
}

/** The default increments: sqrt(sigma_i - sigma_{i+1}) z with z from noise stream i + 1 (the solvers' convention). */
export function stepNoise(seed: number): BrownianSource {
  return {
    increment(step, sigma, sigmaNext, first, m, dim) {
      return normalBatch(seed, first, m, dim, Math.sqrt(sigma - sigmaNext), step + 1);
    },
  };
}

/**
 * Brownian increments summed from a finer grid `fine` (descending sigmas, > 0): the increment over [sigma, sigmaNext]
 * is sum_j sqrt(fine_j - fine_{j+1}) z_j over the fine steps inside it, z_j from stream j + 1. Runs on coarser grids
 * whose points are points of `fine` then see one and the same Brownian path (the coupling of a strong-error study).
 */
export function nestedBrownian(seed: number, fine: readonly number[]): BrownianSource {
  for (let j = 1; j < fine.length; j++) if (!(fine[j] < fine[j - 1] && fine[j] > 0)) throw new Error('ml-em: nestedBrownian needs strictly decreasing positive sigmas');
  const index = (s: number): number => {
    let lo = 0, hi = fine.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (fine[mid] > s * (1 + 1e-12)) lo = mid + 1;
      else hi = mid;
    }
    if (Math.abs(fine[lo] - s) > 1e-12 * s) throw new Error(`ml-em: sigma ${s} is not a point of the fine Brownian grid`);
    return lo;
  };
  return {
    increment(_step, sigma, sigmaNext, first, m, dim) {
      const a = index(sigma), b = index(sigmaNext);
      const out = new Float32Array(m * dim);
      const acc = new Float64Array(dim);
      const z = new Float64Array(dim);
      for (let k = 0; k < m; k++) {
        acc.fill(0);
        for (let j = a; j < b; j++) {
          sampleNormals(seed, first + k, dim, j + 1, z);
          const s = Math.sqrt(fine[j] - fine[j + 1]);
          for (let d = 0; d < dim; d++) acc[d] += s * z[d];
        }
        for (let d = 0; d < dim; d++) out[k * dim + d] = acc[d];
      }
      return out;
    },
  };
}

/** Counter word that separates the coin blocks from the normal streams (whose third word is 0). */
const COIN_TAG = 0x4d4c454d; // "MLEM"
const INV_2_32 = 1 / 4294967296;

/**
 * The level coins B_{i,l} of samples [first, first + m) at step i: bits[r * k + l]. With coarsest 'fixed', bit 0 is
 * always 1 and the coins of levels 1.. are the uniforms u_1, u_2, ...; with 'random' level 0 draws u_1 too and level l
 * draws u_{l+1}. The uniforms of a sample and step come from Philox blocks at counter (step, j, COIN_TAG, 0), key
 * (seed, sample): 'nested' uses word 0 of block 0 for every level (B_l = [u < p_l]), 'independent' uses word
 * (j - 1) % 4 of block floor((j - 1) / 4) for u_j.
 */
export function levelCoins(seed: number, first: number, m: number, step: number, probs: readonly number[], coupling: Coupling, coarsest: Coarsest = DEFAULT_COARSEST): Uint8Array {
  const k = probs.length;
  const bits = new Uint8Array(m * k);
  const l0 = coarsest === 'fixed' ? 1 : 0;
  for (let r = 0; r < m; r++) {
    if (l0 === 1) bits[r * k] = 1;
    if (k === l0) continue;
    let block = philox4x32([step, 0, COIN_TAG, 0], [seed, first + r]);
    for (let l = l0; l < k; l++) {
      let u: number;
      if (coupling === 'nested') u = (block[0] + 0.5) * INV_2_32;
      else {
        const j = l - l0; // u_{j+1}
        const w = j % 4;
        if (w === 0 && j > 0) block = philox4x32([step, Math.floor(j / 4), COIN_TAG, 0], [seed, first + r]);
        u = (block[w] + 0.5) * INV_2_32;
      }
      bits[r * k + l] = u < probs[l] ? 1 : 0;
    }
  }
  return bits;
}

function probabilitiesAt(p: LevelProbabilities, k: number, step: number, sigma: number, coarsest: Coarsest): number[] {
  const out = new Array<number>(k);
  const l0 = coarsest === 'fixed' ? 1 : 0;
  if (l0 === 1) out[0] = 1;
  for (let l = l0; l < k; l++) {
    const v = typeof p === 'function' ? p(l, step, sigma) : p[l];
    if (!(v > 0 && v <= 1)) throw new Error(`ml-em: probability of level ${l + 1} at step ${step} is ${v}; expected 0 < p <= 1`);
    out[l] = v;
  }
  return out;
}

/** Cost accounting of a run, per level. */
export interface LevelAccount {
  /** Rows (sample evaluations) run at each level, summed over the batch and the steps. */
  evaluations: number[];
  /** Calls (network runs on a sub-batch) at each level. */
  calls: number[];
  /** Wall-clock seconds spent in each level's predict. */
  seconds: number[];
  /** (sample, step) pairs that drew no level (coarsest 'random' only): D^ = 0 there, no evaluation of any level. */
  idle: number;
}

export function emptyAccount(k: number): LevelAccount {
  return { evaluations: new Array(k).fill(0), calls: new Array(k).fill(0), seconds: new Array(k).fill(0), idle: 0 };
}

async function predictRows(level: Level, y: Batch, rows: number[], at: GridPoint, dim: number): Promise<Float32Array> {
  const m = y.shape[0];
  if (rows.length === m) return (await level.denoiser.predict(y, at)).x0;
  const sub = new Float32Array(rows.length * dim);
  rows.forEach((r, j) => sub.set(y.data.subarray(r * dim, (r + 1) * dim), j * dim));
  return (await level.denoiser.predict({ data: sub, shape: [rows.length, ...y.shape.slice(1)] }, at)).x0;
}

/**
 * The multilevel estimate D^ at one grid point for a batch (rows = samples [first, first + m)): each level runs once
 * on the sub-batch of rows that need it (l where B_l or B_{l+1} is up, and level 1 everywhere when bit 0 of every
 * row is up, as levelCoins makes it for coarsest 'fixed'). Bit 0 is the coin of D^1 - D^0 with D^0 = 0. Accumulated
 * in float64. A row with no coin up gets 0 and costs nothing. Returns D^ and updates `account` with the rows run.
 */
export async function multilevelEstimate(
  h: MultilevelDenoiser,
  y: Batch,
  at: GridPoint,
  probs: readonly number[],
  coins: Uint8Array,
  account: LevelAccount,
): Promise<Float32Array> {
  const k = h.levels.length;
  const m = y.shape[0];
  const dim = sampleSize(y.shape);
  // Rows that need D^l: where B_l (its difference D^l - D^{l-1}) or B_{l+1} (D^{l+1} - D^l) is up.
  const need: boolean[][] = Array.from({ length: k }, () => new Array<boolean>(m).fill(false));
  for (let r = 0; r < m; r++) {
    let any = false;
    for (let l = 0; l < k; l++) {
      if (!coins[r * k + l]) continue;
      any = true;
      need[l][r] = true;
      if (l > 0) need[l - 1][r] = true;
    }
    if (!any) account.idle++;
  }
  const preds: (Float32Array | undefined)[] = new Array(k);
  const slot: Int32Array[] = [];
  for (let l = 0; l < k; l++) {
    const rows: number[] = [];
    const map = new Int32Array(m).fill(-1);
    for (let r = 0; r < m; r++) if (need[l][r]) map[r] = rows.push(r) - 1;
    slot.push(map);
    if (rows.length === 0) continue;
    const t0 = performance.now();
    preds[l] = await predictRows(h.levels[l], y, rows, at, dim);
    account.seconds[l] += (performance.now() - t0) / 1000;
    account.evaluations[l] += rows.length;
    account.calls[l]++;
  }
  const out = new Float32Array(m * dim);
  const acc = new Float64Array(dim);
  for (let r = 0; r < m; r++) {
    acc.fill(0);
    for (let l = 0; l < k; l++) {
      if (!coins[r * k + l]) continue;
      const hi = preds[l]!, oh = slot[l][r] * dim;
      const w = 1 / probs[l];
      if (l === 0) for (let d = 0; d < dim; d++) acc[d] += w * hi[oh + d];
      else {
        const lo = preds[l - 1]!, ol = slot[l - 1][r] * dim;
        for (let d = 0; d < dim; d++) acc[d] += w * (hi[oh + d] - lo[ol + d]);
      }
    }
    for (let d = 0; d < dim; d++) out[r * dim + d] = acc[d];
  }
  return out;
}

export interface MlEmOptions {
  /** The hierarchy, coarsest first (a plain list of levels is accepted too). */
  levels: MultilevelDenoiser | readonly Level[];
  /** Descending grid points; the last is usually sigma = 0. */
  grid: readonly GridPoint[];
  /** p_l of each level (see LevelProbabilities); default 1 for every level (every level at every step). */
  probabilities?: LevelProbabilities;
  /** Noise-injection ratio: 1 = the reverse SDE (default), 0 = the probability-flow ODE (Euler with ML drift). */
  eta?: number;
  /** Level coins: one uniform for all levels ('nested') or one per level ('independent'); default DEFAULT_COUPLING. */
  coupling?: Coupling;
  /** Coarsest level at every step ('fixed') or drawn against D^0 = 0 ('random'); default DEFAULT_COARSEST. */
  coarsest?: Coarsest;
  /** Number of samples (default: the noise's first axis, else 1). */
  n?: number;
  seed?: number;
  firstSample?: number;
  /** Samples per chunk (default 256). */
  batch?: number;
  /** Initial state y_0 (EDM-normalised, i.e. already x_T / alpha), [n, ...shape]. Default sigma_0 z from stream 0. */
  noise?: Batch;
  /** Brownian increments (default stepNoise(seed)). */
  brownian?: BrownianSource;
  onProgress?: (done: number, total: number) => void;
  /** Checked before every step (after a turn of the event loop, as sample() does): AbortError when aborted. */
  signal?: AbortSignal;
}

export interface MlEmResult {
  /** y at the last grid point (for sigma = 0: the samples; EDM-normalised, x = alpha y). */
  samples: Batch;
  account: LevelAccount;
  /** Sum over levels of evaluations * cost, divided by n: the cost of one sample. */
  costPerSample: number;
  /** costPerSample in units of one evaluation of the finest level. */
  finestEquivalents: number;
  seconds: number;
}

/** Sample with ML-EM (see the file comment). With one level, or all levels the same model, it is Euler-Maruyama. */
export async function mlEm(o: MlEmOptions): Promise<MlEmResult> {
  const h = Array.isArray(o.levels) ? multilevel(o.levels as readonly Level[]) : (o.levels as MultilevelDenoiser);
  const k = h.levels.length;
  const grid = o.grid;
  const steps = grid.length - 1;
  if (steps < 1) throw new Error('ml-em: the grid needs at least 2 points');
  for (let i = 1; i <= steps; i++) if (!(grid[i].sigma < grid[i - 1].sigma)) throw new Error('ml-em: grid sigmas must be strictly decreasing');
  if (!(grid[steps].sigma >= 0)) throw new Error('ml-em: grid sigmas must be >= 0');
  const eta = o.eta ?? 1;
  if (!(eta >= 0) || !Number.isFinite(eta)) throw new Error(`ml-em: eta must be a finite number >= 0, got ${eta}`);
  const coupling = o.coupling ?? DEFAULT_COUPLING;
  if (coupling !== 'nested' && coupling !== 'independent') throw new Error(`ml-em: coupling must be 'nested' or 'independent'`);
  const coarsest = o.coarsest ?? DEFAULT_COARSEST;
  if (coarsest !== 'fixed' && coarsest !== 'random') throw new Error(`ml-em: coarsest must be 'fixed' or 'random'`);
  const probs = o.probabilities ?? new Array(k).fill(1);
  const seed = o.seed ?? 0;
  const first = o.firstSample ?? 0;
  const shape = h.sampleShape;
  const dim = shape.reduce((a, b) => a * b, 1);
  const n = o.n ?? o.noise?.shape[0] ?? 1;
  if (o.noise && (o.noise.shape[0] !== n || sampleSize(o.noise.shape) !== dim)) throw new Error(`ml-em: noise of shape [${o.noise.shape}] does not fit [${n}, ${shape}]`);
  const batch = Math.max(1, Math.min(o.batch ?? 256, n));
  const brownian = o.brownian ?? stepNoise(seed);
  const out = makeBatch([n, ...shape]);
  const account = emptyAccount(k);
  const t0 = performance.now();
  const chunks = Math.ceil(n / batch);
  let done = 0;
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    const f0 = first + start;
    let y: Batch = o.noise
      ? { data: o.noise.data.slice(start * dim, (start + m) * dim), shape: [m, ...shape] }
      : { data: normalBatch(seed, f0, m, dim, grid[0].sigma, 0), shape: [m, ...shape] };
    for (let i = 0; i < steps; i++) {
      if (o.signal) await yieldToEventLoop();
      if (o.signal?.aborted) throw new AbortError();
      const at = grid[i], sigma = at.sigma, next = grid[i + 1].sigma;
      const p = probabilitiesAt(probs, k, i, sigma, coarsest);
      const coins = levelCoins(seed, f0, m, i, p, coupling, coarsest);
      const den = await multilevelEstimate(h, y, at, p, coins, account);
      const data = new Float32Array(m * dim);
      if (next === 0) {
        data.set(den);
      } else {
        const c = ((1 + eta) * (next - sigma)) / sigma;
        const g = Math.sqrt(2 * eta * sigma);
        const dW = eta > 0 ? brownian.increment(i, sigma, next, f0, m, dim) : undefined;
        for (let j = 0; j < data.length; j++) {
          const v = y.data[j] + c * (y.data[j] - den[j]);
          data[j] = dW ? v + g * dW[j] : v;
        }
      }
      y = { data, shape: y.shape };
      o.onProgress?.(++done, chunks * steps);
    }
    out.data.set(y.data, start * dim);
  }
  const cost = account.evaluations.reduce((a, e, l) => a + e * h.levels[l].cost, 0) / n;
  return { samples: out, account, costPerSample: cost, finestEquivalents: cost / h.levels[k - 1].cost, seconds: (performance.now() - t0) / 1000 };
}
