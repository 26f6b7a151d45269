// Node-only: the training images behind a model spec, for evaluate()'s nearest-image and FD/KID-RP64 metrics (and,
// for data: models, its float64 reference). Kept apart so the rest of src/eval stays browser-safe.
import { loadEmbeddedDataset } from '../models/data.js';
import { mlpCards } from '../mlem/levels.js';

/**
 * The images of `data:NAME[:N]` (the first N; with `@CLASS`, those of class `condition`, the model's own image set);
 * for `mlp:DATA:W`, the images its card says it was trained on; undefined for any other model spec.
 */
export function evalImagesFor(modelName: string, condition?: number | Int32Array): Float32Array | undefined {
  const m = /^data:([^:@]+)(?::(\d+))?(@.*)?$/.exec(modelName);
  if (m) {
    const ds = loadEmbeddedDataset(m[1], m[2] !== undefined ? Number(m[2]) : undefined);
    if (m[3] === undefined) return ds.images;
    // One class for every sample: the exact denoiser over that class's images. Per-sample classes have no one set.
    if (typeof condition !== 'number' || condition < 0) return undefined;
    const dim = ds.images.length / ds.count;
    const rows = [...ds.labels.keys()].filter((k) => ds.labels[k] === condition);
    const out = new Float32Array(rows.length * dim);
    rows.forEach((k, j) => out.set(ds.images.subarray(k * dim, (k + 1) * dim), j * dim));
    return out;
  }
  const mlp = /^mlp:([a-z]+):w?(\d+)$/.exec(modelName);
  if (mlp) {
    const card = mlpCards(mlp[1]).find((c) => c.architecture.hidden[0] === Number(mlp[2]));
    if (card) return loadEmbeddedDataset(card.dataset.name, card.dataset.count).images;
  }
  return undefined;
}
