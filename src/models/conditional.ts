// Conditional models: a family of denoisers D(y, sigma | c) indexed by a condition c in 0..K-1 plus the
// unconditional member c = -1 (NULL_CONDITION), with per-sample conditions in one batch so a batch can mix classes
// (guided IIA calibration averages over (noise, condition) pairs, IIA ICLR 2024, Sec. 3.3 "IIA for classifier-free
// guided DDIM"). The exact class-conditional empirical family lives here too. Browser-safe (back-ends are injected).
import type { Batch } from '../core/batch.js';
import type { GridPoint } from '../schedules/schedule.js';
import type { Denoiser, Prediction } from './denoiser.js';
import { checkImages, TsEmpiricalDenoiser } from './empirical.js';

/** The condition index of the unconditional member (the "null" prompt of classifier-free guidance). */
export const NULL_CONDITION = -1;

export interface ConditionalDenoiser {
  readonly sampleShape: number[];
  readonly name: string;
  /** One name per condition; K = conditionNames.length, conditions are 0..K-1. */
  readonly conditionNames: readonly string[];
  /** Whether NULL_CONDITION (-1) is available (exact models: always; ONNX: when an unconditional input was given). */
  readonly hasUnconditional: boolean;
  /** Network evaluations per sample behind one call (1; a guided family: 2). */
  readonly evaluationsPerCall?: number;
  /** Predict with one condition per sample: conditions.length === y.shape[0]; -1 = unconditional. */
  predictConditional(y: Batch, at: GridPoint, conditions: Int32Array): Promise<Prediction>;
  /**
   * A Denoiser with a fixed condition for every sample (a number), or one per sample (an array: every batch passed
   * to it must have exactly that many samples). It shares the family's resources: dispose the family, not the view.
   */
  withCondition(condition: number | ArrayLike<number>): Denoiser;
  /** Build the members for these conditions now (lazy back-ends build them on first use otherwise). */
  prepare?(conditions: Iterable<number>): Promise<void>;
  /** Release every member's resources. */
  dispose?(): Promise<void>;
}

/** What a back-end supplies; `conditionalDenoiser` adds checks and `withCondition`. */
export interface ConditionalCore {
  sampleShape: number[];
  name: string;
  conditionNames: readonly string[];
  hasUnconditional: boolean;
  evaluationsPerCall?: number;
  /** Called with validated conditions (length = batch, each -1..K-1, -1 only when hasUnconditional). */
  predictConditional(y: Batch, at: GridPoint, conditions: Int32Array): Promise<Prediction>;
  /** Throws when condition c cannot be used (e.g. a class with no images); default: none. */
  checkCondition?(c: number): void;
  prepare?(conditions: Iterable<number>): Promise<void>;
  dispose?(): Promise<void>;
}

/** The valid conditions of a family, for error messages: `0 (T-shirt/top), 1 (Trouser), ...`. */
export function describeConditions(names: readonly string[], hasUnconditional: boolean, max = 40): string {
  const shown = names.slice(0, max).map((n, k) => (n === String(k) ? `${k}` : `${k} (${n})`));
  if (names.length > max) shown.push(`... ${names.length - 1}`);
  if (hasUnconditional) shown.push('-1 (unconditional)');
  return shown.join(', ');
}

/** Lower-case and drop everything but letters and digits: 'Ankle boot', 'ankle-boot', 'ANKLE_BOOT' are one class. */
function normaliseName(s: string): string {
  return s.toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');
}

/**
 * Resolve a user's class (an index, a numeric string, or a class name, matched ignoring case and punctuation) to a
 * condition index; `where` names the spec or flag in the error, which lists the valid classes.
 */
export function resolveCondition(c: number | string, names: readonly string[], hasUnconditional: boolean, where: string): number {
  const valid = (): string => `valid classes: ${describeConditions(names, hasUnconditional)}`;
  let k: number | undefined;
  if (typeof c === 'number') k = c;
  else {
    const text = c.trim();
    if (/^-?\d+$/.test(text)) k = Number(text);
    else {
      const want = normaliseName(text);
      const hits = names.flatMap((n, i) => (normaliseName(n) === want ? [i] : []));
      if (hits.length === 1) return hits[0];
      if (hits.length > 1) throw new Error(`${where}: class '${c}' is ambiguous (classes ${hits.join(', ')}); give its index. ${valid()}`);
      throw new Error(`${where}: class '${c}' is not a class name; ${valid()}`);
    }
  }
  if (!Number.isInteger(k) || k < (hasUnconditional ? -1 : 0) || k >= names.length) {
    throw new Error(`${where}: class ${c} is out of range; ${valid()}`);
  }
  return k;
}

