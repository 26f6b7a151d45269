// IIA (improved integration approximation, Zhang et al., NeurIPS preprint / ICLR 2024) as one mechanism: variants
// choose directions, `calibrate` fits their coefficients, `makeIiaSolver` samples with them. Browser-safe.
export * from './variant.js';
export { makeIiaSolver, type IiaSolverOptions, type IiaState, type StepCoefficientValues } from './solver.js';
export { calibrate, IIA_HELD_OUT_STREAM, SHRINKAGE, type CalibrateOptions, type ConditionalModel } from './calibrate.js';
export * from './coefficients.js';
export { getIiaVariant, getIiaSolver, isIiaVariantName, listIiaVariants, resolveSolver, type IiaVariantInfo } from './registry.js';
export { normalEquations, solveRidge } from './lstsq.js';
export { sha256Hex, sha256HexOfString } from './sha256.js';
export { iiaEdm } from './variants/iia-edm.js';
export { biiaEdm } from './variants/biia-edm.js';
export { iiaDdim } from './variants/iia-ddim.js';
export { guidedIiaDdim } from './variants/guided-iia-ddim.js';
export { iiaDpmSolverPP } from './variants/iia-dpm-solver-pp.js';
export { iiaSpndm } from './variants/iia-spndm.js';
export { iiaIpndm } from './variants/iia-ipndm.js';
export { genericVariant } from './variants/generic.js';
