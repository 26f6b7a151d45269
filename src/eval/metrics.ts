// Metrics of a set of samples: errors against the reference ODE solution of the same noises, and distribution
// metrics against known truth (the exact mixture; the training images of an exact empirical model). All sums in
// float64. Browser-safe.
import { sampleNormals } from '../core/rng.js';
import type { GaussianMixture } from '../models/gmm.js';
import { rp64Features, RP64_DIM } from './features.js';
import { columnMeans, covariance, dotRows, traceSqrtProduct } from './linalg.js';

function checkPair(a: ArrayLike<number>, b: ArrayLike<number>, dim: number, where: string): number {
  if (!(Number.isInteger(dim) && dim > 0)) throw new Error(`metrics.ts: ${where}: sample size must be a positive integer, got ${dim}`);
  if (a.length !== b.length) throw new Error(`metrics.ts: ${where}: the sets have ${a.length} and ${b.length} values; expected the same`);
  if (a.length === 0 || a.length % dim !== 0) throw new Error(`metrics.ts: ${where}: ${a.length} values are not a positive whole number of samples of ${dim}`);
  return a.length / dim;
}

/** Root-mean-square of each sample's difference: sqrt(mean_i (a_i - b_i)^2) over that sample's dim values. */
export function perSampleRms(a: ArrayLike<number>, b: ArrayLike<number>, dim: number): Float64Array {
  const n = checkPair(a, b, dim, 'perSampleRms');
  const out = new Float64Array(n);
  for (let s = 0; s < n; s++) {
    let acc = 0;
    for (let i = s * dim; i < (s + 1) * dim; i++) {
      const d = a[i] - b[i];
      acc += d * d;
    }
    out[s] = Math.sqrt(acc / dim);
  }
  return out;
}

/** rmse = sqrt of the mean over all samples and coordinates of (a - b)^2. */
export function rmse(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkPair(a, b, 1, 'rmse');
  let acc = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    acc += d * d;
  }
  return Math.sqrt(acc / a.length);
}

/** Median of the values (mean of the two middle ones for an even count). */
export function median(v: ArrayLike<number>): number {
  if (v.length === 0) throw new Error('metrics.ts: median of an empty set');
  const s = Float64Array.from(v).sort();
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : 0.5 * (s[m - 1] + s[m]);
}

/** median_error = the median over samples of each sample's RMS difference. */
export function medianError(a: ArrayLike<number>, b: ArrayLike<number>, dim: number): number {
  return median(perSampleRms(a, b, dim));
}

/** PSNR in dB for an RMS error: 20 log10(peak-to-peak / rmse); images in [-1, 1] have peak-to-peak 2. */
export function psnr(rmsError: number, peakToPeak = 2): number {
  if (!(rmsError >= 0)) throw new Error(`metrics.ts: psnr: rmse must be >= 0, got ${rmsError}`);
  return 20 * Math.log10(peakToPeak / rmsError);
}

/** Mean over samples of the exact log-density of the mixture (nats per sample). */
export function gmmLogLikelihood(g: GaussianMixture, samples: ArrayLike<number>): number {
  const ll = g.logDensity(samples);
  let s = 0;
  for (const v of ll) s += v;
  return s / ll.length;
}

/**
 * Mode-assignment accuracy: the fraction of samples whose most responsible mode (GaussianMixture.classify at
 * sigma 0) equals that of the reference endpoint from the same initial noise. 1 means no sample changed basin.
 */
export function modeAccuracy(g: GaussianMixture, samples: ArrayLike<number>, reference: ArrayLike<number>): number {
  checkPair(samples, reference, g.D, 'modeAccuracy');
  const a = g.classify(samples), b = g.classify(reference);
  let hit = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) hit++;
  return hit / a.length;
}

/** Total variation between the samples' mode frequencies (classify) and the mixture weights: 0.5 sum_k |f_k - w_k|. */
export function modeTotalVariation(g: GaussianMixture, samples: ArrayLike<number>): number {
  const labels = g.classify(samples);
  const f = new Float64Array(g.K);
  for (const k of labels) f[k] += 1 / labels.length;
  let tv = 0;
  for (let k = 0; k < g.K; k++) tv += Math.abs(f[k] - g.weights[k]);
  return tv / 2;
}

/** Squared 1-D Wasserstein-2 distance between two empirical distributions given as sorted values (quantile coupling). */
export function w2Squared1d(a: Float64Array, b: Float64Array): number {
  const n = a.length, m = b.length;
  if (n === 0 || m === 0) throw new Error('metrics.ts: W2 of an empty set');
  if (n === m) {
    let s = 0;
    for (let i = 0; i < n; i++) s += (a[i] - b[i]) ** 2;
    return s / n;
  }
  // W2^2 = int_0^1 (F_a^-1(t) - F_b^-1(t))^2 dt, both quantile functions piecewise constant.
  let i = 0, j = 0, t = 0, s = 0;
  while (i < n && j < m) {
    const ta = (i + 1) / n, tb = (j + 1) / m;
    const next = Math.min(ta, tb);
    s += (next - t) * (a[i] - b[j]) ** 2;
    t = next;
    if (ta <= next) i++;
    if (tb <= next) j++;
  }
  return s;
}

