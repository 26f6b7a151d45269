// A denoiser with a finite receptive field: the local empirical denoiser. Output pixel p is the exact posterior mean
// of the clean pixel x_p given only the noisy K x K window W(p) around it (K = 2r + 1, all channels, clipped to the
// image), under the empirical distribution of the training images:
//   D(y; sigma)_p = sum_m softmax_m(-|y_W(p) - P_m|^2 / 2 sigma^2) c_m,
// where the candidates m are the training images' windows at p (or at p shifted by up to `shift` pixels) and c_m is
// the centre pixel of candidate m. Gaussian noise is independent per pixel, so this is E[x_p | y_W(p)] exactly (for
// shift = 0): the optimal denoiser that may only look at a window. Kamb & Ganguli 2024 ("An analytic theory of
// creativity in convolutional diffusion models") study the same local (and shift-equivariant) machines.
//
// Output pixel p depends on the input only within Chebyshev distance r of p, which is what spatially sparse editing
// (src/edit/) needs: `predictRegion` computes listed output tiles only, bit for bit as the dense call does (every
// pixel runs the same code in the same order whatever else is computed), and multiply-adds are counted exactly.
// Browser-safe; float64 arithmetic.
import type { Batch } from '../core/batch.js';
import type { GridPoint } from '../schedules/schedule.js';
import { predictionFromX0, type Denoiser, type Prediction } from './denoiser.js';

/** A partition of an H x W image into square output tiles of `size` pixels (the last row/column may be smaller). */
export interface Tiling {
  readonly height: number;
  readonly width: number;
  readonly size: number;
  /** Tiles per column and per row; tile id = ty * cols + tx. */
  readonly rows: number;
  readonly cols: number;
  readonly count: number;
}

export function makeTiling(height: number, width: number, size: number): Tiling {
  for (const [name, v] of [['height', height], ['width', width], ['tile size', size]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`patch-denoiser.ts: ${name} is ${v}; expected an integer >= 1`);
  }
  const rows = Math.ceil(height / size);
  const cols = Math.ceil(width / size);
  return { height, width, size, rows, cols, count: rows * cols };
}

/** Pixel bounds [y0, y1) x [x0, x1) of a tile. */
export function tileBounds(t: Tiling, tile: number): { y0: number; y1: number; x0: number; x1: number } {
  if (!Number.isInteger(tile) || tile < 0 || tile >= t.count) throw new Error(`patch-denoiser.ts: tile ${tile} is out of range 0..${t.count - 1}`);
  const ty = Math.floor(tile / t.cols), tx = tile % t.cols;
  const y0 = ty * t.size, x0 = tx * t.size;
  return { y0, y1: Math.min(t.height, y0 + t.size), x0, x1: Math.min(t.width, x0 + t.size) };
}

/**
 * A denoiser whose output pixel (i, j) depends only on input pixels within Chebyshev distance `receptiveRadius`,
 * and which can compute a subset of its output tiles. Samples are [C, H, W].
 */
export interface LocalDenoiser extends Denoiser {
  readonly receptiveRadius: number;
  readonly tiling: Tiling;
  /**
   * Data prediction on the listed output tiles only, for every sample of the flat batch `y` (n * C * H * W values),
   * written into `out` (same length; other pixels are left as they are). Returns the multiply-adds executed.
   * Each computed pixel is bit for bit what `predict` gives.
   */
  predictRegion(y: Float32Array, sigma: number, tiles: ArrayLike<number>, out: Float32Array): number;
  /** Multiply-adds of one sample's listed tiles at noise level sigma (0 at sigma = 0, where D(y) = y). */
  regionOps(tiles: ArrayLike<number>, sigma?: number): number;
  /** Multiply-adds of one dense call on one sample (sigma > 0). */
  denseOps(): number;
}

export function isLocalDenoiser(d: Denoiser): d is LocalDenoiser {
  const l = d as Partial<LocalDenoiser>;
  return typeof l.receptiveRadius === 'number' && typeof l.predictRegion === 'function' && typeof l.regionOps === 'function' && l.tiling !== undefined;
}

export interface LocalEmpiricalOptions {
  /** Window radius r (K = 2r + 1); the receptive field. Default 1. */
  radius?: number;
  /** Output tile size in pixels (the granularity of sparse recomputation). Default 4. */
  tile?: number;
  /** Candidate windows come from the training images at p shifted by up to `shift` pixels per axis. Default 0. */
  shift?: number;
  name?: string;
}

