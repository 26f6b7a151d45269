// Speed benchmark (issue 2): the exact emoji denoiser with Euler, 20 steps, 1024 samples — as a whole `iia sample`
// process against the same computation in numpy/OpenBLAS, ONNX Runtime's plain matmul peak in the same run, the
// share of a run spent outside the denoiser (initial noise, the solver's own vector work) and the memory floor of an
// unfused update on this machine. Never asserts on time: it reports.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../src/models/registry.js';
import { buildMatMulGraph } from '../src/models/onnx-graphs.js';
import { makeSchedule } from '../src/schedules/index.js';
import { makeGrid } from '../src/grids/index.js';
import { getSolver } from '../src/solvers/index.js';
import { sample, stepsForNfe } from '../src/sample.js';
import { timedDenoiser } from './timed.js';
import { normalBatch } from '../src/core/rng.js';
import { linCombChecked } from '../src/core/batch.js';
import { compareFusedUpdate } from './fused.js';
import { median } from '../src/eval/metrics.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

export interface SpeedConfig { n: number; steps: number; batch: number; repeats: number }

function timeProcess(cmd: string, args: string[], env?: NodeJS.ProcessEnv): { seconds: number; stdout: string } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: root, env: env ?? process.env, encoding: 'utf8', maxBuffer: 1 << 26 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { seconds, stdout: r.stdout };
}

function havePython(): boolean {
  const r = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  return r.status === 0;
}

