// IIA from the command line: `iia calibrate` writes a coefficient file; `iia sample --solver iia-... [--coeffs FILE]`
// loads one (checked against the run) or calibrates once and caches the file by the run's fingerprint.
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Denoiser } from '../models/denoiser.js';
import {
  calibrate,
  checkCoefficients,
  CoefficientMismatchError,
  getIiaVariant,
  modelFingerprint,
  parseCoefficients,
  serializeCoefficients,
  sha256HexOfString,
  type CoefficientSet,
  type RunDescription,
} from '../iia/index.js';
import { UserError, withContext } from '../io/errors.js';
import { readBytes, writeAtomic } from '../io/files.js';
import { loadModel } from '../models/registry.js';
import { AbortError } from '../sample.js';
import { makeSchedule } from '../schedules/index.js';
import { parsePositiveInt, parseUint32 } from './args.js';
import { InterruptedError, type CliIO } from './main.js';
import { createProgress } from './progress.js';
import { parseSampleFlags, type SampleFlags } from './sample-flags.js';
import { at, normaliseModelSpec, resolveRun, type ResolvedRun } from './sample-plan.js';
import { formatTable } from './table.js';

/** The fingerprint of a model: SHA-256 of its file (gmm:/onnx: with a path) or of its spec (embedded models). */
export async function fingerprintOf(spec: string): Promise<string> {
  const m = /^(gmm|onnx):(.+)$/.exec(spec);
  if (m) {
    try {
      return modelFingerprint(spec, new Uint8Array(await readFile(m[2])));
    } catch {
      // an embedded example name (gmm:gmm-2d): the spec identifies it
    }
  }
  return modelFingerprint(spec);
}

export function describeRun(run: ResolvedRun, fingerprint: string): RunDescription {
  return {
    solver: run.solverName,
    baseOptions: (run.solverOptions.base as Record<string, unknown> | undefined) ?? {},
    schedule: run.schedule.kind,
    grid: run.grid,
    steps: run.steps,
    nfe: run.solver.nfe(run.steps, run.solverOptions),
    modelFingerprint: fingerprint,
  };
}

export interface CoefficientFlags {
  coeffs?: string;
  force?: boolean;
  calibrationSeed?: string;
}

function cacheDir(env: Record<string, string | undefined>): string {
  if (env.IIA_CACHE_DIR) return env.IIA_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'iia-diffusion');
}

/**
 * The coefficients of an IIA run: from --coeffs (checked field by field against the run; --force turns mismatches
 * into warnings), else from the cache (a file named by the hash of the run's description), else calibrated now with
 * the paper's defaults on --calibration-seed (default: the sampling seed + 1, so the samples are not the calibration
 * batch) and cached.
 */
export async function coefficientsFor(o: {
  flags: CoefficientFlags;
  spec: string;
  denoiser: Denoiser;
  run: ResolvedRun;
  seed: number;
  io: CliIO;
  quiet: boolean;
}): Promise<CoefficientSet> {
  const fingerprint = await fingerprintOf(o.spec);
  const desc = describeRun(o.run, fingerprint);
  if (o.flags.coeffs !== undefined) {
    const file = o.flags.coeffs;
    const text = new TextDecoder().decode(await readBytes(file, '--coeffs'));
    const set = await at([file], () => parseCoefficients(text, file));
    const warnings = await at([file], () => checkCoefficients(set, desc, { force: o.flags.force, file }));
    for (const w of warnings) o.io.stderr(`iia: ${w}\n`);
    return set;
  }
  const calibrationSeed = o.flags.calibrationSeed !== undefined ? parseUint32('--calibration-seed', o.flags.calibrationSeed) : (o.seed + 1) >>> 0;
  const key = sha256HexOfString(JSON.stringify({ ...desc, grid: desc.grid!.map((p) => [p.sigma, p.t, p.alpha]), calibrationSeed, v: 2 })).slice(0, 24);
  const dir = cacheDir(o.io.env ?? process.env);
  const file = join(dir, `${o.run.solverName.replace(/[^\w.+-]/g, '_')}-${key}.json`);
  try {
    const set = parseCoefficients(await readFile(file, 'utf8'), file);
    checkCoefficients(set, desc, { file });
    if (!o.quiet) o.io.stderr(`iia: using cached IIA coefficients ${file}\n`);
    return set;
  } catch (err) {
    if (!(err instanceof CoefficientMismatchError) && (err as NodeJS.ErrnoException).code !== 'ENOENT' && !(err instanceof Error)) throw err;
    // missing, unreadable or stale: calibrate anew
  }
  if (!o.quiet) o.io.stderr(`iia: calibrating ${o.run.solverName} for this run (seed ${calibrationSeed}); the coefficients are cached for the next one\n`);
  const set = await runCalibration(o.denoiser, o.run, { seed: calibrationSeed, modelName: o.spec, fingerprint }, o.io, o.quiet);
  await mkdir(dir, { recursive: true });
  await writeAtomic(file, serializeCoefficients(set), 'cache');
  return set;
}

