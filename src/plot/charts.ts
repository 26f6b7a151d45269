// The figures of the IIA papers as Vega-Lite specs: error against NFE on log-log axes, one line per solver (IIA
// paper, Figures 2-4), and the per-step least-squares residual of a calibration before and after IIA. The *Spec
// functions return plain Vega-Lite JSON; errorChartSvg / residualChartSvg render it through render.ts.
import type { TopLevelSpec } from 'vega-lite';
import { UserError } from '../io/errors.js';
import { errorPoints, LINEAR_METRICS, METRIC_LABELS, type ErrorPoint, type ResidualRow } from './data.js';
import { BASE_CONFIG, vegaLiteToSvg } from './render.js';

export type AxisScale = 'log' | 'linear';

export interface ErrorChartOptions {
  /** Field of the records on the y axis (default 'rmse'). */
  metric?: string;
  /** x axis: 'nfe' (default) or 'steps'. */
  x?: 'nfe' | 'steps';
  /** y scale (default log, linear for psnr, loglik, mode_accuracy, kid_rp64). The x axis is always log. */
  yScale?: AxisScale;
  title?: string;
  /** Size of one panel in px (default 360 x 280). */
  width?: number;
  height?: number;
}

export interface ChartResult {
  spec: TopLevelSpec;
  /** Solver lines (error chart) or curves (residual chart), in legend order. */
  series: string[];
  points: number;
  /** Records without the metric (stochastic runs), not drawn. */
  skipped: number;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/**
 * Tick labels of a log axis: plain numbers from 0.001 to 9999, powers of ten as 1e-6 beyond; vega's own choice of
 * which ticks get a label (datum.label empty otherwise) is kept.
 */
const LOG_LABELS = "datum.label === '' ? '' : abs(datum.value) >= 0.001 && abs(datum.value) < 10000 ? format(datum.value, '~g') : format(datum.value, '.0e')";

function distinctSorted(values: number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

/** Error against NFE, one line with markers per solver; one panel per model when the records hold several. */
export function errorChartSpec(records: readonly unknown[], o: ErrorChartOptions = {}): ChartResult {
  const metric = o.metric ?? 'rmse';
  const yScale = o.yScale ?? (LINEAR_METRICS.has(metric) ? 'linear' : 'log');
  const xField = o.x ?? 'nfe';
  const { points, skipped } = errorPoints(records, metric, { x: xField, logY: yScale === 'log' });
  if (points.length === 0) {
    throw new UserError([metric], `no record has a value (all ${skipped} are null, as for stochastic runs, which have no error against the reference)`);
  }
  const models = [...new Set(points.map((p) => p.model))];
  const series = [...new Set(points.map((p) => p.series))];
  const xs = distinctSorted(points.map((p) => p.x));
  const metricLabel = METRIC_LABELS[metric] ?? metric;
  const xLabel = xField === 'nfe' ? 'NFE (network evaluations per sample)' : 'solver steps';
  const title = o.title ?? `${metricLabel} vs ${xField === 'nfe' ? 'NFE' : 'steps'}${models.length === 1 && models[0] ? ` — ${models[0]}` : ''}`;
  const data = points.map((p: ErrorPoint) => ({ ...p }));
  const encoding = {
    x: {
      field: 'x',
      type: 'quantitative' as const,
      title: xLabel,
      scale: { type: 'log' as const, nice: false, padding: 14 },
      // The run's own NFEs as ticks (the papers' figures do the same) when there are few of them.
      axis: xs.length <= 16 ? { values: xs, format: 'd', grid: true } : { format: '~g' },
    },
    y: {
      field: 'value',
      type: 'quantitative' as const,
      title: metricLabel,
      scale: yScale === 'log' ? { type: 'log' as const, nice: false, padding: 14 } : { type: 'linear' as const, zero: false, nice: true },
      axis: yScale === 'log' ? { format: '~g', labelExpr: LOG_LABELS } : {},
    },
    color: { field: 'series', type: 'nominal' as const, title: 'solver', sort: series },
    shape: { field: 'series', type: 'nominal' as const, title: 'solver', sort: series },
    tooltip: [
      { field: 'series', title: 'solver' },
      { field: 'x', title: xField },
      { field: 'value', title: metric, format: '.4g' },
    ],
  };
  const layer = {
    width: o.width ?? 360,
    height: o.height ?? 280,
    mark: { type: 'line' as const, strokeWidth: 2, point: { filled: true, size: 60 } },
    encoding,
  };
  const spec =
    models.length > 1
      ? ({
          $schema: SCHEMA,
          title,
          data: { values: data },
          facet: { column: { field: 'model', type: 'nominal', title: null, sort: models } },
          spec: layer,
          resolve: { scale: { y: 'independent' } },
          config: BASE_CONFIG,
        } as TopLevelSpec)
      : ({ $schema: SCHEMA, title, data: { values: data }, ...layer, config: BASE_CONFIG } as TopLevelSpec);
  return { spec, series, points: points.length, skipped };
}

export interface ResidualChartOptions {
  title?: string;
  /** y scale (default log). */
  yScale?: AxisScale;
  /** Draw the held-out curves when the table has them (default true). */
  heldOut?: boolean;
  width?: number;
  height?: number;
}

const DEFAULT_CURVE = 'default coefficients (base solver)';
const IIA_CURVE = 'IIA coefficients';
const FIT_SET = 'calibration noises';
const HELD_OUT_SET = 'out of fold (2-fold cross-validation)';

function sigmaText(s: number): string {
  return s >= 100 ? s.toFixed(0) : Number(s.toPrecision(3)).toString();
}

/** Per-step residual with the default and with the fitted coefficients; dashed lines on held-out noises. */
export function residualChartSpec(rows: readonly ResidualRow[], o: ResidualChartOptions = {}, label?: string): ChartResult {
  const yScale = o.yScale ?? 'log';
  if (rows.length === 0) throw new UserError(['residuals'], 'expected at least one step');
  const data: { key: string; coefficients: string; noises: string; value: number; step: number; sigma?: number }[] = [];
  const keys: string[] = [];
  const wantHeldOut = o.heldOut ?? true;
  let dropped = 0;
  for (const r of rows) {
    // Tick label: the step, and its sigma on a second line when known.
    const key = r.sigma !== undefined ? `${r.step}|σ ${sigmaText(r.sigma)}` : `${r.step}`;
    keys.push(key);
    const add = (coefficients: string, noises: string, v: number | undefined): void => {
      if (v === undefined) return;
      if (yScale === 'log' && !(v > 0)) {
        dropped++; // an exactly-zero residual has no place on a log axis
        return;
      }
      data.push({ key, coefficients, noises, value: v, step: r.step, ...(r.sigma !== undefined ? { sigma: r.sigma } : {}) });
    };
    add(DEFAULT_CURVE, FIT_SET, r.before);
    add(IIA_CURVE, FIT_SET, r.after);
    if (wantHeldOut) {
      add(DEFAULT_CURVE, HELD_OUT_SET, r.heldOutBefore);
      add(IIA_CURVE, HELD_OUT_SET, r.heldOutAfter);
    }
  }
  if (data.length === 0) throw new UserError(['residuals'], `no positive residual to draw on a log axis (${dropped} are 0); use a linear y scale`);
  if (new Set(keys).size !== keys.length) throw new UserError(['residuals'], 'expected each step once; some step index appears twice');
  const hasHeldOut = data.some((d) => d.noises === HELD_OUT_SET);
  const curves = [DEFAULT_CURVE, IIA_CURVE];
  const spec = {
    $schema: SCHEMA,
    title: o.title ?? `Per-step residual before and after IIA${label ? ` — ${label}` : ''}`,
    data: { values: data },
    width: o.width ?? Math.max(320, Math.min(720, 44 * rows.length)),
    height: o.height ?? 280,
    mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 50 } },
    encoding: {
      x: {
        field: 'key',
        type: 'ordinal',
        title: rows.some((r) => r.sigma !== undefined) ? 'step (sigma at its start)' : 'step',
        scale: { domain: keys },
        axis: { labelAngle: 0, labelExpr: "split(datum.label, '|')", grid: true },
      },
      y: {
        field: 'value',
        type: 'quantitative',
        title: 'residual ‖fine − step‖² per sample',
        scale: yScale === 'log' ? { type: 'log', nice: false, padding: 14 } : { type: 'linear', zero: true },
        axis: yScale === 'log' ? { format: '~g', labelExpr: LOG_LABELS } : {},
      },
      color: { field: 'coefficients', type: 'nominal', title: null, sort: curves, scale: { domain: curves, range: ['#d62728', '#1f77b4'] } },
      shape: { field: 'coefficients', type: 'nominal', title: null, sort: curves, scale: { domain: curves } },
      ...(hasHeldOut
        ? { strokeDash: { field: 'noises', type: 'nominal', title: null, scale: { domain: [FIT_SET, HELD_OUT_SET], range: [[1, 0], [6, 4]] },
              // Show the dash pattern itself in the legend, not the point markers.
              legend: { symbolType: 'stroke', symbolSize: 400, symbolStrokeWidth: 2, encode: { symbols: { update: { stroke: { value: '#444' } } } } },
            },
          }
        : {}),
      detail: { field: 'noises' },
      tooltip: [
        { field: 'step' },
        { field: 'coefficients' },
        { field: 'noises' },
        { field: 'value', title: 'residual', format: '.4g' },
      ],
    },
    config: BASE_CONFIG,
  } as unknown as TopLevelSpec;
  return { spec, series: hasHeldOut ? [...curves, HELD_OUT_SET] : curves, points: data.length, skipped: dropped };
}

/** Error against NFE as an SVG string. */
export async function errorChartSvg(records: readonly unknown[], o: ErrorChartOptions = {}): Promise<{ svg: string } & ChartResult> {
  const r = errorChartSpec(records, o);
  return { ...r, svg: await vegaLiteToSvg(r.spec) };
}

/** Residuals before/after IIA as an SVG string. */
export async function residualChartSvg(rows: readonly ResidualRow[], o: ResidualChartOptions = {}, label?: string): Promise<{ svg: string } & ChartResult> {
  const r = residualChartSpec(rows, o, label);
  return { ...r, svg: await vegaLiteToSvg(r.spec) };
}
