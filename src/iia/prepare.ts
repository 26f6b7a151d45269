// IIA inside `evaluate()`: solvers that need calibration (iia-edm, iia:unipc, ...) are calibrated on the evaluation's
// calibration seed (different from the noises they are measured on) before their run. Browser-safe.
import type { Prepared, PrepareContext } from '../eval/eval-types.js';
import { calibrate } from './calibrate.js';
import type { CoefficientSet } from './coefficients.js';
import { isIiaVariantName } from './registry.js';

/** An `evaluate({ prepare })` hook: calibrates IIA solvers with the paper's defaults; other solvers run as they are. */
export async function iiaPrepare(solverName: string, ctx: PrepareContext, opts: { batch?: number; M?: number } = {}): Promise<Prepared | undefined> {
  if (!isIiaVariantName(solverName)) return undefined;
  const t0 = performance.now();
  const set = await calibrate({
    model: ctx.model,
    variant: solverName,
    grid: ctx.grid,
    schedule: ctx.schedule,
    seed: ctx.seed,
    batch: opts.batch,
    M: opts.M,
    baseOptions: (ctx.solverOptions.base as Record<string, unknown> | undefined) ?? undefined,
    signal: ctx.signal,
  });
  return {
    solverOptions: { ...ctx.solverOptions, coefficients: set },
    record: calibrationRecord(set, (performance.now() - t0) / 1000),
  };
}

/** The calibration fields an evaluation record carries for a calibrated solver. */
export function calibrationRecord(set: CoefficientSet, seconds?: number): Record<string, unknown> {
  return {
    calibration_batch: set.batch,
    calibration_held_out: set.heldOut,
    calibration_accepted_steps: set.coefficients.filter((c) => c.accepted).length,
    calibration_global_check: set.globalCheck?.accepted ?? null,
    calibration_cost_ratio: set.cost.ratio,
    ...(seconds !== undefined ? { calibration_seconds: seconds } : {}),
  };
}