async function runCalibration(
  model: Denoiser,
  run: ResolvedRun,
  o: { seed: number; batch?: number; M?: number; r?: number; heldOut?: number; modelName: string; fingerprint: string },
  io: CliIO,
  quiet: boolean,
): Promise<CoefficientSet> {
  const progress = createProgress({ enabled: io.isTTY && !quiet, stream: io.stderrStream, unit: 'steps' });
  try {
    return await calibrate({
      model,
      variant: run.solverName,
      grid: run.grid,
      schedule: run.schedule,
      batch: o.batch,
      M: o.M,
      r: o.r ?? (run.solverOptions.r as number | undefined),
      heldOut: o.heldOut,
      seed: o.seed,
      baseOptions: (run.solverOptions.base as Record<string, unknown> | undefined) ?? undefined,
      x0Transform: run.plan?.x0Transform,
      modelName: o.modelName,
      fingerprint: o.fingerprint,
      onProgress: (done, total) => progress.update(done, total),
      signal: io.signal,
    });
  } catch (err) {
    if (err instanceof AbortError) throw new InterruptedError();
    throw withContext(['calibrate'], err);
  } finally {
    progress.stop();
  }
}

interface CalibrateFlags extends SampleFlags {
  out: string;
  M?: string;
  r?: string;
  heldOut?: string;
}

export function registerCalibrate(program: Command, io: CliIO): void {
  program
    .command('calibrate')
    .description('fit the IIA coefficients of a solver for a run (model, grid, steps) once; write them as JSON')
    .requiredOption('--model <spec>', 'data:NAME, gmm:NAME or gmm:FILE.json, onnx:FILE.onnx')
    .requiredOption('--solver <name>', 'an IIA solver: iia-edm, biia-edm, iia-ddim, iia-dpm-solver++, iia-spndm, iia-ipndm, iia:<solver>')
    .option('--steps <n>', 'number of solver steps (or give --nfe)')
    .option('--nfe <n>', 'network-evaluation budget: the largest step count whose NFE fits')
    .option('--grid <kind>', 'time grid (default karras), as iia sample')
    .option('--sigmas <list>', 'explicit grid sigmas, descending')
    .option('--sigma-min <x>', 'smallest sigma of the grid')
    .option('--sigma-max <x>', 'largest sigma of the grid')
    .option('--rho <x>', 'Karras grid exponent (default 7)')
    .option('--schedule <kind>', "noise schedule (default: the model's)")
    .option('--beta-schedule <name>', 'betas of --schedule vp-discrete')
    .option('--prediction <type>', 'what an ONNX network predicts')
    .option('--shape <c,h,w>', 'shape of one sample, for ONNX models with a symbolic input shape')
    .option('--threads <n>', 'threads for ONNX models')
    .option('--batch <B>', "|B|, the calibration noises (default: the variant's, 200 for EDM, 16 for DDIM)")
    .option('--M <m>', 'sub-intervals of the fine-grained target per step (default 3)')
    .option('--r <r>', "earlier increments the directions use (default: the variant's, 1)")
    .option('--held-out <k>', 'held-out noises of the whole-run check (default: what the (M + 1) x |B| cost budget leaves after the fit; 0 disables it)')
    .option('--seed <int>', 'seed of the calibration noises (default 0); held-out noises use the same seed on their own stream')
    .option('-o, --option <key=value>', 'base-solver option, repeatable', (v: string, p: string[]) => [...p, v], [])
    .requiredOption('--out <file.json>', 'the coefficient file to write')
    .option('--json', 'print the coefficient file on stdout instead of the residual table')
    .action(async (flags: CalibrateFlags) => {
      await runCalibrate(flags, io);
    });
}

