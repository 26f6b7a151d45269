// Speed benchmark (issue 2): the exact emoji denoiser with Euler, 20 steps, 1024 samples — as a whole `iia sample`
// process against the same computation in numpy/OpenBLAS, ONNX Runtime's plain matmul peak in the same run, and the
// share of a run spent outside the denoiser (the solver's own vector work). Never asserts on time: it reports.
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
import { sample } from '../src/sample.js';
import { timedDenoiser } from './timed.js';
import { normalBatch } from '../src/core/rng.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

export interface SpeedConfig { n: number; steps: number; batch: number; repeats: number }

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

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

  // In-process: the denoiser's share of the run and its GFLOP/s.
  const { denoiser, info } = await loadModel('data:emoji');
  const timer = timedDenoiser(denoiser);
  const timed = timer.model;

  const schedule = makeSchedule('edm');
  const grid = makeGrid(schedule, { kind: 'karras', steps: cfg.steps });
  await sample({ model: timed, solver: getSolver('euler'), grid, schedule, n: Math.min(cfg.batch, cfg.n), batch: cfg.batch }); // warm-up
  timer.reset();
  const run = await sample({ model: timed, solver: getSolver('euler'), grid, schedule, n: cfg.n, batch: cfg.batch, seed: 0 });
  const denoiseSeconds = timer.seconds();
  await denoiser.dispose?.();
  // The initial noise (drawn once per run inside sample()), timed on its own.
  const tn = performance.now();
  normalBatch(0, 0, cfg.n, info.shape.reduce((a, b) => a * b, 1), 80);
  const noiseSeconds = (performance.now() - tn) / 1000;
  const count = info.count ?? 0;
  const dim = info.shape.reduce((a, b) => a * b, 1);
  // Denoiser evaluations with sigma > 0 do two matmuls of [B, D] x [D, N]: 4 B D N flops each.
  const evals = grid.slice(0, -1).filter((p) => p.sigma > 0).length;
  const flops = 4 * cfg.n * dim * count * evals;
  const peak = await matmulPeak(dim, count, cfg.batch, Math.max(5, cfg.repeats * 2));
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
      seconds: run.seconds,
      denoiserSeconds: denoiseSeconds,
      overheadFraction: 1 - denoiseSeconds / run.seconds,
      noiseFraction: noiseSeconds / run.seconds,
      solverFraction: 1 - denoiseSeconds / run.seconds - noiseSeconds / run.seconds,
      samplesPerSecond: cfg.n / run.seconds,
      denoiserGflops: flops / denoiseSeconds / 1e9,
      ortMatmulPeakGflops: peak,
      fractionOfPeak: flops / denoiseSeconds / 1e9 / peak,
    },
  };
}
