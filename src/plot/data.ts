// What the figures plot, taken out of the files other commands write: eval records (error against NFE), a
// coefficient file's per-step residual table (before/after IIA), and lists of sample files (image grids). Every
// mistake is a UserError whose `where` is the field path inside the input (`records[3]`, `rmse`), so the CLI can put
// the file name in front.
import type { EvalRecord } from '../eval/index.js';
import { UserError } from '../io/errors.js';

/** The fields of an eval record the error chart reads (src/eval/evaluate.ts EvalRecord fits it). */
export interface ErrorRecord {
  model?: string;
  solver: string;
  nfe: number;
  steps?: number;
  options?: Record<string, unknown>;
  calibration_seed?: number | null;
  [metric: string]: unknown;
}

// Compile-time check that evaluate()'s records can be given as they are.
const _evalRecordFits = (r: EvalRecord): ErrorRecord => r;
void _evalRecordFits;

/** Metrics with a name on the axis; any other numeric field of the records can be plotted too. */
export const METRIC_LABELS: Record<string, string> = {
  rmse: 'RMSE to the reference solution',
  median_error: 'median per-sample RMS error',
  max_error: 'max per-sample RMS error',
  psnr: 'PSNR to the reference (dB)',
  loglik: 'mean log-likelihood (nats)',
  mode_accuracy: 'mode accuracy',
  mode_tv: 'mode total variation',
  sw2: 'sliced Wasserstein-2',
  nn_rms_mean: 'mean RMS to nearest training image',
  nn_rms_median: 'median RMS to nearest training image',
  fd_rp64: 'Fréchet distance (RP64 features)',
  kid_rp64: 'KID (RP64 features)',
  seconds: 'wall time (s)',
};

/** Metrics that are not errors (higher is better, or may be <= 0): drawn on a linear axis by default. */
export const LINEAR_METRICS = new Set(['psnr', 'loglik', 'mode_accuracy', 'kid_rp64']);

export interface ErrorPoint {
  model: string;
  /** The line this point belongs to: the solver's name, with its options or "calibrated" when needed to tell lines apart. */
  series: string;
  x: number;
  value: number;
  steps?: number;
}