async function runCalibrate(flags: CalibrateFlags, io: CliIO): Promise<void> {
  if (!flags.out.toLowerCase().endsWith('.json')) throw new UserError([flags.out, '--out'], 'expected a file name ending in .json');
  const p = parseSampleFlags({ ...flags, batch: undefined, seed: undefined });
  await at(['--solver'], () => getIiaVariant(flags.solver!));
  const batch = flags.batch !== undefined ? parsePositiveInt('--batch', flags.batch) : undefined;
  const M = flags.M !== undefined ? parsePositiveInt('--M', flags.M) : undefined;
  const r = flags.r !== undefined ? Number(flags.r) : undefined;
  if (r !== undefined && !(Number.isInteger(r) && r >= 0)) throw new UserError(['--r'], `expected an integer >= 0, got '${flags.r}'`);
  const heldOut = flags.heldOut !== undefined ? Number(flags.heldOut) : undefined;
  if (heldOut !== undefined && !(Number.isInteger(heldOut) && heldOut >= 0)) throw new UserError(['--held-out'], `expected an integer >= 0, got '${flags.heldOut}'`);
  const seed = flags.seed !== undefined ? parseUint32('--seed', flags.seed) : 0;
  const spec = normaliseModelSpec(flags.model);
  const userSchedule = p.scheduleKind ? makeSchedule(p.scheduleKind, p.betaSchedule ? ({ betaSchedule: p.betaSchedule } as never) : undefined) : undefined;
  const loaded = await at(['--model'], () =>
    loadModel(spec, { schedule: userSchedule, prediction: p.prediction, threads: p.threads, sampleShape: p.sampleShape }),
  );
  try {
    const run = await resolveRun({
      solverFlag: flags.solver,
      stepsFlag: p.stepsFlag,
      nfeFlag: p.nfeFlag,
      gridKind: p.gridKind,
      sigmas: p.sigmas,
      sigmaMin: p.sigmaMin,
      sigmaMax: p.sigmaMax,
      rho: p.rho,
      userOptions: p.userOptions,
      schedule: userSchedule ?? makeSchedule(loaded.info.defaultSchedule),
    });
    const set = await runCalibration(loaded.denoiser, run, { seed, batch, M, r, heldOut, modelName: spec, fingerprint: await fingerprintOf(spec) }, io, !!flags.json);
    await writeAtomic(flags.out, serializeCoefficients(set));
    if (flags.json) {
      io.stdout(serializeCoefficients(set));
      return;
    }
    io.stdout(residualReport(set));
  } finally {
    await loaded.denoiser.dispose?.();
  }
}

/** The residual table `iia calibrate` prints: per step, mean squared distance to the fine target, before/after. */
export function residualReport(set: CoefficientSet): string {
  const e = (v: number | null | undefined) => (v === null || v === undefined ? '-' : v.toExponential(2));
  const rows = set.coefficients.map((c) => [
    c.step,
    c.sigma.toPrecision(4),
    c.sigmaNext.toPrecision(4),
    e(c.residual.calibration.before),
    e(c.residual.calibration.after),
    e(c.residual.heldOut?.before),
    e(c.residual.heldOut?.after),
    c.accepted ? 'fitted' : 'default',
  ]);
  const head = `${set.solver} on ${set.model.name}: ${set.steps} steps, ${set.nfe} NFE, M ${set.M}, r ${set.r}, |B| ${set.batch} (out-of-fold: 2-fold cross-validation on it), ${set.heldOut} held-out noises for the whole-run check, seed ${set.seed}\n`;
  const g = set.globalCheck;
  const tail =
    (g ? `whole-run check on the held-out noises: distance to the base solver on an M-times finer grid, mean ${g.base.mean.toExponential(2)} (base) -> ${g.calibrated.mean.toExponential(2)} (IIA): ${g.accepted ? 'accepted' : 'rejected, all steps use the defaults'}\n` : '') +
    `cost: ${set.cost.modelEvaluations} model evaluations, ${set.cost.ratio.toFixed(2)} x sampling |B| with the base solver, ${set.cost.seconds.toFixed(2)} s\n`;
  return head + formatTable(['step', 'sigma', 'sigma_next', 'calib before', 'calib after', 'out-of-fold before', 'out-of-fold after', 'coefficients'], rows) + tail;
}
