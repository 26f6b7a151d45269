// The flags of `iia sample`: commander hands them over as strings; this file parses and cross-checks them, so every
// mistake is reported before anything is loaded. Each error names the flag and what was expected.
import { GRID_KINDS, type GridKind } from '../grids/index.js';
import { UserError } from '../io/errors.js';
import { PREDICTION_TYPES, type PredictionType } from '../models/adapters.js';
import { BETA_SCHEDULES, SCHEDULE_KINDS, type BetaSchedule } from '../schedules/index.js';
import type { ScheduleKind } from '../schedules/schedule.js';
import {
  parseChoice,
  parseNonNegativeNumber,
  parseNumberList,
  parsePositiveInt,
  parsePositiveNumber,
  parseShape,
  parseSolverOptions,
  parseUint32,
} from './args.js';

/** The flags of `iia sample` as commander hands them over (all strings until parsed here). */
export interface SampleFlags {
  model: string;
  solver?: string;
  steps?: string;
  nfe?: string;
  grid?: string;
  sigmas?: string;
  sigmaMin?: string;
  sigmaMax?: string;
  rho?: string;
  schedule?: string;
  betaSchedule?: string;
  prediction?: string;
  n?: string;
  seed?: string;
  batch?: string;
  noise?: string;
  out?: string;
  threads?: string;
  schedulerConfig?: string;
  cond?: string;
  coeffs?: string;
  force?: boolean;
  calibrationSeed?: string;
  uncond?: string;
  class?: string;
  guidance?: string;
  guidanceScale?: string;
  shape?: string;
  option: string[];
  eta?: string;
  sChurn?: string;
  json?: boolean;
}

/** The flags parsed: numbers are numbers, names are checked; undefined = not given. */
export interface ParsedSampleFlags {
  stepsFlag?: number;
  nfeFlag?: number;
  seed: number;
  batch?: number;
  threads?: number;
  nFlag?: number;
  gridKind?: GridKind;
  scheduleKind?: ScheduleKind;
  betaSchedule?: BetaSchedule;
  prediction?: PredictionType;
  sigmaMin?: number;
  sigmaMax?: number;
  rho?: number;
  sigmas?: number[];
  sampleShape?: number[];
  /** --class: one condition (index or name) or one per sample. */
  classes?: string | number | (string | number)[];
  guidance?: number;
  guidanceScale?: number;
  /** --option pairs plus the --eta / --s-churn aliases. */
  userOptions: Record<string, unknown>;
}

