// A batch of images -> one PNG: a near-square grid of the samples, pixels mapped from [-1, 1] to 0..255 (clipped),
// with a small gap between images. Images are channel-first, [C, H, W] with C = 1 or 3, or [H, W] (grey).
import { PNG } from 'pngjs';
import type { Batch } from '../core/batch.js';

export interface ImageLayout {
  channels: 1 | 3;
  height: number;
  width: number;
}

/** The image layout of one sample's shape, or null when the shape is not an image. */
export function imageLayout(sampleShape: readonly number[]): ImageLayout | null {
  if (sampleShape.length === 2) {
    const [h, w] = sampleShape;
    return h >= 2 && w >= 2 ? { channels: 1, height: h, width: w } : null;
  }
  if (sampleShape.length === 3) {
    const [c, h, w] = sampleShape;
    if ((c === 1 || c === 3) && h >= 2 && w >= 2) return { channels: c, height: h, width: w };
  }
  return null;
}

export interface GridGeometry {
  rows: number;
  cols: number;
  /** Pixel size of the whole picture. */
  width: number;
  height: number;
}

/** Near-square grid: cols = ceil(sqrt(n)), rows = ceil(n / cols); `gap` pixels between neighbours, no border. */
export function gridGeometry(n: number, layout: ImageLayout, gap: number): GridGeometry {
  const cols = Math.max(1, Math.ceil(Math.sqrt(n)));
  const rows = Math.max(1, Math.ceil(n / cols));
  return {
    rows,
    cols,
    width: cols * layout.width + (cols - 1) * gap,
    height: rows * layout.height + (rows - 1) * gap,
  };
}

/** [-1, 1] -> 0..255, rounded and clipped (NaN -> 0). */
export function toByte(v: number): number {
  const b = Math.round(((v + 1) / 2) * 255);
  return b > 255 ? 255 : b >= 0 ? b : 0;
}

export interface ImageGridOptions {
  /** Pixels between images (default 2). */
  gap?: number;
  /** Grey level of the gaps and empty cells, 0..255 (default 255, white). */
  background?: number;
}

export interface ImageGrid extends GridGeometry {
  png: Uint8Array;
}

/** Encode a batch of images as one PNG grid. Throws when the sample shape is not an image. */
export function imageGridPng(batch: Batch, options: ImageGridOptions = {}): ImageGrid {
  const sampleShape = batch.shape.slice(1);
  const layout = imageLayout(sampleShape);
  if (!layout) throw new Error(`samples of shape [${sampleShape.join(', ')}] are not images (expected [C, H, W] with C = 1 or 3, or [H, W])`);
  const gap = options.gap ?? 2;
  const bg = options.background ?? 255;
  const n = batch.shape[0];
  const geo = gridGeometry(n, layout, gap);
  const { channels: c, height: h, width: w } = layout;
  const png = new PNG({ width: geo.width, height: geo.height });
  png.data.fill(bg);
  const plane = h * w;
  const per = c * plane;
  for (let k = 0; k < n; k++) {
    const x0 = (k % geo.cols) * (w + gap);
    const y0 = Math.floor(k / geo.cols) * (h + gap);
    const base = k * per;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = ((y0 + y) * geo.width + (x0 + x)) * 4;
        const q = base + y * w + x;
        if (c === 1) {
          const g = toByte(batch.data[q]);
          png.data[p] = g;
          png.data[p + 1] = g;
          png.data[p + 2] = g;
        } else {
          png.data[p] = toByte(batch.data[q]);
          png.data[p + 1] = toByte(batch.data[q + plane]);
          png.data[p + 2] = toByte(batch.data[q + 2 * plane]);
        }
        png.data[p + 3] = 255;
      }
    }
  }
  // Grey images as 8-bit greyscale, colour as 8-bit RGB: no alpha channel in either.
  const buf = PNG.sync.write(png, { colorType: c === 1 ? 0 : 2, inputColorType: 6, inputHasAlpha: true });
  return { ...geo, png: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) };
}
