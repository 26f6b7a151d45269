// `iia plot`: figures as SVG or PNG. `error` draws eval records (error against NFE, log-log, one line per solver),
// `residuals` a coefficient file's per-step residual before and after IIA, `grid` sample images (solvers by NFE).
// The plotting modules (vega, resvg) are imported only when a plot command runs, so other commands start fast.
import { stat } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Batch } from '../core/batch.js';
import { UserError, describeFsError } from '../io/errors.js';
import { readJson, writeAtomic } from '../io/files.js';
import { readNpyFile } from '../io/npy-file.js';
import { imageLayout } from '../io/png.js';
import type { GridCellSpec } from '../plot/data.js';
import type { GridCell } from '../plot/grid.js';
import { parseChoice, parsePositiveInt, parsePositiveNumber } from './args.js';
import { InterruptedError, type CliIO } from './main.js';

type FigureFormat = 'svg' | 'png';

interface CommonFlags {
  out: string;
  scale?: string;
  title?: string;
  json?: boolean;
}

interface ErrorFlags extends CommonFlags {
  in?: string[];
  metric: string;
  x: string;
  yScale?: string;
  model?: string;
  solver?: string;
  width?: string;
  height?: string;
}

interface ResidualFlags extends CommonFlags {
  coeffs: string;
  yScale?: string;
  heldOut: boolean;
  width?: string;
  height?: string;
}