async function matmulPeak(dim: number, count: number, batch: number, repeats: number): Promise<number> {
  const session = await ort.InferenceSession.create(buildMatMulGraph(dim, count), { interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const a = new ort.Tensor('float32', new Float32Array(batch * dim).fill(0.01), [batch, dim]);
  await session.run({ a });
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await session.run({ a });
    times.push((performance.now() - t0) / 1000);
  }
  await session.release();
  return (2 * batch * dim * count) / median(times) / 1e9;
}

/** Sums a buffer twice the size of a typical L3 (64 MiB), one value per cache line: what was cached before is evicted. */
function evictCaches(buf: Float64Array): number {
  let s = 0;
  for (let i = 0; i < buf.length; i += 8) s += buf[i];
  return s;
}

/**
 * The memory floor of one unfused solver update of n floats, with caches cold: y <- a y + b D in place reads two
 * arrays and writes one, 3 * 4n bytes. The floor is that traffic at the native copy bandwidth (TypedArray.set, one
 * array read and one written, timed the same way); `kernelSeconds` is the library's own in-place update
 * (linCombChecked with out = y, what Euler does per step under sample()). Medians of `repeats`.
 */
function updateFloor(n: number, repeats: number): { bandwidthGBps: number; floorSeconds: number; kernelSeconds: number } {
  const y = normalBatch(1, 0, 1, n, 1), d = normalBatch(2, 0, 1, n, 1);
  const dst = new Float32Array(n).fill(0); // touched now: no page faults in the timed copies
  const flush = new Float64Array(8 << 20).fill(1);
  const copy: number[] = [], kernel: number[] = [];
  let sink = 0;
  for (let r = 0; r < repeats; r++) {
    sink += evictCaches(flush);
    let t0 = performance.now();
    dst.set(d);
    copy.push((performance.now() - t0) / 1000);
    sink += evictCaches(flush);
    t0 = performance.now();
    sink += linCombChecked([0.9, 0.1], [y, d], y).firstNonFinite;
    kernel.push((performance.now() - t0) / 1000);
  }
  if (!Number.isFinite(sink)) throw new Error('updateFloor: non-finite checksum');
  const bandwidth = (2 * 4 * n) / median(copy);
  return { bandwidthGBps: bandwidth / 1e9, floorSeconds: (3 * 4 * n) / bandwidth, kernelSeconds: median(kernel) };
}

/** Solvers compared at one NFE budget: each runs its largest step count within it (heun: 2N - 1). */
export const SPEED_SOLVERS = ['euler', 'ddim', 'heun', 'dpm-solver++2m', 'dpm-solver++3m', 'unipc', 'deis', 'pndm', 'spndm', 'ipndm', 'f-ddim', 'sa-solver'];

/**
 * Every solver of SPEED_SOLVERS on the same model, samples and NFE budget (cfg.steps), in-process: run time, time
 * inside the denoiser and the share outside it (the solver's vector work, the driver, the initial noise). Medians of
 * cfg.repeats runs, the solvers interleaved.
 */
async function solverShares(timer: ReturnType<typeof timedDenoiser>, schedule: ReturnType<typeof makeSchedule>, cfg: SpeedConfig) {
  const rows = SPEED_SOLVERS.map((name) => {
    const solver = getSolver(name);
    const steps = stepsForNfe(solver, cfg.steps);
    return { name, solver, steps, nfe: solver.nfe(steps), grid: makeGrid(schedule, { kind: 'karras', steps }), runs: [] as number[], model: [] as number[] };
  });
  for (const r of rows) await sample({ model: timer.model, solver: r.solver, grid: r.grid, schedule, n: Math.min(cfg.batch, cfg.n), batch: cfg.batch }); // warm-up
  for (let k = 0; k < cfg.repeats; k++) {
    for (const r of rows) {
      timer.reset();
      r.runs.push((await sample({ model: timer.model, solver: r.solver, grid: r.grid, schedule, n: cfg.n, batch: cfg.batch, seed: 0 })).seconds);
      r.model.push(timer.seconds());
    }
  }
  return rows.map((r) => ({
    solver: r.name,
    steps: r.steps,
    nfe: r.nfe,
    seconds: median(r.runs),
    denoiserSeconds: median(r.model),
    outsideFraction: median(r.runs.map((s, k) => 1 - r.model[k] / s)),
  }));
}

export async function runSpeed(cfg: SpeedConfig) {
  const cli = path.join(root, 'dist', 'cli', 'main.js');
  if (!fs.existsSync(cli)) throw new Error('dist/cli/main.js is missing: run `npm run build` first');
  const out = path.join(os.tmpdir(), `iia-bench-${process.pid}.npy`);
  const cliArgs = [cli, 'sample', '--model', 'data:emoji', '--solver', 'euler', '--steps', String(cfg.steps), '--n', String(cfg.n),
    '--batch', String(cfg.batch), '--seed', '0', '--out', out, '--json'];
  const pyArgs = [path.join(root, 'bench', 'numpy_emoji.py'), String(cfg.n), String(cfg.steps), String(cfg.batch)];
  const python = havePython();
  const oursWhole: number[] = [];
  const npDefault: number[] = [];
  const npTuned: number[] = [];
  let npInfo: Record<string, unknown> = {};
  const tunedEnv = { ...process.env };
  delete tunedEnv.OPENBLAS_CORETYPE;
  delete tunedEnv.OPENBLAS_L2_SIZE;
  // Interleaved runs, so both see the same load on a shared machine; the ratio of medians is the headline.
  for (let r = 0; r < cfg.repeats; r++) {
    oursWhole.push(timeProcess(process.execPath, cliArgs).seconds);
    if (python) {
      const d = timeProcess('python3', pyArgs);
      npDefault.push(d.seconds);
      npInfo = JSON.parse(d.stdout.trim().split('\n').pop()!);
      if (process.env.OPENBLAS_CORETYPE || process.env.OPENBLAS_L2_SIZE) npTuned.push(timeProcess('python3', pyArgs, tunedEnv).seconds);
    }
  }
  fs.rmSync(out, { force: true });

  // In-process (medians of `repeats` runs): the denoiser's share of the run and its GFLOP/s.
  const { denoiser, info } = await loadModel('data:emoji');
  const timer = timedDenoiser(denoiser);
  const timed = timer.model;

  const schedule = makeSchedule('edm');
  const grid = makeGrid(schedule, { kind: 'karras', steps: cfg.steps });
  const count = info.count ?? 0;
  const dim = info.shape.reduce((a, b) => a * b, 1);
  await sample({ model: timed, solver: getSolver('euler'), grid, schedule, n: Math.min(cfg.batch, cfg.n), batch: cfg.batch }); // warm-up
  const runs: number[] = [], denoise: number[] = [], noise: number[] = [];
  for (let r = 0; r < cfg.repeats; r++) {
    timer.reset();
    runs.push((await sample({ model: timed, solver: getSolver('euler'), grid, schedule, n: cfg.n, batch: cfg.batch, seed: 0 })).seconds);
    denoise.push(timer.seconds());
    // The initial noise (drawn once per run inside sample()), timed on its own.
    const tn = performance.now();
    normalBatch(0, 0, cfg.n, dim, 80);
    noise.push((performance.now() - tn) / 1000);
  }
  const perSolver = await solverShares(timer, schedule, cfg);
  await denoiser.dispose?.();
  const runSeconds = median(runs), denoiseSeconds = median(denoise), noiseSeconds = median(noise);
  const batch = Math.min(cfg.batch, cfg.n);
  const floor = updateFloor(batch * dim, 15);
  const updates = Math.ceil(cfg.n / batch) * cfg.steps;
  // Denoiser evaluations with sigma > 0 do two matmuls of [B, D] x [D, N]: 4 B D N flops each.
  const evals = grid.slice(0, -1).filter((p) => p.sigma > 0).length;
  const flops = 4 * cfg.n * dim * count * evals;
  const peak = await matmulPeak(dim, count, cfg.batch, Math.max(5, cfg.repeats * 2));
  // The update fused into the denoiser's graph instead (one batch of the run's size).
  const fused = await compareFusedUpdate(grid, batch, Math.max(3, cfg.repeats));
  return {
    config: cfg,
    wholeProcess: {
      iiaSeconds: median(oursWhole),
      numpySeconds: python ? median(npDefault) : null,
      numpyTunedSeconds: npTuned.length ? median(npTuned) : null,
      speedupVsNumpy: python ? median(npDefault) / median(oursWhole) : null,
      speedupVsNumpyTuned: npTuned.length ? median(npTuned) / median(oursWhole) : null,
      runs: { iia: oursWhole, numpy: npDefault, numpyTuned: npTuned },
      numpy: npInfo,
    },
    inProcess: {
      seconds: runSeconds,
      denoiserSeconds: denoiseSeconds,
      overheadFraction: 1 - denoiseSeconds / runSeconds,
      noiseFraction: noiseSeconds / runSeconds,
      solverFraction: 1 - denoiseSeconds / runSeconds - noiseSeconds / runSeconds,
      // One update of the whole batch per step: its memory floor and the library's in-place update, as shares of the run.
      updateFloor: {
        floatsPerUpdate: batch * dim,
        updates,
        bandwidthGBps: floor.bandwidthGBps,
        floorSecondsPerUpdate: floor.floorSeconds,
        floorFraction: (updates * floor.floorSeconds) / runSeconds,
        kernelSecondsPerUpdate: floor.kernelSeconds,
        kernelFraction: (updates * floor.kernelSeconds) / runSeconds,
      },
      samplesPerSecond: cfg.n / runSeconds,
      denoiserGflops: flops / denoiseSeconds / 1e9,
      ortMatmulPeakGflops: peak,
      fractionOfPeak: flops / denoiseSeconds / 1e9 / peak,
      fusedUpdate: fused,
      perSolver,
    },
  };
}
