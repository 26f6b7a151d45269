// ML-EM inside `evaluate()` / `iia eval`: the hooks that let `--solvers ml-em` run next to the one-model solvers.
// Node-only (it loads the shipped MLP levels).
//
// The hierarchy: evaluating `mlp:DATA:W`, ML-EM's levels are the shipped MLPs of DATA of width <= W, coarsest first,
// and the finest level is the evaluated model itself, so the reference the evaluation computes (the probability-flow
// ODE of that model) is the finest level's, and ML-EM's error is measured against it like every other solver's.
//
// Defaults (all overridable by the spec's options: { eta, budget, coarsest, coupling }):
//   - eta = 0, the probability-flow ODE: the reference is the ODE endpoint from the same noise, and a solver with
//     eta > 0 is a stochastic run that evaluate() does not compare pathwise (rmse null), as for DDIM with eta > 0;
//     ML-EM's level coins are random too, but at eta = 0 their mean drift is the finest level's ODE drift, so its
//     error against the reference (randomisation noise included) is what it costs to replace D by the estimate;
//   - budget = 1, as `iia mlem --budget`: the expected cost is that fraction of Euler with the finest level alone
//     on the same grid, so --steps S runs Euler's S-step grid at Euler's expected cost, and --nfe B runs B steps.
//     Chosen by measurement (mlp:digits:512, 256 samples, seeds 0 and 7, error against this reference at equal NFE):
//     budget 1 had the lowest rmse of 1, 3/4, 1/2, 1/4 at NFE 8, 16 and 32 (1/2 had 1.2-1.8x its rmse there), 1/2
//     at NFE 4 (3-6 % lower). The fine-grid study of bench/mlem.ts, which swept 1/2 .. 1/32 without 1, found 1/2 best
//     of those on the ODE. bench/mlem.ts's eval table shows budgets 1 and 1/2 against Euler.
//   - the schedule: the library's MLMC rule (schedule.ts via levels.ts budgetTable) with the level variances of
//     measureLevelVariances (a fixed probe of the data set, measured once per evaluation) and the cards' FLOPs;
//   - coarsest and coupling: the library's (DEFAULT_COARSEST, DEFAULT_COUPLING).
//
// Cost: the record's `nfe` is the expected cost per sample in evaluations of the finest level (FLOPs of every level
// evaluated / FLOPs of the finest), `nfe_unit` says so, and `nfe_realised` is what the drawn coins actually cost.
// An NFE budget B (--nfe) means that cost: the run takes floor(B / budget) steps on the evaluation's grid with the
// schedule whose expected cost is budget x steps <= B finest-level evaluations; --steps S runs S steps at budget x S.
import type { Prepared, PrepareContext, PreparedRunArgs, PreparedRunResult } from '../eval/eval-types.js';
import type { Denoiser } from '../models/denoiser.js';
import { getSolver } from '../solvers/index.js';
import type { Solver } from '../solvers/solver.js';
import { budgetTable, loadMlpLevels, measureLevelVariances, mlpCards } from './levels.js';
import { DEFAULT_COARSEST, DEFAULT_COUPLING, mlEm, multilevel, type Coarsest, type Coupling, type Level, type MultilevelDenoiser } from './ml-em.js';

/** The solver name evaluate() knows ML-EM by. */
export const MLEM_SOLVER = 'ml-em';

/** ML-EM's defaults in an evaluation (see the file comment). */
export const MLEM_EVAL_DEFAULTS = { eta: 0, budget: 1 } as const;

export interface MlemEvalOptions {
  /** 1 = the reverse SDE (a stochastic run: no pathwise error), 0 = the probability-flow ODE (default). */
  eta: number;
  /** Expected cost as a fraction of Euler with the finest level on the same grid, in (0, 1] (as `iia mlem --budget`). */
  budget: number;
  coarsest: Coarsest;
  coupling: Coupling;
}

const OPTION_KEYS = ['eta', 'budget', 'coarsest', 'coupling'];

