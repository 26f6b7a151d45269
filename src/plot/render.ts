// Vega-Lite spec -> SVG (vega's headless View.toSVG, no canvas) -> PNG (resvg, no system libraries), with the shipped
// DejaVu Sans as the only font, so a figure looks the same on every machine. Node-only (resvg is a native addon).
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { FONT_FAMILY, FONT_STACK, fontFiles, textWidth } from './fonts.js';

interface TextItem {
  fontSize?: number | string;
  fontWeight?: number | string;
  limit?: number;
}

interface TextMetrics {
  width: (item: TextItem, text: unknown) => number;
}

let measuring = false;

/**
 * Make vega measure text with the shipped font's advance widths instead of its canvas-less estimate
 * (0.8 em per character). vega reads `textMetrics.width` at every measurement; vl-convert installs its own the same way.
 */
function installTextMetrics(): void {
  if (measuring) return;
  const tm = (vega as unknown as { textMetrics?: TextMetrics }).textMetrics;
  if (!tm) return; // an older vega: keep its estimate
  tm.width = (item, text) => {
    const size = item.fontSize != null ? +item.fontSize || 0 : 11;
    const s = text == null ? '' : String(text).trim();
    if (size <= 0 || !s) return 0;
    const weight = item.fontWeight;
    const bold = weight === 'bold' || weight === 'bolder' || (typeof weight === 'number' && weight >= 600) || (typeof weight === 'string' && Number(weight) >= 600);
    const w = textWidth(s, size, bold);
    return item.limit && item.limit > 0 ? Math.min(w, item.limit) : w;
  };
  measuring = true;
}

/** Settings every chart shares: white background, the shipped font everywhere, sizes a paper figure uses. */
export const BASE_CONFIG = {
  font: FONT_STACK,
  background: 'white',
  padding: 8,
  title: { fontSize: 14, anchor: 'middle' as const },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const, grid: true, gridColor: '#e4e4e4' },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const, symbolSize: 70, labelLimit: 320 },
  header: { labelFontSize: 12, titleFontSize: 12 },
  view: { stroke: '#999' },
};

/** Refuses every load: figures are built from inline data only, never from the network or other files. */
function noLoader(): ReturnType<typeof vega.loader> {
  const l = vega.loader();
  const refuse = async (uri: string): Promise<never> => {
    throw new Error(`render.ts: figures use inline data only; refused to load '${uri}'`);
  };
  l.load = refuse as typeof l.load;
  l.sanitize = refuse as typeof l.sanitize;
  return l;
}

/** Compile a Vega-Lite spec and render it headless to an SVG string. */
export async function vegaLiteToSvg(spec: TopLevelSpec): Promise<string> {
  installTextMetrics();
  const vgSpec = compile(spec).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none', loader: noLoader() });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface PngOptions {
  /** Pixels per SVG unit (default 2: sharp on high-density screens and in print at ~150 dpi for a 6-inch figure). */
  scale?: number;
  /** Nearest-neighbour image scaling (for sample grids: pixels stay pixels). Default false (smooth). */
  pixelated?: boolean;
}

export interface RenderedPng {
  png: Uint8Array;
  width: number;
  height: number;
}

/** Render an SVG to PNG with resvg, the shipped DejaVu Sans as the only (and default) font. */
export function svgToPng(svg: string, options: PngOptions = {}): RenderedPng {
  const scale = options.scale ?? 2;
  if (!(Number.isFinite(scale) && scale > 0 && scale <= 16)) throw new Error(`render.ts: scale: expected a number in (0, 16], got ${scale}`);
  const f = fontFiles();
  const resvg = new Resvg(svg, {
    font: {
      loadSystemFonts: false,
      fontFiles: [f.regular, f.bold],
      defaultFontFamily: FONT_FAMILY,
      sansSerifFamily: FONT_FAMILY,
      serifFamily: FONT_FAMILY,
      monospaceFamily: FONT_FAMILY,
    },
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    imageRendering: options.pixelated ? 1 : 0,
    shapeRendering: 2,
    textRendering: 1,
    logLevel: 'off',
  });
  const img = resvg.render();
  const png = img.asPng();
  return { png: new Uint8Array(png.buffer, png.byteOffset, png.byteLength), width: img.width, height: img.height };
}

/** The pixel size an SVG renders to at `scale` (its width/height attributes). */
export function svgSize(svg: string): { width: number; height: number } {
  const m = /<svg\b[^>]*>/.exec(svg);
  const w = m && /\swidth="([\d.]+)"/.exec(m[0]);
  const h = m && /\sheight="([\d.]+)"/.exec(m[0]);
  if (!w || !h) throw new Error('render.ts: the SVG has no width/height');
  return { width: Number(w[1]), height: Number(h[1]) };
}