function checkConditions(core: ConditionalCore, conditions: Int32Array, rows: number, where: string): void {
  if (conditions.length !== rows) {
    throw new Error(`${where}: ${conditions.length} conditions for a batch of ${rows} samples; expected one per sample`);
  }
  const K = core.conditionNames.length;
  const lo = core.hasUnconditional ? -1 : 0;
  for (let i = 0; i < conditions.length; i++) {
    const c = conditions[i];
    if (!(c >= lo && c < K)) {
      const which = rows === 1 && conditions.length === 1 ? '' : ` of sample ${i}`;
      throw new Error(`${where}: condition ${c}${which} is out of range; valid: ${describeConditions(core.conditionNames, core.hasUnconditional)}`);
    }
  }
}

/** A ConditionalDenoiser from a back-end's core: checks conditions, builds the fixed-condition views. */
export function conditionalDenoiser(core: ConditionalCore): ConditionalDenoiser {
  const where = `conditional model '${core.name}'`;
  const used = new Set<number>();
  const check = (c: number): void => {
    if (used.has(c)) return;
    core.checkCondition?.(c);
    used.add(c);
  };
  const predictConditional = async (y: Batch, at: GridPoint, conditions: Int32Array): Promise<Prediction> => {
    checkConditions(core, conditions, y.shape[0], where);
    for (const c of new Set(conditions)) check(c);
    return core.predictConditional(y, at, conditions);
  };
  const family: ConditionalDenoiser = {
    sampleShape: core.sampleShape,
    name: core.name,
    conditionNames: core.conditionNames,
    hasUnconditional: core.hasUnconditional,
    evaluationsPerCall: core.evaluationsPerCall,
    predictConditional,
    withCondition(condition: number | ArrayLike<number>): Denoiser {
      const fixed = typeof condition === 'number';
      const perSample = fixed ? undefined : Int32Array.from(condition);
      if (fixed) {
        if (!Number.isInteger(condition)) throw new Error(`${where}: condition ${condition} is not an integer`);
        checkConditions(core, Int32Array.of(condition), 1, where);
        check(condition);
      } else {
        checkConditions(core, perSample!, perSample!.length, where);
        for (const c of new Set(perSample)) check(c);
      }
      const label = fixed ? (condition === NULL_CONDITION ? 'uncond' : core.conditionNames[condition]) : `per-sample(${perSample!.length})`;
      let cache: Int32Array | undefined;
      return {
        sampleShape: core.sampleShape,
        name: `${core.name}@${label}`,
        evaluationsPerCall: core.evaluationsPerCall,
        async predict(y: Batch, at: GridPoint): Promise<Prediction> {
          const rows = y.shape[0];
          if (perSample) {
            if (rows !== perSample.length) {
              throw new Error(
                `${where}: this view has ${perSample.length} per-sample conditions but got a batch of ${rows}; ` +
                  'use a batch of exactly that size, or one view per chunk (withCondition(conditions.subarray(start, end)))',
              );
            }
            return core.predictConditional(y, at, perSample);
          }
          if (!cache || cache.length !== rows) cache = new Int32Array(rows).fill(condition as number);
          return core.predictConditional(y, at, cache);
        },
      };
    },
    prepare: core.prepare
      ? async (conditions: Iterable<number>) => {
          const list = Int32Array.from(conditions);
          checkConditions(core, list, list.length, where);
          for (const c of new Set(list)) check(c);
          await core.prepare!(list);
        }
      : undefined,
    dispose: core.dispose,
  };
  return family;
}

/** Copy rows `rows` of a flat batch (dim values each) into a new array. */
function gatherRows(data: Float32Array, rows: readonly number[], dim: number): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, k) => out.set(data.subarray(r * dim, (r + 1) * dim), k * dim));
  return out;
}

/**
 * Run `predictOne(c, batch)` once per distinct condition on the rows that carry it and scatter the results back
 * (a batch of one condition is passed through without copies).
 */
