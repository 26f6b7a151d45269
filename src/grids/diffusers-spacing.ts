// diffusers' timestep spacings (leading, trailing, linspace) on a discrete VP schedule, as DDIMScheduler spaces
// them: N integer timesteps, descending; the grid adds a final point at sigma 0.
import { ddimTimesteps, type TimestepSpacing } from '../diffusers/common.js';
import type { Schedule } from '../schedules/schedule.js';

/** N integer timesteps of `spacing` (DDIMScheduler.set_timesteps) on a vp-discrete schedule. */
export function diffusersSpacingTimes(schedule: Schedule, spacing: TimestepSpacing, steps: number, stepsOffset = 0): number[] {
  if (schedule.kind !== 'vp-discrete' || schedule.trainSteps === undefined) {
    throw new Error(`grid kind '${spacing}' needs a 'vp-discrete' schedule (integer training timesteps); got a '${schedule.kind}' schedule`);
  }
  const T = schedule.trainSteps;
  const ts = ddimTimesteps(spacing, T, steps, stepsOffset);
  for (const t of ts) {
    if (t < 0 || t > T - 1) {
      throw new Error(`grid kind '${spacing}': timestep ${t} (stepsOffset ${stepsOffset}) is outside the training range [0, ${T - 1}]`);
    }
  }
  return ts;
}
