// "RP64": the fixed feature space of the FD-RP64 and KID-RP64 image metrics. It is NOT Inception-v3 (there is no
// pretrained network here), so FD-RP64 is not FID and KID-RP64 is not the published KID; the numbers compare
// samplers against each other on the same data set and nothing else. Browser-safe.
//
// For an image with C channels of H x W pixels (values in [-1, 1]):
//   1. the image average-pooled to a 4 x 4 grid per channel (16 C values: layout and intensity);
//   2. the gradient magnitude sqrt(gx^2 + gy^2) (central differences, one-sided at the border) average-pooled to
//      4 x 4 per channel (16 C values: where the edges are and how sharp, which blur and noise both change);
//   3. these 32 C values times a fixed Gaussian random matrix W (64 x 32 C, entries N(0, 1/(32 C)) from Philox
//      seed RP64_SEED): a Johnson-Lindenstrauss projection to 64 dimensions whatever the image size.
// Pooling bins are [floor(i H / 4), floor((i + 1) H / 4)), so H, W >= 4 is required.
import { normalBatch } from '../core/rng.js';

export const RP64_DIM = 64;
/** Seed and noise stream of the projection matrix: fixed forever, or numbers stop being comparable. */
export const RP64_SEED = 0x52503634; // "RP64"
const RP64_STREAM = 0x7fff0001;
const GRID = 4;

export interface ImageLayout {
  channels: number;
  height: number;
  width: number;
}

/** [C, H, W] or [H, W] sample shapes (H, W >= 4); anything else is not an image for these metrics. */
export function imageLayoutOf(sampleShape: readonly number[]): ImageLayout {
  let layout: ImageLayout | undefined;
  if (sampleShape.length === 3) layout = { channels: sampleShape[0], height: sampleShape[1], width: sampleShape[2] };
  else if (sampleShape.length === 2) layout = { channels: 1, height: sampleShape[0], width: sampleShape[1] };
  if (!layout || layout.height < GRID || layout.width < GRID || layout.channels < 1) {
    throw new Error(`features.ts: RP64 features need image samples [C, H, W] or [H, W] with H, W >= ${GRID}, got [${sampleShape}]`);
  }
  return layout;
}

function projection(inputs: number): Float64Array {
  // Row j of W is drawn as "sample" j of the seed, so the matrix does not depend on how it is generated.
  const w = Float64Array.from(normalBatch(RP64_SEED, 0, RP64_DIM, inputs, 1, RP64_STREAM));
  const scale = 1 / Math.sqrt(inputs);
  for (let i = 0; i < w.length; i++) w[i] *= scale;
  return w;
}

/** The 32 C pooled values (pixels, then gradient magnitudes) of one image at `off`. */
function pooled(x: ArrayLike<number>, off: number, l: ImageLayout, out: Float64Array): void {
  const { channels: C, height: H, width: W } = l;
  out.fill(0);
  const g = GRID * GRID;
  for (let c = 0; c < C; c++) {
    const base = off + c * H * W;
    for (let i = 0; i < H; i++) {
      const bi = Math.floor((i * GRID) / H);
      for (let j = 0; j < W; j++) {
        const bj = Math.floor((j * GRID) / W);
        const v = x[base + i * W + j];
        const up = x[base + Math.max(i - 1, 0) * W + j], down = x[base + Math.min(i + 1, H - 1) * W + j];
        const left = x[base + i * W + Math.max(j - 1, 0)], right = x[base + i * W + Math.min(j + 1, W - 1)];
        const gy = (down - up) / (i === 0 || i === H - 1 ? 1 : 2);
        const gx = (right - left) / (j === 0 || j === W - 1 ? 1 : 2);
        const cell = bi * GRID + bj;
        out[c * g + cell] += v;
        out[C * g + c * g + cell] += Math.sqrt(gx * gx + gy * gy);
      }
    }
    // Divide by the bin sizes.
    for (let bi = 0; bi < GRID; bi++) {
      const rows = Math.floor(((bi + 1) * H) / GRID) - Math.floor((bi * H) / GRID);
      for (let bj = 0; bj < GRID; bj++) {
        const cols = Math.floor(((bj + 1) * W) / GRID) - Math.floor((bj * W) / GRID);
        const cell = bi * GRID + bj;
        out[c * g + cell] /= rows * cols;
        out[C * g + c * g + cell] /= rows * cols;
      }
    }
  }
}

/** RP64 features of n images (n x prod(sampleShape) values), n x 64 row-major, float64. */
export function rp64Features(images: ArrayLike<number>, sampleShape: readonly number[]): Float64Array {
  const l = imageLayoutOf(sampleShape);
  const size = l.channels * l.height * l.width;
  if (images.length % size !== 0) throw new Error(`features.ts: ${images.length} values are not a whole number of [${sampleShape}] images`);
  const n = images.length / size;
  const inputs = 2 * GRID * GRID * l.channels;
  const w = projection(inputs);
  const raw = new Float64Array(inputs);
  const out = new Float64Array(n * RP64_DIM);
  for (let s = 0; s < n; s++) {
    pooled(images, s * size, l, raw);
    for (let k = 0; k < RP64_DIM; k++) {
      let acc = 0;
      for (let i = 0; i < inputs; i++) acc += w[k * inputs + i] * raw[i];
      out[s * RP64_DIM + k] = acc;
    }
  }
  return out;
}
