// The IIA variants by the names users type: the papers' variants, and iia:<solver> for every solver in the library.
import { getSolver, solverRegistry } from '../solvers/index.js';
import type { CoefficientSet } from './coefficients.js';
import { makeIiaSolver, type StepCoefficientValues } from './solver.js';
import type { IiaVariant } from './variant.js';
import { biiaEdm } from './variants/biia-edm.js';
import { genericVariant } from './variants/generic.js';
import { guidedIiaDdim } from './variants/guided-iia-ddim.js';
import { iiaDdim } from './variants/iia-ddim.js';
import { iiaDpmSolverPP } from './variants/iia-dpm-solver-pp.js';
import { iiaEdm } from './variants/iia-edm.js';
import { iiaIpndm } from './variants/iia-ipndm.js';
import { iiaSpndm } from './variants/iia-spndm.js';

const PAPER_VARIANTS: readonly IiaVariant[] = [iiaEdm, biiaEdm, iiaDdim, iiaDpmSolverPP, iiaSpndm, iiaIpndm, guidedIiaDdim];
const generic = new Map<string, IiaVariant>();

/** True for a name getIiaVariant accepts ('iia-edm', 'iia:unipc', ...). */
export function isIiaVariantName(name: string): boolean {
  return PAPER_VARIANTS.some((v) => v.name === name) || (name.startsWith('iia:') && name.slice(4) in solverRegistry);
}

export function getIiaVariant(name: string): IiaVariant {
  const v = PAPER_VARIANTS.find((p) => p.name === name);
  if (v) return v;
  if (name.startsWith('iia:')) {
    const base = name.slice(4);
    if (!(base in solverRegistry)) {
      throw new Error(`--solver: unknown base solver '${base}' in '${name}'; expected iia:<solver> with <solver> one of ${Object.keys(solverRegistry).join(', ')}`);
    }
    let g = generic.get(base);
    if (!g) {
      g = genericVariant(getSolver(base));
      generic.set(base, g);
    }
    return g;
  }
  throw new Error(`--solver: unknown IIA variant '${name}'; expected one of ${PAPER_VARIANTS.map((p) => p.name).join(', ')}, or iia:<solver>`);
}

/** A Solver for an IIA variant, with coefficients (a coefficient file's content) or the defaults. */
export function getIiaSolver(name: string, coefficients?: CoefficientSet | readonly StepCoefficientValues[]) {
  return makeIiaSolver(getIiaVariant(name), coefficients);
}

export interface IiaVariantInfo {
  name: string;
  base: string;
  r: { default: number; min: number; max: number };
  defaultBatch: number;
  summary: string;
  reference: string;
}

/** Every variant: the papers' ones, then iia:<solver> for each solver of the registry. */
export function listIiaVariants(): IiaVariantInfo[] {
  const all = [...PAPER_VARIANTS, ...Object.keys(solverRegistry).map((s) => getIiaVariant(`iia:${s}`))];
  return all.map((v) => ({ name: v.name, base: v.base.info.name, r: { ...v.r }, defaultBatch: v.defaultBatch, summary: v.summary, reference: v.reference }));
}

/** Any solver by name: an IIA variant (iia-edm, iia:unipc, ...) or a base solver of the registry. */
export function resolveSolver(name: string) {
  return isIiaVariantName(name) ? getIiaSolver(name) : getSolver(name);
}
