// ONNX graphs built in TypeScript with onnx-proto (no Python): the exact empirical denoiser and a dummy diffusers
// UNet for tests. Browser-safe: returns model bytes; running them is the back-ends' business.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type ValueType = 'float32' | 'float64' | 'int64' | 'int32';
type Dim = number | string;

const DTYPE: Record<ValueType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
};

/** Opset 17 and IR version 8: understood by every onnxruntime since 1.13 (node and web). */
const OPSET = 17;
const IR_VERSION = 8;

function valueInfo(name: string, type: ValueType, shape: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DTYPE[type],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function node(opType: string, inputs: string[], outputs: string[], attrs: onnxProto.onnx.IAttributeProto[] = []): onnxProto.onnx.INodeProto {
  return { opType, input: inputs, output: outputs, name: `${opType}_${outputs[0]}`, attribute: attrs };
}

function intAttr(name: string, i: number): onnxProto.onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i };
}

function intsAttr(name: string, ints: number[]): onnxProto.onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints };
}

function floatAttr(name: string, f: number): onnxProto.onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f };
}

/** A float32 (or int64) initializer stored as raw little-endian bytes. */
function tensor(name: string, dims: number[], data: Float32Array | BigInt64Array): onnxProto.onnx.ITensorProto {
  const dataType = data instanceof Float32Array ? onnx.TensorProto.DataType.FLOAT : onnx.TensorProto.DataType.INT64;
  return { name, dims, dataType, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function model(graph: onnxProto.onnx.IGraphProto): Uint8Array {
  const m = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'iia-diffusion',
    opsetImport: [{ domain: '', version: OPSET }],
    graph,
  });
  return onnx.ModelProto.encode(m).finish();
}

export interface DummyUnetOptions {
  /** Element type of the `timestep` input. */
  timestepType?: 'float32' | 'int64' | 'float64' | 'int32';
  /** Declared shape of `timestep`: a scalar [], [1], or one per sample [batch]. */
  timestepShape?: 'scalar' | '1' | 'batch';
  /** Declare a fixed batch size instead of the symbolic 'batch' (tests of chunked evaluation). */
  fixedBatch?: number;
  /** Add an `encoder_hidden_states` [batch, seq, dim] input; the output gains + mean(encoder_hidden_states). */
  encoderHiddenStates?: boolean;
  /** Rename the sample input (tests of the signature check). */
  sampleName?: string;
}

/**
 * The diffusers scheduler tests' dummy model as ONNX: out_sample = sample * t / (t + 1), with diffusers' UNet input
 * names (`sample` [batch, channels, height, width] dynamic, `timestep`). An integer timestep is cast to float.
 */
export function buildDummyUnet(opts: DummyUnetOptions = {}): Uint8Array {
  const tType = opts.timestepType ?? 'float32';
  const tShape = opts.timestepShape ?? 'scalar';
  const batch: Dim = opts.fixedBatch ?? 'batch';
  const tDims: Dim[] = tShape === 'scalar' ? [] : tShape === '1' ? [1] : [batch];
  const sampleName = opts.sampleName ?? 'sample';
  const nodes: onnxProto.onnx.INodeProto[] = [];
  let t = 'timestep';
  if (tType !== 'float32') {
    nodes.push(node('Cast', ['timestep'], ['t_float'], [intAttr('to', onnx.TensorProto.DataType.FLOAT)]));
    t = 't_float';
  }
  // Reshape t to [-1, 1, 1, 1] so that [], [1] and [B] all broadcast against [B, C, H, W].
  nodes.push(
    node('Reshape', [t, 't_shape'], ['t4']),
    node('Add', ['t4', 'one'], ['t_plus_1']),
    node('Div', ['t4', 't_plus_1'], ['ratio']),
    node('Mul', [sampleName, 'ratio'], [opts.encoderHiddenStates ? 'scaled' : 'out_sample']),
  );
  const input = [valueInfo(sampleName, 'float32', [batch, 'channels', 'height', 'width']), valueInfo('timestep', tType, tDims)];
  if (opts.encoderHiddenStates) {
    // out_sample = sample * t / (t + 1) + mean over (seq, dim) of encoder_hidden_states, per sample.
    nodes.push(
      node('ReduceMean', ['encoder_hidden_states'], ['ehs_mean'], [intsAttr('axes', [1, 2]), intAttr('keepdims', 1)]),
      node('Unsqueeze', ['ehs_mean', 'axis3'], ['ehs_mean4']),
      node('Add', ['scaled', 'ehs_mean4'], ['out_sample']),
    );
    input.push(valueInfo('encoder_hidden_states', 'float32', [batch, 'sequence', 'dim']));
  }
  return model({
    name: 'dummy_unet',
    node: nodes,
    initializer: [
      tensor('t_shape', [4], BigInt64Array.of(-1n, 1n, 1n, 1n)),
      tensor('one', [], Float32Array.of(1)),
      ...(opts.encoderHiddenStates ? [tensor('axis3', [1], BigInt64Array.of(3n))] : []),
    ],
    input,
    output: [valueInfo('out_sample', 'float32', [batch, 'channels', 'height', 'width'])],
  });
}

