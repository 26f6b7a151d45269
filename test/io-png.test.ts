import { describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import { makeBatch } from '../src/core/batch.js';
import { gridGeometry, imageGridPng, imageLayout, toByte } from '../src/io/png.js';

describe('imageLayout', () => {
  it('recognises [C, H, W] with C = 1 or 3 and [H, W]', () => {
    expect(imageLayout([3, 32, 32])).toEqual({ channels: 3, height: 32, width: 32 });
    expect(imageLayout([1, 28, 28])).toEqual({ channels: 1, height: 28, width: 28 });
    expect(imageLayout([8, 8])).toEqual({ channels: 1, height: 8, width: 8 });
  });
  it('refuses vectors and other channel counts', () => {
    expect(imageLayout([2])).toBeNull();
    expect(imageLayout([64])).toBeNull();
    expect(imageLayout([2, 8, 8])).toBeNull();
    expect(imageLayout([3, 1, 32])).toBeNull();
  });
});

describe('toByte', () => {
  it('maps [-1, 1] to 0..255 and clips', () => {
    expect(toByte(-1)).toBe(0);
    expect(toByte(1)).toBe(255);
    expect(toByte(0)).toBe(128);
    expect(toByte(-3)).toBe(0);
    expect(toByte(7)).toBe(255);
    expect(toByte(NaN)).toBe(0);
  });
});

describe('gridGeometry', () => {
  it('is near-square with a gap between cells and no border', () => {
    const l = { channels: 1 as const, height: 8, width: 8 };
    expect(gridGeometry(64, l, 2)).toEqual({ rows: 8, cols: 8, width: 8 * 8 + 7 * 2, height: 8 * 8 + 7 * 2 });
    expect(gridGeometry(10, l, 2)).toEqual({ rows: 3, cols: 4, width: 4 * 8 + 3 * 2, height: 3 * 8 + 2 * 2 });
    expect(gridGeometry(1, l, 2)).toEqual({ rows: 1, cols: 1, width: 8, height: 8 });
    expect(gridGeometry(3, l, 1)).toEqual({ rows: 2, cols: 2, width: 17, height: 17 });
  });
});

describe('imageGridPng', () => {
  it('writes an RGB grid whose pixels are the samples', () => {
    // 5 RGB images 4x3 (H=4, W=3); image k has red = value k, green = -1, blue = +1 except pixel (1,2) blue = -1.
    const n = 5, c = 3, h = 4, w = 3;
    const b = makeBatch([n, c, h, w]);
    for (let k = 0; k < n; k++) {
      for (let i = 0; i < h * w; i++) {
        b.data[k * c * h * w + i] = -1 + 0.5 * k;
        b.data[k * c * h * w + h * w + i] = -1;
        b.data[k * c * h * w + 2 * h * w + i] = 1;
      }
      b.data[k * c * h * w + 2 * h * w + 1 * w + 2] = -1;
    }
    const g = imageGridPng(b);
    expect([g.rows, g.cols]).toEqual([2, 3]);
    const png = PNG.sync.read(Buffer.from(g.png));
    expect(png.width).toBe(3 * w + 2 * 2);
    expect(png.height).toBe(2 * h + 1 * 2);
    const px = (x: number, y: number) => Array.from(png.data.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 4));
    for (let k = 0; k < n; k++) {
      const x0 = (k % 3) * (w + 2), y0 = Math.floor(k / 3) * (h + 2);
      expect(px(x0, y0)).toEqual([toByte(-1 + 0.5 * k), 0, 255, 255]);
      expect(px(x0 + 2, y0 + 1)).toEqual([toByte(-1 + 0.5 * k), 0, 0, 255]);
    }
    // gap and the empty sixth cell are background (white)
    expect(px(w, 0)).toEqual([255, 255, 255, 255]);
    expect(px(2 * (w + 2) + 1, h + 2 + 1)).toEqual([255, 255, 255, 255]);
  });

  it('writes grey images as greyscale', () => {
    const b = makeBatch([4, 1, 2, 2], Float32Array.from({ length: 16 }, (_, i) => (i % 4 === 0 ? 1 : -1)));
    const g = imageGridPng(b, { gap: 1 });
    const png = PNG.sync.read(Buffer.from(g.png));
    expect([png.width, png.height]).toEqual([5, 5]);
    expect(Array.from(png.data.subarray(0, 4))).toEqual([255, 255, 255, 255]);
    expect(Array.from(png.data.subarray(4, 8))).toEqual([0, 0, 0, 255]);
  });

  it('refuses non-image samples', () => {
    expect(() => imageGridPng(makeBatch([3, 2]))).toThrow(/not images/);
  });
});
