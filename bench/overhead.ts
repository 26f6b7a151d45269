// Overhead benchmark: how much of an emoji Euler run (20 steps, n = 1024) is spent outside the denoiser, with the
// WebAssembly SIMD kernels of src/core/kernels.ts and with the plain JavaScript paths, in one process (interleaved
// runs, medians), plus micro-benchmarks of the vector work behind it: linComb, firstNonFinite, the initial noise and
// the first touch of a fresh output array (what a solver that cannot write its state in place pays per step). Never
// asserts on time.
//   npx tsx bench/overhead.ts [--repeats R] [--batches 1024,256] [--json]
// runOverhead() is exported for bench/run.ts.
import { pathToFileURL } from 'node:url';
import { firstNonFinite, linComb } from '../src/core/batch.js';
import { setWasmKernels, wasmKernelsActive } from '../src/core/kernels.js';
import { normalBatch } from '../src/core/rng.js';
import { median } from '../src/eval/metrics.js';
import { makeGrid } from '../src/grids/index.js';
import { timedDenoiser } from './timed.js';
import { loadModel } from '../src/models/registry.js';
import { sample } from '../src/sample.js';
import { makeSchedule } from '../src/schedules/index.js';
import { getSolver } from '../src/solvers/index.js';

export interface OverheadConfig { n: number; steps: number; batches: number[]; repeats: number }

type Mode = 'js' | 'wasm';
const MODES: Mode[] = ['js', 'wasm'];

/** Best time of `reps` calls of f, in ms (the minimum is the least disturbed by other work on the machine). */
function best(f: () => void, reps: number): number {
  let t = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    f();
    t = Math.min(t, performance.now() - t0);
  }
  return t;
}

function filled(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin(i * 0.37 + seed);
  return a;
}

function micro(mode: 'js' | 'wasm') {
  setWasmKernels(mode === 'wasm');
  const out: Record<string, number> = {};
  for (const n of [393216, 3145728]) {
    const vs = [filled(n, 1), filled(n, 2), filled(n, 3)];
    const dst = new Float32Array(n);
    for (const k of [2, 3]) {
      const c = [0.9, 0.1, -0.05].slice(0, k), v = vs.slice(0, k);
      out[`linComb k=${k} n=${n} (ns/element)`] = (best(() => linComb(c, v, dst), 15) * 1e6) / n;
    }
    out[`firstNonFinite n=${n} (ns/element)`] = (best(() => firstNonFinite(vs[0]), 15) * 1e6) / n;
  }
  out['normalBatch 1024 x 3072 (ms)'] = best(() => normalBatch(0, 0, 1024, 3072, 80), 3);
  setWasmKernels(true);
  return out;
}

/**
 * What writing 3145728 floats into a fresh array costs over writing them into a reused one (ms, median of 20; the
 * last two arrays kept alive as a solver loop does): page faults and zeroing, what linComb without `out` pays.
 */
function freshArray(): number {
  const n = 3145728;
  const reused = new Float32Array(n);
  const keep: Float32Array[] = [];
  const fresh: number[] = [], again: number[] = [];
  for (let r = 0; r < 20; r++) {
    let t0 = performance.now();
    const a = new Float32Array(n);
    a.fill(r);
    fresh.push(performance.now() - t0);
    keep.push(a);
    if (keep.length > 2) keep.shift();
    t0 = performance.now();
    reused.fill(r);
    again.push(performance.now() - t0);
  }
  return median(fresh) - median(again);
}

export async function runOverhead(cfg: OverheadConfig) {
  // The micro-benchmarks first, on a fresh heap.
  const microJs = micro('js'), microWasm = micro('wasm'), freshMs = freshArray();
  const { denoiser } = await loadModel('data:emoji');
  const timer = timedDenoiser(denoiser);
  const timed = timer.model;

  const schedule = makeSchedule('edm');
  const grid = makeGrid(schedule, { kind: 'karras', steps: cfg.steps });
  const runs: Array<{ batch: number; mode: Mode; totalMs: number[]; denoiserMs: number[] }> = [];
  for (const batch of cfg.batches) {
    const rows = new Map<Mode, { totalMs: number[]; denoiserMs: number[] }>();
    for (const mode of MODES) {
      setWasmKernels(mode !== 'js');
      await sample({ model: timed, solver: getSolver('euler'), grid, schedule, n: batch, batch }); // warm-up (JIT, wasm tier-up, ORT)
      rows.set(mode, { totalMs: [], denoiserMs: [] });
    }
    // Interleaved, so both modes see the same load on a shared machine.
    for (let r = 0; r < cfg.repeats; r++) {
      for (const mode of MODES) {
        setWasmKernels(mode !== 'js');
        timer.reset();
        const t0 = performance.now();
        await sample({ model: timed, solver: getSolver('euler'), grid, schedule, n: cfg.n, batch, seed: r });
        const row = rows.get(mode)!;
        row.totalMs.push(performance.now() - t0);
        row.denoiserMs.push(timer.seconds() * 1000);
      }
    }
    for (const mode of MODES) runs.push({ batch, mode, ...rows.get(mode)! });
  }
  setWasmKernels(true);
  await denoiser.dispose?.();
  const summary = runs.map((r) => {
    // Per repeat: overhead = whole run - denoiser; the median of the shares.
    const shares = r.totalMs.map((t, i) => 1 - r.denoiserMs[i] / t);
    return {
      batch: r.batch,
      kernels: r.mode,
      totalMs: median(r.totalMs),
      denoiserMs: median(r.denoiserMs),
      overheadMs: median(r.totalMs.map((t, i) => t - r.denoiserMs[i])),
      overheadShare: median(shares),
    };
  });
  return {
    config: cfg,
    wasmAvailable: wasmKernelsActive(),
    runs: summary,
    micro: { js: microJs, wasm: microWasm },
    freshOutputArrayMs: freshMs,
  };
}

function markdown(d: Awaited<ReturnType<typeof runOverhead>>): string {
  const lines = [
    `## Overhead outside the denoiser: emoji, Euler, ${d.config.steps} steps, n = ${d.config.n}, median of ${d.config.repeats}`,
    '',
    '| batch | kernels | whole run | denoiser | outside the denoiser | share |',
    '| --- | --- | --- | --- | --- | --- |',
    ...d.runs.map((r) =>
      `| ${r.batch} | ${r.kernels} | ${r.totalMs.toFixed(0)} ms | ${r.denoiserMs.toFixed(0)} ms | ${r.overheadMs.toFixed(1)} ms | ${(100 * r.overheadShare).toFixed(2)} % |`),
    '',
    '| micro-benchmark | js | wasm |',
    '| --- | --- | --- |',
    ...Object.keys(d.micro.js).map((k) => `| ${k} | ${d.micro.js[k].toFixed(3)} | ${d.micro.wasm[k].toFixed(3)} |`),
    '',
    `Writing 3145728 floats into a fresh array instead of a reused one costs ${d.freshOutputArrayMs.toFixed(2)} ms more (page faults): what linComb without \`out\` pays per call at batch 1024.`,
    '',
  ];
  return lines.join('\n');
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const cfg: OverheadConfig = {
    n: Number(arg('--n') ?? 1024),
    steps: Number(arg('--steps') ?? 20),
    batches: (arg('--batches') ?? '1024,256').split(',').map(Number),
    repeats: Number(arg('--repeats') ?? 3),
  };
  runOverhead(cfg).then(
    (d) => process.stdout.write(process.argv.includes('--json') ? JSON.stringify(d, null, 2) + '\n' : markdown(d)),
    (e) => {
      process.stderr.write(`overhead: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exit(1);
    },
  );
}
