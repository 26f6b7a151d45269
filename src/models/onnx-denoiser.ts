// Any ONNX denoiser with the diffusers UNet signature (`sample`, `timestep`, optional `encoder_hidden_states`) run
// through onnxruntime-node, turned into a Denoiser by the parameterisation adapters. Node-only.
import { existsSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { wrapNetwork, checkPredictionType, type PredictionType } from './adapters.js';
import type { Denoiser } from './denoiser.js';

export interface OnnxDenoiserOptions {
  /** What the network predicts (default 'epsilon', as diffusers' UNets). */
  prediction?: PredictionType;
  /** Shape of one sample; needed when the model declares symbolic channel/height/width. */
  sampleShape?: number[];
  /** ORT intra-op threads (default: ORT's choice, the number of physical cores). */
  threads?: number;
  /** Conditioning for `encoder_hidden_states`: shape [seq, dim] or [1, seq, dim], repeated to the batch. */
  cond?: { data: Float32Array; shape: number[] };
  sigmaData?: number;
  name?: string;
}

type TimestepType = 'float32' | 'float64' | 'int64' | 'int32';
const TIMESTEP_TYPES: readonly string[] = ['float32', 'float64', 'int64', 'int32'];

interface InputInfo {
  name: string;
  type: string;
  shape: ReadonlyArray<number | string>;
}

function describeInputs(inputs: readonly InputInfo[]): string {
  return inputs.map((i) => `${i.name}: ${i.type} [${i.shape.join(', ')}]`).join('; ');
}

const EXPECTED =
  "sample: float32 [batch, C, H, W] (or any rank), timestep: float32|float64|int64|int32 with shape [], [1] or [batch], " +
  'optional encoder_hidden_states: float32 [batch, seq, dim]';

function inputInfos(session: ort.InferenceSession): InputInfo[] {
  return session.inputNames.map((name, k) => {
    const m = session.inputMetadata[k];
    return m && m.isTensor ? { name, type: String(m.type), shape: m.shape } : { name, type: 'non-tensor', shape: [] };
  });
}

function makeTimestep(type: TimestepType, t: number, count: number): Float32Array | Float64Array | BigInt64Array | Int32Array {
  switch (type) {
    case 'float32':
      return new Float32Array(count).fill(t);
    case 'float64':
      return new Float64Array(count).fill(t);
    case 'int64':
      return new BigInt64Array(count).fill(BigInt(Math.round(t)));
    case 'int32':
      return new Int32Array(count).fill(Math.round(t));
  }
}

/** Load an ONNX model file (or bytes) as a Denoiser. */
export async function createOnnxDenoiser(model: string | Uint8Array, opts: OnnxDenoiserOptions = {}): Promise<Denoiser> {
  const label = typeof model === 'string' ? model : '<bytes>';
  const prediction = checkPredictionType(opts.prediction ?? 'epsilon', 'onnx-denoiser.ts');
  let bytes: Uint8Array;
  if (typeof model === 'string') {
    if (!existsSync(model)) throw new Error(`onnx-denoiser.ts: model file '${model}' not found`);
    bytes = readFileSync(model);
  } else bytes = model;
  const threads = opts.threads;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) {
    throw new Error(`onnx-denoiser.ts: threads must be a positive integer, got ${threads}`);
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      ...(threads ? { intraOpNumThreads: threads } : {}),
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
  } catch (e) {
    throw new Error(`onnx-denoiser.ts: '${label}' is not a loadable ONNX model: ${(e as Error).message}`);
  }
  try {
    return buildDenoiser(session, label, prediction, opts);
  } catch (e) {
    await session.release();
    throw e;
  }
}

