// The exact empirical denoiser on onnxruntime-node: one graph (two matmuls around a softmax, see onnx-graphs.ts)
// with the images as pre-packed initializers. The project's speed benchmark; Node-only.
import * as ort from 'onnxruntime-node';
import type { Batch } from '../core/batch.js';
import type { GridPoint } from '../schedules/schedule.js';
import { predictionFromX0, type Denoiser, type Prediction } from './denoiser.js';
import { checkImages, meanImage, TsEmpiricalDenoiser } from './empirical.js';
import { buildEmpiricalGraph } from './onnx-graphs.js';

export type EmpiricalBackend = 'onnx' | 'ts';

export interface EmpiricalDenoiserOptions {
  /** 'onnx' (default in Node) or the plain TypeScript reference 'ts'. */
  backend?: EmpiricalBackend;
  /** ORT intra-op threads (default: ORT's choice, the number of physical cores). */
  threads?: number;
  name?: string;
}

export class OnnxEmpiricalDenoiser implements Denoiser {
  readonly sampleShape: number[];
  readonly name: string;
  readonly count: number;
  readonly dim: number;
  private session: ort.InferenceSession | undefined;

  private constructor(session: ort.InferenceSession, sampleShape: number[], count: number, dim: number, name: string) {
    this.session = session;
    this.sampleShape = sampleShape;
    this.count = count;
    this.dim = dim;
    this.name = name;
  }

  static async create(images: Float32Array, sampleShape: readonly number[], opts: EmpiricalDenoiserOptions = {}): Promise<OnnxEmpiricalDenoiser> {
    const { count, dim } = checkImages(images, sampleShape, 'empirical-onnx.ts');
    const threads = opts.threads;
    if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) {
      throw new Error(`empirical-onnx.ts: threads must be a positive integer, got ${threads}`);
    }
    const bytes = buildEmpiricalGraph(images, count, dim, { center: meanImage(images, count, dim) });
    const session = await ort.InferenceSession.create(bytes, {
      ...(threads ? { intraOpNumThreads: threads } : {}),
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
    });
    return new OnnxEmpiricalDenoiser(session, [...sampleShape], count, dim, opts.name ?? `empirical(${count})`);
  }

  async predict(y: Batch, at: GridPoint): Promise<Prediction> {
    return this.denoise(y.data, at.sigma);
  }

  /** D(y, sigma) and eps = (y - D) / sigma for a flat batch; at sigma = 0, D = y and eps = 0. */
  async denoise(y: Float32Array, sigma: number): Promise<Prediction> {
    const { dim } = this;
    if (!this.session) throw new Error('empirical-onnx.ts: predict() after dispose()');
    if (y.length % dim !== 0) throw new Error(`empirical-onnx.ts: batch has ${y.length} values, not a multiple of the sample size ${dim}`);
    if (!(sigma >= 0)) throw new Error(`empirical-onnx.ts: sigma must be >= 0, got ${sigma}`);
    const rows = y.length / dim;
    if (sigma === 0 || rows === 0) return predictionFromX0(y, y.slice(), 0);
    // A fresh scalar per call: concurrent calls must not share the buffer ORT reads asynchronously.
    const inv2var = new ort.Tensor('float32', Float32Array.of(1 / (2 * sigma * sigma)), []);
    const res = await this.session.run({ y: new ort.Tensor('float32', y, [rows, dim]), inv2var });
    return predictionFromX0(y, res.denoised.data as Float32Array, sigma);
  }

  async dispose(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s) await s.release();
  }
}

/** The exact empirical denoiser over `images` (count x prod(sampleShape) values in [-1, 1]). */
export async function createEmpiricalDenoiser(images: Float32Array, sampleShape: readonly number[], opts: EmpiricalDenoiserOptions = {}): Promise<Denoiser> {
  const backend = opts.backend ?? 'onnx';
  if (backend === 'ts') return new TsEmpiricalDenoiser(images, sampleShape, { name: opts.name });
  if (backend === 'onnx') return OnnxEmpiricalDenoiser.create(images, sampleShape, opts);
  throw new Error(`empirical-onnx.ts: backend '${String(backend)}' is unknown; expected 'onnx' or 'ts'`);
}
