// IIA as one mechanism (Zhang et al., "On Accelerating Diffusion-Based Sampling Process via Improved Integration
// Approximation", NeurIPS preprint / ICLR 2024): a step's update is a linear combination of a few vectors, and IIA
// adds to the base solver's update a few directions u_j with coefficients theta_j,
//     y_{i+1}(theta) = base update + sum_j (theta_j - theta0_j) u_j,
// where theta0 are the defaults (theta = theta0 gives back the base step exactly). Every direction is itself a
// combination of named "atoms" (the base step's own LinearUpdate vectors, plus a few vectors a variant keeps from
// earlier steps), so a step with any theta is one linear combination of atoms, computed as the base computes its
// update. A variant only chooses its directions and says which fine-grained target calibration fits them to.
//
// The fine target of step i (IIA preprint eq. 12, 23; ICLR eq. 7, 24, 27) is the base solver run over M
// sub-intervals of [t_i, t_{i+1}] from the same state: the sub-interval points are uniform in the grid's own time
// variable t, t_{i+m/M} = t_i + (t_{i+1} - t_i) m / M (ICLR App. D.1), i.e. uniform in sigma on an EDM grid. For a
// multistep base this is the base on the grid with step i refined, started from the base state (its history at the
// earlier coarse points): the sub-steps use the real, unequal spacings, as DPM-Solver++/UniPC/DEIS do by design
// (ICLR eq. 24 applies "the original DPM-Solver++ over a set of fine-grained timeslots"). Fixed-weight
// Adams-Bashforth bases (PNDM family) get a variable-step version of their own formula (pseudo-fine.ts).
import { linComb, linComb2Checked, linCombChecked, type Batch } from '../core/batch.js';
import type { Prediction } from '../models/denoiser.js';
import type { GridPoint, Schedule } from '../schedules/schedule.js';
import type { Solver, StepContext, StepOutput } from '../solvers/solver.js';

/** One free coefficient: u = sum over terms of weight * atoms[index]; `default` reproduces the base. */
export interface Direction {
  name: string;
  terms: readonly (readonly [atom: number, weight: number])[];
  default: number;
}

/** A step's atoms, the base's coefficients on them (0 on extra atoms) and the IIA directions. */
export interface StepDirections {
  atomNames: string[];
  atoms: Float32Array[];
  baseCoefficients: number[];
  directions: Direction[];
}

export interface IiaStep<S, H> {
  /** The base solver's own output for this step (its y is the default update). */
  base: StepOutput<S>;
  dirs: StepDirections;
  /**
   * The vector this step adds to its history (IIA-EDM's corrected gradient, BIIA-EDM's Heun gradient) as coefficients
   * on dirs.atoms for theta, and the history array it pushes out (which the caller may write it over when it owns the
   * run); undefined when the step keeps nothing. See combineStep: the kept vector is formed in y's pass. A variant with
   * keep() holds nothing else across steps (no atom of a step, so not the state either): the caller may form the new
   * state over the old one.
   */
  keep?(theta: readonly number[]): { coefficients: number[]; replaces?: Float32Array } | undefined;
  /**
   * History and base state after the step, given the coefficients used, the resulting y and the kept vector of
   * keep(theta) as combineStep formed it (formed here, bit for bit the same, when not given).
   */
  advance(theta: readonly number[], y: Float32Array, kept?: Float32Array): { history: H; baseState: S };
}

/** Range of r (the number of earlier steps a variant's directions reach back); min = max for a fixed r. */
export interface RRange {
  default: number;
  min: number;
  max: number;
}

