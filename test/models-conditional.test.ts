import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeBatch, type Batch } from '../src/core/batch.js';
import { createClassConditionalDenoiser, cycleConditions, NULL_CONDITION, resolveCondition } from '../src/models/conditional.js';
import { loadEmbeddedDataset } from '../src/models/data.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { createEmpiricalDenoiser } from '../src/models/empirical-onnx.js';
import { TsEmpiricalDenoiser } from '../src/models/empirical.js';
import { createOnnxConditionalDenoiser, createOnnxDenoiser } from '../src/models/onnx-denoiser.js';
import { buildDummyUnet } from '../src/models/onnx-graphs.js';
import { listEmbeddedModels, loadModel } from '../src/models/registry.js';

const at = { sigma: 0.8, t: 0.8, alpha: 1 };

function digitsBatch(rows: number, seed = 1): Batch {
  return makeBatch([rows, 1, 8, 8], Float32Array.from({ length: rows * 64 }, (_, i) => Math.sin(seed * 0.37 * i + seed) * 1.2));
}

/** The images of class c among the first n of a data set. */
function classImages(name: string, n: number | undefined, c: number): Float32Array {
  const ds = loadEmbeddedDataset(name, n);
  const dim = ds.images.length / ds.count;
  const rows = [...ds.labels.keys()].filter((i) => ds.labels[i] === c);
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, k) => out.set(ds.images.subarray(r * dim, (r + 1) * dim), k * dim));
  return out;
}

function row(b: Batch, i: number): Batch {
  const d = b.data.length / b.shape[0];
  return { data: b.data.slice(i * d, (i + 1) * d), shape: [1, ...b.shape.slice(1)] };
}