export interface EmpiricalGraphOptions {
  /** Subtract this vector (length D) from y and the images before the distance matmul (fewer float32 rounding errors). */
  center?: Float32Array;
}

/**
 * The exact empirical optimal denoiser D(y, sigma) = sum_n softmax_n(-|y - Y_n|^2 / (2 sigma^2)) Y_n
 * (Karras et al. 2022, eq. 57 / Appendix B.3) as one ONNX graph over N stored images Y [N, D]:
 *   logits = (2 (y - c) . (Y_n - c) - |Y_n - c|^2) * inv2var      (the |y - c|^2 term is constant per row)
 *   out    = Softmax(logits) @ Y
 * Inputs: `y` [batch, D] float32 and `inv2var` [] float32 = 1 / (2 sigma^2). Output `denoised` [batch, D].
 * The images are initializers (ORT pre-packs constant matmul operands), the bias |Y_n - c|^2 is computed in float64.
 */
export function buildEmpiricalGraph(images: Float32Array, count: number, dim: number, opts: EmpiricalGraphOptions = {}): Uint8Array {
  if (images.length !== count * dim) {
    throw new Error(`onnx-graphs.ts: images has ${images.length} values, expected count * dim = ${count} * ${dim}`);
  }
  const c = opts.center ?? new Float32Array(dim);
  if (c.length !== dim) throw new Error(`onnx-graphs.ts: center has length ${c.length}, expected ${dim}`);
  // 2 (Y - c)^T as [D, N] (the factor 2 is exact in float32), and -|Y_n - c|^2 as [N].
  const yt2 = new Float32Array(dim * count);
  const bias = new Float32Array(count);
  for (let n = 0; n < count; n++) {
    let s = 0;
    const off = n * dim;
    for (let d = 0; d < dim; d++) {
      const v = Math.fround(images[off + d] - c[d]);
      yt2[d * count + n] = 2 * v;
      s += v * v;
    }
    bias[n] = -s;
  }
  const centered = opts.center !== undefined;
  const nodes: onnxProto.onnx.INodeProto[] = [];
  let yIn = 'y';
  if (centered) {
    nodes.push(node('Sub', ['y', 'center'], ['y_centered']));
    yIn = 'y_centered';
  }
  nodes.push(
    node('MatMul', [yIn, 'images_t2'], ['dots2']),
    node('Add', ['dots2', 'neg_sqnorm'], ['neg_dist']),
    node('Mul', ['neg_dist', 'inv2var'], ['logits']),
    node('Softmax', ['logits'], ['weights'], [intAttr('axis', -1)]),
    node('MatMul', ['weights', 'images'], ['denoised']),
  );
  const initializer = [
    tensor('images_t2', [dim, count], yt2),
    tensor('neg_sqnorm', [count], bias),
    tensor('images', [count, dim], images),
  ];
  if (centered) initializer.push(tensor('center', [dim], c));
  return model({
    name: 'empirical_denoiser',
    node: nodes,
    initializer,
    input: [valueInfo('y', 'float32', ['batch', dim]), valueInfo('inv2var', 'float32', [])],
    output: [valueInfo('denoised', 'float32', ['batch', dim])],
  });
}

/** A plain [B, D] x [D, N] MatMul with a constant right operand: the benchmark's measure of ONNX Runtime's matmul peak. */
export function buildMatMulGraph(dim: number, count: number): Uint8Array {
  const w = new Float32Array(dim * count);
  for (let i = 0; i < w.length; i++) w[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  return model({
    name: 'matmul',
    node: [node('MatMul', ['a', 'w'], ['c'])],
    initializer: [tensor('w', [dim, count], w)],
    input: [valueInfo('a', 'float32', ['batch', dim])],
    output: [valueInfo('c', 'float32', ['batch', count])],
  });
}

// Kept for tests of other graph layouts.
export const _internal = { valueInfo, node, tensor, model, floatAttr, intAttr, intsAttr };
