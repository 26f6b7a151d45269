// `npm run bench`: runs the benchmark sections, writes each one's JSON to bench/results/, and regenerates
// docs/RESULTS.md from every JSON file there (so one section can be rerun alone: `npm run bench -- speed`).
// Never asserts on time; it measures and reports, with the machine described.
import fs from 'node:fs';
import path from 'node:path';
import { describeMachine, machineMarkdown, type MachineInfo } from './machine.js';
import { qualityMarkdown, runQuality, DEFAULT_QUALITY } from './quality.js';
import { runSpeed } from './speed.js';
import { editMarkdown, runEditBench } from './edit.js';
import { iiaMarkdown, runIia } from './iia.js';
import { claimsMarkdown, readResults } from './claims.js';
import { defaultMlemConfig, mlemMarkdown, runMlem } from './mlem.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const resultsDir = path.join(root, 'bench', 'results');

type Section = { name: string; run: () => Promise<unknown>; markdown: (data: any, machine: MachineInfo) => string };

const fmt = (x: number | null | undefined, d = 2) => (x === null || x === undefined ? 'n/a' : x.toFixed(d));

const SECTIONS: Section[] = [
  {
    name: 'speed',
    run: () => runSpeed({
      n: Number(process.env.BENCH_N ?? 1024),
      steps: Number(process.env.BENCH_STEPS ?? 20),
      batch: Number(process.env.BENCH_BATCH ?? 1024),
      repeats: Number(process.env.BENCH_REPEATS ?? 3),
    }),
    markdown: (d, m) => {
      const w = d.wholeProcess, p = d.inProcess, c = d.config, f = p.updateFloor;
      return [
        '## Speed: the exact emoji model, Euler, whole process',
        '',
        `\`iia sample --model data:emoji --solver euler --steps ${c.steps} --n ${c.n} --batch ${c.batch} --out x.npy\` as a whole`,
        `process against the same computation in numpy (\`bench/numpy_emoji.py\`: load the data, the same Karras grid, the`,
        `exact empirical denoiser, Euler, float32), interleaved runs, median of ${c.repeats}. The denoiser is two`,
        `[${c.batch} x 3072] x [3072 x 1897] matrix products around a softmax per step.`,
        '',
        '| measure | value |',
        '| --- | --- |',
        `| iia, whole process | ${fmt(w.iiaSeconds)} s |`,
        `| numpy, whole process (this machine's environment: ${m.openblasEnv}) | ${fmt(w.numpySeconds)} s |`,
        `| **iia speed-up over numpy** | **${fmt(w.speedupVsNumpy)}x** |`,
        `| numpy with OPENBLAS_CORETYPE/L2_SIZE unset (OpenBLAS picks its own kernel) | ${fmt(w.numpyTunedSeconds)} s |`,
        `| iia speed-up over that numpy | ${fmt(w.speedupVsNumpyTuned)}x |`,
        `| samples per second (in-process) | ${fmt(p.samplesPerSecond, 0)} |`,
        `| denoiser GFLOP/s (in-process) | ${fmt(p.denoiserGflops, 0)} |`,
        `| ONNX Runtime plain MatMul peak, same shapes, same run | ${fmt(p.ortMatmulPeakGflops, 0)} GFLOP/s |`,
        `| denoiser / matmul peak | ${fmt(p.fractionOfPeak * 100, 0)} % |`,
        `| time outside the denoiser, all of it | ${fmt(p.overheadFraction * 100, 2)} % of the run (target: under 2 %) |`,
        `| of which the initial noise (Philox + Box-Muller, once per run) | ${fmt(p.noiseFraction * 100, 2)} % |`,
        `| of which the solver's vector work and the driver | ${fmt(p.solverFraction * 100, 2)} % |`,
        `| one Euler update in place (y <- r y + (1 - r) D, caches cold), the library's kernel | ${fmt(f.kernelSecondsPerUpdate * 1000)} ms; x ${f.updates} = ${fmt(f.kernelFraction * 100, 2)} % of the run |`,
        `| its memory floor: 3 x ${fmt((4 * f.floatsPerUpdate) / 1e6, 1)} MB at the native copy bandwidth (${fmt(f.bandwidthGBps, 0)} GB/s, caches cold) | ${fmt(f.floorSecondsPerUpdate * 1000)} ms; x ${f.updates} = ${fmt(f.floorFraction * 100, 2)} % of the run |`,
        ...(p.fusedUpdate
          ? [`| the same update fused into the denoiser's ONNX graph instead (ONNX Runtime forms a y + b D; \`bench/fused.ts\`): a whole run, fused vs unfused | ${fmt(p.fusedUpdate.fusedSeconds, 3)} s vs ${fmt(p.fusedUpdate.unfusedSeconds, 3)} s (${fmt(p.fusedUpdate.speedup, 3)}x; states differ by at most ${p.fusedUpdate.maxAbsDifference.toExponential(1)}) |`]
          : []),
        '',
        `In-process figures are medians of ${c.repeats} runs. The driver lets the solver write each new state over the old`,
        'one (StepContext.mayOverwriteState), so an Euler update allocates nothing; what stays outside the denoiser is the',
        'initial noise and one pass over the state per step, which no update outside the denoiser graph can make cheaper',
        'than the memory floor above.',
        ...(p.fusedUpdate
          ? [
            `Fused into the graph, a run is ${fmt(p.fusedUpdate.speedup, 3)}x as fast (whole runs move by 1-2 % between repeats here): ONNX`,
            'Runtime runs the epilogue as element-wise passes of its own (the weights scaled by b, the state by a, then copied',
            'into the Gemm output), which cost what the unfused update costs, and',
            `onnxruntime-node ${p.fusedUpdate.preallocatedOutputUsed ? 'writes into pre-allocated outputs' : 'hands back a fresh copy of every output even when the caller pre-allocates one (checked in the same run)'}.`,
          ]
          : []),
        '',
        ...(p.perSolver
          ? [
            '',
            `Every solver on the same run (in-process, ${c.n} samples in batches of ${c.batch}, NFE <= ${c.steps}, medians of ${c.repeats}, solvers interleaved): the share of its run spent outside the denoiser (its vector work, the driver and the initial noise; sa-solver, stochastic by default, also draws noise at every step).`,
            '',
            '| solver | steps | NFE | run s | denoiser s | outside the denoiser |',
            '| --- | --- | --- | --- | --- | --- |',
            ...p.perSolver.map((r: { solver: string; steps: number; nfe: number; seconds: number; denoiserSeconds: number; outsideFraction: number }) =>
              `| ${r.solver} | ${r.steps} | ${r.nfe} | ${fmt(r.seconds, 3)} | ${fmt(r.denoiserSeconds, 3)} | ${fmt(r.outsideFraction * 100, 2)} % |`),
          ]
          : []),
        '',
        'Command: `npm run bench -- speed` (environment: BENCH_N, BENCH_STEPS, BENCH_BATCH, BENCH_REPEATS).',
        '',
      ].join('\n');
    },
  },
  {
    name: 'quality',
    run: () => runQuality(DEFAULT_QUALITY),
    markdown: (d) => qualityMarkdown(d),
  },
  { name: 'iia', run: () => runIia(), markdown: (d, m) => iiaMarkdown(d, m) },
  { name: 'claims', run: async () => ({}), markdown: () => claimsMarkdown(readResults()) },
  { name: 'edit', run: () => runEditBench(), markdown: (d, m) => editMarkdown(d, m) },
  { name: 'mlem', run: () => runMlem(defaultMlemConfig('digits')), markdown: (d) => `${mlemMarkdown(d)}\nCommand: \`npm run bench -- mlem\`; the models were trained by \`npx tsx scripts/train-mlp.ts\` (see models/*.json).\n` },
];

