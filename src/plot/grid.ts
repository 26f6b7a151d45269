// Sample grids: rows = solvers, columns = NFE, each cell the same sample(s) (same initial noise) from that run, so a
// reader sees what a few more network evaluations change. Built as one SVG (labels as text, each image a PNG data
// URI drawn with nearest-neighbour scaling) and rendered to PNG by render.ts; the SVG is self-contained too.
import { PNG } from 'pngjs';
import type { Batch } from '../core/batch.js';
import { imageLayout, toByte, type ImageLayout } from '../io/png.js';
import { FONT_STACK, textWidth } from './fonts.js';

export interface GridCell {
  /** Row label (the solver). */
  row: string;
  /** Column (an NFE, or the NFE budget the run was chosen for). */
  column: number;
  /** Model calls of the run; shown under the cell when it differs from the column. */
  nfe?: number;
  /** The images of the cell, [k, C, H, W] or [k, H, W], values in [-1, 1]; drawn side by side. */
  images: Batch;
}

export interface ImageGridOptions {
  title?: string;
  /** An extra column at the right: the reference solution's images (same noises). */
  reference?: Batch;
  /** On-screen size of an image's longer side in SVG px (default: the smallest whole multiple >= 64). */
  imageSize?: number;
}

export interface ImageGridSvg {
  svg: string;
  width: number;
  height: number;
  rows: string[];
  columns: number[];
}

const PAD = 10;
const GAP = 8; // between cells
const INNER_GAP = 2; // between the images of one cell
const LABEL_SIZE = 12;
const TITLE_SIZE = 14;
const NOTE_SIZE = 10;

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function layoutOf(b: Batch, what: string): ImageLayout {
  const layout = imageLayout(b.shape.slice(1));
  if (!layout) throw new Error(`grid.ts: ${what}: samples of shape [${b.shape.slice(1).join(', ')}] are not images (expected [C, H, W] with C = 1 or 3, or [H, W])`);
  return layout;
}

/** Sample `k` of a batch as an RGB PNG data URI at its own resolution. */
export function imageDataUri(b: Batch, k: number, layout: ImageLayout): string {
  const { channels: c, height: h, width: w } = layout;
  const png = new PNG({ width: w, height: h });
  const plane = h * w;
  const base = k * c * plane;
  for (let q = 0; q < plane; q++) {
    const p = q * 4;
    if (c === 1) {
      const g = toByte(b.data[base + q]);
      png.data[p] = png.data[p + 1] = png.data[p + 2] = g;
    } else {
      png.data[p] = toByte(b.data[base + q]);
      png.data[p + 1] = toByte(b.data[base + q + plane]);
      png.data[p + 2] = toByte(b.data[base + q + 2 * plane]);
    }
    png.data[p + 3] = 255;
  }
  const buf = PNG.sync.write(png, { colorType: 2, inputColorType: 6, inputHasAlpha: true });
  return `data:image/png;base64,${buf.toString('base64')}`;
}

