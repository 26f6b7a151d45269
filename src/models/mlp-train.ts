// Training the MLP denoiser of mlp.ts with EDM's loss (Karras et al. 2022, eq. 8 and Table 1): sigma ~ log-normal
// (P_mean, P_std), y = x0 + sigma n, and with the weight lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2
// the loss lambda c_out^2 |F(c_in y; c_noise) - (x0 - c_skip y) / c_out|^2 has unit weight on F's target. The forward
// pass and its hand-written backward pass form one ONNX graph (run by onnxruntime: dense matmuls at ~100 GFLOP/s
// here, where tfjs' wasm backend managed ~3 GFLOP/s); Adam and the weight EMA are plain TypeScript. Browser-safe:
// graph bytes, batches and the optimiser; the caller runs the graph.
import onnxProto from 'onnx-proto';
import { _internal } from './onnx-graphs.js';
import { edmPreconditioning } from './adapters.js';
import { embedDim, layerDims, mlpInputDim, noiseEmbedding, type MlpArchitecture, type MlpParams } from './mlp.js';

const { valueInfo, node, tensor, model, intAttr } = _internal;

/**
 * Forward + backward graph. Inputs: `x` [B, D] (= c_in y), `emb` [B, E] (per-sample noise embedding), `target`
 * [B, D], `grad_scale` [] (= 2 / (B D), the derivative of the mean square), and the parameters `w{l}`, `e{l}`, `b{l}`.
 * Outputs: `loss` [] = mean((F - target)^2) and the gradients `gw{l}`, `ge{l}`, `gb{l}`.
 * Backward: dF = grad_scale (F - target); per layer dW = h^T da, dE = emb^T da, db = sum_rows da, dh = da W^T, and
 * through SiLU da = dh * s (1 + a (1 - s)) with s = sigmoid(a).
 */
export function buildMlpTrainGraph(arch: MlpArchitecture): Uint8Array {
  const dims = layerDims(arch);
  const d = mlpInputDim(arch);
  const E = embedDim(arch);
  const nodes: onnxProto.onnx.INodeProto[] = [];
  const inputs = [
    valueInfo('x', 'float32', ['batch', d]),
    valueInfo('emb', 'float32', ['batch', E]),
    valueInfo('target', 'float32', ['batch', d]),
    valueInfo('grad_scale', 'float32', []),
  ];
  const outputs = [valueInfo('loss', 'float32', [])];
  const L = dims.length;
  // Forward, keeping a_l, s_l, h_l.
  let h = 'x';
  const hs: string[] = [];
  dims.forEach(([nin, nout], l) => {
    inputs.push(valueInfo(`w${l}`, 'float32', [nin, nout]), valueInfo(`e${l}`, 'float32', [E, nout]), valueInfo(`b${l}`, 'float32', [nout]));
    hs.push(h);
    nodes.push(node('MatMul', ['emb', `e${l}`], [`eb${l}`]), node('Gemm', [h, `w${l}`, `b${l}`], [`xb${l}`]), node('Add', [`xb${l}`, `eb${l}`], [`a${l}`]));
    if (l < L - 1) {
      nodes.push(node('Sigmoid', [`a${l}`], [`s${l}`]), node('Mul', [`a${l}`, `s${l}`], [`h${l}`]));
      h = `h${l}`;
    }
  });
  const F = `a${L - 1}`;
  nodes.push(
    node('Sub', [F, 'target'], ['resid']),
    node('Mul', ['resid', 'resid'], ['sq']),
    node('ReduceMean', ['sq'], ['loss'], [intAttr('keepdims', 0)]),
    node('Mul', ['resid', 'grad_scale'], [`da${L - 1}`]),
  );
  for (let l = L - 1; l >= 0; l--) {
    const da = `da${l}`;
    nodes.push(
      node('Gemm', [hs[l], da], [`gw${l}`], [intAttr('transA', 1)]),
      node('Gemm', ['emb', da], [`ge${l}`], [intAttr('transA', 1)]),
      node('ReduceSum', [da, 'axis0'], [`gb${l}`], [intAttr('keepdims', 0)]),
    );
    outputs.push(
      valueInfo(`gw${l}`, 'float32', [dims[l][0], dims[l][1]]),
      valueInfo(`ge${l}`, 'float32', [E, dims[l][1]]),
      valueInfo(`gb${l}`, 'float32', [dims[l][1]]),
    );
    if (l > 0) {
      const p = l - 1; // dh_{l-1} = da_l W_l^T, then through the SiLU of layer l-1
      nodes.push(
        node('Gemm', [da, `w${l}`], [`dh${p}`], [intAttr('transB', 1)]),
        node('Sub', ['one', `s${p}`], [`oms${p}`]),
        node('Mul', [`a${p}`, `oms${p}`], [`aoms${p}`]),
        node('Add', ['one', `aoms${p}`], [`u${p}`]),
        node('Mul', [`s${p}`, `u${p}`], [`ds${p}`]),
        node('Mul', [`dh${p}`, `ds${p}`], [`da${p}`]),
      );
    }
  }
  return model({
    name: 'mlp_denoiser_train',
    node: nodes,
    initializer: [tensor('one', [], Float32Array.of(1)), tensor('axis0', [1], BigInt64Array.of(0n))],
    input: inputs,
    output: outputs,
  });
}

