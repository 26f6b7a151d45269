// The claims of the seed papers (issue 3), each stated as PASS or FAIL with its numbers, from the benchmark results
// in bench/results/*.json: the IIA section (IIA-EDM, BIIA-EDM, IIA-DDIM, IIA-DPM-Solver++, IIA-SPNDM/IPNDM, guided
// IIA-DDIM, F-DDIM), the quality section (F-DDIM when it runs it), and the ML-EM benchmark (bench/mlem.ts ->
// bench/results/mlem.json). A result that is absent is "not measured yet". Reads; never runs anything.
import fs from 'node:fs';
import path from 'node:path';
import { fmtErr, metricFor, recordAt, type IiaData, type IiaModelResult } from './iia.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** bench/results/<name>.json by name, unwrapped to its data (run.ts writes {machine, data}; mlem.ts the bare result). */
export type Results = Record<string, unknown>;

export function readResults(dir = path.join(root, 'bench', 'results')): Results {
  const out: Results = {};
  if (!fs.existsSync(dir)) return out;
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    try {
      const j = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Record<string, unknown>;
      out[f.slice(0, -5)] = j && typeof j === 'object' && 'data' in j && 'machine' in j ? j.data : j;
    } catch {
      // A file being written by another run, or broken: treated as absent.
    }
  }
  return out;
}

type Verdict = 'PASS' | 'FAIL' | 'not measured yet';

interface Claim {
  paper: string;
  claim: string;
  verdict: Verdict;
  numbers: string;
}

const x2 = (v: number): string => (Number.isFinite(v) ? (v >= 1000 ? `${v.toExponential(1)}x` : `${v.toFixed(2)}x`) : v > 0 ? '∞' : 'n/a');
const gain = (base: number | null | undefined, iia: number | null | undefined): number =>
  base === null || base === undefined || iia === null || iia === undefined ? NaN : iia === 0 ? (base === 0 ? 1 : Infinity) : base / iia;
/** PASS only when the claim holds on everything measured; the numbers say where it holds. */
const verdictOf = (pass: number, total: number): Verdict => (total === 0 ? 'not measured yet' : pass === total ? 'PASS' : 'FAIL');

const IIA_PAPER = 'IIA (Zhang, Niwa, Kleijn)';

/** IIA-EDM < BIIA-EDM < EDM for every NFE below the largest, per model, in the model's headline metric. */
function edmOrder(iia: IiaData | undefined): Claim[] {
  const claim = 'IIA-EDM < BIIA-EDM < EDM (heun) in error at every NFE < 25';
  const vanish = 'the gain of IIA-EDM over EDM vanishes as NFE grows';
  if (!iia) return [{ paper: IIA_PAPER, claim, verdict: 'not measured yet', numbers: 'no bench/results/iia.json' }, { paper: IIA_PAPER, claim: vanish, verdict: 'not measured yet', numbers: '' }];
  const nfes = iia.config.edmNfe;
  const below = nfes.filter((b) => b < 25);
  let pass = 0, total = 0;
  const parts: string[] = [];
  const vparts: string[] = [];
  let vpass = 0, vtotal = 0;
  for (const m of iia.models) {
    const metric = m.metric;
    const cells: string[] = [];
    let ok = 0, n = 0;
    for (const b of below) {
      const h = recordAt(m.records, 'heun', b, 'edm')?.[metric], bi = recordAt(m.records, 'biia-edm', b, 'edm')?.[metric], s = recordAt(m.records, 'iia-edm', b, 'edm')?.[metric];
      if (h === undefined || bi === undefined || s === undefined || h === null || bi === null || s === null) continue;
      n++;
      const holds = s < bi && bi < h;
      if (holds) ok++;
      else cells.push(`NFE ${b}: ${fmtErr(s)} / ${fmtErr(bi)} / ${fmtErr(h)}`);
    }
    total++;
    if (n > 0 && ok === n) pass++;
    parts.push(`${m.model} (${metric}): holds at ${ok} of ${n} NFE${cells.length ? `; fails at ${cells.join(', ')} (iia / biia / edm)` : ''}`);
    // Gain EDM / IIA-EDM against NFE: vanishing = at the largest NFE it is back at most half-way from its peak to 1.
    const gains = nfes.map((b) => gain(recordAt(m.records, 'heun', b, 'edm')?.[metric], recordAt(m.records, 'iia-edm', b, 'edm')?.[metric]));
    const finite = gains.filter(Number.isFinite);
    if (finite.length >= 2) {
      vtotal++;
      const last = gains[gains.length - 1];
      const peak = Math.max(...gains.slice(0, -1).filter(Number.isFinite));
      const vanishes = last - 1 <= (peak - 1) / 2;
      if (vanishes && peak > 1) vpass++;
      const h0 = recordAt(m.records, 'heun', nfes[0], 'edm')?.[metric], s0 = recordAt(m.records, 'iia-edm', nfes[0], 'edm')?.[metric];
      const hN = recordAt(m.records, 'heun', nfes[nfes.length - 1], 'edm')?.[metric], sN = recordAt(m.records, 'iia-edm', nfes[nfes.length - 1], 'edm')?.[metric];
      const gap = (a: number | null | undefined, b: number | null | undefined) => (a === null || a === undefined || b === null || b === undefined ? 'n/a' : fmtErr(a - b));
      const note = peak <= 1 ? 'no gain to vanish' : !vanishes ? 'not vanishing' : last < 1 ? 'vanished: IIA-EDM worse there' : 'vanishing';
      vparts.push(`${m.model}: ${nfes.map((b, i) => `${b}: ${x2(gains[i])}`).join(', ')} (${note}; absolute gap EDM - IIA-EDM ${gap(h0, s0)} at NFE ${nfes[0]}, ${gap(hN, sN)} at NFE ${nfes[nfes.length - 1]})`);
    }
  }
  return [
    { paper: IIA_PAPER, claim, verdict: verdictOf(pass, total), numbers: `${pass} of ${total} models. ${parts.join('. ')}.` },
    {
      paper: IIA_PAPER,
      claim: `${vanish} (the paper measures FID; here: the gain EDM error / IIA-EDM error at the largest NFE is back at least half-way from its peak to 1)`,
      verdict: verdictOf(vpass, vtotal),
      numbers: `gain by NFE: ${vparts.join('; ')}.`,
    },
  ];
}

