// Spatially sparse SDEdit (after Li et al. 2022, "Efficient Spatially Sparse Inference for Conditional GANs and
// Diffusion Models", SIGE): the original image's run is made once, densely, and every model call's input and output
// are cached. The edited image's run shares its noise; at every model call it recomputes only the output tiles that
// the edit can reach and takes the original's cached outputs everywhere else.
//
// SIGE recomputes a fixed dilated mask at every layer and accepts that the result is approximate. Here the mask of
// call k is the exact dependency cone of the change (dilated by the model's receptive radius per call, mask.ts), so
// for a model with a finite receptive field the sparse result equals the dense edited run bit for bit (`adaptive`
// narrows it, exactly, to the pixels near a real difference from the cached state). A model with no finite receptive
// field (the exact empirical and GMM denoisers, ONNX networks: every output pixel reads every input pixel) runs
// densely, and the result says so. Browser-safe.
import { predictionFromX0, type Denoiser, type Prediction } from '../models/denoiser.js';
import { isLocalDenoiser, tileBounds, type LocalDenoiser } from '../models/patch-denoiser.js';
import type { Batch } from '../core/batch.js';
import type { GridPoint, Schedule } from '../schedules/schedule.js';
import type { Solver } from '../solvers/solver.js';
import { dependencyCone, differenceMask, dilateMask, maskCount, tilePixels, tilesTouching } from './mask.js';
import { runSdedit, sdeditGrid } from './sdedit.js';

/** One cached model call of the original run. */
export interface CallRecord {
  sigma: number;
  /** The state the model was called on, and its data prediction (copies). */
  y: Float32Array;
  x0: Float32Array;
}

/** A denoiser wrapper that records every call's input and output (the original run's cache). */
export class RecordingDenoiser implements Denoiser {
  readonly records: CallRecord[] = [];
  readonly sampleShape: number[];
  readonly name: string;
  readonly evaluationsPerCall?: number;

  constructor(readonly inner: Denoiser) {
    this.sampleShape = inner.sampleShape;
    this.name = inner.name;
    this.evaluationsPerCall = inner.evaluationsPerCall;
  }

  async predict(y: Batch, at: GridPoint): Promise<Prediction> {
    const p = await this.inner.predict(y, at);
    this.records.push({ sigma: at.sigma, y: y.data.slice(), x0: p.x0.slice() });
    return p;
  }
}

/** Model work of one call of the edited run. */
export interface EditCallStats {
  sigma: number;
  /** Pixels whose output may differ from the original's (the dependency cone at this call; with a fixed dilation, that mask). */
  conePixels: number;
  /** Pixels where the state given to this call differs from the original's (bitwise). */
  changedPixels: number;
  /** Tiles recomputed, of `tiles`; the pixels they cover. */
  recomputedTiles: number;
  tiles: number;
  recomputedPixels: number;
  /** Multiply-adds executed, and what the dense call costs. */
  ops: number;
  denseOps: number;
}

/** True when two float32 arrays hold the same bits (so -0 differs from 0, unlike ===). */
function sameBits(a: Float32Array, b: Float32Array, index: number): boolean {
  return a[index] === b[index] && (a[index] !== 0 || Object.is(a[index], b[index]));
}

/**
 * The edited run's model: at call k, recomputes the tiles touching the cone's output mask of call k and takes the
 * original's cached prediction elsewhere. It checks that the state it is given equals the original's cached state
 * outside the cone's input mask (the premise of the reuse); a solver that mixes pixels would fail this check.
 */
export class SparseReplayDenoiser implements Denoiser {
  readonly sampleShape: number[];
  readonly name: string;
  readonly stats: EditCallStats[] = [];
  private readonly cone: { inputs: Uint8Array[]; outputs: Uint8Array[] };
  private readonly tiles: Int32Array[];
  private readonly adaptive: boolean;

  /**
   * @param mask0 the difference mask of the two images (H * W).
   * @param options.dilation undefined: the exact dependency cone (the result equals the dense edited run). A number
   *   D: SIGE's approximation, one fixed mask (mask0 dilated by D pixels) at every call; outside it the original's
   *   values are kept, so the result is the dense one only near the edit.
   * @param options.adaptive with the exact cone: recompute only the tiles within the receptive radius of a pixel
   *   where the state really differs from the original's (bitwise) at this call, a subset of the cone. Still exact:
   *   an output whose whole window equals the original's is the original's output.
   */
  constructor(
    readonly model: LocalDenoiser,
    readonly records: readonly CallRecord[],
    mask0: Uint8Array,
    options: { dilation?: number; adaptive?: boolean } = {},
  ) {
    const { dilation } = options;
    this.adaptive = (options.adaptive ?? false) && dilation === undefined;
    this.sampleShape = model.sampleShape;
    this.name = `sparse(${model.name})`;
    const { height, width } = model.tiling;
    if (dilation === undefined) {
      this.cone = dependencyCone(mask0, height, width, model.receptiveRadius, records.length);
      this.tiles = this.cone.outputs.map((m) => tilesTouching(m, model.tiling));
    } else {
      const fixed = dilateMask(mask0, height, width, dilation);
      const tiles = tilesTouching(fixed, model.tiling);
      // The state can differ from the original's only where outputs were recomputed (and on the edit itself).
      const covered = tileMask(tiles, model.tiling);
      for (let p = 0; p < covered.length; p++) covered[p] |= mask0[p];
      this.cone = { inputs: records.map(() => covered), outputs: records.map(() => fixed) };
      this.tiles = records.map(() => tiles);
    }
  }

