// Any ONNX denoiser with the diffusers UNet signature (`sample`, `timestep`, optional `encoder_hidden_states`) run
// through onnxruntime-node, turned into a Denoiser by the parameterisation adapters. Node-only.
import { existsSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { wrapNetwork, checkPredictionType, type PredictionType } from './adapters.js';
import { conditionalDenoiser, NULL_CONDITION, type ConditionalDenoiser } from './conditional.js';
import type { Denoiser } from './denoiser.js';

export interface OnnxDenoiserOptions {
  /** What the network predicts (default 'epsilon', as diffusers' UNets). */
  prediction?: PredictionType;
  /** Shape of one sample; needed when the model declares symbolic channel/height/width. */
  sampleShape?: number[];
  /** ORT intra-op threads (default: ORT's choice, the number of physical cores). */
  threads?: number;
  /** Conditioning for `encoder_hidden_states`: shape [seq, dim] or [1, seq, dim], repeated to the batch (several
   * conditions, [K, seq, dim]: createOnnxConditionalDenoiser). */
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

/** Open an ONNX model file (or bytes) as an ORT session. */
async function openSession(model: string | Uint8Array, threads: number | undefined): Promise<{ session: ort.InferenceSession; label: string }> {
  const label = typeof model === 'string' ? model : '<bytes>';
  let bytes: Uint8Array;
  if (typeof model === 'string') {
    if (!existsSync(model)) throw new Error(`onnx-denoiser.ts: model file '${model}' not found`);
    bytes = readFileSync(model);
  } else bytes = model;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) {
    throw new Error(`onnx-denoiser.ts: threads must be a positive integer, got ${threads}`);
  }
  try {
    const session = await ort.InferenceSession.create(bytes, {
      ...(threads ? { intraOpNumThreads: threads } : {}),
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    return { session, label };
  } catch (e) {
    throw new Error(`onnx-denoiser.ts: '${label}' is not a loadable ONNX model: ${(e as Error).message}`);
  }
}

/** Load an ONNX model file (or bytes) as a Denoiser. */
export async function createOnnxDenoiser(model: string | Uint8Array, opts: OnnxDenoiserOptions = {}): Promise<Denoiser> {
  const prediction = checkPredictionType(opts.prediction ?? 'epsilon', 'onnx-denoiser.ts');
  const { session, label } = await openSession(model, opts.threads);
  try {
    return buildDenoiser(session, label, prediction, opts);
  } catch (e) {
    await session.release();
    throw e;
  }
}

/** The checked signature of a UNet-like session and a function that runs it on a batch. */
interface OnnxNetwork {
  sampleShape: number[];
  /** The `encoder_hidden_states` input, if the model has one. */
  hidden?: InputInfo;
  misfit(why: string): Error;
  /** Run on native inputs x [b, ...sampleShape] at timestep t; `hiddenStates` holds b rows of encoder_hidden_states. */
  run(x: Float32Array, shape: number[], t: number, hiddenStates?: HiddenStates): Promise<Float32Array>;
}

/** Per-sample encoder_hidden_states: `data` holds one row of `rowDims` per sample. */
interface HiddenStates {
  data: Float32Array;
  rowDims: number[];
}

function inspectNetwork(session: ort.InferenceSession, label: string, opts: { sampleShape?: number[] }): OnnxNetwork {
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
  if (hidden && hidden.type !== 'float32') throw misfit(`'encoder_hidden_states' is ${hidden.type}, not float32`);

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

  const outName = session.outputNames.includes('out_sample') ? 'out_sample' : session.outputNames[0];
  const perSample = sampleShape.reduce((a, b) => a * b, 1);

  const runChunk = async (x: Float32Array, b: number, t: number, h: Float32Array | undefined, rowDims: number[]): Promise<Float32Array> => {
    const feeds: Record<string, ort.Tensor> = {
      sample: new ort.Tensor('float32', x, [b, ...sampleShape]),
      timestep:
        tKind === 'scalar'
          ? new ort.Tensor(tType, makeTimestep(tType, t, 1), [])
          : new ort.Tensor(tType, makeTimestep(tType, t, tKind === 'one' ? 1 : b), [tKind === 'one' ? 1 : b]),
    };
    if (hidden) feeds.encoder_hidden_states = new ort.Tensor('float32', h!, [b, ...rowDims]);
    const res = await session.run(feeds, [outName]);
    const out = res[outName];
    if (out.type !== 'float32') throw new Error(`onnx-denoiser.ts: model '${label}' output '${outName}' is ${out.type}, expected float32`);
    const data = out.data as Float32Array;
    if (data.length !== b * perSample) {
      throw new Error(`onnx-denoiser.ts: model '${label}' output '${outName}' has shape [${out.dims}], expected [${b}, ${sampleShape}]`);
    }
    return data;
  };

  const run = async (x: Float32Array, shape: number[], t: number, hs?: HiddenStates): Promise<Float32Array> => {
    const b = shape[0];
    if (x.length !== b * perSample) {
      throw new Error(`onnx-denoiser.ts: batch of shape [${shape}] does not match the sample shape [${sampleShape}]`);
    }
    if (hidden && !hs) throw misfit("the model needs 'encoder_hidden_states' and none was given");
    const rowDims = hs?.rowDims ?? [];
    const rowSize = rowDims.reduce((a, c) => a * c, 1);
    if (hs && hs.data.length !== b * rowSize) {
      throw new Error(`onnx-denoiser.ts: ${hs.data.length / rowSize} rows of encoder_hidden_states for a batch of ${b}`);
    }
    if (fixedBatch === undefined || fixedBatch === b) return runChunk(x, b, t, hs?.data, rowDims);
    // Fixed-batch model: run in chunks of its batch size, zero-padding the last one.
    const out = new Float32Array(x.length);
    const pad = (v: Float32Array, size: number): Float32Array => {
      if (v.length === size) return v;
      const padded = new Float32Array(size);
      padded.set(v);
      return padded;
    };
    for (let start = 0; start < b; start += fixedBatch) {
      const n = Math.min(fixedBatch, b - start);
      const xs = pad(x.subarray(start * perSample, (start + n) * perSample), fixedBatch * perSample);
      const h = hs ? pad(hs.data.subarray(start * rowSize, (start + n) * rowSize), fixedBatch * rowSize) : undefined;
      const o = await runChunk(xs, fixedBatch, t, h, rowDims);
      out.set(n < fixedBatch ? o.subarray(0, n * perSample) : o, start * perSample);
    }
    return out;
  };
  return { sampleShape, hidden, misfit, run };
}

/**
 * Rows of encoder_hidden_states given by the user (`field` = 'cond' or 'uncond'): shape [rows, seq, dim], or one row
 * [seq, dim], for a model input [batch, seq, dim]. Checks the data length and the declared dimensions.
 */
function hiddenRows(value: { data: Float32Array; shape: number[] }, field: string, net: OnnxNetwork, maxRows?: number): { rows: number; rowDims: number[] } {
  const hidden = net.hidden!;
  const need = value.shape.reduce((a, b) => a * b, 1);
  if (value.data.length !== need) {
    throw new Error(`onnx-denoiser.ts: ${field}.data has ${value.data.length} values, ${field}.shape [${value.shape}] needs ${need}`);
  }
  const rank = hidden.shape.length || 3; // an undeclared shape: assume diffusers' [batch, seq, dim]
  let rows: number;
  let rowDims: number[];
  if (value.shape.length === rank - 1) {
    rows = 1;
    rowDims = [...value.shape];
  } else if (value.shape.length === rank) {
    rows = value.shape[0];
    rowDims = value.shape.slice(1);
  } else {
    throw net.misfit(`${field} of shape [${value.shape}] does not match 'encoder_hidden_states' [${hidden.shape.join(', ')}]; expected [rows, ...] or one row`);
  }
  if (rows < 1) throw new Error(`onnx-denoiser.ts: ${field} of shape [${value.shape}] has no rows`);
  if (maxRows !== undefined && rows > maxRows) {
    throw new Error(
      `onnx-denoiser.ts: ${field} of shape [${value.shape}] has ${rows} rows, expected ${maxRows === 1 ? 'one ([seq, dim] or [1, seq, dim])' : `at most ${maxRows}`}` +
        (field === 'cond' ? '; several conditions need a conditional model (loadModel with classes, or createOnnxConditionalDenoiser)' : ''),
    );
  }
  hidden.shape.slice(1).forEach((d, k) => {
    if (typeof d === 'number' && d !== rowDims[k]) {
      throw net.misfit(`${field} of shape [${value.shape}] differs from the declared 'encoder_hidden_states' [${hidden.shape.join(', ')}] on axis ${k + 1}`);
    }
  });
  return { rows, rowDims };
}

/** A cache of the per-sample encoder_hidden_states of the last batch (the same conditions come back every step). */
function hiddenBuilder(table: Float32Array, rowDims: number[], rowOf: (c: number) => number): (conditions: Int32Array) => HiddenStates {
  const rowSize = rowDims.reduce((a, b) => a * b, 1);
  let lastKey = '';
  let last: HiddenStates | undefined;
  return (conditions) => {
    const key = conditions.join(',');
    if (last && key === lastKey) return last;
    const data = new Float32Array(conditions.length * rowSize);
    conditions.forEach((c, i) => {
      const r = rowOf(c);
      data.set(table.subarray(r * rowSize, (r + 1) * rowSize), i * rowSize);
    });
    lastKey = key;
    last = { data, rowDims };
    return last;
  };
}

function buildDenoiser(session: ort.InferenceSession, label: string, prediction: PredictionType, opts: OnnxDenoiserOptions): Denoiser {
  const net = inspectNetwork(session, label, opts);
  // Conditioning: one row repeated to the batch.
  let hiddenFor: ((b: number) => HiddenStates) | undefined;
  if (net.hidden) {
    if (!opts.cond) throw net.misfit("the model needs 'encoder_hidden_states' and no cond was given");
    const { rowDims } = hiddenRows(opts.cond, 'cond', net, 1);
    const build = hiddenBuilder(opts.cond.data, rowDims, () => 0);
    hiddenFor = (b) => build(new Int32Array(b));
  } else if (opts.cond) {
    throw net.misfit('a cond was given but the model has no encoder_hidden_states input');
  }
  let released = false;
  return wrapNetwork((x, shape, t) => net.run(x, shape, t, hiddenFor?.(shape[0])), {
    prediction,
    sampleShape: net.sampleShape,
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

export interface OnnxConditionalOptions extends Omit<OnnxDenoiserOptions, 'cond'> {
  /** encoder_hidden_states of the K conditions, [K, seq, dim] (or one condition [seq, dim]); condition c = row c. */
  cond: { data: Float32Array; shape: number[] };
  /** The unconditional encoder_hidden_states (e.g. the empty prompt's embedding), [seq, dim] or [1, seq, dim]. */
  uncond?: { data: Float32Array; shape: number[] };
  /** Names of the K conditions (default '0'..'K-1'). */
  conditionNames?: string[];
}

/**
 * An ONNX network with an `encoder_hidden_states` input as a conditional family: condition c feeds row c of `cond`,
 * the unconditional member (-1) feeds `uncond`. A batch may mix conditions: one network call with per-sample rows.
 */
export async function createOnnxConditionalDenoiser(model: string | Uint8Array, opts: OnnxConditionalOptions): Promise<ConditionalDenoiser> {
  const prediction = checkPredictionType(opts.prediction ?? 'epsilon', 'onnx-denoiser.ts');
  const { session, label } = await openSession(model, opts.threads);
  try {
    const net = inspectNetwork(session, label, opts);
    if (!net.hidden) throw net.misfit('a conditional model needs an encoder_hidden_states input (cond/uncond are fed to it)');
    if (!opts.cond) throw net.misfit("the model needs 'encoder_hidden_states' and no cond was given");
    const c = hiddenRows(opts.cond, 'cond', net);
    const rowSize = c.rowDims.reduce((a, b) => a * b, 1);
    // Table: the K condition rows, then the unconditional row.
    const table = new Float32Array((c.rows + 1) * rowSize);
    table.set(opts.cond.data);
    if (opts.uncond) {
      const u = hiddenRows(opts.uncond, 'uncond', net, 1);
      if (u.rowDims.join() !== c.rowDims.join()) {
        throw new Error(`onnx-denoiser.ts: uncond rows [${u.rowDims}] differ from cond rows [${c.rowDims}]; both must be [seq, dim] of the same text encoder`);
      }
      table.set(opts.uncond.data, c.rows * rowSize);
    }
    const names = opts.conditionNames ?? Array.from({ length: c.rows }, (_, k) => String(k));
    if (names.length !== c.rows) throw new Error(`onnx-denoiser.ts: ${names.length} conditionNames for ${c.rows} cond rows`);
    const build = hiddenBuilder(table, c.rowDims, (k) => (k === NULL_CONDITION ? c.rows : k));
    const name = opts.name ?? `onnx:${label}`;
    let released = false;
    return conditionalDenoiser({
      sampleShape: net.sampleShape,
      name,
      conditionNames: names,
      hasUnconditional: opts.uncond !== undefined,
      predictConditional(y, at, conditions) {
        const hs = build(conditions);
        const den = wrapNetwork((x, shape, t) => net.run(x, shape, t, hs), { prediction, sampleShape: net.sampleShape, sigmaData: opts.sigmaData, name });
        return den.predict(y, at);
      },
      async dispose() {
        if (!released) {
          released = true;
          await session.release();
        }
      },
    });
  } catch (e) {
    await session.release();
    throw e;
  }
}
