// Train a family of EDM-preconditioned MLP denoisers of growing width on an embedded data set and export each as
// ONNX (prediction 'edm', EDM schedule) with a model card JSON: the hierarchy of drift approximators f^1..f^k that
// ML-EM (src/mlem/) samples with. Forward + hand-written backward run as one onnxruntime graph (mlp-train.ts).
//
//   npx tsx scripts/train-mlp.ts --data digits --widths 32,64,128,256,512 --steps 6000 --seed 0
//
// Options: --data digits|fashion, --widths a,b,c, --depth N (hidden layers, default 3), --steps N, --batch B,
// --lr X (peak, cosine decay after a linear warm-up), --warmup N, --ema X, --seed S, --threads T, --out DIR.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { loadEmbeddedDataset } from '../src/models/data.js';
import { buildMlpGraph, flattenParams, layerDims, mlpFlops, mlpForward, mlpInputDim, paramCount, unflattenParams, type MlpArchitecture } from '../src/models/mlp.js';
import { Adam, buildMlpTrainGraph, edmBatch, initParams, TrainRng } from '../src/models/mlp-train.js';
import { edmPreconditioning } from '../src/models/adapters.js';

interface Args {
  data: string;
  widths: number[];
  depth: number;
  steps: number;
  batch: number;
  lr: number;
  warmup: number;
  ema: number;
  seed: number;
  threads: number;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { data: 'digits', widths: [32, 64, 128, 256, 512], depth: 3, steps: 6000, batch: 512, lr: 2e-3, warmup: 200, ema: 0.999, seed: 0, threads: 2, out: 'models' };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, ''), v = argv[i + 1];
    if (v === undefined) throw new Error(`train-mlp: --${k} needs a value`);
    switch (k) {
      case 'data': a.data = v; break;
      case 'widths': a.widths = v.split(',').map(Number); break;
      case 'out': a.out = v; break;
      case 'depth': case 'steps': case 'batch': case 'warmup': case 'seed': case 'threads':
        a[k] = Number(v);
        if (!Number.isInteger(a[k]) || a[k] < 0) throw new Error(`train-mlp: --${k} must be a non-negative integer`);
        break;
      case 'lr': case 'ema': a[k] = Number(v); break;
      default: throw new Error(`train-mlp: unknown option --${k}`);
    }
  }
  return a;
}

const P_MEAN = -1.2, P_STD = 1.2, SIGMA_DATA = 0.5;
const FREQUENCIES = [0.5, 1, 2, 4, 8, 16];