export async function predictGrouped(
  y: Batch,
  conditions: Int32Array,
  predictOne: (c: number, y: Batch) => Promise<Prediction>,
): Promise<Prediction> {
  const rows = y.shape[0];
  const dim = rows === 0 ? 0 : y.data.length / rows;
  const groups = new Map<number, number[]>();
  for (let i = 0; i < rows; i++) {
    const g = groups.get(conditions[i]);
    if (g) g.push(i);
    else groups.set(conditions[i], [i]);
  }
  if (groups.size <= 1) return predictOne(rows ? conditions[0] : NULL_CONDITION, y);
  const x0 = new Float32Array(y.data.length);
  const parts: { idx: number[]; p: Prediction }[] = [];
  // Sequentially: ONNX sessions already use every core; concurrent runs would only oversubscribe them.
  for (const [c, idx] of groups) {
    const p = await predictOne(c, { data: gatherRows(y.data, idx, dim), shape: [idx.length, ...y.shape.slice(1)] });
    idx.forEach((r, k) => x0.set(p.x0.subarray(k * dim, (k + 1) * dim), r * dim));
    parts.push({ idx, p });
  }
  // eps is scattered on first use only: members may compute it lazily, and many solvers read x0 alone.
  let eps: Float32Array | undefined;
  return {
    x0,
    get eps(): Float32Array {
      if (!eps) {
        eps = new Float32Array(y.data.length);
        for (const { idx, p } of parts) {
          const e = p.eps;
          idx.forEach((r, k) => eps!.set(e.subarray(k * dim, (k + 1) * dim), r * dim));
        }
      }
      return eps;
    },
  };
}

/** Builds the exact denoiser over a set of images (an ONNX session, or the TypeScript reference). */
export type EmpiricalFactory = (images: Float32Array, sampleShape: readonly number[], name: string) => Promise<Denoiser>;

export interface ClassConditionalOptions {
  name?: string;
  /** Default: the plain TypeScript empirical denoiser. */
  factory?: EmpiricalFactory;
}

/**
 * The exact class-conditional family over labelled images: member c is the empirical optimal denoiser over the
 * images of class c (Karras et al. 2022, eq. 57, restricted to p(x | c)), member -1 the one over all images (p(x)).
 * Members are created lazily, once, on first use; a mixed batch runs each class's member on its own rows.
 */
export function createClassConditionalDenoiser(
  images: Float32Array,
  labels: Int32Array,
  classNames: readonly string[],
  sampleShape: readonly number[],
  opts: ClassConditionalOptions = {},
): ConditionalDenoiser {
  const { count, dim } = checkImages(images, sampleShape, 'conditional.ts');
  const name = opts.name ?? `empirical(${count})`;
  if (labels.length !== count) throw new Error(`conditional.ts: ${labels.length} labels for ${count} images; expected one per image`);
  const K = classNames.length;
  const members: number[][] = classNames.map(() => []);
  for (let n = 0; n < count; n++) {
    const l = labels[n];
    if (!(Number.isInteger(l) && l >= 0 && l < K)) throw new Error(`conditional.ts: label ${l} of image ${n} is not a class index in 0..${K - 1}`);
    members[l].push(n);
  }
  const factory: EmpiricalFactory = opts.factory ?? (async (im, shape, nm) => new TsEmpiricalDenoiser(im, shape, { name: nm }));
  const created = new Map<number, Promise<Denoiser>>();
  const member = (c: number): Promise<Denoiser> => {
    let d = created.get(c);
    if (!d) {
      d = c === NULL_CONDITION ? factory(images, sampleShape, name) : factory(gatherRows(images, members[c], dim), sampleShape, `${name}@${classNames[c]}`);
      created.set(c, d);
      d.catch(() => created.delete(c)); // a failed creation is retried on the next use
    }
    return d;
  };
  return conditionalDenoiser({
    sampleShape: [...sampleShape],
    name,
    conditionNames: [...classNames],
    hasUnconditional: true,
    checkCondition(c: number) {
      if (c !== NULL_CONDITION && members[c].length === 0) {
        throw new Error(`conditional.ts: class ${c} (${classNames[c]}) has no images among the ${count} of '${name}'; use more images (a larger N) or another class`);
      }
    },
    predictConditional: (y, at, conditions) => predictGrouped(y, conditions, async (c, yy) => (await member(c)).predict(yy, at)),
    async prepare(conditions: Iterable<number>) {
      for (const c of new Set(conditions)) await member(c);
    },
    async dispose() {
      const all = [...created.values()];
      created.clear();
      for (const r of await Promise.allSettled(all)) if (r.status === 'fulfilled') await r.value.dispose?.();
    },
  });
}

/** Number of images per class (index = class). */
export function classCounts(labels: Int32Array, classCount: number): number[] {
  const counts = new Array<number>(classCount).fill(0);
  for (const l of labels) if (l >= 0 && l < classCount) counts[l]++;
  return counts;
}

/**
 * Balanced conditions for samples first..first+n-1 of a run: sample i gets class i mod K. Depends on the global sample
 * index only, so a run split into chunks (or processes) gives every sample the same class.
 */
export function cycleConditions(n: number, classCount: number, first = 0): Int32Array {
  if (!(Number.isInteger(classCount) && classCount >= 1)) throw new Error(`conditional.ts: classCount must be a positive integer, got ${classCount}`);
  return Int32Array.from({ length: n }, (_, i) => (first + i) % classCount);
}