function buildDenoiser(session: ort.InferenceSession, label: string, prediction: PredictionType, opts: OnnxDenoiserOptions): Denoiser {
  const inputs = inputInfos(session);
  const misfit = (why: string): Error =>
    new Error(`onnx-denoiser.ts: model '${label}' does not fit: ${why}. It has inputs ${describeInputs(inputs)}; expected ${EXPECTED}`);
  const sample = inputs.find((i) => i.name === 'sample');
  const timestep = inputs.find((i) => i.name === 'timestep');
  const hidden = inputs.find((i) => i.name === 'encoder_hidden_states');
  if (!sample) throw misfit("no input named 'sample'");
  if (!timestep) throw misfit("no input named 'timestep'");
  const extra = inputs.filter((i) => i !== sample && i !== timestep && i !== hidden);
  if (extra.length) throw misfit(`unsupported extra input(s) ${extra.map((i) => i.name).join(', ')}`);
  if (sample.type !== 'float32') throw misfit(`'sample' is ${sample.type}, not float32`);
  if (!TIMESTEP_TYPES.includes(timestep.type)) throw misfit(`'timestep' is ${timestep.type}`);
  const tType = timestep.type as TimestepType;
  if (timestep.shape.length > 1) throw misfit(`'timestep' has rank ${timestep.shape.length}`);
  // [] = a scalar (onnxruntime also reports an undeclared shape as []); [1]; [batch] or [k] with k the batch.
  const tKind: 'scalar' | 'one' | 'batch' =
    timestep.shape.length === 0 ? 'scalar' : timestep.shape[0] === 1 ? 'one' : 'batch';

  // Sample shape: declared numeric dims, else the caller's sampleShape.
  const declared = sample.shape.slice(1);
  let sampleShape: number[];
  if (opts.sampleShape) {
    sampleShape = [...opts.sampleShape];
    if (sample.shape.length > 0 && declared.length !== sampleShape.length) {
      throw misfit(`sampleShape [${sampleShape}] has rank ${sampleShape.length}, the model's 'sample' has ${declared.length} non-batch axes`);
    }
    declared.forEach((d, k) => {
      if (typeof d === 'number' && d !== sampleShape[k]) {
        throw misfit(`sampleShape [${sampleShape}] differs from the declared sample shape [${sample.shape.join(', ')}] on axis ${k + 1}`);
      }
    });
  } else {
    if (sample.shape.length === 0 || declared.some((d) => typeof d !== 'number')) {
      throw misfit(`'sample' has symbolic dimensions [${sample.shape.join(', ')}]; pass sampleShape (e.g. [3, 32, 32])`);
    }
    sampleShape = declared as number[];
  }
  const fixedBatch = typeof sample.shape[0] === 'number' ? (sample.shape[0] as number) : undefined;
  if (tKind === 'batch' && typeof timestep.shape[0] === 'number' && timestep.shape[0] !== fixedBatch) {
    throw misfit(`'timestep' has fixed length ${timestep.shape[0]} but 'sample' has batch ${String(sample.shape[0])}`);
  }

  // Conditioning, repeated to the batch on demand (cached per batch size).
  let condRow: Float32Array | undefined;
  let condDims: number[] = [];
  if (hidden) {
    if (!opts.cond) throw misfit("the model needs 'encoder_hidden_states' and no cond was given");
    if (hidden.type !== 'float32') throw misfit(`'encoder_hidden_states' is ${hidden.type}, not float32`);
    const cs = opts.cond.shape[0] === 1 && opts.cond.shape.length === 3 ? opts.cond.shape.slice(1) : opts.cond.shape;
    const need = cs.reduce((a, b) => a * b, 1);
    if (opts.cond.data.length !== need) {
      throw new Error(`onnx-denoiser.ts: cond.data has ${opts.cond.data.length} values, cond.shape [${opts.cond.shape}] needs ${need}`);
    }
    if (hidden.shape.length && hidden.shape.length !== cs.length + 1) {
      throw misfit(`cond of shape [${opts.cond.shape}] does not match 'encoder_hidden_states' [${hidden.shape.join(', ')}]`);
    }
    condRow = opts.cond.data;
    condDims = cs;
  } else if (opts.cond) {
    throw misfit('a cond was given but the model has no encoder_hidden_states input');
  }
  const condCache = new Map<number, ort.Tensor>();
  const condTensor = (b: number): ort.Tensor => {
    let c = condCache.get(b);
    if (!c) {
      const row = condRow!;
      const data = new Float32Array(row.length * b);
      for (let k = 0; k < b; k++) data.set(row, k * row.length);
      c = new ort.Tensor('float32', data, [b, ...condDims]);
      condCache.clear();
      condCache.set(b, c);
    }
    return c;
  };

  const outName = session.outputNames.includes('out_sample') ? 'out_sample' : session.outputNames[0];
  const perSample = sampleShape.reduce((a, b) => a * b, 1);

  const runChunk = async (x: Float32Array, b: number, t: number): Promise<Float32Array> => {
    const feeds: Record<string, ort.Tensor> = {
      sample: new ort.Tensor('float32', x, [b, ...sampleShape]),
      timestep:
        tKind === 'scalar'
          ? new ort.Tensor(tType, makeTimestep(tType, t, 1), [])
          : new ort.Tensor(tType, makeTimestep(tType, t, tKind === 'one' ? 1 : b), [tKind === 'one' ? 1 : b]),
    };
    if (hidden) feeds.encoder_hidden_states = condTensor(b);
    const res = await session.run(feeds, [outName]);
    const out = res[outName];
    if (out.type !== 'float32') throw new Error(`onnx-denoiser.ts: model '${label}' output '${outName}' is ${out.type}, expected float32`);
    const data = out.data as Float32Array;
    if (data.length !== b * perSample) {
      throw new Error(`onnx-denoiser.ts: model '${label}' output '${outName}' has shape [${out.dims}], expected [${b}, ${sampleShape}]`);
    }
    return data;
  };

  const net = async (x: Float32Array, shape: number[], t: number): Promise<Float32Array> => {
    const b = shape[0];
    if (x.length !== b * perSample) {
      throw new Error(`onnx-denoiser.ts: batch of shape [${shape}] does not match the sample shape [${sampleShape}]`);
    }
    if (fixedBatch === undefined || fixedBatch === b) return runChunk(x, b, t);
    // Fixed-batch model: run in chunks of its batch size, zero-padding the last one.
    const out = new Float32Array(x.length);
    const chunk = fixedBatch * perSample;
    for (let start = 0; start < b; start += fixedBatch) {
      const n = Math.min(fixedBatch, b - start);
      let xs = x.subarray(start * perSample, (start + n) * perSample);
      if (n < fixedBatch) {
        const padded = new Float32Array(chunk);
        padded.set(xs);
        xs = padded;
      }
      const o = await runChunk(xs, fixedBatch, t);
      out.set(n < fixedBatch ? o.subarray(0, n * perSample) : o, start * perSample);
    }
    return out;
  };

  let released = false;
  return wrapNetwork(net, {
    prediction,
    sampleShape,
    sigmaData: opts.sigmaData,
    name: opts.name ?? `onnx:${label}`,
    dispose: async () => {
      if (!released) {
        released = true;
        await session.release();
      }
    },
  });
}