/** base vs IIA variant at every NFE of the other pairs, per model. */
function pairClaim(iia: IiaData | undefined, base: string, variant: string, label: string, paper = IIA_PAPER): Claim {
  const claim = `${label} has lower error than ${base} at the same NFE`;
  if (!iia) return { paper, claim, verdict: 'not measured yet', numbers: 'no bench/results/iia.json' };
  const nfes = iia.config.otherNfe;
  let pass = 0, total = 0;
  const parts: string[] = [];
  for (const m of iia.models) {
    if (!m.records.some((r) => r.solver === variant)) continue;
    total++;
    const g = nfes.map((b) => ({ b, g: gain(recordAt(m.records, base, b, 'other')?.[m.metric], recordAt(m.records, variant, b, 'other')?.[m.metric]) }));
    const better = g.filter((x) => x.g > 1).length;
    const equal = g.filter((x) => x.g === 1).length;
    if (better === g.length) pass++;
    parts.push(`${m.model} (${m.metric}): lower at ${better} of ${g.length} NFE${equal ? `, equal at ${equal}` : ''} (${base} / ${label}: ${g.map((x) => `${x.b}: ${x2(x.g)}`).join(', ')})`);
  }
  return { paper, claim: `${claim} (NFE ${nfes.join(', ')})`, verdict: verdictOf(pass, total), numbers: `${pass} of ${total} models at every NFE. ${parts.join('. ')}.` };
}

function guidedClaim(iia: IiaData | undefined): Claim {
  const claim = 'guided IIA-DDIM has lower error than guided DDIM (classifier-free guidance)';
  const g = iia?.guided;
  if (!g) return { paper: `${IIA_PAPER}, ICLR 2024`, claim, verdict: 'not measured yet', numbers: 'no guided results in bench/results/iia.json' };
  const nfes = iia!.config.guided!.nfe;
  const labels = [...new Set(g.records.map((r) => r.solver))].filter((s) => s !== 'ddim');
  let pass = 0;
  const parts = labels.map((s) => {
    const gs = nfes.map((b) => gain(recordAt(g.records, 'ddim', b)?.rmse, recordAt(g.records, s, b)?.rmse));
    const better = gs.filter((x) => x > 1).length;
    if (better === gs.length) pass++;
    return `${s}: lower at ${better} of ${gs.length} NFE (ddim / IIA rmse: ${nfes.map((b, i) => `${b}: ${x2(gs[i])}`).join(', ')})`;
  });
  return { paper: `${IIA_PAPER}, ICLR 2024`, claim: `${claim}, ${g.model}, w = ${g.w}, rmse`, verdict: verdictOf(pass, labels.length), numbers: `${parts.join('; ')}.` };
}

