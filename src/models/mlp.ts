// A small EDM-preconditioned MLP denoiser (Karras et al. 2022, eq. 7 and Table 1): the network F sees c_in * y and a
// Fourier embedding of c_noise = ln(sigma) / 4, and D(y; sigma) = c_skip y + c_out F. Here: the architecture, its
// plain TypeScript forward pass (float64, the reference the ONNX export is checked against), its FLOP count, and the
// inference graph built with onnx-proto. The graph has the diffusers UNet signature (`sample`, scalar `timestep` =
// c_noise) and outputs F, so it loads through onnx-denoiser.ts with prediction 'edm' and the EDM schedule.
// Browser-safe: returns model bytes.
import { _internal } from './onnx-graphs.js';
import onnxProto from 'onnx-proto';

const { valueInfo, node, tensor, model, intAttr } = _internal;

export interface MlpArchitecture {
  /** Shape of one sample, e.g. [1, 8, 8]. The input and output have prod(sampleShape) values. */
  sampleShape: number[];
  /** Widths of the hidden layers (each: x W + emb E + b, then SiLU). */
  hidden: number[];
  /** Frequencies f_k of the noise embedding [c, cos(2 pi f_k c), sin(2 pi f_k c)] with c = c_noise. */
  frequencies: number[];
  /** sigma_data of the EDM preconditioning (0.5, the adapters' default). */
  sigmaData: number;
}

/** One dense layer: out = x W + emb E + b; W is [in, out], E is [embedDim, out], both row-major. */
export interface MlpLayer {
  w: Float32Array;
  e: Float32Array;
  b: Float32Array;
}

export interface MlpParams {
  /** Hidden layers then the output layer (the output layer also sees the embedding). */
  layers: MlpLayer[];
}

export function mlpInputDim(arch: MlpArchitecture): number {
  return arch.sampleShape.reduce((a, b) => a * b, 1);
}

export function embedDim(arch: MlpArchitecture): number {
  return 1 + 2 * arch.frequencies.length;
}

/** [in, out] of every layer, hidden layers first, then the output layer. */
export function layerDims(arch: MlpArchitecture): [number, number][] {
  const d = mlpInputDim(arch);
  const sizes = [d, ...arch.hidden, d];
  return sizes.slice(0, -1).map((n, i) => [n, sizes[i + 1]]);
}

export function paramCount(arch: MlpArchitecture): number {
  const e = embedDim(arch);
  return layerDims(arch).reduce((a, [i, o]) => a + (i + e + 1) * o, 0);
}

/**
 * Floating-point operations per sample of one network evaluation: 2 * in * out per dense layer (the per-call
 * embedding products do not scale with the batch and are left out), 4 per SiLU unit (sigmoid, multiply), and
 * 4 per pixel for the preconditioning (c_in y, c_skip y + c_out F).
 */
export function mlpFlops(arch: MlpArchitecture): number {
  const dims = layerDims(arch);
  let f = 0;
  for (const [i, o] of dims) f += 2 * i * o + o; // + bias add
  for (const w of arch.hidden) f += 4 * w;
  return f + 4 * mlpInputDim(arch);
}

/** The noise embedding [c, cos(2 pi f_k c)..., sin(2 pi f_k c)...] of c = c_noise (float64). */
export function noiseEmbedding(arch: MlpArchitecture, cNoise: number, out = new Float64Array(embedDim(arch))): Float64Array {
  const k = arch.frequencies.length;
  out[0] = cNoise;
  for (let j = 0; j < k; j++) {
    const a = 2 * Math.PI * arch.frequencies[j] * cNoise;
    out[1 + j] = Math.cos(a);
    out[1 + k + j] = Math.sin(a);
  }
  return out;
}

/** Check that the parameter arrays have the architecture's sizes. */
export function checkParams(arch: MlpArchitecture, params: MlpParams, where = 'mlp.ts'): void {
  const dims = layerDims(arch);
  const e = embedDim(arch);
  if (params.layers.length !== dims.length) throw new Error(`${where}: ${params.layers.length} layers, the architecture has ${dims.length}`);
  dims.forEach(([i, o], l) => {
    const p = params.layers[l];
    if (p.w.length !== i * o || p.e.length !== e * o || p.b.length !== o) {
      throw new Error(`${where}: layer ${l} has sizes w ${p.w.length}, e ${p.e.length}, b ${p.b.length}; expected ${i * o}, ${e * o}, ${o}`);
    }
  });
}

const silu = (a: number): number => a / (1 + Math.exp(-a));

/**
 * F(xIn; cNoise) for a batch xIn [B, D] (already multiplied by c_in), float64 accumulation: the reference forward pass.
 * The trainer's ONNX graph computes the same function (see mlp-train.ts).
 */
export function mlpForward(arch: MlpArchitecture, params: MlpParams, xIn: Float32Array, cNoise: number): Float32Array {
  const dims = layerDims(arch);
  const d = mlpInputDim(arch);
  const rows = xIn.length / d;
  const emb = noiseEmbedding(arch, cNoise);
  let h: Float64Array = Float64Array.from(xIn);
  dims.forEach(([nin, nout], l) => {
    const { w, e, b } = params.layers[l];
    const bias = new Float64Array(nout);
    for (let o = 0; o < nout; o++) {
      let s = b[o];
      for (let k = 0; k < emb.length; k++) s += emb[k] * e[k * nout + o];
      bias[o] = s;
    }
    const next = new Float64Array(rows * nout);
    const last = l === dims.length - 1;
    for (let r = 0; r < rows; r++) {
      const acc = next.subarray(r * nout, (r + 1) * nout);
      acc.set(bias);
      for (let i = 0; i < nin; i++) {
        const v = h[r * nin + i];
        if (v === 0) continue;
        const wo = i * nout;
        for (let o = 0; o < nout; o++) acc[o] += v * w[wo + o];
      }
      if (!last) for (let o = 0; o < nout; o++) acc[o] = silu(acc[o]);
    }
    h = next;
  });
  return Float32Array.from(h);
}

