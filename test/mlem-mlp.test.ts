// The MLP denoiser: the inference graph equals the float64 TypeScript forward pass, the training graph's hand-written
// backward pass equals finite differences, and the training graph's forward equals the inference graph's.
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { buildMlpGraph, flattenParams, layerDims, mlpForward, mlpInputDim, noiseEmbedding, unflattenParams, type MlpArchitecture, type MlpParams } from '../src/models/mlp.js';
import { buildMlpTrainGraph, initParams, TrainRng } from '../src/models/mlp-train.js';

const arch: MlpArchitecture = { sampleShape: [1, 3, 2], hidden: [5, 4], frequencies: [0.5, 2], sigmaData: 0.5 };

function randomParams(a: MlpArchitecture, seed: number): MlpParams {
  const rng = new TrainRng(seed);
  const p = initParams(a, rng);
  // A non-zero output layer and biases, so every parameter matters.
  const flat = flattenParams(p);
  for (let i = 0; i < flat.length; i++) flat[i] += 0.3 * rng.normal();
  return unflattenParams(a, flat);
}

async function runTrain(session: ort.InferenceSession, a: MlpArchitecture, params: MlpParams, x: Float32Array, emb: Float32Array, target: Float32Array, b: number) {
  const d = mlpInputDim(a);
  const dims = layerDims(a);
  const feeds: Record<string, ort.Tensor> = {
    x: new ort.Tensor('float32', x, [b, d]),
    emb: new ort.Tensor('float32', emb, [b, emb.length / b]),
    target: new ort.Tensor('float32', target, [b, d]),
    grad_scale: new ort.Tensor('float32', Float32Array.of(2 / (b * d)), []),
  };
  params.layers.forEach((p, l) => {
    feeds[`w${l}`] = new ort.Tensor('float32', p.w, dims[l]);
    feeds[`e${l}`] = new ort.Tensor('float32', p.e, [p.e.length / dims[l][1], dims[l][1]]);
    feeds[`b${l}`] = new ort.Tensor('float32', p.b, [dims[l][1]]);
  });
  return session.run(feeds);
}

describe('MLP denoiser graphs', () => {
  it('the inference graph equals the float64 forward pass (1e-4)', async () => {
    const a: MlpArchitecture = { sampleShape: [1, 8, 8], hidden: [32, 32, 32], frequencies: [0.5, 1, 2, 4, 8, 16], sigmaData: 0.5 };
    const params = randomParams(a, 3);
    const session = await ort.InferenceSession.create(buildMlpGraph(a, params), { intraOpNumThreads: 1 });
    const rng = new TrainRng(9);
    for (const c of [-1.5, -0.3, 0, 0.7, 1.1]) {
      const x = Float32Array.from({ length: 5 * 64 }, () => rng.normal());
      const res = await session.run({ sample: new ort.Tensor('float32', x, [5, 1, 8, 8]), timestep: new ort.Tensor('float32', Float32Array.of(c), []) });
      expect(res.out_sample.dims).toEqual([5, 1, 8, 8]);
      const ref = mlpForward(a, params, x, Math.fround(c));
      const got = res.out_sample.data as Float32Array;
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - ref[i])).toBeLessThan(1e-4 * (1 + Math.abs(ref[i])));
    }
    await session.release();
  });

  it('the training graph: its forward equals the inference graph and its gradients equal finite differences', async () => {
    const params = randomParams(arch, 1);
    const d = mlpInputDim(arch);
    const b = 3;
    const rng = new TrainRng(2);
    const x = Float32Array.from({ length: b * d }, () => rng.normal());
    const target = Float32Array.from({ length: b * d }, () => rng.normal());
    // One c_noise for the batch, so the inference graph (scalar timestep) computes the same F.
    const c = 0.37;
    const e = Float32Array.from(noiseEmbedding(arch, c));
    const emb = new Float32Array(b * e.length);
    for (let r = 0; r < b; r++) emb.set(e, r * e.length);
    const session = await ort.InferenceSession.create(buildMlpTrainGraph(arch), { intraOpNumThreads: 1 });
    const res = await runTrain(session, arch, params, x, emb, target, b);
    const f = mlpForward(arch, params, x, c);
    let loss = 0;
    for (let i = 0; i < f.length; i++) loss += (f[i] - target[i]) ** 2;
    expect((res.loss.data as Float32Array)[0]).toBeCloseTo(loss / f.length, 5);

    // Central differences of the float64 loss against every analytic gradient entry.
    const flat = flattenParams(params);
    const analytic = new Float32Array(flat.length);
    let off = 0;
    params.layers.forEach((p, l) => {
      for (const [k, n] of [[`gw${l}`, p.w.length], [`ge${l}`, p.e.length], [`gb${l}`, p.b.length]] as const) {
        analytic.set(res[k].data as Float32Array, off);
        off += n;
      }
    });
    const lossAt = (v: Float32Array): number => {
      const ff = mlpForward(arch, unflattenParams(arch, v), x, c);
      let s = 0;
      for (let i = 0; i < ff.length; i++) s += (ff[i] - target[i]) ** 2;
      return s / ff.length;
    };
    const h = 1e-2;
    for (let i = 0; i < flat.length; i++) {
      const p = flat.slice(), m = flat.slice();
      p[i] += h;
      m[i] -= h;
      const fd = (lossAt(p) - lossAt(m)) / (2 * h);
      expect(Math.abs(analytic[i] - fd)).toBeLessThan(2e-3 * (1 + Math.abs(fd)));
    }
    await session.release();
  });
});