/** xoshiro128** (Blackman & Vigna 2018) seeded by splitmix32: a fast, seeded stream for training batches. */
export class TrainRng {
  private s = new Uint32Array(4);
  private spare: number | undefined;
  constructor(seed: number) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }
  nextU32(): number {
    const s = this.s;
    const r = Math.imul(((Math.imul(s[1], 5) << 7) | (Math.imul(s[1], 5) >>> 25)) >>> 0, 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = ((s[3] << 11) | (s[3] >>> 21)) >>> 0;
    return r;
  }
  /** Uniform in (0, 1). */
  uniform(): number {
    return (this.nextU32() + 0.5) / 4294967296;
  }
  normal(): number {
    if (this.spare !== undefined) {
      const v = this.spare;
      this.spare = undefined;
      return v;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const th = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}

export interface EdmBatchOptions {
  /** EDM's log-normal sigma distribution (Table 1: P_mean -1.2, P_std 1.2). */
  pMean: number;
  pStd: number;
  sigmaData: number;
}

export interface EdmBatch {
  x: Float32Array;
  emb: Float32Array;
  target: Float32Array;
  sigma: Float64Array;
}

/**
 * One training batch: images x0 drawn with replacement, sigma = exp(P_mean + P_std n), y = x0 + sigma eps;
 * inputs c_in y and emb(c_noise), target (x0 - c_skip y) / c_out (Karras et al. 2022, eq. 8 and Table 1).
 */
export function edmBatch(arch: MlpArchitecture, images: Float32Array, batch: number, rng: TrainRng, o: EdmBatchOptions): EdmBatch {
  const d = mlpInputDim(arch);
  const E = embedDim(arch);
  const count = images.length / d;
  const x = new Float32Array(batch * d);
  const target = new Float32Array(batch * d);
  const emb = new Float32Array(batch * E);
  const sigma = new Float64Array(batch);
  const e = new Float64Array(E);
  for (let r = 0; r < batch; r++) {
    const n = rng.int(count);
    const s = Math.exp(o.pMean + o.pStd * rng.normal());
    sigma[r] = s;
    const { cSkip, cOut, cIn, cNoise } = edmPreconditioning(s, o.sigmaData);
    noiseEmbedding(arch, cNoise, e);
    emb.set(e, r * E);
    for (let i = 0; i < d; i++) {
      const x0 = images[n * d + i];
      const y = x0 + s * rng.normal();
      x[r * d + i] = cIn * y;
      target[r * d + i] = (x0 - cSkip * y) / cOut;
    }
  }
  return { x, emb, target, sigma };
}

/** Initial parameters: W ~ N(0, 1/in), E ~ N(0, 1/E), b = 0, and a zero output layer (F = 0, D = c_skip y at start). */
export function initParams(arch: MlpArchitecture, rng: TrainRng): MlpParams {
  const E = embedDim(arch);
  const dims = layerDims(arch);
  return {
    layers: dims.map(([i, o], l) => {
      const last = l === dims.length - 1;
      const w = new Float32Array(i * o);
      const e = new Float32Array(E * o);
      if (!last) {
        for (let k = 0; k < w.length; k++) w[k] = rng.normal() / Math.sqrt(i);
        for (let k = 0; k < e.length; k++) e[k] = rng.normal() / Math.sqrt(E);
      }
      return { w, e, b: new Float32Array(o) };
    }),
  };
}

/** Adam (Kingma & Ba 2015) on a flat parameter vector, in float64 moments, with an EMA of the weights. */
export class Adam {
  private m: Float64Array;
  private v: Float64Array;
  private t = 0;
  readonly ema: Float32Array;
  constructor(readonly params: Float32Array, readonly beta1 = 0.9, readonly beta2 = 0.999, readonly eps = 1e-8) {
    this.m = new Float64Array(params.length);
    this.v = new Float64Array(params.length);
    this.ema = params.slice();
  }
  step(grad: Float32Array, lr: number, emaDecay: number): void {
    const { m, v, params, beta1, beta2, eps, ema } = this;
    this.t++;
    const c1 = 1 - beta1 ** this.t, c2 = 1 - beta2 ** this.t;
    for (let i = 0; i < params.length; i++) {
      const g = grad[i];
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      params[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);
      ema[i] = emaDecay * ema[i] + (1 - emaDecay) * params[i];
    }
  }
}
