// iia-diffusion for Node: everything in the core plus the back-ends that need Node (onnxruntime-node, the embedded
// data sets read from the package's data/ folder) and `loadModel(spec)` for gmm:, data: and onnx: specs.
export * from './index.js';
export { loadModel, listEmbeddedModels, type LoadedModel, type ModelInfo, type LoadModelOptions } from './models/registry.js';
export { createOnnxDenoiser, type OnnxDenoiserOptions } from './models/onnx-denoiser.js';
export { createEmpiricalDenoiser, OnnxEmpiricalDenoiser } from './models/empirical-onnx.js';
export { loadEmbeddedDataset, EMBEDDED_DATASETS } from './models/data.js';