/** The spec's options with the defaults filled in; throws a clear message for an unknown key or a bad value. */
export function mlemEvalOptions(options: Record<string, unknown> | undefined): MlemEvalOptions {
  const o = options ?? {};
  for (const k of Object.keys(o)) {
    if (!OPTION_KEYS.includes(k)) throw new Error(`ml-em: unknown option '${k}'; expected ${OPTION_KEYS.join(', ')}`);
  }
  const eta = o.eta ?? MLEM_EVAL_DEFAULTS.eta;
  if (typeof eta !== 'number' || !(eta >= 0) || !Number.isFinite(eta)) throw new Error(`ml-em: eta must be a finite number >= 0, got ${String(eta)}`);
  const budget = o.budget ?? MLEM_EVAL_DEFAULTS.budget;
  if (typeof budget !== 'number' || !(budget > 0 && budget <= 1)) throw new Error(`ml-em: budget must be a number in (0, 1] (expected cost / Euler with the finest level), got ${String(budget)}`);
  const coarsest = o.coarsest ?? DEFAULT_COARSEST;
  if (coarsest !== 'fixed' && coarsest !== 'random') throw new Error(`ml-em: coarsest must be 'fixed' or 'random', got '${String(coarsest)}'`);
  const coupling = o.coupling ?? DEFAULT_COUPLING;
  if (coupling !== 'nested' && coupling !== 'independent') throw new Error(`ml-em: coupling must be 'nested' or 'independent', got '${String(coupling)}'`);
  return { eta, budget, coarsest, coupling };
}

/** The data set and width of an evaluated model that is part of a shipped hierarchy, or why it is not. */
export function mlemHierarchyOf(modelName: string, dir?: string): { data: string; width: number; widths: number[] } | { error: string } {
  const m = /^mlp:([a-z]+):w?(\d+)$/.exec(modelName);
  const expected = `ml-em needs a hierarchy of trained levels: use mlp:DATA:W as the model (the shipped MLPs of DATA up to width W are the levels, W the finest; e.g. mlp:digits:512)`;
  if (!m) return { error: `${expected}, got '${modelName}'` };
  let widths: number[];
  try {
    widths = mlpCards(m[1], dir).map((c) => c.architecture.hidden[0]);
  } catch (e) {
    return { error: `${expected}; ${(e as Error).message.replace(/^[\w.-]+\.ts: /, '')}` };
  }
  const width = Number(m[2]);
  if (!widths.includes(width)) return { error: `${expected}; there is no shipped width ${width} for '${m[1]}' (shipped: ${widths.join(', ')})` };
  return { data: m[1], width, widths: widths.filter((w) => w <= width) };
}

/**
 * ML-EM as evaluate() sees it before its prepare hook: its info, and its cost for the NFE budgets (budget x steps
 * expected finest-level evaluations). It cannot step under sample() (several models at once); the hooks run it.
 */
export const mlemEvalSolver: Solver<undefined, Record<string, unknown>> = {
  info: {
    name: MLEM_SOLVER,
    order: 1,
    nfePerStep: 1,
    // The coins are random, but at eta = 0 the estimate's mean is the finest level's ODE drift: compared with the
    // reference like an ODE solver; eta > 0 makes the run stochastic (evaluate() reads the eta option).
    stochastic: false,
    reference: 'Jacot 2026, "Polynomial Speedup in Diffusion Models with the Multilevel Euler-Maruyama Method", arXiv:2603.24594 (src/mlem/ml-em.ts)',
  },
  nfe(steps, options) {
    return mlemEvalOptions(options).budget * steps;
  },
  init() {
    throw new Error('ml-em: runs through mlemEvalHooks (a hierarchy of models), not through sample()');
  },
  step() {
    throw new Error('ml-em: runs through mlemEvalHooks (a hierarchy of models), not through sample()');
  },
};

export interface MlemEvalHooksOptions {
  /** The evaluated model's spec (evaluate's info.name), e.g. mlp:digits:512. */
  modelName: string;
  /** ORT threads of the coarser levels. */
  threads?: number;
  /** Models directory (default the package's models/). */
  dir?: string;
  /** Solvers other than ml-em (default the registry, getSolver). */
  resolveSolver?: (name: string) => Solver<any, any>;
  /** Preparation of solvers other than ml-em (IIA's iiaPrepare, say). */
  prepare?: (solverName: string, ctx: PrepareContext) => Promise<Prepared | undefined | void> | Prepared | undefined | void;
}

export interface MlemEvalHooks {
  /** evaluate()'s resolveSolver: ml-em (or the clear hierarchy error, before any run), else the fallback. */
  resolveSolver(name: string): Solver<any, any>;
  /** evaluate()'s prepare: ml-em's level schedule and run, else the fallback. */
  prepare(solverName: string, ctx: PrepareContext): Promise<Prepared | undefined | void>;
  /** Releases the coarser levels (the finest is the evaluated model, which the caller owns). */
  dispose(): Promise<void>;
}

interface Hierarchy {
  h: MultilevelDenoiser;
  variance: (level: number, sigma: number) => number;
  widths: number[];
  data: string;
  owned: Level[];
  seconds: number;
}

