// The figure pipeline as a library: Vega-Lite specs -> SVG -> PNG. The SVG is read back for what it claims (solver
// names, log-log geometry: equal ratios are equal distances), the PNG is decoded and its pixels checked where the
// SVG puts the points and lines, and text is checked to render with the shipped font on a machine without fonts.
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { errorChartSpec, errorChartSvg, residualChartSvg } from '../src/plot/charts.js';
import { errorPoints, recordsOf, residualTable } from '../src/plot/data.js';
import { fontMetrics, textWidth } from '../src/plot/fonts.js';
import { svgSize, svgToPng } from '../src/plot/render.js';
import { UserError } from '../src/io/errors.js';

/** Eval-like records: error = c * nfe^-p for a few solvers (what `iia eval` writes under "records"). */
function records(): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const solvers: [string, number, number][] = [['heun', 2, 2], ['ddim', 0.5, 1], ['iia:dpm-solver++2m', 0.3, 2.5]];
  for (const [solver, c, p] of solvers) {
    for (const nfe of [5, 10, 20, 40]) {
      out.push({ model: 'gmm:gmm-2d', solver, steps: nfe, nfe, n: 64, seed: 0, stochastic: false, calibration_seed: null, rmse: c * nfe ** -p, median_error: 0.9 * c * nfe ** -p, max_error: null, seconds: 0.01 });
    }
  }
  return out;
}

interface Point {
  x: number;
  y: number;
  fill: string;
  label: string;
}

/** The point marks of a vega SVG (centre in SVG units, relative to the plot's origin), from their aria labels. */
function pointsOf(svg: string): Point[] {
  const out: Point[] = [];
  for (const m of svg.matchAll(/<path aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="point" transform="translate\(([-\d.e]+),([-\d.e]+)\)"[^>]*fill="(#[0-9a-f]{6})"/g)) {
    out.push({ label: m[1], x: Number(m[2]), y: Number(m[3]), fill: m[4] });
  }
  return out;
}

/** The offset of the plot area: the root group's translate (vega's padding + axis room). */
function originOf(svg: string): [number, number] {
  const m = /<g[^>]*transform="translate\(([-\d.]+),([-\d.]+)\)"/.exec(svg)!;
  return [Number(m[1]), Number(m[2])];
}

function decode(png: Uint8Array): PNG {
  return PNG.sync.read(Buffer.from(png));
}

function pixel(img: PNG, x: number, y: number): [number, number, number] {
  const p = (Math.round(y) * img.width + Math.round(x)) * 4;
  return [img.data[p], img.data[p + 1], img.data[p + 2]];
}

function hex(c: string): [number, number, number] {
  return [parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16)];
}

const close = (a: number[], b: number[], tol = 40): boolean => a.every((v, i) => Math.abs(v - b[i]) <= tol);

