// `iia edit`: SDEdit of an edited image, spatially sparse (after SIGE, Li et al. 2022): the original image's run is
// cached and the edited run recomputes only the dependency cone of the edit. Exact for a model with a finite
// receptive field (`patch:NAME[:N]`, the local empirical denoiser); any other model runs densely and says so. This
// file turns flags into library calls (src/edit/), reads and writes the images, and prints the report.
import type { Command } from 'commander';
import { PNG } from 'pngjs';
import { sdeditGrid, sparseEdit, type EditResult } from '../edit/index.js';
import { GRID_KINDS, makeGrid, type GridKind } from '../grids/index.js';
import { UserError, withContext } from '../io/errors.js';
import { checkOutputPath, readBytes, writeAtomic } from '../io/files.js';
import { writeNpyFile } from '../io/npy-file.js';
import { imageGridPng, imageLayout } from '../io/png.js';
import { PREDICTION_TYPES, type PredictionType } from '../models/adapters.js';
import { loadEmbeddedDataset } from '../models/data.js';
import { NonFiniteError, type Denoiser } from '../models/denoiser.js';
import { LocalEmpiricalDenoiser } from '../models/patch-denoiser.js';
import { loadModel } from '../models/registry.js';
import { AbortError } from '../sample.js';
import { makeSchedule } from '../schedules/index.js';
import type { ScheduleKind } from '../schedules/schedule.js';
import { getSolver } from '../solvers/index.js';
import { parseChoice, parseNonNegativeNumber, parsePositiveInt, parsePositiveNumber, parseShape, parseSolverOptions, parseUint32 } from './args.js';
import { InterruptedError, type CliIO } from './main.js';
import { createProgress } from './progress.js';
import { at, normaliseModelSpec } from './sample-plan.js';

