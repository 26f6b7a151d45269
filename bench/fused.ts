// The alternative to an update outside the denoiser, measured (issue 2's 2 % target): the Euler update fused into
// the exact empirical denoiser's ONNX graph. The library's graph (onnx-graphs.ts) gets an epilogue
//   out = Gemm(b * Softmax(...), images, C = a * y) = a y + b D(y; sigma)
// so ONNX Runtime forms the next state itself and nothing runs in JavaScript between calls. Both loops start from the
// same noise on the same grid; the unfused one is what sample() does for Euler (the model's D, then the library's
// in-place update with its non-finite check). The fused loop skips that check, so it is a lower bound on its cost.
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { linCombChecked } from '../src/core/batch.js';
import { normalBatch } from '../src/core/rng.js';
import { loadEmbeddedDataset } from '../src/models/data.js';
import { meanImage } from '../src/models/empirical.js';
import { buildEmpiricalGraph } from '../src/models/onnx-graphs.js';
import { median } from '../src/eval/metrics.js';
import { eulerCoefficients } from '../src/solvers/euler.js';
import type { GridPoint } from '../src/schedules/schedule.js';

const { onnx } = onnxProto;

/** The library's empirical graph with the inputs `a`, `b` (scalars) and the output `updated` = a y + b D. */
function withEulerEpilogue(bytes: Uint8Array): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  const g = m.graph!;
  const scalar = (name: string) => ({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [] } } } });
  const denoised = g.node!.find((n) => n.output![0] === 'denoised');
  if (!denoised || denoised.opType !== 'MatMul') throw new Error('fused.ts: the empirical graph no longer ends in MatMul(weights, images)');
  const [weights, images] = denoised.input!;
  g.node = g.node!.filter((n) => n !== denoised);
  g.node.push(
    { opType: 'Mul', input: [weights, 'b'], output: ['weights_b'], name: 'Mul_weights_b' },
    { opType: 'Mul', input: ['y', 'a'], output: ['y_a'], name: 'Mul_y_a' },
    { opType: 'Gemm', input: ['weights_b', images, 'y_a'], output: ['updated'], name: 'Gemm_updated' },
  );
  g.input!.push(scalar('a'), scalar('b'));
  const out = g.output![0];
  g.output = [{ ...out, name: 'updated' }];
  return onnx.ModelProto.encode(m).finish();
}

export interface FusedComparison {
  /** Medians over the repeats, seconds per whole run (noise, steps, updates). */
  unfusedSeconds: number;
  fusedSeconds: number;
  /** unfused / fused: above 1 means the fused graph is faster. */
  speedup: number;
  /** Largest |difference| between the two runs' states entering the last step and their final samples. */
  maxAbsDifference: number;
  runs: { unfused: number[]; fused: number[] };
  /** Whether onnxruntime-node writes an output into a caller's pre-allocated tensor (false: it hands back a copy). */
  preallocatedOutputUsed: boolean;
}

export async function compareFusedUpdate(grid: readonly GridPoint[], n: number, repeats: number): Promise<FusedComparison> {
  const ds = loadEmbeddedDataset('emoji');
  const dim = ds.shape.reduce((a, b) => a * b, 1);
  const count = ds.images.length / dim;
  const plainBytes = buildEmpiricalGraph(ds.images, count, dim, { center: meanImage(ds.images, count, dim) });
  const opts: ort.InferenceSession.SessionOptions = { interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' };
  const plain = await ort.InferenceSession.create(plainBytes, opts);
  const fused = await ort.InferenceSession.create(withEulerEpilogue(plainBytes), opts);
  const scalar = (v: number) => new ort.Tensor('float32', Float32Array.of(v), []);

  // `keep`: also return a copy of the state entering the last step (the warm-up runs; the last step of a Karras grid
  // lands both runs on the same training images, so the state before it is where they can differ).
  async function run(kind: 'unfused' | 'fused', keep = false): Promise<{ seconds: number; y: Float32Array; beforeLast?: Float32Array }> {
    const t0 = performance.now();
    let y = normalBatch(0, 0, n, dim, grid[0].sigma);
    let beforeLast: Float32Array | undefined;
    for (let i = 0; i + 1 < grid.length; i++) {
      if (keep && i + 2 === grid.length) beforeLast = y.slice();
      const [a, b] = eulerCoefficients(grid[i].sigma, grid[i + 1].sigma);
      const feeds = { y: new ort.Tensor('float32', y, [n, dim]), inv2var: scalar(1 / (2 * grid[i].sigma ** 2)) };
      if (kind === 'fused') {
        y = (await fused.run({ ...feeds, a: scalar(a), b: scalar(b) })).updated.data as Float32Array;
      } else {
        const d = (await plain.run(feeds)).denoised.data as Float32Array;
        if (linCombChecked([a, b], [y, d], y).firstNonFinite >= 0) throw new Error('fused.ts: non-finite state');
      }
    }
    return { seconds: (performance.now() - t0) / 1000, y, beforeLast };
  }

  // Warm-up runs, and the largest difference the fused arithmetic (float32 inside Gemm) makes to a state.
  const u0 = await run('unfused', true), f0 = await run('fused', true);
  let maxAbsDifference = 0;
  for (let i = 0; i < u0.y.length; i++) {
    maxAbsDifference = Math.max(maxAbsDifference, Math.abs(u0.y[i] - f0.y[i]), Math.abs(u0.beforeLast![i] - f0.beforeLast![i]));
  }
  const mine = new Float32Array(n * dim);
  const got = await plain.run(
    { y: new ort.Tensor('float32', new Float32Array(n * dim), [n, dim]), inv2var: scalar(1) },
    { denoised: new ort.Tensor('float32', mine, [n, dim]) },
  );
  const preallocatedOutputUsed = (got.denoised.data as Float32Array).buffer === mine.buffer;
  const runs = { unfused: [] as number[], fused: [] as number[] };
  for (let r = 0; r < repeats; r++) {
    runs.unfused.push((await run('unfused')).seconds);
    runs.fused.push((await run('fused')).seconds);
  }
  await plain.release();
  await fused.release();
  const unfusedSeconds = median(runs.unfused), fusedSeconds = median(runs.fused);
  return { unfusedSeconds, fusedSeconds, speedup: unfusedSeconds / fusedSeconds, maxAbsDifference, runs, preallocatedOutputUsed };
}