export interface IiaVariant<S = any, H = any, O = any> {
  /** Name as users type it: 'iia-edm', 'biia-edm', 'iia:unipc', ... */
  readonly name: string;
  readonly base: Solver<S, O>;
  /** The paper and equation it follows, or why its directions were chosen. */
  readonly reference: string;
  /** One line on the directions, for `iia solvers`-style listings. */
  readonly summary: string;
  readonly r: RRange;
  /** |B| when the caller gives none (the papers: 200 for EDM, 16 for DDIM, 20 (noise, prompt) pairs guided). */
  readonly defaultBatch: number;
  /** Throws when the base options make the base unusable for IIA (stochastic steps, diffusers bookkeeping). */
  checkOptions(options: O | undefined): void;
  initHistory(): H;
  step(ctx: StepContext, i: number, y: Batch, baseState: S, history: H, r: number, options: O | undefined): Promise<IiaStep<S, H>>;
  /** The fine-grained target of step i: the base over M sub-intervals from (y, baseState). */
  fineTarget(ctx: StepContext, i: number, y: Batch, baseState: S, M: number, options: O | undefined): Promise<Float32Array>;
}

/** Coefficients of the atoms for theta: base coefficients + sum_j (theta_j - theta0_j) w_j. */
export function atomCoefficients(dirs: StepDirections, theta: readonly number[]): number[] {
  if (theta.length !== dirs.directions.length) {
    throw new Error(`IIA: ${theta.length} coefficients for ${dirs.directions.length} directions (${dirs.directions.map((d) => d.name).join(', ')})`);
  }
  const coef = [...dirs.baseCoefficients];
  dirs.directions.forEach((d, j) => {
    const delta = theta[j] - d.default;
    if (delta === 0) return;
    for (const [a, w] of d.terms) coef[a] += delta * w;
  });
  return coef;
}

/** y_{i+1}(theta) as one linear combination of the atoms (atoms with coefficient 0 are left out). */
export function combineAtoms(dirs: StepDirections, theta: readonly number[]): Float32Array {
  return combineAtomsChecked(dirs, theta).data;
}

/**
 * combineAtoms and, from the same pass, the index of the result's first NaN/Inf (-1 when all are finite); into `out`
 * when given (an array no atom aliases).
 */
export function combineAtomsChecked(dirs: StepDirections, theta: readonly number[], out?: Float32Array): { data: Float32Array; firstNonFinite: number } {
  const coef = atomCoefficients(dirs, theta);
  const c: number[] = [];
  const v: Float32Array[] = [];
  coef.forEach((k, a) => {
    if (k !== 0) {
      c.push(k);
      v.push(dirs.atoms[a]);
    }
  });
  if (v.length === 0) return { data: out ? out.fill(0) : new Float32Array(dirs.atoms[0].length), firstNonFinite: -1 };
  return linCombChecked(c, v, out);
}

/** The atoms that y(theta) or the kept vector use, with both coefficient lists over them (the one order of every path). */
function stepTerms(dirs: StepDirections, theta: readonly number[], keep: readonly number[]) {
  const coef = atomCoefficients(dirs, theta);
  const c: number[] = [], d: number[] = [], v: Float32Array[] = [];
  coef.forEach((k, a) => {
    if (k !== 0 || keep[a] !== 0) {
      c.push(k);
      d.push(keep[a]);
      v.push(dirs.atoms[a]);
    }
  });
  return { c, d, v };
}

/**
 * The vector a step keeps for theta, alone: the same sum over the same atoms as combineStep forms it, so a step that
 * takes the base's own y and one that re-combines store the same bits.
 */
export function keptVector(dirs: StepDirections, theta: readonly number[], keep: readonly number[], out?: Float32Array): Float32Array {
  const { d, v } = stepTerms(dirs, theta, keep);
  if (v.length === 0) return out ? out.fill(0) : new Float32Array(dirs.atoms[0].length);
  return linComb(d, v, out);
}

/**
 * y(theta) and, when the step keeps a vector, that vector, from one pass over the atoms (linComb2Checked): IIA then
 * reads each atom once per step and keeps one array per earlier step instead of the arrays it was made of. `out` may be
 * an atom (each element is read before it is written); `overReplaced`: the kept vector goes over the history array it
 * pushes out (keep(theta).replaces, an atom too), for a caller that owns the run.
 */