export interface EditFlags {
  model: string;
  image: string;
  edited: string;
  strength: string;
  steps: string;
  solver?: string;
  grid?: string;
  sigmaMin?: string;
  sigmaMax?: string;
  rho?: string;
  seed?: string;
  option?: string[];
  eta?: string;
  radius?: string;
  tile?: string;
  shift?: string;
  threshold?: string;
  dilation?: string;
  adaptive?: boolean;
  compareDense?: boolean;
  prediction?: string;
  threads?: string;
  shape?: string;
  out?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Grid kinds `iia edit` builds from --steps (an explicit grid has no step count to take a strength of). */
const EDIT_GRIDS = GRID_KINDS.filter((k) => k !== 'explicit');

export function registerEdit(program: Command, io: CliIO): void {
  program
    .command('edit')
    .description('SDEdit an edited image, recomputing only where the edit reaches (spatially sparse, exact for patch: models)')
    .requiredOption('--model <spec>', 'patch:NAME[:N] (local empirical denoiser of an embedded set: sparse and exact), or any iia sample model (runs densely)')
    .requiredOption('--image <file.png>', 'the original image (its run is cached)')
    .requiredOption('--edited <file.png>', 'the edited image, same size')
    .requiredOption('--strength <s>', 'SDEdit strength in (0, 1]: the run takes the last floor(steps * s) steps of the grid')
    .requiredOption('--steps <n>', 'steps of the full grid')
    .option('--solver <name>', 'solver (see iia solvers; default ddim)')
    .option('--grid <kind>', `time grid: ${EDIT_GRIDS.join('|')} (default karras)`)
    .option('--sigma-min <x>', "smallest sigma of the grid (default: the schedule's)")
    .option('--sigma-max <x>', "largest sigma of the grid (default: the schedule's)")
    .option('--rho <x>', 'Karras grid exponent (default 7)')
    .option('--seed <int>', 'seed of the shared SDEdit noise and of stochastic solvers (default 0)')
    .option('-o, --option <key=value>', 'solver option, repeatable', collect, [])
    .option('--eta <x>', 'same as --option eta=X (stochastic DDIM; the noise is shared by both runs)')
    .option('--radius <r>', 'patch: models: window radius, the receptive field (default 1)')
    .option('--tile <p>', 'patch: models: output tile size in pixels, the unit of recomputation (default 4)')
    .option('--shift <s>', 'patch: models: candidate windows shifted by up to s pixels (default 0)')
    .option('--threshold <x>', 'changes of at most x (pixel values in [-1, 1]) do not count as edited (default 0)')
    .option('--dilation <d>', "SIGE's approximation: recompute one fixed mask (the edit dilated by d pixels) instead of the exact cone")
    .option('--adaptive', 'recompute only near pixels whose state really differs from the original run (exact, often cheaper)')
    .option('--compare-dense', 'also run the edited image densely: wall time and equality')
    .option('--prediction <type>', `what an ONNX network predicts: ${PREDICTION_TYPES.join('|')}`)
    .option('--threads <n>', 'threads for ONNX models')
    .option('--shape <c,h,w>', 'shape of one sample, for ONNX models whose input shape is symbolic')
    .option('--out <file>', 'the edited result: FILE.png or FILE.npy (float32 [1, C, H, W])')
    .option('--json', 'print a JSON report on stdout; no progress bar')
    .action(async (flags: EditFlags) => {
      await runEdit(flags, io);
    });
}

/** `patch:NAME[:N]`: the local empirical denoiser over an embedded data set, or null for another spec. */
export function parsePatchSpec(spec: string): { name: string; n?: number } | null {
  if (!spec.startsWith('patch:')) return null;
  const m = /^patch:([a-z]+)(?::(\d+))?$/.exec(spec);
  if (!m) throw new UserError(['--model'], `expected patch:NAME[:N] with NAME one of digits, fashion, emoji, got '${spec}'`);
  return { name: m[1], n: m[2] !== undefined ? Number(m[2]) : undefined };
}

/**
 * One PNG as a [C, H, W] image with pixels in [-1, 1] (v / 127.5 - 1, as the embedded data). Transparent pixels
 * are composited over white. A 1-channel model takes grey images (R = G = B).
 */
export async function readImagePng(path: string, flag: string, shape: readonly number[], model: string): Promise<Float32Array> {
  const layout = imageLayout(shape);
  if (!layout) throw new UserError(['--model'], `${model} has samples of shape [${shape.join(', ')}], not images; iia edit needs an image model`);
  const bytes = await readBytes(path, flag);
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    throw new UserError([path, flag], `expected a PNG image (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  const { channels: C, height: H, width: W } = layout;
  if (png.width !== W || png.height !== H) {
    throw new UserError([path, 'size'], `expected ${W}x${H} pixels (width x height of ${model}'s images, shape [${shape.join(', ')}]), got ${png.width}x${png.height}`);
  }
  const plane = H * W;
  const out = new Float32Array(C * plane);
  for (let p = 0; p < plane; p++) {
    const a = png.data[4 * p + 3] / 255;
    const rgb = [0, 1, 2].map((c) => png.data[4 * p + c] * a + 255 * (1 - a));
    if (C === 1) {
      if (rgb[0] !== rgb[1] || rgb[1] !== rgb[2]) {
        throw new UserError(
          [path, 'colour'],
          `expected a grey image (R = G = B) for ${model}, which has 1 channel; pixel (${p % W}, ${Math.floor(p / W)}) is (${png.data.slice(4 * p, 4 * p + 3).join(', ')})`,
        );
      }
      out[p] = rgb[0] / 127.5 - 1;
    } else {
      for (let c = 0; c < 3; c++) out[c * plane + p] = rgb[c] / 127.5 - 1;
    }
  }
  return out;
}

function fmtOps(v: number): string {
  return v.toExponential(2);
}

export interface EditSummary {
  model: string;
  solver: string;
  schedule: string;
  grid: string;
  gridSteps: number;
  steps: number;
  strength: number;
  sigmaStart: number;
  seed: number;
  nfe: number;
  mode: 'sparse' | 'dense';
  exact: boolean | null;
  fallback: string | null;
  receptiveRadius: number | null;
  tile: number | null;
  dilation: number | null;
  adaptive: boolean | null;
  editedPixels: number;
  totalPixels: number;
  /** Percent of the pixels the edit changed. */
  editedArea: number;
  ops: { dense: number; sparse: number; saving: number | null } | null;
  /** Percent of the output pixels recomputed, averaged over the model calls. */
  recomputedArea: number | null;
  calls: { sigma: number; conePixels: number; changedPixels: number; recomputedTiles: number; tiles: number; ops: number }[] | null;
  seconds: { original: number | null; edited: number; dense: number | null };
  dense: { maxAbsDiff: number; identical: boolean } | null;
  out: string | null;
}

export async function runEdit(flags: EditFlags, io: CliIO): Promise<void> {
  // 1. Flags.
  const steps = parsePositiveInt('--steps', flags.steps);
  const strength = parsePositiveNumber('--strength', flags.strength);
  if (strength > 1) throw new UserError(['--strength'], `expected a number in (0, 1], got '${flags.strength}'`);
  const seed = flags.seed !== undefined ? parseUint32('--seed', flags.seed) : 0;
  const gridKind: GridKind = flags.grid !== undefined ? parseChoice('--grid', flags.grid, EDIT_GRIDS) : 'karras';
  const sigmaMin = flags.sigmaMin !== undefined ? parsePositiveNumber('--sigma-min', flags.sigmaMin) : undefined;
  const sigmaMax = flags.sigmaMax !== undefined ? parsePositiveNumber('--sigma-max', flags.sigmaMax) : undefined;
  const rho = flags.rho !== undefined ? parsePositiveNumber('--rho', flags.rho) : undefined;
  const threshold = flags.threshold !== undefined ? parseNonNegativeNumber('--threshold', flags.threshold) : 0;
  const dilation = flags.dilation !== undefined ? parseNonNegativeInt('--dilation', flags.dilation) : undefined;
  if (dilation !== undefined && flags.adaptive) throw new UserError(['--adaptive'], 'follows the exact cone; it does not combine with --dilation');
  const prediction = flags.prediction !== undefined ? parseChoice<PredictionType>('--prediction', flags.prediction, PREDICTION_TYPES) : undefined;
  const threads = flags.threads !== undefined ? parsePositiveInt('--threads', flags.threads) : undefined;
  const sampleShape = flags.shape !== undefined ? parseShape('--shape', flags.shape) : undefined;
  const solverOptions = parseSolverOptions(flags.option ?? []);
  if (flags.eta !== undefined) {
    if ('eta' in solverOptions) throw new UserError(['--eta'], 'eta is also given with --option; give it once');
    solverOptions.eta = parseNonNegativeNumber('--eta', flags.eta);
  }
  const solverName = flags.solver ?? 'ddim';
  const solver = await at(['--solver'], () => getSolver(solverName));
  const patch = parsePatchSpec(flags.model);
  for (const [flag, v] of [['--radius', flags.radius], ['--tile', flags.tile], ['--shift', flags.shift]] as const) {
    if (v !== undefined && !patch) throw new UserError([flag], `only for patch: models (the local empirical denoiser), not ${flags.model}`);
  }
  const radius = flags.radius !== undefined ? parseNonNegativeInt('--radius', flags.radius) : 1;
  const tile = flags.tile !== undefined ? parsePositiveInt('--tile', flags.tile) : 4;
  const shift = flags.shift !== undefined ? parseNonNegativeInt('--shift', flags.shift) : 0;

  // 2. Output path before the run; then the model, then the images (their size is the model's).
  let outFormat: 'npy' | 'png' | undefined;
  if (flags.out !== undefined) outFormat = await checkOutputPath(flags.out, '--out');
  let model: Denoiser;
  let modelName: string;
  let scheduleKind: ScheduleKind;
  if (patch) {
    const ds = await at(['--model'], () => loadEmbeddedDataset(patch.name, patch.n));
    modelName = flags.model;
    model = await at(['--model'], () => new LocalEmpiricalDenoiser(ds.images, ds.shape, { radius, tile, shift, name: flags.model }));
    scheduleKind = 'edm';
  } else {
    const spec = normaliseModelSpec(flags.model);
    const loaded = await at(['--model'], () => loadModel(spec, { prediction, threads, sampleShape }));
    model = loaded.denoiser;
    modelName = loaded.info.name;
    scheduleKind = loaded.info.defaultSchedule;
  }
  try {
    if (io.signal?.aborted) throw new InterruptedError();
    const shape = model.sampleShape;
    const original = await readImagePng(flags.image, '--image', shape, modelName);
    const edited = await readImagePng(flags.edited, '--edited', shape, modelName);
    const schedule = await at(['--model'], () => makeSchedule(scheduleKind));
    const grid = await at(['--grid'], () => makeGrid(schedule, { kind: gridKind, steps, sigmaMin, sigmaMax, rho }));
    await at(['--solver'], () => solver.check?.(grid, schedule, solverOptions));
    await at(['--strength'], () => sdeditGrid(grid, strength));

    // 3. Run.
    const progress = createProgress({ enabled: io.isTTY && !flags.json, stream: io.stderrStream, unit: 'steps' });
    let r: EditResult;
    try {
      r = await sparseEdit({
        model,
        solver,
        grid,
        schedule,
        strength,
        seed,
        solverOptions,
        original,
        edited,
        threshold,
        dilation,
        adaptive: flags.adaptive ?? false,
        compareDense: flags.compareDense ?? false,
        signal: io.signal,
        onProgress: (done, total) => progress.update(done, total),
      });
    } catch (err) {
      if (err instanceof AbortError) throw new InterruptedError();
      if (err instanceof NonFiniteError) throw new UserError([modelName], err.message, { cause: err });
      throw withContext(['edit'], err);
    } finally {
      progress.stop();
    }
    if (io.signal?.aborted) throw new InterruptedError();

    // 4. Output (atomic), then the report.
    if (flags.out !== undefined) {
      const batch = { data: r.result, shape: [1, ...shape] };
      if (outFormat === 'npy') await writeNpyFile(flags.out, batch);
      else await writeAtomic(flags.out, imageGridPng(batch, { gap: 0 }).png);
    }
    const summary = summarise(r, { modelName, solverName, scheduleKind, gridKind, strength, seed, out: flags.out ?? null });
    io.stdout(flags.json ? JSON.stringify(summary) + '\n' : describe(summary));
  } finally {
    await model.dispose?.();
  }
}

function parseNonNegativeInt(flag: string, value: string): number {
  const v = value.trim();
  if (!/^\+?\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new UserError([flag], `expected an integer >= 0, got '${value}'`);
  return Number(v);
}

function summarise(
  r: EditResult,
  o: { modelName: string; solverName: string; scheduleKind: string; gridKind: string; strength: number; seed: number; out: string | null },
): EditSummary {
  const calls = r.calls ?? null;
  const recomputedArea = calls && calls.length ? (100 * calls.reduce((s, c) => s + c.recomputedPixels / r.totalPixels, 0)) / calls.length : null;
  return {
    model: o.modelName,
    solver: o.solverName,
    schedule: o.scheduleKind,
    grid: o.gridKind,
    gridSteps: r.gridSteps,
    steps: r.steps,
    strength: o.strength,
    sigmaStart: r.sigmaStart,
    seed: o.seed,
    nfe: r.nfe,
    mode: r.mode,
    exact: r.exact ?? null,
    fallback: r.fallback ?? null,
    receptiveRadius: r.receptiveRadius ?? null,
    tile: r.tileSize ?? null,
    dilation: r.dilation ?? null,
    adaptive: r.adaptive ?? null,
    editedPixels: r.editedPixels,
    totalPixels: r.totalPixels,
    editedArea: (100 * r.editedPixels) / r.totalPixels,
    ops: r.ops ?? null,
    recomputedArea,
    calls: calls ? calls.map((c) => ({ sigma: c.sigma, conePixels: c.conePixels, changedPixels: c.changedPixels, recomputedTiles: c.recomputedTiles, tiles: c.tiles, ops: c.ops })) : null,
    seconds: { original: r.seconds.original ?? null, edited: r.seconds.edited, dense: r.seconds.dense ?? null },
    dense: r.dense ? { maxAbsDiff: r.dense.maxAbsDiff, identical: r.dense.identical } : null,
    out: o.out,
  };
}

function describe(s: EditSummary): string {
  const lines: string[] = [];
  lines.push(
    `${s.solver} on ${s.model}: SDEdit over ${s.steps} of ${s.gridSteps} steps from sigma ${s.sigmaStart.toPrecision(4)} (strength ${s.strength}), ` +
      `${s.nfe} NFE; edited area ${s.editedArea.toFixed(2)}% (${s.editedPixels} of ${s.totalPixels} pixels)`,
  );
  if (s.mode === 'dense') {
    lines.push(`dense: ${s.fallback}; no compute saved. Edited run ${s.seconds.edited.toFixed(2)} s`);
  } else {
    const how = s.exact ? (s.adaptive ? 'exact, adaptive within the dependency cone' : 'exact dependency cone') : `fixed mask dilated by ${s.dilation} (SIGE's approximation, not exact)`;
    const ops = s.ops!;
    const saving = ops.saving === null ? 'no pixel changed: the result is the original run\'s' : `${ops.saving.toFixed(2)}x fewer`;
    lines.push(
      `sparse (${how}; receptive radius ${s.receptiveRadius}, ${s.tile}x${s.tile} tiles, ${s.recomputedArea!.toFixed(1)}% of the pixels recomputed per call on average): ` +
        `${fmtOps(ops.sparse)} of ${fmtOps(ops.dense)} multiply-adds, ${saving}; edited run ${s.seconds.edited.toFixed(2)} s (original run, cached: ${s.seconds.original!.toFixed(2)} s)`,
    );
    if (s.dense) {
      const eq = s.dense.identical ? 'identical to the sparse result' : `largest difference to the sparse result ${s.dense.maxAbsDiff.toExponential(2)}`;
      lines.push(`dense edited run: ${s.seconds.dense!.toFixed(2)} s, ${eq}`);
    }
  }
  lines.push(s.out !== null ? `-> ${s.out}` : '(no --out: result not written)');
  return lines.join('\n') + '\n';
}
