// Difference masks and their exact dependency cone (spatially sparse editing; Li et al. 2022, SIGE, Sec. 3: the
// difference mask between the original and the edited image decides where to recompute). A mask is a Uint8Array of
// H * W pixels, 1 = changed. Browser-safe.
import { tileBounds, type Tiling } from '../models/patch-denoiser.js';

/**
 * Pixels where the two [C, H, W] images differ by more than `threshold` in any channel. With threshold 0 (the
 * default) every differing value counts, which is what makes the sparse run exact.
 */
export function differenceMask(a: Float32Array, b: Float32Array, shape: readonly number[], threshold = 0): Uint8Array {
  if (shape.length !== 3) throw new Error(`mask.ts: image shape must be [C, H, W], got [${shape}]`);
  const [C, H, W] = shape;
  const plane = H * W;
  if (a.length !== C * plane || b.length !== C * plane) {
    throw new Error(`mask.ts: images have ${a.length} and ${b.length} values; shape [${shape}] needs ${C * plane}`);
  }
  if (!(threshold >= 0)) throw new Error(`mask.ts: threshold is ${threshold}; expected a number >= 0`);
  const mask = new Uint8Array(plane);
  for (let c = 0; c < C; c++) {
    for (let p = 0; p < plane; p++) {
      const d = Math.abs(a[c * plane + p] - b[c * plane + p]);
      // `!(d <= t)` also marks NaN against a number.
      if (!(d <= threshold)) mask[p] = 1;
    }
  }
  return mask;
}

export function maskCount(mask: Uint8Array): number {
  let s = 0;
  for (let p = 0; p < mask.length; p++) s += mask[p];
  return s;
}

/**
 * Dilation by a (2r+1) x (2r+1) square (Chebyshev distance <= r), clipped to the image: the pixels whose output can
 * change when the pixels of `mask` change, for an operator whose output at p reads the inputs within distance r of
 * p. Separable (rows, then columns) with running counts: O(H * W) whatever r.
 */
export function dilateMask(mask: Uint8Array, height: number, width: number, r: number): Uint8Array {
  if (mask.length !== height * width) throw new Error(`mask.ts: ${mask.length} pixels, expected ${height} x ${width}`);
  if (!Number.isInteger(r) || r < 0) throw new Error(`mask.ts: dilation radius is ${r}; expected an integer >= 0`);
  if (r === 0) return mask.slice();
  const rows = new Uint8Array(mask.length);
  const prefix = new Int32Array(Math.max(height, width) + 1);
  for (let i = 0; i < height; i++) {
    for (let j = 0; j < width; j++) prefix[j + 1] = prefix[j] + mask[i * width + j];
    for (let j = 0; j < width; j++) {
      rows[i * width + j] = prefix[Math.min(width, j + r + 1)] - prefix[Math.max(0, j - r)] > 0 ? 1 : 0;
    }
  }
  const out = new Uint8Array(mask.length);
  for (let j = 0; j < width; j++) {
    for (let i = 0; i < height; i++) prefix[i + 1] = prefix[i] + rows[i * width + j];
    for (let i = 0; i < height; i++) {
      out[i * width + j] = prefix[Math.min(height, i + r + 1)] - prefix[Math.max(0, i - r)] > 0 ? 1 : 0;
    }
  }
  return out;
}

/**
 * The exact dependency cone of a change through `calls` model evaluations of receptive radius r, for any solver whose
 * updates combine states, model outputs and shared noise pixel by pixel: the input of call k may differ only on
 * inputs[k] = dilate(mask0, k r) and its output only on outputs[k] = dilate(mask0, (k + 1) r) (by induction: the
 * input of call k is a pixel-wise combination of the start state and the outputs of calls 0..k-1).
 */
export function dependencyCone(mask0: Uint8Array, height: number, width: number, r: number, calls: number): { inputs: Uint8Array[]; outputs: Uint8Array[] } {
  const inputs: Uint8Array[] = [];
  const outputs: Uint8Array[] = [];
  let m: Uint8Array = mask0.slice();
  for (let k = 0; k < calls; k++) {
    inputs.push(m);
    m = dilateMask(m, height, width, r);
    outputs.push(m);
  }
  return { inputs, outputs };
}

/** The tiles holding at least one pixel of the mask, ascending. */
export function tilesTouching(mask: Uint8Array, tiling: Tiling): Int32Array {
  if (mask.length !== tiling.height * tiling.width) throw new Error(`mask.ts: ${mask.length} pixels, the tiling is ${tiling.height} x ${tiling.width}`);
  const out: number[] = [];
  for (let t = 0; t < tiling.count; t++) {
    const { y0, y1, x0, x1 } = tileBounds(tiling, t);
    let hit = false;
    for (let i = y0; i < y1 && !hit; i++) for (let j = x0; j < x1; j++) if (mask[i * tiling.width + j]) { hit = true; break; }
    if (hit) out.push(t);
  }
  return Int32Array.from(out);
}

/** Pixels covered by a set of tiles. */
export function tilePixels(tiles: ArrayLike<number>, tiling: Tiling): number {
  let s = 0;
  for (let k = 0; k < tiles.length; k++) {
    const { y0, y1, x0, x1 } = tileBounds(tiling, tiles[k]);
    s += (y1 - y0) * (x1 - x0);
  }
  return s;
}
