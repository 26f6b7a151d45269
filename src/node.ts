// iia-diffusion for Node: everything in the core plus the back-ends that need Node (onnxruntime-node, the embedded
// data sets read from the package's data/ folder) and `loadModel(spec)` for gmm:, data: and onnx: specs.
export * from './index.js';
export { loadModel, listEmbeddedModels, type LoadedModel, type ModelInfo, type LoadModelOptions } from './models/registry.js';
export { createOnnxDenoiser, createOnnxConditionalDenoiser, type OnnxDenoiserOptions, type OnnxConditionalOptions } from './models/onnx-denoiser.js';
export { createEmpiricalDenoiser, OnnxEmpiricalDenoiser } from './models/empirical-onnx.js';
export { loadEmbeddedDataset, embeddedClassNames, EMBEDDED_DATASETS } from './models/data.js';
export { evalImagesFor } from './eval/node-data.js';
export { loadMlpLevels, parseMlpSpec, budgetSchedule, budgetTable, measureLevelVariances, mlpCards, type BudgetTable } from './mlem/levels.js';
export { mlemEvalHooks, mlemEvalSolver, mlemEvalOptions, mlemHierarchyOf, MLEM_EVAL_DEFAULTS, type MlemEvalHooks, type MlemEvalHooksOptions, type MlemEvalOptions } from './mlem/eval.js';
