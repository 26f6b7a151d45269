import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeBatch } from '../src/core/batch.js';
import { createOnnxDenoiser } from '../src/models/onnx-denoiser.js';
import { buildDummyUnet } from '../src/models/onnx-graphs.js';

const shape = [2, 3, 4];
const B = 5;
const x = Float32Array.from({ length: B * 24 }, (_, i) => Math.sin(0.37 * i) * 2);

/** out = sample * t / (t + 1): with prediction 'sample' and alpha = 1 the denoiser's x0 is that. */
function expected(t: number): Float32Array {
  return x.map((v) => v * (t / (t + 1)));
}

describe('onnx denoiser: dummy diffusers UNet', () => {
  it('the fixture is the float32 scalar-timestep dummy UNet', () => {
    const file = readFileSync('test/fixtures/models/dummy-unet.onnx');
    expect(Buffer.compare(file, Buffer.from(buildDummyUnet({ timestepType: 'float32', timestepShape: 'scalar' })))).toBe(0);
  });

  const variants = [] as { timestepType: 'float32' | 'int64' | 'float64' | 'int32'; timestepShape: 'scalar' | '1' | 'batch' }[];
  for (const timestepType of ['float32', 'int64', 'float64', 'int32'] as const) {
    for (const timestepShape of ['scalar', '1', 'batch'] as const) variants.push({ timestepType, timestepShape });
  }

  it('all timestep dtype/shape variants give the same result (int timesteps rounded)', async () => {
    for (const v of variants) {
      const den = await createOnnxDenoiser(buildDummyUnet(v), { prediction: 'sample', sampleShape: shape, threads: 1 });
      for (const t of [999, 3]) {
        const p = await den.predict(makeBatch([B, ...shape], x), { sigma: 1, t: t + 0.4, alpha: 1 });
        const tEff = v.timestepType.startsWith('int') ? t : t + 0.4;
        const want = expected(tEff);
        for (let i = 0; i < x.length; i += 7) expect(p.x0[i]).toBeCloseTo(want[i], 5);
      }
      await den.dispose!();
    }
  });

  it('feeds alpha * y as the sample and converts epsilon predictions', async () => {
    const den = await createOnnxDenoiser('test/fixtures/models/dummy-unet.onnx', { sampleShape: shape });
    const alpha = 0.6, sigma = Math.sqrt(1 / alpha ** 2 - 1), t = 10;
    const p = await den.predict(makeBatch([B, ...shape], x), { sigma, t, alpha });
    for (let i = 0; i < x.length; i += 5) {
      const eps = alpha * x[i] * (t / (t + 1));
      expect(p.eps[i]).toBeCloseTo(eps, 5);
      expect(p.x0[i]).toBeCloseTo(x[i] - sigma * eps, 5);
    }
    await den.dispose!();
  });

  it('runs a fixed-batch model in chunks, padding the last one', async () => {
    const den = await createOnnxDenoiser(buildDummyUnet({ fixedBatch: 2, timestepShape: 'batch' }), { prediction: 'sample', sampleShape: shape });
    const p = await den.predict(makeBatch([B, ...shape], x), { sigma: 1, t: 4, alpha: 1 });
    const want = expected(4);
    for (let i = 0; i < x.length; i++) expect(p.x0[i]).toBeCloseTo(want[i], 5);
    await den.dispose!();
  });

  it('repeats encoder_hidden_states to the batch', async () => {
    const cond = { data: Float32Array.from([1, 2, 3, 4, 5, 6]), shape: [1, 2, 3] };
    const den = await createOnnxDenoiser(buildDummyUnet({ encoderHiddenStates: true }), { prediction: 'sample', sampleShape: shape, cond });
    const p = await den.predict(makeBatch([B, ...shape], x), { sigma: 1, t: 4, alpha: 1 });
    const want = expected(4);
    for (let i = 0; i < x.length; i++) expect(p.x0[i]).toBeCloseTo(want[i] + 3.5, 5);
    await den.dispose!();
    await expect(createOnnxDenoiser(buildDummyUnet({ encoderHiddenStates: true }), { sampleShape: shape })).rejects.toThrow(
      /needs 'encoder_hidden_states' and no cond was given.*encoder_hidden_states: float32 \[batch, sequence, dim\]/,
    );
  });

  it('reports models that do not fit, with their inputs and what was expected', async () => {
    await expect(createOnnxDenoiser(buildDummyUnet({ sampleName: 'latents' }), { sampleShape: shape })).rejects.toThrow(
      /onnx-denoiser.ts: model '<bytes>' does not fit: no input named 'sample'\. It has inputs latents: float32 \[batch, channels, height, width\]; timestep: float32 \[\]; expected sample: float32/,
    );
    await expect(createOnnxDenoiser(buildDummyUnet())).rejects.toThrow(/symbolic dimensions \[batch, channels, height, width\]; pass sampleShape/);
    await expect(createOnnxDenoiser(buildDummyUnet(), { sampleShape: [3, 4] })).rejects.toThrow(/sampleShape \[3,4\] has rank 2, the model's 'sample' has 3 non-batch axes/);
    await expect(createOnnxDenoiser(buildDummyUnet(), { sampleShape: shape, cond: { data: new Float32Array(2), shape: [1, 2] } })).rejects.toThrow(
      /a cond was given but the model has no encoder_hidden_states input/,
    );
  });

  it('names a missing or non-ONNX file', async () => {
    await expect(createOnnxDenoiser('no/such/model.onnx')).rejects.toThrow(/onnx-denoiser.ts: model file 'no\/such\/model.onnx' not found/);
    const dir = mkdtempSync(join(tmpdir(), 'iia-onnx-'));
    const bad = join(dir, 'bad.onnx');
    writeFileSync(bad, 'this is not a protobuf');
    await expect(createOnnxDenoiser(bad)).rejects.toThrow(new RegExp(`'${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}' is not a loadable ONNX model`));
  });
});