async function main(): Promise<void> {
  // `npm run bench -- --render`: only rewrite docs/RESULTS.md from the JSON already in bench/results/.
  const render = process.argv.includes('--render');
  const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = only.filter((n) => !SECTIONS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown section(s) ${unknown.join(', ')}; expected ${SECTIONS.map((s) => s.name).join(', ')}`);
  fs.mkdirSync(resultsDir, { recursive: true });
  const machine = describeMachine();
  for (const s of SECTIONS) {
    if (render || (only.length && !only.includes(s.name))) continue;
    process.stderr.write(`bench: ${s.name} ...\n`);
    const data = await s.run();
    fs.writeFileSync(path.join(resultsDir, `${s.name}.json`), JSON.stringify({ machine, data }, null, 2) + '\n');
  }
  const parts = [
    '# Results',
    '',
    'Generated by `npm run bench` (bench/run.ts) from the JSON in bench/results/; do not edit by hand. Each section',
    'names the command that made it and the machine it ran on. Headline figures are ratios measured in one run.',
    '',
  ];
  for (const s of SECTIONS) {
    const file = path.join(resultsDir, `${s.name}.json`);
    if (!fs.existsSync(file)) continue;
    const { machine: m, data } = JSON.parse(fs.readFileSync(file, 'utf8'));
    parts.push(s.markdown(data, m), `Machine: ${machineMarkdown(m)}.`, '');
  }
  fs.writeFileSync(path.join(root, 'docs', 'RESULTS.md'), parts.join('\n'));
  process.stderr.write('bench: wrote docs/RESULTS.md\n');
}

main().catch((e) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