interface PixelWindow {
  /** Rows a0..a1 and columns b0..b1 (inclusive) of the window, clipped to the image. */
  a0: number;
  a1: number;
  b0: number;
  b1: number;
  /** Values in the window (rows x columns x C). */
  len: number;
  /** (di, dj) pairs: candidate windows at the same place shifted by (di, dj), all inside the image. */
  shifts: Int32Array;
}

function checkNonNegativeInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`patch-denoiser.ts: ${name} is ${v}; expected an integer >= ${min}`);
}

/** The local empirical denoiser (see the file comment). */
export class LocalEmpiricalDenoiser implements LocalDenoiser {
  readonly sampleShape: number[];
  readonly name: string;
  readonly receptiveRadius: number;
  readonly shift: number;
  readonly tiling: Tiling;
  /** Number of training images. */
  readonly count: number;
  private readonly C: number;
  private readonly H: number;
  private readonly W: number;
  /** Training images, pixel-interleaved (HWC) float64, so a window row is contiguous. */
  private readonly hwc: Float64Array;
  /** Per pixel: its clipped window and its candidates' shifts. */
  private readonly windows: PixelWindow[];
  /** Per pixel: multiply-adds of one evaluation (candidates x (window length + C)). */
  private readonly pixelOps: Float64Array;