/** Philox stream of the sliced-W2 directions (far from solver streams and from the GMM's exact-sampling streams). */
export const SW2_STREAM = 0xfffffff8;

export interface SlicedW2Options {
  /** Number of random directions (default 128). */
  projections?: number;
  /** Seed of the directions (default 0). */
  seed?: number;
}

/**
 * Sliced Wasserstein-2 distance (Rabin et al. 2011; Bonneel et al. 2015): sqrt of the mean over random unit
 * directions theta of W2^2 between the 1-D projections theta . a and theta . b, each by sorting. Directions are
 * normalised Gaussian vectors from the seeded Philox generator (direction k = "sample" k of the seed). The sets may
 * differ in size.
 */
export function slicedW2(a: ArrayLike<number>, b: ArrayLike<number>, dim: number, opts: SlicedW2Options = {}): number {
  const projections = opts.projections ?? 128;
  if (!(Number.isInteger(projections) && projections > 0)) throw new Error(`metrics.ts: slicedW2: projections must be a positive integer, got ${projections}`);
  if (a.length % dim !== 0 || b.length % dim !== 0 || a.length === 0 || b.length === 0) {
    throw new Error(`metrics.ts: slicedW2: ${a.length} and ${b.length} values are not whole numbers of samples of ${dim}`);
  }
  const n = a.length / dim, m = b.length / dim;
  const theta = new Float64Array(dim);
  const pa = new Float64Array(n), pb = new Float64Array(m);
  let total = 0;
  for (let k = 0; k < projections; k++) {
    sampleNormals(opts.seed ?? 0, k, dim, SW2_STREAM, theta);
    let norm = 0;
    for (let i = 0; i < dim; i++) norm += theta[i] * theta[i];
    norm = Math.sqrt(norm);
    for (let i = 0; i < dim; i++) theta[i] /= norm;
    for (let s = 0; s < n; s++) {
      let p = 0;
      for (let i = 0; i < dim; i++) p += theta[i] * a[s * dim + i];
      pa[s] = p;
    }
    for (let s = 0; s < m; s++) {
      let p = 0;
      for (let i = 0; i < dim; i++) p += theta[i] * b[s * dim + i];
      pb[s] = p;
    }
    pa.sort();
    pb.sort();
    total += w2Squared1d(pa, pb);
  }
  return Math.sqrt(total / projections);
}

export interface NearestImage {
  /** Per sample: RMS distance sqrt(min_n |x - Y_n|^2 / dim) to the nearest training image. */
  distances: Float64Array;
  /** Index of that image. */
  index: Int32Array;
  mean: number;
  median: number;
}

const tables = new WeakMap<object, { dim: number; img: Float64Array; sq: Float64Array }>();

/** Training images in float64 with their squared norms, cached per array (evaluate reuses one set for every record). */
function imageTable(images: ArrayLike<number>, dim: number): { img: Float64Array; sq: Float64Array } {
  const hit = tables.get(images as object);
  if (hit && hit.dim === dim && hit.img.length === images.length) return hit;
  const img = Float64Array.from(images);
  const count = img.length / dim;
  const sq = new Float64Array(count);
  for (let j = 0; j < count; j++) {
    let s = 0;
    for (let i = 0; i < dim; i++) s += img[j * dim + i] ** 2;
    sq[j] = s;
  }
  const entry = { dim, img, sq };
  tables.set(images as object, entry);
  return entry;
}

/** Distance from each sample to its nearest training image (exact search, float64). */
export function nearestImage(samples: ArrayLike<number>, images: ArrayLike<number>, dim: number): NearestImage {
  if (samples.length % dim !== 0 || images.length % dim !== 0 || images.length === 0) {
    throw new Error(`metrics.ts: nearestImage: ${samples.length} sample values and ${images.length} image values are not whole numbers of samples of ${dim}`);
  }
  const n = samples.length / dim, count = images.length / dim;
  const { img, sq } = imageTable(images, dim);
  const distances = new Float64Array(n);
  const index = new Int32Array(n);
  const block = 64;
  const x = new Float64Array(block * dim);
  const dots = new Float64Array(block * count);
  for (let s0 = 0; s0 < n; s0 += block) {
    const rows = Math.min(block, n - s0);
    for (let i = 0; i < rows * dim; i++) x[i] = samples[s0 * dim + i];
    dotRows(x, rows, img, count, dim, dots);
    for (let r = 0; r < rows; r++) {
      // |x - Y_j|^2 = |x|^2 - 2 x.Y_j + |Y_j|^2; |x|^2 does not change the arg min.
      let best = Infinity, arg = 0;
      for (let j = 0; j < count; j++) {
        const d2 = sq[j] - 2 * dots[r * count + j];
        if (d2 < best) {
          best = d2;
          arg = j;
        }
      }
      // The winner's distance directly (the expanded form loses digits near 0).
      let d2 = 0;
      for (let i = 0; i < dim; i++) d2 += (x[r * dim + i] - img[arg * dim + i]) ** 2;
      distances[s0 + r] = Math.sqrt(d2 / dim);
      index[s0 + r] = arg;
    }
  }
  let mean = 0;
  for (const d of distances) mean += d / n;
  return { distances, index, mean, median: median(distances) };
}