/** The grid as an SVG string with its size. Cells must all hold images of one layout and count. */
export function imageGridSvg(cells: readonly GridCell[], o: ImageGridOptions = {}): ImageGridSvg {
  if (cells.length === 0) throw new Error('grid.ts: cells: expected at least one cell');
  const layout = layoutOf(cells[0].images, `cell ${cells[0].row}, ${cells[0].column}`);
  const k = cells[0].images.shape[0];
  const same = (b: Batch, what: string): void => {
    const l = layoutOf(b, what);
    if (l.channels !== layout.channels || l.height !== layout.height || l.width !== layout.width || b.shape[0] !== k) {
      throw new Error(`grid.ts: ${what}: expected ${k} image(s) of shape [${cells[0].images.shape.slice(1).join(', ')}] like the first cell, got [${b.shape.join(', ')}]`);
    }
  };
  const seen = new Set<string>();
  for (const c of cells) {
    same(c.images, `cell ${c.row}, ${c.column}`);
    const key = `${c.row}\u0000${c.column}`;
    if (seen.has(key)) throw new Error(`grid.ts: cell ${c.row}, ${c.column}: given twice`);
    seen.add(key);
  }
  if (o.reference) same(o.reference, 'reference');

  const rows = [...new Set(cells.map((c) => c.row))];
  const columns = [...new Set(cells.map((c) => c.column))].sort((a, b) => a - b);
  const longer = Math.max(layout.height, layout.width);
  const size = o.imageSize ?? Math.ceil(64 / longer) * longer;
  const scale = size / longer;
  const iw = layout.width * scale;
  const ih = layout.height * scale;
  const cellW = k * iw + (k - 1) * INNER_GAP;
  const anyNote = cells.some((c) => c.nfe !== undefined && c.nfe !== c.column);
  const noteH = anyNote ? NOTE_SIZE + 4 : 0;
  const cellH = ih + noteH;

  const labelW = Math.ceil(Math.max(...rows.map((r) => textWidth(r, LABEL_SIZE)))) + 10;
  const titleH = o.title ? TITLE_SIZE + 10 : 0;
  const headerH = LABEL_SIZE + 8;
  const nCols = columns.length + (o.reference ? 1 : 0);
  const refGap = o.reference ? GAP : 0; // the reference column stands a little apart
  const gridW = nCols * cellW + (nCols - 1) * GAP + refGap;
  const width = Math.ceil(Math.max(PAD * 2 + labelW + gridW, o.title ? PAD * 2 + textWidth(o.title, TITLE_SIZE, true) : 0));
  const height = Math.ceil(PAD * 2 + titleH + headerH + rows.length * cellH + (rows.length - 1) * GAP);
  const x0 = PAD + labelW;
  const y0 = PAD + titleH + headerH;
  const colX = (j: number): number => x0 + j * (cellW + GAP) + (j >= columns.length ? refGap : 0);
  const rowY = (i: number): number => y0 + i * (cellH + GAP);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<g font-family="${FONT_STACK}" fill="#000">`);
  if (o.title) out.push(`<text x="${width / 2}" y="${PAD + TITLE_SIZE}" font-size="${TITLE_SIZE}" font-weight="bold" text-anchor="middle">${escapeXml(o.title)}</text>`);
  const headY = PAD + titleH + LABEL_SIZE;
  columns.forEach((c, j) => out.push(`<text x="${colX(j) + cellW / 2}" y="${headY}" font-size="${LABEL_SIZE}" text-anchor="middle">NFE ${c}</text>`));
  if (o.reference) out.push(`<text x="${colX(columns.length) + cellW / 2}" y="${headY}" font-size="${LABEL_SIZE}" text-anchor="middle">reference</text>`);
  rows.forEach((r, i) => out.push(`<text x="${x0 - 8}" y="${rowY(i) + ih / 2 + LABEL_SIZE * 0.35}" font-size="${LABEL_SIZE}" text-anchor="end">${escapeXml(r)}</text>`));

  const byKey = new Map(cells.map((c) => [`${c.row}\u0000${c.column}`, c]));
  const drawImages = (b: Batch, x: number, y: number): void => {
    for (let s = 0; s < k; s++) {
      out.push(
        `<image x="${x + s * (iw + INNER_GAP)}" y="${y}" width="${iw}" height="${ih}" preserveAspectRatio="none" image-rendering="optimizeSpeed" style="image-rendering:pixelated" xlink:href="${imageDataUri(b, s, layout)}"/>`,
      );
    }
  };
  rows.forEach((r, i) => {
    columns.forEach((c, j) => {
      const cell = byKey.get(`${r}\u0000${c}`);
      const x = colX(j), y = rowY(i);
      if (!cell) {
        // No run of this solver at this NFE: an empty grey cell.
        out.push(`<rect x="${x}" y="${y}" width="${cellW}" height="${ih}" fill="#f0f0f0" stroke="#d0d0d0"/>`);
        return;
      }
      drawImages(cell.images, x, y);
      if (cell.nfe !== undefined && cell.nfe !== c) {
        out.push(`<text x="${x + cellW / 2}" y="${y + ih + NOTE_SIZE + 1}" font-size="${NOTE_SIZE}" fill="#555" text-anchor="middle">${cell.nfe} NFE</text>`);
      }
    });
    if (o.reference) drawImages(o.reference, colX(columns.length), rowY(i));
  });
  out.push('</g></svg>');
  return { svg: out.join('\n'), width, height, rows, columns };
}