  /** The tiles call k recomputes (adaptive: at most) and the cone's masks at that call, planned before the run. */
  plan(k: number): { tiles: Int32Array; input: Uint8Array; output: Uint8Array } {
    return { tiles: this.tiles[k], input: this.cone.inputs[k], output: this.cone.outputs[k] };
  }

  async predict(y: Batch, at: GridPoint): Promise<Prediction> {
    const k = this.stats.length;
    const rec = this.records[k];
    if (!rec) throw new Error(`sparse.ts: the edited run makes more model calls than the original run (${this.records.length}); the runs must use the same solver and grid`);
    if (rec.sigma !== at.sigma) {
      throw new Error(`sparse.ts: model call ${k} is at sigma ${at.sigma}, the original's at ${rec.sigma}; the runs must use the same solver and grid`);
    }
    if (y.data.length !== rec.y.length) throw new Error(`sparse.ts: model call ${k} has ${y.data.length} values, the original's ${rec.y.length} (one image per run)`);
    const input = this.cone.inputs[k];
    const plane = input.length;
    // Where the state really differs from the original's; it must lie inside the cone (the premise of the reuse).
    const changed = new Uint8Array(plane);
    for (let q = 0; q < y.data.length; q++) if (!sameBits(y.data, rec.y, q)) changed[q % plane] = 1;
    for (let p = 0; p < plane; p++) {
      if (changed[p] && !input[p]) {
        throw new Error(
          `sparse.ts: at model call ${k} the edited state differs from the original's at pixel ${p}, outside the dependency cone; ` +
            'the solver is not pixel-wise (run the edit densely)',
        );
      }
    }
    const { tiling, receptiveRadius } = this.model;
    const tiles = this.adaptive ? tilesTouching(dilateMask(changed, tiling.height, tiling.width, receptiveRadius), tiling) : this.tiles[k];
    const out = rec.x0.slice();
    const ops = this.model.predictRegion(y.data, at.sigma, tiles, out);
    this.stats.push({
      sigma: at.sigma,
      conePixels: maskCount(this.cone.outputs[k]),
      changedPixels: maskCount(changed),
      recomputedTiles: tiles.length,
      tiles: this.model.tiling.count,
      recomputedPixels: tilePixels(tiles, this.model.tiling),
      ops,
      denseOps: this.model.regionOps(allTiles(this.model), at.sigma),
    });
    return predictionFromX0(y.data, out, at.sigma);
  }
}

/** The pixels of a set of tiles as a mask. */
function tileMask(tiles: Int32Array, tiling: LocalDenoiser['tiling']): Uint8Array {
  const m = new Uint8Array(tiling.height * tiling.width);
  for (const t of tiles) {
    const { y0, y1, x0, x1 } = tileBounds(tiling, t);
    for (let i = y0; i < y1; i++) m.fill(1, i * tiling.width + x0, i * tiling.width + x1);
  }
  return m;
}

function allTiles(model: LocalDenoiser): Int32Array {
  return Int32Array.from({ length: model.tiling.count }, (_, k) => k);
}

/** [C, H, W] of an image model ([H, W] counts as one channel). */
export function imageShape(shape: readonly number[]): [number, number, number] {
  if (shape.length === 3) return [shape[0], shape[1], shape[2]];
  if (shape.length === 2) return [1, shape[0], shape[1]];
  throw new Error(`sparse.ts: the model's samples have shape [${shape}]; editing needs images ([C, H, W] or [H, W])`);
}

/** What defines a run: the same setup for the original and the edited image. */
export interface EditSetup {
  model: Denoiser;
  solver: Solver<any, any>;
  /** The full grid of --steps steps; the run walks its last floor(N * strength) steps (sdedit.ts). */
  grid: readonly GridPoint[];
  schedule: Schedule;
  strength: number;
  /** Seed of the shared perturbation noise and of stochastic solvers (default 0). */
  seed?: number;
  solverOptions?: Record<string, unknown>;
  signal?: AbortSignal;
  /** Steps done of all the runs an edit makes (the original's, the edited one, the dense comparison). */
  onProgress?: (done: number, total: number) => void;
}

