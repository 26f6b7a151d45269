// A calibrated IIA sampler is an ordinary Solver: the driver, eval and CLI run it like any other. Its options carry
// the coefficients (or makeIiaSolver closes over them); without coefficients it is the base solver exactly. It costs
// the base's NFE (IIA adds no model evaluation when sampling, only a few vector terms per step).
import type { Batch } from '../core/batch.js';
import type { GridPoint, Schedule } from '../schedules/schedule.js';
import type { Solver, StepContext, StepOutput } from '../solvers/solver.js';
import type { CoefficientSet, StepCoefficients } from './coefficients.js';
import { atomCoefficients, checkR, combineStep, defaultsOf, type IiaVariant } from './variant.js';

/** Coefficients of one step: direction names (checked against the step's directions) and values. */
export interface StepCoefficientValues {
  names: readonly string[];
  values: readonly number[];
}

export interface IiaSolverOptions {
  /** A coefficient file's content, or its per-step list; absent: the defaults (= the base solver). */
  coefficients?: CoefficientSet | readonly StepCoefficientValues[];
  /** Number of earlier steps the directions use (default: the coefficient file's r, else the variant's default). */
  r?: number;
  /** Options of the base solver (default: the coefficient file's baseOptions, else none). */
  base?: Record<string, unknown>;
}

export interface IiaState<S = unknown, H = unknown> {
  base: S;
  history: H;
}

interface Resolved {
  steps?: readonly StepCoefficientValues[];
  r: number;
  base?: Record<string, unknown>;
  /** Every step keeps its default coefficients (a fit the calibration rejected): the run is the base solver's. */
  allDefault: boolean;
}

const KNOWN = ['coefficients', 'r', 'base'];

function isSet(c: IiaSolverOptions['coefficients']): c is CoefficientSet {
  return !!c && !Array.isArray(c);
}