async function trainOne(args: Args, width: number): Promise<void> {
  const ds = loadEmbeddedDataset(args.data);
  const arch: MlpArchitecture = { sampleShape: [...ds.shape], hidden: Array(args.depth).fill(width), frequencies: FREQUENCIES, sigmaData: SIGMA_DATA };
  const name = `mlp-${args.data}-w${width}`;
  const dims = layerDims(arch);
  const trainGraph = buildMlpTrainGraph(arch);
  const session = await ort.InferenceSession.create(trainGraph, { intraOpNumThreads: args.threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const initRng = new TrainRng(args.seed * 7919 + width);
  const dataRng = new TrainRng(args.seed * 104729 + width + 1);
  const params = initParams(arch, initRng);
  const flat = flattenParams(params);
  const adam = new Adam(flat);
  const views = unflattenViews(arch, flat);
  const grad = new Float32Array(flat.length);
  const d = ds.images.length / ds.count;
  const gradScale = new ort.Tensor('float32', Float32Array.of(2 / (args.batch * d)), []);
  const curve: { step: number; loss: number }[] = [];
  let window = 0, windowCount = 0;
  const every = Math.max(1, Math.round(args.steps / 30));
  const t0 = performance.now();
  for (let step = 0; step < args.steps; step++) {
    const b = edmBatch(arch, ds.images, args.batch, dataRng, { pMean: P_MEAN, pStd: P_STD, sigmaData: SIGMA_DATA });
    const feeds: Record<string, ort.Tensor> = {
      x: new ort.Tensor('float32', b.x, [args.batch, d]),
      emb: new ort.Tensor('float32', b.emb, [args.batch, b.emb.length / args.batch]),
      target: new ort.Tensor('float32', b.target, [args.batch, d]),
      grad_scale: gradScale,
    };
    views.forEach((v, l) => {
      feeds[`w${l}`] = new ort.Tensor('float32', v.w, [dims[l][0], dims[l][1]]);
      feeds[`e${l}`] = new ort.Tensor('float32', v.e, [v.e.length / dims[l][1], dims[l][1]]);
      feeds[`b${l}`] = new ort.Tensor('float32', v.b, [dims[l][1]]);
    });
    const res = await session.run(feeds);
    let off = 0;
    views.forEach((v, l) => {
      for (const [key, n] of [[`gw${l}`, v.w.length], [`ge${l}`, v.e.length], [`gb${l}`, v.b.length]] as const) {
        grad.set(res[key].data as Float32Array, off);
        off += n;
      }
    });
    const loss = (res.loss.data as Float32Array)[0];
    if (!Number.isFinite(loss)) throw new Error(`train-mlp: ${name}: loss is ${loss} at step ${step}`);
    // Linear warm-up, then cosine decay to 0 (the EMA weights are what is exported).
    const lr = step < args.warmup ? (args.lr * (step + 1)) / args.warmup : 0.5 * args.lr * (1 + Math.cos((Math.PI * (step - args.warmup)) / Math.max(1, args.steps - args.warmup)));
    adam.step(grad, lr, step < args.warmup ? 0 : args.ema);
    window += loss;
    windowCount++;
    if ((step + 1) % every === 0 || step === args.steps - 1) {
      curve.push({ step: step + 1, loss: window / windowCount });
      window = 0;
      windowCount = 0;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  await session.release();

  // Export the EMA weights, and check the ONNX graph against the float64 TypeScript forward pass.
  const trained = unflattenParams(arch, adam.ema);
  const bytes = buildMlpGraph(arch, trained, name.replace(/-/g, '_'));
  mkdirSync(args.out, { recursive: true });
  writeFileSync(`${args.out}/${name}.onnx`, bytes);
  const check = await checkExport(arch, trained, bytes, args.data);
  const heldOut = heldOutLoss(arch, trained, ds.images, args.seed);
  const card = {
    name,
    file: `${name}.onnx`,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    bytes: bytes.length,
    dataset: { name: args.data, count: ds.count, shape: ds.shape, description: ds.description, pixels: '[-1, 1]' },
    load: { spec: `onnx:models/${name}.onnx`, prediction: 'edm', schedule: 'edm', sigmaData: SIGMA_DATA },
    architecture: {
      kind: 'mlp',
      sampleShape: arch.sampleShape,
      hidden: arch.hidden,
      activation: 'silu',
      noiseEmbedding: { cNoise: 'ln(sigma)/4', features: '[c, cos(2 pi f c), sin(2 pi f c)]', frequencies: arch.frequencies, injection: 'every layer: x W + emb E + b' },
      preconditioning: 'EDM (Karras et al. 2022, Table 1): D = c_skip y + c_out F(c_in y; c_noise)',
      params: paramCount(arch),
      flopsPerSample: mlpFlops(arch),
    },
    training: {
      loss: 'EDM eq. 8 with lambda(sigma) c_out^2 = 1: mean over pixels of (F - (x0 - c_skip y) / c_out)^2',
      sigma: { distribution: 'log-normal', pMean: P_MEAN, pStd: P_STD },
      steps: args.steps,
      batch: args.batch,
      optimizer: { kind: 'adam', beta1: 0.9, beta2: 0.999, eps: 1e-8, lr: args.lr, schedule: `linear warm-up ${args.warmup} steps, then cosine decay to 0` },
      ema: args.ema,
      seed: args.seed,
      threads: args.threads,
      backend: `onnxruntime-node ${ort.env.versions.common} (forward + hand-written backward graph, src/models/mlp-train.ts)`,
      seconds: Math.round(seconds * 10) / 10,
      lossCurve: curve.map((c) => ({ step: c.step, loss: Number(c.loss.toPrecision(5)) })),
      finalLoss: Number(curve[curve.length - 1].loss.toPrecision(5)),
      heldOutLoss: Number(heldOut.toPrecision(5)),
      heldOutLossNote: 'the same loss of the exported (EMA) weights on 16 fresh batches of 512 (noise and sigma never drawn in training)',
    },
    exportCheck: check,
    command: `npx tsx scripts/train-mlp.ts --data ${args.data} --widths ${width} --depth ${args.depth} --steps ${args.steps} --batch ${args.batch} --lr ${args.lr} --warmup ${args.warmup} --ema ${args.ema} --seed ${args.seed} --threads ${args.threads} --out ${args.out}`,
  };
  writeFileSync(`${args.out}/${name}.json`, JSON.stringify(card, null, 2) + '\n');
  console.log(`${name}: ${paramCount(arch)} params, ${(bytes.length / 1e6).toFixed(2)} MB, ${args.steps} steps in ${seconds.toFixed(1)} s, loss ${curve[0].loss.toFixed(4)} -> ${card.training.finalLoss}, held-out ${card.training.heldOutLoss}, export max |diff| ${check.maxAbsDiff.toExponential(2)}`);
}

/** Views of the flat parameter vector, layer by layer (w, e, b), sharing its memory (Adam updates them in place). */
function unflattenViews(arch: MlpArchitecture, flat: Float32Array): { w: Float32Array; e: Float32Array; b: Float32Array }[] {
  const E = 1 + 2 * arch.frequencies.length;
  let off = 0;
  const take = (n: number): Float32Array => flat.subarray(off, (off += n));
  return layerDims(arch).map(([i, o]) => ({ w: take(i * o), e: take(E * o), b: take(o) }));
}

/** The exported graph against the float64 forward pass on 64 noisy inputs at 8 noise levels. */
async function checkExport(arch: MlpArchitecture, params: ReturnType<typeof unflattenParams>, bytes: Uint8Array, data: string): Promise<{ maxAbsDiff: number; inputs: string }> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const ds = loadEmbeddedDataset(data);
  const d = ds.images.length / ds.count;
  const rng = new TrainRng(12345);
  let max = 0;
  for (const sigma of [0.002, 0.02, 0.1, 0.3, 1, 3, 10, 80]) {
    const { cIn, cNoise } = edmPreconditioning(sigma, arch.sigmaData);
    const x = new Float32Array(8 * d);
    for (let r = 0; r < 8; r++) for (let i = 0; i < d; i++) x[r * d + i] = cIn * (ds.images[(r * 97) % ds.count * d + i] + sigma * rng.normal());
    const res = await session.run({ sample: new ort.Tensor('float32', x, [8, ...arch.sampleShape]), timestep: new ort.Tensor('float32', Float32Array.of(cNoise), []) });
    const got = res.out_sample.data as Float32Array;
    const ref = mlpForward(arch, params, x, Math.fround(cNoise));
    for (let i = 0; i < got.length; i++) max = Math.max(max, Math.abs(got[i] - ref[i]));
  }
  await session.release();
  return { maxAbsDiff: max, inputs: '8 images x 8 sigmas in [0.002, 80], F compared with the float64 TypeScript forward pass' };
}

/** EDM loss of the exported weights on fresh batches (TypeScript forward, per-sample c_noise). */
function heldOutLoss(arch: MlpArchitecture, params: ReturnType<typeof unflattenParams>, images: Float32Array, seed: number): number {
  const rng = new TrainRng(0x7e57 + seed);
  const d = mlpInputDim(arch);
  let total = 0, count = 0;
  for (let k = 0; k < 16; k++) {
    const b = edmBatch(arch, images, 512, rng, { pMean: P_MEAN, pStd: P_STD, sigmaData: SIGMA_DATA });
    for (let r = 0; r < 512; r++) {
      const cNoise = Math.log(b.sigma[r]) / 4;
      const f = mlpForward(arch, params, b.x.subarray(r * d, (r + 1) * d), cNoise);
      for (let i = 0; i < d; i++) {
        const e = f[i] - b.target[r * d + i];
        total += e * e;
        count++;
      }
    }
  }
  return total / count;
}

const args = parseArgs(process.argv.slice(2));
for (const w of args.widths) await trainOne(args, w);