/** The original image's run with every model call cached, reusable for any number of edits of the image. */
export interface OriginalCache {
  setup: EditSetup;
  image: Float32Array;
  /** The grid the run walked (from the SDEdit noise level). */
  runGrid: GridPoint[];
  records: CallRecord[];
  /** The SDEdit result of the original image. */
  result: Float32Array;
  nfe: number;
  /** Multiply-adds of the run (a local model's count; undefined for other models). */
  ops?: number;
  seconds: number;
}

/** Run the original image once, densely, recording every model call. */
export async function cacheOriginal(setup: EditSetup, image: Float32Array): Promise<OriginalCache> {
  const runGrid = sdeditGrid(setup.grid, setup.strength);
  const recorder = new RecordingDenoiser(setup.model);
  const r = await runSdedit({ ...setup, model: recorder, grid: runGrid, image });
  const local = isLocalDenoiser(setup.model) ? setup.model : undefined;
  const ops = local ? recorder.records.reduce((s, rec) => s + local.regionOps(allTiles(local), rec.sigma), 0) : undefined;
  return { setup, image: image.slice(), runGrid, records: recorder.records, result: r.samples.data, nfe: r.nfe, ops, seconds: r.seconds };
}

export interface EditOptions extends EditSetup {
  /** The original and the edited image (one sample of the model's shape each). */
  original: Float32Array;
  edited: Float32Array;
  /**
   * Pixels whose change is at most this (in every channel) count as unchanged, and the edited image takes the
   * original's values there (SIGE thresholds its difference mask the same way). Default 0: every change counts.
   */
  threshold?: number;
  /**
   * Undefined (default): recompute the exact dependency cone, so the result equals the dense edited run. A number D:
   * SIGE's approximation, a fixed mask (the difference dilated by D pixels) at every call; cheaper, not exact.
   */
  dilation?: number;
  /**
   * With the exact cone: recompute only around the pixels where the edited state really differs from the original's
   * at each call (a subset of the cone, found by comparing with the cache); still bit for bit the dense run.
   */
  adaptive?: boolean;
  /** Also run the edited image densely and compare (wall time, equality). */
  compareDense?: boolean;
  /** A cached original run of the same setup and image (cacheOriginal), to skip the original run. */
  cache?: OriginalCache;
}

export interface EditResult {
  /** 'sparse': the cached original plus recomputed tiles; 'dense': the edited image run densely. */
  mode: 'sparse' | 'dense';
  /** Why the edit ran densely. */
  fallback?: string;
  /** The edited image's SDEdit result. */
  result: Float32Array;
  /** Steps of the run, out of the full grid's; the noise level it starts at; model calls. */
  steps: number;
  gridSteps: number;
  sigmaStart: number;
  nfe: number;
  /** Changed pixels (any channel) of the difference mask, of H * W. */
  editedPixels: number;
  totalPixels: number;
  receptiveRadius?: number;
  tileSize?: number;
  /** Sparse mode: whether the recomputed region is the exact dependency cone (the result is the dense one). */
  exact?: boolean;
  /** Sparse mode with a fixed mask: its dilation. */
  dilation?: number;
  /** Sparse mode: whether the recomputed tiles followed the actual differences inside the cone. */
  adaptive?: boolean;
  /** Model multiply-adds of the edited run, dense and sparse (sparse mode); saving = dense / sparse (null when no pixel changed). */
  ops?: { dense: number; sparse: number; saving: number | null };
  calls?: EditCallStats[];
  seconds: { original?: number; edited: number; dense?: number };
  /** Sparse mode with compareDense: the dense edited run and its largest difference to the sparse result. */
  dense?: { result: Float32Array; maxAbsDiff: number; identical: boolean };
  /** The cached original run (sparse mode), for further edits of the same image. */
  cache?: OriginalCache;
  /** The SDEdit result of the original image (sparse mode). */
  originalResult?: Float32Array;
}

function checkCache(cache: OriginalCache, setup: EditSetup, original: Float32Array): void {
  const s = cache.setup;
  const same =
    s.model === setup.model &&
    s.solver === setup.solver &&
    s.schedule === setup.schedule &&
    s.strength === setup.strength &&
    (s.seed ?? 0) === (setup.seed ?? 0) &&
    JSON.stringify(s.solverOptions ?? {}) === JSON.stringify(setup.solverOptions ?? {}) &&
    s.grid.length === setup.grid.length &&
    s.grid.every((p, i) => p.sigma === setup.grid[i].sigma) &&
    cache.image.length === original.length &&
    cache.image.every((v, i) => Object.is(v, original[i]));
  if (!same) throw new Error('sparse.ts: the cache was made with another model, solver, grid, strength, seed or original image');
}

