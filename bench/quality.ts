// Quality benchmark (issue 3): error against NFE for every deterministic solver on the exact models, each endpoint
// against a high-accuracy reference solution of the same ODE from the same noise (src/eval). Writes the records and
// one log-log figure per model (docs/figures/). Measures; never asserts.
import fs from 'node:fs';
import path from 'node:path';
import { evaluate, type EvalRecord } from '../src/eval/index.js';
import { evalImagesFor } from '../src/eval/node-data.js';
import { loadModel } from '../src/models/registry.js';
import { errorChartSvg } from '../src/plot/charts.js';
import { svgToPng } from '../src/plot/render.js';
import { makeSchedule } from '../src/schedules/index.js';
import { listSolvers } from '../src/solvers/index.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const figures = path.join(root, 'docs', 'figures');

export interface QualityConfig { models: { spec: string; n: number }[]; nfe: number[]; solvers?: string[] }

export const DEFAULT_QUALITY: QualityConfig = {
  models: [
    { spec: 'gmm:gmm-64d', n: 256 },
    { spec: 'data:digits', n: 256 },
    { spec: 'data:fashion', n: 128 },
    { spec: 'data:emoji', n: 64 },
  ],
  nfe: [5, 10, 15, 20, 30],
};

/**
 * The headline metric per model: the median per-sample error for the GMM; the RMS error for the exact image models,
 * whose solvers land exactly on training images (a median of 0 whenever most samples find the reference's image).
 */
function metricFor(spec: string): 'rmse' | 'median_error' {
  return spec.startsWith('data:') ? 'rmse' : 'median_error';
}

export async function runQuality(cfg: QualityConfig) {
  fs.mkdirSync(figures, { recursive: true });
  const solvers = cfg.solvers ?? listSolvers().filter((s) => !s.stochastic).map((s) => s.name);
  const out: { model: string; n: number; metric: 'rmse' | 'median_error'; reference: unknown; records: EvalRecord[]; figure: string }[] = [];
  for (const { spec, n } of cfg.models) {
    process.stderr.write(`bench quality: ${spec} (n = ${n})\n`);
    const { denoiser, info } = await loadModel(spec);
    const records: EvalRecord[] = [];
    let reference: unknown;
    try {
      // One evaluate() for all solvers: one reference solution shared by every run.
      const r = await evaluate({
        model: denoiser,
        info: { name: info.name, kind: info.kind, defaultSchedule: info.defaultSchedule },
        solvers,
        nfe: cfg.nfe,
        n,
        seed: 0,
        schedule: makeSchedule(info.defaultSchedule),
        images: evalImagesFor(info.name),
      });
      reference = r.reference;
      records.push(...r.records);
    } finally {
      await denoiser.dispose?.();
    }
    const base = `quality-${spec.replace(/[:/]/g, '-')}`;
    const metric = metricFor(spec);
    const { svg } = await errorChartSvg(records, { metric, title: `${metric} vs NFE — ${spec} (n = ${n})` });
    fs.writeFileSync(path.join(figures, `${base}.svg`), svg);
    fs.writeFileSync(path.join(figures, `${base}.png`), svgToPng(svg).png);
    out.push({ model: spec, n, metric, reference, records, figure: `figures/${base}.png` });
  }
  return { nfe: cfg.nfe, models: out };
}

const f = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v < 1e-3 ? v.toExponential(1) : v.toPrecision(2));

export function qualityMarkdown(d: Awaited<ReturnType<typeof runQuality>>): string {
  const lines = [
    '## Quality: error against NFE on the exact models',
    '',
    'Each solver runs from the same initial noises (seed 0) on the Karras grid of its model\'s schedule; each endpoint is',
    'compared with the reference solution of the same probability-flow ODE from the same noise (DOP853 with its',
    'tolerance-halving check; `src/eval/reference.ts`). Entries: for the GMM the median over samples of the per-sample',
    'RMS error (`median_error`); for the image models the RMS error over all samples and pixels (`rmse`: their',
    'solvers often land exactly on the reference\'s training image, so a median is 0). A budget is an NFE ceiling, each',
    'solver taking its largest step count within it (heun: 2N - 1).',
    'Command: `npm run bench -- quality`.',
    '',
  ];
  for (const m of d.models) {
    const ref = m.reference as { method: string; precision: string; convergence: { maxRelDiff: number; ok: boolean } };
    lines.push(`### ${m.model} (n = ${m.n}; ${m.metric})`, '');
    lines.push(`Reference: ${ref.method}, ${ref.precision}; tolerance halved changes it by ${ref.convergence.maxRelDiff.toExponential(1)} (${ref.convergence.ok ? 'converged' : 'not converged'} to 1e-6).`, '');
    lines.push(`| solver | ${d.nfe.map((b) => `NFE <= ${b}`).join(' | ')} |`, `| --- | ${d.nfe.map(() => '---').join(' | ')} |`);
    const solvers = [...new Set(m.records.map((r) => r.solver))];
    for (const s of solvers) {
      const cells = d.nfe.map((b) => {
        const r = m.records.find((x) => x.solver === s && x.nfe_budget === b);
        return r ? f(r[m.metric]) : '–';
      });
      lines.push(`| ${s} | ${cells.join(' | ')} |`);
    }
    lines.push('', `![median error vs NFE, ${m.model}](${m.figure})`, '');
  }
  return lines.join('\n');
}