interface FddimPoint { source: string; model: string; nfe: number; ddim: number | null; fddim: number | null; metric: string }

function fddimClaim(iia: IiaData | undefined, quality: unknown): Claim {
  const paper = 'F-DDIM (Jiao, Li, Cai, Li 2025)';
  const claim = 'F-DDIM has lower error than DDIM at the same NFE';
  const pts: FddimPoint[] = [];
  const wanted = [5, 10, 20];
  for (const m of iia?.models ?? []) {
    if (!m.records.some((r) => r.solver === 'f-ddim')) continue;
    for (const b of wanted) {
      const f = recordAt(m.records, 'f-ddim', b, 'other'), d = recordAt(m.records, 'ddim', b, 'other');
      if (f && d) pts.push({ source: 'iia', model: m.model, nfe: b, ddim: d[m.metric], fddim: f[m.metric], metric: m.metric });
    }
  }
  const q = quality as { nfe?: number[]; models?: { model: string; metric: string; records: { solver: string; nfe_budget?: number; [k: string]: unknown }[] }[] } | undefined;
  let qualityNote = 'The quality section: not measured yet';
  if (q?.models?.some((m) => m.records.some((r) => r.solver === 'f-ddim'))) {
    qualityNote = 'The quality section\'s f-ddim records are included';
    for (const m of q.models) {
      for (const b of q.nfe ?? []) {
        const f = m.records.find((r) => r.solver === 'f-ddim' && r.nfe_budget === b), d = m.records.find((r) => r.solver === 'ddim' && r.nfe_budget === b);
        if (f && d) pts.push({ source: 'quality', model: m.model, nfe: b, ddim: d[m.metric] as number | null, fddim: f[m.metric] as number | null, metric: m.metric });
      }
    }
  } else if (q) qualityNote = 'The quality section does not run f-ddim yet';
  if (!pts.length) return { paper, claim, verdict: 'not measured yet', numbers: `no f-ddim records (${qualityNote})` };
  const better = pts.filter((p) => gain(p.ddim, p.fddim) > 1);
  const by = new Map<string, FddimPoint[]>();
  for (const p of pts) (by.get(`${p.source}: ${p.model} (${p.metric})`) ?? by.set(`${p.source}: ${p.model} (${p.metric})`, []).get(`${p.source}: ${p.model} (${p.metric})`)!).push(p);
  const parts = [...by].map(([k, ps]) => `${k}: ${ps.map((p) => `NFE ${p.nfe} ${fmtErr(p.fddim)} vs ${fmtErr(p.ddim)} (${x2(gain(p.ddim, p.fddim))})`).join(', ')}`);
  return {
    paper,
    claim: `${claim} (gmm-64d and digits at NFE 5, 10, 20)`,
    verdict: verdictOf(better.length, pts.length),
    numbers: `lower at ${better.length} of ${pts.length} points (f-ddim vs ddim, ddim / f-ddim). ${parts.join('; ')}. ${qualityNote}.`,
  };
}

/** Least-squares slope of y on x. */
function slope(x: number[], y: number[]): number {
  const n = x.length, mx = x.reduce((a, b) => a + b, 0) / n, my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
  }
  return sxy / sxx;
}

interface MlemRun { steps: number; fraction?: number; finestEquivalents: number; error: number }
interface MlemData {
  gamma?: { flops?: number; time?: number };
  variants?: { eta: number; kind: string; em: { level: string; points: MlemRun[] }[]; mlEm: { widths: number[]; runs: MlemRun[]; speedups: { metric: string; maxSpeedup: number | null }[] }[] }[];
}