export function parseSampleFlags(flags: SampleFlags): ParsedSampleFlags {
  if (flags.steps !== undefined && flags.nfe !== undefined) {
    throw new UserError(['--steps'], 'give either --steps or --nfe, not both');
  }
  if (flags.steps === undefined && flags.nfe === undefined && flags.sigmas === undefined) {
    throw new UserError(['--steps'], 'expected --steps N or --nfe N (a step count or an evaluation budget)');
  }
  const stepsFlag = flags.steps !== undefined ? parsePositiveInt('--steps', flags.steps) : undefined;
  const nfeFlag = flags.nfe !== undefined ? parsePositiveInt('--nfe', flags.nfe) : undefined;
  const seed = flags.seed !== undefined ? parseUint32('--seed', flags.seed) : 0;
  const batch = flags.batch !== undefined ? parsePositiveInt('--batch', flags.batch) : undefined;
  const threads = flags.threads !== undefined ? parsePositiveInt('--threads', flags.threads) : undefined;
  const nFlag = flags.n !== undefined ? parsePositiveInt('--n', flags.n) : undefined;
  const gridKind = flags.grid !== undefined ? parseChoice('--grid', flags.grid, GRID_KINDS) : undefined;
  const scheduleKind = flags.schedule !== undefined ? parseChoice<ScheduleKind>('--schedule', flags.schedule, SCHEDULE_KINDS) : undefined;
  const betaSchedule = flags.betaSchedule !== undefined ? parseChoice<BetaSchedule>('--beta-schedule', flags.betaSchedule, BETA_SCHEDULES) : undefined;
  const prediction =
    flags.prediction !== undefined ? parseChoice<PredictionType>('--prediction', flags.prediction, PREDICTION_TYPES) : undefined;
  const sigmaMin = flags.sigmaMin !== undefined ? parsePositiveNumber('--sigma-min', flags.sigmaMin) : undefined;
  const sigmaMax = flags.sigmaMax !== undefined ? parsePositiveNumber('--sigma-max', flags.sigmaMax) : undefined;
  const rho = flags.rho !== undefined ? parsePositiveNumber('--rho', flags.rho) : undefined;
  const sigmas = flags.sigmas !== undefined ? parseNumberList('--sigmas', flags.sigmas) : undefined;
  const sampleShape = flags.shape !== undefined ? parseShape('--shape', flags.shape) : undefined;
  const userOptions = solverOptionsFrom(flags);

  if (sigmas && gridKind !== undefined && gridKind !== 'explicit') {
    throw new UserError(['--sigmas'], `only with --grid explicit (got --grid ${gridKind})`);
  }
  if (gridKind === 'explicit' && !sigmas) throw new UserError(['--grid'], 'explicit: expected --sigmas a,b,c (descending sigmas)');
  if (betaSchedule && scheduleKind !== undefined && scheduleKind !== 'vp-discrete') {
    throw new UserError(['--beta-schedule'], `only with a vp-discrete schedule (got --schedule ${scheduleKind})`);
  }
  if (sigmaMin !== undefined && sigmaMax !== undefined && sigmaMin >= sigmaMax) {
    throw new UserError(['--sigma-min'], `expected a value below --sigma-max (${sigmaMax}), got ${sigmaMin}`);
  }
  if (flags.schedulerConfig !== undefined) {
    const clash = (
      [
        ['--grid', flags.grid],
        ['--sigmas', flags.sigmas],
        ['--schedule', flags.schedule],
        ['--beta-schedule', flags.betaSchedule],
        ['--sigma-min', flags.sigmaMin],
        ['--sigma-max', flags.sigmaMax],
        ['--rho', flags.rho],
      ] as const
    ).find(([, v]) => v !== undefined);
    if (clash) {
      throw new UserError([clash[0]], `not with --scheduler-config (the schedule and grid come from ${flags.schedulerConfig})`);
    }
  } else if (flags.solver === undefined) {
    throw new UserError(['--solver'], 'expected a solver name (see iia solvers), or a diffusers --scheduler-config');
  }

  return {
    stepsFlag,
    nfeFlag,
    seed,
    batch,
    threads,
    nFlag,
    gridKind,
    scheduleKind,
    betaSchedule,
    prediction,
    sigmaMin,
    sigmaMax,
    rho,
    sigmas,
    sampleShape,
    userOptions,
    ...conditionFlags(flags),
  };
}

function conditionFlags(flags: SampleFlags): Pick<ParsedSampleFlags, 'classes' | 'guidance' | 'guidanceScale'> {
  if (flags.guidance !== undefined && flags.guidanceScale !== undefined) {
    throw new UserError(['--guidance-scale'], 'not with --guidance (s = 1 + w); give one of them');
  }
  const num = (flag: string, raw: string | undefined): number | undefined => {
    if (raw === undefined) return undefined;
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(v)) throw new UserError([flag], `expected a number, got '${raw}'`);
    return v;
  };
  let classes: ParsedSampleFlags['classes'];
  if (flags.class !== undefined) {
    const parts = flags.class.split(',').map((s) => s.trim());
    if (parts.some((s) => s === '')) throw new UserError(['--class'], `expected a class index or name, or a comma-separated list, got '${flags.class}'`);
    const items = parts.map((s) => (/^-?\d+$/.test(s) ? Number(s) : s));
    classes = items.length === 1 ? items[0] : items;
  }
  return { classes, guidance: num('--guidance', flags.guidance), guidanceScale: num('--guidance-scale', flags.guidanceScale) };
}

function solverOptionsFrom(flags: SampleFlags): Record<string, unknown> {
  const options = parseSolverOptions(flags.option ?? []);
  const alias = (flag: string, key: string, raw: string | undefined): void => {
    if (raw === undefined) return;
    if (key in options) throw new UserError([flag], `conflicts with --option ${key}=...; give it once`);
    options[key] = parseNonNegativeNumber(flag, raw);
  };
  alias('--eta', 'eta', flags.eta);
  alias('--s-churn', 'sChurn', flags.sChurn);
  return options;
}
