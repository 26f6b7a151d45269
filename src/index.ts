// iia-diffusion, browser-safe core: batches, RNG, .npy bytes, schedules, grids, solvers, the sampling driver,
// exact GMM and empirical denoisers (TypeScript), network adapters and diffusers compatibility.
// Node-only back-ends (ONNX Runtime, embedded data files, loadModel) are in 'iia-diffusion/node'.
export * from './core/batch.js';
export * from './core/rng.js';
export * from './core/npy.js';
export * from './schedules/index.js';
export * from './grids/index.js';
export * from './solvers/solver.js';
export { solverRegistry, getSolver, listSolvers } from './solvers/index.js';
export { clipSample, dynamicThreshold } from './solvers/x0-transforms.js';
export { sample, stepsForNfe, AbortError, type SampleOptions, type SampleResult } from './sample.js';
export * from './models/denoiser.js';
export { GaussianMixture, createGmmDenoiser, parseGmm, type GmmSpec } from './models/gmm.js';
export { TsEmpiricalDenoiser } from './models/empirical.js';
export { wrapNetwork, edmPreconditioning, PREDICTION_TYPES, type PredictionType, type RawNetwork } from './models/adapters.js';
export { buildEmpiricalGraph, buildDummyUnet } from './models/onnx-graphs.js';
export { planFromSchedulerConfig, schedulerConverters, type SamplingPlan } from './diffusers/index.js';
export * from './models/conditional.js';
export * from './models/guidance.js';
export * from './eval/index.js';
export * from './edit/index.js';
export * as iia from './iia/index.js';
export { calibrate, makeIiaSolver, getIiaSolver, getIiaVariant, listIiaVariants, resolveSolver, parseCoefficients, serializeCoefficients, checkCoefficients, modelFingerprint, type CoefficientSet } from './iia/index.js';
export { iiaPrepare } from './iia/prepare.js';
export * from './mlem/ml-em.js';
export * from './mlem/schedule.js';
export * from './mlem/error.js';
export * from './models/mlp.js';