export interface ErrorPoints {
  points: ErrorPoint[];
  /** Records without a value for the metric (stochastic runs have no error against the reference). */
  skipped: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The records of an eval output: `{ records: [...] }` (evaluate()'s result) or a bare array of records. */
export function recordsOf(json: unknown): unknown[] {
  if (Array.isArray(json)) return json;
  if (isObject(json) && Array.isArray(json.records)) return json.records;
  throw new UserError([], `expected eval output: an object with a "records" array, or an array of records; got ${describe(json)}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `an object with keys ${Object.keys(v as object).slice(0, 6).join(', ') || '(none)'}`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

function optionsKey(r: Record<string, unknown>): string {
  const o = r.options;
  if (!isObject(o) || Object.keys(o).length === 0) return '';
  return Object.keys(o)
    .sort()
    .map((k) => `${k}=${typeof o[k] === 'string' ? o[k] : JSON.stringify(o[k])}`)
    .join(', ');
}

/**
 * Points (x = nfe or steps, value = the metric) of every record, one series per solver. Records with a null or
 * missing metric are skipped and counted; a record that is not a record, or a value that is not a finite number
 * (or not > 0 on a log axis) is an error naming `records[i]` and the field.
 */
export function errorPoints(records: readonly unknown[], metric: string, opts: { x?: 'nfe' | 'steps'; logY?: boolean } = {}): ErrorPoints {
  const xField = opts.x ?? 'nfe';
  const logY = opts.logY ?? true;
  if (records.length === 0) throw new UserError(['records'], 'expected at least one record, got an empty list');
  const rows: { model: string; solver: string; variant: string; x: number; value: number; steps?: number }[] = [];
  let skipped = 0;
  let metricSeen = false;
  records.forEach((r, i) => {
    const at = `records[${i}]`;
    if (!isObject(r)) throw new UserError([at], `expected an eval record (an object), got ${describe(r)}`);
    if (typeof r.solver !== 'string' || r.solver === '') throw new UserError([at, 'solver'], `expected a solver name, got ${describe(r.solver)}`);
    const x = r[xField];
    if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) {
      throw new UserError([at, xField], `expected a positive number (the x axis is log), got ${describe(x)}`);
    }
    const model = r.model === undefined ? '' : r.model;
    if (typeof model !== 'string') throw new UserError([at, 'model'], `expected a model name, got ${describe(model)}`);
    if (metric in r) metricSeen = true;
    const v = r[metric];
    if (v === null || v === undefined) {
      skipped++;
      return;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new UserError([at, metric], `expected a finite number, got ${describe(v)}`);
    if (logY && v <= 0) throw new UserError([at, metric], `expected a positive number for a log axis, got ${v} (use a linear y scale)`);
    const calibrated = r.calibration_seed !== undefined && r.calibration_seed !== null;
    const variant = [optionsKey(r), calibrated ? 'calibrated' : ''].filter(Boolean).join('; ');
    rows.push({ model, solver: r.solver, variant, x, value: v, steps: typeof r.steps === 'number' ? r.steps : undefined });
  });
  if (!metricSeen) {
    const known = Object.keys(records[0] as object).filter((k) => typeof (records[0] as Record<string, unknown>)[k] === 'number');
    throw new UserError([metric], `no record has this field; numeric fields of records[0]: ${known.join(', ')}`);
  }
  // A solver's variants (options, calibrated or not) get their own lines, named only when a solver has several.
  const variants = new Map<string, Set<string>>();
  for (const r of rows) (variants.get(r.solver) ?? variants.set(r.solver, new Set()).get(r.solver)!).add(r.variant);
  const points = rows.map((r) => ({
    model: r.model,
    series: variants.get(r.solver)!.size > 1 && r.variant ? `${r.solver} (${r.variant})` : r.solver,
    x: r.x,
    value: r.value,
    ...(r.steps !== undefined ? { steps: r.steps } : {}),
  }));
  return { points, skipped };
}

/**
 * One step of IIA calibration: the least-squares residual with the default (base solver) and with the fitted
 * coefficients. In `iia calibrate`'s files it is ||fine target - step||^2 per sample (the mean squared norm).
 */
export interface ResidualRow {
  /** Step index, 0-based from the noise end. */
  step: number;
  /** sigma at the start of the step, when the file says. */
  sigma?: number;
  before: number;
  after: number;
  /** The same on noises the fit did not see. */
  heldOutBefore?: number;
  heldOutAfter?: number;
}

export interface ResidualTable {
  rows: ResidualRow[];
  /** A title from the file's own description (solver, variant, steps), when it has one. */
  label?: string;
}

const TABLE_KEYS = ['residuals', 'steps', 'table', 'perStep', 'per_step'];

function pickNumber(r: Record<string, unknown>, keys: string[], at: string, required: boolean): number | undefined {
  for (const k of keys) {
    if (!(k in r) || r[k] === null || r[k] === undefined) continue;
    const v = r[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new UserError([at, k], `expected a finite number, got ${describe(v)}`);
    return v;
  }
  if (required) throw new UserError([at], `expected a field ${keys.map((k) => `"${k}"`).join(' or ')}`);
  return undefined;
}

/** A {before, after} pair of a coefficient file's step (null when there was no held-out batch). */
function residualPair(v: unknown, at: string, nullable: boolean): { before: number; after: number } | undefined {
  if (v === null && nullable) return undefined;
  if (!isObject(v)) throw new UserError([at], `expected {before, after}, got ${describe(v)}`);
  return { before: pickNumber(v, ['before'], at, true)!, after: pickNumber(v, ['after'], at, true)! };
}

/** The per-step residuals of a file written by `iia calibrate` (src/iia/coefficients.ts, format 'iia-coefficients'). */
function coefficientFileTable(json: Record<string, unknown>): ResidualTable {
  const steps = json.coefficients;
  if (!Array.isArray(steps)) throw new UserError(['coefficients'], `expected an array of steps, got ${describe(steps)}`);
  if (steps.length === 0) throw new UserError(['coefficients'], 'expected at least one step, got an empty list');
  const rows = steps.map((e, i): ResidualRow => {
    const at = `coefficients[${i}]`;
    if (!isObject(e)) throw new UserError([at], `expected a step object, got ${describe(e)}`);
    const res = e.residual;
    if (!isObject(res)) throw new UserError([at, 'residual'], `expected {calibration, heldOut}, got ${describe(res)}`);
    const cal = residualPair(res.calibration, `${at}.residual.calibration`, false)!;
    const held = residualPair(res.heldOut, `${at}.residual.heldOut`, true);
    const row: ResidualRow = { step: pickNumber(e, ['step'], at, false) ?? i, before: cal.before, after: cal.after };
    const sigma = pickNumber(e, ['sigma'], at, false);
    if (sigma !== undefined) row.sigma = sigma;
    if (held) {
      row.heldOutBefore = held.before;
      row.heldOutAfter = held.after;
    }
    return row;
  });
  const parts: string[] = [];
  if (typeof json.solver === 'string') parts.push(json.solver);
  const model = isObject(json.model) ? json.model.name : json.model;
  if (typeof model === 'string') parts.push(model);
  if (typeof json.steps === 'number') parts.push(`${json.steps} steps`);
  const gc = json.globalCheck;
  if (isObject(gc) && gc.accepted === false) parts.push('fit rejected by the whole-run check');
  return { rows, label: parts.join(', ') || undefined };
}

/**
 * The residual table of a coefficient file written by `iia calibrate` (format 'iia-coefficients': per step
 * residual.calibration / residual.heldOut {before, after}), or of a simpler table: a bare array of
 * {step, sigma, before, after[, heldOutBefore, heldOutAfter]}, or such an array under one of the keys residuals /
 * steps / table / perStep (with residualBefore / residualAfter accepted for before / after).
 */
export function residualTable(json: unknown): ResidualTable {
  if (isObject(json) && (json.format === 'iia-coefficients' || Array.isArray(json.coefficients))) return coefficientFileTable(json);
  let list: unknown[] | undefined;
  let where = '';
  if (Array.isArray(json)) list = json;
  else if (isObject(json)) {
    for (const k of TABLE_KEYS) {
      const v = json[k];
      if (Array.isArray(v) && v.some((e) => isObject(e) && ('residualBefore' in e || 'before' in e))) {
        list = v;
        where = k;
        break;
      }
    }
  }
  if (!list) {
    throw new UserError([], `expected a coefficient file from iia calibrate (format 'iia-coefficients'), or an array of {step, sigma, before, after}; got ${describe(json)}`);
  }
  if (list.length === 0) throw new UserError(where ? [where] : [], 'expected at least one step, got an empty list');
  const rows = list.map((e, i): ResidualRow => {
    const at = where ? `${where}[${i}]` : `[${i}]`;
    if (!isObject(e)) throw new UserError([at], `expected an object per step, got ${describe(e)}`);
    const step = pickNumber(e, ['step', 'index', 'i'], at, false) ?? i;
    const sigma = pickNumber(e, ['sigma', 'sigmaFrom', 'sigma_from', 'sigmaStart'], at, false);
    const row: ResidualRow = {
      step,
      before: pickNumber(e, ['residualBefore', 'before', 'residual_before'], at, true)!,
      after: pickNumber(e, ['residualAfter', 'after', 'residual_after'], at, true)!,
    };
    if (sigma !== undefined) row.sigma = sigma;
    const hb = pickNumber(e, ['heldOutBefore', 'held_out_before'], at, false);
    const ha = pickNumber(e, ['heldOutAfter', 'held_out_after'], at, false);
    if (hb !== undefined) row.heldOutBefore = hb;
    if (ha !== undefined) row.heldOutAfter = ha;
    return row;
  });
  let label: string | undefined;
  if (isObject(json)) {
    const parts: string[] = [];
    for (const k of ['model', 'solver', 'variant']) if (typeof json[k] === 'string') parts.push(json[k] as string);
    if (typeof json.steps === 'number') parts.push(`${json.steps} steps`);
    if (parts.length) label = parts.join(', ');
  }
  return { rows, label };
}

/** One cell of an image grid: a solver's samples at one NFE. */
export interface GridCellSpec {
  solver: string;
  nfe: number;
  /** The column this cell goes in when it is not its NFE (an NFE budget the run was chosen for). */
  column?: number;
  /** The .npy file of the samples, [n, C, H, W] or [n, H, W]. */
  file: string;
}

/**
 * The cells listed in a JSON file: an array of {solver, nfe, file} or eval output whose records name their samples
 * (`samples`, `samples_file` or `file`). Relative file names are resolved by the caller (against the JSON's folder).
 */
export function gridCells(json: unknown): GridCellSpec[] {
  const list = Array.isArray(json) ? json : isObject(json) && Array.isArray(json.records) ? json.records : isObject(json) && Array.isArray(json.cells) ? json.cells : undefined;
  const key = Array.isArray(json) ? '' : isObject(json) && Array.isArray(json.records) ? 'records' : 'cells';
  if (!list) throw new UserError([], `expected a list of {solver, nfe, file} (an array, or under "cells"), or eval output whose records have a "samples" file; got ${describe(json)}`);
  if (list.length === 0) throw new UserError(key ? [key] : [], 'expected at least one cell, got an empty list');
  return list.map((e, i) => {
    const at = key ? `${key}[${i}]` : `[${i}]`;
    if (!isObject(e)) throw new UserError([at], `expected an object, got ${describe(e)}`);
    if (typeof e.solver !== 'string' || !e.solver) throw new UserError([at, 'solver'], `expected a solver name, got ${describe(e.solver)}`);
    const nfe = e.nfe;
    if (typeof nfe !== 'number' || !Number.isInteger(nfe) || nfe < 1) throw new UserError([at, 'nfe'], `expected a positive integer, got ${describe(nfe)}`);
    const fileKey = ['samples', 'samples_file', 'file'].find((k) => typeof e[k] === 'string' && e[k] !== '');
    if (!fileKey) throw new UserError([at], 'expected the samples\' .npy file under "samples", "samples_file" or "file"');
    const budget = e.nfe_budget ?? e.column;
    const cell: GridCellSpec = { solver: e.solver, nfe, file: e[fileKey] as string };
    if (typeof budget === 'number' && Number.isFinite(budget)) cell.column = budget;
    return cell;
  });
}