export function makeIiaSolver<S, H, O>(
  variant: IiaVariant<S, H, O>,
  coefficients?: CoefficientSet | readonly StepCoefficientValues[],
): Solver<IiaState<S, H>, IiaSolverOptions> {
  // Resolved options are memoised per options object: treat an options object as immutable once a solver has seen it.
  const cache = new WeakMap<object, Resolved>();
  const resolve = (options: IiaSolverOptions | undefined): Resolved => {
    if (options && cache.has(options)) return cache.get(options)!;
    for (const k of Object.keys(options ?? {})) {
      if (!KNOWN.includes(k)) throw new Error(`solver ${variant.name}: unknown option '${k}'; expected one of: ${KNOWN.map((s) => `'${s}'`).join(', ')} (base solver options go in 'base')`);
    }
    const c = options?.coefficients ?? coefficients;
    const set = isSet(c) ? c : undefined;
    if (set && set.solver !== variant.name) {
      throw new Error(`solver ${variant.name}: the coefficients are for solver '${set.solver}'; expected '${variant.name}'`);
    }
    const steps = set ? set.coefficients : (c as readonly StepCoefficientValues[] | undefined);
    const r = options?.r ?? set?.r ?? variant.r.default;
    checkR(variant, r);
    const base = options?.base ?? set?.baseOptions;
    variant.checkOptions(base as O | undefined);
    // A calibrated set whose every step kept its defaults is the base solver exactly: run the base, no bookkeeping.
    const allDefault = !!set && set.coefficients.every((c) => !c.accepted && c.values.every((v, j) => v === c.defaults[j]));
    const out: Resolved = { steps, r, base, allDefault };
    if (options) cache.set(options, out);
    return out;
  };

  return {
    info: {
      name: variant.name,
      order: variant.base.info.order,
      nfePerStep: variant.base.info.nfePerStep,
      stochastic: false,
      reference: variant.reference,
    },
    nfe(steps: number, options?: IiaSolverOptions): number {
      return variant.base.nfe(steps, resolve(options).base as O | undefined);
    },
    check(grid: readonly GridPoint[], schedule: Schedule, options?: IiaSolverOptions): void {
      const o = resolve(options);
      variant.base.check?.(grid, schedule, o.base as O | undefined);
      if (o.steps && o.steps.length !== grid.length - 1) {
        throw new Error(`solver ${variant.name}: the coefficients have ${o.steps.length} steps, the grid has ${grid.length - 1}; calibrate for this grid`);
      }
    },
    init(y: Batch, options?: IiaSolverOptions): IiaState<S, H> {
      const o = resolve(options);
      return { base: variant.base.init(y, o.base as O | undefined), history: variant.initHistory() };
    },
    async step(ctx: StepContext, i: number, y: Batch, state: IiaState<S, H>, options?: IiaSolverOptions): Promise<StepOutput<IiaState<S, H>>> {
      const o = resolve(options);
      if (o.allDefault) {
        const b = await variant.base.step(ctx, i, y, state.base, o.base as O | undefined);
        return { y: b.y, state: { base: b.state, history: state.history }, update: b.update, firstNonFinite: b.firstNonFinite };
      }
      // The atoms alias y and the base's arrays, and the history keeps some: the base must not write in place. A step
      // with fitted coefficients re-combines the atoms, so the base need not form its own y (updateOnly).
      const c = o.steps?.[i] as Partial<StepCoefficients> | undefined;
      const fitted = !!c?.defaults && c.values!.some((v, j) => v !== c.defaults![j]);
      const inner: StepContext = ctx.mayOverwriteState || fitted ? { ...ctx, mayOverwriteState: false, updateOnly: fitted } : ctx;
      const st = await variant.step(inner, i, y, state.base, state.history, o.r, o.base as O | undefined);
      const defaults = defaultsOf(st.dirs);
      const theta = o.steps ? stepTheta(variant.name, i, o.steps[i], st.dirs.directions.map((d) => d.name), defaults) : defaults;
      const isDefault = theta.every((v, j) => v === defaults[j]);
      // The defaults give the base step's own y (bit for bit); otherwise one combination of the atoms.
      const skipped = st.base.y.shape[0] === 0 && y.shape[0] > 0; // the base honoured updateOnly
      const own = isDefault && !skipped;
      // A skipped base may hand over a dead scratch array of the right length (Heun's Euler point): written over, so a
      // fitted IIA step allocates no more than its base.
      const scratch = skipped && st.base.y.data.length === y.data.length ? st.base.y.data : undefined;
      // When the driver owns the run and the variant's history holds only the vectors it keeps (never an atom), the new
      // state goes over the old one, as the base's would, and the kept vector over the history array it pushes out: a
      // run then allocates for IIA only its r history arrays, and its garbage is the base's.
      const owned = !!ctx.mayOverwriteState && st.keep !== undefined;
      const { data, kept, firstNonFinite } = own
        ? { data: st.base.y.data, kept: undefined, firstNonFinite: st.base.firstNonFinite }
        : combineStep(st, theta, owned ? y.data : scratch, owned);
      const next = st.advance(theta, data, kept);
      return {
        firstNonFinite,
        y: { data, shape: y.shape },
        state: { base: next.baseState, history: next.history },
        // Atoms written over (the state, a replaced history array): no update to hand on then.
        update: owned ? undefined : { names: st.dirs.atomNames, vectors: st.dirs.atoms, coefficients: isDefault ? st.dirs.baseCoefficients : atomCoefficients(st.dirs, theta) },
      };
    },
  };
}

function stepTheta(solver: string, i: number, c: StepCoefficientValues | undefined, names: string[], defaults: number[]): number[] {
  if (!c) throw new Error(`solver ${solver}: no coefficients for step ${i}`);
  if (c.names.length !== names.length || c.names.some((n, j) => n !== names[j])) {
    throw new Error(
      `solver ${solver}: coefficients[${i}].names are [${c.names.join(', ')}] but step ${i} has directions [${names.join(', ')}]; ` +
        'the coefficients were made with another r or base options; calibrate again',
    );
  }
  if (c.values.length !== names.length) throw new Error(`solver ${solver}: coefficients[${i}].values has ${c.values.length} numbers; expected ${names.length}`);
  c.values.forEach((v, j) => {
    if (!Number.isFinite(v)) throw new Error(`solver ${solver}: coefficients[${i}].values[${j}] is ${v}; expected a finite number`);
  });
  return names.length ? [...c.values] : defaults;
}
