// IIA coefficient files: what `calibrate` found, with everything needed to refuse them for a run they were not
// made for (solver, base options, schedule, the exact grid, steps, NFE, M, r, |B|, seed, model fingerprint) and the
// per-step residuals before/after on the calibration batch and held out. Browser-safe: parsing takes the text,
// the CLI reads and writes the file.
//
// Schema 2 (this version; schema 1 files still load, their numbers mean what they meant then): a step's
// residual.heldOut is its out-of-fold residual (2-fold cross-validation on B); the top-level heldOut counts the
// noises of the whole-run check alone; cost.baseSamplingEvaluations is sampling the |B| noises with the base
// (schema 1: |B| + heldOut), so cost.ratio is the (M + 1) x |B| target's measure.
import { z } from 'zod';
import type { GridPoint } from '../schedules/schedule.js';
import { sha256Hex } from './sha256.js';

export const COEFFICIENTS_FORMAT = 'iia-coefficients';
export const COEFFICIENTS_SCHEMA_VERSION = 2;

const num = z.number({ error: 'expected a finite number' });
const nonNeg = num.min(0, { error: 'expected a number >= 0' });
const count = z.int({ error: 'expected an integer' });

const GridPointSchema = z.object({ sigma: nonNeg, t: num, alpha: num.positive({ error: 'expected a number > 0' }) }, { error: 'expected a grid point {sigma, t, alpha}' });
const ResidualPairSchema = z.object({ before: nonNeg, after: nonNeg }, { error: 'expected {before, after}' });

const StepSchema = z
  .object(
    {
      step: count.min(0),
      sigma: nonNeg,
      sigmaNext: nonNeg,
      names: z.array(z.string({ error: 'expected a string' }), { error: 'expected an array of direction names' }),
      values: z.array(num, { error: 'expected an array of numbers' }),
      defaults: z.array(num, { error: 'expected an array of numbers' }),
      accepted: z.boolean({ error: 'expected true or false' }),
      shrinkage: nonNeg.nullable(),
      residual: z.object({ calibration: ResidualPairSchema, heldOut: ResidualPairSchema.nullable() }, { error: 'expected {calibration, heldOut}' }),
    },
    { error: 'expected a step object' },
  )
  .superRefine((s, ctx) => {
    if (s.values.length !== s.names.length) ctx.addIssue({ code: 'custom', path: ['values'], message: `expected ${s.names.length} values (one per name), got ${s.values.length}` });
    if (s.defaults.length !== s.names.length) ctx.addIssue({ code: 'custom', path: ['defaults'], message: `expected ${s.names.length} defaults (one per name), got ${s.defaults.length}` });
  });

const FileSchema = z
  .object(
    {
      format: z.literal(COEFFICIENTS_FORMAT, { error: `expected '${COEFFICIENTS_FORMAT}'` }),
      schemaVersion: z.union([z.literal(1), z.literal(COEFFICIENTS_SCHEMA_VERSION)], { error: `expected 1 or ${COEFFICIENTS_SCHEMA_VERSION}` }),
      solver: z.string({ error: 'expected a solver name' }).min(1),
      baseSolver: z.string({ error: 'expected a solver name' }).min(1),
      baseOptions: z.record(z.string(), z.unknown(), { error: 'expected an object' }),
      schedule: z.string({ error: 'expected a schedule name' }),
      grid: z.array(GridPointSchema, { error: 'expected an array of grid points' }).min(2, { error: 'expected at least 2 grid points' }),
      steps: count.min(1),
      nfe: count.min(1),
      M: count.min(1),
      r: count.min(0),
      batch: count.min(1),
      heldOut: count.min(0),
      seed: count.min(0).max(0xffffffff),
      heldOutStream: count.min(0).max(0xffffffff),
      model: z.object({ name: z.string(), fingerprint: z.string().regex(/^sha256:[0-9a-f]{64}$/, { error: "expected 'sha256:' and 64 hex digits" }) }),
      conditions: z.array(count).nullable(),
      coefficients: z.array(StepSchema, { error: 'expected an array of steps' }),
      globalCheck: z
        .object({
          /** What the endpoints were compared with; base/calibrated: mean and median per-sample L2 distance to it. */
          reference: z.string(),
          base: z.object({ mean: nonNeg, median: nonNeg }),
          calibrated: z.object({ mean: nonNeg, median: nonNeg }),
          /** Held-out samples whose calibrated endpoint is closer to the reference than the base's. */
          improved: count.min(0),
          accepted: z.boolean(),
        })
        .nullable(),
      cost: z.object({ modelEvaluations: nonNeg, baseSamplingEvaluations: nonNeg, ratio: nonNeg, seconds: nonNeg }),
      created: z.string().optional(),
    },
    { error: 'expected a JSON object' },
  )
  .superRefine((f, ctx) => {
    if (f.grid.length !== f.steps + 1) ctx.addIssue({ code: 'custom', path: ['grid'], message: `expected steps + 1 = ${f.steps + 1} points, got ${f.grid.length}` });
    if (f.coefficients.length !== f.steps) ctx.addIssue({ code: 'custom', path: ['coefficients'], message: `expected one entry per step (${f.steps}), got ${f.coefficients.length}` });
    f.coefficients.forEach((s, i) => {
      if (s.step !== i) ctx.addIssue({ code: 'custom', path: ['coefficients', i, 'step'], message: `expected ${i}, got ${s.step}` });
      const g = f.grid[i], gn = f.grid[i + 1];
      if (g && gn && (s.sigma !== g.sigma || s.sigmaNext !== gn.sigma)) {
        ctx.addIssue({ code: 'custom', path: ['coefficients', i, 'sigma'], message: `expected the grid's sigmas ${g.sigma} -> ${gn.sigma}, got ${s.sigma} -> ${s.sigmaNext}` });
      }
    });
  });

