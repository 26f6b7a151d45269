// Node-only: the training images behind a data: model spec, for evaluate()'s nearest-image and FD/KID-RP64 metrics
// and its float64 reference. Kept apart so the rest of src/eval stays browser-safe.
import { loadEmbeddedDataset } from '../models/data.js';

/** The images of `data:NAME[:N]` (the first N), or undefined for any other model spec. */
export function evalImagesFor(modelName: string): Float32Array | undefined {
  const m = /^data:([^:]+)(?::(\d+))?$/.exec(modelName);
  if (!m) return undefined;
  return loadEmbeddedDataset(m[1], m[2] !== undefined ? Number(m[2]) : undefined).images;
}