/**
 * SDEdit of `edited`, reusing the cached run of `original`: sparse for a LocalDenoiser (bit for bit the dense edited
 * run), dense with a `fallback` note for any other model.
 */
export async function sparseEdit(o: EditOptions): Promise<EditResult> {
  const [C, H, W] = imageShape(o.model.sampleShape);
  const d = C * H * W;
  if (o.original.length !== d || o.edited.length !== d) {
    throw new Error(`sparse.ts: the images have ${o.original.length} and ${o.edited.length} values; the model's sample shape [${o.model.sampleShape}] needs ${d}`);
  }
  const mask0 = differenceMask(o.original, o.edited, [C, H, W], o.threshold ?? 0);
  // Below the threshold the edited image keeps the original's pixels, so the mask is exactly where they differ.
  const edited = o.edited.slice();
  const plane = H * W;
  for (let q = 0; q < d; q++) if (!mask0[q % plane]) edited[q] = o.original[q];
  const runGrid = sdeditGrid(o.grid, o.strength);
  const base = {
    steps: runGrid.length - 1,
    gridSteps: o.grid.length - 1,
    sigmaStart: runGrid[0].sigma,
    editedPixels: maskCount(mask0),
    totalPixels: plane,
  };

  if (!isLocalDenoiser(o.model)) {
    const r = await runSdedit({ ...o, grid: runGrid, image: edited });
    return {
      mode: 'dense',
      fallback: `${o.model.name} has no finite receptive field (every output pixel depends on every input pixel), so nothing can be reused: the edited image ran densely`,
      result: r.samples.data,
      nfe: r.nfe,
      seconds: { edited: r.seconds },
      ...base,
    };
  }

  const model = o.model;
  // One progress count over the runs this edit makes.
  const runs = (o.cache ? 0 : 1) + 1 + (o.compareDense ? 1 : 0);
  let run = 0;
  const progress = (): ((done: number) => void) | undefined => {
    const first = run++ * base.steps;
    return o.onProgress ? (done) => o.onProgress!(first + done, runs * base.steps) : undefined;
  };
  let cache = o.cache;
  if (cache) checkCache(cache, o, o.original);
  else cache = await cacheOriginal({ ...o, onProgress: progress() }, o.original);

  if (o.dilation !== undefined && !(Number.isInteger(o.dilation) && o.dilation >= 0)) {
    throw new Error(`sparse.ts: dilation is ${o.dilation}; expected an integer >= 0`);
  }
  if (o.dilation !== undefined && o.adaptive) throw new Error('sparse.ts: adaptive follows the exact cone; it does not combine with a fixed dilation');
  const replay = new SparseReplayDenoiser(model, cache.records, mask0, { dilation: o.dilation, adaptive: o.adaptive });
  const r = await runSdedit({ ...o, model: replay, grid: runGrid, image: edited, onProgress: progress() });
  if (replay.stats.length !== cache.records.length) {
    throw new Error(`sparse.ts: the edited run made ${replay.stats.length} model calls, the original ${cache.records.length}; the runs must use the same solver and grid`);
  }
  const sparseOps = replay.stats.reduce((s, c) => s + c.ops, 0);
  const denseOps = replay.stats.reduce((s, c) => s + c.denseOps, 0);
  const result: EditResult = {
    mode: 'sparse',
    result: r.samples.data,
    nfe: r.nfe,
    ...base,
    receptiveRadius: model.receptiveRadius,
    tileSize: model.tiling.size,
    exact: o.dilation === undefined,
    adaptive: (o.adaptive ?? false) && o.dilation === undefined,
    ...(o.dilation !== undefined ? { dilation: o.dilation } : {}),
    ops: { dense: denseOps, sparse: sparseOps, saving: sparseOps > 0 ? denseOps / sparseOps : null },
    calls: replay.stats,
    seconds: { original: cache.seconds, edited: r.seconds },
    cache,
    originalResult: cache.result,
  };
  if (o.compareDense) {
    const dense = await runSdedit({ ...o, grid: runGrid, image: edited, onProgress: progress() });
    let maxAbsDiff = 0;
    let identical = true;
    for (let q = 0; q < d; q++) {
      const a = dense.samples.data[q], b = result.result[q];
      if (!sameBits(dense.samples.data, result.result, q)) identical = false;
      const diff = Math.abs(a - b);
      if (!(diff <= maxAbsDiff)) maxAbsDiff = diff;
    }
    result.dense = { result: dense.samples.data, maxAbsDiff, identical };
    result.seconds.dense = dense.seconds;
  }
  return result;
}