interface GridFlags extends CommonFlags {
  in?: string;
  cell?: string[];
  index: string;
  reference?: string;
  imageSize?: string;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

function common(cmd: Command): Command {
  return cmd
    .requiredOption('--out <file>', 'output: FILE.svg or FILE.png')
    .option('--scale <x>', 'PNG pixels per SVG pixel (default 2)')
    .option('--title <text>', 'figure title (default: what is plotted)')
    .option('--json', 'print a JSON summary on stdout');
}

export function registerPlot(program: Command, io: CliIO): void {
  const plot = program.command('plot').description('draw figures as SVG or PNG: error vs NFE, IIA residuals, sample grids');
  common(
    plot
      .command('error')
      .description('error against NFE on log-log axes, one line per solver, from `iia eval` output')
      .requiredOption('--in <file.json>', 'eval output ({records: [...]} or an array of records); repeatable', collect)
      .option('--metric <field>', 'record field on the y axis: rmse, median_error, max_error, psnr, fd_rp64, ... ', 'rmse')
      .option('--x <field>', 'x axis: nfe or steps', 'nfe')
      .option('--y-scale <scale>', 'log or linear (default log; linear for psnr, loglik, mode_accuracy, kid_rp64)')
      .option('--model <name>', 'only the records of this model')
      .option('--solver <list>', 'only these solvers (comma-separated), in this order')
      .option('--width <px>', 'width of one panel (default 360)')
      .option('--height <px>', 'height of one panel (default 280)'),
  ).action(async (flags: ErrorFlags) => runPlotError(flags, io));
  common(
    plot
      .command('residuals')
      .description('per-step least-squares residual before and after IIA, from a coefficient file')
      .requiredOption('--coeffs <file.json>', 'IIA coefficient file (or an array of {step, sigma, before, after})')
      .option('--y-scale <scale>', 'log or linear (default log)')
      .option('--no-held-out', 'leave out the held-out curves')
      .option('--width <px>', 'plot width (default: 44 px per step, 320..720)')
      .option('--height <px>', 'plot height (default 280)'),
  ).action(async (flags: ResidualFlags) => runPlotResiduals(flags, io));
  common(
    plot
      .command('grid')
      .description('sample images: rows = solvers, columns = NFE, the same noise in every cell')
      .option('--in <file.json>', 'cells: [{solver, nfe, file}] or eval output whose records name a "samples" .npy file')
      .option('--cell <solver:nfe=file.npy>', 'one cell (repeatable): the samples of SOLVER at NFE, [n, C, H, W] or [n, H, W]', collect)
      .option('--index <list>', 'which samples of each file to show, comma-separated', '0')
      .option('--reference <file.npy>', 'an extra column: the reference solution from the same noises')
      .option('--image-size <px>', 'displayed size of an image\'s longer side (default: a whole multiple >= 64)'),
  ).action(async (flags: GridFlags) => runPlotGrid(flags, io));
}

/** Output path: .svg or .png, in an existing directory. */
async function checkFigurePath(path: string): Promise<FigureFormat> {
  const ext = extname(path).toLowerCase();
  if (ext !== '.svg' && ext !== '.png') {
    throw new UserError([path, '--out'], `expected a file name ending in .svg or .png, got ${ext ? `'${ext}'` : 'no extension'}`);
  }
  const dir = dirname(resolve(path));
  try {
    if (!(await stat(dir)).isDirectory()) throw new UserError([path, '--out'], `${dir} is not a directory`);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError([path, '--out'], `the directory ${dir} does not exist (${describeFsError(err)})`, { cause: err });
  }
  try {
    if ((await stat(path)).isDirectory()) throw new UserError([path, '--out'], 'is a directory, expected a file name');
  } catch (err) {
    if (err instanceof UserError) throw err; // ENOENT is fine: the file will be created
  }
  return ext === '.svg' ? 'svg' : 'png';
}

/** A UserError from the data parsers, with the file it was found in put in front. */
function inFile(file: string, err: unknown): unknown {
  return err instanceof UserError ? new UserError([file, ...err.where], err.what, { cause: err }) : err;
}

function optionalPositive(flag: string, v: string | undefined): number | undefined {
  return v === undefined ? undefined : parsePositiveNumber(flag, v);
}

async function writeFigure(
  svg: string,
  flags: CommonFlags,
  format: FigureFormat,
  io: CliIO,
  what: string,
  extra: Record<string, unknown>,
  pixelated = false,
): Promise<void> {
  const scale = flags.scale === undefined ? 2 : parsePositiveNumber('--scale', flags.scale);
  if (scale > 16) throw new UserError(['--scale'], `expected at most 16, got ${flags.scale}`);
  const { svgSize, svgToPng } = await import('../plot/render.js');
  let width: number, height: number;
  let bytes: Uint8Array | string;
  if (format === 'png') {
    const r = svgToPng(svg, { scale, pixelated });
    ({ width, height } = r);
    bytes = r.png;
  } else {
    ({ width, height } = svgSize(svg));
    bytes = svg;
  }
  if (io.signal?.aborted) throw new InterruptedError();
  await writeAtomic(flags.out, bytes);
  const summary = { out: flags.out, format, width, height, ...extra };
  if (flags.json) io.stdout(JSON.stringify(summary) + '\n');
  else io.stdout(`${what} -> ${flags.out} (${width} x ${height} px)\n`);
}

export async function runPlotError(flags: ErrorFlags, io: CliIO): Promise<void> {
  const format = await checkFigurePath(flags.out);
  const x = parseChoice('--x', flags.x, ['nfe', 'steps'] as const);
  const yScale = flags.yScale === undefined ? undefined : parseChoice('--y-scale', flags.yScale, ['log', 'linear'] as const);
  const width = optionalPositive('--width', flags.width);
  const height = optionalPositive('--height', flags.height);
  const solvers = flags.solver?.split(',').map((s) => s.trim()).filter(Boolean);
  const inFiles = flags.in ?? [];
  if (inFiles.length === 0) throw new UserError(['--in'], 'expected at least one eval output file');
  const { recordsOf, errorPoints, LINEAR_METRICS } = await import('../plot/data.js');
  const { errorChartSvg } = await import('../plot/charts.js');
  const logY = (yScale ?? (LINEAR_METRICS.has(flags.metric) ? 'linear' : 'log')) === 'log';

  const all: Record<string, unknown>[] = [];
  for (const file of inFiles) {
    const json = await readJson(file, '--in');
    let records: unknown[];
    try {
      records = recordsOf(json);
      // Check every record here, so a mistake is named by its file and index.
      errorPoints(records, flags.metric, { x, logY });
    } catch (err) {
      throw inFile(file, err);
    }
    all.push(...(records as Record<string, unknown>[]));
  }
  let chosen = all;
  if (flags.model !== undefined) {
    chosen = chosen.filter((r) => r.model === flags.model);
    if (chosen.length === 0) {
      const models = [...new Set(all.map((r) => String(r.model)))];
      throw new UserError(['--model'], `no record of '${flags.model}'; the files hold ${models.join(', ')}`);
    }
  }
  if (solvers) {
    const present = new Set(chosen.map((r) => r.solver));
    const missing = solvers.filter((s) => !present.has(s));
    if (missing.length) throw new UserError(['--solver'], `no record of ${missing.join(', ')}; the files hold ${[...present].join(', ')}`);
    chosen = solvers.flatMap((s) => chosen.filter((r) => r.solver === s));
  }
  let chart;
  try {
    chart = await errorChartSvg(chosen, { metric: flags.metric, x, yScale, title: flags.title, width, height });
  } catch (err) {
    throw inFile(inFiles.join(', '), err);
  }
  if (chart.skipped > 0) {
    io.stderr(`iia: note: ${chart.skipped} record(s) without a ${flags.metric} value (stochastic runs) not drawn\n`);
  }
  await writeFigure(chart.svg, flags, format, io, `${flags.metric} vs ${x}: ${chart.series.length} solver(s), ${chart.points} points`, {
    metric: flags.metric,
    solvers: chart.series,
    points: chart.points,
    skipped: chart.skipped,
  });
}

export async function runPlotResiduals(flags: ResidualFlags, io: CliIO): Promise<void> {
  const format = await checkFigurePath(flags.out);
  const yScale = flags.yScale === undefined ? undefined : parseChoice('--y-scale', flags.yScale, ['log', 'linear'] as const);
  const width = optionalPositive('--width', flags.width);
  const height = optionalPositive('--height', flags.height);
  const json = await readJson(flags.coeffs, '--coeffs');
  const { residualTable } = await import('../plot/data.js');
  const { residualChartSvg } = await import('../plot/charts.js');
  let chart;
  try {
    const table = residualTable(json);
    chart = await residualChartSvg(table.rows, { title: flags.title, yScale, heldOut: flags.heldOut, width, height }, table.label);
  } catch (err) {
    throw inFile(flags.coeffs, err);
  }
  if (chart.skipped > 0) io.stderr(`iia: note: ${chart.skipped} zero residual(s) left out of the log axis\n`);
  await writeFigure(chart.svg, flags, format, io, `residuals before/after IIA: ${chart.points} points`, { points: chart.points, curves: chart.series });
}

/** `--cell heun:11=x.npy` -> {solver, nfe, file}. The solver is everything before the last ':' of the part before '='. */
export function parseCellFlag(value: string): GridCellSpec {
  const eq = value.indexOf('=');
  const head = eq < 0 ? '' : value.slice(0, eq);
  const colon = head.lastIndexOf(':');
  const solver = colon < 0 ? '' : head.slice(0, colon).trim();
  const file = eq < 0 ? '' : value.slice(eq + 1);
  const nfeText = colon < 0 ? '' : head.slice(colon + 1).trim();
  if (!solver || !file || !/^\d+$/.test(nfeText) || Number(nfeText) < 1) {
    throw new UserError(['--cell'], `expected SOLVER:NFE=FILE.npy (e.g. heun:11=heun-11.npy), got '${value}'`);
  }
  return { solver, nfe: Number(nfeText), file };
}

function parseIndices(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.some((p) => !/^\d+$/.test(p))) throw new UserError(['--index'], `expected sample indices like 0 or 0,1,2, got '${value}'`);
  const out = parts.map(Number);
  if (new Set(out).size !== out.length) throw new UserError(['--index'], `an index appears twice in '${value}'`);
  if (out.length > 64) throw new UserError(['--index'], `expected at most 64 indices, got ${out.length}`);
  return out;
}