describe('class-conditional exact models', () => {
  it('data:NAME:N@CLASS is the empirical denoiser over that class of the first N images (both back-ends)', async () => {
    const y = digitsBatch(3);
    const ref = new TsEmpiricalDenoiser(classImages('digits', 300, 3), [1, 8, 8]);
    const m = await loadModel('data:digits:300@3', { backend: 'ts' });
    expect(m.info).toMatchObject({ name: 'data:digits:300@3', kind: 'data', condition: 3, evaluationsPerCall: 1 });
    expect(m.info.count).toBe(classImages('digits', 300, 3).length / 64);
    expect(m.info.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const a = await m.denoiser.predict(y, at);
    const b = await ref.predict(y, at);
    expect(Array.from(a.x0)).toEqual(Array.from(b.x0));
    expect(Array.from(a.eps)).toEqual(Array.from(b.eps));

    const o = await loadModel('data:digits:300@3', { threads: 1 });
    const refOnnx = await createEmpiricalDenoiser(classImages('digits', 300, 3), [1, 8, 8], { threads: 1 });
    const c = await o.denoiser.predict(y, at);
    const d = await refOnnx.predict(y, at);
    expect(Array.from(c.x0)).toEqual(Array.from(d.x0));
    await o.denoiser.dispose!();
    await refOnnx.dispose!();
  });

  it('the unconditional data: model is unchanged: the denoiser over all first N images', async () => {
    const m = await loadModel('data:digits:200', { backend: 'ts' });
    expect(m.denoiser.name).toBe('data:digits:200');
    expect(m.info.condition).toBeUndefined();
    expect(m.family!.conditionNames.length).toBe(10);
    const ref = new TsEmpiricalDenoiser(loadEmbeddedDataset('digits', 200).images, [1, 8, 8]);
    const y = digitsBatch(2);
    expect(Array.from((await m.denoiser.predict(y, at)).x0)).toEqual(Array.from((await ref.predict(y, at)).x0));
  });

  it('classes by index or by name, ignoring case and punctuation; spec and option agree', async () => {
    const fashion = loadEmbeddedDataset('fashion').classNames;
    expect(resolveCondition('Trouser', fashion, true, 'x')).toBe(1);
    expect(resolveCondition('ankle-boot', fashion, true, 'x')).toBe(9);
    expect(resolveCondition('T-SHIRT/TOP', fashion, true, 'x')).toBe(0);
    expect(resolveCondition('tshirt top', fashion, true, 'x')).toBe(0);
    expect(resolveCondition(' 7 ', fashion, true, 'x')).toBe(7);
    expect(resolveCondition(-1, fashion, true, 'x')).toBe(NULL_CONDITION);

    const m = await loadModel('data:fashion:300@Trouser', { backend: 'ts' });
    expect(m.info.condition).toBe(1);
    const byIndex = await loadModel('data:fashion:300', { backend: 'ts', classes: 1 });
    const y = makeBatch([2, 1, 28, 28], Float32Array.from({ length: 2 * 784 }, (_, i) => Math.cos(i * 0.11)));
    expect(Array.from((await m.denoiser.predict(y, at)).x0)).toEqual(Array.from((await byIndex.denoiser.predict(y, at)).x0));

    const emoji = await loadModel('data:emoji@flags', { backend: 'ts' });
    const flags = emoji.info.classNames!.indexOf('Flags');
    expect(emoji.info.condition).toBe(flags);
    expect(emoji.info.count).toBe(261);
  });

  it('a mixed-class batch equals per-class runs (and -1 rows the unconditional model)', async () => {
    const m = await loadModel('data:digits:400', { backend: 'ts' });
    const family = m.family!;
    const conds = Int32Array.of(3, 0, NULL_CONDITION, 3, 7, 9);
    const y = digitsBatch(conds.length, 2);
    const mixed = await family.predictConditional(y, at, conds);
    for (let i = 0; i < conds.length; i++) {
      const one = await family.withCondition(conds[i]).predict(row(y, i), at);
      expect(Array.from(mixed.x0.subarray(i * 64, (i + 1) * 64))).toEqual(Array.from(one.x0));
      expect(Array.from(mixed.eps.subarray(i * 64, (i + 1) * 64))).toEqual(Array.from(one.eps));
    }
    // The same through a per-sample view and through loadModel's classes option.
    const view = await family.withCondition(conds).predict(y, at);
    expect(Array.from(view.x0)).toEqual(Array.from(mixed.x0));
    const perSample = await loadModel('data:digits:400', { backend: 'ts', classes: ['3', 0, -1, 3, 7, 9] });
    expect(perSample.info.condition).toEqual(conds);
    expect(Array.from((await perSample.denoiser.predict(y, at)).x0)).toEqual(Array.from(mixed.x0));
    await expect(perSample.denoiser.predict(digitsBatch(4), at)).rejects.toThrow(/has 6 per-sample conditions but got a batch of 4; use a batch of exactly that size, or one view per chunk/);
  });

  it('per-class members are built lazily, once each', async () => {
    const ds = loadEmbeddedDataset('digits', 200);
    const built: string[] = [];
    const family = createClassConditionalDenoiser(ds.images, ds.labels, ds.classNames, ds.shape, {
      name: 'digits200',
      factory: async (images, shape, name): Promise<Denoiser> => {
        built.push(name);
        return new TsEmpiricalDenoiser(images, shape, { name });
      },
    });
    expect(built).toEqual([]);
    const y = digitsBatch(3);
    await family.withCondition(2).predict(y, at);
    await family.withCondition(2).predict(y, at);
    expect(built).toEqual(['digits200@2']);
    await family.predictConditional(y, at, Int32Array.of(1, 2, -1));
    expect(built).toEqual(['digits200@2', 'digits200@1', 'digits200']);
    await family.prepare!([5, 2]);
    expect(built.length).toBe(4);
    await family.dispose!();
  });

  it('cycleConditions: class i mod K by global sample index, the same in chunks', () => {
    expect(Array.from(cycleConditions(7, 3))).toEqual([0, 1, 2, 0, 1, 2, 0]);
    expect(Array.from(cycleConditions(3, 3, 4))).toEqual([1, 2, 0]);
    expect(() => cycleConditions(3, 0)).toThrow(/classCount must be a positive integer, got 0/);
  });

  it('iia models lists the classes of the data sets', () => {
    const list = listEmbeddedModels();
    const byName = Object.fromEntries(list.map((m) => [m.name, m]));
    expect(byName['data:digits'].classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(byName['data:fashion'].classes).toEqual(['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
    expect(byName['data:emoji'].classes).toEqual(loadEmbeddedDataset('emoji').classNames);
    expect(byName['data:emoji'].classes).toContain('Flags');
    expect(byName['gmm:gmm-2d'].classes).toBeUndefined();
  });

  it('errors name the spec and list the valid classes', async () => {
    await expect(loadModel('data:digits@11')).rejects.toThrow(/model 'data:digits@11': class 11 is out of range; valid classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1 \(unconditional\)/);
    await expect(loadModel('data:fashion@Trousers')).rejects.toThrow(/class 'Trousers' is not a class name; valid classes: 0 \(T-shirt\/top\), 1 \(Trouser\), .*9 \(Ankle boot\)/);
    await expect(loadModel('data:digits@')).rejects.toThrow(/'@' needs a class \(data:digits@CLASS\); valid classes: 0, 1/);
    // The first 5 digits are 0..4.
    await expect(loadModel('data:digits:5@9')).rejects.toThrow(/class 9 \(9\) has no images among the first 5 of data:digits; use a larger N or another class/);
    await expect(loadModel('data:digits@3', { classes: 3 })).rejects.toThrow(/the class is given twice \(@3 and classes\)/);
    await expect(loadModel('data:digits:1:2@3')).rejects.toThrow(/too many parts; expected data:NAME\[:N\]\[@CLASS\]/);
    await expect(loadModel('data:digits', { classes: [] })).rejects.toThrow(/classes is empty/);
    await expect(loadModel('data:digits', { uncond: { data: new Float32Array(1), shape: [1] } })).rejects.toThrow(/takes no uncond/);
    await expect(loadModel('gmm:gmm-2d', { classes: 1 })).rejects.toThrow(/model 'gmm:gmm-2d' is not conditional, so it takes no classes/);
    await expect(loadModel('hf:x')).rejects.toThrow(/valid forms: .*data:NAME\[:N\]\[@CLASS\].*data:fashion@Trouser/);
    const m = await loadModel('data:digits:50', { backend: 'ts' });
    await expect(m.family!.predictConditional(digitsBatch(2), at, Int32Array.of(1, 10))).rejects.toThrow(/condition 10 of sample 1 is out of range/);
    await expect(m.family!.predictConditional(digitsBatch(2), at, Int32Array.of(1))).rejects.toThrow(/1 conditions for a batch of 2 samples/);
  });
});

describe('conditional ONNX networks (encoder_hidden_states)', () => {
  const shape = [1, 2, 2];
  // Three conditions [3, seq 2, dim 2] with means 1, 2, 3; the unconditional row has mean -0.5.
  const cond = { data: Float32Array.of(1, 1, 1, 1, 2, 2, 1, 3, 3, 3, 3, 3), shape: [3, 2, 2] };
  const means = [1, 2, 3];
  const uncond = { data: Float32Array.of(-1, 0, -1, 0), shape: [1, 2, 2] };
  const y = makeBatch([5, ...shape], Float32Array.from({ length: 20 }, (_, i) => i / 4 - 2));
  const point = { sigma: 1, t: 4, alpha: 1 };
  // The dummy UNet: out = sample * t / (t + 1) + mean(encoder_hidden_states); prediction 'sample' makes that x0.
  const x0Of = (i: number, mean: number): number => y.data[i] * 0.8 + mean;

  it('feeds row c of cond for condition c, uncond for -1, per sample in one batch', async () => {
    const family = await createOnnxConditionalDenoiser(buildDummyUnet({ encoderHiddenStates: true }), { cond, uncond, prediction: 'sample', sampleShape: shape, threads: 1 });
    expect(family.conditionNames).toEqual(['0', '1', '2']);
    expect(family.hasUnconditional).toBe(true);
    const conds = Int32Array.of(2, 0, -1, 1, 2);
    const p = await family.predictConditional(y, point, conds);
    for (let i = 0; i < 20; i++) {
      const c = conds[Math.floor(i / 4)];
      expect(p.x0[i]).toBeCloseTo(x0Of(i, c < 0 ? -0.5 : means[c]), 5);
    }
    const fixed = await family.withCondition(1).predict(y, point);
    for (let i = 0; i < 20; i++) expect(fixed.x0[i]).toBeCloseTo(x0Of(i, 2), 5);
    await family.dispose!();
  });

  it('chunks a fixed-batch model with per-sample rows', async () => {
    const family = await createOnnxConditionalDenoiser(buildDummyUnet({ encoderHiddenStates: true, fixedBatch: 2, timestepShape: 'batch' }), {
      cond,
      uncond,
      prediction: 'sample',
      sampleShape: shape,
    });
    const conds = Int32Array.of(0, 1, 2, -1, 1);
    const p = await family.predictConditional(y, point, conds);
    for (let i = 0; i < 20; i++) {
      const c = conds[Math.floor(i / 4)];
      expect(p.x0[i]).toBeCloseTo(x0Of(i, c < 0 ? -0.5 : means[c]), 5);
    }
    await family.dispose!();
  });

  it('loadModel: classes picks rows; K > 1 rows without classes = one row per sample', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iia-cond-'));
    const file = join(dir, 'unet-ehs.onnx');
    writeFileSync(file, buildDummyUnet({ encoderHiddenStates: true }));
    const base = { prediction: 'sample' as const, sampleShape: shape, threads: 1 };
    const one = await loadModel(`onnx:${file}`, { ...base, cond, classes: 1 });
    expect(one.info).toMatchObject({ kind: 'onnx', condition: 1, classNames: ['0', '1', '2'], evaluationsPerCall: 1 });
    const p = await one.denoiser.predict(y, point);
    for (let i = 0; i < 20; i++) expect(p.x0[i]).toBeCloseTo(x0Of(i, 2), 5);
    await one.denoiser.dispose!();

    const each = await loadModel(`onnx:${file}`, { ...base, cond });
    expect(Array.from(each.info.condition as Int32Array)).toEqual([0, 1, 2]);
    const y3 = makeBatch([3, ...shape], y.data.slice(0, 12));
    const q = await each.denoiser.predict(y3, point);
    for (let i = 0; i < 12; i++) expect(q.x0[i]).toBeCloseTo(x0Of(i, means[Math.floor(i / 4)]), 5);
    await expect(each.denoiser.predict(y, point)).rejects.toThrow(/has 3 per-sample conditions but got a batch of 5/);
    await each.denoiser.dispose!();

    // One cond row and no classes: the plain (non-family) model, as before.
    const plain = await loadModel(`onnx:${file}`, { ...base, cond: { data: cond.data.slice(0, 4), shape: [2, 2] } });
    expect(plain.family).toBeUndefined();
    await plain.denoiser.dispose!();

    await expect(loadModel(`onnx:${file}`, { ...base, cond, classes: 3 })).rejects.toThrow(/\(classes: rows of cond\): class 3 is out of range; valid classes: 0, 1, 2$/);
    await expect(loadModel(`onnx:${file}`, { ...base, cond, uncond, classes: 'cat' })).rejects.toThrow(/class 'cat' is not a class name; valid classes: 0, 1, 2, -1 \(unconditional\)/);
    await expect(loadModel(`onnx:${file}`, { ...base, classes: 0 })).rejects.toThrow(/classes needs cond, the encoder_hidden_states/);
  });

  it('errors: shapes of cond and uncond, several rows for a plain model, no encoder_hidden_states input', async () => {
    const unet = buildDummyUnet({ encoderHiddenStates: true });
    await expect(createOnnxConditionalDenoiser(unet, { cond, uncond: { data: new Float32Array(6), shape: [2, 3] }, sampleShape: shape })).rejects.toThrow(
      /uncond rows \[2,3\] differ from cond rows \[2,2\]/,
    );
    await expect(createOnnxConditionalDenoiser(unet, { cond, uncond: { data: new Float32Array(8), shape: [2, 2, 2] }, sampleShape: shape })).rejects.toThrow(
      /uncond of shape \[2,2,2\] has 2 rows, expected one/,
    );
    await expect(createOnnxConditionalDenoiser(unet, { cond: { data: new Float32Array(5), shape: [3, 2, 2] }, sampleShape: shape })).rejects.toThrow(
      /cond.data has 5 values, cond.shape \[3,2,2\] needs 12/,
    );
    await expect(createOnnxDenoiser(unet, { cond, sampleShape: shape })).rejects.toThrow(/cond of shape \[3,2,2\] has 3 rows, expected one .*several conditions need a conditional model/);
    await expect(createOnnxConditionalDenoiser(buildDummyUnet(), { cond, sampleShape: shape })).rejects.toThrow(/a conditional model needs an encoder_hidden_states input/);
    const noUncond = await createOnnxConditionalDenoiser(unet, { cond, sampleShape: shape });
    expect(() => noUncond.withCondition(-1)).toThrow(/condition -1 is out of range; valid: 0, 1, 2$/);
    await noUncond.dispose!();
  });
});