/**
 * The inference graph: `sample` [batch, ...sampleShape] float32 (= c_in y), `timestep` [] float32 (= c_noise)
 * -> `out_sample` [batch, ...sampleShape] = F. The embedding terms emb E_l + b_l are computed once per call as a
 * [1, out] row and passed to Gemm as its broadcast bias; SiLU is x * Sigmoid(x) (opset 17 has no SiLU op).
 */
export function buildMlpGraph(arch: MlpArchitecture, params: MlpParams, name = 'mlp_denoiser'): Uint8Array {
  checkParams(arch, params);
  const dims = layerDims(arch);
  const d = mlpInputDim(arch);
  const k = arch.frequencies.length;
  const E = embedDim(arch);
  const nodes: onnxProto.onnx.INodeProto[] = [];
  const init: onnxProto.onnx.ITensorProto[] = [];
  const twoPiF = Float32Array.from(arch.frequencies, (f) => 2 * Math.PI * f);
  init.push(
    tensor('flat_shape', [2], BigInt64Array.of(-1n, BigInt(d))),
    tensor('t_shape', [2], BigInt64Array.of(1n, 1n)),
    tensor('two_pi_f', [1, k], twoPiF),
  );
  nodes.push(
    node('Reshape', ['sample', 'flat_shape'], ['x0']),
    node('Reshape', ['timestep', 't_shape'], ['c11']),
    node('Mul', ['c11', 'two_pi_f'], ['phase']),
    node('Cos', ['phase'], ['cosf']),
    node('Sin', ['phase'], ['sinf']),
    node('Concat', ['c11', 'cosf', 'sinf'], ['emb'], [intAttr('axis', 1)]),
  );
  let h = 'x0';
  dims.forEach(([nin, nout], l) => {
    const p = params.layers[l];
    init.push(tensor(`w${l}`, [nin, nout], p.w), tensor(`e${l}`, [E, nout], p.e), tensor(`b${l}`, [nout], p.b));
    nodes.push(node('MatMul', ['emb', `e${l}`], [`eb${l}`]), node('Add', [`eb${l}`, `b${l}`], [`bias${l}`]));
    const last = l === dims.length - 1;
    const a = last ? 'f_flat' : `a${l}`;
    nodes.push(node('Gemm', [h, `w${l}`, `bias${l}`], [a]));
    if (!last) {
      nodes.push(node('Sigmoid', [a], [`s${l}`]), node('Mul', [a, `s${l}`], [`h${l}`]));
      h = `h${l}`;
    }
  });
  nodes.push(node('Shape', ['sample'], ['sample_shape']), node('Reshape', ['f_flat', 'sample_shape'], ['out_sample']));
  return model({
    name,
    node: nodes,
    initializer: init,
    input: [valueInfo('sample', 'float32', ['batch', ...arch.sampleShape]), valueInfo('timestep', 'float32', [])],
    output: [valueInfo('out_sample', 'float32', ['batch', ...arch.sampleShape])],
  });
}

/** Flatten parameters into one Float32Array (layer by layer: w, e, b) and back; the trainer's and the card's layout. */
export function flattenParams(params: MlpParams): Float32Array {
  const total = params.layers.reduce((a, p) => a + p.w.length + p.e.length + p.b.length, 0);
  const out = new Float32Array(total);
  let off = 0;
  for (const p of params.layers) for (const v of [p.w, p.e, p.b]) {
    out.set(v, off);
    off += v.length;
  }
  return out;
}

export function unflattenParams(arch: MlpArchitecture, flat: Float32Array): MlpParams {
  const E = embedDim(arch);
  let off = 0;
  const take = (n: number): Float32Array => {
    const v = flat.slice(off, off + n);
    off += n;
    return v;
  };
  const layers = layerDims(arch).map(([i, o]) => ({ w: take(i * o), e: take(E * o), b: take(o) }));
  if (off !== flat.length) throw new Error(`mlp.ts: ${flat.length} parameters, the architecture has ${off}`);
  return { layers };
}

/** The parameters stored in an inference graph made by buildMlpGraph (its initializers w{l}, e{l}, b{l}). */
export function readMlpParams(bytes: Uint8Array, arch: MlpArchitecture): MlpParams {
  const m = onnxProto.onnx.ModelProto.decode(bytes);
  const init = new Map<string, Float32Array>();
  for (const t of m.graph?.initializer ?? []) {
    if (!t.name || !t.rawData || t.dataType !== onnxProto.onnx.TensorProto.DataType.FLOAT) continue;
    const raw = t.rawData;
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    init.set(t.name, new Float32Array(copy.buffer));
  }
  const get = (k: string): Float32Array => {
    const v = init.get(k);
    if (!v) throw new Error(`mlp.ts: the graph has no float initializer '${k}'; not an MLP made by buildMlpGraph`);
    return v;
  };
  const params = { layers: layerDims(arch).map((_, l) => ({ w: get(`w${l}`), e: get(`e${l}`), b: get(`b${l}`) })) };
  checkParams(arch, params, 'mlp.ts (readMlpParams)');
  return params;
}