export function combineStep(
  st: IiaStep<unknown, unknown>,
  theta: readonly number[],
  out?: Float32Array,
  overReplaced = false,
): { data: Float32Array; kept?: Float32Array; firstNonFinite: number } {
  const keep = st.keep?.(theta);
  if (!keep) return combineAtomsChecked(st.dirs, theta, out);
  const keptOut = overReplaced ? keep.replaces : undefined;
  const { c, d, v } = stepTerms(st.dirs, theta, keep.coefficients);
  if (v.length === 0) {
    const n = st.dirs.atoms[0].length;
    return { data: out ? out.fill(0) : new Float32Array(n), kept: keptOut ? keptOut.fill(0) : new Float32Array(n), firstNonFinite: -1 };
  }
  const r = linComb2Checked(c, d, v, out, keptOut);
  return { data: r.data, kept: r.data2, firstNonFinite: r.firstNonFinite };
}

/** The defaults of a step's directions. */
export function defaultsOf(dirs: StepDirections): number[] {
  return dirs.directions.map((d) => d.default);
}

/** Direction j as a float64 vector (into `out`, of the atoms' length, when given). */
export function directionVector(dirs: StepDirections, j: number, out: Float64Array = new Float64Array(dirs.atoms[0].length)): Float64Array {
  out.fill(0);
  for (const [a, w] of dirs.directions[j].terms) {
    const v = dirs.atoms[a];
    for (let i = 0; i < out.length; i++) out[i] += w * v[i];
  }
  return out;
}

/**
 * Builds StepDirections from the base update plus extra atoms; `dir(name, default, {atomName: weight})` adds a
 * direction (a weight on an unknown atom name is an error: it would silently drop a term).
 */
export class DirectionBuilder {
  readonly atomNames: string[];
  readonly atoms: Float32Array[];
  readonly baseCoefficients: number[];
  readonly directions: Direction[] = [];

  constructor(base: StepOutput<unknown>, where: string) {
    const u = base.update;
    if (!u) throw new Error(`${where}: the base step returned no LinearUpdate; IIA needs its vectors`);
    if (u.names.includes('noise')) {
      throw new Error(`${where}: the base step has a noise term; IIA needs a deterministic base (ddim eta = 0, heun sChurn = 0)`);
    }
    this.atomNames = [...u.names];
    this.atoms = [...u.vectors];
    this.baseCoefficients = [...u.coefficients];
  }

  has(name: string): boolean {
    return this.atomNames.includes(name);
  }

  atom(name: string): Float32Array {
    const k = this.atomNames.indexOf(name);
    if (k < 0) throw new Error(`IIA: no atom '${name}' in this step (atoms: ${this.atomNames.join(', ')})`);
    return this.atoms[k];
  }

  /** Adds an extra atom (coefficient 0 in the base step); returns its name, or the name of an atom that is the same array. */
  addAtom(name: string, v: Float32Array): string {
    const same = this.atoms.indexOf(v);
    if (same >= 0) return this.atomNames[same];
    if (this.has(name)) throw new Error(`IIA: atom '${name}' added twice`);
    this.atomNames.push(name);
    this.atoms.push(v);
    this.baseCoefficients.push(0);
    return name;
  }

  dir(name: string, def: number, weights: Record<string, number>): void {
    const terms: [number, number][] = [];
    for (const [atomName, w] of Object.entries(weights)) {
      const k = this.atomNames.indexOf(atomName);
      if (k < 0) throw new Error(`IIA: direction '${name}' uses atom '${atomName}', which this step does not have (atoms: ${this.atomNames.join(', ')})`);
      if (w !== 0) terms.push([k, w]);
    }
    this.directions.push({ name, terms, default: def });
  }

  /** Coefficients on this step's atoms (0 elsewhere) of a vector given by atom name and weight. */
  coefficientsOf(weights: Record<string, number>): number[] {
    const out = new Array<number>(this.atoms.length).fill(0);
    for (const [atomName, w] of Object.entries(weights)) {
      const k = this.atomNames.indexOf(atomName);
      if (k < 0) throw new Error(`IIA: no atom '${atomName}' in this step (atoms: ${this.atomNames.join(', ')})`);
      out[k] += w;
    }
    return out;
  }

