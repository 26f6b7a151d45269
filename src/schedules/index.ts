// makeSchedule: one factory for every schedule kind, with the options of each.
import { EdmSchedule, type EdmScheduleOptions } from './edm.js';
import type { Schedule, ScheduleKind } from './schedule.js';
import { VeSchedule, type VeScheduleOptions } from './ve.js';
import { VpContinuousSchedule, type VpContinuousScheduleOptions } from './vp-continuous.js';
import { VpDiscreteSchedule, type VpDiscreteScheduleOptions } from './vp-discrete.js';

export * from './schedule.js';
export { EdmSchedule, type EdmScheduleOptions } from './edm.js';
export { VeSchedule, type VeScheduleOptions } from './ve.js';
export { VpContinuousSchedule, type VpContinuousScheduleOptions } from './vp-continuous.js';
export {
  VpDiscreteSchedule,
  type VpDiscreteScheduleOptions,
  type BetaSchedule,
  BETA_SCHEDULES,
  diffusersBetas,
  alphasCumprodFromBetas,
  rescaleZeroTerminalSnr,
  torchLinspaceFloat32,
  cosineBetas,
} from './vp-discrete.js';

export const SCHEDULE_KINDS: readonly ScheduleKind[] = ['edm', 've', 'vp-discrete', 'vp-continuous'];

export interface ScheduleOptionsByKind {
  edm: EdmScheduleOptions;
  ve: VeScheduleOptions;
  'vp-discrete': VpDiscreteScheduleOptions;
  'vp-continuous': VpContinuousScheduleOptions;
}

export function makeSchedule<K extends ScheduleKind>(kind: K, opts?: ScheduleOptionsByKind[K]): Schedule;
export function makeSchedule(kind: ScheduleKind, opts: Record<string, unknown> = {}): Schedule {
  switch (kind) {
    case 'edm':
      return new EdmSchedule(opts as EdmScheduleOptions);
    case 've':
      return new VeSchedule(opts as VeScheduleOptions);
    case 'vp-discrete':
      return new VpDiscreteSchedule(opts as VpDiscreteScheduleOptions);
    case 'vp-continuous':
      return new VpContinuousSchedule(opts as VpContinuousScheduleOptions);
    default:
      throw new Error(`schedule kind is '${String(kind)}'; expected one of ${SCHEDULE_KINDS.map((k) => `'${k}'`).join(', ')}`);
  }
}

export function isScheduleKind(s: string): s is ScheduleKind {
  return (SCHEDULE_KINDS as readonly string[]).includes(s);
}