describe('error against NFE', () => {
  it('draws one line per solver on log-log axes', async () => {
    const { svg, series, points, skipped } = await errorChartSvg(records(), { metric: 'rmse' });
    expect(series).toEqual(['heun', 'ddim', 'iia:dpm-solver++2m']);
    expect(points).toBe(12);
    expect(skipped).toBe(0);
    for (const s of series) expect(svg.includes(`>${s}</text>`), s).toBe(true);
    expect(svg).toContain('NFE (network evaluations per sample)');
    expect(svg).toContain('RMSE to the reference solution');

    // Log-log: NFE 5, 10, 20, 40 (ratio 2) are equally spaced in x; heun's error (ratio 4) equally spaced in y.
    const heun = pointsOf(svg).filter((p) => p.label.includes('solver: heun;'));
    expect(heun).toHaveLength(4);
    heun.sort((a, b) => a.x - b.x);
    const dx = heun.slice(1).map((p, i) => p.x - heun[i].x);
    const dy = heun.slice(1).map((p, i) => p.y - heun[i].y);
    for (const d of dx) expect(d).toBeCloseTo(dx[0], 6);
    for (const d of dy) expect(d).toBeCloseTo(dy[0], 6);
    expect(dx[0]).toBeGreaterThan(20);
    expect(dy[0]).toBeGreaterThan(20); // errors fall: y grows downwards in SVG
    // ddim's slope is half heun's (p = 1 vs 2) in log-log.
    const ddim = pointsOf(svg).filter((p) => p.label.includes('solver: ddim;')).sort((a, b) => a.x - b.x);
    expect(ddim[1].y - ddim[0].y).toBeCloseTo(dy[0] / 2, 6);
    // The spec says so too.
    const { spec } = errorChartSpec(records());
    const enc = (spec as { encoding: { x: { scale: { type: string } }; y: { scale: { type: string } } } }).encoding;
    expect(enc.x.scale.type).toBe('log');
    expect(enc.y.scale.type).toBe('log');
  });

  it('renders to a PNG of the SVG size times the scale, with the lines where the SVG puts them', async () => {
    const { svg } = await errorChartSvg(records(), { metric: 'median_error' });
    const size = svgSize(svg);
    const out = svgToPng(svg, { scale: 2 });
    const img = decode(out.png);
    expect([img.width, img.height]).toEqual([size.width * 2, size.height * 2]);
    expect([out.width, out.height]).toEqual([img.width, img.height]);
    const [ox, oy] = originOf(svg);
    const pts = pointsOf(svg);
    expect(pts.length).toBe(12);
    for (const p of pts) expect(close(pixel(img, 2 * (ox + p.x), 2 * (oy + p.y)), hex(p.fill)), p.label).toBe(true);
    // Midway between two points of a line: the line's colour; far from every line (top-right of the plot area's
    // interior, above all data): background.
    const heun = pts.filter((p) => p.label.includes('solver: heun;')).sort((a, b) => a.x - b.x);
    for (let i = 1; i < heun.length; i++) {
      const mx = (heun[i - 1].x + heun[i].x) / 2, my = (heun[i - 1].y + heun[i].y) / 2;
      expect(close(pixel(img, 2 * (ox + mx), 2 * (oy + my)), hex(heun[i].fill), 60)).toBe(true);
    }
    const bg = pixel(img, 2 * (ox + heun[3].x - 3), 2 * (oy + 3));
    expect(bg.every((v) => v > 200)).toBe(true);
  });

  it('renders text with the shipped font (dark pixels in the title band)', async () => {
    const { svg } = await errorChartSvg(records(), { title: 'WWWW MMMM title' });
    const img = decode(svgToPng(svg, { scale: 1 }).png);
    const [, oy] = originOf(svg);
    let dark = 0;
    for (let y = 0; y < oy - 4; y++) for (let x = 0; x < img.width; x++) if (pixel(img, x, y)[0] < 80) dark++;
    expect(dark).toBeGreaterThan(100);
  });

  it('skips records without the metric and draws one panel per model', async () => {
    const recs = [...records(), { model: 'gmm:gmm-2d', solver: 'ddim', options: { eta: 1 }, nfe: 10, steps: 10, rmse: null }];
    recs.push(...records().map((r) => ({ ...r, model: 'data:digits' })));
    const { svg, skipped, series } = await errorChartSvg(recs);
    expect(skipped).toBe(1);
    expect(series).toEqual(['heun', 'ddim', 'iia:dpm-solver++2m']);
    expect(svg).toContain('>data:digits</text>');
    expect(svg).toContain('>gmm:gmm-2d</text>');
  });

  it('names a solver\'s variants when it has several (options, calibrated)', () => {
    const recs = [
      { solver: 'ddim', nfe: 5, rmse: 1 },
      { solver: 'ddim', nfe: 5, rmse: 2, options: { eta: 0.5 } },
      { solver: 'heun', nfe: 5, rmse: 1, calibration_seed: 1 },
    ];
    const p = errorPoints(recs, 'rmse');
    expect(p.points.map((q) => q.series)).toEqual(['ddim', 'ddim (eta=0.5)', 'heun']);
  });

  it('names the record and field of a bad value', () => {
    const recs = records();
    (recs[5] as Record<string, unknown>).rmse = 'x';
    expect(() => errorPoints(recs, 'rmse')).toThrow(/records\[5\]: rmse: expected a finite number, got string "x"/);
    const zero = records();
    zero[2].rmse = 0;
    expect(() => errorPoints(zero, 'rmse')).toThrow(/records\[2\]: rmse: expected a positive number for a log axis/);
    expect(() => errorPoints(zero, 'rmse', { logY: false })).not.toThrow();
    expect(() => errorPoints([{ solver: 'heun', rmse: 1 }], 'rmse')).toThrow(/records\[0\]: nfe: expected a positive number/);
    expect(() => errorPoints(records(), 'fid')).toThrow(/fid: no record has this field; numeric fields of records\[0\]: steps, nfe/);
    expect(() => recordsOf({ model: 'x' })).toThrow(UserError);
    expect(recordsOf({ records: [1] })).toEqual([1]);
  });
});