function mlemClaims(mlem: unknown): Claim[] {
  const paper = 'ML-EM (multilevel Euler-Maruyama)';
  const claim = 'in the HTMC regime (level cost ~ error^-gamma, gamma > 2), ML-EM reaches error eps at cost ~ eps^-gamma against EM\'s eps^-(gamma+1): a shallower cost-vs-error slope, and a speed-up at equal error';
  const d = mlem as MlemData | undefined;
  if (!d || !d.variants?.length || !d.gamma) return [{ paper, claim, verdict: 'not measured yet', numbers: 'no bench/results/mlem.json (`npm run bench -- mlem`)' }];
  const gamma = d.gamma.flops ?? NaN;
  const out: Claim[] = [];
  for (const v of d.variants) {
    const em = v.em[v.em.length - 1]?.points ?? [];
    const h = v.mlEm[0];
    if (!em.length || !h) continue;
    // EM with the finest level over N; ML-EM: the Pareto front (cost, error) of all its runs (all N and budgets).
    const emSlope = -slope(em.map((p) => Math.log(p.error)), em.map((p) => Math.log(p.finestEquivalents)));
    const sorted = [...h.runs].sort((a, b) => a.finestEquivalents - b.finestEquivalents);
    const front: MlemRun[] = [];
    for (const r of sorted) if (!front.length || r.error < front[front.length - 1].error) front.push(r);
    const mlSlope = front.length >= 2 ? -slope(front.map((p) => Math.log(p.error)), front.map((p) => Math.log(p.finestEquivalents))) : NaN;
    const speed = h.speedups.find((s) => s.metric === 'error')?.maxSpeedup ?? null;
    const shallower = Number.isFinite(mlSlope) && mlSlope < emSlope;
    const faster = speed !== null && speed > 1;
    out.push({
      paper,
      claim: `${claim}; ${v.kind}, levels ${h.widths.join(', ')}`,
      verdict: shallower && faster ? 'PASS' : 'FAIL',
      numbers:
        `gamma (FLOPs, over the levels) ${gamma.toFixed(2)}${gamma > 2 ? ' (> 2: HTMC)' : ' (not > 2)'}; fitted cost ~ error^-s: EM-finest s = ${emSlope.toFixed(2)} ` +
        `(${em.length} N), ML-EM Pareto front s = ${Number.isFinite(mlSlope) ? mlSlope.toFixed(2) : 'n/a'} (${front.length} points); ` +
        `largest speed-up at equal error ${speed === null ? 'none (no EM-finest match)' : `${speed.toFixed(2)}x`}. The levels are small MLPs and the error is against EM-finest on the fine grid, so the slopes are local, not the asymptotic rates.`,
    });
  }
  return out.length ? out : [{ paper, claim, verdict: 'not measured yet', numbers: 'bench/results/mlem.json has no EM / ML-EM runs' }];
}

/** The claims table, from the results read by readResults(). */
export function claimsMarkdown(results: Results): string {
  const iia = results.iia as IiaData | undefined;
  const claims: Claim[] = [
    ...edmOrder(iia),
    pairClaim(iia, 'ddim', 'iia-ddim', 'IIA-DDIM'),
    pairClaim(iia, 'dpm-solver++2m', 'iia-dpm-solver++', 'IIA-DPM-Solver++', `${IIA_PAPER}, ICLR 2024`),
    pairClaim(iia, 'spndm', 'iia-spndm', 'IIA-SPNDM'),
    pairClaim(iia, 'ipndm', 'iia-ipndm', 'IIA-IPNDM'),
    guidedClaim(iia),
    fddimClaim(iia, results.quality),
    ...mlemClaims(results.mlem),
  ];
  const L = [
    '## Claims of the seed papers',
    '',
    'Each claim as its paper states it, checked on this project\'s measurements (generated from bench/results/*.json by',
    '`bench/claims.ts`; `npm run bench -- claims` rebuilds it without running anything). The papers measure FID on',
    'trained networks; here the measure is the endpoint error against a high-accuracy solution of the same ODE on the',
    'exact models (headline metric per model: median per-sample error for the GMM, rmse for the image models; see the',
    'IIA section). PASS: holds on every model and NFE measured; FAIL otherwise (the numbers say where it holds and where',
    'not); not measured yet: the results are absent.',
    '',
    '| paper | claim | result | numbers |',
    '| --- | --- | --- | --- |',
  ];
  for (const c of claims) L.push(`| ${c.paper} | ${c.claim.replace(/\|/g, '\\|')} | ${c.verdict === 'not measured yet' ? c.verdict : `**${c.verdict}**`} | ${c.numbers.replace(/\|/g, '\\|')} |`);
  L.push('');
  if (iia) {
    const rejected = iia.models.flatMap((m: IiaModelResult) => m.costs.filter((c) => c.globalCheck === false && metricFor(m.model) === 'rmse').map((c) => `${c.solver}@${c.nfe}`));
    if (rejected.length) {
      L.push(
        `On the image models ${rejected.length} of ${iia.models.filter((m) => metricFor(m.model) === 'rmse').flatMap((m) => m.costs).length} calibrations kept the base's coefficients because the`,
        'whole-run check rejected the fit on held-out noise; there the IIA sampler is its base exactly (a ratio of 1.00x,',
        'counted as not lower).',
        '',
      );
    }
  }
  return L.join('\n');
}