  constructor(images: Float32Array, sampleShape: readonly number[], opts: LocalEmpiricalOptions = {}) {
    if (sampleShape.length !== 3 || sampleShape.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new Error(`patch-denoiser.ts: sampleShape must be [C, H, W] of positive integers, got [${sampleShape}]`);
    }
    const [C, H, W] = sampleShape;
    const dim = C * H * W;
    if (images.length === 0 || images.length % dim !== 0) {
      throw new Error(`patch-denoiser.ts: images has ${images.length} values, expected a positive multiple of the sample size ${dim}`);
    }
    const radius = opts.radius ?? 1;
    const tile = opts.tile ?? 4;
    const shift = opts.shift ?? 0;
    checkNonNegativeInt('radius', radius, 0);
    checkNonNegativeInt('tile', tile, 1);
    checkNonNegativeInt('shift', shift, 0);
    this.sampleShape = [C, H, W];
    this.C = C;
    this.H = H;
    this.W = W;
    this.count = images.length / dim;
    this.receptiveRadius = radius;
    this.shift = shift;
    this.tiling = makeTiling(H, W, tile);
    this.name = opts.name ?? `local-empirical(${this.count}, r=${radius}, tile=${tile}${shift ? `, shift=${shift}` : ''})`;
    this.hwc = new Float64Array(images.length);
    const plane = H * W;
    for (let n = 0; n < this.count; n++) {
      for (let c = 0; c < C; c++) {
        for (let p = 0; p < plane; p++) this.hwc[(n * plane + p) * C + c] = images[n * dim + c * plane + p];
      }
    }
    this.windows = [];
    this.pixelOps = new Float64Array(plane);
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        const w = this.window(i, j);
        this.windows.push(w);
        this.pixelOps[i * W + j] = this.count * (w.shifts.length / 2) * (w.len + C);
      }
    }
  }

  /** The window of pixel (i, j) clipped to the image, and the valid shifts of its candidates. */
  private window(i: number, j: number): PixelWindow {
    const { H, W, C, receptiveRadius: r, shift: S } = this;
    const a0 = Math.max(0, i - r), a1 = Math.min(H - 1, i + r);
    const b0 = Math.max(0, j - r), b1 = Math.min(W - 1, j + r);
    const list: number[] = [];
    for (let di = -S; di <= S; di++) {
      if (a0 + di < 0 || a1 + di > H - 1) continue;
      for (let dj = -S; dj <= S; dj++) {
        if (b0 + dj < 0 || b1 + dj > W - 1) continue;
        list.push(di, dj);
      }
    }
    return { a0, a1, b0, b1, len: (a1 - a0 + 1) * (b1 - b0 + 1) * C, shifts: Int32Array.from(list) };
  }

  denseOps(): number {
    let s = 0;
    for (let p = 0; p < this.pixelOps.length; p++) s += this.pixelOps[p];
    return s;
  }

  regionOps(tiles: ArrayLike<number>, sigma = 1): number {
    if (sigma === 0) return 0;
    let s = 0;
    for (let k = 0; k < tiles.length; k++) {
      const { y0, y1, x0, x1 } = tileBounds(this.tiling, tiles[k]);
      for (let i = y0; i < y1; i++) for (let j = x0; j < x1; j++) s += this.pixelOps[i * this.W + j];
    }
    return s;
  }

  async predict(y: Batch, at: GridPoint): Promise<Prediction> {
    const x0 = new Float32Array(y.data.length);
    const all = Int32Array.from({ length: this.tiling.count }, (_, k) => k);
    this.predictRegion(y.data, at.sigma, all, x0);
    return predictionFromX0(y.data, x0, at.sigma);
  }

  predictRegion(y: Float32Array, sigma: number, tiles: ArrayLike<number>, out: Float32Array): number {
    const { C, H, W, hwc, count } = this;
    const dim = C * H * W, plane = H * W;
    if (y.length % dim !== 0) throw new Error(`patch-denoiser.ts: batch has ${y.length} values, not a multiple of the sample size ${dim}`);
    if (out.length !== y.length) throw new Error(`patch-denoiser.ts: out has ${out.length} values, expected ${y.length} (as y)`);
    if (!(sigma >= 0)) throw new Error(`patch-denoiser.ts: sigma must be >= 0, got ${sigma}`);
    const bounds = Array.from({ length: tiles.length }, (_, k) => tileBounds(this.tiling, tiles[k]));
    const n = y.length / dim;
    if (sigma === 0) {
      for (let s = 0; s < n; s++) {
        for (const { y0, y1, x0, x1 } of bounds) {
          for (let c = 0; c < C; c++) {
            for (let i = y0; i < y1; i++) {
              for (let j = x0; j < x1; j++) {
                const q = s * dim + c * plane + i * W + j;
                out[q] = y[q];
              }
            }
          }
        }
      }
      return 0;
    }
    const inv2var = 1 / (2 * sigma * sigma);
    const maxShifts = (2 * this.shift + 1) ** 2;
    const logits = new Float64Array(count * maxShifts);
    const yh = new Float64Array(dim);
    const acc = new Float64Array(C);
    let ops = 0;
    for (let s = 0; s < n; s++) {
      // The sample in HWC, float64 (a layout copy: no arithmetic).
      for (let c = 0; c < C; c++) for (let p = 0; p < plane; p++) yh[p * C + c] = y[s * dim + c * plane + p];
      for (const { y0, y1, x0, x1 } of bounds) {
        for (let i = y0; i < y1; i++) {
          for (let j = x0; j < x1; j++) {
            const { a0, a1, b0, b1, len, shifts } = this.windows[i * W + j];
            const rowLen = (b1 - b0 + 1) * C;
            const nShifts = shifts.length / 2;
            // logits_m = -|y_W - P_m|^2 / (2 sigma^2): one multiply-add per window value.
            let m = 0, max = -Infinity;
            for (let t = 0; t < count; t++) {
              const img = t * plane * C;
              for (let k = 0; k < nShifts; k++) {
                const di = shifts[2 * k], dj = shifts[2 * k + 1];
                let d2 = 0;
                for (let a = a0; a <= a1; a++) {
                  const yo = (a * W + b0) * C;
                  const to = img + ((a + di) * W + b0 + dj) * C;
                  for (let e = 0; e < rowLen; e++) {
                    const d = yh[yo + e] - hwc[to + e];
                    d2 += d * d;
                  }
                }
                const l = -d2 * inv2var;
                logits[m++] = l;
                if (l > max) max = l;
              }
            }
            // Softmax-weighted mean of the candidates' centre pixels: C multiply-adds per candidate.
            acc.fill(0);
            let total = 0;
            m = 0;
            for (let t = 0; t < count; t++) {
              const img = t * plane * C;
              for (let k = 0; k < nShifts; k++) {
                const w = Math.exp(logits[m++] - max);
                total += w;
                const co = img + ((i + shifts[2 * k]) * W + j + shifts[2 * k + 1]) * C;
                for (let c = 0; c < C; c++) acc[c] += w * hwc[co + c];
              }
            }
            ops += count * nShifts * (len + C);
            for (let c = 0; c < C; c++) out[s * dim + c * plane + i * W + j] = acc[c] / total;
          }
        }
      }
    }
    return ops;
  }
}