/** A feature set with the statistics FD and KID need, computed once (the training images' set is reused). */
export interface FeatureSet {
  features: Float64Array;
  n: number;
  d: number;
  mean: Float64Array;
  cov: Float64Array;
  /** sum_{i < j} k(f_i, f_j) with the KID kernel. */
  selfKernel: number;
}

/** (x.y / d + 1)^3, the KID polynomial kernel (Binkowski et al. 2018, Sec. 4). */
function kidKernel(x: Float64Array, i: number, y: Float64Array, j: number, d: number): number {
  let dot = 0;
  for (let t = 0; t < d; t++) dot += x[i * d + t] * y[j * d + t];
  const b = dot / d + 1;
  return b * b * b;
}

export function featureSet(features: ArrayLike<number>, d: number): FeatureSet {
  if (!(Number.isInteger(d) && d > 0) || features.length % d !== 0) throw new Error(`metrics.ts: featureSet: ${features.length} values are not rows of ${d} features`);
  const f = Float64Array.from(features);
  const n = f.length / d;
  if (n < 2) throw new Error(`metrics.ts: FD and KID need at least 2 samples, got ${n}`);
  const mean = columnMeans(f, n, d);
  let selfKernel = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) selfKernel += kidKernel(f, i, f, j, d);
  return { features: f, n, d, mean, cov: covariance(f, n, d, mean), selfKernel };
}

/**
 * Frechet distance between Gaussians fitted to two feature sets (Dowson & Landau 1982; as FID, Heusel et al. 2017):
 * |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), unbiased covariances, the root by Jacobi eigendecompositions.
 */
export function frechetDistanceSets(a: FeatureSet, b: FeatureSet): number {
  if (a.d !== b.d) throw new Error(`metrics.ts: frechetDistance: feature dimensions ${a.d} and ${b.d} differ`);
  const d = a.d;
  let dm = 0, tr = 0;
  for (let i = 0; i < d; i++) {
    dm += (a.mean[i] - b.mean[i]) ** 2;
    tr += a.cov[i * d + i] + b.cov[i * d + i];
  }
  return dm + tr - 2 * traceSqrtProduct(a.cov, b.cov, d);
}

/**
 * Kernel distance as KID (Binkowski et al. 2018, "Demystifying MMD GANs", Sec. 4): the unbiased estimate of MMD^2
 * (Gretton et al. 2012, eq. 3) with the polynomial kernel k(x, y) = (x.y / d + 1)^3, over the full sets.
 */
export function kernelDistanceSets(a: FeatureSet, b: FeatureSet): number {
  if (a.d !== b.d) throw new Error(`metrics.ts: kernelDistance: feature dimensions ${a.d} and ${b.d} differ`);
  let kxy = 0;
  for (let i = 0; i < a.n; i++) for (let j = 0; j < b.n; j++) kxy += kidKernel(a.features, i, b.features, j, a.d);
  return (2 * a.selfKernel) / (a.n * (a.n - 1)) + (2 * b.selfKernel) / (b.n * (b.n - 1)) - (2 * kxy) / (a.n * b.n);
}

/** Frechet distance between two n x d feature matrices (see frechetDistanceSets). */
export function frechetDistance(f1: ArrayLike<number>, f2: ArrayLike<number>, d: number): number {
  return frechetDistanceSets(featureSet(f1, d), featureSet(f2, d));
}

/** KID-style unbiased MMD^2 between two n x d feature matrices (see kernelDistanceSets). */
export function kernelDistance(f1: ArrayLike<number>, f2: ArrayLike<number>, d: number): number {
  return kernelDistanceSets(featureSet(f1, d), featureSet(f2, d));
}

/** RP64 features of a set of images with their FD/KID statistics (features.ts; not Inception). */
export function rp64Set(images: ArrayLike<number>, sampleShape: readonly number[]): FeatureSet {
  return featureSet(rp64Features(images, sampleShape), RP64_DIM);
}

/** FD-RP64 and KID-RP64 of samples against reference images (a precomputed set, or raw images). */
export function imageDistances(samples: ArrayLike<number>, reference: FeatureSet | ArrayLike<number>, sampleShape: readonly number[]): { fd_rp64: number; kid_rp64: number } {
  const a = rp64Set(samples, sampleShape);
  const b = 'features' in reference ? (reference as FeatureSet) : rp64Set(reference as ArrayLike<number>, sampleShape);
  return { fd_rp64: frechetDistanceSets(a, b), kid_rp64: kernelDistanceSets(a, b) };
}
