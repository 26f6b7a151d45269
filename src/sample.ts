// The sampling driver: noise -> grid -> solver steps -> output, in chunks of `batch` samples. It owns NFE counting,
// the non-finite check, progress and cancellation, so solvers stay pure numerics.
import { firstNonFinite, makeBatch, sampleSize, type Batch } from './core/batch.js';
import { normalBatch } from './core/rng.js';
import { NonFiniteError, type Denoiser, type Prediction } from './models/denoiser.js';
import type { GridPoint, Schedule } from './schedules/schedule.js';
import type { Solver, StepContext, X0Transform } from './solvers/solver.js';

export interface SampleOptions {
  model: Denoiser;
  solver: Solver<any, any>;
  grid: readonly GridPoint[];
  schedule: Schedule;
  /** Number of samples (default: the noise's first axis, else 1). */
  n?: number;
  /** Seed of the initial noise and of stochastic solvers (uint32, default 0). */
  seed?: number;
  /** Index of the first sample (to split a run across processes: sample k of seed s is the same either way). */
  firstSample?: number;
  /** Samples per model call (default 256). */
  batch?: number;
  /** Initial state x_T in the model's native scaling, used exactly as given (x_T = alpha_0 * y_0). */
  noise?: Batch;
  /** Scale of the default Gaussian initial state in y-space (default grid[0].sigma, i.e. y_T = sigma_max * z). */
  initNoiseScale?: number;
  solverOptions?: Record<string, unknown>;
  x0Transform?: X0Transform;
  /** 'alpha': arrays in and out are x = alpha * y (default); 'none': they are y itself. */
  stateScaling?: 'alpha' | 'none';
  /**
   * The model for samples [start, start + count), when it differs per sample (a conditional family with one class
   * per sample: `(s, m) => family.withCondition(conditions.subarray(s, s + m))`). Default: `model` for every chunk.
   */
  modelForChunk?: (start: number, count: number) => Denoiser;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface SampleResult {
  samples: Batch;
  /** Model calls per sample (NFE as the papers count it; a guided call counts once). */
  nfe: number;
  /** Network evaluations per sample: nfe times the model's evaluationsPerCall (2 for classifier-free guidance). */
  networkEvaluations: number;
  seconds: number;
}

/** A macrotask turn: setImmediate where it exists (Node), else setTimeout (browsers). */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => unknown };
  return new Promise<void>((resolve) => (g.setImmediate ? g.setImmediate(resolve) : setTimeout(resolve, 0)));
}

export class AbortError extends Error {
  constructor() {
    super('sampling was cancelled');
    this.name = 'AbortError';
  }
}

/** Largest step count whose exact NFE fits the budget (the CLI's --nfe). */
export function stepsForNfe(solver: Solver<any, any>, nfe: number, options?: Record<string, unknown>): number {
  if (!Number.isInteger(nfe) || nfe < 1) throw new Error(`--nfe: expected a positive integer, got ${nfe}`);
  let best = 0;
  for (let steps = 1; steps <= 10_000; steps++) {
    const cost = solver.nfe(steps, options);
    if (cost <= nfe) best = steps;
    else if (cost > nfe + 16) break;
  }
  if (best === 0) {
    throw new Error(`--nfe: ${solver.info.name} needs at least ${solver.nfe(1, options)} evaluations for one step, the budget is ${nfe}`);
  }
  return best;
}

export async function sample(o: SampleOptions): Promise<SampleResult> {
  const { model, solver, grid } = o;
  const steps = grid.length - 1;
  if (steps < 1) throw new Error('grid: expected at least 2 points (1 step)');
  solver.check?.(grid, o.schedule, o.solverOptions);
  const shape = model.sampleShape;
  const d = sampleSize([0, ...shape]);
  const n = o.n ?? o.noise?.shape[0] ?? 1;
  if (o.noise) {
    const want = [n, ...shape];
    if (o.noise.shape.length !== want.length || o.noise.shape.some((v, i) => v !== want[i])) {
      throw new Error(`noise: shape [${o.noise.shape}] does not fit; expected [${want}]`);
    }
  }
  const seed = o.seed ?? 0;
  const first = o.firstSample ?? 0;
  const batch = Math.max(1, Math.min(o.batch ?? 256, n));
  const scaling = o.stateScaling ?? 'alpha';
  const a0 = scaling === 'alpha' ? grid[0].alpha : 1;
  const aN = scaling === 'alpha' ? grid[steps].alpha : 1;
  const initScale = o.initNoiseScale ?? grid[0].sigma;
  const out = makeBatch([n, ...shape]);
  const chunks = Math.ceil(n / batch);
  // Solvers' per-step scratch arrays (StepContext.scratch), kept for the whole run.
  const buffers = new Map<string, Float32Array>();
  const scratch = (key: string, length: number): Float32Array => {
    let b = buffers.get(key);
    if (!b || b.length !== length) buffers.set(key, (b = new Float32Array(length)));
    return b;
  };
  const t0 = performance.now();
  let calls = 0;
  let done = 0;
  for (let c = 0; c < chunks; c++) {
    const start = c * batch;
    const m = Math.min(batch, n - start);
    let y: Batch;
    if (o.noise) {
      const data = o.noise.data.slice(start * d, (start + m) * d);
      if (a0 !== 1) for (let i = 0; i < data.length; i++) data[i] /= a0;
      y = { data, shape: [m, ...shape] };
    } else {
      y = { data: normalBatch(seed, first + start, m, d, initScale, 0), shape: [m, ...shape] };
    }
    let step = 0;
    let chunkCalls = 0;
    const chunkModel = o.modelForChunk ? o.modelForChunk(start, m) : model;
    const ctx: StepContext = {
      grid,
      schedule: o.schedule,
      x0Transform: o.x0Transform,
      seed,
      firstSample: first + start,
      // y is this loop's own: a copy of the caller's noise or fresh normals, then whatever the solver returned.
      mayOverwriteState: true,
      scratch,
      predict: async (yy: Batch, at: GridPoint): Promise<Prediction> => {
        chunkCalls++;
        return chunkModel.predict(yy, at);
      },
    };
    let state = solver.init(y, o.solverOptions);
    for (step = 0; step < steps; step++) {
      // Yield to the event loop first, so an abort (a SIGINT handler, a timer) can land even when the model computes
      // synchronously (the exact GMM and TypeScript back-ends).
      if (o.signal) await yieldToEventLoop();
      if (o.signal?.aborted) throw new AbortError();
      const r = await solver.step(ctx, step, y, state, o.solverOptions);
      y = r.y;
      state = r.state;
      // One pass over the new state catches a NaN/Inf from the model too (every update uses the model's output).
      if ((r.firstNonFinite ?? firstNonFinite(y.data)) >= 0) throw new NonFiniteError(step, grid[step].sigma, 'the state after the step');
      o.onProgress?.(++done, chunks * steps);
    }
    if (c === 0) calls = chunkCalls;
    const dst = out.data.subarray(start * d, (start + m) * d);
    if (aN === 1) dst.set(y.data);
    else for (let i = 0; i < dst.length; i++) dst[i] = aN * y.data[i];
  }
  return { samples: out, nfe: calls, networkEvaluations: calls * (model.evaluationsPerCall ?? 1), seconds: (performance.now() - t0) / 1000 };
}