/**
 * Hooks that make `ml-em` a solver of evaluate() on a shipped MLP (see the file comment):
 *   const ml = mlemEvalHooks({ modelName: 'mlp:digits:512' });
 *   await evaluate({ model, info, solvers: ['ml-em', 'euler'], nfe: [8, 16], n: 64, resolveSolver: ml.resolveSolver, prepare: ml.prepare });
 *   await ml.dispose();
 * The levels are loaded and their variances measured once, at the first ml-em run.
 */
export function mlemEvalHooks(o: MlemEvalHooksOptions): MlemEvalHooks {
  const fallbackResolve = o.resolveSolver ?? getSolver;
  let loading: Promise<Hierarchy> | undefined;
  let disposed = false;

  const load = async (finest: Denoiser): Promise<Hierarchy> => {
    const t0 = performance.now();
    const which = mlemHierarchyOf(o.modelName, o.dir);
    if ('error' in which) throw new Error(which.error);
    const cards = mlpCards(which.data, o.dir);
    const card = cards.find((c) => c.architecture.hidden[0] === which.width)!;
    const coarser = which.widths.filter((w) => w < which.width);
    const owned = coarser.length ? [...(await loadMlpLevels(which.data, { widths: coarser, threads: o.threads, dir: o.dir })).levels] : [];
    const h = multilevel([...owned, { denoiser: finest, cost: card.architecture.flopsPerSample, name: card.name }], `mlp:${which.data}[${which.widths.join(',')}]`);
    const variance = await measureLevelVariances(h, which.data);
    return { h, variance, widths: which.widths, data: which.data, owned, seconds: (performance.now() - t0) / 1000 };
  };

  return {
    resolveSolver(name) {
      if (name !== MLEM_SOLVER) return fallbackResolve(name);
      const which = mlemHierarchyOf(o.modelName, o.dir);
      if ('error' in which) throw new Error(which.error);
      return mlemEvalSolver;
    },
    async prepare(solverName, ctx) {
      if (solverName !== MLEM_SOLVER) return o.prepare?.(solverName, ctx);
      if (disposed) throw new Error('ml-em: the evaluation hooks were disposed');
      const opts = mlemEvalOptions(ctx.solverOptions);
      const first = !loading;
      loading ??= load(ctx.model);
      const hh = await loading;
      const t0 = performance.now();
      const plan = budgetTable(hh.h, ctx.grid, opts.eta, opts.budget, hh.variance, { coarsest: opts.coarsest, coupling: opts.coupling });
      const k = hh.h.levels.length;
      const meanP = plan.table[0].map((_, l) => plan.table.reduce((a, p) => a + p[l], 0) / plan.table.length);
      const run = async (a: PreparedRunArgs): Promise<PreparedRunResult> => {
        const grid = a.grid;
        const a0 = grid[0].alpha, aN = grid[grid.length - 1].alpha;
        // mlEm works on the EDM-normalised y; the evaluation's noise is x_T = alpha_0 y_T (sample()'s convention).
        const noise = a.noise && { data: a0 === 1 ? a.noise.data : a.noise.data.map((v) => v / a0), shape: a.noise.shape };
        const r = await mlEm({
          levels: hh.h,
          grid,
          probabilities: plan.probabilities,
          eta: opts.eta,
          coarsest: opts.coarsest,
          coupling: opts.coupling,
          n: a.n,
          seed: a.seed,
          batch: a.batch,
          noise,
          onProgress: a.onProgress,
          signal: a.signal,
        });
        if (aN !== 1) for (let i = 0; i < r.samples.data.length; i++) r.samples.data[i] *= aN;
        return {
          samples: r.samples,
          nfe: plan.finestEquivalents,
          seconds: r.seconds,
          record: {
            nfe_realised: r.finestEquivalents,
            mlem_level_evaluations: r.account.evaluations.map((e) => e / a.n),
            mlem_idle_steps: r.account.idle / a.n,
          },
        };
      };
      return {
        calibrationSeed: null,
        solverOptions: { ...opts },
        run,
        record: {
          nfe_unit: 'finest-level evaluations (expected, per sample)',
          mlem_levels: hh.h.levels.map((l) => l.name ?? l.denoiser.name),
          mlem_widths: hh.widths,
          mlem_budget: opts.budget,
          mlem_eta: opts.eta,
          mlem_coarsest: opts.coarsest,
          mlem_coupling: opts.coupling,
          mlem_mean_probabilities: meanP.slice(0, k),
          // Loading the coarser levels and measuring their variances (once per evaluation), and this schedule.
          mlem_setup_seconds: (first ? hh.seconds : 0) + (performance.now() - t0) / 1000,
        },
      };
    },
    async dispose() {
      disposed = true;
      if (!loading) return;
      const hh = await loading.catch(() => undefined);
      if (hh) for (const l of hh.owned) await l.denoiser.dispose?.();
    },
  };
}
