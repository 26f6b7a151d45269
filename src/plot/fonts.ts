// The one font every figure uses: DejaVu Sans (regular and bold) from the npm package `dejavu-fonts-ttf`, so text
// renders the same on a bare machine with no system fonts. resvg draws with these files; vega, which cannot measure
// text without a canvas, gets the glyph advance widths read from the same files (a few tables of the TrueType
// format: head, hhea, hmtx, cmap), so legends and axis titles are laid out for the font they are drawn in.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** The family name in SVG files; viewers without DejaVu fall back to Verdana (similar widths), then any sans. */
export const FONT_FAMILY = 'DejaVu Sans';
export const FONT_STACK = 'DejaVu Sans, Verdana, sans-serif';

export interface FontFiles {
  regular: string;
  bold: string;
}

let files: FontFiles | undefined;

/** Absolute paths of the shipped TTF files; throws naming the package when it is not installed. */
export function fontFiles(): FontFiles {
  if (files) return files;
  const require = createRequire(import.meta.url);
  try {
    files = {
      regular: require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf'),
      bold: require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf'),
    };
  } catch (err) {
    throw new Error('fonts.ts: the npm package dejavu-fonts-ttf is missing (npm install); figures need its DejaVuSans.ttf', { cause: err });
  }
  return files;
}

/** Advance widths of a TrueType font, in em units (1 = the font size). */
export class FontMetrics {
  private readonly unitsPerEm: number;
  private readonly advances: Uint16Array;
  private readonly glyphOf: (code: number) => number;
  private readonly cache = new Map<number, number>();

  constructor(ttf: Uint8Array) {
    const v = new DataView(ttf.buffer, ttf.byteOffset, ttf.byteLength);
    const tables = new Map<string, number>();
    const numTables = v.getUint16(4);
    for (let i = 0; i < numTables; i++) {
      const rec = 12 + 16 * i;
      const tag = String.fromCharCode(v.getUint8(rec), v.getUint8(rec + 1), v.getUint8(rec + 2), v.getUint8(rec + 3));
      tables.set(tag, v.getUint32(rec + 8));
    }
    const table = (tag: string): number => {
      const off = tables.get(tag);
      if (off === undefined) throw new Error(`fonts.ts: the font has no '${tag}' table`);
      return off;
    };
    this.unitsPerEm = v.getUint16(table('head') + 18);
    const numberOfHMetrics = v.getUint16(table('hhea') + 34);
    const hmtx = table('hmtx');
    this.advances = new Uint16Array(numberOfHMetrics);
    for (let i = 0; i < numberOfHMetrics; i++) this.advances[i] = v.getUint16(hmtx + 4 * i);
    this.glyphOf = cmapFormat4(v, table('cmap'));
  }

  /** Width of `text` at font size 1 (multiply by the size in px). */
  width(text: string): number {
    let w = 0;
    for (const ch of text) {
      const code = ch.codePointAt(0)!;
      let a = this.cache.get(code);
      if (a === undefined) {
        const g = this.glyphOf(code);
        a = this.advances[Math.min(g, this.advances.length - 1)] / this.unitsPerEm;
        this.cache.set(code, a);
      }
      w += a;
    }
    return w;
  }
}

/** Glyph lookup through the Windows Unicode BMP subtable (platform 3, encoding 1, format 4); 0 (.notdef) if absent. */
function cmapFormat4(v: DataView, cmap: number): (code: number) => number {
  const n = v.getUint16(cmap + 2);
  let sub = -1;
  for (let i = 0; i < n; i++) {
    const rec = cmap + 4 + 8 * i;
    if (v.getUint16(rec) === 3 && v.getUint16(rec + 2) === 1) sub = cmap + v.getUint32(rec + 4);
  }
  if (sub < 0 || v.getUint16(sub) !== 4) throw new Error('fonts.ts: the font has no Unicode BMP cmap (platform 3, encoding 1, format 4)');
  const segX2 = v.getUint16(sub + 6);
  const ends = sub + 14;
  const starts = ends + segX2 + 2;
  const deltas = starts + segX2;
  const rangeOffsets = deltas + segX2;
  return (code: number): number => {
    if (code > 0xffff) return 0;
    for (let s = 0; s < segX2; s += 2) {
      if (code > v.getUint16(ends + s)) continue;
      const start = v.getUint16(starts + s);
      if (code < start) return 0;
      const delta = v.getInt16(deltas + s);
      const ro = v.getUint16(rangeOffsets + s);
      if (ro === 0) return (code + delta) & 0xffff;
      const g = v.getUint16(rangeOffsets + s + ro + 2 * (code - start));
      return g === 0 ? 0 : (g + delta) & 0xffff;
    }
    return 0;
  };
}

let metrics: { regular: FontMetrics; bold: FontMetrics } | undefined;

/** Metrics of the shipped regular and bold faces (read once). */
export function fontMetrics(): { regular: FontMetrics; bold: FontMetrics } {
  if (!metrics) {
    const f = fontFiles();
    metrics = { regular: new FontMetrics(readFileSync(f.regular)), bold: new FontMetrics(readFileSync(f.bold)) };
  }
  return metrics;
}

/** Width in px of `text` at `size` px in the shipped font. */
export function textWidth(text: string, size: number, bold = false): number {
  const m = fontMetrics();
  return (bold ? m.bold : m.regular).width(text) * size;
}