describe('residuals before and after IIA', () => {
  /** A file as `iia calibrate` writes it (src/iia/coefficients.ts), cut to what the figure reads plus context. */
  const coefficientFile = {
    format: 'iia-coefficients',
    schemaVersion: 1,
    solver: 'iia-edm',
    baseSolver: 'heun',
    model: { name: 'gmm:gmm-2d', fingerprint: 'sha256:' + '0'.repeat(64) },
    steps: 4,
    coefficients: [80, 10, 1, 0.1].map((sigma, i) => ({
      step: i,
      sigma,
      sigmaNext: [10, 1, 0.1, 0][i],
      names: ['d'],
      values: [1.1],
      defaults: [1],
      accepted: true,
      shrinkage: 0,
      residual: { calibration: { before: 10 ** -i, after: 10 ** (-i - 2) }, heldOut: { before: 1.1 * 10 ** -i, after: 2 * 10 ** (-i - 2) } },
    })),
    globalCheck: null,
  };

  it('reads a coefficient file and draws four curves', async () => {
    const table = residualTable(coefficientFile);
    expect(table.rows).toHaveLength(4);
    expect(table.rows[1]).toEqual({ step: 1, sigma: 10, before: 0.1, after: 0.001, heldOutBefore: 1.1 * 0.1, heldOutAfter: 2e-3 });
    expect(table.label).toBe('iia-edm, gmm:gmm-2d, 4 steps');
    const { svg, points, series } = await residualChartSvg(table.rows, {}, table.label);
    expect(points).toBe(16);
    expect(series).toEqual(['default coefficients (base solver)', 'IIA coefficients', 'out of fold (2-fold cross-validation)']);
    for (const s of [...series, 'calibration noises']) expect(svg.includes(`>${s}</text>`), s).toBe(true);
    expect(svg).toContain('Per-step residual before and after IIA — iia-edm, gmm:gmm-2d, 4 steps');
    // Log y: the calibration "before" curve falls by 10x per step, equally spaced.
    const before = pointsOf(svg).filter((p) => p.label.includes('default coefficients') && p.label.includes('calibration noises'));
    expect(before).toHaveLength(4);
    const dy = before.slice(1).map((p, i) => p.y - before[i].y);
    for (const d of dy) expect(d).toBeCloseTo(dy[0], 6);
    const img = decode(svgToPng(svg, { scale: 1 }).png);
    const [ox, oy] = originOf(svg);
    for (const p of pointsOf(svg)) expect(close(pixel(img, ox + p.x, oy + p.y), hex(p.fill), 60), p.label).toBe(true);
  });

  it('reads a plain table and leaves out missing held-out curves', async () => {
    const rows = residualTable([{ step: 0, sigma: 80, before: 1, after: 0.5 }, { step: 1, before: 0.5, after: 0.1 }]).rows;
    expect(rows).toEqual([{ step: 0, sigma: 80, before: 1, after: 0.5 }, { step: 1, before: 0.5, after: 0.1 }]);
    const { series, svg } = await residualChartSvg(rows);
    expect(series).toEqual(['default coefficients (base solver)', 'IIA coefficients']);
    expect(svg).not.toContain('held-out');
  });

  it('names the step and field of a bad entry', () => {
    const bad = structuredClone(coefficientFile) as { coefficients: { residual: { calibration: unknown } }[] };
    bad.coefficients[2].residual.calibration = { before: 1 };
    expect(() => residualTable(bad)).toThrow(/coefficients\[2\]\.residual\.calibration: expected a field "after"/);
    expect(() => residualTable([{ step: 0, before: 'a', after: 1 }])).toThrow(/\[0\]: before: expected a finite number/);
    expect(() => residualTable({ hello: 1 })).toThrow(/expected a coefficient file from iia calibrate/);
  });
});

describe('font', () => {
  it('measures DejaVu Sans advance widths from the shipped TTF', () => {
    const m = fontMetrics();
    // DejaVu Sans: 'm' is 1995/2048 em, 'i' 569/2048, space 651/2048; bold is wider.
    expect(m.regular.width('m')).toBeCloseTo(1995 / 2048, 6);
    expect(m.regular.width('i')).toBeCloseTo(569 / 2048, 6);
    expect(m.regular.width(' ')).toBeCloseTo(651 / 2048, 6);
    expect(textWidth('NFE', 10, true)).toBeGreaterThan(textWidth('NFE', 10));
    expect(textWidth('σ‖', 10)).toBeGreaterThan(0);
  });
});
