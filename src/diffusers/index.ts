// diffusers compatibility: a scheduler_config.json (by its _class_name) -> the plan that reproduces its loop.
import { ddimConverter } from './ddim.js';
import { deisMultistepConverter } from './deis.js';
import { dpmSolverMultistepConverter } from './dpmsolver-multistep.js';
import { eulerDiscreteConverter } from './euler-discrete.js';
import type { SamplingPlan, SchedulerConverter } from './plan.js';
import { pndmConverter } from './pndm.js';
import { uniPCMultistepConverter } from './unipc.js';

export type { SamplingPlan } from './plan.js';

export const schedulerConverters: Readonly<Record<string, SchedulerConverter>> = {
  DDIMScheduler: ddimConverter,
  PNDMScheduler: pndmConverter,
  DPMSolverMultistepScheduler: dpmSolverMultistepConverter,
  UniPCMultistepScheduler: uniPCMultistepConverter,
  DEISMultistepScheduler: deisMultistepConverter,
  EulerDiscreteScheduler: eulerDiscreteConverter,
};

/** Parse a diffusers scheduler config (already JSON-decoded) into a sampling plan for `steps` inference steps. */
export function planFromSchedulerConfig(json: unknown, file: string, steps: number): SamplingPlan {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`${file}: expected a JSON object (a diffusers scheduler_config.json)`);
  }
  const config = json as Record<string, unknown>;
  const cls = config._class_name;
  if (typeof cls !== 'string') {
    throw new Error(`${file}: field '_class_name': expected a string naming the scheduler (one of ${Object.keys(schedulerConverters).join(', ')})`);
  }
  const convert = schedulerConverters[cls];
  if (!convert) {
    throw new Error(`${file}: field '_class_name': '${cls}' is not supported; expected one of ${Object.keys(schedulerConverters).join(', ')}`);
  }
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps: expected a positive integer, got ${steps}`);
  const plan = convert(config, steps, file);
  if (plan.initNoiseScale === undefined && plan.stateScaling === 'alpha') plan.initNoiseScale = 1 / plan.grid[0].alpha;
  return plan;
}