export type StepCoefficients = z.infer<typeof StepSchema>;
export type CoefficientSet = z.infer<typeof FileSchema>;

/** `sha256:<hex>` of the model's bytes (weights, mixture JSON) when given, else of its spec string. */
export function modelFingerprint(spec: string, bytes?: Uint8Array): string {
  return `sha256:${sha256Hex(bytes ?? new TextEncoder().encode(spec))}`;
}

/** The file's text: JSON, 2-space indented (numbers round-trip exactly). */
export function serializeCoefficients(set: CoefficientSet): string {
  return JSON.stringify(set, null, 2) + '\n';
}

function pathOf(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s || '(top level)';
}

/** Parses and validates a coefficient file's text; errors name the file and the field. */
export function parseCoefficients(text: string, file: string): CoefficientSet {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const why = text.trim() === '' ? 'it is empty' : `it is not valid JSON (${(e as Error).message})`;
    throw new Error(`coefficients file '${file}': ${why}; the file may be truncated or hand-edited; run 'iia calibrate' again`);
  }
  if (json && typeof json === 'object' && !Array.isArray(json)) {
    const v = (json as Record<string, unknown>).schemaVersion;
    if (typeof v === 'number' && v > COEFFICIENTS_SCHEMA_VERSION) {
      throw new Error(`coefficients file '${file}': field schemaVersion is ${v}, newer than this version of iia-diffusion reads (${COEFFICIENTS_SCHEMA_VERSION}); upgrade, or calibrate again`);
    }
  }
  const r = FileSchema.safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 3).map((i) => `field ${pathOf(i.path)}: ${i.message}`);
    const more = r.error.issues.length > 3 ? ` (and ${r.error.issues.length - 3} more)` : '';
    throw new Error(`coefficients file '${file}': ${issues.join('; ')}${more}`);
  }
  return r.data;
}

/** What a run is, to compare a coefficient file with; fields left out are not compared. */
export interface RunDescription {
  solver: string;
  baseOptions?: Record<string, unknown>;
  schedule?: string;
  grid?: readonly GridPoint[];
  steps?: number;
  nfe?: number;
  modelFingerprint?: string;
  M?: number;
  r?: number;
  batch?: number;
  seed?: number;
  conditions?: readonly number[] | null;
}

export class CoefficientMismatchError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = 'CoefficientMismatchError';
  }
}

function sameNumber(a: number, b: number): boolean {
  return a === b || Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b));
}

/** Stable JSON of a value with sorted keys and undefined dropped (for comparing option objects). */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * Compares every field the run gives with the file. A mismatch throws CoefficientMismatchError naming the field;
 * with force, it is returned as a warning instead (the caller prints it). The number of steps must match even
 * with force (the coefficients are per step).
 */
export function checkCoefficients(set: CoefficientSet, run: RunDescription, opts: { force?: boolean; file?: string } = {}): string[] {
  const file = opts.file ?? 'coefficients';
  const warnings: string[] = [];
  const mismatch = (field: string, inFile: unknown, inRun: unknown, forceable = true): void => {
    const what = `coefficients file '${file}': field ${field} is ${fmt(inFile)} in the file but ${fmt(inRun)} in this run`;
    if (opts.force && forceable) warnings.push(`warning: ${what}; using the coefficients anyway (--force)`);
    else throw new CoefficientMismatchError(field, `${what}; calibrate for this run${forceable ? ' or pass --force to use them anyway' : ''}`);
  };
  if (run.solver !== set.solver) mismatch('solver', set.solver, run.solver);
  if (run.baseOptions !== undefined && canonical(run.baseOptions) !== canonical(set.baseOptions)) mismatch('baseOptions', set.baseOptions, run.baseOptions);
  if (run.schedule !== undefined && run.schedule !== set.schedule) mismatch('schedule', set.schedule, run.schedule);
  if (run.steps !== undefined && run.steps !== set.steps) mismatch('steps', set.steps, run.steps, false);
  if (run.grid !== undefined) {
    if (run.grid.length !== set.grid.length) mismatch('grid', `${set.grid.length} points`, `${run.grid.length} points`, false);
    else {
      for (let i = 0; i < run.grid.length; i++) {
        const bad = (['sigma', 't', 'alpha'] as const).find((k) => !sameNumber(set.grid[i][k], run.grid![i][k]));
        if (bad) {
          mismatch(`grid[${i}].${bad}`, set.grid[i][bad], run.grid[i][bad]);
          break;
        }
      }
    }
  }
  if (run.nfe !== undefined && run.nfe !== set.nfe) mismatch('nfe', set.nfe, run.nfe);
  if (run.modelFingerprint !== undefined && run.modelFingerprint !== set.model.fingerprint) mismatch('model.fingerprint', set.model.fingerprint, run.modelFingerprint);
  for (const k of ['M', 'r', 'batch', 'seed'] as const) {
    if (run[k] !== undefined && run[k] !== set[k]) mismatch(k, set[k], run[k]);
  }
  if (run.conditions !== undefined && canonical(run.conditions) !== canonical(set.conditions)) mismatch('conditions', set.conditions, run.conditions);
  return warnings;
}

function fmt(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : canonical(v);
}