/** The chosen samples of a file, checked against the first file's sample shape. */
function pick(b: Batch, file: string, indices: number[], want: number[] | undefined): Batch {
  const shape = b.shape.slice(1);
  if (b.shape.length < 3 || !imageLayout(shape)) {
    throw new UserError([file, 'shape'], `expected images [n, C, H, W] (C = 1 or 3) or [n, H, W], got [${b.shape.join(', ')}]`);
  }
  if (want && (want.length !== shape.length || want.some((v, i) => v !== shape[i]))) {
    throw new UserError([file, 'shape'], `expected samples of shape [${want.join(', ')}] like the other files, got [${shape.join(', ')}]`);
  }
  const d = shape.reduce((a, v) => a * v, 1);
  const bad = indices.find((i) => i >= b.shape[0]);
  if (bad !== undefined) throw new UserError([file, '--index'], `sample ${bad} does not exist: the file holds ${b.shape[0]} sample(s)`);
  const data = new Float32Array(indices.length * d);
  indices.forEach((k, j) => data.set(b.data.subarray(k * d, (k + 1) * d), j * d));
  return { data, shape: [indices.length, ...shape] };
}

export async function runPlotGrid(flags: GridFlags, io: CliIO): Promise<void> {
  const format = await checkFigurePath(flags.out);
  const indices = parseIndices(flags.index);
  const imageSize = optionalPositive('--image-size', flags.imageSize);
  // Each cell with where it was given (for errors about its file).
  const specs: (GridCellSpec & { from: string })[] = [];
  if (flags.in !== undefined) {
    const json = await readJson(flags.in, '--in');
    const { gridCells } = await import('../plot/data.js');
    let cells: GridCellSpec[];
    try {
      cells = gridCells(json);
    } catch (err) {
      throw inFile(flags.in, err);
    }
    // Files named in the JSON are relative to the JSON's folder.
    const base = dirname(resolve(flags.in));
    specs.push(...cells.map((c) => ({ ...c, file: resolve(base, c.file), from: flags.in! })));
  }
  specs.push(...(flags.cell ?? []).map((c) => ({ ...parseCellFlag(c), from: '--cell' })));
  if (specs.length === 0) throw new UserError(['--cell'], 'expected cells: give --in FILE.json or --cell SOLVER:NFE=FILE.npy (repeatable)');

  const cells: GridCell[] = [];
  let want: number[] | undefined;
  for (const s of specs) {
    const b = await readNpyFile(s.file, s.from);
    const images = pick(b, s.file, indices, want);
    want ??= images.shape.slice(1);
    cells.push({ row: s.solver, column: s.column ?? s.nfe, nfe: s.nfe, images });
    if (io.signal?.aborted) throw new InterruptedError();
  }
  const reference = flags.reference !== undefined ? pick(await readNpyFile(flags.reference, '--reference'), flags.reference, indices, want) : undefined;
  const seen = new Map<string, string>();
  specs.forEach((s, i) => {
    const key = `${cells[i].row} at ${cells[i].column}`;
    if (seen.has(key)) throw new UserError([s.file], `a second cell for ${key} (the first is ${seen.get(key)})`);
    seen.set(key, s.file);
  });
  const { imageGridSvg } = await import('../plot/grid.js');
  const grid = imageGridSvg(cells, { title: flags.title, reference, imageSize });
  await writeFigure(
    grid.svg,
    flags,
    format,
    io,
    `sample grid: ${grid.rows.length} solver(s) x ${grid.columns.length} NFE${reference ? ' + reference' : ''}`,
    { rows: grid.rows, columns: grid.columns },
    true,
  );
}
