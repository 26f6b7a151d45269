// The measuring instrument (browser-safe part): reference ODE solutions, metrics, evaluate(). The Node-only loader
// of embedded training images is src/eval/node-data.ts.
export * from './reference.js';
export * from './metrics.js';
export * from './evaluate.js';
export { fieldFor, gmmField, empiricalField, denoiserField, type Field, type Float64Capable, type FieldOptions } from './exact64.js';
export { rp64Features, imageLayoutOf, RP64_DIM, RP64_SEED, type ImageLayout } from './features.js';
export { symmetricEigen, sqrtPsd, traceSqrtProduct, covariance, columnMeans } from './linalg.js';
export { DOP853, DOPRI5, type Tableau } from './tableaus.js';
