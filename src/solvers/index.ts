// The solver registry: every sampler by the name users type (`iia solvers` lists them).
import { ddim } from './ddim.js';
import { deis } from './deis.js';
import { dpmSolverPP2M, dpmSolverPP3M } from './dpm-solver-pp.js';
import { euler } from './euler.js';
import { fDdim } from './f-ddim.js';
import { heun } from './heun.js';
import { ipndm } from './ipndm.js';
import { pndm } from './pndm.js';
import { saSolver } from './sa-solver.js';
import type { Solver, SolverInfo } from './solver.js';
import { spndm } from './spndm.js';
import { unipc } from './unipc.js';

export { stepsForNfe } from '../sample.js';

const SOLVERS: readonly Solver<any, any>[] = [euler, heun, ddim, dpmSolverPP2M, dpmSolverPP3M, unipc, deis, pndm, spndm, ipndm, fDdim, saSolver];

export const solverRegistry: Readonly<Record<string, Solver<any, any>>> = Object.fromEntries(SOLVERS.map((s) => [s.info.name, s]));

export function getSolver(name: string): Solver<any, any> {
  const s = solverRegistry[name];
  if (!s) throw new Error(`--solver: unknown solver '${name}'; expected one of ${Object.keys(solverRegistry).join(', ')}`);
  return s;
}

export function listSolvers(): Pick<SolverInfo, 'name' | 'order' | 'nfePerStep' | 'stochastic'>[] {
  return SOLVERS.map(({ info }) => ({ name: info.name, order: info.order, nfePerStep: info.nfePerStep, stochastic: info.stochastic }));
}
