// Sample grids (rows = solvers, columns = NFE): layout, labels, and every image's pixels where the SVG puts it,
// drawn nearest-neighbour (an 8x8 image stays 8x8 blocks).
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import type { Batch } from '../src/core/batch.js';
import { imageGridSvg, type GridCell } from '../src/plot/grid.js';
import { svgToPng } from '../src/plot/render.js';

/** k images of shape [C, H, W] (or [H, W]), channel c of every pixel = v[c] (in [-1, 1]). */
function solid(k: number, shape: number[], v: number[]): Batch {
  const [c, h, w] = shape.length === 3 ? shape : [1, ...shape];
  const data = new Float32Array(k * c * h * w);
  for (let j = 0; j < k; j++) for (let ch = 0; ch < c; ch++) data.fill(v[ch], (j * c + ch) * h * w, (j * c + ch + 1) * h * w);
  return { data, shape: [k, ...shape] };
}

interface Placed {
  x: number;
  y: number;
  w: number;
  h: number;
}

function imagesOf(svg: string): Placed[] {
  return [...svg.matchAll(/<image x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/g)].map((m) => ({ x: +m[1], y: +m[2], w: +m[3], h: +m[4] }));
}

const byte = (v: number): number => Math.round(((v + 1) / 2) * 255);

describe('image grid', () => {
  const red = [1, -1, -1], green = [-1, 1, -1], blue = [-1, -1, 1], grey = [0, 0, 0];
  const cells: GridCell[] = [
    { row: 'heun', column: 5, nfe: 5, images: solid(2, [3, 8, 8], red) },
    { row: 'heun', column: 10, nfe: 9, images: solid(2, [3, 8, 8], green) },
    { row: 'ddim', column: 10, nfe: 10, images: solid(2, [3, 8, 8], blue) },
  ];

  it('lays out solvers by NFE with labels, an empty cell, a note for NFE below the budget and a reference column', () => {
    const g = imageGridSvg(cells, { title: 'digits <8x8>', reference: solid(2, [3, 8, 8], grey) });
    expect(g.rows).toEqual(['heun', 'ddim']);
    expect(g.columns).toEqual([5, 10]);
    for (const t of ['>heun</text>', '>ddim</text>', '>NFE 5</text>', '>NFE 10</text>', '>reference</text>', '>9 NFE</text>', '>digits &lt;8x8&gt;</text>']) {
      expect(g.svg).toContain(t);
    }
    // 3 cells x 2 images + 2 rows x 2 reference images; ddim at NFE 5 is an empty rect.
    const imgs = imagesOf(g.svg);
    expect(imgs).toHaveLength(10);
    for (const im of imgs) expect([im.w, im.h]).toEqual([64, 64]); // 8 px -> the smallest multiple >= 64
    expect(g.svg).toContain('fill="#f0f0f0"');
  });

  it('renders each image at its place in the PNG, nearest-neighbour', () => {
    const g = imageGridSvg(cells, { reference: solid(2, [3, 8, 8], grey) });
    const out = svgToPng(g.svg, { scale: 2, pixelated: true });
    const img = PNG.sync.read(Buffer.from(out.png));
    expect([img.width, img.height]).toEqual([g.width * 2, g.height * 2]);
    const at = (x: number, y: number): number[] => {
      const p = (Math.round(y) * img.width + Math.round(x)) * 4;
      return [img.data[p], img.data[p + 1], img.data[p + 2]];
    };
    const imgs = imagesOf(g.svg);
    // In document order: heun@5 (2), heun@10 (2), heun reference (2), ddim@10 (2), ddim reference (2).
    const want = [red, red, green, green, grey, grey, blue, blue, grey, grey];
    imgs.forEach((im, i) => {
      const expected = want[i].map(byte);
      // Centre and a point one source pixel in from the corner: exact colour (no smoothing across the edge).
      expect(at(2 * (im.x + im.w / 2), 2 * (im.y + im.h / 2))).toEqual(expected);
      expect(at(2 * (im.x + 4), 2 * (im.y + 4))).toEqual(expected);
    });
  });

  it('keeps a checkerboard crisp', () => {
    const data = new Float32Array(4 * 4);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) data[y * 4 + x] = (x + y) % 2 ? 1 : -1;
    const g = imageGridSvg([{ row: 'a', column: 1, images: { data, shape: [1, 4, 4] } }], { imageSize: 40 });
    const img = PNG.sync.read(Buffer.from(svgToPng(g.svg, { scale: 1, pixelated: true }).png));
    const [im] = imagesOf(g.svg);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 4; x++) {
        // Near the corner of each 10x10 block, still the block's own value.
        for (const [dx, dy] of [[1, 1], [8, 8]]) {
          const p = (Math.round(im.y + 10 * y + dy) * img.width + Math.round(im.x + 10 * x + dx)) * 4;
          expect(img.data[p]).toBe((x + y) % 2 ? 255 : 0);
        }
      }
    }
  });

  it('refuses cells of different shapes, non-images and duplicates', () => {
    expect(() => imageGridSvg([cells[0], { row: 'x', column: 1, images: solid(2, [1, 8, 8], [0]) }])).toThrow(/cell x, 1: expected 2 image\(s\) of shape \[3, 8, 8\]/);
    expect(() => imageGridSvg([{ row: 'x', column: 1, images: { data: new Float32Array(10), shape: [1, 10] } }])).toThrow(/not images/);
    expect(() => imageGridSvg([cells[0], cells[0]])).toThrow(/given twice/);
    expect(() => imageGridSvg([])).toThrow(/at least one cell/);
  });
});