  build(): StepDirections {
    return { atomNames: this.atomNames, atoms: this.atoms, baseCoefficients: this.baseCoefficients, directions: this.directions };
  }
}

/**
 * The M - 1 interior points of [a, b], uniform in the model's time t (ICLR 2024, App. D.1: t_{i+m/M} = t_i +
 * (t_{i+1} - t_i) m / M). Falls back to uniform in sigma if the schedule's t does not order them strictly
 * between a and b (a grid whose t values do not come from this schedule).
 */
export function subIntervalPoints(schedule: Schedule, a: GridPoint, b: GridPoint, M: number): GridPoint[] {
  const out: GridPoint[] = [];
  for (let m = 1; m < M; m++) out.push(schedule.pointAtT(a.t + ((b.t - a.t) * m) / M));
  let prev = a.sigma;
  const ordered = out.every((p) => {
    const ok = p.sigma < prev && p.sigma > b.sigma;
    prev = p.sigma;
    return ok;
  });
  if (ordered) return out;
  return Array.from({ length: M - 1 }, (_, k) => schedule.pointAtSigma(a.sigma + ((b.sigma - a.sigma) * (k + 1)) / M));
}

/** The grid with step i replaced by M sub-intervals (the points before and after step i unchanged). */
export function refineGrid(grid: readonly GridPoint[], schedule: Schedule, i: number, M: number): GridPoint[] {
  return [...grid.slice(0, i + 1), ...subIntervalPoints(schedule, grid[i], grid[i + 1], M), ...grid.slice(i + 1)];
}

/** The whole grid with every step replaced by M sub-intervals (the fine reference of calibrate's global check). */
export function refineWholeGrid(grid: readonly GridPoint[], schedule: Schedule, M: number): GridPoint[] {
  const out: GridPoint[] = [grid[0]];
  for (let i = 0; i + 1 < grid.length; i++) out.push(...subIntervalPoints(schedule, grid[i], grid[i + 1], M), grid[i + 1]);
  return out;
}

/**
 * The base solver over M sub-intervals of step i, from (y, state): its steps i .. i+M-1 on the refined grid. The
 * refined grid keeps every other point, so a base that looks at the step count or the last step (Heun's final Euler
 * step, lower-order final steps) treats the sub-steps as part of one consistent run. M = 1 is the base step itself.
 */
export async function baseOverSubIntervals<S, O>(
  base: Solver<S, O>,
  ctx: StepContext,
  i: number,
  y: Batch,
  state: S,
  M: number,
  options: O | undefined,
): Promise<Float32Array> {
  const grid = M === 1 ? ctx.grid : refineGrid(ctx.grid, ctx.schedule, i, M);
  const fine: StepContext = { ...ctx, grid };
  let yy = y, ss = state;
  for (let m = 0; m < M; m++) {
    const r = await base.step(fine, i + m, yy, ss, options);
    yy = r.y;
    ss = r.state;
  }
  return yy.data;
}

/** A context whose predict records the step's first prediction (the data prediction at (y_i, sigma_i)). */
export function recordingContext(ctx: StepContext): { ctx: StepContext; first: () => Prediction | undefined } {
  let first: Prediction | undefined;
  return {
    ctx: {
      ...ctx,
      predict: async (y, at) => {
        const p = await ctx.predict(y, at);
        if (!first) first = p;
        return p;
      },
    },
    first: () => first,
  };
}

/** Checks r against a variant's range; names the variant. */
export function checkR(variant: { name: string; r: RRange }, r: number): void {
  if (!(Number.isInteger(r) && r >= variant.r.min && r <= variant.r.max)) {
    const want = variant.r.min === variant.r.max ? `${variant.r.min} (fixed for this variant)` : `an integer in [${variant.r.min}, ${variant.r.max}]`;
    throw new Error(`${variant.name}: r is ${r}; expected ${want}`);
  }
}
